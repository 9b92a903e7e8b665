//! The local control socket: a Unix socket (mode 0600) in the data dir.
//! Each connection carries framed `Envelope` requests; every request gets
//! exactly one `Response`, and `Attach`/`Logs` then turn the connection
//! into a terminal stream. A malformed frame gets an error response and the
//! connection is closed; the node never panics on what a client sends.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ractor::ActorRef;
use roam_actors::agent::AgentMsg;
use roam_actors::model::{AgentStatus, WorkspaceInfo};
use roam_actors::node::{CreateSpec, NodeMsg};
use roam_actors::workspace::WorkspaceMsg;
use tokio::net::UnixStream;
use tokio::sync::watch;

use crate::api::{Envelope, NodeStatus, PROTOCOL_VERSION, Request, Response, Target};
use crate::conn::{self, ConnError};
use crate::terminal;

const CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// What every connection handler shares.
pub struct Shared {
    pub node: ActorRef<NodeMsg>,
    pub name: String,
    pub data_dir: String,
    pub started: Instant,
    pub shutdown: watch::Sender<bool>,
}

pub async fn serve_connection(stream: UnixStream, shared: Arc<Shared>) {
    let (mut reader, mut writer) = stream.into_split();
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
        let result = match envelope.request {
            Request::Attach { target, rows, cols } => {
                // Streams take the connection over; it ends with them.
                let _ = stream_attach(reader, &mut writer, &shared, target, rows, cols).await;
                return;
            }
            Request::Logs { target, follow } => {
                let _ = stream_logs(&mut writer, &shared, target, follow).await;
                return;
            }
            request => handle(&shared, request).await,
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
async fn close_gently(
    mut reader: tokio::net::unix::OwnedReadHalf,
    mut writer: tokio::net::unix::OwnedWriteHalf,
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

/// Answers one request; errors are the one-line message the user sees.
async fn handle(shared: &Shared, request: Request) -> Result<Response, String> {
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
        } => {
            let spec = CreateSpec {
                name,
                repo: repo.into(),
                base,
                profile,
                prompt,
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
        Request::Attach { .. } | Request::Logs { .. } => {
            Err("stream requests are served elsewhere".into())
        }
    }
}

async fn stream_attach(
    reader: tokio::net::unix::OwnedReadHalf,
    writer: &mut tokio::net::unix::OwnedWriteHalf,
    shared: &Shared,
    target: Target,
    rows: u16,
    cols: u16,
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
    terminal::attach(reader, writer, agent, sub).await
}

async fn stream_logs(
    writer: &mut tokio::net::unix::OwnedWriteHalf,
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

async fn status(shared: &Shared) -> Result<NodeStatus, String> {
    let workspaces = list(shared).await?;
    let agents_running = workspaces
        .iter()
        .flat_map(|w| &w.agents)
        .filter(|a| !matches!(a.status, AgentStatus::Exited { .. } | AgentStatus::Stopped))
        .count();
    Ok(NodeStatus {
        name: shared.name.clone(),
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

async fn list(shared: &Shared) -> Result<Vec<WorkspaceInfo>, String> {
    let mut list = ask(&shared.node, NodeMsg::List).await?;
    list.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(list)
}

async fn workspace(shared: &Shared, name: &str) -> Result<ActorRef<WorkspaceMsg>, String> {
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
