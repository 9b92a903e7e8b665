use roam_gitsync::{GitError, Oid, Repo};

use crate::common::{TestRepo, commit_file_in, git};

#[test]
fn discover_from_subdir_returns_top_level() {
    let r = TestRepo::new();
    r.write("a/b/c.txt", "x");
    let repo = Repo::discover(&r.dir.join("a/b")).unwrap();
    assert_eq!(repo.root(), r.dir);
    let from_file = Repo::discover(&r.dir.join("a/b/c.txt")).unwrap();
    assert_eq!(from_file.root(), r.dir);
}

#[test]
fn discover_from_linked_worktree_returns_main_repo() {
    let r = TestRepo::new();
    let wt = r.outside("wt");
    r.git(&["worktree", "add", "-q", "-b", "side", wt.to_str().unwrap()]);
    std::fs::create_dir(wt.join("sub")).unwrap();
    assert_eq!(Repo::discover(&wt).unwrap().root(), r.dir);
    assert_eq!(Repo::discover(&wt.join("sub")).unwrap().root(), r.dir);
}

#[test]
fn discover_bare_repo_keeps_bare_dir() {
    let tmp = tempfile::tempdir().unwrap();
    let bare = tmp.path().canonicalize().unwrap().join("b.git");
    git(
        tmp.path(),
        &["init", "-q", "--bare", bare.to_str().unwrap()],
    );
    assert_eq!(Repo::discover(&bare).unwrap().root(), bare);
}

#[test]
fn discover_outside_repo_says_not_a_repo() {
    let tmp = tempfile::tempdir().unwrap();
    let err = Repo::discover(tmp.path()).unwrap_err();
    assert!(matches!(err, GitError::NotARepo { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!("not a git repository: {}", tmp.path().display())
    );
}

#[test]
fn discover_missing_path_says_not_a_repo() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("nope");
    let err = Repo::discover(&missing).unwrap_err();
    assert!(
        matches!(err, GitError::NotARepo { ref path } if *path == missing),
        "{err:?}"
    );
}

#[test]
fn resolve_returns_head_commit() {
    let r = TestRepo::new();
    let repo = Repo::discover(&r.dir).unwrap();
    let head = r.git(&["rev-parse", "HEAD"]);
    assert_eq!(repo.resolve("main").unwrap(), Oid(head.clone()));
    assert_eq!(repo.resolve("HEAD").unwrap().to_string(), head);
}

#[test]
fn resolve_unknown_ref_names_ref_and_repo() {
    let r = TestRepo::new();
    let repo = Repo::discover(&r.dir).unwrap();
    let err = repo.resolve("nope").unwrap_err();
    assert!(
        matches!(err, GitError::BadRef { ref rev, .. } if rev == "nope"),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!("ref 'nope' does not exist in {}", r.dir.display())
    );
}

#[test]
fn resolve_option_like_rev_is_bad_ref_not_git_option() {
    let r = TestRepo::new();
    let repo = Repo::discover(&r.dir).unwrap();
    assert!(matches!(
        repo.resolve("--all"),
        Err(GitError::BadRef { .. })
    ));
    assert!(matches!(repo.resolve(""), Err(GitError::BadRef { .. })));
}

#[test]
fn resolve_in_repo_without_commits_says_no_commits() {
    let r = TestRepo::empty();
    let repo = Repo::discover(&r.dir).unwrap();
    let err = repo.resolve("HEAD").unwrap_err();
    assert!(matches!(err, GitError::NoCommits { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!("repository has no commits yet: {}", r.dir.display())
    );
}

#[test]
fn current_branch_is_none_when_detached() {
    let r = TestRepo::new();
    let repo = Repo::discover(&r.dir).unwrap();
    assert_eq!(repo.current_branch().unwrap().as_deref(), Some("main"));
    r.git(&["checkout", "-q", "--detach"]);
    assert_eq!(repo.current_branch().unwrap(), None);
}

#[test]
fn branch_exists_reports_presence() {
    let r = TestRepo::new();
    let repo = Repo::discover(&r.dir).unwrap();
    assert!(repo.branch_exists("main").unwrap());
    assert!(!repo.branch_exists("roam/x").unwrap());
    assert!(!repo.branch_exists("a b").unwrap());
}

#[test]
fn add_worktree_creates_branch_at_base_with_base_content() {
    let r = TestRepo::new();
    let base = r.git(&["rev-parse", "HEAD"]);
    r.commit_file("README", "newer\n", "second");
    let repo = Repo::discover(&r.dir).unwrap();
    let wt = r.outside("workspaces/one");

    repo.add_worktree(&wt, "roam/one", &base).unwrap();

    assert!(repo.branch_exists("roam/one").unwrap());
    assert_eq!(repo.resolve("roam/one").unwrap(), Oid(base));
    assert_eq!(
        std::fs::read_to_string(wt.join("README")).unwrap(),
        "hello\n"
    );
    assert_eq!(git(&wt, &["symbolic-ref", "--short", "HEAD"]), "roam/one");
    // The main checkout is untouched.
    assert_eq!(repo.current_branch().unwrap().as_deref(), Some("main"));
}

#[test]
fn add_worktree_with_existing_branch_fails_and_leaves_no_directory() {
    let r = TestRepo::new();
    let repo = Repo::discover(&r.dir).unwrap();
    r.git(&["branch", "roam/taken"]);
    let wt = r.outside("workspaces/taken");

    let err = repo.add_worktree(&wt, "roam/taken", "main").unwrap_err();

    assert!(
        matches!(err, GitError::BranchExists { ref branch, .. } if branch == "roam/taken"),
        "{err:?}"
    );
    assert!(!wt.exists());
    assert!(!r.outside("workspaces").exists());
}

#[test]
fn add_worktree_onto_existing_path_fails_without_creating_branch() {
    let r = TestRepo::new();
    let repo = Repo::discover(&r.dir).unwrap();
    let wt = r.outside("occupied");
    std::fs::create_dir(&wt).unwrap();
    std::fs::write(wt.join("keep.txt"), "mine").unwrap();

    let err = repo.add_worktree(&wt, "roam/x", "main").unwrap_err();

    assert!(matches!(err, GitError::PathExists { .. }), "{err:?}");
    assert!(!repo.branch_exists("roam/x").unwrap());
    assert_eq!(
        std::fs::read_to_string(wt.join("keep.txt")).unwrap(),
        "mine"
    );
}

#[test]
fn add_worktree_with_bad_base_reports_base_and_leaves_nothing() {
    let r = TestRepo::new();
    let repo = Repo::discover(&r.dir).unwrap();
    let wt = r.outside("wt");

    let err = repo.add_worktree(&wt, "roam/x", "nope").unwrap_err();

    assert_eq!(
        err.to_string(),
        format!("ref 'nope' does not exist in {}", r.dir.display())
    );
    assert!(!wt.exists());
    assert!(!repo.branch_exists("roam/x").unwrap());
}

#[test]
fn add_worktree_git_failure_is_rolled_back() {
    let r = TestRepo::new();
    let repo = Repo::discover(&r.dir).unwrap();
    let wt = r.outside("deep/wt");

    // An invalid branch name passes our pre-checks but makes git itself fail.
    let err = repo.add_worktree(&wt, "bad..name", "main").unwrap_err();

    assert!(matches!(err, GitError::GitFailed { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.starts_with("git failed: git worktree add"), "{msg}");
    assert!(msg.contains("fatal:"), "{msg}");
    assert!(!r.outside("deep").exists());
    assert_eq!(
        r.git(&["worktree", "list", "--porcelain"])
            .matches("worktree ")
            .count(),
        1
    );
}

#[test]
fn add_worktree_failing_after_checkout_removes_dir_branch_and_registration() {
    let r = TestRepo::new();
    let repo = Repo::discover(&r.dir).unwrap();
    // A failing post-checkout hook makes git exit non-zero after it has
    // created the directory, the branch and the worktree registration.
    let hook = r.dir.join(".git/hooks/post-checkout");
    std::fs::write(&hook, "#!/bin/sh\necho hook refused >&2\nexit 1\n").unwrap();
    let mut perms = std::fs::metadata(&hook).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&hook, perms).unwrap();
    let wt = r.outside("deep/wt");

    let err = repo.add_worktree(&wt, "roam/hooked", "main").unwrap_err();

    assert!(err.to_string().contains("hook refused"), "{err}");
    assert!(!r.outside("deep").exists());
    assert!(!repo.branch_exists("roam/hooked").unwrap());
    assert_eq!(
        r.git(&["worktree", "list", "--porcelain"])
            .matches("worktree ")
            .count(),
        1
    );
}

#[test]
fn remove_worktree_removes_dirty_worktree_and_tolerates_missing() {
    let r = TestRepo::new();
    let repo = Repo::discover(&r.dir).unwrap();
    let wt = r.outside("wt");
    repo.add_worktree(&wt, "roam/rm", "main").unwrap();
    std::fs::write(wt.join("README"), "dirty\n").unwrap();
    std::fs::write(wt.join("untracked"), "u").unwrap();

    repo.remove_worktree(&wt).unwrap();
    assert!(!wt.exists());
    assert!(!r.git(&["worktree", "list"]).contains("wt"));
    // Removing again is fine.
    repo.remove_worktree(&wt).unwrap();
    // The branch survives until deleted explicitly.
    assert!(repo.branch_exists("roam/rm").unwrap());
    repo.delete_branch("roam/rm").unwrap();
    assert!(!repo.branch_exists("roam/rm").unwrap());
}

#[test]
fn remove_worktree_prunes_when_directory_deleted_by_hand() {
    let r = TestRepo::new();
    let repo = Repo::discover(&r.dir).unwrap();
    let wt = r.outside("wt");
    repo.add_worktree(&wt, "roam/gone", "main").unwrap();
    std::fs::remove_dir_all(&wt).unwrap();

    repo.remove_worktree(&wt).unwrap();

    assert_eq!(
        r.git(&["worktree", "list", "--porcelain"])
            .matches("worktree ")
            .count(),
        1
    );
    // With the stale registration pruned, the branch can be deleted.
    repo.delete_branch("roam/gone").unwrap();
}

#[test]
fn delete_missing_branch_says_so() {
    let r = TestRepo::new();
    let repo = Repo::discover(&r.dir).unwrap();
    let err = repo.delete_branch("roam/none").unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("branch 'roam/none' does not exist in {}", r.dir.display())
    );
}

#[test]
fn update_ref_points_ref_at_oid() {
    let r = TestRepo::new();
    let repo = Repo::discover(&r.dir).unwrap();
    let head = repo.resolve("HEAD").unwrap();
    repo.update_ref("refs/roam/snapshots/x", &head).unwrap();
    assert_eq!(r.git(&["rev-parse", "refs/roam/snapshots/x"]), head.0);
}

#[test]
fn is_merged_distinguishes_merged_and_unmerged_branches() {
    let r = TestRepo::new();
    let repo = Repo::discover(&r.dir).unwrap();
    let wt = r.outside("wt");
    repo.add_worktree(&wt, "roam/feat", "main").unwrap();
    // A fresh branch has nothing of its own.
    assert!(repo.is_merged("roam/feat", "main").unwrap());

    commit_file_in(&wt, "feature.txt", "f\n", "feature");
    assert!(!repo.is_merged("roam/feat", "main").unwrap());
    // main moving on alone doesn't merge it.
    r.commit_file("other.txt", "o\n", "other");
    assert!(!repo.is_merged("roam/feat", "main").unwrap());

    r.git(&["merge", "-q", "--no-edit", "roam/feat"]);
    assert!(repo.is_merged("roam/feat", "main").unwrap());
    assert!(matches!(
        repo.is_merged("roam/feat", "nope"),
        Err(GitError::BadRef { .. })
    ));
}
