//! How bytes move between Roam processes.
//!
//! Today this is [`frame`]: length-prefixed frames over any async byte
//! stream, used by the node's local control socket. The libp2p swarm,
//! identity, pairing and roster land here next; they will carry the same
//! frames. This crate knows nothing about git, workspaces or the request
//! types: it moves opaque, size-bounded byte frames.

pub mod frame;

pub use frame::{FrameError, MAX_FRAME_LEN, read_frame, write_frame};
