//! Holders: the process that keeps an agent's terminal while nodes come
//! and go, so a crash, restart or upgrade of the node never interrupts an
//! agent (the dtach/abduco/shpool model).
//!
//! - [`serve`]: the holder process (`roam-holder`), one per agent: the
//!   agent's PTY master, a bounded ring of its output, one Unix socket.
//! - [`wire`]: its versioned protocol with the node.
//! - `pty_fd`: the PTY master, read and written without threads.
//! - [`ring`]: the ring, addressed by offset since the agent started.
//! - [`client`]: the node's side: start, connect, end.
//! - [`session`]: an agent's whole Unix session, and how it ended.
//!
//! Knows nothing of actors, stores or the mesh: the node records which
//! holders it started and decides which to adopt.

pub mod client;
mod pty_fd;
pub mod ring;
pub mod serve;
pub mod session;
pub mod wire;
