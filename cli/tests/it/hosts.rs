//! `roam host`: a real OpenSSH server on a random loopback port, reached
//! through the test's own `~/.ssh/config`, known_hosts and keys, exactly as
//! `ssh box` would reach it.

use roam_bench::sshd::{Sshd, user};

use crate::harness::{PtyClient, TestNode, git, pair, wait_until};

/// An sshd and a node whose `~/.ssh/config` names it `box`.
pub(crate) struct Setup {
    pub(crate) node: TestNode,
    pub(crate) sshd: Sshd,
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
    // A home of its own: the sessions ended below never run the real
    // home's shell startup (which may hold a lock, as pyenv's rehash does).
    let (s, _home) = isolated_host();
    drop_the_link(&s);
    let report = s.node.ok(&["host", "check", "box"]);
    assert!(!report.contains("FAIL"), "{report}");
}

/// A host with its own `$HOME` (with a git identity) and its own tmux
/// server, so tests never touch the real home or a real tmux.
pub(crate) fn isolated_host() -> (Setup, HostHome) {
    isolated_host_with("")
}

/// The host's home; dropping it ends what the host still runs there (its
/// tmux server, detached agents), whatever state a test ends in.
pub(crate) struct HostHome(tempfile::TempDir);

impl HostHome {
    pub(crate) fn path(&self) -> &std::path::Path {
        self.0.path()
    }
}

impl Drop for HostHome {
    fn drop(&mut self) {
        let _ = std::process::Command::new("tmux")
            .env("TMUX_TMPDIR", self.path().join("tmux"))
            .arg("kill-server")
            .output();
        let run = self.path().join(".roam/run");
        for entry in std::fs::read_dir(run).into_iter().flatten().flatten() {
            if let Ok(pid) = std::fs::read_to_string(entry.path().join("pid")) {
                let group = format!("-{}", pid.trim());
                let _ = std::process::Command::new("kill")
                    .args(["-KILL", "--", &group])
                    .output();
            }
        }
    }
}

/// `isolated_host`, with more `SetEnv` words for the host's sessions.
fn isolated_host_with(more_env: &str) -> (Setup, HostHome) {
    let home_dir = HostHome(tempfile::tempdir().unwrap());
    let host_home = home_dir.path();
    std::fs::write(
        host_home.join(".gitconfig"),
        "[user]\n\tname = Host User\n\temail = host@example.com\n",
    )
    .unwrap();
    let tmux = host_home.join("tmux");
    std::fs::create_dir_all(&tmux).unwrap();
    let extra = format!(
        "SetEnv HOME={} TMUX_TMPDIR={} {more_env}\n",
        host_home.display(),
        tmux.display()
    );
    let s = setup_with(&extra, None);
    s.node.ok(&["host", "add", "box", "--accept-new"]);
    (s, home_dir)
}

#[test]
fn a_workspace_on_an_ssh_host_runs_its_agent_there_and_outlives_the_connection() {
    let (s, home_dir) = isolated_host();
    let host_home = home_dir.path();
    let out = s.node.ok(&[
        "new",
        "far",
        "--on",
        "ssh:box",
        "--agent",
        "test",
        "--prompt",
        "write far.txt on-the-host; commit far",
    ]);
    assert!(out.contains("created workspace far"), "{out}");
    s.node.wait_logs("far", "committed");
    let on_host = host_home.join(".roam/worktrees/far/far.txt");
    assert_eq!(std::fs::read_to_string(&on_host).unwrap(), "on-the-host\n");
    assert!(!s.node.worktree("far").exists(), "nothing made locally");
    wait_until("ls reads git on the host", || {
        let ws = s.node.workspace("far");
        ws["badge"] == "ssh:box" && ws["ahead"] == 1 && ws["problem"].is_null()
    });
    // The base moves on here: behind counts it, as for a local workspace.
    git(
        &s.node.repo,
        &["commit", "--allow-empty", "-q", "-m", "base moved on"],
    );
    wait_until("behind the base that moved", || {
        s.node.workspace("far")["behind"] == 1
    });

    s.node.ok(&["send", "far", "echo typed-from-here"]);
    s.node.wait_logs("far", "typed-from-here");
    let mut viewer = PtyClient::spawn(&s.node, &["attach", "far"], 30, 100);
    viewer.wait_for("typed-from-here");
    viewer.type_bytes(b"echo typed-in-attach\r");
    viewer.wait_for("typed-in-attach\r\n");
    viewer.type_bytes(&[0x1d]);
    assert!(viewer.wait_exit());

    // More output than a screen, so some of it is history on the host.
    s.node.ok(&["send", "far", "spam 60 30"]);
    s.node.wait_logs("far", "line 60 ");
    // The link drops (laptop lid closed): the agent keeps running on the host.
    drop_the_link(&s);
    s.node.wait_logs("far", "reconnected to ssh:box");
    s.node.ok(&["send", "far", "recall"]);
    s.node.wait_logs("far", "history: write far.txt on-the-host; commit far | echo typed-from-here | echo typed-in-attach");

    // rm refuses the agent's unsaved work on the host, --force keeps it.
    s.node.ok(&["send", "far", "write wip.txt unsaved"]);
    s.node.wait_logs("far", "wrote wip.txt");
    let err = s.node.fails(&["rm", "far"]);
    assert!(
        err.contains("uncommitted") && err.contains("ssh:box"),
        "{err}"
    );
    let out = s.node.ok(&["rm", "far", "--force"]);
    assert!(out.contains("refs/roam/snapshots/far/"), "{out}");
    assert!(!host_home.join(".roam/worktrees/far").exists());
    // The host's snapshot has gitsync's capture layout, as a local one does.
    let snapshot = out
        .split_whitespace()
        .find(|w| w.starts_with("refs/roam/snapshots/far/"))
        .unwrap();
    let host_repo = std::fs::read_dir(host_home.join(".roam/repos"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let snap = roam_gitsync::Snapshot::load(&host_repo, snapshot).unwrap();
    assert_eq!(snap.branch.as_deref(), Some("refs/heads/roam/far"));
    assert_eq!(
        git(&host_repo, &["show", &format!("{snapshot}:wip.txt")]),
        "unsaved\n"
    );
    assert!(s.node.ls().is_empty());
}

/// Ends every session sshd serves (its children), as a lost link does; the
/// listener stays, so the node can reconnect.
fn drop_the_link(s: &Setup) {
    let killed = std::process::Command::new("pkill")
        .args(["-P", &s.sshd.pid().to_string()])
        .status()
        .unwrap();
    assert!(killed.success(), "there was a session to end");
}

#[test]
fn host_scrollback_gets_what_was_missed_once_and_never_tmuxs_repaint() {
    let (s, _home) = isolated_host();
    what_was_missed_is_in_the_scrollback_once(&s, "drops");
}

#[test]
fn host_scrollback_without_tmux_gets_the_replayed_log_only_where_it_is_new() {
    let (s, _home, _fake) = isolated_host_without_tmux();
    what_was_missed_is_in_the_scrollback_once(&s, "drops-plain");
}

/// Three link drops while the agent prints: every line it printed is in
/// the scrollback (once, or twice for one printed while the history was
/// read), and a line from before the drops is there as often as before.
fn what_was_missed_is_in_the_scrollback_once(s: &Setup, ws: &str) {
    s.node
        .ok(&["new", ws, "--on", "ssh:box", "--agent", "test"]);
    s.node.wait_logs(ws, "> ");
    s.node.ok(&["send", ws, "echo said-before-the-drops"]);
    // The typed line and the agent's answer.
    wait_until("the echo", || {
        s.node.logs(ws).matches("said-before-the-drops").count() == 2
    });
    let before = s.node.logs(ws).matches("said-before-the-drops").count();
    for round in 1..=3 {
        // Lines keep coming while the link is down: they are in no repaint.
        let tag = format!("round{round}");
        s.node.ok(&["send", ws, &format!("drip 15 200 {tag}")]);
        s.node.wait_logs(ws, &format!("{tag} 2/15"));
        drop_the_link(s);
        wait_until("the reconnect", || {
            s.node.logs(ws).matches("reconnected to ssh:box").count() == round
        });
        s.node.wait_logs(ws, &format!("{tag} 15/15"));
        let logs = s.node.logs(ws);
        for i in 1..=15 {
            let line = format!("{tag} {i}/15");
            let n = logs.matches(&line).count();
            assert!(
                (1..=2).contains(&n),
                "{line} is in the logs {n} times:\n{logs}"
            );
        }
    }
    let logs = s.node.logs(ws);
    assert_eq!(
        logs.matches("said-before-the-drops").count(),
        before,
        "a line from before the drops came back with a repaint:\n{logs}"
    );
    assert!(
        logs.contains("output while the connection was lost"),
        "{logs}"
    );
}

#[test]
fn files_the_agent_owns_on_a_host_are_not_uncommitted_work() {
    let (s, home) = isolated_host();
    s.node
        .ok(&["new", "owned-far", "--on", "ssh:box", "--agent", "asker"]);
    s.node.wait_logs("owned-far", "(Y)es/(N)o");
    s.node.ok(&["send", "owned-far", "n"]);
    s.node
        .ok(&["send", "owned-far", "think; write mine.txt the-users"]);
    s.node.wait_logs("owned-far", "wrote mine.txt");
    // The agent's notes are excluded on the host; its work file counts.
    wait_until("the work file counted alone", || {
        s.node.workspace("owned-far")["dirty_files"] == 1
    });
    let repo = std::fs::read_dir(home.path().join(".roam/repos"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let exclude = std::fs::read_to_string(repo.join("info/exclude")).unwrap();
    assert!(
        exclude.lines().any(|l| l == ".roam-test-agent/"),
        "{exclude}"
    );
}

#[test]
fn a_workspace_on_a_host_that_was_not_added_is_refused() {
    let s = setup();
    let err = s
        .node
        .fails(&["new", "nope", "--on", "ssh:box", "--agent", "test"]);
    assert!(err.contains("roam host add box"), "{err}");
    assert!(s.node.ls().is_empty());
}

/// A small tmpfs, unmounted on drop; `None` (and a printed reason) where
/// mounting is not allowed.
struct TinyDisk(std::path::PathBuf);

impl TinyDisk {
    fn mount(dir: &std::path::Path) -> Option<TinyDisk> {
        std::fs::create_dir_all(dir).unwrap();
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=512k", "tmpfs"])
            .arg(dir)
            .output()
            .ok()?;
        if !out.status.success() {
            println!(
                "skipped: cannot mount a tmpfs: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            return None;
        }
        Some(TinyDisk(dir.to_path_buf()))
    }
}

impl Drop for TinyDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_host_whose_disk_is_full_is_not_added() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("full-home");
    let Some(_disk) = TinyDisk::mount(&home) else {
        return;
    };
    let s = setup_with(&format!("SetEnv HOME={}\n", home.display()), None);
    let out = s.node.roam(&["host", "add", "box", "--accept-new"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("not added") && err.contains("GiB free"),
        "{err}"
    );
    assert!(hosts(&s.node).is_empty());
}

#[test]
fn on_a_host_without_tmux_the_agent_is_detached_with_setsid_and_outlives_the_connection() {
    let (s, home_dir, _fake) = isolated_host_without_tmux();
    let report = s.node.ok(&["host", "check", "box"]);
    assert!(
        report.contains("no tmux: agents are detached with setsid"),
        "{report}"
    );

    s.node.ok(&[
        "new",
        "plain",
        "--on",
        "ssh:box",
        "--agent",
        "test",
        "--prompt",
        "echo started-detached",
    ]);
    s.node.wait_logs("plain", "started-detached");
    s.node.ok(&["send", "plain", "write d.txt detached-write"]);
    s.node.wait_logs("plain", "wrote d.txt");
    let written = home_dir.path().join(".roam/worktrees/plain/d.txt");
    assert_eq!(
        std::fs::read_to_string(&written).unwrap(),
        "detached-write\n"
    );

    drop_the_link(&s);
    s.node.wait_logs("plain", "reconnected to ssh:box");
    s.node.ok(&["send", "plain", "recall"]);
    s.node.wait_logs(
        "plain",
        "history: echo started-detached | write d.txt detached-write",
    );

    s.node.ok(&["stop", "plain"]);
    wait_until("stopped", || s.node.agent_state("plain", 0) == "stopped");
    let run = home_dir.path().join(".roam/run");
    wait_until("the detached agent ended on the host", || {
        std::fs::read_dir(&run)
            .map(|d| d.count() == 0)
            .unwrap_or(true)
    });
    s.node.ok(&["rm", "plain", "--force"]);
}

#[test]
/// Caught the agent shown as `exited(75)` (the internal "link broke" code)
/// while its host was down, and the problem text stretching the table's
/// AHEAD/BEHIND column across screens.
fn a_host_that_went_down_shows_its_agent_disconnected_and_the_problem_on_a_line_of_its_own() {
    let (s, _home) = isolated_host();
    s.node
        .ok(&["new", "gone", "--on", "ssh:box", "--agent", "test"]);
    s.node.wait_logs("gone", "> ");
    // The whole server goes. The listener is frozen first, so no session
    // for a reconnecting agent is forked while its sessions are ended.
    let pid = s.sshd.pid().to_string();
    let signal = |args: &[&str]| {
        std::process::Command::new(args[0])
            .args(&args[1..])
            .status()
            .unwrap();
    };
    signal(&["kill", "-STOP", &pid]);
    signal(&["pkill", "-P", &pid]);
    signal(&["kill", "-KILL", &pid]);
    let mut last = serde_json::Value::Null;
    let shown = (0..100).any(|_| {
        last = s.node.workspace("gone");
        std::thread::sleep(std::time::Duration::from_millis(200));
        last["problem"]
            .as_str()
            .is_some_and(|p| p.contains("127.0.0.1") || p.contains("ssh:box"))
    });
    assert!(shown, "{last}");
    wait_until("the agent to show as disconnected", || {
        s.node.agent_state("gone", 0) == "disconnected"
    });
    let problem = s.node.workspace("gone")["problem"]
        .as_str()
        .unwrap()
        .to_owned();
    let table = String::from_utf8(
        s.node
            .command(&["ls"])
            .env("COLUMNS", "60")
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert!(table.contains("test: disconnected"), "{table}");
    assert!(!table.contains("exited"), "{table}");
    let row = table.lines().find(|l| l.starts_with("gone ")).unwrap();
    assert!(
        !row.contains(&problem),
        "the problem is in the table row: {row}"
    );
    let own = table.lines().find(|l| l.starts_with("! gone: ")).unwrap();
    assert!(
        own.chars().count() <= 60,
        "the problem line is not cut to the width: {own}"
    );
    let err = s.node.fails(&["host", "check", "box"]);
    assert!(err.contains("127.0.0.1"), "{err}");
}

/// Writes `files` files of `mib` MiB each of incompressible bytes (a seeded
/// xorshift, so every run sends the same repository) and commits them.
fn commit_incompressible(repo: &std::path::Path, files: usize, mib: usize) {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    for i in 0..files {
        let mut data = Vec::with_capacity(mib << 20);
        while data.len() < mib << 20 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            data.extend_from_slice(&state.to_le_bytes());
        }
        std::fs::write(repo.join(format!("blob-{i}.bin")), data).unwrap();
    }
    git(repo, &["add", "."]);
    git(repo, &["commit", "-q", "-m", "large"]);
}

#[test]
fn ls_answers_from_the_node_and_a_peer_while_a_large_repo_goes_to_a_host() {
    use std::time::{Duration, Instant};

    let (s, home) = isolated_host();
    let peer = TestNode::start(TestNode::named("peer-of-host-test"));
    pair(&s.node, &peer);
    wait_until("both nodes online", || peer.online_nodes() == 2);
    commit_incompressible(&s.node.repo, 4, 16);

    let started = Instant::now();
    let mut create = s
        .node
        .command(&[
            "new",
            "big",
            "--on",
            "ssh:box",
            "--agent",
            "test",
            "--prompt",
            "echo made",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The bare repository on the host is made just before the push starts.
    let repos = home.path().join(".roam/repos");
    wait_until("the create reached the host", || {
        std::fs::read_dir(&repos).is_ok_and(|mut d| d.next().is_some())
    });
    assert!(
        create.try_wait().unwrap().is_none(),
        "the create ended before any listing"
    );

    let time_ls = |node: &TestNode| {
        let mut max = Duration::ZERO;
        for _ in 0..5 {
            let t = Instant::now();
            let out = node.roam(&["ls", "--json"]);
            max = max.max(t.elapsed());
            assert!(
                out.status.success(),
                "ls during the create: {}",
                crate::harness::stderr(&out)
            );
            let listed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            assert!(listed.is_array(), "{listed}");
        }
        max
    };
    let node_max = time_ls(&s.node);
    let peer_max = time_ls(&peer);
    let listed = Instant::now();
    assert!(
        create.try_wait().unwrap().is_none(),
        "the create was still running when the last listing returned"
    );

    let out = create.wait_with_output().unwrap();
    let took = started.elapsed();
    let after = listed.elapsed();
    assert!(
        out.status.success(),
        "roam new big: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let big = s.node.workspace("big");
    assert_eq!(big["badge"], "ssh:box", "{big}");
    println!(
        "ls during a host create: node max {node_max:?}, peer max {peer_max:?} (create took {took:?}, of which {after:?} after the last listing)"
    );
    s.node.ok(&["rm", "big", "--force"]);
}

/// The tmux sessions on an `isolated_host`, by name.
fn host_sessions(home: &HostHome) -> Vec<String> {
    let out = std::process::Command::new("tmux")
        .env("TMUX_TMPDIR", home.path().join("tmux"))
        .args(["ls", "-F", "#S"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// Whether an agent's `roam ls --json` state is one of a running agent.
fn is_running(state: &serde_json::Value) -> bool {
    ["starting", "working", "waiting_for_input", "idle"].contains(&state.as_str().unwrap_or(""))
}

/// The agent `agent` of workspace `ws` as `roam ls --json` shows it.
fn agent_named(node: &TestNode, ws: &str, agent: &str) -> serde_json::Value {
    node.workspace(ws)["agents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == agent)
        .unwrap_or_else(|| panic!("no agent {agent} in {ws}"))
        .clone()
}

#[test]
fn stopping_one_agent_on_a_host_leaves_an_agent_whose_name_it_prefixes_running() {
    // There is no per-agent stop: an agent ends its own session (it exits),
    // and its terminal then asks tmux whether the session is gone. A prefix
    // match took `test-2`'s session for `test`'s, so `test` never ended and
    // was reattached to `test-2`'s terminal.
    let (s, home) = isolated_host();
    s.node.ok(&[
        "new",
        "pfxagents",
        "--on",
        "ssh:box",
        "--agent",
        "test",
        "--prompt",
        "echo first-agent",
    ]);
    s.node.wait_logs("pfxagents:test", "first-agent");
    s.node.ok(&[
        "agent",
        "add",
        "pfxagents",
        "--agent",
        "test",
        "--prompt",
        "echo second-agent",
    ]);
    s.node.wait_logs("pfxagents:test-2", "second-agent");
    assert_eq!(host_sessions(&home).len(), 2, "{:?}", host_sessions(&home));

    s.node.ok(&["send", "pfxagents:test", "exit 3"]);
    wait_until("test exited with its code", || {
        let a = agent_named(&s.node, "pfxagents", "test");
        a["status"]["state"] == "exited" && a["status"]["code"] == 3
    });
    let second = agent_named(&s.node, "pfxagents", "test-2");
    assert!(is_running(&second["status"]["state"]), "{second}");
    assert_eq!(host_sessions(&home).len(), 1, "{:?}", host_sessions(&home));
    s.node.ok(&["send", "pfxagents:test-2", "echo still-here"]);
    s.node.wait_logs("pfxagents:test-2", "still-here");
    assert!(
        !s.node.logs("pfxagents:test").contains("still-here"),
        "test was shown test-2's terminal"
    );

    s.node.ok(&["stop", "pfxagents"]);
    wait_until("both sessions ended on the host", || {
        host_sessions(&home).is_empty()
    });
    s.node.ok(&["rm", "pfxagents", "--force"]);
}

/// Makes workspace `ws` on `box` with the test agent and waits until it runs.
fn start_on_box(node: &TestNode, ws: &str) {
    node.ok(&[
        "new",
        ws,
        "--on",
        "ssh:box",
        "--agent",
        "test",
        "--prompt",
        &format!("echo started-{ws}"),
    ]);
    node.wait_logs(ws, &format!("started-{ws}"));
}

#[test]
fn removing_a_workspace_on_a_host_leaves_one_whose_name_it_prefixes_running() {
    let (s, home) = isolated_host();
    for ws in ["rmpfx", "rmpfx_bar", "rmpfx-bar"] {
        start_on_box(&s.node, ws);
    }
    assert_eq!(host_sessions(&home).len(), 3, "{:?}", host_sessions(&home));

    s.node.ok(&["rm", "rmpfx", "--force"]);
    assert_eq!(host_sessions(&home).len(), 2, "{:?}", host_sessions(&home));
    for ws in ["rmpfx_bar", "rmpfx-bar"] {
        let agent = &s.node.workspace(ws)["agents"][0];
        assert!(is_running(&agent["status"]["state"]), "{ws}: {agent}");
        s.node.ok(&["send", ws, &format!("echo alive-{ws}")]);
        s.node.wait_logs(ws, &format!("alive-{ws}"));
    }
    s.node.ok(&["rm", "rmpfx_bar", "--force"]);
    s.node.ok(&["rm", "rmpfx-bar", "--force"]);
    assert!(
        host_sessions(&home).is_empty(),
        "{:?}",
        host_sessions(&home)
    );
}

/// `isolated_host` whose tmux does not work (the host "has no tmux"): a
/// PATH whose `tmux` exits 127. Keep the returned dir alive.
fn isolated_host_without_tmux() -> (Setup, HostHome, tempfile::TempDir) {
    let fake = tempfile::tempdir().unwrap();
    let fake_tmux = fake.path().join("tmux");
    std::fs::write(&fake_tmux, "#!/bin/sh\nexit 127\n").unwrap();
    std::process::Command::new("chmod")
        .arg("+x")
        .arg(&fake_tmux)
        .status()
        .unwrap();
    let path = format!(
        "PATH={}:/usr/local/bin:/usr/bin:/bin",
        fake.path().display()
    );
    let (s, home) = isolated_host_with(&path);
    (s, home, fake)
}

/// The detached agents' directories on a host without tmux, by name.
fn detached_runs(home: &HostHome) -> Vec<String> {
    std::fs::read_dir(home.path().join(".roam/run"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn removing_a_workspace_on_a_host_without_tmux_leaves_one_whose_name_it_prefixes_running() {
    let (s, home, _fake) = isolated_host_without_tmux();
    for ws in ["detpfx", "detpfx_bar"] {
        start_on_box(&s.node, ws);
    }
    assert_eq!(detached_runs(&home).len(), 2, "{:?}", detached_runs(&home));

    s.node.ok(&["rm", "detpfx", "--force"]);
    assert_eq!(detached_runs(&home).len(), 1, "{:?}", detached_runs(&home));
    let agent = &s.node.workspace("detpfx_bar")["agents"][0];
    assert!(is_running(&agent["status"]["state"]), "{agent}");
    s.node.ok(&["send", "detpfx_bar", "echo alive-detached"]);
    s.node.wait_logs("detpfx_bar", "alive-detached");
    s.node.ok(&["rm", "detpfx_bar", "--force"]);
    assert!(
        detached_runs(&home).is_empty(),
        "{:?}",
        detached_runs(&home)
    );
}

#[test]
fn an_agent_started_on_a_host_under_its_old_session_name_is_reattached_and_stopped() {
    let (s, home) = isolated_host();
    s.node.ok(&[
        "new",
        "upg_old",
        "--on",
        "ssh:box",
        "--agent",
        "test",
        "--prompt",
        "echo before-upgrade",
    ]);
    s.node.wait_logs("upg_old", "before-upgrade");
    assert_eq!(host_sessions(&home), ["roam-upg_5Fold+test"]);
    // The node goes down for the upgrade; the agent runs on in the session a
    // release before encoded names made.
    s.node.ok(&["down"]);
    let renamed = std::process::Command::new("tmux")
        .env("TMUX_TMPDIR", home.path().join("tmux"))
        .args([
            "rename-session",
            "-t",
            "=roam-upg_5Fold+test",
            "roam_upg_old_test",
        ])
        .status()
        .unwrap();
    assert!(renamed.success());
    s.node.ok(&["up"]);
    // The same process, remembering what it was told before: not a
    // second copy started beside it.
    s.node.ok(&["send", "upg_old", "echo after-upgrade"]);
    s.node.ok(&["send", "upg_old", "recall"]);
    s.node.wait_logs(
        "upg_old",
        "history: echo before-upgrade | echo after-upgrade",
    );
    assert_eq!(
        host_sessions(&home),
        ["roam_upg_old_test"],
        "no second copy"
    );

    s.node.ok(&["stop", "upg_old"]);
    wait_until("the old session ended", || host_sessions(&home).is_empty());
    s.node.ok(&["rm", "upg_old", "--force"]);
}

#[test]
fn an_agent_detached_on_a_host_under_its_old_session_name_is_reattached_and_stopped() {
    let (s, home, _fake) = isolated_host_without_tmux();
    s.node.ok(&[
        "new",
        "upg_det",
        "--on",
        "ssh:box",
        "--agent",
        "test",
        "--prompt",
        "echo before-upgrade",
    ]);
    s.node.wait_logs("upg_det", "before-upgrade");
    assert_eq!(detached_runs(&home), ["roam-upg_5Fdet+test"]);
    s.node.ok(&["down"]);
    let run = home.path().join(".roam/run");
    std::fs::rename(
        run.join("roam-upg_5Fdet+test"),
        run.join("roam_upg_det_test"),
    )
    .unwrap();
    s.node.ok(&["up"]);
    // The same process, remembering what it was told before: not a
    // second copy started beside it.
    s.node.ok(&["send", "upg_det", "echo after-upgrade"]);
    s.node.ok(&["send", "upg_det", "recall"]);
    s.node.wait_logs(
        "upg_det",
        "history: echo before-upgrade | echo after-upgrade",
    );
    assert_eq!(
        detached_runs(&home),
        ["roam_upg_det_test"],
        "no second copy"
    );

    s.node.ok(&["stop", "upg_det"]);
    wait_until("the old detached agent ended", || {
        detached_runs(&home).is_empty()
    });
    s.node.ok(&["rm", "upg_det", "--force"]);
}
