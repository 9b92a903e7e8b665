//! Capturing a worktree's whole state — HEAD branch, index, working files — as
//! git objects on a hidden ref, without touching the user's branch, index or files.
//!
//! Layout of a snapshot commit `S` (so it travels as ordinary git objects):
//!
//! - `S^{tree}`: the working tree — tracked files as they are on disk plus
//!   untracked non-ignored files (and, if asked, small ignored files).
//! - `S^1`: HEAD, the commit the worktree was on.
//! - `S^2`: a commit whose tree is the index (what was staged), parent HEAD.
//! - the message: `roam-snapshot: 1` and `roam-head: <refs/heads/..|detached>`.
//!
//! Staged, unstaged and untracked stay apart: staged = `S^2` vs `S^1`,
//! unstaged = `S` vs `S^2` for paths in `S^2`, untracked = paths in `S` that
//! are not in `S^2`. Restoring `S^2` as the index and `S` as the files brings
//! back exactly that split. Not carried: index flags (intent-to-add,
//! skip-worktree, assume-unchanged), empty directories, stash, other branches.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::cmd::{self, Git};
use crate::oid::{self, Oid, parse_output};
use crate::temp_index::TempIndex;
use crate::{GitError, Result, Worktree};

/// First line of every snapshot message trailer block; bumped if the layout changes.
const FORMAT_LINE: &str = "roam-snapshot: 1";
const HEAD_KEY: &str = "roam-head: ";
const DETACHED: &str = "detached";

/// What [`capture`] includes beyond tracked and untracked non-ignored files.
#[derive(Clone, Debug, Default)]
pub struct CaptureOptions {
    /// Also capture ignored files no larger than this many bytes (e.g. `.env`
    /// files an agent needs); `None` honours `.gitignore` completely.
    pub include_ignored_below: Option<u64>,
}

/// A captured worktree state, as stored in the snapshot commit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// The snapshot commit `S`.
    pub commit: Oid,
    /// The commit HEAD pointed at.
    pub head: Oid,
    /// The full branch ref HEAD was on (`refs/heads/main`); `None` when detached.
    pub branch: Option<String>,
    /// The tree of the index (what was staged).
    pub index_tree: Oid,
    /// The tree of the working files (tracked and untracked).
    pub worktree_tree: Oid,
}

/// Captures `wt` into a snapshot commit and points `ref_name` (e.g.
/// `refs/roam/sync/NAME`) at it.
///
/// Refuses a repository without commits ([`GitError::NoCommits`]: there is no
/// history to name the repo by) and a worktree in the middle of a merge,
/// rebase, cherry-pick, revert or bisect ([`GitError::OperationInProgress`]).
/// A file git cannot read fails the capture with git's message naming it.
pub fn capture(wt: &Worktree, ref_name: &str, opts: &CaptureOptions) -> Result<Snapshot> {
    refuse_operation_in_progress(wt)?;
    let head = oid::try_resolve(|| wt.git(), "HEAD")?.ok_or_else(|| GitError::NoCommits {
        repo: wt.path.clone(),
    })?;
    let branch = head_branch(wt)?;

    let git_dir = git_path(wt, None)?;
    let index = git_path(wt, Some("index"))?;
    // Everything below works on a copy: even `write-tree` on the real index
    // would rewrite it (it stores the cache tree), and the user's index is theirs.
    let temp = TempIndex::copy_of(&git_dir, &index)?;
    let index_tree = write_tree(wt, &temp.path)?;
    wt.git()
        .env("GIT_INDEX_FILE", &temp.path)
        .args(["add", "-A"])
        .run()?;
    if let Some(limit) = opts.include_ignored_below {
        add_small_ignored(wt, &temp.path, limit)?;
    }
    let worktree_tree = write_tree(wt, &temp.path)?;
    drop(temp);

    let ident = ident_fallback(wt)?;
    let index_commit = commit_tree(wt, &ident, &index_tree, &[&head], "roam index")?;
    let message = format!(
        "roam snapshot\n\n{FORMAT_LINE}\n{HEAD_KEY}{}\n",
        branch.as_deref().unwrap_or(DETACHED)
    );
    let commit = commit_tree(
        wt,
        &ident,
        &worktree_tree,
        &[&head, &index_commit],
        &message,
    )?;
    wt.git()
        .args(["update-ref", ref_name, commit.as_str()])
        .run()?;
    Ok(Snapshot {
        commit,
        head,
        branch,
        index_tree,
        worktree_tree,
    })
}

impl Snapshot {
    /// Reads the snapshot stored in commit `rev` of the repository at `dir`.
    pub fn load(dir: &Path, rev: &str) -> Result<Snapshot> {
        let commit = oid::resolve(|| Git::new(dir), rev, dir)?;
        let not_snapshot = |reason: &str| GitError::NotASnapshot {
            oid: commit.0.clone(),
            reason: reason.to_owned(),
        };
        let raw = Git::new(dir)
            .args(["cat-file", "commit", commit.as_str()])
            .run_bytes()?;
        let raw = String::from_utf8_lossy(&raw);
        let (headers, message) = raw
            .split_once("\n\n")
            .ok_or_else(|| not_snapshot("commit has no message"))?;
        let mut tree = None;
        let mut parents = Vec::new();
        for line in headers.lines() {
            if let Some(t) = line.strip_prefix("tree ") {
                tree = Oid::parse(t);
            } else if let Some(p) = line.strip_prefix("parent ") {
                parents.push(Oid::parse(p).ok_or_else(|| not_snapshot("bad parent line"))?);
            }
        }
        let worktree_tree = tree.ok_or_else(|| not_snapshot("no tree"))?;
        let [head, index_commit] = <[Oid; 2]>::try_from(parents)
            .map_err(|_| not_snapshot("a snapshot has exactly two parents"))?;
        if !message.lines().any(|l| l == FORMAT_LINE) {
            return Err(not_snapshot("missing 'roam-snapshot: 1' line"));
        }
        let head_line = message
            .lines()
            .find_map(|l| l.strip_prefix(HEAD_KEY))
            .ok_or_else(|| not_snapshot("missing 'roam-head:' line"))?;
        let branch = match head_line {
            DETACHED => None,
            b if b.starts_with("refs/heads/") => Some(b.to_owned()),
            _ => {
                return Err(not_snapshot(
                    "'roam-head:' is neither a branch nor detached",
                ));
            }
        };
        let index_tree = Git::new(dir)
            .arg("rev-parse")
            .arg(format!("{index_commit}^{{tree}}"))
            .run()?;
        let index_tree = Oid::parse(&index_tree).ok_or_else(|| not_snapshot("bad index tree"))?;
        Ok(Snapshot {
            commit,
            head,
            branch,
            index_tree,
            worktree_tree,
        })
    }
}

/// Marker files git leaves while an operation waits for the user.
const IN_PROGRESS: &[(&str, &str)] = &[
    ("MERGE_HEAD", "merge"),
    ("rebase-merge", "rebase"),
    ("rebase-apply", "rebase or am"),
    ("CHERRY_PICK_HEAD", "cherry-pick"),
    ("REVERT_HEAD", "revert"),
    ("BISECT_LOG", "bisect"),
];

fn refuse_operation_in_progress(wt: &Worktree) -> Result<()> {
    for (marker, operation) in IN_PROGRESS {
        if git_path(wt, Some(marker))?.symlink_metadata().is_ok() {
            return Err(GitError::OperationInProgress {
                operation: (*operation).to_owned(),
                path: wt.path.clone(),
            });
        }
    }
    Ok(())
}

/// `git rev-parse --git-path <name>` (or `--git-dir` for `None`), absolute.
fn git_path(wt: &Worktree, name: Option<&str>) -> Result<PathBuf> {
    let git = wt.git().args(["rev-parse", "--path-format=absolute"]);
    let git = match name {
        Some(name) => git.args(["--git-path", name]),
        None => git.arg("--git-dir"),
    };
    let out = git.run_bytes()?;
    Ok(cmd::bytes_to_path(out.trim_ascii_end()))
}

fn head_branch(wt: &Worktree) -> Result<Option<String>> {
    let (out, display) = wt
        .git()
        .args(["symbolic-ref", "--quiet", "HEAD"])
        .output()?;
    match out.status.code() {
        Some(0) => Ok(Some(String::from_utf8_lossy(&out.stdout).trim().to_owned())),
        Some(1) => Ok(None),
        _ => Err(cmd::failed(display, &out)),
    }
}

fn write_tree(wt: &Worktree, index: &Path) -> Result<Oid> {
    let git = wt.git().env("GIT_INDEX_FILE", index).arg("write-tree");
    let display = git.display().to_owned();
    parse_output(&display, &git.run()?)
}

fn commit_tree(
    wt: &Worktree,
    ident: &[(OsString, OsString)],
    tree: &Oid,
    parents: &[&Oid],
    message: &str,
) -> Result<Oid> {
    let mut git = wt
        .git()
        .envs(ident)
        .args(["commit-tree", "--no-gpg-sign", tree.as_str()]);
    for p in parents {
        git = git.args(["-p", p.as_str()]);
    }
    let git = git.args(["-m", message]);
    let display = git.display().to_owned();
    parse_output(&display, &git.run()?)
}

/// Environment that gives commit-tree an identity when git has none, so a
/// capture never fails on a machine without `user.name`/`user.email`.
/// Whatever the user did configure is left alone.
fn ident_fallback(wt: &Worktree) -> Result<Vec<(OsString, OsString)>> {
    let mut ident_ok = true;
    for var in ["GIT_AUTHOR_IDENT", "GIT_COMMITTER_IDENT"] {
        let (out, _) = wt.git().args(["var", var]).output()?;
        ident_ok &= out.status.success();
    }
    let mut env = Vec::new();
    if ident_ok {
        return Ok(env);
    }
    for (key, fallback, vars) in [
        (
            "user.name",
            "roam",
            ["GIT_AUTHOR_NAME", "GIT_COMMITTER_NAME"],
        ),
        (
            "user.email",
            "roam@localhost",
            ["GIT_AUTHOR_EMAIL", "GIT_COMMITTER_EMAIL"],
        ),
    ] {
        let (out, _) = wt.git().args(["config", "--get", key]).output()?;
        if out.status.success() && !out.stdout.trim_ascii().is_empty() {
            continue;
        }
        for var in vars {
            let set_by_user = wt.extra_env.iter().any(|(k, _)| k == var)
                || std::env::var_os(var).is_some_and(|v| !v.is_empty());
            if !set_by_user {
                env.push((OsString::from(var), OsString::from(fallback)));
            }
        }
    }
    tracing::debug!(path = %wt.path.display(), "no git identity configured; using roam fallback");
    Ok(env)
}

/// Adds ignored files up to `limit` bytes to the temporary index.
fn add_small_ignored(wt: &Worktree, index: &Path, limit: u64) -> Result<()> {
    // After `add -A` every untracked non-ignored file is in the temp index, so
    // "others" now lists exactly the ignored files.
    let listed = wt
        .git()
        .env("GIT_INDEX_FILE", index)
        .args([
            "ls-files",
            "-z",
            "--others",
            "--ignored",
            "--exclude-standard",
        ])
        .run_bytes()?;
    let mut small = Vec::new();
    for rel in listed.split(|b| *b == 0).filter(|p| !p.is_empty()) {
        let rel = cmd::bytes_to_path(rel);
        let meta = wt.path.join(&rel).symlink_metadata();
        if meta.is_ok_and(|m| m.len() <= limit && (m.is_file() || m.is_symlink())) {
            small.push(rel);
        }
    }
    // Bounded batches keep the command line under the kernel's limit.
    for batch in small.chunks(256) {
        wt.git()
            .env("GIT_INDEX_FILE", index)
            .args(["add", "-f", "--"])
            .args(batch)
            .run()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::ffi::OsString;
    use std::process::Command;

    use super::{CaptureOptions, capture};
    use crate::Worktree;

    fn git(dir: &std::path::Path, args: &[&str]) -> String {
        let out = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    /// Catches captures failing with "please tell me who you are" on machines
    /// (CI, fresh containers) that have no git identity configured. A unit
    /// test because only the crate can give a worktree its own environment.
    #[test]
    fn capture_succeeds_without_configured_identity() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        git(dir, &["init", "-q"]);
        // Capture needs a HEAD; this one commit names its author explicitly.
        git(
            dir,
            &[
                "-c",
                "user.name=someone",
                "-c",
                "user.email=someone@example.com",
                "commit",
                "-q",
                "--no-gpg-sign",
                "--allow-empty",
                "-m",
                "root",
            ],
        );
        // useConfigOnly forbids guessing an identity from the hostname, so
        // without our fallback commit-tree fails on every machine.
        git(dir, &["config", "user.useConfigOnly", "true"]);
        std::fs::write(dir.join("f.txt"), "x\n").unwrap();
        let empty = tmp.path().join("empty-gitconfig");
        std::fs::write(&empty, "").unwrap();

        let mut wt = Worktree::open(dir).unwrap();
        wt.extra_env = vec![
            (OsString::from("GIT_CONFIG_GLOBAL"), empty.into_os_string()),
            (OsString::from("GIT_CONFIG_NOSYSTEM"), OsString::from("1")),
        ];
        let snap = capture(&wt, "refs/roam/sync/ws", &CaptureOptions::default()).unwrap();
        assert_eq!(git(dir, &["show", &format!("{}:f.txt", snap.commit)]), "x");
        // Both commits capture writes need an identity: S and the index commit S^2.
        for rev in [snap.commit.0.clone(), format!("{}^2", snap.commit)] {
            assert_eq!(
                git(dir, &["log", "-1", "--format=%an <%ae>|%cn <%ce>", &rev]),
                "roam <roam@localhost>|roam <roam@localhost>",
                "{rev}"
            );
        }
    }
}
