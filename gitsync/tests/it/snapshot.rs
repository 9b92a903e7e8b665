use std::path::Path;

use roam_gitsync::{Oid, Repo, Worktree};

use crate::common::{TestRepo, git, git_bytes};

/// Everything of the user's state a snapshot must not change.
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

fn show(dir: &Path, oid: &Oid, path: &str) -> String {
    git(dir, &["show", &format!("{oid}:{path}")])
}

fn tree_paths(dir: &Path, oid: &Oid) -> Vec<String> {
    git(dir, &["ls-tree", "-r", "--name-only", oid.as_str()])
        .lines()
        .map(str::to_owned)
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
fn snapshot_captures_dirty_worktree_without_touching_user_state() {
    let r = TestRepo::new();
    make_dirty(&r);
    let wt = Worktree::open(&r.dir).unwrap();
    let before = user_state(&r.dir);

    let oid = wt.snapshot("roam snapshot").unwrap();

    assert_eq!(user_state(&r.dir), before);
    assert_eq!(show(&r.dir, &oid, "README"), "modified unstaged");
    assert_eq!(show(&r.dir, &oid, "staged.txt"), "new staged");
    assert_eq!(show(&r.dir, &oid, "untracked.txt"), "brand new");
    assert_eq!(show(&r.dir, &oid, "sub/deep.txt"), "deep");
    assert!(!tree_paths(&r.dir, &oid).contains(&"ignored.log".to_owned()));
    assert_eq!(
        git(&r.dir, &["rev-parse", &format!("{oid}^1")]),
        before.head
    );
    assert_eq!(
        git(&r.dir, &["log", "-1", "--format=%s", oid.as_str()]),
        "roam snapshot"
    );
    // The temporary index is cleaned up.
    let leftovers: Vec<_> = std::fs::read_dir(r.dir.join(".git"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("roam-snapshot"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn snapshot_includes_staged_deletion_and_unstaged_deletion() {
    let r = TestRepo::new();
    r.commit_file("gone-staged.txt", "a", "a");
    r.commit_file("gone-unstaged.txt", "b", "b");
    r.git(&["rm", "-q", "gone-staged.txt"]);
    std::fs::remove_file(r.dir.join("gone-unstaged.txt")).unwrap();
    let oid = Worktree::open(&r.dir).unwrap().snapshot("s").unwrap();
    let paths = tree_paths(&r.dir, &oid);
    assert_eq!(paths, vec!["README".to_owned()]);
    // The user's staged deletion is still only staged, the other still only unstaged.
    assert_eq!(
        r.git(&["status", "--porcelain"]),
        "D  gone-staged.txt\n D gone-unstaged.txt"
    );
}

#[test]
fn snapshot_of_linked_worktree_uses_its_own_index() {
    let r = TestRepo::new();
    let repo = Repo::discover(&r.dir).unwrap();
    let path = r.outside("wt");
    repo.add_worktree(&path, "roam/snap", "main").unwrap();
    std::fs::write(path.join("README"), "in linked\n").unwrap();
    std::fs::write(path.join("new.txt"), "n\n").unwrap();
    let main_before = user_state(&r.dir);
    let wt_before = user_state(&path);

    let oid = Worktree::open(&path).unwrap().snapshot("s").unwrap();

    assert_eq!(show(&r.dir, &oid, "README"), "in linked");
    assert_eq!(show(&r.dir, &oid, "new.txt"), "n");
    assert_eq!(user_state(&r.dir), main_before);
    assert_eq!(user_state(&path), wt_before);
    assert_eq!(repo.resolve("roam/snap").unwrap().0, wt_before.head);
}

#[test]
fn snapshot_on_detached_head_parents_on_that_commit() {
    let r = TestRepo::new();
    let first = r.git(&["rev-parse", "HEAD"]);
    r.commit_file("later.txt", "l", "later");
    r.git(&["checkout", "-q", "--detach", &first]);
    r.write("README", "detached edit\n");
    let before = user_state(&r.dir);

    let oid = Worktree::open(&r.dir).unwrap().snapshot("s").unwrap();

    assert_eq!(git(&r.dir, &["rev-parse", &format!("{oid}^1")]), first);
    assert_eq!(show(&r.dir, &oid, "README"), "detached edit");
    assert_eq!(user_state(&r.dir), before);
    assert_eq!(
        Repo::discover(&r.dir).unwrap().current_branch().unwrap(),
        None
    );
}

#[test]
fn snapshot_in_repo_without_commits_has_no_parent() {
    let r = TestRepo::empty();
    r.write("first.txt", "f\n");
    let oid = Worktree::open(&r.dir).unwrap().snapshot("s").unwrap();
    assert_eq!(show(&r.dir, &oid, "first.txt"), "f");
    let parents = git(&r.dir, &["rev-list", "--parents", "-n1", oid.as_str()]);
    assert_eq!(parents, oid.0, "root commit expected");
    // Still nothing staged or committed for the user.
    assert_eq!(r.git(&["status", "--porcelain"]), "?? first.txt");
}

#[test]
fn snapshot_of_clean_worktree_has_heads_tree() {
    let r = TestRepo::new();
    let oid = Worktree::open(&r.dir).unwrap().snapshot("s").unwrap();
    assert_eq!(
        git(&r.dir, &["rev-parse", &format!("{oid}^{{tree}}")]),
        git(&r.dir, &["rev-parse", "HEAD^{tree}"])
    );
}

#[test]
fn snapshot_ignores_commit_signing_config() {
    let r = TestRepo::new();
    // A signing key that cannot work: commit-tree would fail if it tried to sign.
    r.git(&["config", "commit.gpgsign", "true"]);
    r.git(&["config", "gpg.program", "/nonexistent/gpg"]);
    r.write("README", "x\n");
    Worktree::open(&r.dir).unwrap().snapshot("s").unwrap();
}
