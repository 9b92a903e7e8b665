//! One checked-out worktree (main or linked): its path and its status against a base.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::cmd::{self, Git};
use crate::oid;
use crate::{GitError, Result};

/// A working tree of a repository, identified by its top-level directory.
#[derive(Clone, Debug)]
pub struct Worktree {
    pub(crate) path: PathBuf,
    /// Extra environment for every git call; only tests set it, to simulate
    /// machines without a configured identity.
    pub(crate) extra_env: Vec<(OsString, OsString)>,
    /// Its git directory (`.git`, or `.git/worktrees/NAME` of a linked one).
    pub(crate) git_dir: PathBuf,
}

/// A path whose changes may change a worktree's status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusInput {
    pub path: PathBuf,
    /// With everything under it.
    pub recursive: bool,
    /// Only changes to these paths in it count.
    pub only: Option<Vec<PathBuf>>,
}

/// How a worktree differs from its base and from its own HEAD.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct WorktreeStatus {
    /// Commits on HEAD that are not on the base.
    pub ahead: u32,
    /// Commits on the base that are not on HEAD.
    pub behind: u32,
    /// Paths with staged, unstaged or untracked (non-ignored) changes.
    pub dirty_files: u32,
}

impl Worktree {
    /// Opens the worktree containing `path`; [`Worktree::path`] is its top-level directory.
    pub fn open(path: &Path) -> Result<Worktree> {
        if !path.is_dir() {
            return Err(GitError::NotARepo {
                path: path.to_owned(),
            });
        }
        let (out, display) = Git::new(path)
            .args(["rev-parse", "--show-toplevel", "--absolute-git-dir"])
            .output()?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let path = path.to_owned();
            return Err(if stderr.contains("not a git repository") {
                GitError::NotARepo { path }
            } else if stderr.contains("must be run in a work tree") {
                GitError::NotAWorktree { path }
            } else {
                cmd::failed(display, &out)
            });
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let mut lines = text.lines();
        let (Some(top), Some(git_dir)) = (lines.next(), lines.next()) else {
            return Err(GitError::UnexpectedOutput {
                command: display,
                output: text.into_owned(),
            });
        };
        Ok(Worktree {
            path: cmd::canonical(Path::new(top))?,
            extra_env: Vec::new(),
            git_dir: PathBuf::from(git_dir),
        })
    }

    /// The worktree's top-level directory, canonicalized.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn git(&self) -> Git {
        Git::new(&self.path).envs(&self.extra_env)
    }

    /// Keeps `patterns` (gitignore patterns for files an agent owns) out of
    /// `git status` by listing them in the repository's `info/exclude`,
    /// never in a committed file. Idempotent: a pattern already listed is
    /// not added again. `info/exclude` is shared by every worktree of the
    /// repository, so the patterns hold in the user's checkout too.
    pub fn exclude(&self, patterns: &[String]) -> Result<()> {
        if patterns.is_empty() {
            return Ok(());
        }
        let out = self
            .git()
            .args(["rev-parse", "--git-path", "info/exclude"])
            .run()?;
        // Relative to the worktree, where git ran (older gits have no
        // `--path-format=absolute`).
        let path = self.path.join(out.trim_end_matches('\n'));
        let io = |source| GitError::Io {
            path: path.clone(),
            source,
        };
        let listed = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(io(e)),
        };
        let missing: Vec<&String> = patterns
            .iter()
            .filter(|p| !listed.lines().any(|l| l == p.as_str()))
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        let mut text = String::new();
        if !listed.is_empty() && !listed.ends_with('\n') {
            text.push('\n');
        }
        text.push_str("# files Roam's agents own (roam profiles, `owns`)\n");
        for p in missing {
            text.push_str(p);
            text.push('\n');
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        use std::io::Write;
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut f| f.write_all(text.as_bytes()))
            .map_err(io)
    }

    /// Ahead/behind counts of HEAD relative to `base`, and the number of dirty paths.
    pub fn status(&self, base: &str) -> Result<WorktreeStatus> {
        // The base is resolved first, for an error that names it; HEAD is
        // left to rev-list (one git process fewer per workspace listed).
        let base_oid = oid::resolve(|| self.git(), base, &self.path)?;
        let command = self
            .git()
            .args(["rev-list", "--left-right", "--count"])
            .arg(format!("{base_oid}...HEAD"));
        let display = command.display().to_owned();
        let counts = command.run()?;
        // Output is "<only in base>\t<only in HEAD>".
        let parsed: Option<(u32, u32)> = counts
            .split_once('\t')
            .and_then(|(l, r)| Some((l.trim().parse().ok()?, r.trim().parse().ok()?)));
        let (behind, ahead) = parsed.ok_or(GitError::UnexpectedOutput {
            command: display,
            output: counts,
        })?;
        // Against Roam's own copy of the index (`status_index`): this is
        // what `roam ls` runs for every workspace.
        let mut dirty =
            self.git()
                .args(["status", "--porcelain=v1", "-z", "--untracked-files=all"]);
        if let Some(copy) = crate::status_index::current(&self.git_dir) {
            dirty = dirty
                .env("GIT_INDEX_FILE", copy)
                .env("GIT_OPTIONAL_LOCKS", "1");
        }
        let dirty_files = count_entries(&dirty.run_bytes()?);
        Ok(WorktreeStatus {
            ahead,
            behind,
            dirty_files,
        })
    }

    /// What [`Worktree::status`] against `base` reads, to watch for
    /// changes: the files (recursively), the worktree's HEAD and index,
    /// and of the repository's own git directory the refs of HEAD's branch
    /// and of the base, `packed-refs` and `info/exclude`. (Refs are shared
    /// by every worktree of the repository: another workspace's commit is
    /// no change to this one. The refs directory is watched whole, so a
    /// ref directory that `git pack-refs` removes and a commit makes again
    /// is followed.)
    pub fn status_inputs(&self, base: &str) -> Result<Vec<StatusInput>> {
        let out = self
            .git()
            .args([
                "rev-parse",
                "--git-common-dir",
                "--symbolic-full-name",
                "HEAD",
            ])
            .args([base, "--"])
            .run()?;
        let mut lines = out.lines();
        // Relative to the worktree, where git ran (older gits have no
        // `--path-format=absolute`).
        let common = self.path.join(lines.next().unwrap_or(".git"));
        // A detached HEAD or a commit as base names no ref.
        let refs = lines
            .filter(|l| l.starts_with("refs/"))
            .map(|r| common.join(r))
            .collect();
        let only = |dir: &Path, names: &[&str]| Some(names.iter().map(|n| dir.join(n)).collect());
        // Git replaces these files by rename: their directories are watched.
        let inputs = vec![
            StatusInput {
                path: self.path.clone(),
                recursive: true,
                only: None,
            },
            StatusInput {
                path: self.git_dir.clone(),
                recursive: false,
                only: only(&self.git_dir, &["HEAD", "index"]),
            },
            StatusInput {
                path: common.clone(),
                recursive: false,
                only: only(&common, &["packed-refs"]),
            },
            StatusInput {
                path: common.join("info"),
                recursive: false,
                only: only(&common.join("info"), &["exclude"]),
            },
            StatusInput {
                path: common.join("refs"),
                recursive: true,
                only: Some(refs),
            },
        ];
        Ok(inputs.into_iter().filter(|i| i.path.is_dir()).collect())
    }

    /// Whether anything is staged, modified, or untracked (and not ignored).
    /// Against the real index: what decides whether work is saved.
    pub fn is_dirty(&self) -> Result<bool> {
        // "normal" lists an untracked directory once instead of walking it; enough for yes/no.
        Ok(!self.porcelain("normal")?.is_empty())
    }

    fn porcelain(&self, untracked: &str) -> Result<Vec<u8>> {
        self.git()
            .args(["status", "--porcelain=v1", "-z"])
            .arg(format!("--untracked-files={untracked}"))
            .run_bytes()
    }
}

/// Counts the paths in `git status --porcelain=v1 -z` output.
///
/// Each entry is `XY <path>\0`; renames and copies are followed by an extra
/// `<original path>\0` field, which must not be counted as a second path.
fn count_entries(porcelain: &[u8]) -> u32 {
    let mut fields = porcelain.split(|b| *b == 0).filter(|f| !f.is_empty());
    let mut count = 0u32;
    while let Some(entry) = fields.next() {
        count = count.saturating_add(1);
        let xy = entry.get(..2).unwrap_or(entry);
        if xy.iter().any(|b| matches!(b, b'R' | b'C')) {
            fields.next();
        }
    }
    count
}

#[cfg(test)]
mod tests {
    use super::count_entries;

    #[test]
    fn rename_counts_once() {
        let out = b"R  new.txt\0old.txt\0 M a.txt\0?? b.txt\0";
        assert_eq!(count_entries(out), 3);
    }

    #[test]
    fn empty_status_counts_zero() {
        assert_eq!(count_entries(b""), 0);
    }
}
