//! A member that abuses the roster: real nodes (in this process) and a
//! paired in-process peer that spreads entries of its own making, as a
//! compromised laptop could before it is unpaired.

use std::time::{Duration, Instant};

use roam_mesh::roster::{Member, Vouch};
use roam_mesh::{CONTROL_PROTOCOL, Keypair, Mesh, PAIRING_PROTOCOL};
use roam_node::api::{self, ErrorKind, Request, Response};
use roam_node::client::Client;
use roam_node::daemon::{NodeOptions, run};
use roam_node::paths::Paths;

use crate::peer::{paired_peer_as, response, send_request, start_named};

async fn ask(paths: &Paths, request: Request) -> Response {
    Client::connect(paths)
        .await
        .unwrap()
        .request(request)
        .await
        .unwrap()
}

async fn nodes(paths: &Paths) -> Vec<String> {
    match ask(paths, Request::Nodes).await {
        Response::Nodes(nodes) => nodes.into_iter().map(|n| n.name).collect(),
        other => panic!("{other:?}"),
    }
}

async fn wait_nodes(paths: &Paths, what: &str, pass: impl Fn(&[String]) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let now = nodes(paths).await;
        if pass(&now) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// An entry for a fresh key named `name`, vouched for by `voucher`.
fn entry(voucher: &Keypair, name: &str) -> (Keypair, Member) {
    let key = Keypair::generate_ed25519();
    let peer = key.public().to_peer_id().to_string();
    let member = Member {
        vouches: vec![Vouch::sign(voucher, &peer, name)],
        peer,
        name: name.into(),
        addrs: vec![],
        removed: false,
    };
    (key, member)
}

async fn roster_sync(mesh: &Mesh, host: roam_mesh::PeerId, members: Vec<Member>) {
    let mut s = mesh.open(host, CONTROL_PROTOCOL).await.unwrap();
    let members = members.into_iter().map(api::Member::from).collect();
    send_request(&mut s, Request::RosterSync { members }).await;
    assert!(matches!(response(&mut s).await, Response::Roster { .. }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unpairing_a_member_removes_the_key_it_planted_on_every_node() {
    let dirs = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let host = start_named(dirs.0.path(), "host").await;
    let bravo = start_named(dirs.1.path(), "bravo").await;
    let Response::PairCode { code, addrs, .. } = ask(&host, Request::PairOpen).await else {
        panic!("no code");
    };
    let joined = ask(
        &bravo,
        Request::Join {
            code,
            addr: Some(addrs[0].clone()),
        },
    )
    .await;
    assert!(matches!(joined, Response::Joined { .. }), "{joined:?}");

    // The compromised member pairs like any other, then spreads a key of
    // its own, a key that claims the host vouched for it, and a name with
    // a terminal escape in it.
    let laptop = Keypair::generate_ed25519();
    let (mesh, host_peer) = paired_peer_as(&host, laptop.clone()).await;
    let (_, planted) = entry(&laptop, "planted");
    let (forger, mut forged) = entry(&laptop, "forged");
    forged.vouches = vec![Vouch {
        by: host_peer.to_string(),
        signature: Vouch::sign(&forger, &forged.peer, "forged").signature,
    }];
    let (_, escaped) = entry(&laptop, "evil\x1b[2J");
    roster_sync(&mesh, host_peer, vec![forged, escaped, planted]).await;

    for node in [&host, &bravo] {
        wait_nodes(node, "the planted key spread", |n| {
            n.contains(&"planted".to_string())
        })
        .await;
        let now = nodes(node).await;
        assert!(
            !now.iter().any(|n| n == "forged" || n.contains("evil")),
            "{now:?}"
        );
    }

    let unpaired = ask(
        &host,
        Request::Unpair {
            name: "prober".into(),
        },
    )
    .await;
    assert_eq!(
        unpaired,
        Response::Unpaired {
            also: vec!["planted".into()]
        }
    );
    for node in [&host, &bravo] {
        wait_nodes(node, "the planted key gone with its member", |n| {
            !n.iter().any(|n| n == "planted" || n == "prober")
        })
        .await;
    }
    assert_eq!(
        nodes(&host).await,
        ["host", "bravo"],
        "the honest member stays"
    );
    // What the laptop says now does not bring its key back.
    let (_, again) = entry(&laptop, "again");
    if let Ok(mut s) = mesh.open(host_peer, CONTROL_PROTOCOL).await {
        let members = vec![api::Member::from(again)];
        send_request(&mut s, Request::RosterSync { members }).await;
    }
    assert!(!nodes(&host).await.contains(&"again".to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pairing_hello_with_a_control_character_in_its_name_is_refused_and_the_code_stays_open() {
    let dir = tempfile::tempdir().unwrap();
    let host = start_named(dir.path(), "host").await;
    let Response::PairCode { code, addrs, .. } = ask(&host, Request::PairOpen).await else {
        panic!("no code");
    };
    let (mesh, _events) = Mesh::start(roam_mesh::MeshConfig {
        keypair: Keypair::generate_ed25519(),
        listen: vec!["/ip4/127.0.0.1/udp/0/quic-v1".parse().unwrap()],
        mdns: false,
        members: vec![],
    })
    .await
    .unwrap();
    mesh.open_pairing(Duration::from_secs(30)).await.unwrap();
    let host_peer = mesh.dial(addrs[0].parse().unwrap()).await.unwrap();
    let mut s = mesh.open(host_peer, PAIRING_PROTOCOL).await.unwrap();
    let (_, msg_a) = roam_mesh::pairing::Joiner::start(&code, &mesh.local_peer_id(), &host_peer);
    send_request(
        &mut s,
        Request::PairHello {
            name: "ls\x1b]0;owned\x07".into(),
            spake: msg_a,
            addrs: vec!["not an address".into(); 100],
        },
    )
    .await;
    match response(&mut s).await {
        Response::Error { kind, message } => {
            assert_eq!(kind, ErrorKind::InvalidInput, "{message}");
            assert!(message.contains("bad node name"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    drop(s);
    // The code was not used: a real joiner still gets in with it.
    let dir2 = tempfile::tempdir().unwrap();
    let joiner = start_named(dir2.path(), "joiner").await;
    let joined = ask(
        &joiner,
        Request::Join {
            code,
            addr: Some(addrs[0].clone()),
        },
    )
    .await;
    assert!(matches!(joined, Response::Joined { .. }), "{joined:?}");
    assert_eq!(nodes(&host).await, ["host", "joiner"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_name_with_a_control_character_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let outcome = run(NodeOptions {
        paths: Paths::new(dir.path()),
        name: Some("bell\x07".into()),
        mdns: Some(false),
        holder_exe: None,
    })
    .await;
    let error = outcome
        .expect_err("a node with that name must not start")
        .to_string();
    assert!(error.contains("bad node name"), "{error}");
}
