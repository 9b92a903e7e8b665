//! Plain serializable types: what a workspace *is* (records, persisted and
//! later carried by move and fork) and what it *looks like* (infos, shown by
//! `roam ls`). No behaviour lives here; encoding lives in the node's codec,
//! and only records are encoded (infos become `node::api` types).

use bincode::{Decode, Encode};

/// Everything needed to bring a workspace back after a restart or on another
/// node. Persisted on every change, before the change is acknowledged.
///
/// Stored records are versioned by the node's store (`node::store`): a new
/// field here is a new record version there, with a migration.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct WorkspaceRecord {
    /// Mesh-wide id, fixed at creation (the name is what users type; the id
    /// tells two workspaces that happen to share a name apart).
    pub id: String,
    pub name: String,
    /// Main worktree of the repository the workspace was made from.
    pub repo: String,
    /// The ref the workspace branched from, as the user named it.
    pub base: String,
    pub branch: String,
    /// The workspace's own worktree.
    pub path: String,
    /// The node that runs it. `epoch` grows on every change of owner; a
    /// node refuses requests carrying an older epoch than it holds.
    pub owner: Owner,
    pub epoch: u64,
    pub created_unix: u64,
    /// Stopped by the user: agents are not restarted with the node.
    pub stopped: bool,
    pub agents: Vec<AgentRecord>,
    /// The SSH host it runs on (`ssh:HOST`); `None` on this node itself.
    pub host: Option<String>,
    /// Set once another node is known to own the workspace at a higher
    /// epoch: this copy runs no agents and is kept, with its worktree, as a
    /// recoverable copy until the user drops it.
    pub superseded: Option<Superseded>,
}

impl WorkspaceRecord {
    /// Whether this node may run the workspace's agents.
    pub fn is_active(&self) -> bool {
        self.superseded.is_none()
    }
}

/// A node of the mesh, as ownership names it: the PeerId (what fencing
/// compares) and the node's name (what users read).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Owner {
    /// PeerId in its base58 text form.
    pub peer: String,
    pub node: String,
}

/// Who took the workspace over, as this node learnt it.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Superseded {
    pub owner: Owner,
    pub epoch: u64,
    pub since_unix: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct AgentRecord {
    pub name: String,
    pub profile: String,
    /// The first prompt, given once; never replayed on resume.
    pub prompt: Option<String>,
    /// The agent's own conversation id, read from its session files.
    pub session: Option<String>,
    /// Exit code once the agent ended on its own: it is not restarted.
    pub exited: Option<i32>,
}

/// A holder this node started (`roam_holder`): what a node starting up
/// checks against the live processes to adopt the agent it holds. Kept
/// apart from the workspace record: it names processes on this machine and
/// never travels.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct HolderRecord {
    pub workspace_id: String,
    pub workspace: String,
    pub agent: String,
    /// The holder's socket.
    pub socket: String,
    pub holder_pid: i32,
    /// Start times (clock ticks since boot) make a pid mean one process.
    pub holder_start: u64,
    pub agent_pid: i32,
    pub agent_start: u64,
    /// The machine's boot: after a reboot no recorded process exists.
    pub boot: String,
}

/// What `roam ls` shows of one agent (the node turns it into its wire type).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentInfo {
    pub name: String,
    pub profile: String,
    pub status: AgentStatus,
    pub session: Option<String>,
    pub pid: Option<u32>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AgentStatus {
    Starting,
    /// Output within the last activity window.
    Working,
    /// The screen matches one of the profile's waiting patterns.
    WaitingForInput,
    /// Quiet, not asking for anything.
    Idle,
    Exited {
        code: i32,
    },
    /// Stopped by the user (`roam stop`).
    Stopped,
    /// On an SSH host that cannot be reached now: it runs on there (in
    /// tmux, or detached) and is shown again when the link is back.
    Disconnected,
}

impl std::fmt::Display for AgentStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AgentStatus::Starting => f.write_str("starting"),
            AgentStatus::Working => f.write_str("working"),
            AgentStatus::WaitingForInput => f.write_str("waiting"),
            AgentStatus::Idle => f.write_str("idle"),
            AgentStatus::Exited { code } => write!(f, "exited({code})"),
            AgentStatus::Stopped => f.write_str("stopped"),
            AgentStatus::Disconnected => f.write_str("disconnected"),
        }
    }
}

/// What `roam ls` shows of one workspace (the node turns it into its wire
/// type).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkspaceInfo {
    pub id: String,
    pub name: String,
    /// Where it runs, as the user sees it: `local`, a node name, `ssh:host`.
    pub badge: String,
    /// The owner's node name, and its PeerId.
    pub owner: String,
    pub owner_peer: String,
    pub epoch: u64,
    pub repo: String,
    pub branch: String,
    pub base: String,
    pub path: String,
    pub ahead: u32,
    pub behind: u32,
    pub dirty_files: u32,
    /// Set when git could not be read (e.g. the worktree was deleted by hand).
    pub problem: Option<String>,
    pub stopped: bool,
    /// `Some` for a superseded copy: the node that owns it now.
    pub superseded_by: Option<String>,
    pub agents: Vec<AgentInfo>,
}
