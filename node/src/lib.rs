//! The Roam node: the daemon that runs on every machine.
//!
//! - [`daemon`]: start, serve, stop (`roam node run`).
//! - [`control`]: the local control socket and the request handlers.
//! - [`terminal`]: terminal streams (`attach`, `logs --follow`).
//! - [`api`]: the request/response types every client and peer speaks.
//! - [`codec`]: all encoding (bincode), bounded.
//! - [`conn`]: typed frames over a byte stream.
//! - [`client`]: the CLI's side of the socket.
//! - [`store`]: workspace records in sled, flushed before acknowledged.
//! - [`config`], [`paths`], [`proc`]: settings, file layout, process facts.

pub mod api;
pub mod client;
pub mod codec;
pub mod config;
pub mod conn;
pub mod control;
pub mod daemon;
pub mod paths;
pub mod proc;
pub mod store;
pub mod terminal;
