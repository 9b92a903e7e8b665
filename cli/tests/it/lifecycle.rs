//! A workspace's life on one node: new, status, send, logs, more agents,
//! stop/start, rm (refused, then forced with a snapshot ref).

use crate::harness::{PtyClient, TestNode, git, wait_until};

#[test]
fn agent_commits_in_its_own_worktree_and_ls_shows_it() {
    let node = TestNode::started();
    let out = node.ok(&[
        "new",
        "feat",
        "--agent",
        "test",
        "--prompt",
        "write src/x.txt hello; commit add x",
    ]);
    assert!(
        out.contains("created workspace feat on branch roam/feat"),
        "{out}"
    );
    node.wait_logs("feat", "committed");
    wait_until("the agent to wait for input", || {
        node.agent_state("feat", 0) == "waiting_for_input"
    });
    let ws = node.workspace("feat");
    assert_eq!(ws["badge"], "local");
    assert_eq!(ws["branch"], "roam/feat");
    assert_eq!(ws["base"], "main");
    assert_eq!(ws["ahead"], 1);
    assert_eq!(ws["dirty_files"], 0);
    wait_until("the agent's session id", || {
        node.workspace("feat")["agents"][0]["session"].is_string()
    });
    // The user's checkout is untouched; the work is on the branch.
    assert!(!node.repo.join("src/x.txt").exists());
    assert_eq!(git(&node.repo, &["show", "roam/feat:src/x.txt"]), "hello\n");
    let table = node.ok(&["ls"]);
    assert!(
        table.contains("feat") && table.contains("+1/-0 main") && table.contains("test: waiting"),
        "{table}"
    );
}

#[test]
fn send_types_into_the_agent_and_logs_show_it() {
    let node = TestNode::started();
    node.ok(&["new", "talk", "--agent", "test"]);
    node.wait_logs("talk", "> ");
    node.ok(&["send", "talk", "write notes.txt from send"]);
    node.wait_logs("talk", "wrote notes.txt");
    wait_until("a dirty file", || {
        node.workspace("talk")["dirty_files"] == 1
    });
    node.ok(&["send", "talk:test", "recall"]);
    node.wait_logs("talk:test", "history: write notes.txt from send");
}

#[test]
fn several_agents_per_workspace_each_with_its_own_terminal() {
    let node = TestNode::started();
    node.ok(&[
        "new",
        "multi",
        "--agent",
        "test",
        "--prompt",
        "echo first-agent",
    ]);
    let out = node.ok(&[
        "agent",
        "add",
        "multi",
        "--agent",
        "test",
        "--prompt",
        "echo second-agent",
    ]);
    assert!(out.contains("multi:test-2"), "{out}");
    node.wait_logs("multi:test-2", "second-agent");
    assert!(!node.logs("multi:test").contains("second-agent"));
    assert_eq!(
        node.workspace("multi")["agents"].as_array().unwrap().len(),
        2
    );
}

#[test]
fn agent_exit_code_is_shown_and_not_restarted() {
    let node = TestNode::started();
    node.ok(&["new", "quits", "--agent", "test", "--prompt", "exit 3"]);
    wait_until("exited(3)", || {
        let ws = node.workspace("quits");
        ws["agents"][0]["status"]["state"] == "exited" && ws["agents"][0]["status"]["code"] == 3
    });
    assert!(node.ok(&["ls"]).contains("exited(3)"));
}

#[test]
fn stop_ends_agents_and_start_resumes_the_conversation() {
    let node = TestNode::started();
    node.ok(&[
        "new",
        "pause",
        "--agent",
        "test",
        "--prompt",
        "echo before-stop",
    ]);
    wait_until("session found", || {
        node.workspace("pause")["agents"][0]["session"].is_string()
    });
    node.ok(&["stop", "pause"]);
    wait_until("stopped", || node.agent_state("pause", 0) == "stopped");
    assert!(node.workspace("pause")["stopped"].as_bool().unwrap());
    let err = node.fails(&["send", "pause", "hello"]);
    assert!(
        err.contains("not running") && err.contains("roam start pause"),
        "{err}"
    );
    node.ok(&["start", "pause"]);
    node.wait_logs("pause", "resumed session");
    node.ok(&["send", "pause", "recall"]);
    node.wait_logs("pause", "history: echo before-stop");
}

#[test]
fn rm_refuses_unsaved_work_and_force_keeps_a_snapshot_ref() {
    let node = TestNode::started();
    node.ok(&[
        "new",
        "wip",
        "--agent",
        "test",
        "--prompt",
        "write a.txt committed; commit a; write b.txt uncommitted",
    ]);
    node.wait_logs("wip", "wrote b.txt");
    let err = node.fails(&["rm", "wip"]);
    assert!(
        err.contains("uncommitted") && err.contains("--force"),
        "{err}"
    );
    assert!(
        node.worktree("wip").join("b.txt").exists(),
        "refusal kept the work"
    );

    let out = node.ok(&["rm", "wip", "--force"]);
    let snapshot = out.split_whitespace().last().unwrap().to_string();
    assert!(snapshot.starts_with("refs/roam/snapshots/wip/"), "{out}");
    assert!(!node.worktree("wip").exists());
    assert!(!node.branches().contains("roam/wip"));
    // Both the commit and the uncommitted file are recoverable.
    assert_eq!(
        git(&node.repo, &["show", &format!("{snapshot}:b.txt")]),
        "uncommitted\n"
    );
    assert_eq!(
        git(&node.repo, &["show", &format!("{snapshot}:a.txt")]),
        "committed\n"
    );
    // In gitsync's capture layout, as on every site.
    let snap = roam_gitsync::Snapshot::load(&node.repo, &snapshot).unwrap();
    assert_eq!(snap.branch.as_deref(), Some("refs/heads/roam/wip"));
    assert!(node.ls().is_empty());
}

#[test]
fn rm_of_clean_merged_workspace_needs_no_force() {
    let node = TestNode::started();
    node.ok(&["new", "clean", "--agent", "test"]);
    node.wait_logs("clean", "> ");
    let out = node.ok(&["rm", "clean"]);
    assert_eq!(out.trim(), "removed workspace clean");
    assert!(!node.branches().contains("roam/clean"));
}

#[test]
fn a_typed_prompt_waits_out_a_question_the_agent_asks_first() {
    let node = TestNode::started();
    node.ok(&[
        "new",
        "ask",
        "--agent",
        "asker",
        "--prompt",
        "write asked.txt after-the-answer; commit asked",
    ]);
    node.wait_logs("ask", "(Y)es/(N)o [Yes]: ");
    wait_until("the question to show as waiting", || {
        node.agent_state("ask", 0) == "waiting_for_input"
    });
    // Typed at once, the prompt would have been taken as the answer.
    let logs = node.logs("ask");
    assert!(!logs.contains("Please answer"), "{logs}");
    assert!(!node.worktree("ask").join("asked.txt").exists());

    node.ok(&["send", "ask", "y"]);
    node.wait_logs("ask", "committed");
    let worktree = node.worktree("ask");
    assert_eq!(
        std::fs::read_to_string(worktree.join("asked.txt")).unwrap(),
        "after-the-answer\n"
    );
    assert_eq!(
        std::fs::read_to_string(worktree.join(".gitignore")).unwrap(),
        ".roam-test-agent*\n"
    );
    let logs = node.logs("ask");
    assert!(!logs.contains("Please answer"), "{logs}");
}

#[test]
fn a_cursor_position_query_is_answered_once_by_the_node_and_kept_from_viewers() {
    let node = TestNode::started();
    node.ok(&["new", "cpr", "--agent", "asker"]);
    // Answered with nobody attached: the banner was line 1, so row 2.
    node.wait_logs("cpr", "cursor at row 2 col 1");
    let logs = node.logs("cpr");
    assert!(!logs.contains("doesn't support cursor position"), "{logs}");
    // Neither `roam logs` nor a viewer gets the query to answer again.
    assert!(!logs.contains("\x1b[6n"), "{logs:?}");
    node.ok(&["send", "cpr", "n"]);
    node.wait_logs("cpr", "> ");
    let viewer = PtyClient::spawn(&node, &["attach", "cpr"], 24, 80);
    viewer.wait_for("> ");
    node.ok(&["send", "cpr", "cursor"]);
    wait_until("the answer with a viewer attached", || {
        node.logs("cpr").matches("cursor at row").count() == 2
    });
    let shown = viewer.output.lock().unwrap().clone();
    assert!(!shown.windows(4).any(|w| w == b"\x1b[6n"), "{shown:?}");
    let logs = node.logs("cpr");
    assert!(!logs.contains("doesn't support cursor position"), "{logs}");
}

#[test]
fn files_the_agent_owns_are_not_uncommitted_work() {
    let node = TestNode::started();
    node.ok(&["new", "own", "--agent", "asker"]);
    node.wait_logs("own", "(Y)es/(N)o");
    node.ok(&["send", "own", "n"]);
    node.wait_logs("own", "> ");
    node.ok(&["send", "own", "think about the design"]);
    node.wait_logs("own", "done");
    assert!(
        node.worktree("own")
            .join(".roam-test-agent/notes.md")
            .exists()
    );
    wait_until("a status read after the notes", || {
        node.workspace("own")["dirty_files"] == 0
    });
    // Listed for git, in no committed file: the branch has nothing new.
    let exclude = std::fs::read_to_string(node.repo.join(".git/info/exclude")).unwrap();
    assert!(
        exclude.lines().any(|l| l == ".roam-test-agent/"),
        "{exclude}"
    );
    assert!(!node.worktree("own").join(".gitignore").exists());
    // A file of the agent's work still counts, and only it.
    node.ok(&["send", "own", "write mine.txt the-users"]);
    node.wait_logs("own", "wrote mine.txt");
    wait_until("the work file counted alone", || {
        node.workspace("own")["dirty_files"] == 1
    });
}
