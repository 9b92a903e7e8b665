//! Agents outlive the node: each runs in a holder (`roam-holder`) that a
//! node killed, stopped with `--keep-agents` or upgraded leaves running,
//! and that the next node adopts — the same process, every line of its
//! output, keys reaching it — or ends, saying why, when it must not run.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::harness::{TestNode, pair, wait_until};
use crate::ownership::{node_log, own_at_epoch, processes_in};

fn agent_pid(node: &TestNode, ws: &str) -> i32 {
    let ws = node.workspace(ws);
    ws["agents"][0]["pid"]
        .as_i64()
        .unwrap_or_else(|| panic!("no pid in {ws}")) as i32
}

/// Whether `pid` runs (a zombie does not).
fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rsplit(')')
            .next()
            .is_some_and(|r| !r.trim_start().starts_with('Z'))
    })
}

fn parent(pid: i32) -> i32 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = stat.rsplit(')').next().unwrap();
    after.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn kill9(pid: i32) {
    let ok = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -9 {pid}");
}

fn kill9_node(node: &TestNode) {
    kill9(node.pid());
    wait_until("the node to be gone", || {
        !node.roam(&["node", "status"]).status.success()
    });
}

fn lines(logs: &str) -> Vec<String> {
    logs.split('\n')
        .map(|l| l.trim_end_matches('\r').to_string())
        .collect()
}

/// Whether the agent's answer to `echo WORD` is in the logs (not the
/// terminal's echo of the typed line).
fn answered(node: &TestNode, ws: &str, word: &str) -> bool {
    lines(&node.logs(ws))
        .iter()
        .any(|l| l.ends_with(word) && !l.contains("echo"))
}

fn sockets(node: &TestNode) -> Vec<String> {
    std::fs::read_dir(node.home.join("run/holders"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// The `roam` and `roam-holder` binaries copied elsewhere, standing for
/// the install of the release before.
fn installed_elsewhere(node: &TestNode) -> std::path::PathBuf {
    let dir = node.dir.path().join("previous-release");
    std::fs::create_dir_all(&dir).unwrap();
    let built = Path::new(crate::harness::ROAM).parent().unwrap();
    for bin in ["roam", "roam-holder"] {
        std::fs::copy(built.join(bin), dir.join(bin)).unwrap();
    }
    dir.join("roam")
}

#[test]
fn an_agent_outlives_a_kill_9_of_its_node_with_every_line_kept_and_keys_reaching_it() {
    let node = TestNode::new();
    // The first node runs from another install: the next one, from this
    // build, adopts what it left (the protocol is the contract).
    let previous = installed_elsewhere(&node);
    let up = node.command_of(&previous, &["up"]).output().unwrap();
    assert!(up.status.success(), "{}", crate::harness::stderr(&up));
    node.ok(&[
        "new",
        "count",
        "--agent",
        "test",
        "--prompt",
        "drip 100 100 count",
    ]);
    node.wait_logs("count", "count 5/100");
    let pid = agent_pid(&node, "count");
    let holder = parent(pid);
    assert_ne!(holder, node.pid(), "the agent's parent is its holder");

    kill9_node(&node);
    // The scenario: the agent goes on printing with no node for 3 s.
    let since = Instant::now();
    wait_until("3 s with no node, the agent running all along", || {
        assert!(
            alive(pid) && alive(holder),
            "the agent runs on without a node"
        );
        since.elapsed() >= Duration::from_secs(3)
    });
    node.ok(&["up"]);

    assert_eq!(agent_pid(&node, "count"), pid, "the same process, adopted");
    node.wait_logs("count", "count 100/100");
    let logs = node.logs("count");
    let got = lines(&logs);
    for i in 1..=100 {
        let line = format!("count {i}/100");
        let n = got.iter().filter(|l| **l == line).count();
        assert_eq!(n, 1, "{line:?} is in the scrollback {n} times:\n{logs}");
    }
    assert!(!logs.contains("resumed"), "nothing was restarted:\n{logs}");

    node.ok(&["send", "count", "echo heard-after-adoption"]);
    wait_until("the adopted agent to answer a key typed now", || {
        answered(&node, "count", "heard-after-adoption")
    });
    assert_eq!(agent_pid(&node, "count"), pid);
}

#[test]
fn down_keep_agents_leaves_them_for_the_next_node_and_down_ends_them_and_the_socket_is_private() {
    let node = TestNode::started();
    node.ok(&["new", "keep", "--agent", "test", "--prompt", "echo started"]);
    node.wait_logs("keep", "started");
    let pid = agent_pid(&node, "keep");
    let holder = parent(pid);

    // Only the owner gets in: the socket is 0600 in a 0700 directory.
    use std::os::unix::fs::PermissionsExt;
    let dir = node.home.join("run/holders");
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    let socket = sockets(&node);
    assert_eq!(socket.len(), 1, "{socket:?}");
    assert_eq!(mode(&dir.join(&socket[0])), 0o600);

    let out = node.ok(&["down", "--keep-agents"]);
    assert!(out.contains("node stopped"), "{out}");
    assert!(
        alive(pid) && alive(holder),
        "--keep-agents leaves the agent running"
    );
    node.ok(&["up"]);
    assert_eq!(agent_pid(&node, "keep"), pid, "adopted, not restarted");
    node.ok(&["send", "keep", "echo still-the-same"]);
    node.wait_logs("keep", "still-the-same");

    node.ok(&["down"]);
    assert!(!alive(pid), "roam down ends the agent");
    wait_until("its holder to go", || !alive(holder));
    assert!(sockets(&node).is_empty(), "{:?}", sockets(&node));
    node.ok(&["up"]);
    node.wait_logs("keep", "node restarted; agent resumed");
    assert_ne!(agent_pid(&node, "keep"), pid);
}

/// A node refuses a holder of another protocol by name, ends it and its
/// agent, and resumes the agent in a holder of its own: never an orphan.
#[test]
fn a_holder_of_another_protocol_is_refused_by_name_ended_and_its_agent_resumed() {
    let node = TestNode::new();
    let up = node
        .command(&["up"])
        .env(roam_holder::wire::TEST_VERSION, "99")
        .output()
        .unwrap();
    assert!(up.status.success(), "{}", crate::harness::stderr(&up));
    node.ok(&[
        "new",
        "old",
        "--agent",
        "test",
        "--prompt",
        "write o.txt one; commit o",
    ]);
    node.wait_logs("old", "committed");
    wait_until("session found", || {
        node.workspace("old")["agents"][0]["session"].is_string()
    });
    let pid = agent_pid(&node, "old");
    let holder = parent(pid);
    kill9_node(&node);

    node.ok(&["up"]);
    node.wait_logs(
        "old",
        &format!(
            "speaks protocol 99 and this roam speaks {}",
            roam_holder::wire::VERSION
        ),
    );
    node.wait_logs("old", "resumed session");
    assert!(!alive(pid), "the old holder's agent was ended");
    assert!(!alive(holder), "the old holder was ended");
    let new = agent_pid(&node, "old");
    assert_ne!(new, pid);
    assert!(
        alive(parent(new)),
        "the agent runs in a holder of this node's"
    );
    assert_eq!(sockets(&node).len(), 1, "{:?}", sockets(&node));
    assert!(node_log(&node).contains("cannot adopt the agent's holder"));
}

#[test]
fn a_holder_killed_on_its_own_restarts_its_agent_with_its_resume_command_and_says_so() {
    let node = TestNode::started();
    node.ok(&[
        "new",
        "lost",
        "--agent",
        "test",
        "--prompt",
        "write l.txt one; commit l",
    ]);
    node.wait_logs("lost", "committed");
    wait_until("session found", || {
        node.workspace("lost")["agents"][0]["session"].is_string()
    });
    let pid = agent_pid(&node, "lost");
    kill9(parent(pid));
    node.wait_logs("lost", "[roam] the agent's holder ended unexpectedly");
    node.wait_logs("lost", "resumed session");
    wait_until("the old agent to be gone", || !alive(pid));
    let new = agent_pid(&node, "lost");
    assert_ne!(new, pid);
    node.ok(&["send", "lost", "recall"]);
    node.wait_logs("lost", "history: write l.txt one; commit l");
}

/// The store lost (wiped by hand): the holders it recorded are nobody's,
/// and the next node ends them instead of leaving agents no one can see.
#[test]
fn a_holder_with_no_record_in_the_store_is_ended_at_start() {
    let node = TestNode::started();
    node.ok(&["new", "stray", "--agent", "test", "--prompt", "echo here"]);
    node.wait_logs("stray", "here");
    let pid = agent_pid(&node, "stray");
    let holder = parent(pid);
    kill9_node(&node);
    std::fs::remove_dir_all(node.home.join("store")).unwrap();

    node.ok(&["up"]);
    assert!(
        !alive(pid) && !alive(holder),
        "the stray holder and agent were ended"
    );
    assert!(sockets(&node).is_empty(), "{:?}", sockets(&node));
    assert!(
        node_log(&node).contains("ending an agent's holder with no record in the store"),
        "the node log says why"
    );
}

#[test]
fn an_agent_that_exits_while_no_node_runs_keeps_its_exit_code_for_the_next() {
    let node = TestNode::started();
    node.ok(&[
        "new",
        "done",
        "--agent",
        "test",
        "--prompt",
        "drip 10 100 d; exit 7",
    ]);
    node.wait_logs("done", "d 2/10");
    let pid = agent_pid(&node, "done");
    let holder = parent(pid);
    kill9_node(&node);
    wait_until("the agent to end with no node", || !alive(pid));
    assert!(alive(holder), "the holder keeps the exit code");

    node.ok(&["up"]);
    wait_until("the agent shown exited", || {
        node.agent_state("done", 0) == "exited"
    });
    assert_eq!(node.workspace("done")["agents"][0]["status"]["code"], 7);
    assert!(
        node.logs("done").contains("d 10/10"),
        "the output before the exit is kept"
    );
    wait_until("the holder to go once read", || !alive(holder));
    assert!(sockets(&node).is_empty(), "{:?}", sockets(&node));
}

/// A node that died holding a workspace another node took over meanwhile:
/// its holder is ended before anything runs, so one agent never runs on
/// two machines.
#[test]
fn a_holder_of_a_workspace_another_node_took_over_is_ended_at_start() {
    let a = TestNode::start(TestNode::named("alpha").on_fixed_ports());
    let b = TestNode::start(TestNode::named("bravo").on_fixed_ports());
    pair(&a, &b);
    wait_until("both online", || a.online_nodes() == 2);
    a.ok(&[
        "new",
        "moved",
        "--agent",
        "test",
        "--prompt",
        "echo on-alpha",
    ]);
    a.wait_logs("moved", "on-alpha");
    let id = a.workspace("moved")["id"].as_str().unwrap().to_string();
    let pid = agent_pid(&a, "moved");
    let holder = parent(pid);
    kill9_node(&a);

    let bravo = b.peer_id();
    b.ok(&["down"]);
    own_at_epoch(&b, &bravo, "bravo", &id, "moved", 2);
    b.ok(&["up"]);
    a.ok(&["up"]);
    assert!(!alive(pid) && !alive(holder), "alpha's holder was ended");
    assert!(processes_in(&a.worktree("moved")).is_empty());
    assert!(
        node_log(&a).contains("another node owns its workspace now"),
        "alpha's log says why"
    );
}

/// Caught a gap never counted in the node's offset: every acknowledgement
/// after it fell short, so the holder kept the lost stretch's worth of
/// output for good and the next adoption was sent it again.
#[test]
fn output_past_the_holders_ring_is_marked_lost_once_and_never_sent_again() {
    let node = TestNode::new();
    let config = node.home.join("config.toml");
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("scrollback_bytes = 1048576", "scrollback_bytes = 16777216");
    std::fs::write(&config, text).unwrap();
    let node = TestNode::start(node);
    // 6 MB while no node runs: more than the holder's 4 MiB ring.
    node.ok(&[
        "new",
        "flood",
        "--agent",
        "test",
        "--prompt",
        "sleep 1500; spam 60000 100; write flood-done.txt x",
    ]);
    let pid = agent_pid(&node, "flood");
    kill9_node(&node);
    let done = node.worktree("flood").join("flood-done.txt");
    wait_until("the flood to be written with no node", || done.exists());

    node.ok(&["up"]);
    let marker = "bytes of output were lost here while no node was running";
    node.wait_logs("flood", marker);
    node.wait_logs("flood", "line 60000 ");
    assert_eq!(agent_pid(&node, "flood"), pid);
    let logs = node.logs("flood");
    assert!(
        !logs.contains("line 1 x"),
        "the oldest lines were the ones lost"
    );
    assert!(logs.contains("line 59000 "), "the ring's newest lines came");

    // Saved now: a second adoption is sent nothing again and lost nothing.
    let scrollback = node.home.join("scrollback/flood/test.log");
    wait_until("the scrollback to hold the flood", || {
        std::fs::read(&scrollback)
            .is_ok_and(|b| String::from_utf8_lossy(&b).contains("line 60000 "))
    });
    node.ok(&["send", "flood", "echo after-the-flood"]);
    wait_until("the answer", || answered(&node, "flood", "after-the-flood"));
    wait_until("the answer saved", || {
        std::fs::read(&scrollback).is_ok_and(|b| {
            lines(&String::from_utf8_lossy(&b))
                .iter()
                .any(|l| l.ends_with("after-the-flood") && !l.contains("echo"))
        })
    });
    kill9_node(&node);
    node.ok(&["up"]);
    node.ok(&["send", "flood", "echo second-adoption"]);
    wait_until("the answer", || answered(&node, "flood", "second-adoption"));
    let logs = node.logs("flood");
    assert_eq!(logs.matches(marker).count(), 1, "one gap, marked once");
    assert_eq!(logs.matches("line 60000 ").count(), 1, "nothing sent twice");
}

/// What a roam of a newer protocol sends a node for `down --keep-agents`
/// (and systemd's stop): SIGUSR2, which every release understands.
#[test]
fn sigusr2_stops_the_node_and_leaves_its_agents_for_the_next() {
    let node = TestNode::started();
    node.ok(&["new", "sig", "--agent", "test", "--prompt", "echo started"]);
    node.wait_logs("sig", "started");
    let pid = agent_pid(&node, "sig");
    let ok = std::process::Command::new("kill")
        .args(["-USR2", &node.pid().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
    wait_until("the node to stop", || {
        !node.roam(&["node", "status"]).status.success()
    });
    assert!(alive(pid), "the agent runs on");
    node.ok(&["up"]);
    assert_eq!(agent_pid(&node, "sig"), pid);
}
