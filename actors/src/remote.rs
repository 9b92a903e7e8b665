//! The actors' view of SSH hosts. The node implements it over its pooled
//! SSH connections; actors never open a connection themselves.

use std::path::Path;

use roam_gitsync::WorktreeStatus;

use crate::model::WorkspaceRecord;
use crate::persist::BoxFuture;

pub trait RemoteOps: Send + Sync + 'static {
    /// Sends the base commit of `repo` to the host (only the objects it
    /// lacks) and makes the workspace's worktree there; returns its path.
    fn create_worktree<'a>(
        &'a self,
        host: &'a str,
        repo: &'a Path,
        name: &'a str,
        base_oid: &'a str,
    ) -> BoxFuture<'a, Result<String, String>>;
    /// Ahead/behind the base and dirty files, read on the host.
    fn status<'a>(
        &'a self,
        host: &'a str,
        record: &'a WorkspaceRecord,
    ) -> BoxFuture<'a, Result<WorktreeStatus, String>>;
    /// Refuses unsaved work unless `force`; with it, keeps a snapshot ref
    /// in the host's repository first. Ends the workspace's agents and
    /// removes its worktree and branch. Returns the snapshot ref, if any.
    fn remove<'a>(
        &'a self,
        host: &'a str,
        record: &'a WorkspaceRecord,
        force: bool,
    ) -> BoxFuture<'a, Result<Option<String>, String>>;
    /// Ends an agent's tmux session on the host.
    fn end_agent<'a>(&'a self, host: &'a str, session: &'a str) -> BoxFuture<'a, ()>;
    /// Whether `program` is in PATH on the host.
    fn has_program<'a>(
        &'a self,
        host: &'a str,
        program: &'a str,
    ) -> BoxFuture<'a, Result<bool, String>>;
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
