//! The request/response protocol, spoken on the local control socket (and,
//! with the mesh, between nodes). Every type here crosses a process
//! boundary: change them only together with [`PROTOCOL_VERSION`].
//!
//! A connection carries request/response pairs until a request answers
//! [`Response::Streaming`]; from then on it carries terminal frames:
//! [`Down`] from the node, [`Up`] from the client.

use bincode::{Decode, Encode};

pub use roam_actors::model::{AgentInfo, AgentStatus, WorkspaceInfo};

pub const PROTOCOL_VERSION: u32 = 2;

pub use roam_mesh::roster::Member;

#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Envelope {
    pub version: u32,
    /// Set by a node that forwards a request to the owner: the owner
    /// answers from its own state and never forwards it again.
    pub forwarded: bool,
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
        /// The node to make it on (by name); `None` is this node.
        on: Option<String>,
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
        /// Set by a node relaying for its CLI, so it can reconnect.
        resume: Option<Resume>,
    },
    /// Whether this node owns the workspace (asked of peers).
    Locate {
        name: String,
    },
    /// Opens a pairing window and returns its one-time code.
    PairOpen,
    /// Joins the mesh of the node at `addr` with its code.
    Join {
        code: String,
        /// Where the host listens; `None` looks for it on the LAN (mDNS).
        addr: Option<String>,
    },
    /// Pairing step 1 (joiner → host, on the pairing protocol).
    PairHello {
        name: String,
        spake: Vec<u8>,
        /// Where the joiner listens, so the rest of the mesh can reach it.
        addrs: Vec<String>,
    },
    /// Pairing step 2 (joiner → host).
    PairConfirm {
        confirm: Vec<u8>,
    },
    /// A member spreads what it knows of the roster.
    RosterSync {
        members: Vec<Member>,
    },
    Unpair {
        name: String,
    },
    Nodes,
    Dial {
        addr: String,
    },
    /// Connects to an SSH host, checks it, and adds it.
    HostAdd {
        alias: String,
        /// Trust an unknown host key (and record it in known_hosts).
        accept_new: bool,
    },
    HostCheck {
        alias: String,
    },
    HostList,
    HostRemove {
        alias: String,
    },
    /// Runs `command` on the host and relays raw bytes (the transport
    /// `git push` uses through `roam host pipe`).
    HostPipe {
        alias: String,
        command: String,
    },
    /// An agent terminal on the host: a tmux session, created if missing,
    /// attached through a PTY channel; then `Up`/`Down` frames.
    HostTmux(HostTerminal),
}

/// What the terminal of an agent on a host asks for: its tmux session (or
/// detached run) on the host, running `argv` in `cwd`.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct HostTerminal {
    pub alias: String,
    pub session: String,
    pub cwd: String,
    pub argv: Vec<String>,
    pub rows: u16,
    pub cols: u16,
    /// Start the agent if it is not running; otherwise a missing session
    /// means the agent ended while nobody watched (its exit is reported).
    pub create: bool,
}

/// One line of a host's checklist.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, serde::Serialize)]
pub struct CheckItem {
    pub name: String,
    pub ok: bool,
    pub detail: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, serde::Serialize)]
pub struct HostReport {
    pub alias: String,
    /// `user@hostname:port` as the config resolves it.
    pub target: String,
    pub checks: Vec<CheckItem>,
}

#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, serde::Serialize)]
pub struct HostInfo {
    pub alias: String,
    pub target: String,
    pub connected: bool,
    pub added_unix: u64,
    pub last_used_unix: u64,
    pub last_check_ok: bool,
}

/// A relayed attach that may reconnect: the session names it across
/// connections, `input_offset` is where in its input this connection's
/// first byte sits. The owner skips what it already applied, so resent
/// keys are never typed twice.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Resume {
    pub session: u64,
    pub input_offset: u64,
}

/// One node of the mesh, as `roam nodes` shows it.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, serde::Serialize)]
pub struct NodeInfo {
    pub name: String,
    pub peer_id: String,
    pub addrs: Vec<String>,
    pub local: bool,
    pub online: bool,
    pub rtt_micros: Option<u64>,
    pub workspaces: Option<u32>,
    pub agents_running: Option<u32>,
    /// One-minute load average of the machine.
    pub load: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, serde::Serialize)]
pub struct NodeStatus {
    pub name: String,
    pub peer_id: String,
    pub listen: Vec<String>,
    pub load: String,
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
    Located {
        found: bool,
    },
    PairCode {
        code: String,
        addrs: Vec<String>,
        expires_secs: u64,
    },
    PairChallenge {
        name: String,
        spake: Vec<u8>,
        confirm: Vec<u8>,
    },
    /// Pairing done: the whole roster, the host included.
    Welcome {
        members: Vec<Member>,
    },
    Joined {
        name: String,
    },
    Roster {
        members: Vec<Member>,
    },
    Nodes(Vec<NodeInfo>),
    HostReport(HostReport),
    Hosts(Vec<HostInfo>),
    Dialed {
        peer_id: String,
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
    /// Input of a resumable attach applied so far (bytes, whole session).
    InputAck {
        bytes: u64,
    },
}

/// Client → node on a streaming connection.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub enum Up {
    Input(Vec<u8>),
    Resize { rows: u16, cols: u16 },
    Detach,
}
