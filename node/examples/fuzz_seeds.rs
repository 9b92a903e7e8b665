//! Writes the seed corpora of the fuzz targets (`fuzz/corpus/<target>/`)
//! from real captures: messages encoded by the product's own codec and
//! framing, a pairing run by the real SPAKE2 code, and the bytes of a real
//! gitsync transfer between two git repositories. `scripts/fuzz --seeds`
//! runs it; the files are committed, so it only runs when the protocol
//! changes. Each file starts with the selector byte its target reads.
#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use roam_mesh::pairing::{Host, Joiner};
use roam_node::api::*;
use roam_node::codec::encode;
use roam_node::fuzzing::{PAIRING_CODE, pairing_peers};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

fn main() {
    let out: PathBuf = std::env::args()
        .nth(1)
        .unwrap_or("fuzz/corpus".into())
        .into();
    control(&out.join("control"));
    mesh_frames(&out.join("mesh_frames"));
    pairing(&out.join("pairing"));
    gitsync_wire(&out.join("gitsync_wire"));
}

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join(name), bytes).unwrap();
    println!("{}/{name}: {} bytes", dir.display(), bytes.len());
}

fn with(selector: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![selector];
    v.extend_from_slice(body);
    v
}

fn framed(body: &[u8]) -> Vec<u8> {
    let mut v = (body.len() as u32).to_be_bytes().to_vec();
    v.extend_from_slice(body);
    v
}

fn target() -> Target {
    Target::parse("fix-login:claude")
}

fn claim() -> Claim {
    Claim {
        id: "01J9Z8K3QW".into(),
        name: "fix-login".into(),
        owner_peer: "12D3KooWJbWg2Zp5".into(),
        owner_node: "laptop".into(),
        epoch: 3,
    }
}

fn member() -> Member {
    Member {
        peer: "12D3KooWJbWg2Zp5".into(),
        name: "homelab".into(),
        addrs: vec!["/ip4/192.168.1.20/udp/4799/quic-v1".into()],
        removed: false,
        vouches: vec![Vouch {
            by: "12D3KooWJbWg2Zp5".into(),
            signature: vec![7; 64],
        }],
    }
}

fn control(dir: &Path) {
    let requests = [
        ("ping", Request::Ping),
        ("list", Request::List),
        (
            "new",
            Request::New {
                name: "fix-login".into(),
                repo: "/home/me/src/app".into(),
                base: Some("main".into()),
                profile: Some("claude".into()),
                prompt: Some("fix the login bug".into()),
                on: Some("homelab".into()),
            },
        ),
        (
            "send",
            Request::Send {
                target: target(),
                data: b"yes\r".to_vec(),
            },
        ),
        (
            "attach",
            Request::Attach {
                target: target(),
                rows: 50,
                cols: 200,
                resume: Some(Resume {
                    session: 7,
                    input_offset: 1024,
                }),
            },
        ),
        (
            "reserve",
            Request::Reserve {
                name: "fix-login".into(),
                id: "01J9Z8K3QW".into(),
                by: "laptop".into(),
            },
        ),
        (
            "ownership",
            Request::Ownership {
                claims: vec![claim()],
            },
        ),
        (
            "roster",
            Request::RosterSync {
                members: vec![member()],
            },
        ),
        (
            "host-tmux",
            Request::HostTmux(HostTerminal {
                alias: "box".into(),
                session: "roam-fix-login+claude".into(),
                cwd: "/home/me/roam/fix-login".into(),
                argv: vec!["claude".into()],
                rows: 40,
                cols: 120,
                create: true,
            }),
        ),
    ];
    for (name, request) in requests {
        let mut envelope = Envelope::new(request);
        envelope.epoch = Some(3);
        write(
            dir,
            &format!("envelope-{name}"),
            &with(0, &encode(&envelope).unwrap()),
        );
    }
    let responses = [
        (
            "pong",
            Response::Pong {
                protocol: PROTOCOL_VERSION,
                pid: 4242,
            },
        ),
        (
            "located",
            Response::Located {
                location: Some(Location {
                    claim: claim(),
                    superseded: false,
                }),
            },
        ),
        (
            "workspaces",
            Response::Workspaces(vec![WorkspaceInfo {
                id: "01J9Z8K3QW".into(),
                name: "fix-login".into(),
                badge: "local".into(),
                owner: "laptop".into(),
                owner_peer: "12D3KooWJbWg2Zp5".into(),
                epoch: 3,
                repo: "/home/me/src/app".into(),
                branch: "roam/fix-login".into(),
                base: "main".into(),
                path: "/home/me/roam/fix-login".into(),
                ahead: 2,
                behind: 0,
                dirty_files: 1,
                problem: None,
                stopped: false,
                superseded_by: None,
                agents: vec![AgentInfo {
                    name: "claude".into(),
                    profile: "claude".into(),
                    status: AgentStatus::Exited { code: 1 },
                    session: Some("roam-fix-login+claude".into()),
                    pid: Some(999),
                }],
            }]),
        ),
        (
            "error",
            Response::Error {
                kind: ErrorKind::Stale,
                message: "workspace fix-login moved to homelab".into(),
            },
        ),
        (
            "welcome",
            Response::Welcome {
                members: vec![member()],
            },
        ),
    ];
    for (name, response) in responses {
        write(
            dir,
            &format!("response-{name}"),
            &with(1, &encode(&response).unwrap()),
        );
    }
    let ups = [
        ("input", Up::Input(b"ls -la\r".to_vec())),
        (
            "resize",
            Up::Resize {
                rows: 60,
                cols: 240,
            },
        ),
        ("detach", Up::Detach),
    ];
    for (name, up) in ups {
        write(dir, &format!("up-{name}"), &with(2, &encode(&up).unwrap()));
    }
    let downs = [
        ("output", Down::Output(b"\x1b[1;32mok\x1b[0m\r\n".to_vec())),
        ("exited", Down::Exited { code: 0 }),
        ("ack", Down::InputAck { bytes: 12 }),
    ];
    for (name, down) in downs {
        write(
            dir,
            &format!("down-{name}"),
            &with(3, &encode(&down).unwrap()),
        );
    }
    // A whole streaming connection as the stream of frames it is on the socket.
    let mut stream = Vec::new();
    for down in [
        Down::Output(b"$ ".to_vec()),
        Down::InputAck { bytes: 3 },
        Down::Closed {
            reason: "node stopping".into(),
        },
    ] {
        stream.extend(framed(&encode(&down).unwrap()));
    }
    write(dir, "stream-down", &with(4 | 3, &stream));
}

fn mesh_frames(dir: &Path) {
    let ping = encode(&Envelope::new(Request::Ping)).unwrap();
    let pong = encode(&Response::Pong {
        protocol: PROTOCOL_VERSION,
        pid: 1,
    })
    .unwrap();
    let mut two = framed(&ping);
    two.extend(framed(&pong));
    write(dir, "two-frames", &with(0, &two));
    write(dir, "empty-frame", &with(0, &framed(&[])));
    write(dir, "small-bound", &with(16, &two));
}

fn pairing(dir: &Path) {
    let (joiner_id, host_id) = pairing_peers();
    let (joiner, msg_a) = Joiner::start(PAIRING_CODE, &joiner_id, &host_id);
    let hello = encode(&Envelope::new(Request::PairHello {
        name: "laptop".into(),
        spake: msg_a.clone(),
        addrs: vec!["/ip4/192.168.1.10/udp/4799/quic-v1".into()],
    }))
    .unwrap();
    let (host, msg_b, confirm_b) =
        Host::respond(PAIRING_CODE, &joiner_id, &host_id, &msg_a).unwrap();
    let confirm_a = joiner.finish(&msg_b, &confirm_b).unwrap();
    host.verify(&confirm_a).unwrap();
    let confirm = encode(&Envelope::new(Request::PairConfirm { confirm: confirm_a })).unwrap();
    let challenge = encode(&Response::PairChallenge {
        name: "homelab".into(),
        spake: msg_b,
        confirm: confirm_b,
    })
    .unwrap();
    let two = |first: &[u8], second: &[u8], selector: u8| {
        let mut v = vec![selector];
        v.extend_from_slice(&(first.len() as u16).to_be_bytes());
        v.extend_from_slice(first);
        v.extend_from_slice(second);
        v
    };
    write(dir, "host-hello-confirm", &two(&hello, &confirm, 0));
    write(dir, "joiner-challenge", &two(&challenge, &[], 1));
}

/// A real transfer of a two-commit repository, both directions recorded.
fn gitsync_wire(dir: &Path) {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    let git = |args: &[&str]| {
        let ok = std::process::Command::new("git")
            .args(["-c", "user.name=seed", "-c", "user.email=seed@example.com"])
            .args(args)
            .current_dir(&repo)
            .status()
            .unwrap()
            .success();
        assert!(ok, "git {args:?}");
    };
    std::fs::create_dir_all(&repo).unwrap();
    git(&["init", "-q", "-b", "main"]);
    std::fs::write(repo.join("README"), "hello\n").unwrap();
    git(&["add", "."]);
    git(&["commit", "-q", "-m", "first"]);
    std::fs::write(repo.join("README"), "hello again\n").unwrap();
    git(&["commit", "-q", "-am", "second"]);
    let mirrors = roam_gitsync::Mirrors::open(&tmp.path().join("mirrors")).unwrap();

    let sent = Arc::new(Mutex::new(Vec::new()));
    let answered = Arc::new(Mutex::new(Vec::new()));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (a, b) = tokio::io::duplex(64 * 1024);
        let mut a = Tap(a, sent.clone());
        let mut b = Tap(b, answered.clone());
        let opts = roam_gitsync::ReceiveOptions::default();
        let (s, r) = tokio::join!(
            roam_gitsync::send(&repo, "HEAD", "refs/roam/sync/fix-login", &mut a, |_| {}),
            roam_gitsync::receive(&mirrors, &mut b, &opts, |_| {})
        );
        s.unwrap();
        r.unwrap();
    });
    let sent = sent.lock().unwrap().clone();
    let answered = answered.lock().unwrap().clone();
    write(dir, "read-sender", &with(0, &sent));
    write(dir, "read-receiver", &with(0, &answered));
    write(dir, "write-offer", &with(1, b"refs/roam/sync/fix-login"));
    write(
        dir,
        "write-refused",
        &with(11, "différent repo: ✗".as_bytes()),
    );
    write(dir, "write-data", &with(5, b"PACK\0\0\0\x02"));
}

/// Copies what is written through it.
struct Tap<S>(S, Arc<Mutex<Vec<u8>>>);

impl<S: AsyncRead + Unpin> AsyncRead for Tap<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tap<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.0).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = polled {
            self.1.lock().unwrap().extend_from_slice(&buf[..n]);
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}
