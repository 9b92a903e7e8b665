//! The main repository: discovering it, resolving refs, branches and linked worktrees.

use std::path::{Path, PathBuf};

use crate::cmd::{self, Git};
use crate::oid::{self, Oid};
use crate::{GitError, Result};

/// A git repository, always identified by its main worktree (or its directory if bare).
#[derive(Clone, Debug)]
pub struct Repo {
    root: PathBuf,
}

impl Repo {
    /// Finds the repository containing `path` (any subdirectory, file, or linked worktree).
    ///
    /// For a linked worktree this returns the *main* repository, so every
    /// workspace of one project maps to the same `Repo`. For a bare repository
    /// the root is the bare directory.
    pub fn discover(path: &Path) -> Result<Repo> {
        let not_a_repo = || GitError::NotARepo {
            path: path.to_owned(),
        };
        let dir = if path.is_dir() {
            path
        } else if path.exists() {
            path.parent().ok_or_else(not_a_repo)?
        } else {
            return Err(not_a_repo());
        };
        // The first entry of `worktree list` is always the main worktree (or the
        // bare directory), however the worktree we start from is laid out.
        let (out, display) = Git::new(dir)
            .args(["worktree", "list", "--porcelain", "-z"])
            .output()?;
        if !out.status.success() {
            if String::from_utf8_lossy(&out.stderr).contains("not a git repository") {
                return Err(not_a_repo());
            }
            return Err(cmd::failed(display, &out));
        }
        let main = out
            .stdout
            .split(|b| *b == 0)
            .find_map(|field| field.strip_prefix(b"worktree "))
            .ok_or_else(|| GitError::UnexpectedOutput {
                command: display.clone(),
                output: String::from_utf8_lossy(&out.stdout).into_owned(),
            })?;
        let root = cmd::canonical(&cmd::bytes_to_path(main))?;
        Ok(Repo { root })
    }

    /// The main worktree's top-level directory (the bare directory for a bare repository), canonicalized.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn git(&self) -> Git {
        Git::new(&self.root)
    }

    /// Resolves `rev` to the commit it names (`rev^{commit}`).
    pub fn resolve(&self, rev: &str) -> Result<Oid> {
        oid::resolve(|| self.git(), rev, &self.root)
    }

    /// Short name of the branch checked out in the main worktree; `None` if HEAD is detached.
    pub fn current_branch(&self) -> Result<Option<String>> {
        let (out, display) = self
            .git()
            .args(["symbolic-ref", "--quiet", "--short", "HEAD"])
            .output()?;
        match out.status.code() {
            Some(0) => Ok(Some(String::from_utf8_lossy(&out.stdout).trim().to_owned())),
            // Exit 1 with --quiet means "HEAD is not a symbolic ref", i.e. detached.
            Some(1) => Ok(None),
            _ => Err(cmd::failed(display, &out)),
        }
    }

    /// Whether `refs/heads/<branch>` exists.
    pub fn branch_exists(&self, branch: &str) -> Result<bool> {
        let (out, display) = self
            .git()
            .args(["show-ref", "--verify", "--quiet"])
            .arg(format!("refs/heads/{branch}"))
            .output()?;
        match out.status.code() {
            Some(0) => Ok(true),
            Some(1) => Ok(false),
            _ => Err(cmd::failed(display, &out)),
        }
    }

    /// Creates a linked worktree at `path` on a new branch `branch` starting at `base`
    /// (`git worktree add -b <branch> <path> <base>`).
    ///
    /// Refuses with [`GitError::BranchExists`] / [`GitError::PathExists`] rather
    /// than reusing anything, and removes whatever it created if git fails.
    pub fn add_worktree(&self, path: &Path, branch: &str, base: &str) -> Result<()> {
        self.add_worktree_with(path, branch, || self.resolve(base))
    }

    /// The same, from a base already resolved (one git call fewer).
    pub fn add_worktree_at(&self, path: &Path, branch: &str, base: &Oid) -> Result<()> {
        self.add_worktree_with(path, branch, || Ok(base.clone()))
    }

    fn add_worktree_with(
        &self,
        path: &Path,
        branch: &str,
        base: impl FnOnce() -> Result<Oid>,
    ) -> Result<()> {
        let path = absolute(path)?;
        if self.branch_exists(branch)? {
            return Err(GitError::BranchExists {
                branch: branch.to_owned(),
                repo: self.root.clone(),
            });
        }
        if path.symlink_metadata().is_ok() {
            return Err(GitError::PathExists { path });
        }
        // Pass the resolved id, not the name: no upstream tracking gets set up
        // for remote bases, and a missing base gets our clearer error.
        let base_oid = base()?;
        // git creates missing parent directories too; remember the topmost one
        // so a failure leaves the filesystem as we found it.
        let created = topmost_missing(&path);
        let result = self
            .git()
            .args(["worktree", "add", "--quiet", "-b", branch])
            .arg(&path)
            .arg(base_oid.as_str())
            .run();
        if let Err(err) = result {
            self.undo_add_worktree(&created, branch);
            return Err(err);
        }
        Ok(())
    }

    /// Best-effort cleanup after a failed `worktree add`; errors are logged
    /// because the original failure is the one worth reporting.
    fn undo_add_worktree(&self, created: &Path, branch: &str) {
        if created.symlink_metadata().is_ok()
            && let Err(e) = std::fs::remove_dir_all(created)
        {
            tracing::warn!(path = %created.display(), error = %e, "could not remove partial worktree");
        }
        // Prune before deleting the branch: git refuses to delete a branch that a
        // (now directory-less) registered worktree still has checked out.
        if let Err(e) = self.git().args(["worktree", "prune"]).run() {
            tracing::warn!(error = %e, "git worktree prune failed");
        }
        if matches!(self.branch_exists(branch), Ok(true))
            && let Err(e) = self.git().args(["branch", "-D", branch]).run()
        {
            tracing::warn!(%branch, error = %e, "could not delete branch of failed worktree");
        }
    }

    /// Removes the linked worktree at `path`, discarding its changes, then prunes
    /// stale worktree metadata. Succeeds if the directory is already gone.
    pub fn remove_worktree(&self, path: &Path) -> Result<()> {
        let path = absolute(path)?;
        if path.symlink_metadata().is_ok() {
            self.git()
                .args(["worktree", "remove", "--force"])
                .arg(&path)
                .run()?;
        }
        self.git().args(["worktree", "prune"]).run()?;
        Ok(())
    }

    /// Deletes `branch` even if unmerged (`git branch -D`).
    pub fn delete_branch(&self, branch: &str) -> Result<()> {
        if !self.branch_exists(branch)? {
            return Err(GitError::BranchNotFound {
                branch: branch.to_owned(),
                repo: self.root.clone(),
            });
        }
        self.git().args(["branch", "-D", branch]).run()?;
        Ok(())
    }

    /// Deletes the ref `name`; a ref that is not there is fine.
    pub fn delete_ref(&self, name: &str) -> Result<()> {
        self.git().args(["update-ref", "-d", name]).run()?;
        Ok(())
    }

    /// Points the ref `name` (e.g. `refs/roam/snapshots/x`) at `oid`, creating it if needed.
    pub fn update_ref(&self, name: &str, oid: &Oid) -> Result<()> {
        self.git().args(["update-ref", name, oid.as_str()]).run()?;
        Ok(())
    }

    /// True when every commit of `branch` is reachable from `base` (`git rev-list base..branch` is empty).
    pub fn is_merged(&self, branch: &str, base: &str) -> Result<bool> {
        Ok(self.commits_between(base, branch)? == 0)
    }

    /// How many commits `to` has that `from` does not (`git rev-list --count from..to`).
    pub fn commits_between(&self, from: &str, to: &str) -> Result<u32> {
        let from_oid = self.resolve(from)?;
        let to_oid = self.resolve(to)?;
        let command = self
            .git()
            .args(["rev-list", "--count"])
            .arg(format!("{from_oid}..{to_oid}"));
        let display = command.display().to_owned();
        let count = command.run()?;
        count
            .parse::<u32>()
            .map_err(|_| GitError::UnexpectedOutput {
                command: display,
                output: count,
            })
    }
}

/// Makes `path` absolute against the current directory, because git would
/// otherwise interpret it relative to the repository root.
fn absolute(path: &Path) -> Result<PathBuf> {
    std::path::absolute(path).map_err(|source| GitError::Io {
        path: path.to_owned(),
        source,
    })
}

/// The outermost ancestor of `path` (or `path` itself) that does not exist yet.
fn topmost_missing(path: &Path) -> PathBuf {
    let mut missing = path.to_owned();
    let mut current = path;
    while let Some(parent) = current.parent() {
        if parent.as_os_str().is_empty() || parent.symlink_metadata().is_ok() {
            break;
        }
        missing = parent.to_owned();
        current = parent;
    }
    missing
}
