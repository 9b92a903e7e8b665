//! Restart without loss: `roam down`/`roam up`, and kill -9.

use crate::harness::{TestNode, copy_dir, wait_until};

/// A workspace with a commit, a found session and scrollback; returns the
/// session id.
fn make_busy_workspace(node: &TestNode) -> String {
    node.ok(&[
        "new",
        "keep",
        "--agent",
        "test",
        "--prompt",
        "write k.txt one; commit k",
    ]);
    node.wait_logs("keep", "committed");
    wait_until("session found", || {
        node.workspace("keep")["agents"][0]["session"].is_string()
    });
    node.ok(&["send", "keep", "echo marker-before-restart"]);
    node.wait_logs("keep", "marker-before-restart");
    node.workspace("keep")["agents"][0]["session"]
        .as_str()
        .unwrap()
        .to_string()
}

/// `resumed`: the agent was ended and resumed (`roam down`); else it ran
/// on in its holder and was adopted (a kill -9 of the node).
fn assert_everything_back(node: &TestNode, session: &str, resumed: bool) {
    let ws = node.workspace("keep");
    assert_eq!(ws["ahead"], 1);
    assert_eq!(ws["agents"][0]["session"], session);
    // Scrollback from before, the restart banner, and the same conversation.
    if resumed {
        node.wait_logs("keep", "resumed session");
    }
    let logs = node.logs("keep");
    assert!(logs.contains("marker-before-restart"), "{logs}");
    assert_eq!(logs.contains("[roam] node restarted"), resumed, "{logs}");
    node.ok(&["send", "keep", "recall"]);
    node.wait_logs(
        "keep",
        "history: write k.txt one; commit k | echo marker-before-restart",
    );
}

#[test]
fn down_and_up_bring_back_workspaces_scrollback_and_conversations() {
    let node = TestNode::started();
    let session = make_busy_workspace(&node);
    let out = node.ok(&["down"]);
    assert!(out.contains("node stopped"));
    let err = node.fails(&["ls"]);
    assert!(
        err.contains("roam up"),
        "autostart off says how to start: {err}"
    );
    node.ok(&["up"]);
    assert_everything_back(&node, &session, true);
}

#[test]
fn kill_9_loses_nothing_that_was_acknowledged() {
    let node = TestNode::started();
    let session = make_busy_workspace(&node);
    // Scrollback is persisted every second; give the marker that second.
    let scrollback = node.home.join("scrollback/keep/test.log");
    wait_until("scrollback persisted", || {
        std::fs::read_to_string(&scrollback).is_ok_and(|s| s.contains("marker-before-restart"))
    });
    let agent = node.workspace("keep")["agents"][0]["pid"].clone();
    let pid = node.pid();
    nix_kill9(pid);
    wait_until("node gone", || {
        !node.roam(&["node", "status"]).status.success()
    });
    node.ok(&["up"]);
    assert_everything_back(&node, &session, false);
    assert_eq!(node.workspace("keep")["agents"][0]["pid"], agent, "adopted");
}

#[test]
fn up_is_idempotent_and_any_command_autostarts_the_node() {
    let node = TestNode::new();
    // With autostart on (the default), `ls` starts the node.
    let out = node
        .command(&["ls"])
        .env_remove("ROAM_NO_AUTOSTART")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("no workspaces"));
    let pid = node.pid();
    let again = node.ok(&["up"]);
    assert!(
        again.contains(&format!("already running (pid {pid})")),
        "{again}"
    );
    let status = node.ok(&["node", "status"]);
    assert!(status.contains("node testnode running"), "{status}");
}

fn nix_kill9(pid: i32) {
    let ok = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
}

#[test]
fn a_node_started_on_the_store_of_the_release_before_lists_every_workspace() {
    let node = TestNode::new();
    let golden =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../node/tests/golden/store-v1");
    copy_dir(&golden, &node.home.join("store"));
    let node = TestNode::start(node);
    let ls = node.ls();
    let names: Vec<&str> = ls.iter().filter_map(|w| w["name"].as_str()).collect();
    assert_eq!(names, ["alpha", "beta", "far"], "{ls:?}");
    let me = node.peer_id();
    for w in &ls {
        assert_eq!(w["owner_peer"], me.as_str(), "owned by this node: {w}");
        assert_eq!(w["epoch"], 1);
        assert_eq!(w["id"].as_str().unwrap().len(), 32);
    }
    let beta = &ls[1];
    assert_eq!(beta["stopped"], true);
    assert_eq!(beta["agents"].as_array().unwrap().len(), 2);
    assert_eq!(ls[2]["badge"], "ssh:box");
    // Their worktrees were on another machine: each says so, none is lost.
    assert!(ls[0]["problem"].is_string(), "{}", ls[0]);
}
