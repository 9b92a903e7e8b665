//! The Site seam's `snapshot` and `restore`, on this node and on an SSH host
//! (a real OpenSSH server on loopback whose `$HOME` is the test's): a
//! worktree's whole state comes back as a new worktree, and what would
//! clobber or drop work is refused and changes nothing.
//!
//! Nothing in the product calls these yet (moving a workspace will), so
//! the tests call the sites directly. This node's is a `LocalSite`. A
//! host's is a `HostSite` over the node's own `HostOps`; its SSH pool reads
//! the process's `$HOME/.ssh`, so each host scenario runs in a child copy
//! of this test binary (`host_scenario`) whose `HOME` is the test node's,
//! against a workspace made on the host by `roam new --on ssh:box`. The
//! host is this machine: the scenarios read its files directly.

use std::collections::BTreeMap;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use roam_actors::error::ErrorKind;
use roam_actors::model::{Owner, WorkspaceRecord};
use roam_actors::site::host::HostSite;
use roam_actors::site::local::LocalSite;
use roam_actors::site::{CreateSpec, Site};

use roam_node::hosts::Hosts;
use roam_node::remote::HostOps;
use roam_node::store::Store;
use serde_json::Value;

use crate::harness::{ROAM, TestNode, git};

// ---- the tests ----

#[test]
fn a_snapshot_restored_on_this_node_is_the_same_worktree() {
    on_this_node(Scenario::Same);
}

#[test]
fn a_snapshot_restored_on_a_host_is_the_same_worktree() {
    on_a_host(Scenario::Same);
}

#[test]
fn restore_onto_an_existing_path_is_refused_and_changes_nothing() {
    on_this_node(Scenario::ExistingPath);
    on_a_host(Scenario::ExistingPath);
}

#[test]
fn restore_of_a_branch_checked_out_elsewhere_is_refused_and_changes_nothing() {
    on_this_node(Scenario::BranchElsewhere);
    on_a_host(Scenario::BranchElsewhere);
}

#[test]
fn a_snapshot_during_a_merge_is_refused() {
    on_this_node(Scenario::Merge);
    on_a_host(Scenario::Merge);
}

/// The host half of the tests above, run by `on_a_host` in a child process
/// (with the test node's `HOME`, so the SSH pool finds `box`); without it
/// there is nothing to do.
#[test]
#[ignore = "a child process of the host tests; they run it"]
fn host_scenario() {
    let Ok(scenario) = std::env::var("ROAM_SITE_SCENARIO") else {
        return;
    };
    let scenario = Scenario::named(&scenario);
    let var = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set"));
    let ws: Value = serde_json::from_str(&var("ROAM_SITE_WORKSPACE")).unwrap();
    let record = record_of(&ws, Some("box"));
    let rt = runtime();
    let store = Store::open(Path::new(&var("ROAM_SITE_STORE")), "site-test").unwrap();
    let hosts = Arc::new(Hosts::new(Arc::new(store), Vec::new()));
    // The node added it already (known_hosts holds its key); this store
    // learns it the same way.
    rt.block_on(hosts.add("box", false)).unwrap();
    let site = HostSite {
        host: "box".into(),
        remote: Arc::new(HostOps {
            hosts,
            data_dir: PathBuf::from(var("ROAM_SITE_NODE_HOME")),
            roam_exe: PathBuf::from(ROAM),
        }),
    };
    let beside = Path::new(&record.path).parent().unwrap().to_path_buf();
    scenario.run(&rt, &site, &record, &beside);
}

// ---- the scenarios, the same on every site ----

#[derive(Clone, Copy, Debug)]
enum Scenario {
    Same,
    ExistingPath,
    BranchElsewhere,
    Merge,
}

impl Scenario {
    const ALL: [Scenario; 4] = [
        Scenario::Same,
        Scenario::ExistingPath,
        Scenario::BranchElsewhere,
        Scenario::Merge,
    ];

    fn named(name: &str) -> Scenario {
        Scenario::ALL
            .into_iter()
            .find(|s| format!("{s:?}") == name)
            .unwrap_or_else(|| panic!("no scenario {name}"))
    }

    /// Runs on `site`, whose workspace `record` has a fresh worktree; new
    /// paths are made in `beside`.
    fn run(
        self,
        rt: &tokio::runtime::Runtime,
        site: &dyn Site,
        record: &WorkspaceRecord,
        beside: &Path,
    ) {
        match self {
            Scenario::Same => restores_the_same_worktree(rt, site, record, beside),
            Scenario::ExistingPath => refuses_an_existing_path(rt, site, record, beside),
            Scenario::BranchElsewhere => {
                refuses_a_branch_checked_out_elsewhere(rt, site, record, beside)
            }
            Scenario::Merge => refuses_a_merge(rt, site, record),
        }
    }
}

fn restores_the_same_worktree(
    rt: &tokio::runtime::Runtime,
    site: &dyn Site,
    record: &WorkspaceRecord,
    beside: &Path,
) {
    let wt = Path::new(&record.path);
    make_every_kind_of_change(wt);
    let before = State::of(wt);
    for line in [
        "MM README.md",
        "A  added.txt",
        " M committed.txt",
        " D gone.txt",
        " M tool.sh",
        "?? notes/link",
        "?? notes/run.sh",
        "?? notes/untracked.txt",
    ] {
        assert!(
            before.status.lines().any(|l| l == line),
            "the worktree has {line:?}: {}",
            before.status
        );
    }
    let index = index_file(wt);
    let index_bytes = std::fs::read(&index).unwrap();

    let snapshot = format!("refs/roam/snapshots/{}/test", record.name);
    rt.block_on(site.snapshot(record, &snapshot)).unwrap();
    assert_eq!(
        std::fs::read(&index).unwrap(),
        index_bytes,
        "the snapshot left the index file byte for byte"
    );
    assert_eq!(State::of(wt), before, "the snapshot changed the worktree");

    // A branch is checked out in one worktree at a time: free it, as a
    // move's discard of the original would.
    git(wt, &["checkout", "-q", "--detach"]);
    git(wt, &["branch", "-q", "-D", &record.branch]);
    let restored = beside.join(format!("{}-restored", record.name));
    rt.block_on(site.restore(record, &snapshot, restored.to_str().unwrap()))
        .unwrap();
    assert_eq!(State::of(&restored), before);
}

fn refuses_an_existing_path(
    rt: &tokio::runtime::Runtime,
    site: &dyn Site,
    record: &WorkspaceRecord,
    beside: &Path,
) {
    let wt = Path::new(&record.path);
    std::fs::write(wt.join("wip.txt"), "work in progress\n").unwrap();
    let snapshot = format!("refs/roam/snapshots/{}/test", record.name);
    rt.block_on(site.snapshot(record, &snapshot)).unwrap();
    // The branch would be free: only the path stands in the way.
    git(wt, &["checkout", "-q", "--detach"]);
    git(wt, &["branch", "-q", "-D", &record.branch]);

    let taken = beside.join(format!("{}-taken", record.name));
    std::fs::create_dir_all(&taken).unwrap();
    std::fs::write(taken.join("mine.txt"), "keep me\n").unwrap();
    let dangling = beside.join(format!("{}-dangling", record.name));
    symlink("nowhere", &dangling).unwrap();
    let repo = RepoState::of(wt);
    let worktree = State::of(wt);
    for path in [&taken, &dangling, &wt.to_path_buf()] {
        let err = rt
            .block_on(site.restore(record, &snapshot, path.to_str().unwrap()))
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
        let message = err.to_string();
        assert!(
            message.contains("already exists") && message.contains(path.to_str().unwrap()),
            "{message}"
        );
    }
    assert_eq!(
        std::fs::read_dir(&taken).unwrap().count(),
        1,
        "nothing was added to {}",
        taken.display()
    );
    assert_eq!(
        std::fs::read_to_string(taken.join("mine.txt")).unwrap(),
        "keep me\n"
    );
    assert_eq!(std::fs::read_link(&dangling).unwrap(), Path::new("nowhere"));
    assert_eq!(RepoState::of(wt), repo, "no ref or worktree moved");
    assert_eq!(
        State::of(wt),
        worktree,
        "the workspace's worktree is as it was"
    );
}

fn refuses_a_branch_checked_out_elsewhere(
    rt: &tokio::runtime::Runtime,
    site: &dyn Site,
    record: &WorkspaceRecord,
    beside: &Path,
) {
    let wt = Path::new(&record.path);
    std::fs::write(wt.join("wip.txt"), "work in progress\n").unwrap();
    let snapshot = format!("refs/roam/snapshots/{}/test", record.name);
    rt.block_on(site.snapshot(record, &snapshot)).unwrap();
    let elsewhere = beside.join(format!("{}-second", record.name));

    // Checked out in the workspace's own worktree.
    let repo = RepoState::of(wt);
    let err = rt
        .block_on(site.restore(record, &snapshot, elsewhere.to_str().unwrap()))
        .unwrap_err();
    assert!(err.to_string().contains(&record.branch), "{err}");
    assert!(
        elsewhere.symlink_metadata().is_err(),
        "nothing was made at {}",
        elsewhere.display()
    );
    assert_eq!(RepoState::of(wt), repo, "no ref or worktree moved");

    // Checked out nowhere, but at another commit than the snapshot's HEAD.
    git(wt, &["checkout", "-q", "--detach"]);
    let other = git_as_test(
        wt,
        &["commit-tree", "HEAD^{tree}", "-p", "HEAD", "-m", "other"],
    );
    git(wt, &["branch", "-q", "-f", &record.branch, other.trim()]);
    let repo = RepoState::of(wt);
    let err = rt
        .block_on(site.restore(record, &snapshot, elsewhere.to_str().unwrap()))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
    let message = err.to_string();
    assert!(
        message.contains(&record.branch) && message.contains("already exists"),
        "{message}"
    );
    assert!(elsewhere.symlink_metadata().is_err());
    assert_eq!(RepoState::of(wt), repo, "no ref or worktree moved");
}

fn refuses_a_merge(rt: &tokio::runtime::Runtime, site: &dyn Site, record: &WorkspaceRecord) {
    let wt = Path::new(&record.path);
    let side = format!("side-{}", record.name);
    git(wt, &["checkout", "-q", "-b", &side]);
    std::fs::write(wt.join("side.txt"), "from the side\n").unwrap();
    git(wt, &["add", "side.txt"]);
    commit(wt, "side");
    git(wt, &["checkout", "-q", &record.branch]);
    git_as_test(wt, &["merge", "-q", "--no-ff", "--no-commit", &side]);
    let repo = RepoState::of(wt);
    let worktree = State::of(wt);
    let index = index_file(wt);
    let index_bytes = std::fs::read(&index).unwrap();

    let snapshot = format!("refs/roam/snapshots/{}/test", record.name);
    let err = rt.block_on(site.snapshot(record, &snapshot)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Refused, "{err}");
    let message = err.to_string();
    assert!(
        message.contains("a merge is in progress") && message.contains("finish or abort it"),
        "{message}"
    );
    assert_eq!(std::fs::read(&index).unwrap(), index_bytes);
    assert_eq!(RepoState::of(wt), repo, "no snapshot ref was written");
    assert_eq!(State::of(wt), worktree);
}

// ---- what a worktree holds ----

/// Everything a restore must bring back: HEAD, the index entry by entry,
/// what `git status` says, and every file's bytes and executable bit (all
/// of a mode git carries) or symlink target.
#[derive(Debug, PartialEq)]
struct State {
    head: String,
    branch: String,
    index: String,
    status: String,
    files: BTreeMap<String, Entry>,
}

#[derive(Debug, PartialEq)]
enum Entry {
    /// The bytes, escaped (so a difference reads as text).
    File {
        bytes: String,
        executable: bool,
    },
    Link(PathBuf),
    Dir,
}

impl State {
    fn of(wt: &Path) -> State {
        State {
            head: git(wt, &["rev-parse", "HEAD"]),
            branch: head_branch(wt),
            index: git(wt, &["ls-files", "--stage"]),
            status: git(wt, &["status", "--porcelain=v1", "--untracked-files=all"]),
            files: files(wt),
        }
    }
}

/// HEAD's branch, or `detached`.
fn head_branch(wt: &Path) -> String {
    let out = Command::new("git")
        .args(["symbolic-ref", "-q", "HEAD"])
        .current_dir(wt)
        .output()
        .unwrap();
    match out.status.code() {
        Some(0) => String::from_utf8_lossy(&out.stdout).trim().to_string(),
        Some(1) => "detached".to_string(),
        _ => panic!("git symbolic-ref: {}", String::from_utf8_lossy(&out.stderr)),
    }
}

fn files(root: &Path) -> BTreeMap<String, Entry> {
    let mut found = BTreeMap::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            if rel == ".git" {
                continue;
            }
            let meta = path.symlink_metadata().unwrap();
            let entry = if meta.is_symlink() {
                Entry::Link(std::fs::read_link(&path).unwrap())
            } else if meta.is_dir() {
                dirs.push(path);
                Entry::Dir
            } else {
                Entry::File {
                    bytes: std::fs::read(&path).unwrap().escape_ascii().to_string(),
                    executable: meta.permissions().mode() & 0o111 != 0,
                }
            };
            found.insert(rel, entry);
        }
    }
    found
}

/// The repository's refs and worktrees, as seen from `wt`.
#[derive(Debug, PartialEq)]
struct RepoState {
    refs: String,
    worktrees: String,
}

impl RepoState {
    fn of(wt: &Path) -> RepoState {
        RepoState {
            refs: git(wt, &["for-each-ref", "--format=%(refname) %(objectname)"]),
            worktrees: git(wt, &["worktree", "list", "--porcelain"]),
        }
    }
}

/// A commit on the workspace's branch, then staged, unstaged and untracked
/// work of every kind: edits, a new file, a deletion, an executable bit
/// lost, an edit staged and then changed again, files in a new directory,
/// symlinks.
fn make_every_kind_of_change(wt: &Path) {
    let write = |rel: &str, text: &str| std::fs::write(wt.join(rel), text).unwrap();
    let chmod = |rel: &str, mode: u32| {
        std::fs::set_permissions(wt.join(rel), std::fs::Permissions::from_mode(mode)).unwrap()
    };
    write("committed.txt", "committed\n");
    write("tool.sh", "#!/bin/sh\necho tool\n");
    chmod("tool.sh", 0o755);
    write("gone.txt", "about to go\n");
    symlink("committed.txt", wt.join("link")).unwrap();
    git(wt, &["add", "-A"]);
    commit(wt, "work");

    write("README.md", "staged\n");
    git(wt, &["add", "README.md"]);
    write("README.md", "staged\nthen changed again\n");
    write("added.txt", "a new file, staged\n");
    git(wt, &["add", "added.txt"]);

    write("committed.txt", "edited, not staged\n");
    chmod("tool.sh", 0o644);
    std::fs::remove_file(wt.join("gone.txt")).unwrap();

    std::fs::create_dir(wt.join("notes")).unwrap();
    write("notes/untracked.txt", "never added\n");
    write("notes/run.sh", "#!/bin/sh\necho run\n");
    chmod("notes/run.sh", 0o755);
    symlink("../tool.sh", wt.join("notes/link")).unwrap();
}

fn index_file(wt: &Path) -> PathBuf {
    let at = git(
        wt,
        &["rev-parse", "--path-format=absolute", "--git-path", "index"],
    );
    PathBuf::from(at.trim())
}

/// git with an identity of its own (a host's repository has none).
fn git_as_test(wt: &Path, args: &[&str]) -> String {
    let mut all = vec![
        "-c",
        "user.name=Test",
        "-c",
        "user.email=t@example.com",
        "-c",
        "commit.gpgsign=false",
    ];
    all.extend_from_slice(args);
    git(wt, &all)
}

fn commit(wt: &Path, message: &str) {
    git_as_test(wt, &["commit", "-q", "-m", message]);
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().unwrap()
}

/// The record a site gets for a workspace, from what `roam ls --json`
/// shows of it.
fn record_of(ws: &Value, host: Option<&str>) -> WorkspaceRecord {
    let text = |key: &str| ws[key].as_str().unwrap().to_string();
    WorkspaceRecord {
        id: text("id"),
        name: text("name"),
        repo: text("repo"),
        base: text("base"),
        branch: text("branch"),
        path: text("path"),
        owner: Owner {
            peer: text("owner_peer"),
            node: text("owner"),
        },
        epoch: ws["epoch"].as_u64().unwrap(),
        created_unix: 0,
        stopped: false,
        agents: Vec::new(),
        host: host.map(String::from),
        superseded: None,
    }
}

// ---- the sites ----

/// `scenario` on a `LocalSite`, with a workspace it made from a fresh repo.
fn on_this_node(scenario: Scenario) {
    let node = TestNode::new();
    let site = LocalSite {
        worktrees_dir: node.dir.path().join("worktrees"),
    };
    let rt = runtime();
    let spec = CreateSpec {
        id: "site-test".into(),
        name: "near".into(),
        repo: node.repo.clone(),
        base: None,
        profile: None,
        prompt: None,
        host: None,
    };
    let placed = rt.block_on(site.create(&spec)).unwrap();
    let record = WorkspaceRecord {
        id: spec.id.clone(),
        name: spec.name.clone(),
        repo: placed.repo,
        base: placed.base,
        branch: "roam/near".into(),
        path: placed.path,
        owner: Owner {
            peer: "site-test".into(),
            node: "testnode".into(),
        },
        epoch: 1,
        created_unix: 0,
        stopped: false,
        agents: Vec::new(),
        host: None,
        superseded: None,
    };
    scenario.run(&rt, &site, &record, &site.worktrees_dir);
}

/// `scenario` on the `HostSite` of `box`, in a child copy of this binary
/// (`host_scenario`), with a workspace `roam new --on ssh:box` made there.
fn on_a_host(scenario: Scenario) {
    let (host, home) = crate::hosts::isolated_host();
    let out = host
        .node
        .roam(&["new", "far", "--on", "ssh:box", "--agent", "test"]);
    assert!(
        out.status.success(),
        "roam new: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ws = host.node.workspace("far");
    assert!(
        Path::new(ws["path"].as_str().unwrap()).starts_with(home.path()),
        "the worktree is on the host: {ws}"
    );
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "site::host_scenario",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("HOME", &host.node.user_home)
        .env_remove("SSH_AUTH_SOCK")
        .env("ROAM_SITE_SCENARIO", format!("{scenario:?}"))
        .env("ROAM_SITE_WORKSPACE", ws.to_string())
        .env("ROAM_SITE_STORE", host.node.dir.path().join("site-store"))
        .env("ROAM_SITE_NODE_HOME", &host.node.home)
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && said.contains("1 passed"),
        "{scenario:?} on ssh:box:\n{said}"
    );
}
