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
//! - `identity`: [`RepoId`], a repo known by its root commits.
//! - `mirror`: [`Mirrors`], one bare mirror per repo identity in a node's data dir.
//! - `capture`: [`capture`], the full state (HEAD branch, index, files) on a hidden ref.
//! - `restore`: [`restore`], recreating that state byte for byte in a new worktree.
//! - `temp_index`: throwaway index files, so capture and restore never write the user's index.
//! - `transfer`: the protocol and [`TransferError`]; `send`/`receive` its two sides,
//!   `quarantine` where received objects wait and `verify` what they must pass.
//! - [`blocking`]: send/receive over a TCP socket without a runtime of your own.
//! - [`fuzzing`]: the entry the wire fuzz target and its corpus replay share.
//! - `wire`: the only place that frames bytes on the transfer stream.
//!
//! Moving a workspace: [`capture`] → [`send`] / [`receive`] over any async
//! stream → [`restore`] from the receiver's [`Mirror`].

pub mod blocking;
mod capture;
mod cmd;
pub mod error;
pub mod fuzzing;
mod identity;
mod mirror;
pub mod name;
mod oid;
mod quarantine;
mod receive;
mod repo;
mod restore;
mod send;
mod status_index;
mod temp_index;
mod transfer;
mod verify;
mod wire;
mod worktree;

pub use capture::{CaptureOptions, Snapshot, capture};
pub use error::GitError;
pub use identity::RepoId;
pub use mirror::{Mirror, Mirrors};
pub use name::validate_workspace_name;
pub use oid::Oid;
pub use receive::{DEFAULT_MAX_PACK_BYTES, ReceiveOptions, Received, receive};
pub use repo::Repo;
pub use restore::restore;
pub use send::{Sent, send};
pub use transfer::{Progress, TransferError};
pub use worktree::{StatusInput, Worktree, WorktreeStatus};

/// Result type of every fallible operation in this crate.
pub type Result<T> = std::result::Result<T, GitError>;
