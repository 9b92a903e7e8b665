//! Bad input: one clear line, a non-zero exit, and nothing made half-way.

use crate::harness::{TestNode, git, wait_until};

/// Asserts that a failed `roam new` left no workspace, branch or worktree.
fn nothing_created(node: &TestNode, name: &str) {
    assert!(node.ls().is_empty(), "no workspace listed");
    assert!(
        !node.branches().contains("roam/"),
        "no branch: {}",
        node.branches()
    );
    let worktrees = node.home.join("worktrees");
    let made: Vec<_> = std::fs::read_dir(&worktrees).unwrap().collect();
    assert!(made.is_empty(), "no worktree dir for '{name}': {made:?}");
    assert!(
        !node.home.join(name).exists() || name.is_empty(),
        "nothing outside the worktrees dir"
    );
    assert_eq!(git(&node.repo, &["worktree", "list"]).lines().count(), 1);
}

#[test]
fn invalid_workspace_names_are_refused() {
    let node = TestNode::started();
    let long = "x".repeat(65);
    for bad in [
        "../x",
        "a b",
        "x.lock",
        "",
        long.as_str(),
        "-x",
        ".hidden",
        "a/b",
    ] {
        let err = node.fails(&["new", "--agent", "test", "--", bad]);
        assert!(err.contains("invalid workspace name"), "{bad}: {err}");
        nothing_created(&node, bad);
    }
}

#[test]
fn a_path_that_is_not_a_git_repo_is_refused() {
    let node = TestNode::started();
    let not_repo = node.dir.path().join("plain");
    std::fs::create_dir_all(&not_repo).unwrap();
    let err = node.fails(&[
        "new",
        "x",
        "--agent",
        "test",
        "--repo",
        not_repo.to_str().unwrap(),
    ]);
    assert!(err.contains("not a git repository"), "{err}");
    let err = node.fails(&["new", "x", "--agent", "test", "--repo", "/no/such/dir"]);
    assert!(err.contains("not a git repository"), "{err}");
    nothing_created(&node, "x");
}

#[test]
fn a_base_ref_that_does_not_exist_is_refused() {
    let node = TestNode::started();
    let err = node.fails(&["new", "x", "--agent", "test", "--base", "no-such-branch"]);
    assert!(
        err.contains("no-such-branch") && err.contains("does not exist"),
        "{err}"
    );
    nothing_created(&node, "x");
}

#[test]
fn an_unknown_profile_is_refused_naming_the_known_ones() {
    let node = TestNode::started();
    let err = node.fails(&["new", "x", "--agent", "nonesuch"]);
    assert!(
        err.contains("unknown agent profile 'nonesuch'") && err.contains("test"),
        "{err}"
    );
    nothing_created(&node, "x");
}

#[test]
fn an_agent_binary_missing_from_path_is_refused() {
    let node = TestNode::started();
    let err = node.fails(&["new", "x", "--agent", "missing"]);
    assert!(
        err.contains("roam-no-such-agent-binary") && err.contains("not in PATH"),
        "{err}"
    );
    nothing_created(&node, "x");
    node.ok(&["new", "y", "--agent", "test"]);
    let err = node.fails(&["agent", "add", "y", "--agent", "missing"]);
    assert!(err.contains("not in PATH"), "{err}");
    assert_eq!(node.workspace("y")["agents"].as_array().unwrap().len(), 1);
}

#[test]
fn a_name_already_in_use_is_refused_and_the_first_is_untouched() {
    let node = TestNode::started();
    node.ok(&[
        "new",
        "dup",
        "--agent",
        "test",
        "--prompt",
        "write keep.txt mine",
    ]);
    node.wait_logs("dup", "wrote keep.txt");
    let err = node.fails(&["new", "dup", "--agent", "test"]);
    assert!(err.contains("already exists"), "{err}");
    assert!(node.worktree("dup").join("keep.txt").exists());
    assert_eq!(node.ls().len(), 1);
}

#[test]
fn a_leftover_branch_of_the_same_name_is_refused() {
    let node = TestNode::started();
    git(&node.repo, &["branch", "roam/taken"]);
    let err = node.fails(&["new", "taken", "--agent", "test"]);
    assert!(
        err.contains("roam/taken") && err.contains("already exists"),
        "{err}"
    );
    assert!(node.ls().is_empty());
}

#[test]
fn no_node_with_autostart_off_says_how_to_start_one() {
    let node = TestNode::new();
    let err = node.fails(&["ls"]);
    assert!(
        err.contains("no node is running") && err.contains("roam up"),
        "{err}"
    );
    assert!(!node.home.join("roam.sock").exists());
}

#[test]
fn a_data_dir_that_is_not_writable_is_refused() {
    let node = TestNode::new();
    // A data dir below a regular file can never be created, even by root.
    let file = node.dir.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let bad_home = file.join("roam");
    for args in [&["up"][..], &["node", "run"][..]] {
        let out = node
            .command(args)
            .env("ROAM_HOME", &bad_home)
            .output()
            .unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("not writable") && err.contains(bad_home.to_str().unwrap()),
            "{err}"
        );
    }
}

#[test]
fn unknown_workspace_and_agent_are_named_in_the_error() {
    let node = TestNode::started();
    let err = node.fails(&["attach", "ghost"]);
    assert!(err.contains("no workspace named 'ghost'"), "{err}");
    node.ok(&["new", "real", "--agent", "test"]);
    let err = node.fails(&["send", "real:ghost", "hi"]);
    assert!(
        err.contains("no agent 'ghost'") && err.contains("test"),
        "{err}"
    );
}

#[test]
fn malformed_and_oversized_frames_get_an_error_and_the_node_stays_up() {
    use std::io::{Read, Write};
    let node = TestNode::started();
    node.ok(&["new", "safe", "--agent", "test"]);
    let socket = node.home.join("roam.sock");
    let attempts: [&[u8]; 3] = [
        // A well-sized frame of garbage.
        &[0, 0, 0, 4, 0xde, 0xad, 0xbe, 0xef],
        // A length far over the bound.
        &[0xff, 0xff, 0xff, 0xff, 1, 2, 3],
        // A frame cut short.
        &[0, 0, 0, 100, 1, 2],
    ];
    for bytes in attempts {
        let mut conn = std::os::unix::net::UnixStream::connect(&socket).unwrap();
        conn.write_all(bytes).unwrap();
        conn.shutdown(std::net::Shutdown::Write).unwrap();
        let mut answer = Vec::new();
        conn.read_to_end(&mut answer).unwrap();
        let text = String::from_utf8_lossy(&answer);
        assert!(
            text.contains("malformed")
                || text.contains("limit")
                || text.contains("middle of a frame"),
            "{text}"
        );
    }
    assert_eq!(node.ls().len(), 1, "node still up, workspace intact");
}

fn mode_of(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false)
}

#[test]
fn control_socket_is_private_to_the_owner() {
    let node = TestNode::started();
    assert_eq!(mode_of(&node.home.join("roam.sock")), 0o600);
}

/// The harness makes the data dir with the usual umask (0755), as the CLI
/// of the release before did: the node closes it, and what it writes in it
/// is private too.
#[test]
fn a_data_dir_made_with_umask_022_and_what_the_node_writes_in_it_are_private() {
    let node = TestNode::new();
    assert_eq!(mode_of(&node.home), 0o755, "the harness's own mode");
    let node = TestNode::start(node);
    node.ok(&[
        "new",
        "secret",
        "--agent",
        "test",
        "--prompt",
        "echo a-secret",
    ]);
    node.wait_logs("secret", "a-secret");
    node.ok(&["stop", "secret"]);
    // Persisted within a second, on the scrollback's own thread.
    let scrollback = node.home.join("scrollback/secret/test.log");
    wait_until("the scrollback file", || scrollback.exists());
    assert_eq!(mode_of(&node.home), 0o700);
    for dir in ["logs", "scrollback", "worktrees", "run"] {
        assert_eq!(mode_of(&node.home.join(dir)), 0o700, "{dir}");
    }
    assert_eq!(
        mode_of(&node.home.join("scrollback/secret/test.log")),
        0o600
    );
}

#[test]
fn a_data_dir_others_may_write_or_someone_else_owns_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let node = TestNode::new();
    std::fs::set_permissions(&node.home, std::fs::Permissions::from_mode(0o777)).unwrap();
    let err = node.fails(&["up"]);
    assert!(
        err.contains("may be written by other users") && err.contains("chmod 700"),
        "{err}"
    );
    assert_eq!(mode_of(&node.home), 0o777, "left as it was");
    std::fs::set_permissions(&node.home, std::fs::Permissions::from_mode(0o700)).unwrap();
    if !is_root() {
        eprintln!("skipped the other-owner case: changing a dir's owner needs root");
        return;
    }
    let status = std::process::Command::new("chown")
        .args(["65534:65534", node.home.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(status.success());
    let err = node.fails(&["up"]);
    assert!(err.contains("belongs to uid 65534"), "{err}");
}

#[test]
fn a_control_connection_from_another_user_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    if !is_root() {
        eprintln!("skipped: running a client as another user needs root");
        return;
    }
    let node = TestNode::started();
    // Open the way on purpose (dir and socket), as a careless chmod would:
    // the node still checks who is at the other end.
    std::fs::set_permissions(&node.home, std::fs::Permissions::from_mode(0o711)).unwrap();
    std::fs::set_permissions(
        node.home.join("roam.sock"),
        std::fs::Permissions::from_mode(0o666),
    )
    .unwrap();
    let bin = node.dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::set_permissions(node.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    let roam = bin.join("roam");
    std::fs::copy(crate::harness::ROAM, &roam).unwrap();
    let out = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&roam)
        .arg("ls")
        .env("ROAM_HOME", &node.home)
        .env("HOME", "/tmp")
        .env("ROAM_NO_AUTOSTART", "1")
        .output()
        .unwrap();
    assert!(!out.status.success(), "another user was answered");
    assert!(node.ls().is_empty(), "the owner still is");
}

#[test]
fn a_huge_terminal_size_from_a_client_is_clamped_and_the_node_stays_up() {
    use roam_node::api::{Down, MAX_COLS, MAX_ROWS, Request, Response, Target, Up};
    let node = TestNode::started();
    node.ok(&["new", "big", "--agent", "test"]);
    node.wait_logs("big", "> ");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let paths = roam_node::paths::Paths::new(&node.home);
        let mut client = roam_node::client::Client::connect(&paths).await.unwrap();
        let answer = client
            .request(Request::Attach {
                target: Target::parse("big"),
                rows: u16::MAX,
                cols: u16::MAX,
                resume: None,
            })
            .await
            .unwrap();
        assert_eq!(answer, Response::Streaming);
        let (mut down, mut up) = client.into_stream();
        up.send(&Up::Resize {
            rows: u16::MAX,
            cols: u16::MAX,
        })
        .await
        .unwrap();
        up.send(&Up::Input(b"size\r".to_vec())).await.unwrap();
        let want = format!("size {MAX_ROWS}x{MAX_COLS}");
        let mut seen = Vec::new();
        let read = async {
            while let Ok(Some(frame)) = down.recv().await {
                if let Down::Output(bytes) = frame {
                    seen.extend(bytes);
                    if String::from_utf8_lossy(&seen).contains(&want) {
                        return true;
                    }
                }
            }
            false
        };
        let clamped = tokio::time::timeout(crate::harness::WAIT, read).await;
        assert!(
            matches!(clamped, Ok(true)),
            "the agent never saw {want}: {}",
            String::from_utf8_lossy(&seen)
        );
        up.send(&Up::Detach).await.unwrap();
    });
    // Still up, answering, and not holding a 65535 x 65535 screen.
    let status: serde_json::Value =
        serde_json::from_str(&node.ok(&["node", "status", "--json"])).unwrap();
    let rss = status["rss_bytes"].as_u64().unwrap();
    assert!(rss < 512 * 1024 * 1024, "node RSS {rss} bytes");
    assert_eq!(node.ls().len(), 1);
}

#[test]
fn a_profile_extending_what_is_not_a_built_in_stops_the_node_at_start() {
    let node = TestNode::new();
    let config = node.home.join("config.toml");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str("[profiles.local]\nextends = \"vim\"\nargs = [\"--fast\"]\n");
    std::fs::write(&config, text).unwrap();
    let out = node.roam(&["up"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("profile 'local' extends 'vim', which is not a built-in")
            && err.contains("aider"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
}
