//! `roam ls` at scale: a workspace's git status is read again only when
//! something it depends on changed (its files, HEAD, the index, the
//! branch or its base), and every such change shows.

use std::path::{Path, PathBuf};

use crate::harness::{TestNode, git, stderr, wait_until};

/// The node's `git` is this wrapper, which notes each call, then runs git.
fn git_that_logs(dir: &Path) -> (PathBuf, PathBuf) {
    let bin = dir.join("logging-git");
    let log = dir.join("git-calls.log");
    std::fs::create_dir_all(&bin).unwrap();
    let real = String::from_utf8(
        std::process::Command::new("sh")
            .args(["-c", "command -v git"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let script = format!(
        "#!/bin/sh\necho \"$*\" >> '{}'\nexec '{}' \"$@\"\n",
        log.display(),
        real.trim()
    );
    let wrapper = bin.join("git");
    std::fs::write(&wrapper, script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    (bin, log)
}

/// The status reads the node has run so far in `worktree`.
fn reads(log: &Path, worktree: &str) -> usize {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(&format!("-C {worktree} rev-list --left-right --count")))
        .count()
}

#[test]
fn a_listing_reads_the_status_only_of_workspaces_where_something_changed() {
    let node = TestNode::new();
    let (bin, log) = git_that_logs(node.dir.path());
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let up = node.command(&["up"]).env("PATH", path).output().unwrap();
    assert!(up.status.success(), "roam up: {}", stderr(&up));
    for name in ["quiet", "busy"] {
        node.ok(&["new", name, "--agent", "test"]);
        node.wait_logs(name, "> ");
    }
    let quiet = node.workspace("quiet")["path"]
        .as_str()
        .unwrap()
        .to_string();
    let busy = node.workspace("busy")["path"].as_str().unwrap().to_string();

    // Once the new worktrees have been read, a listing runs no git.
    wait_until("a listing that reads no status", || {
        let before = reads(&log, &quiet) + reads(&log, &busy);
        node.ls();
        reads(&log, &quiet) + reads(&log, &busy) == before
    });
    let quiet_reads = reads(&log, &quiet);

    // A file written as an editor would, without the agent.
    std::fs::write(Path::new(&busy).join("draft.txt"), "new\n").unwrap();
    wait_until("the new file to show", || {
        node.workspace("busy")["dirty_files"] == 1
    });
    // A commit made in the worktree by hand.
    git(Path::new(&busy), &["add", "draft.txt"]);
    git(Path::new(&busy), &["commit", "-qm", "draft"]);
    wait_until("the commit to show", || {
        let ws = node.workspace("busy");
        ws["ahead"] == 1 && ws["dirty_files"] == 0
    });
    assert_eq!(
        reads(&log, &quiet),
        quiet_reads,
        "a workspace where nothing changed is not read again"
    );
    // The base moves on in the user's checkout: both fall behind.
    std::fs::write(node.repo.join("base.txt"), "moved\n").unwrap();
    git(&node.repo, &["add", "base.txt"]);
    git(&node.repo, &["commit", "-qm", "base moves"]);
    wait_until("both workspaces to fall behind", || {
        node.ls().iter().all(|ws| ws["behind"] == 1)
    });
}
