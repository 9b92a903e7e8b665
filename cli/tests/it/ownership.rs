//! One owner per workspace, across real nodes on loopback: names unique
//! across the mesh (two creations of one name at once: one winner), and
//! fencing by epoch (a node restarted from an old backup runs nothing and
//! converges; a request that reaches a superseded copy is refused as stale
//! and the router's retry reaches the owner).

use std::path::Path;

use roam_actors::model::{AgentRecord, Owner, WorkspaceRecord};
use roam_actors::persist::Persist;

use crate::harness::{TestNode, copy_dir, git, pair, stderr, wait_until};

fn copies(node: &TestNode, name: &str) -> Vec<serde_json::Value> {
    node.ls()
        .into_iter()
        .filter(|w| w["name"] == name)
        .collect()
}

#[test]
fn two_nodes_creating_one_name_at_once_end_with_exactly_one_winner() {
    let a = TestNode::start(TestNode::named("alpha"));
    let b = TestNode::start(TestNode::named("bravo"));
    pair(&a, &b);
    for n in [&a, &b] {
        wait_until("both online", || n.online_nodes() == 2);
    }
    for round in 0..4 {
        let name = format!("race-{round}");
        let args = ["new", name.as_str(), "--agent", "test"];
        // Both at once, each its own process, as two users would.
        let run = |node: &TestNode| {
            node.command(&args)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        };
        let (first, second) = (run(&a), run(&b));
        let (ra, rb) = (
            first.wait_with_output().unwrap(),
            second.wait_with_output().unwrap(),
        );
        assert!(
            ra.status.success() != rb.status.success(),
            "round {round}: exactly one of the two creations wins (alpha: {}, bravo: {})",
            stderr(&ra),
            stderr(&rb)
        );
        let (winner, loser, lost, winner_name) = match ra.status.success() {
            true => (&a, &b, &rb, "alpha"),
            false => (&b, &a, &ra, "bravo"),
        };
        // The loser said, in one line, which node has the name.
        let err = stderr(lost);
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert!(
            err.contains(&format!("'{name}'")) && err.contains(&format!("node '{winner_name}'")),
            "{err}"
        );
        // And so does a later try.
        let err = loser.fails(&args);
        assert!(err.contains(&format!("node '{winner_name}'")), "{err}");
        assert!(winner.worktree(&name).exists());
        assert!(!loser.worktree(&name).exists(), "nothing made on the loser");
        for n in [&a, &b] {
            assert_eq!(copies(n, &name).len(), 1, "one {name} in the mesh");
        }
    }
}

#[test]
fn a_name_on_an_offline_node_is_refused_and_a_new_one_is_made_without_it() {
    let a = TestNode::start(TestNode::named("alpha"));
    let b = TestNode::start(TestNode::named("bravo"));
    pair(&a, &b);
    wait_until("both online", || a.online_nodes() == 2);
    b.ok(&["new", "kept", "--agent", "test"]);
    // alpha sees it, so it remembers bravo's listing.
    wait_until("alpha lists kept", || copies(&a, "kept").len() == 1);
    b.ok(&["down"]);
    wait_until("bravo offline", || a.online_nodes() == 1);
    let err = a.fails(&["new", "kept", "--agent", "test"]);
    assert!(
        err.contains("'kept'") && err.contains("bravo") && err.contains("unreachable"),
        "{err}"
    );
    assert!(!a.worktree("kept").exists());
    a.ok(&["new", "fresh", "--agent", "test"]);
}

/// Writes, into the store of the stopped node `to`, the record of a
/// workspace it owns at `epoch`, with a worktree of its own: the state a
/// node is in after taking a workspace over.
pub(crate) fn own_at_epoch(
    to: &TestNode,
    peer: &str,
    node: &str,
    id: &str,
    name: &str,
    epoch: u64,
) {
    let worktree = to.worktree(name);
    git(
        &to.repo,
        &[
            "worktree",
            "add",
            "-q",
            "-b",
            &format!("roam/{name}"),
            worktree.to_str().unwrap(),
            "main",
        ],
    );
    let record = WorkspaceRecord {
        id: id.to_string(),
        name: name.to_string(),
        repo: to.repo.display().to_string(),
        base: "main".into(),
        branch: format!("roam/{name}"),
        path: worktree.display().to_string(),
        owner: Owner {
            peer: peer.to_string(),
            node: node.to_string(),
        },
        epoch,
        created_unix: 1,
        stopped: false,
        agents: vec![AgentRecord {
            name: "test".into(),
            profile: "test".into(),
            prompt: None,
            session: None,
            exited: None,
        }],
        host: None,
        superseded: None,
    };
    let store = roam_node::store::Store::open(&to.home.join("store"), peer).unwrap();
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(store.save(&record))
        .unwrap();
}

/// Processes running with `dir` as their working directory.
pub(crate) fn processes_in(dir: &Path) -> Vec<String> {
    let dir = std::fs::canonicalize(dir).unwrap_or(dir.to_path_buf());
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .chars()
                .all(|c| c.is_ascii_digit())
        })
        .filter(|e| std::fs::read_link(e.path().join("cwd")).is_ok_and(|cwd| cwd == dir))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

pub(crate) fn node_log(node: &TestNode) -> String {
    std::fs::read_dir(node.home.join("logs"))
        .map(|dir| {
            dir.flatten()
                .filter_map(|e| std::fs::read_to_string(e.path()).ok())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_node_restored_from_a_backup_runs_no_agent_and_a_stale_request_is_retried_at_the_owner() {
    let a = TestNode::start(TestNode::named("alpha").on_fixed_ports());
    let b = TestNode::start(TestNode::named("bravo").on_fixed_ports());
    let c = TestNode::start(TestNode::named("charlie").on_fixed_ports());
    pair(&a, &b);
    pair(&a, &c);
    for n in [&a, &b, &c] {
        wait_until("all three online", || n.online_nodes() == 3);
    }
    a.ok(&[
        "new",
        "shared",
        "--agent",
        "test",
        "--prompt",
        "echo first-on-alpha",
    ]);
    a.wait_logs("shared", "first-on-alpha");
    let id = a.workspace("shared")["id"].as_str().unwrap().to_string();
    // charlie works on it, and remembers it is on alpha at epoch 1.
    c.ok(&["send", "shared", "echo via-charlie-1"]);
    a.wait_logs("shared", "via-charlie-1");

    // A backup of alpha's store, holding epoch 1.
    a.ok(&["down"]);
    let backup = a.dir.path().join("store-backup");
    copy_dir(&a.home.join("store"), &backup);
    a.ok(&["up"]);
    wait_until("alpha back", || c.online_nodes() == 3);

    // bravo takes the workspace over at epoch 2.
    let bravo_peer = b.peer_id();
    b.ok(&["down"]);
    own_at_epoch(&b, &bravo_peer, "bravo", &id, "shared", 2);
    b.ok(&["up"]);
    b.wait_logs("shared", "node restarted; agent resumed");
    // alpha hears of it when bravo reconnects, and stops its copy.
    wait_until("alpha's copy superseded", || {
        a.ls().iter().any(|w| {
            w["name"] == "shared" && w["badge"] == "local" && w["superseded_by"] == "bravo"
        })
    });
    wait_until("alpha runs nothing in its copy", || {
        processes_in(&a.worktree("shared")).is_empty()
    });

    // alpha is restored from the backup (epoch 1, not superseded) and
    // restarted while the mesh has epoch 2: it starts no agent for it.
    a.ok(&["down"]);
    copy_dir(&backup, &a.home.join("store"));
    a.ok(&["up"]);
    let mine = a
        .ls()
        .into_iter()
        .find(|w| w["name"] == "shared" && w["badge"] == "local")
        .unwrap();
    assert_eq!(mine["superseded_by"], "bravo", "{mine}");
    assert_eq!(mine["agents"][0]["status"]["state"], "stopped", "{mine}");
    assert!(
        processes_in(&a.worktree("shared")).is_empty(),
        "no agent runs in alpha's copy"
    );
    let scrollback =
        std::fs::read_to_string(a.home.join("scrollback/shared/test.log")).unwrap_or_default();
    assert_eq!(
        scrollback.matches("node restarted; agent resumed").count(),
        1,
        "only the restart before the takeover resumed the agent: {scrollback}"
    );
    // Its copy is kept, with its work, until the user drops it.
    assert!(a.worktree("shared").join("README.md").exists());

    // alpha converges without help: its commands go to bravo.
    a.ok(&["send", "shared", "echo via-alpha"]);
    b.wait_logs("shared", "via-alpha");
    // charlie still thinks alpha has it at epoch 1: alpha refuses as stale,
    // charlie locates again and its retry reaches bravo.
    c.ok(&["send", "shared", "echo via-charlie-2"]);
    b.wait_logs("shared", "via-charlie-2");
    assert!(
        node_log(&c).contains("owner moved on; locating again"),
        "charlie's first try was refused as stale"
    );
    let live: Vec<_> = copies(&c, "shared")
        .into_iter()
        .filter(|w| w["superseded_by"].is_null())
        .collect();
    assert_eq!(live.len(), 1);
    assert_eq!(live[0]["badge"], "bravo");
    assert_eq!(live[0]["epoch"], 2);

    // The superseded copy is dropped on request; its work stays in a ref.
    let out = a.ok(&["rm", "shared", "--superseded"]);
    assert!(out.contains("removed workspace shared"), "{out}");
    assert!(!a.worktree("shared").exists());
    assert_eq!(copies(&a, "shared").len(), 1, "bravo's remains");
    let failed = a.roam(&["rm", "shared", "--superseded"]);
    assert!(!failed.status.success(), "{}", stderr(&failed));
}

#[test]
fn two_nodes_started_together_fence_the_older_copy_before_any_agent_runs() {
    let a = TestNode::start(TestNode::named("alpha").on_fixed_ports());
    let b = TestNode::start(TestNode::named("bravo").on_fixed_ports());
    pair(&a, &b);
    for n in [&a, &b] {
        wait_until("both online", || n.online_nodes() == 2);
    }
    a.ok(&[
        "new",
        "both",
        "--agent",
        "test",
        "--prompt",
        "echo on-alpha",
    ]);
    a.wait_logs("both", "on-alpha");
    let id = a.workspace("both")["id"].as_str().unwrap().to_string();
    let bravo_peer = b.peer_id();
    a.ok(&["down"]);
    b.ok(&["down"]);
    // bravo holds it at epoch 2; alpha's store still says epoch 1, active.
    own_at_epoch(&b, &bravo_peer, "bravo", &id, "both", 2);
    let (ua, ub) = (
        a.command(&["up"]).spawn().unwrap(),
        b.command(&["up"]).spawn().unwrap(),
    );
    let (ua, ub) = (
        ua.wait_with_output().unwrap(),
        ub.wait_with_output().unwrap(),
    );
    assert!(ua.status.success() && ub.status.success());
    let mine = a
        .ls()
        .into_iter()
        .find(|w| w["name"] == "both" && w["badge"] == "local")
        .unwrap();
    assert_eq!(mine["superseded_by"], "bravo", "{mine}");
    assert!(
        processes_in(&a.worktree("both")).is_empty(),
        "alpha started no agent for its older copy"
    );
    let scrollback =
        std::fs::read_to_string(a.home.join("scrollback/both/test.log")).unwrap_or_default();
    assert!(
        !scrollback.contains("node restarted; agent resumed"),
        "alpha's agent never resumed: {scrollback}"
    );
    b.wait_logs("both", "node restarted; agent resumed");
    a.ok(&["send", "both", "echo via-alpha"]);
    b.wait_logs("both", "via-alpha");
}
