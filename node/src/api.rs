//! The request/response protocol, spoken on the local control socket (and,
//! with the mesh, between nodes). Every type here crosses a process
//! boundary: change them only together with [`PROTOCOL_VERSION`].
//!
//! A connection carries request/response pairs until a request answers
//! [`Response::Streaming`]; from then on it carries terminal frames:
//! [`Down`] from the node, [`Up`] from the client.

use bincode::{Decode, Encode};

pub use roam_actors::model::{AgentInfo, AgentStatus, WorkspaceInfo};

pub const PROTOCOL_VERSION: u32 = 1;

#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Envelope {
    pub version: u32,
    pub request: Request,
}

/// `WORKSPACE` or `WORKSPACE:AGENT`.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Target {
    pub workspace: String,
    pub agent: Option<String>,
}

impl Target {
    pub fn parse(s: &str) -> Target {
        match s.split_once(':') {
            Some((ws, agent)) if !agent.is_empty() => Target {
                workspace: ws.to_string(),
                agent: Some(agent.to_string()),
            },
            Some((ws, _)) => Target {
                workspace: ws.to_string(),
                agent: None,
            },
            None => Target {
                workspace: s.to_string(),
                agent: None,
            },
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub enum Request {
    Ping,
    Status,
    /// Graceful stop: scrollback saved, agents ended, store flushed.
    Shutdown,
    New {
        name: String,
        /// Any path inside the repository, as seen by the node.
        repo: String,
        base: Option<String>,
        profile: Option<String>,
        prompt: Option<String>,
    },
    List,
    Stop {
        name: String,
    },
    Start {
        name: String,
    },
    Remove {
        name: String,
        force: bool,
    },
    AddAgent {
        workspace: String,
        profile: Option<String>,
        prompt: Option<String>,
    },
    /// Types `data` into the agent's terminal.
    Send {
        target: Target,
        data: Vec<u8>,
    },
    /// Streams the scrollback, then (with `follow`) the live output.
    Logs {
        target: Target,
        follow: bool,
    },
    /// Streams the screen, then the live output; takes input and resizes.
    Attach {
        target: Target,
        rows: u16,
        cols: u16,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct NodeStatus {
    pub name: String,
    pub pid: u32,
    pub version: String,
    pub protocol: u32,
    pub data_dir: String,
    pub uptime_secs: u64,
    pub workspaces: u32,
    pub agents_running: u32,
    pub rss_bytes: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub enum Response {
    Pong {
        protocol: u32,
        pid: u32,
    },
    Status(NodeStatus),
    Done,
    Workspace(WorkspaceInfo),
    Workspaces(Vec<WorkspaceInfo>),
    Agent(AgentInfo),
    Removed {
        snapshot_ref: Option<String>,
    },
    /// The connection now carries terminal frames.
    Streaming,
    Error {
        message: String,
    },
}

/// Node → client on a streaming connection.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub enum Down {
    Output(Vec<u8>),
    /// The process ended; the stream ends after this.
    Exited {
        code: i32,
    },
    /// The stream ends for another reason (logs done, node stopping).
    Closed {
        reason: String,
    },
}

/// Client → node on a streaming connection.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub enum Up {
    Input(Vec<u8>),
    Resize { rows: u16, cols: u16 },
    Detach,
}
