//! Serving requests: from the local CLI (a Unix socket, mode 0600, in the
//! data dir) and from paired peers (mesh streams), with one protocol.
//! Each connection carries framed `Envelope` requests; every request gets
//! exactly one `Response`, and `Attach`/`Logs` then turn the connection
//! into a terminal stream. A malformed frame gets an error response and the
//! connection is closed; the node never panics on what a client sends.
//!
//! A request from the local CLI about a workspace this node does not own is
//! routed to the owner (`route`); a request from a peer is answered from
//! this node's own state only.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ractor::ActorRef;
use roam_actors::agent::AgentMsg;
use roam_actors::model::{AgentStatus, WorkspaceInfo};
use roam_actors::node::{CreateSpec, NodeMsg};
use roam_actors::workspace::WorkspaceMsg;
use roam_mesh::PeerId;
use tokio::io::{AsyncRead, AsyncWrite, ReadHalf, WriteHalf};
use tokio::sync::watch;

use crate::api::{Envelope, NodeStatus, PROTOCOL_VERSION, Request, Response, Resume, Target};
use crate::conn::{self, ConnError};
use crate::peers::Peers;
use crate::{route, terminal};

const CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// What every connection handler shares.
pub struct Shared {
    pub node: ActorRef<NodeMsg>,
    pub name: String,
    pub data_dir: String,
    pub started: Instant,
    pub shutdown: watch::Sender<bool>,
    pub peers: Arc<Peers>,
    /// Input applied per relayed attach session (see `api::Resume`).
    pub inputs: terminal::InputLedger,
    pub hosts: Arc<crate::hosts::Hosts>,
}

/// Where a connection comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// The local CLI: may manage the node and is routed across the mesh.
    Local,
    /// A paired node: answered from this node's own state only.
    Peer(PeerId),
}

pub async fn serve_connection<S>(stream: S, shared: Arc<Shared>, origin: Origin)
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (mut reader, mut writer) = tokio::io::split(stream);
    loop {
        let envelope = match conn::recv::<Envelope, _>(&mut reader).await {
            Ok(Some(e)) => e,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %e, "bad request on control socket");
                let _ = conn::send(
                    &mut writer,
                    &Response::Error {
                        message: e.to_string(),
                    },
                )
                .await;
                close_gently(reader, writer).await;
                return;
            }
        };
        if envelope.version != PROTOCOL_VERSION {
            let message = format!(
                "protocol version {} but this node speaks {}; restart the node with `roam down && roam up`",
                envelope.version, PROTOCOL_VERSION
            );
            let _ = conn::send(&mut writer, &Response::Error { message }).await;
            return;
        }
        let routed = origin == Origin::Local && !envelope.forwarded;
        let result = match envelope.request {
            // Streams take the connection over; it ends with them.
            Request::Attach {
                target,
                rows,
                cols,
                resume,
            } => {
                if routed && !route::is_local(&shared, &target.workspace).await {
                    route::relay_attach(&shared, reader, writer, target, rows, cols).await;
                } else {
                    let _ =
                        stream_attach(reader, &mut writer, &shared, target, (rows, cols), resume)
                            .await;
                }
                return;
            }
            // Host streams serve this node's own agents; never a peer's.
            Request::HostPipe { alias, command } if origin == Origin::Local => {
                let local = tokio::io::join(reader, writer);
                crate::remote::pipe(shared.hosts.pool(), &alias, &command, local).await;
                return;
            }
            Request::HostTmux(spec) if origin == Origin::Local => {
                crate::remote::tmux_attach(shared.hosts.pool(), spec, reader, &mut writer).await;
                return;
            }
            Request::Logs { target, follow } => {
                if routed && !route::is_local(&shared, &target.workspace).await {
                    let request = Request::Logs { target, follow };
                    route::relay_stream(&shared, tokio::io::join(reader, writer), request).await;
                } else {
                    let _ = stream_logs(&mut writer, &shared, target, follow).await;
                }
                return;
            }
            request => match origin {
                Origin::Local if routed => route::handle(&shared, request).await,
                Origin::Local => handle(&shared, request).await,
                Origin::Peer(peer) => handle_peer(&shared, peer, request).await,
            },
        };
        let response = result.unwrap_or_else(|message| Response::Error { message });
        if conn::send(&mut writer, &response).await.is_err() {
            return;
        }
    }
}

/// Closes after an error so the client can still read it: closing with
/// unread input would reset the connection and lose the answer. What is
/// left is drained briefly and within a bound, never trusted.
async fn close_gently<S: AsyncRead + AsyncWrite>(
    mut reader: ReadHalf<S>,
    mut writer: WriteHalf<S>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let _ = writer.shutdown().await;
    let mut sink = [0u8; 8192];
    let drain = async {
        let mut left: usize = 1024 * 1024;
        while left > 0 {
            match reader.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(n) => left = left.saturating_sub(n),
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), drain).await;
}

/// What a paired peer may ask: its own state, roster news. Managing this
/// node (shutdown, pairing, unpairing) is for the local CLI only.
async fn handle_peer(shared: &Shared, peer: PeerId, request: Request) -> Result<Response, String> {
    match request {
        Request::RosterSync { members } => shared
            .peers
            .merge_roster(members)
            .await
            .map(|members| Response::Roster { members }),
        Request::Shutdown
        | Request::PairOpen
        | Request::Join { .. }
        | Request::Unpair { .. }
        | Request::Dial { .. }
        | Request::HostAdd { .. }
        | Request::HostCheck { .. }
        | Request::HostRemove { .. }
        | Request::HostPipe { .. }
        | Request::HostTmux(_)
        | Request::PairHello { .. }
        | Request::PairConfirm { .. } => {
            tracing::warn!(peer = %peer, "refused a local-only request from a peer");
            Err("only the node's own CLI may ask that".into())
        }
        request => handle(shared, request).await,
    }
}

/// Answers one request from this node's own state; errors are the
/// one-line message the user sees.
pub async fn handle(shared: &Shared, request: Request) -> Result<Response, String> {
    match request {
        Request::Ping => Ok(Response::Pong {
            protocol: PROTOCOL_VERSION,
            pid: std::process::id(),
        }),
        Request::Status => status(shared).await.map(Response::Status),
        Request::Shutdown => {
            let _ = shared.shutdown.send(true);
            Ok(Response::Done)
        }
        Request::New {
            name,
            repo,
            base,
            profile,
            prompt,
            on,
        } => {
            // Mesh nodes were routed already; what is left is here or a host.
            let host = on.and_then(|o| o.strip_prefix("ssh:").map(str::to_string));
            let spec = CreateSpec {
                name,
                repo: repo.into(),
                base,
                profile,
                prompt,
                host,
            };
            try_ask(&shared.node, |r| NodeMsg::Create(spec, r))
                .await
                .map(Response::Workspace)
        }
        Request::List => Ok(Response::Workspaces(list(shared).await?)),
        Request::Stop { name } => {
            let ws = workspace(shared, &name).await?;
            try_ask(&ws, WorkspaceMsg::Stop)
                .await
                .map(|_| Response::Done)
        }
        Request::Start { name } => {
            let ws = workspace(shared, &name).await?;
            try_ask(&ws, WorkspaceMsg::Start)
                .await
                .map(|_| Response::Done)
        }
        Request::Remove { name, force } => {
            try_ask(&shared.node, |reply| NodeMsg::Remove { name, force, reply })
                .await
                .map(|r| Response::Removed {
                    snapshot_ref: r.snapshot_ref,
                })
        }
        Request::AddAgent {
            workspace: name,
            profile,
            prompt,
        } => {
            let ws = workspace(shared, &name).await?;
            try_ask(&ws, |reply| WorkspaceMsg::AddAgent {
                profile,
                prompt,
                reply,
            })
            .await
            .map(Response::Agent)
        }
        Request::Send { target, data } => {
            let agent = agent(shared, &target).await?;
            try_ask(&agent, |reply| AgentMsg::Input(data, reply))
                .await
                .map(|_| Response::Done)
        }
        Request::Locate { name } => Ok(Response::Located {
            found: workspace(shared, &name).await.is_ok(),
        }),
        Request::PairOpen => {
            let (code, addrs, expires_secs) = shared.peers.open_pairing().await?;
            Ok(Response::PairCode {
                code,
                addrs,
                expires_secs,
            })
        }
        Request::Join { code, addr } => shared
            .peers
            .join(&code, addr.as_deref())
            .await
            .map(|name| Response::Joined { name }),
        Request::Unpair { name } => shared.peers.unpair(&name).await.map(|_| Response::Done),
        Request::Dial { addr } => {
            let addr = addr
                .parse()
                .map_err(|e| format!("bad address '{addr}': {e}"))?;
            let peer = shared
                .peers
                .mesh
                .dial(addr)
                .await
                .map_err(|e| e.to_string())?;
            Ok(Response::Dialed {
                peer_id: peer.to_string(),
            })
        }
        Request::Nodes => Ok(Response::Nodes(route::nodes(shared).await)),
        Request::HostAdd { alias, accept_new } => shared
            .hosts
            .add(&alias, accept_new)
            .await
            .map(Response::HostReport),
        Request::HostCheck { alias } => shared.hosts.check(&alias).await.map(Response::HostReport),
        Request::HostList => Ok(Response::Hosts(shared.hosts.list().await)),
        Request::HostRemove { alias } => shared.hosts.remove(&alias).await.map(|_| Response::Done),
        Request::RosterSync { .. } | Request::PairHello { .. } | Request::PairConfirm { .. } => {
            Err("that request is only spoken between nodes".into())
        }
        Request::Attach { .. }
        | Request::Logs { .. }
        | Request::HostPipe { .. }
        | Request::HostTmux(_) => Err("stream requests are served elsewhere".into()),
    }
}

async fn stream_attach<S: AsyncRead + AsyncWrite + Send + 'static>(
    reader: ReadHalf<S>,
    writer: &mut WriteHalf<S>,
    shared: &Shared,
    target: Target,
    (rows, cols): (u16, u16),
    resume: Option<Resume>,
) -> Result<(), ConnError> {
    let agent = match agent(shared, &target).await {
        Ok(a) => a,
        Err(message) => return conn::send(writer, &Response::Error { message }).await,
    };
    let _ = agent.cast(AgentMsg::Resize { rows, cols });
    let sub = match terminal::subscribe(&agent, false).await {
        Ok(s) => s,
        Err(message) => return conn::send(writer, &Response::Error { message }).await,
    };
    conn::send(writer, &Response::Streaming).await?;
    terminal::attach(reader, writer, agent, sub, resume, &shared.inputs).await
}

async fn stream_logs<W: AsyncWrite + Unpin>(
    writer: &mut W,
    shared: &Shared,
    target: Target,
    follow: bool,
) -> Result<(), ConnError> {
    let agent = match agent(shared, &target).await {
        Ok(a) => a,
        Err(message) => return conn::send(writer, &Response::Error { message }).await,
    };
    // Following needs scrollback and live stream from one moment; a finished
    // agent without a terminal only has its saved scrollback.
    let (scrollback, sub) = match follow {
        true => match terminal::subscribe(&agent, true).await {
            Ok(mut sub) => (Ok(sub.scrollback.take().unwrap_or_default()), Some(sub)),
            Err(_) => (scrollback(&agent).await, None),
        },
        false => (scrollback(&agent).await, None),
    };
    let scrollback = match scrollback {
        Ok(s) => s,
        Err(message) => return conn::send(writer, &Response::Error { message }).await,
    };
    conn::send(writer, &Response::Streaming).await?;
    terminal::logs(writer, &scrollback, sub).await
}

async fn scrollback(agent: &ActorRef<AgentMsg>) -> Result<Vec<u8>, String> {
    try_ask(agent, AgentMsg::Scrollback).await
}

pub async fn status(shared: &Shared) -> Result<NodeStatus, String> {
    let workspaces = list(shared).await?;
    let agents_running = workspaces
        .iter()
        .flat_map(|w| &w.agents)
        .filter(|a| !matches!(a.status, AgentStatus::Exited { .. } | AgentStatus::Stopped))
        .count();
    let listen = shared.peers.listen_addrs().await;
    Ok(NodeStatus {
        name: shared.name.clone(),
        peer_id: shared.peers.mesh.local_peer_id().to_string(),
        listen,
        load: crate::proc::load_average().unwrap_or_default(),
        pid: std::process::id(),
        version: env!("CARGO_PKG_VERSION").into(),
        protocol: PROTOCOL_VERSION,
        data_dir: shared.data_dir.clone(),
        uptime_secs: shared.started.elapsed().as_secs(),
        workspaces: workspaces.len() as u32,
        agents_running: agents_running as u32,
        rss_bytes: crate::proc::rss_bytes().unwrap_or(0),
    })
}

pub async fn list(shared: &Shared) -> Result<Vec<WorkspaceInfo>, String> {
    let mut list = ask(&shared.node, NodeMsg::List).await?;
    list.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(list)
}

pub async fn workspace(shared: &Shared, name: &str) -> Result<ActorRef<WorkspaceMsg>, String> {
    try_ask(&shared.node, |r| NodeMsg::Get(name.to_string(), r)).await
}

async fn agent(shared: &Shared, target: &Target) -> Result<ActorRef<AgentMsg>, String> {
    let ws = workspace(shared, &target.workspace).await?;
    let name = target.agent.clone();
    try_ask(&ws, |reply| WorkspaceMsg::Agent { name, reply }).await
}

/// One call into the actor tree, its failure worded for the user.
async fn ask<M, T, F>(actor: &ActorRef<M>, msg: F) -> Result<T, String>
where
    M: ractor::Message,
    T: Send + 'static,
    F: FnOnce(ractor::RpcReplyPort<T>) -> M,
{
    match actor.call(msg, Some(CALL_TIMEOUT)).await {
        Ok(ractor::rpc::CallResult::Success(v)) => Ok(v),
        Ok(ractor::rpc::CallResult::Timeout) => Err("the node did not answer in time".into()),
        Ok(ractor::rpc::CallResult::SenderError) => {
            Err("the request was dropped (node stopping?)".into())
        }
        Err(e) => Err(format!("node unavailable: {e}")),
    }
}

async fn try_ask<M, T, E, F>(actor: &ActorRef<M>, msg: F) -> Result<T, String>
where
    M: ractor::Message,
    T: Send + 'static,
    E: std::fmt::Display + Send + 'static,
    F: FnOnce(ractor::RpcReplyPort<Result<T, E>>) -> M,
{
    ask(actor, msg).await?.map_err(|e| e.to_string())
}
