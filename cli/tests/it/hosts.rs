//! `roam host`: a real OpenSSH server on a random loopback port, reached
//! through the test's own `~/.ssh/config`, known_hosts and keys, exactly as
//! `ssh box` would reach it.

use roam_bench::sshd::{Sshd, user};

use crate::harness::TestNode;

/// An sshd and a node whose `~/.ssh/config` names it `box`.
struct Setup {
    node: TestNode,
    sshd: Sshd,
    _dir: tempfile::TempDir,
}

fn setup_with(extra_sshd_config: &str, identity: Option<&std::path::Path>) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let sshd = Sshd::start_with(dir.path(), extra_sshd_config).unwrap();
    let node = TestNode::new();
    let ssh = node.user_home.join(".ssh");
    std::fs::create_dir_all(&ssh).unwrap();
    let key = identity
        .map(|p| p.to_path_buf())
        .unwrap_or_else(|| sshd.key());
    std::fs::write(
        ssh.join("config"),
        format!(
            "Host box\n  HostName 127.0.0.1\n  Port {}\n  User {}\n  IdentityFile {}\n  IdentitiesOnly yes\n\
             Host downbox\n  HostName 127.0.0.1\n  Port 1\n  User {}\n  IdentityFile {}\n",
            sshd.port,
            user(),
            key.display(),
            user(),
            key.display()
        ),
    )
    .unwrap();
    let node = TestNode::start(node);
    Setup {
        node,
        sshd,
        _dir: dir,
    }
}

fn setup() -> Setup {
    setup_with("", None)
}

fn hosts(node: &TestNode) -> Vec<serde_json::Value> {
    serde_json::from_str::<serde_json::Value>(&node.ok(&["host", "ls", "--json"]))
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn an_unknown_host_key_needs_accept_new_then_the_box_is_checked_and_listed() {
    let s = setup();
    let err = s.node.fails(&["host", "add", "box"]);
    assert!(
        err.contains("SHA256:") && err.contains("--accept-new"),
        "{err}"
    );
    assert!(hosts(&s.node).is_empty(), "nothing added");

    let report = s.node.ok(&["host", "add", "box", "--accept-new"]);
    assert!(
        report.contains(&format!("127.0.0.1:{}", s.sshd.port)),
        "{report}"
    );
    assert!(
        report.contains("ok   git") && report.contains("git version"),
        "{report}"
    );
    assert!(report.contains("ok   home"), "{report}");
    assert!(!report.contains("FAIL"), "{report}");
    let known = std::fs::read_to_string(s.node.user_home.join(".ssh/known_hosts")).unwrap();
    let host_key = s.sshd.host_public_key().unwrap();
    let blob = host_key.split_whitespace().nth(1).unwrap();
    assert!(
        known.contains(blob),
        "host key recorded like ssh does: {known}"
    );

    let listed = hosts(&s.node);
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["alias"], "box");
    assert!(s.node.ok(&["host", "ls"]).contains("ssh:box"));
    // Known now: a check needs no --accept-new.
    assert!(!s.node.ok(&["host", "check", "box"]).contains("FAIL"));
    s.node.ok(&["host", "rm", "box"]);
    assert!(hosts(&s.node).is_empty());
    assert!(
        s.node
            .fails(&["host", "check", "box"])
            .contains("roam host add box")
    );
}

#[test]
fn a_changed_host_key_is_refused_like_ssh_does() {
    let s = setup();
    let other = tempfile::tempdir().unwrap();
    let status = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(other.path().join("k"))
        .status()
        .unwrap();
    assert!(status.success());
    let impostor = std::fs::read_to_string(other.path().join("k.pub")).unwrap();
    std::fs::write(
        s.node.user_home.join(".ssh/known_hosts"),
        format!("[127.0.0.1]:{} {}", s.sshd.port, impostor),
    )
    .unwrap();
    let err = s.node.fails(&["host", "add", "box", "--accept-new"]);
    assert!(
        err.contains("CHANGED") && err.contains("known_hosts"),
        "{err}"
    );
    assert!(hosts(&s.node).is_empty());
}

#[test]
fn a_key_the_box_does_not_know_is_an_auth_failure() {
    let other = tempfile::tempdir().unwrap();
    let key = other.path().join("stranger");
    let status = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .status()
        .unwrap();
    assert!(status.success());
    let s = setup_with("", Some(&key));
    let err = s.node.fails(&["host", "add", "box", "--accept-new"]);
    assert!(
        err.contains("permission denied") && err.contains("stranger"),
        "{err}"
    );
    assert!(hosts(&s.node).is_empty());
}

#[test]
fn a_host_that_is_down_is_unreachable() {
    let s = setup();
    let err = s.node.fails(&["host", "add", "downbox", "--accept-new"]);
    assert!(err.contains("127.0.0.1"), "{err}");
    assert!(hosts(&s.node).is_empty());
}

#[test]
fn a_host_without_git_is_not_added() {
    let s = setup_with("SetEnv PATH=/nonexistent\n", None);
    let out = s.node.roam(&["host", "add", "box", "--accept-new"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("git is not in PATH"), "{err}");
    assert!(hosts(&s.node).is_empty());
}

#[test]
fn a_check_after_the_connection_dropped_reconnects() {
    let s = setup();
    s.node.ok(&["host", "add", "box", "--accept-new"]);
    // End every session sshd serves (its children); the listener stays.
    let killed = std::process::Command::new("pkill")
        .args(["-P", &s.sshd.pid().to_string()])
        .status()
        .unwrap();
    assert!(killed.success(), "there was a session to end");
    let report = s.node.ok(&["host", "check", "box"]);
    assert!(!report.contains("FAIL"), "{report}");
}
