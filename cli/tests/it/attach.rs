//! `roam attach` from a real PTY: the current screen first, live output,
//! typing, resize, detach, and several viewers at once.

use crate::harness::{PtyClient, TestNode, wait_until};

#[test]
fn attach_shows_the_screen_takes_keys_resizes_and_detaches() {
    let node = TestNode::started();
    node.ok(&[
        "new",
        "tty",
        "--agent",
        "test",
        "--prompt",
        "echo painted-before-attach",
    ]);
    node.wait_logs("tty", "painted-before-attach");

    let mut viewer = PtyClient::spawn(&node, &["attach", "tty"], 30, 100);
    // A late viewer first gets the current screen.
    viewer.wait_for("painted-before-attach");
    viewer.type_bytes(b"echo typed-through-attach\r");
    viewer.wait_for("typed-through-attach\r\n");
    node.wait_logs("tty", "typed-through-attach");

    // The agent's terminal follows the viewer's size, at attach and after.
    viewer.type_bytes(b"size\r");
    viewer.wait_for("size 30x100");
    viewer.resize(40, 120);
    wait_until("the resize to reach the agent", || {
        viewer.type_bytes(b"size\r");
        std::thread::sleep(std::time::Duration::from_millis(100));
        viewer.text().contains("size 40x120")
    });

    viewer.type_bytes(&[0x1d]);
    assert!(viewer.wait_exit(), "detach exits 0");
    viewer.wait_for("[roam] detached from tty");
    // Detaching leaves the agent running.
    node.ok(&["send", "tty", "echo still-alive"]);
    node.wait_logs("tty", "still-alive");
}

#[test]
fn two_viewers_see_the_same_output() {
    let node = TestNode::started();
    node.ok(&["new", "shared", "--agent", "test"]);
    node.wait_logs("shared", "> ");
    let mut first = PtyClient::spawn(&node, &["attach", "shared"], 24, 80);
    let second = PtyClient::spawn(&node, &["attach", "shared:test"], 24, 80);
    first.wait_for("> ");
    second.wait_for("> ");
    first.type_bytes(b"echo seen-by-both\r");
    first.wait_for("seen-by-both\r\n");
    second.wait_for("seen-by-both\r\n");
}

#[test]
fn viewer_sees_the_agent_exit() {
    let node = TestNode::started();
    node.ok(&["new", "ends", "--agent", "test"]);
    node.wait_logs("ends", "> ");
    let mut viewer = PtyClient::spawn(&node, &["attach", "ends"], 24, 80);
    viewer.wait_for("> ");
    viewer.type_bytes(b"exit 5\r");
    assert!(viewer.wait_exit());
    viewer.wait_for("[roam] agent exited with code 5");
}

#[test]
fn logs_follow_streams_new_output_after_the_scrollback() {
    let node = TestNode::started();
    node.ok(&[
        "new",
        "tail",
        "--agent",
        "test",
        "--prompt",
        "echo old-line",
    ]);
    node.wait_logs("tail", "old-line");
    let follower = PtyClient::spawn(&node, &["logs", "tail", "--follow"], 24, 80);
    follower.wait_for("old-line");
    node.ok(&["send", "tail", "echo new-line"]);
    follower.wait_for("new-line");
}

/// Caught `roam attach` reading a frame inside `select!`: a key or a window
/// change winning the race mid-frame dropped half a frame, and every later
/// frame was read from the wrong offset (a "frame too large" error, or a
/// spurious reconnect on an SSH host).
#[test]
fn attach_stays_in_frame_while_typing_and_resizing_during_heavy_output() {
    let node = TestNode::started();
    node.ok(&["new", "storm", "--agent", "test"]);
    node.wait_logs("storm", "> ");
    let mut viewer = PtyClient::spawn(&node, &["attach", "storm"], 30, 100);
    viewer.wait_for("> ");
    viewer.type_bytes(b"spam 300000 100\r");
    let mut turn = 0u32;
    wait_until("the spam to end while keys and resizes race it", || {
        // Keys the agent ignores on an empty line, and window changes.
        for _ in 0..100 {
            turn += 1;
            viewer.type_bytes(b" ");
            let (rows, cols) = if turn.is_multiple_of(2) {
                (30, 100)
            } else {
                (31, 101)
            };
            viewer.resize(rows, cols);
        }
        assert!(
            viewer.running(),
            "attach ended during the storm:\n{}",
            tail(&viewer.text())
        );
        node.logs("storm").contains("line 300000 ")
    });
    viewer.clear();
    viewer.type_bytes(b"\recho after-the-storm\r");
    viewer.wait_for("after-the-storm\r\n");
    viewer.type_bytes(&[0x1d]);
    assert!(viewer.wait_exit(), "detach exits 0");
    viewer.wait_for("[roam] detached from storm");
    let text = viewer.text();
    assert!(!text.contains("lost"), "the stream broke:\n{}", tail(&text));
}

fn tail(text: &str) -> &str {
    let at = text.len().saturating_sub(2000);
    text.get(at..).unwrap_or(text)
}
