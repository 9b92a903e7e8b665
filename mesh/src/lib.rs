//! How Roam nodes reach each other, and who may.
//!
//! - [`frame`]: length-prefixed, size-bounded frames over any byte stream
//!   (the control socket and every mesh stream carry them).
//! - [`fuzzing`]: the entry the frame fuzz target and its corpus replay share.
//! - [`identity`]: the node's ed25519 key, its PeerId.
//! - [`swarm`]: the libp2p swarm (QUIC, TCP fallback) and the [`Mesh`]
//!   handle: dial, open and accept streams, admit and expel peers.
//! - [`gate`]: the roster enforced on every connection.
//! - [`pairing`]: one-time codes with SPAKE2.
//! - [`roster`]: who is in the mesh, as plain data.
//! - [`ssh`]: SSH hosts through the user's own ssh config, agent and known_hosts.
//!
//! This crate knows nothing about git, workspaces or the request types: it
//! moves opaque frames between authenticated, admitted peers.

pub mod event_queue;
pub mod frame;
pub mod fuzzing;
pub mod gate;
pub mod identity;
pub mod pairing;
pub mod roster;
pub mod ssh;
pub mod swarm;

pub use frame::{FrameError, MAX_FRAME_LEN, read_frame, write_frame};
pub use libp2p::identity::Keypair;
pub use libp2p::{Multiaddr, PeerId};
pub use swarm::{
    CONTROL_PROTOCOL, Mesh, MeshConfig, MeshError, MeshEvent, MeshStatus, MeshStream,
    PAIRING_PROTOCOL,
};
