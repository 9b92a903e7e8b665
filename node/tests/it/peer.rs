//! A paired peer that sends garbage: a real node (in this process) and a
//! real libp2p peer that pairs with a code like any joiner, then writes
//! malformed, truncated and oversized frames on the control protocol.

use std::time::Duration;

use roam_mesh::pairing::Joiner;
use roam_mesh::{CONTROL_PROTOCOL, Mesh, MeshConfig, PAIRING_PROTOCOL};
use roam_node::api::{Envelope, PROTOCOL_VERSION, Request, Response};
use roam_node::client::Client;
use roam_node::conn;
use roam_node::daemon::{NodeOptions, run};
use roam_node::paths::Paths;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn start_node(dir: &std::path::Path) -> Paths {
    std::fs::write(
        dir.join("config.toml"),
        "[node]\nname = \"host\"\n[mesh]\nlisten = [\"/ip4/127.0.0.1/udp/0/quic-v1\"]\nmdns = false\n",
    )
    .unwrap();
    let paths = Paths::new(dir);
    tokio::spawn(run(NodeOptions {
        paths: paths.clone(),
        name: None,
        mdns: Some(false),
    }));
    for _ in 0..400 {
        if let Ok(mut c) = Client::connect(&paths).await
            && c.ping().await.is_ok()
        {
            return paths;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("node did not start");
}

async fn send_request(stream: &mut roam_mesh::MeshStream, request: Request) {
    let envelope = Envelope {
        version: PROTOCOL_VERSION,
        forwarded: true,
        request,
    };
    conn::send(stream, &envelope).await.unwrap();
}

async fn response(stream: &mut roam_mesh::MeshStream) -> Response {
    conn::recv::<Response, _>(stream).await.unwrap().unwrap()
}

/// Pairs a fresh in-process peer with the node; returns it and the node's PeerId.
async fn paired_peer(paths: &Paths) -> (Mesh, roam_mesh::PeerId) {
    let Response::PairCode { code, addrs, .. } = Client::connect(paths)
        .await
        .unwrap()
        .request(Request::PairOpen)
        .await
        .unwrap()
    else {
        panic!("no code");
    };
    let keypair = libp2p_identity_keypair();
    let (mesh, _events) = Mesh::start(MeshConfig {
        keypair,
        listen: vec!["/ip4/127.0.0.1/udp/0/quic-v1".parse().unwrap()],
        mdns: false,
        members: vec![],
    })
    .await
    .unwrap();
    mesh.open_pairing(Duration::from_secs(10)).await.unwrap();
    let host = mesh.dial(addrs[0].parse().unwrap()).await.unwrap();
    let mut s = mesh.open(host, PAIRING_PROTOCOL).await.unwrap();
    let (joiner, msg_a) = Joiner::start(&code, &mesh.local_peer_id(), &host);
    send_request(
        &mut s,
        Request::PairHello {
            name: "prober".into(),
            spake: msg_a,
            addrs: vec![],
        },
    )
    .await;
    let Response::PairChallenge { spake, confirm, .. } = response(&mut s).await else {
        panic!("no challenge");
    };
    let confirm = joiner.finish(&spake, &confirm).unwrap();
    send_request(&mut s, Request::PairConfirm { confirm }).await;
    assert!(matches!(response(&mut s).await, Response::Welcome { .. }));
    mesh.admit(host, vec![]).await.unwrap();
    mesh.close_pairing().await.unwrap();
    (mesh, host)
}

fn libp2p_identity_keypair() -> roam_mesh::Keypair {
    roam_mesh::Keypair::generate_ed25519()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_from_a_paired_peer_gets_an_error_and_the_node_stays_up() {
    let dir = tempfile::tempdir().unwrap();
    let paths = start_node(dir.path()).await;
    let (mesh, host) = paired_peer(&paths).await;

    let attempts: [&[u8]; 3] = [
        &[0, 0, 0, 4, 0xde, 0xad, 0xbe, 0xef],
        &[0xff, 0xff, 0xff, 0xff, 1, 2, 3],
        &[0, 0, 0, 100, 1, 2],
    ];
    for bytes in attempts {
        let mut s = mesh.open(host, CONTROL_PROTOCOL).await.unwrap();
        s.write_all(bytes).await.unwrap();
        s.flush().await.unwrap();
        s.shutdown().await.unwrap();
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut answer)).await;
        let text = String::from_utf8_lossy(&answer);
        assert!(
            text.contains("malformed")
                || text.contains("limit")
                || text.contains("middle of a frame"),
            "{text}"
        );
    }
    // A well-formed request from the paired peer still works...
    let mut s = mesh.open(host, CONTROL_PROTOCOL).await.unwrap();
    send_request(&mut s, Request::List).await;
    assert!(matches!(response(&mut s).await, Response::Workspaces(_)));
    // ...but managing the node is for its own CLI only.
    send_request(&mut s, Request::Shutdown).await;
    assert!(matches!(response(&mut s).await, Response::Error { .. }));
    // And the node is up for its owner.
    assert!(Client::connect(&paths).await.unwrap().ping().await.is_ok());
}
