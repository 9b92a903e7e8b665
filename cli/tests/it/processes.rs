//! An agent's processes: all of them end with it, none outlives a crash of
//! the node into a second copy, and a signal exit reads as a shell says it.

use crate::harness::{TestNode, wait_until};

/// Processes whose command line is exactly `sleep SECONDS`.
fn sleeping(seconds: &str) -> Vec<String> {
    let out = std::process::Command::new("pgrep")
        .args(["-x", "-f", &format!("sleep {seconds}")])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Caught a restarted node starting a fresh agent while the previous run's
/// process (there: vim, here: a shell that ignores the hangup) still worked
/// on the same files. Now the agent runs on in its holder and the next node
/// adopts it: the same processes, and no second copy beside them.
#[test]
fn a_node_killed_and_started_again_leaves_no_second_copy_of_an_agent() {
    let node = TestNode::started();
    node.ok(&["new", "orphan", "--agent", "shell"]);
    // Ignores the hangup a dying node's terminal would send, as vim did.
    node.ok(&["send", "orphan", "trap '' HUP; sleep 864101 & sleep 864102"]);
    wait_until("the agent's processes to run", || {
        sleeping("864101").len() == 1 && sleeping("864102").len() == 1
    });
    let before = (sleeping("864101"), sleeping("864102"));
    let pid = node.pid();
    assert!(
        std::process::Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status()
            .unwrap()
            .success()
    );
    wait_until("the node to be gone", || {
        !node.roam(&["node", "status"]).status.success()
    });

    node.ok(&["up"]);
    assert_eq!(
        (sleeping("864101"), sleeping("864102")),
        before,
        "the same processes run on, and no second copy beside them"
    );
    let state = node.agent_state("orphan", 0);
    assert!(
        state != "exited" && state != "stopped",
        "the agent came back {state}"
    );
    node.ok(&["stop", "orphan"]);
    wait_until("stop to end them all", || {
        sleeping("864101").is_empty() && sleeping("864102").is_empty()
    });
}

/// Caught a stop that signalled only the agent's process group: a shell's
/// background job has a group of its own, and one that ignores SIGHUP ran
/// on after the agent was stopped.
#[test]
fn stopping_an_agent_ends_its_background_jobs_too() {
    let node = TestNode::started();
    node.ok(&["new", "jobs", "--agent", "shell"]);
    node.ok(&["send", "jobs", "(trap '' HUP; exec sleep 864201) &"]);
    wait_until("the background job to run", || {
        sleeping("864201").len() == 1
    });
    node.ok(&["stop", "jobs"]);
    wait_until("the background job to end with its agent", || {
        sleeping("864201").is_empty()
    });
}

/// Caught every signal exit shown as exited(129).
#[test]
fn an_agent_killed_by_a_signal_exits_with_128_plus_the_signal() {
    let node = TestNode::started();
    node.ok(&["new", "sig", "--agent", "shell"]);
    node.ok(&["send", "sig", "kill -KILL $$"]);
    wait_until("the agent to exit", || {
        node.agent_state("sig", 0) == "exited"
    });
    let code = &node.workspace("sig")["agents"][0]["status"]["code"];
    assert_eq!(code, 137, "SIGKILL is 128 + 9");
}
