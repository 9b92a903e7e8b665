//! The actors' view of SSH hosts. The node implements it over its pooled
//! SSH connections; actors never open a connection themselves.

use std::path::Path;

use roam_gitsync::WorktreeStatus;

use crate::model::WorkspaceRecord;
use crate::persist::BoxFuture;

/// Why something on an SSH host failed.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// The host could not be reached (or was never added).
    #[error("{message}")]
    Unreachable { host: String, message: String },
    /// The host was never added (`roam host add`).
    #[error("{message}")]
    NotAdded { host: String, message: String },
    /// The host holds work that must not be lost (rm without --force), or
    /// the worktree is in a state a snapshot cannot carry (a merge).
    #[error("{message}")]
    Refused { host: String, message: String },
    /// Something by that name is already on the host (a restore's path,
    /// or its branch checked out or moved elsewhere).
    #[error("{message}")]
    Conflict { host: String, message: String },
    /// A command on the host failed.
    #[error("{message}")]
    Failed { host: String, message: String },
}

impl RemoteError {
    pub fn kind(&self) -> crate::error::ErrorKind {
        use crate::error::ErrorKind;
        match self {
            RemoteError::Unreachable { .. } => ErrorKind::Unreachable,
            RemoteError::NotAdded { .. } => ErrorKind::NotFound,
            RemoteError::Refused { .. } => ErrorKind::Refused,
            RemoteError::Conflict { .. } => ErrorKind::Conflict,
            RemoteError::Failed { .. } => ErrorKind::Internal,
        }
    }
}

pub trait RemoteOps: Send + Sync + 'static {
    /// Sends the base commit of `repo` to the host (only the objects it
    /// lacks) and makes the workspace's worktree there; returns its path.
    fn create_worktree<'a>(
        &'a self,
        host: &'a str,
        repo: &'a Path,
        name: &'a str,
        base_oid: &'a str,
    ) -> BoxFuture<'a, Result<String, RemoteError>>;
    /// Ahead/behind the base and dirty files, read on the host.
    fn status<'a>(
        &'a self,
        host: &'a str,
        record: &'a WorkspaceRecord,
    ) -> BoxFuture<'a, Result<WorktreeStatus, RemoteError>>;
    /// Refuses unsaved work unless `force`; with it, captures it (gitsync's
    /// snapshot layout) at `snapshot_ref` in the host's repository.
    fn save_work<'a>(
        &'a self,
        host: &'a str,
        record: &'a WorkspaceRecord,
        force: bool,
        snapshot_ref: &'a str,
    ) -> BoxFuture<'a, Result<SavedWork, RemoteError>>;
    /// Captures the worktree's whole state (HEAD branch, index, files,
    /// untracked included; gitsync's snapshot layout) at `snapshot_ref` in
    /// the host's repository, on a copy of the index: the user's branch,
    /// index and files stay as they were. A merge, rebase, cherry-pick,
    /// revert or bisect in progress is refused.
    fn snapshot<'a>(
        &'a self,
        host: &'a str,
        record: &'a WorkspaceRecord,
        snapshot_ref: &'a str,
    ) -> BoxFuture<'a, Result<(), RemoteError>>;
    /// Makes a new worktree at `path` (refused if it exists) of the host's
    /// repository (the one `record.path` is a worktree of) holding exactly
    /// the snapshot at `snapshot_ref`: HEAD on its branch (made at the
    /// snapshot's HEAD if missing; refused if it is elsewhere), its index
    /// and its files. Any failure removes the new worktree again.
    fn restore<'a>(
        &'a self,
        host: &'a str,
        record: &'a WorkspaceRecord,
        snapshot_ref: &'a str,
        path: &'a str,
    ) -> BoxFuture<'a, Result<(), RemoteError>>;
    /// Ends the workspace's agents on the host and removes its worktree and
    /// branch; the work is already safe.
    fn discard<'a>(
        &'a self,
        host: &'a str,
        record: &'a WorkspaceRecord,
    ) -> BoxFuture<'a, Result<(), RemoteError>>;
    /// Ends an agent's tmux session on the host.
    fn end_agent<'a>(&'a self, host: &'a str, session: &'a str) -> BoxFuture<'a, ()>;
    /// Whether `program` is in PATH on the host.
    fn has_program<'a>(
        &'a self,
        host: &'a str,
        program: &'a str,
    ) -> BoxFuture<'a, Result<bool, RemoteError>>;
}

/// What `save_work` found on the host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SavedWork {
    Clean,
    /// Refused (no `force`): this much would be lost.
    Unsaved {
        dirty: u32,
        unmerged: bool,
    },
    /// Captured at the snapshot ref asked for.
    Snapshot,
}

/// A tmux session name for an agent: tmux refuses `.` and `:`.
pub fn session_name(workspace: &str, agent: &str) -> String {
    format!("roam_{workspace}_{agent}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}
