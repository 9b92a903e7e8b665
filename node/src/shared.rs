//! What every request handler of a node shares, set up once by the daemon.

use std::sync::Arc;
use std::time::Instant;

use ractor::ActorRef;
use roam_actors::model::Owner;
use roam_actors::node::NodeMsg;
use roam_mesh::PeerId;
use tokio::sync::watch;

use crate::locate::LocationCache;
use crate::names::Names;
use crate::peers::Peers;
use crate::terminal;

pub struct Shared {
    pub node: ActorRef<NodeMsg>,
    /// This node as ownership names it.
    pub me: Owner,
    pub data_dir: String,
    pub started: Instant,
    /// Set once the node is to stop; `true` keeps agents running in their
    /// holders for the next node (`roam down --keep-agents`).
    pub shutdown: watch::Sender<Option<bool>>,
    pub peers: Arc<Peers>,
    /// Input applied per relayed attach session (see `api::Resume`).
    pub inputs: terminal::InputLedger,
    pub hosts: Arc<crate::hosts::Hosts>,
    /// Names held for creations under way anywhere in the mesh.
    pub names: Names,
    /// Where workspaces were last found, so a command costs one round trip.
    pub located: LocationCache,
}

impl Shared {
    pub fn name(&self) -> &str {
        &self.me.node
    }
}

/// Where a connection comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// The local CLI: may manage the node and is routed across the mesh.
    Local,
    /// A paired node: answered from this node's own state only.
    Peer(PeerId),
}
