//! The Roam node: the daemon that runs on every machine.
//!
//! - [`daemon`]: start, serve, stop (`roam node run`).
//! - The request path, top to bottom: [`control`] serves a connection
//!   (frames, version, what a peer may ask, epochs); [`route`] decides
//!   where a request runs ([`locate`] finds the owner) and forwards it or
//!   [`relay`]s an attach; [`local`] answers from this node's own state;
//!   [`tree`] is where every layer asks the actor tree.
//! - [`create`]: a new workspace under a mesh-wide unique name ([`names`]).
//! - [`ownership`]: fencing by epoch; nodes converge on the newest owner;
//!   [`startup`] fences the stored records before any agent starts.
//! - [`error`]: typed failures, a kind beside the message on the wire.
//! - [`shared`]: what every handler shares.
//! - [`peers`]: the mesh as the node sees it: roster, pairing, calls.
//! - [`terminal`]: terminal streams (`attach`, `logs --follow`).
//! - [`api`]: the request/response types every client and peer speaks.
//! - [`codec`]: all encoding (bincode), bounded.
//! - [`conn`]: typed frames over a byte stream.
//! - [`fuzzing`]: the entries the fuzz targets and their corpus replay share.
//! - [`client`]: the CLI's side of the socket.
//! - [`hosts`]: SSH hosts: records, pooled connections, checklists.
//! - [`remote`]: workspaces on SSH hosts: repo, worktree, agent terminals.
//! - [`detached`]: agents on hosts without tmux (setsid, a log, a FIFO).
//! - [`store`]: workspace records in sled, flushed before acknowledged.
//! - [`data_dir`]: the data dir, private and the user's own.
//! - [`config`], [`paths`], [`proc`]: settings, file layout, process facts.

pub mod api;
pub mod client;
pub mod codec;
pub mod config;
pub mod conn;
pub mod control;
pub mod create;
pub mod daemon;
pub mod data_dir;
pub mod detached;
pub mod error;
pub mod fuzzing;
pub mod hosts;
pub mod local;
pub mod locate;
mod lock;
pub mod names;
pub mod ownership;
pub mod paths;
pub mod peers;
pub mod proc;
pub mod relay;
pub mod remote;
pub mod route;
pub mod shared;
pub mod startup;
pub mod store;
pub mod terminal;
pub mod tree;
