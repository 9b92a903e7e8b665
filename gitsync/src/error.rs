//! The single error type of this crate.

use std::path::PathBuf;

/// Everything that can go wrong while driving git.
///
/// Messages are meant to be shown to a user as-is, so each variant carries the
/// name, ref or path the user has to look at.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// The path does not exist or is not inside a git repository.
    #[error("not a git repository: {}", path.display())]
    NotARepo { path: PathBuf },

    /// The path is inside a repository but has no working tree (e.g. a bare repository).
    #[error("not a git worktree: {}", path.display())]
    NotAWorktree { path: PathBuf },

    /// A workspace name failed validation.
    #[error("invalid workspace name '{name}': {reason}")]
    InvalidName { name: String, reason: String },

    /// A revision does not name a commit in the repository.
    #[error("ref '{rev}' does not exist in {}", repo.display())]
    BadRef { rev: String, repo: PathBuf },

    /// The repository has no commits yet, so `HEAD` names nothing.
    #[error("repository has no commits yet: {}", repo.display())]
    NoCommits { repo: PathBuf },

    /// A branch we were asked to create already exists.
    #[error("branch '{branch}' already exists in {}", repo.display())]
    BranchExists { branch: String, repo: PathBuf },

    /// A branch we were asked to delete does not exist.
    #[error("branch '{branch}' does not exist in {}", repo.display())]
    BranchNotFound { branch: String, repo: PathBuf },

    /// A path we were asked to create already exists.
    #[error("path already exists: {}", path.display())]
    PathExists { path: PathBuf },

    /// git ran but exited unsuccessfully; `stderr` holds its full (trimmed) stderr,
    /// the message shows only the line that explains the failure.
    #[error("git failed: {command}: {}", summarize(.stderr))]
    GitFailed { command: String, stderr: String },

    /// git printed something this crate does not understand.
    #[error("unexpected output from {command}: {output}")]
    UnexpectedOutput { command: String, output: String },

    /// The git executable could not be started at all.
    #[error("could not run git (is it installed and on PATH?): {source}")]
    Spawn { source: std::io::Error },

    /// The worktree is in the middle of a merge, rebase, cherry-pick, revert or
    /// bisect. A snapshot refuses rather than silently dropping that state
    /// (conflict stages, `MERGE_HEAD`, the rebase todo list).
    #[error("cannot snapshot {}: a {operation} is in progress; finish or abort it first", path.display())]
    OperationInProgress { operation: String, path: PathBuf },

    /// A commit is not a snapshot made by [`crate::capture`].
    #[error("commit {oid} is not a roam snapshot: {reason}")]
    NotASnapshot { oid: String, reason: String },

    /// A filesystem operation done by this crate itself failed.
    #[error("i/o error on {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Picks the line of git's stderr that explains the failure.
///
/// git often prints progress ("Preparing worktree ...") before the actual
/// `fatal:`/`error:` line, so the first line alone is frequently useless.
fn summarize(stderr: &str) -> &str {
    let mut lines = stderr.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.clone().next();
    lines
        .find(|l| l.starts_with("fatal:") || l.starts_with("error:"))
        .or(first)
        .unwrap_or("(no error output)")
}

#[cfg(test)]
mod tests {
    use super::summarize;

    #[test]
    fn summarize_prefers_fatal_line_over_progress() {
        let s = "Preparing worktree (new branch 'x')\nfatal: invalid reference: nope\n";
        assert_eq!(summarize(s), "fatal: invalid reference: nope");
    }

    #[test]
    fn summarize_falls_back_to_first_line() {
        assert_eq!(summarize("\n  something odd\nmore"), "something odd");
        assert_eq!(summarize(""), "(no error output)");
    }
}
