//! Capturing a worktree's full state as one commit without touching the user's branch, index or files.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::oid::{self, Oid, parse_output};
use crate::{GitError, Result, Worktree};

impl Worktree {
    /// Captures HEAD, staged and unstaged changes and untracked non-ignored files
    /// into one commit whose first parent is HEAD (no parent if the repository
    /// has no commits), and returns its id.
    ///
    /// The user's branch, index and files are left untouched: the work happens
    /// on a copy of the index. The commit is not referenced by anything, so
    /// callers should [`crate::Repo::update_ref`] it if it must survive `git gc`.
    pub fn snapshot(&self, message: &str) -> Result<Oid> {
        let git_dir = PathBuf::from(
            self.git()
                .args(["rev-parse", "--path-format=absolute", "--git-dir"])
                .run()?,
        );
        let index = PathBuf::from(
            self.git()
                .args(["rev-parse", "--path-format=absolute", "--git-path", "index"])
                .run()?,
        );
        // Kept next to the real index so anything git resolves relative to the
        // git dir (e.g. split-index shared files) still works.
        let temp = TempIndex::copy_of(&git_dir, &index)?;
        self.git()
            .env("GIT_INDEX_FILE", &temp.path)
            .args(["add", "-A"])
            .run()?;
        let write_tree = self
            .git()
            .env("GIT_INDEX_FILE", &temp.path)
            .arg("write-tree");
        let display = write_tree.display().to_owned();
        let tree = parse_output(&display, &write_tree.run()?)?;
        drop(temp);

        let head = oid::try_resolve(|| self.git(), "HEAD")?;
        // A snapshot must not prompt for a GPG passphrase or fail for a missing signing key.
        let mut commit = self.git().envs(&self.ident_fallback()?).args([
            "commit-tree",
            "--no-gpg-sign",
            tree.as_str(),
        ]);
        if let Some(head) = &head {
            commit = commit.args(["-p", head.as_str()]);
        }
        let commit = commit.args(["-m", message]);
        let display = commit.display().to_owned();
        parse_output(&display, &commit.run()?)
    }

    /// Environment that gives commit-tree an identity when git has none, so a
    /// snapshot never fails on a machine without `user.name`/`user.email`.
    /// Whatever the user did configure is left alone.
    pub(crate) fn ident_fallback(&self) -> Result<Vec<(OsString, OsString)>> {
        let mut ident_ok = true;
        for var in ["GIT_AUTHOR_IDENT", "GIT_COMMITTER_IDENT"] {
            let (out, _) = self.git().args(["var", var]).output()?;
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
            let (out, _) = self.git().args(["config", "--get", key]).output()?;
            if out.status.success() && !out.stdout.trim_ascii().is_empty() {
                continue;
            }
            for var in vars {
                let set_by_user = self.extra_env.iter().any(|(k, _)| k == var)
                    || std::env::var_os(var).is_some_and(|v| !v.is_empty());
                if !set_by_user {
                    env.push((OsString::from(var), OsString::from(fallback)));
                }
            }
        }
        tracing::debug!(path = %self.path.display(), "no git identity configured; using roam fallback");
        Ok(env)
    }
}

/// A uniquely named temporary index file, deleted (with any stale lock) on drop.
pub(crate) struct TempIndex {
    pub(crate) path: PathBuf,
}

impl TempIndex {
    /// A copy of the index at `index`, in `dir`. No index yet (nothing ever
    /// staged) gives an empty one: a missing GIT_INDEX_FILE is an empty index.
    pub(crate) fn copy_of(dir: &Path, index: &Path) -> crate::Result<TempIndex> {
        let temp = TempIndex::new(dir);
        match std::fs::copy(index, &temp.path) {
            Ok(_) => Ok(temp),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(temp),
            Err(source) => Err(GitError::Io {
                path: index.to_path_buf(),
                source,
            }),
        }
    }

    pub(crate) fn new(dir: &Path) -> TempIndex {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("roam-snapshot-index.{}.{nanos}.{n}", std::process::id());
        TempIndex {
            path: dir.join(name),
        }
    }
}

impl Drop for TempIndex {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
        let mut lock = self.path.clone().into_os_string();
        lock.push(".lock");
        let _ = std::fs::remove_file(lock);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::ffi::OsString;
    use std::process::Command;

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

    /// Catches snapshots failing with "please tell me who you are" on machines
    /// (CI, fresh containers) that have no git identity configured.
    #[test]
    fn snapshot_succeeds_without_configured_identity() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        git(dir, &["init", "-q"]);
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
        let oid = wt.snapshot("roam snapshot").unwrap();
        assert_eq!(git(dir, &["show", &format!("{oid}:f.txt")]), "x");
        assert_eq!(
            git(dir, &["log", "-1", "--format=%an <%ae>", oid.as_str()]),
            "roam <roam@localhost>"
        );
    }
}
