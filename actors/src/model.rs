//! Plain serializable types: what a workspace *is* (records, persisted and
//! later carried by move and fork) and what it *looks like* (infos, shown by
//! `roam ls`). No behaviour lives here; encoding lives in the node's codec.

use bincode::{Decode, Encode};
use serde::Serialize;

/// Everything needed to bring a workspace back after a restart or on another
/// node. Persisted on every change, before the change is acknowledged.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct WorkspaceRecord {
    pub name: String,
    /// Main worktree of the repository the workspace was made from.
    pub repo: String,
    /// The ref the workspace branched from, as the user named it.
    pub base: String,
    pub branch: String,
    /// The workspace's own worktree.
    pub path: String,
    /// Ownership fencing: `owner` is a node name, `epoch` only grows.
    pub owner: String,
    pub epoch: u64,
    pub created_unix: u64,
    /// Stopped by the user: agents are not restarted with the node.
    pub stopped: bool,
    pub agents: Vec<AgentRecord>,
    /// The SSH host it runs on (`ssh:HOST`); `None` on this node itself.
    pub host: Option<String>,
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

/// What `roam ls` shows of one agent.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize)]
pub struct AgentInfo {
    pub name: String,
    pub profile: String,
    pub status: AgentStatus,
    pub session: Option<String>,
    pub pid: Option<u32>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
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
        }
    }
}

/// What `roam ls` shows of one workspace.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize)]
pub struct WorkspaceInfo {
    pub name: String,
    /// Where it runs, as the user sees it: `local`, a node name, `ssh:host`.
    pub badge: String,
    pub owner: String,
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
    pub agents: Vec<AgentInfo>,
}
