use roam_gitsync::{GitError, Repo, Worktree, WorktreeStatus};

use crate::common::{TestRepo, commit_file_in, git};

#[test]
fn open_missing_path_is_not_a_repo() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("gone");
    let err = Worktree::open(&missing).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("not a git repository: {}", missing.display())
    );
    assert!(matches!(
        Worktree::open(tmp.path()),
        Err(GitError::NotARepo { .. })
    ));
}

#[test]
fn open_bare_repo_is_not_a_worktree() {
    let tmp = tempfile::tempdir().unwrap();
    git(tmp.path(), &["init", "-q", "--bare", "b.git"]);
    let err = Worktree::open(&tmp.path().join("b.git")).unwrap_err();
    assert!(matches!(err, GitError::NotAWorktree { .. }), "{err:?}");
}

#[test]
fn open_subdir_yields_worktree_top_level() {
    let r = TestRepo::new();
    r.write("sub/f", "x");
    let wt = Worktree::open(&r.dir.join("sub")).unwrap();
    assert_eq!(wt.path(), r.dir);
}

/// A worktree of `r` on a new branch `roam/s` off `main`, opened.
fn linked_worktree(r: &TestRepo) -> (std::path::PathBuf, Worktree) {
    let path = r.outside("wt");
    Repo::discover(&r.dir)
        .unwrap()
        .add_worktree(&path, "roam/s", "main")
        .unwrap();
    let wt = Worktree::open(&path).unwrap();
    (path, wt)
}

#[test]
fn clean_fresh_worktree_has_zero_status() {
    let r = TestRepo::new();
    let (_, wt) = linked_worktree(&r);
    assert_eq!(wt.status("main").unwrap(), WorktreeStatus::default());
    assert!(!wt.is_dirty().unwrap());
}

#[test]
fn status_counts_ahead_behind_and_each_kind_of_dirty_file() {
    let r = TestRepo::new();
    r.commit_file("tracked.txt", "t\n", "tracked");
    r.commit_file("to-rename.txt", "r\n", "rename me");
    let (path, wt) = linked_worktree(&r);

    // Two commits ahead, one behind.
    commit_file_in(&path, "a1", "1", "a1");
    commit_file_in(&path, "a2", "2", "a2");
    r.commit_file("b1", "b", "b1");

    std::fs::write(path.join("README"), "modified\n").unwrap(); // unstaged
    std::fs::write(path.join("tracked.txt"), "staged\n").unwrap();
    git(&path, &["add", "tracked.txt"]); // staged
    git(&path, &["mv", "to-rename.txt", "renamed.txt"]); // rename: one entry, two paths
    std::fs::create_dir(path.join("newdir")).unwrap();
    std::fs::write(path.join("newdir/u1"), "u").unwrap(); // untracked, inside a new dir
    std::fs::write(path.join("newdir/u2"), "u").unwrap();
    std::fs::write(path.join(".gitignore"), "*.log\n").unwrap(); // untracked
    std::fs::write(path.join("ignored.log"), "i").unwrap(); // ignored: not counted

    let status = wt.status("main").unwrap();
    assert_eq!(
        status,
        WorktreeStatus {
            ahead: 2,
            behind: 1,
            dirty_files: 6
        }
    );
    assert!(wt.is_dirty().unwrap());
}

#[test]
fn status_does_not_rewrite_the_users_index() {
    let r = TestRepo::new();
    r.write("README", "changed\n");
    let before = std::fs::read(r.dir.join(".git/index")).unwrap();
    let wt = Worktree::open(&r.dir).unwrap();
    wt.status("main").unwrap();
    wt.is_dirty().unwrap();
    assert_eq!(std::fs::read(r.dir.join(".git/index")).unwrap(), before);
}

#[test]
fn status_with_bad_base_reports_ref() {
    let r = TestRepo::new();
    let wt = Worktree::open(&r.dir).unwrap();
    let err = wt.status("nope").unwrap_err();
    assert!(
        matches!(err, GitError::BadRef { ref rev, .. } if rev == "nope"),
        "{err:?}"
    );
}

#[test]
fn untracked_file_alone_makes_worktree_dirty() {
    let r = TestRepo::new();
    let wt = Worktree::open(&r.dir).unwrap();
    assert!(!wt.is_dirty().unwrap());
    r.write("new.txt", "n");
    assert!(wt.is_dirty().unwrap());
    assert_eq!(wt.status("main").unwrap().dirty_files, 1);
}

#[test]
fn files_an_agent_owns_are_excluded_in_info_exclude_once_and_nothing_committed_changes() {
    let r = TestRepo::new();
    let repo = Repo::discover(&r.dir).unwrap();
    let path = r.outside("wt-owned");
    repo.add_worktree(&path, "roam/owned", "main").unwrap();
    let wt = Worktree::open(&path).unwrap();
    std::fs::write(path.join(".aider.chat.history.md"), "chat").unwrap();
    std::fs::create_dir_all(path.join(".aider.tags.cache.v4")).unwrap();
    std::fs::write(path.join(".aider.tags.cache.v4/x"), "t").unwrap();
    std::fs::write(path.join("work.txt"), "w").unwrap();
    assert_eq!(wt.status("main").unwrap().dirty_files, 3);

    let owned = vec![".aider*".to_string()];
    wt.exclude(&owned).unwrap();
    wt.exclude(&owned).unwrap();
    // Only the agent's files are gone from the count; the user's work stays.
    assert_eq!(wt.status("main").unwrap().dirty_files, 1);
    let exclude = std::fs::read_to_string(r.dir.join(".git/info/exclude")).unwrap();
    assert_eq!(
        exclude.lines().filter(|l| *l == ".aider*").count(),
        1,
        "{exclude}"
    );
    assert!(!path.join(".gitignore").exists());
    assert_eq!(git(&path, &["status", "--porcelain"]).trim(), "?? work.txt");
}

/// Status runs against Roam's own copy of the index (so that it may keep
/// what it learns, where the agent's index must not be touched): the copy
/// is taken again whenever the index changes, so staging and committing
/// show at once.
#[test]
fn status_follows_the_index_through_staging_and_commits() {
    let r = TestRepo::new();
    let (path, wt) = linked_worktree(&r);
    assert_eq!(wt.status("main").unwrap(), WorktreeStatus::default());

    std::fs::write(path.join("new.txt"), "n\n").unwrap();
    git(&path, &["add", "new.txt"]);
    assert_eq!(wt.status("main").unwrap().dirty_files, 1);
    git(&path, &["rm", "-q", "--cached", "new.txt"]);
    std::fs::remove_file(path.join("new.txt")).unwrap();
    assert_eq!(wt.status("main").unwrap().dirty_files, 0);

    std::fs::write(path.join("README"), "changed\n").unwrap();
    git(&path, &["add", "README"]);
    assert_eq!(wt.status("main").unwrap().dirty_files, 1);
    git(
        &path,
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "-q",
            "-m",
            "c",
        ],
    );
    let status = wt.status("main").unwrap();
    assert_eq!((status.ahead, status.dirty_files), (1, 0));
    // The agent's own index is never the one status rewrites.
    let index = std::fs::read(wt_git_dir(&path).join("index")).unwrap();
    std::fs::write(path.join("README"), "again\n").unwrap();
    assert_eq!(wt.status("main").unwrap().dirty_files, 1);
    assert_eq!(
        std::fs::read(wt_git_dir(&path).join("index")).unwrap(),
        index
    );
}

fn wt_git_dir(path: &std::path::Path) -> std::path::PathBuf {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(path)
        .args(["rev-parse", "--absolute-git-dir"])
        .output()
        .unwrap();
    std::path::PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}
