//! The request/response protocol, spoken on the local control socket (and,
//! with the mesh, between nodes). Every type here crosses a process
//! boundary: change them only together with [`PROTOCOL_VERSION`].
//!
//! A connection carries request/response pairs until a request answers
//! [`Response::Streaming`]; from then on it carries terminal frames:
//! [`Down`] from the node, [`Up`] from the client.
//!
//! Every type that crosses is defined here, none re-exported from another
//! crate, so no change reaches the wire without passing this file; the
//! `golden` test holds the encoding of each for [`PROTOCOL_VERSION`].

use bincode::{Decode, Encode};
use serde::Serialize;

/// 3: typed errors, workspace ids and owners by PeerId, epochs on requests,
/// name reservation, ownership exchange.
pub const PROTOCOL_VERSION: u32 = 6;

#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Envelope {
    pub version: u32,
    /// Set by a node that forwards a request to the owner: the owner
    /// answers from its own state and never forwards it again.
    pub forwarded: bool,
    /// The epoch the sender saw for the workspace the request acts on; the
    /// node refuses an older one (`ErrorKind::Stale`). `None` from a sender
    /// that did not locate it (the local CLI).
    pub epoch: Option<u64>,
    pub request: Request,
}

impl Envelope {
    pub fn new(request: Request) -> Envelope {
        Envelope {
            version: PROTOCOL_VERSION,
            forwarded: false,
            epoch: None,
            request,
        }
    }
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
    /// Graceful stop: scrollback saved, store flushed, agents ended — or,
    /// with `keep_agents`, left running in their holders for the next node
    /// to adopt.
    Shutdown {
        keep_agents: bool,
    },
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
        /// Drop this node's superseded copy (never a live workspace).
        superseded: bool,
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
    /// What this node holds of workspace `name` (asked of peers).
    Locate {
        name: String,
    },
    /// Holds `name` for a creation with mesh-wide id `id` (asked of every
    /// reachable member, in PeerId order, before a workspace is made).
    Reserve {
        name: String,
        id: String,
        /// The creating node's name, for the refusal message others see.
        by: String,
    },
    /// Lets go of a reservation (the creation failed or is done).
    Release {
        name: String,
        id: String,
    },
    /// The sender's workspaces: the answer lists those the receiver holds
    /// at a newer epoch; either side supersedes its older copies.
    Ownership {
        claims: Vec<Claim>,
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

/// What a node holds of a workspace, as `Locate` answers.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Location {
    pub claim: Claim,
    /// A copy kept after a newer owner appeared: it runs nothing.
    pub superseded: bool,
}

/// A workspace's identity and owner, as one node holds them.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Claim {
    pub id: String,
    pub name: String,
    pub owner_peer: String,
    pub owner_node: String,
    pub epoch: u64,
}

/// A roster entry on the wire (the mesh's `Member`).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Member {
    pub peer: String,
    pub name: String,
    pub addrs: Vec<String>,
    pub removed: bool,
    pub vouches: Vec<Vouch>,
}

/// A member's signed word for another (the mesh's `Vouch`).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Vouch {
    pub by: String,
    pub signature: Vec<u8>,
}

impl From<roam_mesh::roster::Member> for Member {
    fn from(m: roam_mesh::roster::Member) -> Member {
        Member {
            peer: m.peer,
            name: m.name,
            addrs: m.addrs,
            removed: m.removed,
            vouches: m
                .vouches
                .into_iter()
                .map(|v| Vouch {
                    by: v.by,
                    signature: v.signature,
                })
                .collect(),
        }
    }
}

impl From<Member> for roam_mesh::roster::Member {
    fn from(m: Member) -> roam_mesh::roster::Member {
        roam_mesh::roster::Member {
            peer: m.peer,
            name: m.name,
            addrs: m.addrs,
            removed: m.removed,
            vouches: m
                .vouches
                .into_iter()
                .map(|v| roam_mesh::roster::Vouch {
                    by: v.by,
                    signature: v.signature,
                })
                .collect(),
        }
    }
}

/// What `roam ls` shows of one workspace.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize)]
pub struct WorkspaceInfo {
    pub id: String,
    pub name: String,
    /// Where it runs, as the user sees it: `local`, a node name, `ssh:host`.
    pub badge: String,
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
    pub problem: Option<String>,
    pub stopped: bool,
    pub superseded_by: Option<String>,
    pub agents: Vec<AgentInfo>,
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
    Working,
    WaitingForInput,
    Idle,
    Exited {
        code: i32,
    },
    Stopped,
    /// On an SSH host that cannot be reached now; it runs on there.
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

impl From<roam_actors::model::AgentStatus> for AgentStatus {
    fn from(s: roam_actors::model::AgentStatus) -> AgentStatus {
        use roam_actors::model::AgentStatus as A;
        match s {
            A::Starting => AgentStatus::Starting,
            A::Working => AgentStatus::Working,
            A::WaitingForInput => AgentStatus::WaitingForInput,
            A::Idle => AgentStatus::Idle,
            A::Exited { code } => AgentStatus::Exited { code },
            A::Stopped => AgentStatus::Stopped,
            A::Disconnected => AgentStatus::Disconnected,
        }
    }
}

impl From<roam_actors::model::AgentInfo> for AgentInfo {
    fn from(a: roam_actors::model::AgentInfo) -> AgentInfo {
        AgentInfo {
            name: a.name,
            profile: a.profile,
            status: a.status.into(),
            session: a.session,
            pid: a.pid,
        }
    }
}

impl From<roam_actors::model::WorkspaceInfo> for WorkspaceInfo {
    fn from(w: roam_actors::model::WorkspaceInfo) -> WorkspaceInfo {
        WorkspaceInfo {
            id: w.id,
            name: w.name,
            badge: w.badge,
            owner: w.owner,
            owner_peer: w.owner_peer,
            epoch: w.epoch,
            repo: w.repo,
            branch: w.branch,
            base: w.base,
            path: w.path,
            ahead: w.ahead,
            behind: w.behind,
            dirty_files: w.dirty_files,
            problem: w.problem,
            stopped: w.stopped,
            superseded_by: w.superseded_by,
            agents: w.agents.into_iter().map(Into::into).collect(),
        }
    }
}

/// What kind of failure an error is, beside its message, so a caller can
/// tell retryable from final without parsing text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    NotFound,
    /// The epoch the request carried is older than the node's, or the node
    /// holds only a superseded copy: locate the owner again and retry.
    Stale,
    Unreachable,
    Refused,
    InvalidInput,
    Conflict,
    Busy,
    Internal,
}

impl From<roam_actors::error::ErrorKind> for ErrorKind {
    fn from(k: roam_actors::error::ErrorKind) -> ErrorKind {
        use roam_actors::error::ErrorKind as A;
        match k {
            A::NotFound => ErrorKind::NotFound,
            A::Stale => ErrorKind::Stale,
            A::Unreachable => ErrorKind::Unreachable,
            A::Refused => ErrorKind::Refused,
            A::InvalidInput => ErrorKind::InvalidInput,
            A::Conflict => ErrorKind::Conflict,
            A::Busy => ErrorKind::Busy,
            A::Internal => ErrorKind::Internal,
        }
    }
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
        location: Option<Location>,
    },
    /// The claims the receiver holds at a newer epoch than the sender's.
    Ownership {
        newer: Vec<Claim>,
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
        kind: ErrorKind,
        message: String,
    },
    /// A node left the mesh, and with it the members only it vouched for.
    Unpaired {
        also: Vec<String>,
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

/// The largest terminal a client may ask for. The screen model allocates
/// every cell of two screens, so a size from outside is cut to this where
/// it enters (`bounded_size`), never passed on as it came.
pub const MAX_ROWS: u16 = 500;
pub const MAX_COLS: u16 = 1000;

/// `rows` and `cols` within 1..=MAX_ROWS and 1..=MAX_COLS.
pub fn bounded_size(rows: u16, cols: u16) -> (u16, u16) {
    (rows.clamp(1, MAX_ROWS), cols.clamp(1, MAX_COLS))
}

/// Client → node on a streaming connection.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub enum Up {
    Input(Vec<u8>),
    Resize { rows: u16, cols: u16 },
    Detach,
}
