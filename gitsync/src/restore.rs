//! Recreating a captured worktree: same HEAD branch, same index, same files
//! (bytes, executable bits, symlinks), in a new linked worktree.

use std::path::Path;

use crate::capture::Snapshot;
use crate::cmd::Git;
use crate::temp_index::TempIndex;
use crate::{GitError, Result, Worktree};

/// Creates a worktree of the repository at `repo_dir` (typically a
/// [`crate::Mirror`]) at `path`, holding exactly the state in `snapshot`.
///
/// HEAD is the recorded branch (created at the snapshot's HEAD if missing;
/// [`GitError::BranchExists`] if it exists elsewhere, so nothing the receiver
/// had is moved) or detached. The index becomes the snapshot's index and the
/// files its working tree, so staged, unstaged and untracked come back as they
/// were. If any step fails the new worktree is removed again.
pub fn restore(repo_dir: &Path, snapshot: &Snapshot, path: &Path) -> Result<Worktree> {
    let path = std::path::absolute(path).map_err(|source| GitError::Io {
        path: path.to_owned(),
        source,
    })?;
    if path.symlink_metadata().is_ok() {
        return Err(GitError::PathExists { path });
    }
    let git = || Git::new(repo_dir);
    let add = git().args(["worktree", "add", "--quiet", "--no-checkout"]);
    let add = match &snapshot.branch {
        None => add.arg("--detach").arg(&path).arg(snapshot.head.as_str()),
        Some(full) => {
            let short = full.strip_prefix("refs/heads/").unwrap_or(full);
            let existing = crate::oid::try_resolve(git, full)?;
            match existing {
                Some(at) if at == snapshot.head => add.arg(&path).arg(short),
                Some(_) => {
                    return Err(GitError::BranchExists {
                        branch: short.to_owned(),
                        repo: repo_dir.to_owned(),
                    });
                }
                None => add
                    .args(["-b", short])
                    .arg(&path)
                    .arg(snapshot.head.as_str()),
            }
        }
    };
    add.run()?;
    let result = fill(&path, snapshot);
    if result.is_err() {
        // Best effort: the original error is the one worth reporting.
        let _ = git()
            .args(["worktree", "remove", "--force"])
            .arg(&path)
            .run();
        let _ = git().args(["worktree", "prune"]).run();
    }
    result
}

/// Writes the files and the index of a freshly added, empty worktree.
fn fill(path: &Path, snapshot: &Snapshot) -> Result<Worktree> {
    let wt = Worktree::open(path)?;
    let git_dir = wt
        .git()
        .args(["rev-parse", "--path-format=absolute", "--git-dir"])
        .run()?;
    // Files come from the working tree via a throwaway index, so the real
    // index can then be set to what was staged, independently.
    let temp = TempIndex::new(Path::new(&git_dir));
    wt.git()
        .env("GIT_INDEX_FILE", &temp.path)
        .args(["read-tree", snapshot.worktree_tree.as_str()])
        .run()?;
    wt.git()
        .env("GIT_INDEX_FILE", &temp.path)
        .args(["checkout-index", "--all", "--force"])
        .run()?;
    drop(temp);
    wt.git()
        .args(["read-tree", snapshot.index_tree.as_str()])
        .run()?;
    // read-tree leaves no stat data, so every file would look modified until
    // git re-hashes it; refresh now. Exit 1 just means "some files differ from
    // the index", which is the unstaged work we restored on purpose.
    let (out, _) = wt
        .git()
        .args(["update-index", "-q", "--refresh"])
        .output()?;
    tracing::debug!(status = ?out.status.code(), path = %path.display(), "index refreshed");
    Ok(wt)
}
