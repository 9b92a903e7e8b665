//! The Roam node: the daemon that runs on every machine.
//!
//! - [`daemon`]: start, serve, stop (`roam node run`).
//! - [`control`]: serving requests from the local CLI and from peers.
//! - [`route`]: sending the CLI's requests to the node that owns the workspace.
//! - [`relay`]: a remote attach for the CLI, resumed across reconnects.
//! - [`peers`]: the mesh as the node sees it: roster, pairing, calls.
//! - [`terminal`]: terminal streams (`attach`, `logs --follow`).
//! - [`api`]: the request/response types every client and peer speaks.
//! - [`codec`]: all encoding (bincode), bounded.
//! - [`conn`]: typed frames over a byte stream.
//! - [`client`]: the CLI's side of the socket.
//! - [`hosts`]: SSH hosts: records, pooled connections, checklists.
//! - [`remote`]: workspaces on SSH hosts: repo, worktree, agent terminals.
//! - [`detached`]: agents on hosts without tmux (setsid, a log, a FIFO).
//! - [`store`]: workspace records in sled, flushed before acknowledged.
//! - [`config`], [`paths`], [`proc`]: settings, file layout, process facts.

pub mod api;
pub mod client;
pub mod codec;
pub mod config;
pub mod conn;
pub mod control;
pub mod daemon;
pub mod detached;
pub mod hosts;
pub mod paths;
pub mod peers;
pub mod proc;
pub mod relay;
pub mod remote;
pub mod route;
pub mod store;
pub mod terminal;
