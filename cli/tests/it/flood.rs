//! An agent writing as fast as it can, with a viewer that has stopped
//! reading: the node's memory stays bounded and it keeps answering.

use std::time::{Duration, Instant};

use crate::harness::{PtyClient, TestNode, stderr, wait_until};

/// How long the agent floods; the issue that found the fault asked for a
/// minute, long enough for an unbounded queue to show.
const FLOOD_FOR: Duration = Duration::from_secs(60);
/// Well above what the node needs (about 60 MiB seen: 25 MiB idle, the
/// screen model, 4 MiB held for the stalled viewer, 1 MiB in flight), below
/// what the unbounded mailbox reached (125 MiB after 20 s, and growing).
const RSS_BOUND_KIB: u64 = 100 * 1024;

/// Caught the PTY reader pushing every read into an unbounded mailbox and
/// the broadcast holding up to 256 MiB per agent for a lagging viewer.
#[test]
fn flooding_agent_with_a_stalled_viewer_keeps_the_node_bounded_and_answering() {
    let node = TestNode::started();
    node.ok(&["new", "flood", "--agent", "shell"]);
    // A big screen makes the screen model slow to scroll, so the agent
    // outruns the node, as a fast agent does on a slow machine.
    let _stalled = PtyClient::spawn_stalled(&node, &["attach", "flood"], 200, 500);
    node.ok(&["send", "flood", "cat /dev/urandom | base64"]);
    wait_until("the flood to start", || {
        node.logs("flood").len() > 64 * 1024
    });

    let started = Instant::now();
    let mut listings = 0;
    let mut peak = 0;
    while started.elapsed() < FLOOD_FOR {
        let out = node.roam(&["ls"]);
        assert!(
            out.status.success(),
            "roam ls failed during the flood: {}",
            stderr(&out)
        );
        listings += 1;
        peak = peak.max(peak_rss_kib(node.pid()));
    }
    let flooded = written_by("base64");
    eprintln!(
        "flood: node peak RSS {:.1} MiB over {}s, {listings} listings answered, {:.0} MiB written by the agent",
        peak as f64 / 1024.0,
        FLOOD_FOR.as_secs(),
        flooded as f64 / (1024.0 * 1024.0)
    );
    assert!(
        flooded > 64 * 1024 * 1024,
        "the agent hardly wrote: {flooded} bytes"
    );
    assert!(
        peak < RSS_BOUND_KIB,
        "node peak RSS {peak} KiB is over the {RSS_BOUND_KIB} KiB bound"
    );
}

/// The input bound (`INPUT_PENDING`): keys for an agent that stopped
/// reading its terminal are dropped past 1 MiB, with one warning, not held
/// by the node without end. Caught the holder dropping keys on its own,
/// unsaid, once agents ran in holders: the room now goes back only when the
/// holder says the keys are written to the terminal.
#[test]
fn typing_into_an_agent_that_stopped_reading_keeps_the_node_bounded() {
    let node = TestNode::started();
    node.ok(&["new", "deaf", "--agent", "shell"]);
    // In the foreground, sleep never reads: the terminal's input queue
    // fills and stays full.
    node.ok(&["send", "deaf", "sleep 600"]);
    let mut viewer = PtyClient::spawn(&node, &["attach", "deaf"], 24, 80);
    viewer.wait_for("sleep 600");
    let before = peak_rss_kib(node.pid());
    // 64 MiB of keys, far past the bound: held, they would show.
    let keys = vec![b'k'; 1 << 20];
    for _ in 0..64 {
        viewer.type_bytes(&keys);
    }
    wait_until("the node to log the dropped input", || {
        node_log(&node).contains("input past the bound is dropped")
    });
    let out = node.roam(&["ls"]);
    assert!(out.status.success(), "roam ls failed: {}", stderr(&out));
    let peak = peak_rss_kib(node.pid());
    eprintln!(
        "deaf agent: node peak RSS {:.1} MiB before the keys, {:.1} MiB after 64 MiB of them",
        before as f64 / 1024.0,
        peak as f64 / 1024.0
    );
    assert!(
        peak < before + 32 * 1024,
        "the node held the keys: {before} KiB before, {peak} KiB after"
    );
}

/// Everything the node logged so far.
fn node_log(node: &TestNode) -> String {
    let mut text = String::new();
    for entry in std::fs::read_dir(node.home.join("logs"))
        .into_iter()
        .flatten()
        .flatten()
    {
        text.push_str(&std::fs::read_to_string(entry.path()).unwrap_or_default());
    }
    text
}

/// Bytes the newest process named `name` has written (only this test runs
/// base64).
fn written_by(name: &str) -> u64 {
    let out = std::process::Command::new("pgrep")
        .args(["-n", "-x", name])
        .output()
        .unwrap();
    let pid = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(!pid.is_empty(), "no {name} process is running");
    let io = std::fs::read_to_string(format!("/proc/{pid}/io")).unwrap();
    io.lines()
        .find_map(|l| l.strip_prefix("wchar:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap()
}

/// The process's high-water mark of resident memory (`VmHWM`).
fn peak_rss_kib(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}
