//! A paired peer that sends garbage: a real node (in this process) and a
//! real libp2p peer that pairs with a code like any joiner, then writes
//! malformed, truncated and oversized frames on the control protocol.

use std::time::Duration;

use roam_mesh::pairing::Joiner;
use roam_mesh::{CONTROL_PROTOCOL, Mesh, MeshConfig, PAIRING_PROTOCOL};
use roam_node::api::{Envelope, ErrorKind, PROTOCOL_VERSION, Request, Response};
use roam_node::client::Client;
use roam_node::conn;
use roam_node::daemon::{NodeOptions, run};
use roam_node::paths::Paths;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn start_node(dir: &std::path::Path) -> Paths {
    start_named(dir, "host").await
}

/// A real node named `name`, in this process, listening on loopback QUIC.
pub async fn start_named(dir: &std::path::Path, name: &str) -> Paths {
    std::fs::write(
        dir.join("config.toml"),
        format!("[node]\nname = \"{name}\"\n[mesh]\nlisten = [\"/ip4/127.0.0.1/udp/0/quic-v1\"]\nmdns = false\n"),
    )
    .unwrap();
    let paths = Paths::new(dir);
    tokio::spawn(run(NodeOptions {
        paths: paths.clone(),
        name: None,
        mdns: Some(false),
        // Built by `cargo test --workspace` beside this test's directory
        // (target/debug/deps).
        holder_exe: std::env::current_exe()
            .ok()
            .and_then(|t| Some(t.parent()?.parent()?.join("roam-holder"))),
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

pub async fn send_request(stream: &mut roam_mesh::MeshStream, request: Request) {
    let envelope = Envelope {
        version: PROTOCOL_VERSION,
        forwarded: true,
        epoch: None,
        request,
    };
    conn::send(stream, &envelope).await.unwrap();
}

pub async fn response(stream: &mut roam_mesh::MeshStream) -> Response {
    conn::recv::<Response, _>(stream).await.unwrap().unwrap()
}

/// Pairs a fresh in-process peer with the node; returns it and the node's PeerId.
pub async fn paired_peer(paths: &Paths) -> (Mesh, roam_mesh::PeerId) {
    paired_peer_as(paths, libp2p_identity_keypair()).await
}

/// Pairs an in-process peer with key `keypair`, named "prober".
pub async fn paired_peer_as(
    paths: &Paths,
    keypair: roam_mesh::Keypair,
) -> (Mesh, roam_mesh::PeerId) {
    let Response::PairCode { code, addrs, .. } = Client::connect(paths)
        .await
        .unwrap()
        .request(Request::PairOpen)
        .await
        .unwrap()
    else {
        panic!("no code");
    };
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
    send_request(&mut s, Request::Shutdown { keep_agents: false }).await;
    assert!(matches!(response(&mut s).await, Response::Error { .. }));
    // And the node is up for its owner.
    assert!(Client::connect(&paths).await.unwrap().ping().await.is_ok());
}

/// A repository with one commit, for a workspace the peer can act on.
fn repo(dir: &std::path::Path) -> std::path::PathBuf {
    let repo = dir.join("repo");
    let git = |args: &[&str]| {
        let ok = std::process::Command::new("git")
            .args(args)
            .current_dir(&repo)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.com")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.com")
            .status()
            .unwrap()
            .success();
        assert!(ok, "git {args:?}");
    };
    std::fs::create_dir_all(&repo).unwrap();
    git(&["init", "-q", "-b", "main"]);
    std::fs::write(repo.join("README.md"), "hi\n").unwrap();
    git(&["add", "."]);
    git(&["commit", "-q", "-m", "init"]);
    repo
}

async fn fenced(
    stream: &mut roam_mesh::MeshStream,
    epoch: Option<u64>,
    request: Request,
) -> Response {
    let envelope = Envelope {
        version: PROTOCOL_VERSION,
        forwarded: true,
        epoch,
        request,
    };
    conn::send(stream, &envelope).await.unwrap();
    response(stream).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_carrying_a_stale_epoch_is_refused_with_the_stale_kind() {
    let dir = tempfile::tempdir().unwrap();
    let paths = start_node(dir.path()).await;
    let repo = repo(dir.path());
    let made = Client::connect(&paths)
        .await
        .unwrap()
        .request(Request::New {
            name: "fenced".into(),
            repo: repo.display().to_string(),
            base: None,
            profile: Some("shell".into()),
            prompt: None,
            on: None,
        })
        .await
        .unwrap();
    let Response::Workspace(ws) = made else {
        panic!("{made:?}");
    };
    assert_eq!(ws.epoch, 1);
    let (mesh, host) = paired_peer(&paths).await;
    let mut s = mesh.open(host, CONTROL_PROTOCOL).await.unwrap();
    for stale in [0, 2] {
        let answer = fenced(
            &mut s,
            Some(stale),
            Request::Stop {
                name: "fenced".into(),
            },
        )
        .await;
        let Response::Error { kind, message } = answer else {
            panic!("epoch {stale} was not refused: {answer:?}");
        };
        assert_eq!(kind, ErrorKind::Stale, "{message}");
        assert!(message.contains(&format!("epoch {stale}")), "{message}");
    }
    // Not acted on: the agent still runs.
    let Response::Workspaces(list) = fenced(&mut s, None, Request::List).await else {
        panic!("no listing");
    };
    assert_ne!(
        list[0].agents[0].status,
        roam_node::api::AgentStatus::Stopped
    );
    // The epoch it holds is accepted.
    let answer = fenced(
        &mut s,
        Some(1),
        Request::Stop {
            name: "fenced".into(),
        },
    )
    .await;
    assert_eq!(answer, Response::Done);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_a_peer_may_not_send_is_refused_with_the_refused_kind() {
    let dir = tempfile::tempdir().unwrap();
    let paths = start_node(dir.path()).await;
    let (mesh, host) = paired_peer(&paths).await;
    let mut s = mesh.open(host, CONTROL_PROTOCOL).await.unwrap();
    let local_only = [
        Request::Remove {
            name: "x".into(),
            force: true,
            superseded: true,
        },
        Request::Shutdown { keep_agents: false },
        Request::PairOpen,
        Request::Join {
            code: "x".into(),
            addr: None,
        },
        Request::PairHello {
            name: "x".into(),
            spake: vec![],
            addrs: vec![],
        },
        Request::PairConfirm { confirm: vec![] },
        Request::Unpair { name: "x".into() },
        Request::Nodes,
        Request::Dial {
            addr: "/ip4/127.0.0.1/tcp/1".into(),
        },
        Request::HostAdd {
            alias: "x".into(),
            accept_new: true,
        },
        Request::HostCheck { alias: "x".into() },
        Request::HostList,
        Request::HostRemove { alias: "x".into() },
        Request::HostPipe {
            alias: "x".into(),
            command: "true".into(),
        },
        Request::HostTmux(roam_node::api::HostTerminal {
            alias: "x".into(),
            session: "s".into(),
            cwd: "/".into(),
            argv: vec!["true".into()],
            rows: 1,
            cols: 1,
            create: true,
        }),
    ];
    for request in local_only {
        let what = format!("{request:?}");
        let answer = fenced(&mut s, None, request).await;
        assert!(
            matches!(
                answer,
                Response::Error {
                    kind: ErrorKind::Refused,
                    ..
                }
            ),
            "{what}: {answer:?}"
        );
    }
    assert!(Client::connect(&paths).await.unwrap().ping().await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_reservations_and_claims_from_a_peer_are_refused_as_invalid_input() {
    let dir = tempfile::tempdir().unwrap();
    let paths = start_node(dir.path()).await;
    let (mesh, host) = paired_peer(&paths).await;
    let mut s = mesh.open(host, CONTROL_PROTOCOL).await.unwrap();
    let id = "00112233445566778899aabbccddeeff".to_string();
    let bad = [
        Request::Reserve {
            name: "../escape".into(),
            id: id.clone(),
            by: "prober".into(),
        },
        Request::Reserve {
            name: "ok".into(),
            id: "x".repeat(100_000),
            by: "prober".into(),
        },
        Request::Reserve {
            name: "ok".into(),
            id: id.clone(),
            by: "p".repeat(10_000),
        },
        Request::Ownership {
            claims: vec![
                roam_node::api::Claim {
                    id: id.clone(),
                    name: "ok".into(),
                    owner_peer: "p".into(),
                    owner_node: "n".into(),
                    epoch: 1,
                };
                5000
            ],
        },
        Request::Ownership {
            claims: vec![roam_node::api::Claim {
                id: id.clone(),
                name: "n".repeat(1000),
                owner_peer: "p".into(),
                owner_node: "n".into(),
                epoch: 1,
            }],
        },
        // A peer acting on a workspace must say which epoch it saw.
        Request::Stop { name: "ok".into() },
    ];
    for request in bad {
        let what = format!("{request:?}").chars().take(80).collect::<String>();
        let answer = fenced(&mut s, None, request).await;
        assert!(
            matches!(
                answer,
                Response::Error {
                    kind: ErrorKind::InvalidInput,
                    ..
                }
            ),
            "{what}: {answer:?}"
        );
    }
    // A good reservation holds; the same name for another id is a conflict.
    let reserve = |id: &str| Request::Reserve {
        name: "held".into(),
        id: id.into(),
        by: "prober".into(),
    };
    assert_eq!(fenced(&mut s, None, reserve(&id)).await, Response::Done);
    let other = "ffeeddccbbaa99887766554433221100";
    let answer = fenced(&mut s, None, reserve(other)).await;
    let Response::Error { kind, message } = answer else {
        panic!("{answer:?}");
    };
    assert_eq!(kind, ErrorKind::Conflict);
    assert!(
        message.contains("being created on node 'prober'"),
        "{message}"
    );
    assert!(Client::connect(&paths).await.unwrap().ping().await.is_ok());
}
