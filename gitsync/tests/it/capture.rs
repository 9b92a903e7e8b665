//! `capture` on its own: what lands in the snapshot commit, and that the
//! user's side — index file bytes, HEAD file, files — stays exactly as it was.
//! The round trip through send/receive/restore is in `sync`.

use std::path::Path;

use roam_gitsync::{CaptureOptions, Repo, Snapshot, Worktree, capture};

use crate::common::{TestRepo, git, git_bytes};

const REF: &str = "refs/roam/sync/ws";

/// Everything of the user's state a capture must not change, down to the
/// bytes of the index (which `git write-tree` alone would rewrite).
#[derive(Debug, PartialEq)]
struct UserState {
    status: Vec<u8>,
    index: Vec<u8>,
    head_file: Vec<u8>,
    head: String,
    files: Vec<(String, Vec<u8>)>,
}

fn user_state(dir: &Path) -> UserState {
    // Run status first: it may refresh the index, which is not what we test.
    let status = git_bytes(
        dir,
        &["status", "--porcelain=v1", "-z", "--untracked-files=all"],
    );
    let git_dir = git(dir, &["rev-parse", "--path-format=absolute", "--git-dir"]);
    let index_path = git(
        dir,
        &["rev-parse", "--path-format=absolute", "--git-path", "index"],
    );
    let mut files = Vec::new();
    for name in [
        "README",
        "staged.txt",
        "untracked.txt",
        "ignored.log",
        "sub/deep.txt",
    ] {
        if let Ok(content) = std::fs::read(dir.join(name)) {
            files.push((name.to_owned(), content));
        }
    }
    UserState {
        status,
        index: std::fs::read(index_path).unwrap_or_default(),
        head_file: std::fs::read(Path::new(&git_dir).join("HEAD")).unwrap(),
        head: git(dir, &["rev-parse", "--verify", "-q", "HEAD"]),
        files,
    }
}

/// Contents of `path` in the tree or commit `rev`.
fn show(dir: &Path, rev: &str, path: &str) -> String {
    git(dir, &["show", &format!("{rev}:{path}")])
}

fn tree_paths(dir: &Path, rev: &str) -> Vec<String> {
    git(dir, &["ls-tree", "-r", "--name-only", rev])
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Temporary index files left behind in the git dir of the worktree at `dir`.
fn temp_indexes_left(dir: &Path) -> Vec<String> {
    let git_dir = git(dir, &["rev-parse", "--path-format=absolute", "--git-dir"]);
    std::fs::read_dir(git_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("roam-snapshot"))
        .collect()
}

fn make_dirty(r: &TestRepo) {
    r.commit_file("staged.txt", "old staged\n", "add staged");
    r.write(".gitignore", "*.log\n");
    r.git(&["add", ".gitignore"]);
    r.git(&["commit", "-q", "-m", "ignore"]);
    r.write("README", "modified unstaged\n");
    r.write("staged.txt", "new staged\n");
    r.git(&["add", "staged.txt"]);
    r.write("untracked.txt", "brand new\n");
    r.write("sub/deep.txt", "deep\n");
    r.write("ignored.log", "secret\n");
}

#[test]
fn capture_of_dirty_worktree_leaves_user_state_byte_for_byte() {
    let r = TestRepo::new();
    make_dirty(&r);
    let wt = Worktree::open(&r.dir).unwrap();
    let before = user_state(&r.dir);

    let snap = capture(&wt, REF, &CaptureOptions::default()).unwrap();

    assert_eq!(user_state(&r.dir), before);
    assert_eq!(snap.head.0, before.head);
    assert_eq!(snap.branch.as_deref(), Some("refs/heads/main"));
    assert_eq!(Snapshot::load(&r.dir, REF).unwrap(), snap);

    // S^{tree}: the files as on disk, untracked included, ignored left out.
    let files = snap.commit.as_str();
    assert_eq!(show(&r.dir, files, "README"), "modified unstaged");
    assert_eq!(show(&r.dir, files, "staged.txt"), "new staged");
    assert_eq!(show(&r.dir, files, "untracked.txt"), "brand new");
    assert_eq!(show(&r.dir, files, "sub/deep.txt"), "deep");
    assert!(!tree_paths(&r.dir, files).contains(&"ignored.log".to_owned()));

    // S^2: only what was staged, on top of HEAD.
    let index = format!("{}^2", snap.commit);
    assert_eq!(show(&r.dir, &index, "staged.txt"), "new staged");
    assert_eq!(show(&r.dir, &index, "README"), "hello");
    assert_eq!(
        tree_paths(&r.dir, &index),
        [".gitignore", "README", "staged.txt"]
    );
    assert_eq!(
        git(&r.dir, &["rev-parse", &format!("{index}^")]),
        before.head
    );

    let leftovers = temp_indexes_left(&r.dir);
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn capture_of_linked_worktree_uses_its_own_index_and_branch() {
    let r = TestRepo::new();
    let repo = Repo::discover(&r.dir).unwrap();
    let path = r.outside("wt");
    repo.add_worktree(&path, "roam/snap", "main").unwrap();
    std::fs::write(path.join("README"), "in linked\n").unwrap();
    std::fs::write(path.join("new.txt"), "n\n").unwrap();
    git(&path, &["add", "new.txt"]);
    // Staged in the main worktree only: must not leak into the linked capture.
    r.write("main-only.txt", "m\n");
    r.git(&["add", "main-only.txt"]);
    let main_before = user_state(&r.dir);
    let wt_before = user_state(&path);

    let snap = capture(
        &Worktree::open(&path).unwrap(),
        REF,
        &CaptureOptions::default(),
    )
    .unwrap();

    assert_eq!(snap.branch.as_deref(), Some("refs/heads/roam/snap"));
    assert_eq!(snap.head.0, wt_before.head);
    let files = snap.commit.as_str();
    assert_eq!(show(&r.dir, files, "README"), "in linked");
    assert_eq!(show(&r.dir, files, "new.txt"), "n");
    assert!(!tree_paths(&r.dir, files).contains(&"main-only.txt".to_owned()));
    assert_eq!(
        tree_paths(&r.dir, snap.index_tree.as_str()),
        ["README", "new.txt"]
    );
    assert_eq!(show(&r.dir, snap.index_tree.as_str(), "README"), "hello");

    assert_eq!(user_state(&r.dir), main_before);
    assert_eq!(user_state(&path), wt_before);
    assert_eq!(repo.resolve("roam/snap").unwrap().0, wt_before.head);
    for dir in [&r.dir, &path] {
        let leftovers = temp_indexes_left(dir);
        assert!(leftovers.is_empty(), "{}: {leftovers:?}", dir.display());
    }
}

/// Catches spurious differences (e.g. a stray file or a mode change) in a
/// capture with nothing to capture, which would also cost objects on every transfer.
#[test]
fn capture_of_clean_worktree_has_heads_tree_as_files_and_index() {
    let r = TestRepo::new();
    let snap = capture(
        &Worktree::open(&r.dir).unwrap(),
        REF,
        &CaptureOptions::default(),
    )
    .unwrap();
    let head_tree = r.git(&["rev-parse", "HEAD^{tree}"]);
    assert_eq!(r.git(&["rev-parse", &format!("{REF}^{{tree}}")]), head_tree);
    assert_eq!(
        r.git(&["rev-parse", &format!("{REF}^2^{{tree}}")]),
        head_tree
    );
    assert_eq!(snap.worktree_tree.0, head_tree);
    assert_eq!(snap.index_tree.0, head_tree);
}

/// Catches a capture that prompts for a passphrase or fails for a missing
/// key. Current `git commit-tree` ignores `commit.gpgsign` anyway (capture
/// also passes `--no-gpg-sign`), so this guards the commands capture runs:
/// one that honours the setting, like `git commit`, fails here.
#[test]
fn capture_ignores_commit_signing_config() {
    let r = TestRepo::new();
    // A signing key that cannot work: any attempt to sign fails the capture.
    r.git(&["config", "commit.gpgsign", "true"]);
    r.git(&["config", "gpg.program", "/nonexistent/gpg"]);
    r.write("README", "x\n");
    let snap = capture(
        &Worktree::open(&r.dir).unwrap(),
        REF,
        &CaptureOptions::default(),
    )
    .unwrap();
    for rev in [snap.commit.0.clone(), format!("{}^2", snap.commit)] {
        let raw = r.git(&["cat-file", "commit", &rev]);
        assert!(!raw.contains("gpgsig"), "{rev} is signed:\n{raw}");
    }
}
