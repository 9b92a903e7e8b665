//! Blocking wrappers around the `git` command line for Roam's workspaces.
//!
//! Everything here runs the real `git` executable synchronously; async callers
//! should use `spawn_blocking`. The crate knows about repositories, branches and
//! worktrees, and nothing about how Roam uses them.
//!
//! - [`error`]: the single [`GitError`] type, with messages meant for users.
//! - `cmd`: runs git with a fixed, non-interactive environment and captures its errors.
//! - [`name`]: validates workspace names so they are safe as branch and directory names.
//! - `oid`: the [`Oid`] type and resolving revisions to commits.
//! - `repo`: [`Repo`], the main repository — discovery, refs, branches, adding/removing worktrees.
//! - `worktree`: [`Worktree`], one checkout and its [`WorktreeStatus`] against a base.
//! - `snapshot`: [`Worktree::snapshot`], capturing all uncommitted work as a commit without touching it.

mod cmd;
pub mod error;
pub mod name;
mod oid;
mod repo;
mod snapshot;
mod worktree;

pub use error::GitError;
pub use name::validate_workspace_name;
pub use oid::Oid;
pub use repo::Repo;
pub use worktree::{Worktree, WorktreeStatus};

/// Result type of every fallible operation in this crate.
pub type Result<T> = std::result::Result<T, GitError>;
