//! Three real nodes on loopback, paired with one-time codes through the
//! CLI: every workspace command across nodes, remote attach with viewers on
//! two other nodes, and the refusals that keep strangers out.

use crate::harness::{PtyClient, TestNode, pair, pairing_code, wait_until};

fn three_nodes() -> (TestNode, TestNode, TestNode) {
    let a = TestNode::start(TestNode::named("alpha"));
    let b = TestNode::start(TestNode::named("bravo"));
    let c = TestNode::start(TestNode::named("charlie"));
    pair(&a, &b);
    pair(&a, &c);
    // The roster spreads: bravo learns of charlie through alpha.
    wait_until("bravo sees charlie", || {
        b.ok(&["nodes"]).contains("charlie")
    });
    (a, b, c)
}

#[test]
fn three_paired_nodes_run_every_workspace_command_across_the_mesh() {
    let (a, b, c) = three_nodes();
    for n in [&a, &b, &c] {
        wait_until("all three online", || n.online_nodes() == 3);
    }
    // Made from charlie, on bravo, in bravo's repository.
    let repo = b.repo.to_str().unwrap().to_string();
    let out = c.ok(&[
        "new",
        "remote",
        "--on",
        "bravo",
        "--repo",
        &repo,
        "--agent",
        "test",
        "--prompt",
        "write wip.txt unsaved; echo made-on-bravo",
    ]);
    assert!(out.contains("created workspace remote"), "{out}");
    assert!(b.worktree("remote").exists(), "the worktree is on bravo");
    assert!(!c.worktree("remote").exists());

    // Listed everywhere with bravo's badge (and `local` on bravo itself).
    wait_until("alpha lists it", || {
        a.ls()
            .iter()
            .any(|w| w["name"] == "remote" && w["badge"] == "bravo")
    });
    assert_eq!(b.workspace("remote")["badge"], "local");

    a.wait_logs("remote", "made-on-bravo");
    a.ok(&["send", "remote", "echo sent-from-alpha"]);
    c.wait_logs("remote", "sent-from-alpha");
    let out = a.ok(&[
        "agent",
        "add",
        "remote",
        "--agent",
        "test",
        "--prompt",
        "echo second-on-bravo",
    ]);
    assert!(out.contains("remote:test-2"), "{out}");
    c.wait_logs("remote:test-2", "second-on-bravo");
    wait_until("the session id", || {
        b.workspace("remote")["agents"][0]["session"].is_string()
    });
    c.ok(&["stop", "remote"]);
    wait_until("stopped on bravo", || {
        b.agent_state("remote", 0) == "stopped"
    });
    a.ok(&["start", "remote"]);
    b.wait_logs("remote", "resumed session");
    let err = c.fails(&["rm", "remote"]);
    assert!(
        err.contains("uncommitted"),
        "refusal crosses the mesh: {err}"
    );
    c.ok(&["rm", "remote", "--force"]);
    assert!(!b.worktree("remote").exists());
    for n in [&a, &b, &c] {
        assert!(n.ls().is_empty());
    }
}

#[test]
fn remote_attach_with_a_second_viewer_on_a_third_node() {
    let (a, b, c) = three_nodes();
    a.ok(&[
        "new",
        "shared",
        "--agent",
        "test",
        "--prompt",
        "echo screen-before-attach",
    ]);
    a.wait_logs("shared", "screen-before-attach");
    wait_until("bravo and charlie reach alpha", || {
        b.roam(&["logs", "shared"]).status.success() && c.roam(&["logs", "shared"]).status.success()
    });
    let mut on_b = PtyClient::spawn(&b, &["attach", "shared"], 30, 100);
    let on_c = PtyClient::spawn(&c, &["attach", "shared"], 30, 100);
    on_b.wait_for("screen-before-attach");
    on_c.wait_for("screen-before-attach");
    on_b.type_bytes(b"echo typed-on-bravo\r");
    on_b.wait_for("typed-on-bravo\r\n");
    on_c.wait_for("typed-on-bravo\r\n");
    on_b.type_bytes(b"size\r");
    on_b.wait_for("size 30x100");
    on_b.type_bytes(&[0x1d]);
    assert!(on_b.wait_exit());
    on_b.wait_for("[roam] detached from shared");
    a.ok(&["send", "shared", "echo after-detach"]);
    on_c.wait_for("after-detach");
}

#[test]
fn a_wrong_code_is_refused_and_uses_the_code_up() {
    let a = TestNode::start(TestNode::named("alpha"));
    let b = TestNode::start(TestNode::named("bravo"));
    let (code, addr) = pairing_code(&a);
    let wrong = if code.starts_with('A') {
        "BBBB-BBBB-BBBB"
    } else {
        "AAAA-AAAA-AAAA"
    };
    let err = b.fails(&["join", wrong, &addr]);
    assert!(err.contains("wrong code"), "{err}");
    // One guess per code: the right code no longer works either.
    let err = b.fails(&["join", &code, &addr]);
    assert!(
        err.contains("pair") || err.contains("refused") || err.contains("not on the roster"),
        "{err}"
    );
    assert_eq!(a.online_nodes(), 1);
    assert!(!a.ok(&["nodes"]).contains("bravo"));
}

#[test]
fn a_code_works_once() {
    let a = TestNode::start(TestNode::named("alpha"));
    let b = TestNode::start(TestNode::named("bravo"));
    let c = TestNode::start(TestNode::named("charlie"));
    let (code, addr) = pairing_code(&a);
    b.ok(&["join", &code, &addr]);
    c.fails(&["join", &code, &addr]);
    assert!(!a.ok(&["nodes"]).contains("charlie"));
}

#[test]
fn an_expired_code_is_refused() {
    let a = TestNode::named("alpha");
    let config = std::fs::read_to_string(a.home.join("config.toml")).unwrap();
    std::fs::write(
        a.home.join("config.toml"),
        config.replace("pairing_window_secs = 20", "pairing_window_secs = 1"),
    )
    .unwrap();
    let a = TestNode::start(a);
    let b = TestNode::start(TestNode::named("bravo"));
    let (code, addr) = pairing_code(&a);
    let expired = std::time::Instant::now() + std::time::Duration::from_millis(1500);
    wait_until("the code to expire", || std::time::Instant::now() > expired);
    b.fails(&["join", &code, &addr]);
    assert!(!a.ok(&["nodes"]).contains("bravo"));
}

#[test]
fn an_unpaired_node_cannot_connect_or_ask_anything() {
    let a = TestNode::start(TestNode::named("alpha"));
    let stranger = TestNode::start(TestNode::named("stranger"));
    let (_, addr) = pairing_code(&a);
    // Without a pairing window open on alpha's side it would be refused at
    // once; with one open, the stranger's own gate refuses to keep a link
    // to an unknown peer outside a join. Either way: no connection.
    a.ok(&["new", "secret", "--agent", "test"]);
    let out = stranger.roam(&["mesh", "dial", &addr]);
    assert!(!out.status.success(), "dial must fail");
    assert!(stranger.ls().is_empty());
    assert!(
        stranger
            .fails(&["logs", "secret"])
            .contains("no workspace named 'secret'")
    );
}

#[test]
fn an_unpaired_node_is_removed_everywhere_and_cannot_reconnect() {
    let (a, b, c) = three_nodes();
    a.ok(&["new", "kept", "--agent", "test"]);
    wait_until("charlie sees alpha's workspace", || {
        c.ls().iter().any(|w| w["name"] == "kept")
    });
    let out = a.ok(&["unpair", "charlie"]);
    assert!(out.contains("removed node charlie"), "{out}");
    wait_until("bravo forgets charlie", || {
        !b.ok(&["nodes"]).contains("charlie")
    });
    // Charlie's requests no longer reach alpha.
    wait_until("charlie cut off", || {
        !c.ls()
            .iter()
            .any(|w| w["name"] == "kept" && w["problem"].is_null())
    });
    let err = c.fails(&["send", "kept", "hello"]);
    assert!(err.contains("kept"), "{err}");
}

#[test]
fn a_workspace_on_an_offline_node_names_the_node() {
    let a = TestNode::start(TestNode::named("alpha"));
    let b = TestNode::start(TestNode::named("bravo"));
    pair(&a, &b);
    b.ok(&["new", "away", "--agent", "test"]);
    wait_until("alpha lists it", || {
        a.ls().iter().any(|w| w["name"] == "away")
    });
    b.ok(&["down"]);
    let listed = a.ls();
    let away = listed
        .iter()
        .find(|w| w["name"] == "away")
        .expect("still listed, not hidden");
    assert!(
        away["problem"].as_str().unwrap().contains("bravo"),
        "{away}"
    );
    let err = a.fails(&["send", "away", "hi"]);
    assert!(
        err.contains("bravo") && err.contains("unreachable"),
        "{err}"
    );
}

#[test]
fn two_nodes_cannot_share_a_name() {
    let a = TestNode::start(TestNode::named("alpha"));
    let twin = TestNode::start(TestNode::named("alpha"));
    let (code, addr) = pairing_code(&a);
    let err = twin.fails(&["join", &code, &addr]);
    assert!(err.contains("already in the mesh"), "{err}");
}

#[test]
fn remote_attach_survives_the_owner_restarting_and_loses_no_keys() {
    let a = TestNode::start(TestNode::named("alpha"));
    let b = TestNode::start(TestNode::named("bravo"));
    pair(&a, &b);
    a.ok(&[
        "new",
        "steady",
        "--agent",
        "test",
        "--prompt",
        "echo before-restart",
    ]);
    a.wait_logs("steady", "before-restart");
    wait_until("the session id", || {
        a.workspace("steady")["agents"][0]["session"].is_string()
    });
    wait_until("bravo reaches alpha", || {
        b.roam(&["logs", "steady"]).status.success()
    });
    let mut viewer = PtyClient::spawn(&b, &["attach", "steady"], 30, 100);
    viewer.wait_for("before-restart");

    a.ok(&["down"]);
    viewer.wait_for("lost the connection to steady");
    // Typed while the owner is away: held by bravo, delivered once.
    viewer.type_bytes(b"append keys.txt typed-while-away\r");
    a.ok(&["up"]);
    let keys = a.worktree("steady").join("keys.txt");
    wait_until("the key to arrive", || {
        std::fs::read_to_string(&keys).is_ok_and(|s| s.contains("typed-while-away"))
    });
    viewer.type_bytes(b"echo after-reconnect\r");
    viewer.wait_for("after-reconnect\r\n");
    assert_eq!(
        std::fs::read_to_string(&keys).unwrap(),
        "typed-while-away\n",
        "exactly once"
    );
    viewer.type_bytes(&[0x1d]);
    assert!(viewer.wait_exit());
}

/// Caught `roam ls` waiting out a 10 s timeout for a member that was
/// `kill -9`ed (its connection still looked open): the member is known gone
/// once it answers no ping, and its last listing is shown marked so.
#[test]
fn a_member_killed_with_kill_9_is_listed_unreachable_once_it_answers_no_ping() {
    let a = TestNode::start(TestNode::named("alpha"));
    let b = TestNode::start(TestNode::named("bravo"));
    pair(&a, &b);
    b.ok(&["new", "killed", "--agent", "test"]);
    wait_until("alpha lists it", || {
        a.ls().iter().any(|w| w["name"] == "killed")
    });
    let pid = b.pid().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-9", &pid])
            .status()
            .unwrap()
            .success()
    );
    let listed = a.ls();
    let killed = listed
        .iter()
        .find(|w| w["name"] == "killed")
        .expect("still listed, not hidden");
    let problem = killed["problem"].as_str().unwrap();
    assert!(problem.contains("bravo"), "{killed}");
    assert!(
        problem.contains("answered no ping") || problem.contains("not connected"),
        "the member was not found gone by its silence: {problem}"
    );
}
