//! Strangers on the LAN during a pairing window: a real node, a real
//! joiner node (`Request::Join`, what `roam join` sends), and an in-process
//! libp2p peer that connects while the code is open and misbehaves.

use std::time::{Duration, Instant};

use roam_mesh::{Mesh, MeshConfig, MeshEvent, PAIRING_PROTOCOL, PeerId};
use roam_node::api::{Request, Response};
use roam_node::client::Client;
use roam_node::paths::Paths;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::peer::start_named;

async fn ask(paths: &Paths, request: Request) -> Response {
    Client::connect(paths)
        .await
        .unwrap()
        .request(request)
        .await
        .unwrap()
}

async fn open_code(host: &Paths) -> (String, String) {
    match ask(host, Request::PairOpen).await {
        Response::PairCode { code, addrs, .. } => (code, addrs[0].clone()),
        other => panic!("no code: {other:?}"),
    }
}

/// A peer that is on nobody's roster, with its own gate open so it may
/// keep a link to the host.
async fn stranger() -> Mesh {
    stranger_with_events().await.0
}

async fn stranger_with_events() -> (Mesh, tokio::sync::mpsc::Receiver<MeshEvent>) {
    let (mesh, events) = Mesh::start(MeshConfig {
        keypair: roam_mesh::Keypair::generate_ed25519(),
        listen: vec!["/ip4/127.0.0.1/udp/0/quic-v1".parse().unwrap()],
        mdns: false,
        members: vec![],
    })
    .await
    .unwrap();
    mesh.open_pairing(Duration::from_secs(120)).await.unwrap();
    (mesh, events)
}

/// Waits until `host` has identified itself: its side took the
/// connection in (a dial returns once our side has it, which may be before
/// the host's gate has seen it).
async fn wait_identified(events: &mut tokio::sync::mpsc::Receiver<MeshEvent>, host: PeerId) {
    let wait = async {
        while let Some(event) = events.recv().await {
            if matches!(event, MeshEvent::Identified { peer, .. } if peer == host) {
                return;
            }
        }
        panic!("the stranger's events ended");
    };
    tokio::time::timeout(Duration::from_secs(30), wait)
        .await
        .expect("the host never identified itself to the stranger");
}

async fn connected_to(mesh: &Mesh, peer: PeerId) -> bool {
    mesh.status()
        .await
        .unwrap()
        .connected
        .iter()
        .any(|(p, _)| *p == peer)
}

async fn wait_disconnected(mesh: &Mesh, peer: PeerId) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while connected_to(mesh, peer).await {
        assert!(
            Instant::now() < deadline,
            "the host never closed the stranger"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn join(joiner: &Paths, code: &str, addr: &str) -> Response {
    ask(
        joiner,
        Request::Join {
            code: code.into(),
            addr: Some(addr.into()),
        },
    )
    .await
}

fn nodes_of(response: Response) -> Vec<String> {
    match response {
        Response::Nodes(nodes) => nodes.into_iter().map(|n| n.name).collect(),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stranger_sending_garbage_during_a_window_does_not_stop_the_real_join() {
    let dirs = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let host = start_named(dirs.0.path(), "host").await;
    let joiner = start_named(dirs.1.path(), "joiner").await;
    let (code, addr) = open_code(&host).await;

    let stranger = stranger().await;
    let host_peer = stranger.dial(addr.parse().unwrap()).await.unwrap();
    let mut s = stranger.open(host_peer, PAIRING_PROTOCOL).await.unwrap();
    s.write_all(&[0, 0, 0, 4, 0xde, 0xad, 0xbe, 0xef])
        .await
        .unwrap();
    s.flush().await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut answer)).await;
    drop(s);
    // Its attempt never used the code: the host lets it go and keeps the
    // window open.
    wait_disconnected(&stranger, host_peer).await;

    let joined = join(&joiner, &code, &addr).await;
    assert!(matches!(joined, Response::Joined { .. }), "{joined:?}");
    assert!(nodes_of(ask(&host, Request::Nodes).await).contains(&"joiner".to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_pair_again_closes_the_previous_strangers_connection() {
    let dirs = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let host = start_named(dirs.0.path(), "host").await;
    let joiner = start_named(dirs.1.path(), "joiner").await;
    let (_, addr) = open_code(&host).await;

    // A stranger takes the slot and sits on it, saying nothing.
    let (stranger, mut events) = stranger_with_events().await;
    let host_peer = stranger.dial(addr.parse().unwrap()).await.unwrap();
    wait_identified(&mut events, host_peer).await;
    assert!(connected_to(&stranger, host_peer).await);

    // The user runs `roam pair` again: the stranger is closed at once and
    // the new code is for the real joiner.
    let (code, addr) = open_code(&host).await;
    let joined = join(&joiner, &code, &addr).await;
    assert!(matches!(joined, Response::Joined { .. }), "{joined:?}");
    wait_disconnected(&stranger, host_peer).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pairing_stream_from_a_member_does_not_close_the_window() {
    let dirs = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let host = start_named(dirs.0.path(), "host").await;
    let (mesh, host_peer) = crate::peer::paired_peer(&host).await;
    let (code, addr) = open_code(&host).await;
    // A paired member is not the peer the window let in: its pairing
    // stream is dropped unread and uses nothing up.
    let mut s = mesh.open(host_peer, PAIRING_PROTOCOL).await.unwrap();
    // The host may reset the stream before these bytes go out.
    let _ = s.write_all(b"garbage").await;
    let _ = s.flush().await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut answer)).await;
    assert!(answer.is_empty(), "it was answered: {answer:?}");

    let joiner = start_named(dirs.2.path(), "joiner").await;
    let joined = join(&joiner, &code, &addr).await;
    assert!(matches!(joined, Response::Joined { .. }), "{joined:?}");
}
