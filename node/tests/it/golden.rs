//! Golden bytes: today's encoding of one value of every wire type (each
//! request, response and stream frame) and every stored record. A change
//! to any of these types changes some bytes here, so it cannot reach the
//! wire or the store without raising `PROTOCOL_VERSION` (wire) or the
//! record's version in `store::versions` (store) and blessing a new file:
//! `ROAM_BLESS=1 cargo test -p roam-node golden`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use bincode::Encode;
use roam_actors::model::{AgentRecord, Owner, Superseded, WorkspaceRecord};
use roam_node::api::*;
use roam_node::codec::{encode, encode_versioned};
use roam_node::hosts::HostRecord;
use roam_node::store::versions;

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Compares (or with `ROAM_BLESS=1`, writes) `file` against `entries`.
fn check(file: &str, entries: BTreeMap<String, Vec<u8>>, what_to_raise: &str) {
    let path = golden_dir().join(file);
    let text: String = entries
        .iter()
        .map(|(name, bytes)| format!("{name} {}\n", hex(bytes)))
        .collect();
    if std::env::var_os("ROAM_BLESS").is_some() {
        std::fs::write(&path, &text).unwrap();
        return;
    }
    let golden = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!(
            "{} is missing: {what_to_raise} was raised without blessing its golden file",
            path.display()
        )
    });
    let golden: BTreeMap<&str, &str> = golden.lines().filter_map(|l| l.split_once(' ')).collect();
    for (name, bytes) in &entries {
        let now = hex(bytes);
        match golden.get(name.as_str()) {
            Some(old) => assert_eq!(
                *old, now,
                "the encoding of {name} changed: raise {what_to_raise} and bless a new {file}"
            ),
            None => panic!("{name} has no golden bytes in {file}: bless it"),
        }
    }
    for name in golden.keys() {
        assert!(
            entries.contains_key(*name),
            "{name} is in {file} but no longer encoded here"
        );
    }
}

fn put<T: Encode>(map: &mut BTreeMap<String, Vec<u8>>, name: &str, value: &T) {
    map.insert(name.to_string(), encode(value).unwrap());
}

fn target() -> Target {
    Target {
        workspace: "feature-auth".into(),
        agent: Some("claude".into()),
    }
}

fn claim() -> Claim {
    Claim {
        id: "00112233445566778899aabbccddeeff".into(),
        name: "feature-auth".into(),
        owner_peer: "12D3KooWpeer".into(),
        owner_node: "homelab".into(),
        epoch: 3,
    }
}

fn member() -> Member {
    Member {
        peer: "12D3KooWpeer".into(),
        name: "laptop".into(),
        addrs: vec!["/ip4/10.0.0.2/udp/4799/quic-v1".into()],
        removed: false,
        vouches: vec![Vouch {
            by: "12D3KooWpeer".into(),
            signature: vec![7; 64],
        }],
    }
}

fn workspace_info() -> WorkspaceInfo {
    WorkspaceInfo {
        id: claim().id,
        name: "feature-auth".into(),
        badge: "homelab".into(),
        owner: "homelab".into(),
        owner_peer: "12D3KooWpeer".into(),
        epoch: 3,
        repo: "/src/app".into(),
        branch: "roam/feature-auth".into(),
        base: "main".into(),
        path: "/w/feature-auth".into(),
        ahead: 2,
        behind: 1,
        dirty_files: 4,
        problem: Some("p".into()),
        stopped: false,
        superseded_by: Some("laptop".into()),
        agents: vec![AgentInfo {
            name: "claude".into(),
            profile: "claude".into(),
            status: AgentStatus::Exited { code: 3 },
            session: Some("s".into()),
            pid: Some(42),
        }],
    }
}

fn requests() -> Vec<(&'static str, Request)> {
    vec![
        ("Ping", Request::Ping),
        ("Status", Request::Status),
        ("Shutdown", Request::Shutdown { keep_agents: true }),
        (
            "New",
            Request::New {
                name: "n".into(),
                repo: "/r".into(),
                base: Some("main".into()),
                profile: Some("claude".into()),
                prompt: Some("fix".into()),
                on: Some("ssh:box".into()),
            },
        ),
        ("List", Request::List),
        ("Stop", Request::Stop { name: "n".into() }),
        ("Start", Request::Start { name: "n".into() }),
        (
            "Remove",
            Request::Remove {
                name: "n".into(),
                force: true,
                superseded: true,
            },
        ),
        (
            "AddAgent",
            Request::AddAgent {
                workspace: "n".into(),
                profile: Some("codex".into()),
                prompt: None,
            },
        ),
        (
            "Send",
            Request::Send {
                target: target(),
                data: b"hi\r".to_vec(),
            },
        ),
        (
            "Logs",
            Request::Logs {
                target: target(),
                follow: true,
            },
        ),
        (
            "Attach",
            Request::Attach {
                target: target(),
                rows: 24,
                cols: 80,
                resume: Some(Resume {
                    session: 7,
                    input_offset: 9,
                }),
            },
        ),
        ("Locate", Request::Locate { name: "n".into() }),
        (
            "Reserve",
            Request::Reserve {
                name: "n".into(),
                id: claim().id,
                by: "laptop".into(),
            },
        ),
        (
            "Release",
            Request::Release {
                name: "n".into(),
                id: claim().id,
            },
        ),
        (
            "Ownership",
            Request::Ownership {
                claims: vec![claim()],
            },
        ),
        ("PairOpen", Request::PairOpen),
        (
            "Join",
            Request::Join {
                code: "ABCD-1234".into(),
                addr: Some("/ip4/1.2.3.4/tcp/1".into()),
            },
        ),
        (
            "PairHello",
            Request::PairHello {
                name: "laptop".into(),
                spake: vec![1, 2, 3],
                addrs: vec!["/ip4/1.2.3.4/tcp/1".into()],
            },
        ),
        (
            "PairConfirm",
            Request::PairConfirm {
                confirm: vec![4, 5],
            },
        ),
        (
            "RosterSync",
            Request::RosterSync {
                members: vec![member()],
            },
        ),
        (
            "Unpair",
            Request::Unpair {
                name: "laptop".into(),
            },
        ),
        ("Nodes", Request::Nodes),
        (
            "Dial",
            Request::Dial {
                addr: "/ip4/1.2.3.4/tcp/1".into(),
            },
        ),
        (
            "HostAdd",
            Request::HostAdd {
                alias: "box".into(),
                accept_new: true,
            },
        ),
        (
            "HostCheck",
            Request::HostCheck {
                alias: "box".into(),
            },
        ),
        ("HostList", Request::HostList),
        (
            "HostRemove",
            Request::HostRemove {
                alias: "box".into(),
            },
        ),
        (
            "HostPipe",
            Request::HostPipe {
                alias: "box".into(),
                command: "git-receive-pack x".into(),
            },
        ),
        (
            "HostTmux",
            Request::HostTmux(HostTerminal {
                alias: "box".into(),
                session: "roam_n_claude".into(),
                cwd: "/w".into(),
                argv: vec!["claude".into()],
                rows: 24,
                cols: 80,
                create: true,
            }),
        ),
    ]
}

fn responses() -> Vec<(&'static str, Response)> {
    let report = HostReport {
        alias: "box".into(),
        target: "u@h:22".into(),
        checks: vec![CheckItem {
            name: "git".into(),
            ok: true,
            detail: "2.47".into(),
        }],
    };
    vec![
        (
            "Pong",
            Response::Pong {
                protocol: 3,
                pid: 1,
            },
        ),
        (
            "Status",
            Response::Status(NodeStatus {
                name: "homelab".into(),
                peer_id: "12D3KooWpeer".into(),
                listen: vec!["/ip4/1.2.3.4/tcp/1".into()],
                load: "0.5".into(),
                pid: 1,
                version: "0.1.0".into(),
                protocol: 3,
                data_dir: "/d".into(),
                uptime_secs: 5,
                workspaces: 1,
                agents_running: 2,
                rss_bytes: 3,
            }),
        ),
        ("Done", Response::Done),
        (
            "Unpaired",
            Response::Unpaired {
                also: vec!["phone".into()],
            },
        ),
        ("Workspace", Response::Workspace(workspace_info())),
        ("Workspaces", Response::Workspaces(vec![workspace_info()])),
        ("Agent", Response::Agent(workspace_info().agents.remove(0))),
        (
            "Removed",
            Response::Removed {
                snapshot_ref: Some("refs/roam/snapshots/n/1".into()),
            },
        ),
        (
            "Located",
            Response::Located {
                location: Some(Location {
                    claim: claim(),
                    superseded: true,
                }),
            },
        ),
        (
            "Ownership",
            Response::Ownership {
                newer: vec![claim()],
            },
        ),
        (
            "PairCode",
            Response::PairCode {
                code: "ABCD".into(),
                addrs: vec!["/ip4/1.2.3.4/tcp/1".into()],
                expires_secs: 300,
            },
        ),
        (
            "PairChallenge",
            Response::PairChallenge {
                name: "homelab".into(),
                spake: vec![1],
                confirm: vec![2],
            },
        ),
        (
            "Welcome",
            Response::Welcome {
                members: vec![member()],
            },
        ),
        (
            "Joined",
            Response::Joined {
                name: "homelab".into(),
            },
        ),
        (
            "Roster",
            Response::Roster {
                members: vec![member()],
            },
        ),
        (
            "Nodes",
            Response::Nodes(vec![NodeInfo {
                name: "homelab".into(),
                peer_id: "12D3KooWpeer".into(),
                addrs: vec![],
                local: true,
                online: true,
                rtt_micros: Some(300),
                workspaces: Some(1),
                agents_running: Some(1),
                load: Some("0.1".into()),
            }]),
        ),
        ("HostReport", Response::HostReport(report)),
        (
            "Hosts",
            Response::Hosts(vec![HostInfo {
                alias: "box".into(),
                target: "u@h:22".into(),
                connected: true,
                added_unix: 1,
                last_used_unix: 2,
                last_check_ok: true,
            }]),
        ),
        (
            "Dialed",
            Response::Dialed {
                peer_id: "12D3KooWpeer".into(),
            },
        ),
        ("Streaming", Response::Streaming),
        (
            "Error",
            Response::Error {
                kind: ErrorKind::Stale,
                message: "m".into(),
            },
        ),
    ]
}

#[test]
fn golden_wire_bytes_hold_for_this_protocol_version() {
    let mut map = BTreeMap::new();
    put(
        &mut map,
        "Envelope",
        &Envelope {
            version: PROTOCOL_VERSION,
            forwarded: true,
            epoch: Some(3),
            request: Request::Ping,
        },
    );
    for (name, r) in requests() {
        put(&mut map, &format!("Request::{name}"), &r);
    }
    for (name, r) in responses() {
        put(&mut map, &format!("Response::{name}"), &r);
    }
    for (i, kind) in [
        ErrorKind::NotFound,
        ErrorKind::Stale,
        ErrorKind::Unreachable,
        ErrorKind::Refused,
        ErrorKind::InvalidInput,
        ErrorKind::Conflict,
        ErrorKind::Busy,
        ErrorKind::Internal,
    ]
    .iter()
    .enumerate()
    {
        put(&mut map, &format!("ErrorKind::{i}"), kind);
    }
    for (i, status) in [
        AgentStatus::Starting,
        AgentStatus::Working,
        AgentStatus::WaitingForInput,
        AgentStatus::Idle,
        AgentStatus::Exited { code: -1 },
        AgentStatus::Stopped,
        AgentStatus::Disconnected,
    ]
    .iter()
    .enumerate()
    {
        put(&mut map, &format!("AgentStatus::{i}"), status);
    }
    put(&mut map, "Down::Output", &Down::Output(b"x".to_vec()));
    put(&mut map, "Down::Exited", &Down::Exited { code: 1 });
    put(
        &mut map,
        "Down::Closed",
        &Down::Closed { reason: "r".into() },
    );
    put(&mut map, "Down::InputAck", &Down::InputAck { bytes: 5 });
    put(&mut map, "Up::Input", &Up::Input(b"k".to_vec()));
    put(&mut map, "Up::Resize", &Up::Resize { rows: 1, cols: 2 });
    put(&mut map, "Up::Detach", &Up::Detach);
    check(
        &format!("wire-v{PROTOCOL_VERSION}.txt"),
        map,
        "PROTOCOL_VERSION",
    );
}

#[test]
fn golden_record_bytes_hold_for_these_record_versions() {
    let owner = Owner {
        peer: "12D3KooWpeer".into(),
        node: "homelab".into(),
    };
    let record = WorkspaceRecord {
        id: claim().id,
        name: "feature-auth".into(),
        repo: "/src/app".into(),
        base: "main".into(),
        branch: "roam/feature-auth".into(),
        path: "/w/feature-auth".into(),
        owner: owner.clone(),
        epoch: 3,
        created_unix: 100,
        stopped: true,
        agents: vec![AgentRecord {
            name: "claude".into(),
            profile: "claude".into(),
            prompt: Some("fix".into()),
            session: Some("s".into()),
            exited: Some(0),
        }],
        host: Some("box".into()),
        superseded: Some(Superseded {
            owner,
            epoch: 4,
            since_unix: 200,
        }),
    };
    let mut map = BTreeMap::new();
    map.insert(
        format!("WorkspaceRecord::v{}", versions::WORKSPACE),
        encode_versioned(versions::WORKSPACE, &record).unwrap(),
    );
    let member = roam_mesh::roster::Member {
        peer: "12D3KooWpeer".into(),
        name: "laptop".into(),
        addrs: vec!["/ip4/10.0.0.2/udp/4799/quic-v1".into()],
        removed: true,
        vouches: vec![roam_mesh::roster::Vouch {
            by: "12D3KooWpeer".into(),
            signature: vec![7; 64],
        }],
    };
    map.insert(
        format!("Member::v{}", versions::MEMBER),
        encode_versioned(versions::MEMBER, &member).unwrap(),
    );
    let host = HostRecord {
        alias: "box".into(),
        added_unix: 1,
        last_used_unix: 2,
        last_check_ok: true,
    };
    map.insert(
        format!("HostRecord::v{}", versions::HOST),
        encode_versioned(versions::HOST, &host).unwrap(),
    );
    let holder = roam_actors::model::HolderRecord {
        workspace_id: "0123456789abcdef0123456789abcdef".into(),
        workspace: "feature-auth".into(),
        agent: "claude".into(),
        socket: "/data/run/holders/1-2-0.sock".into(),
        holder_pid: 100,
        holder_start: 5000,
        agent_pid: 101,
        agent_start: 5001,
        boot: "b00t".into(),
    };
    map.insert(
        format!("HolderRecord::v{}", versions::HOLDER),
        encode_versioned(versions::HOLDER, &holder).unwrap(),
    );
    check(
        &format!(
            "records-w{}-m{}-h{}-k{}.txt",
            versions::WORKSPACE,
            versions::MEMBER,
            versions::HOST,
            versions::HOLDER
        ),
        map,
        "the record version in store::versions",
    );
}
