//! Answering a request from this node's own state: its actors, its roster
//! and pairing, its SSH hosts. The bottom of the request path: nothing
//! here forwards a request or calls back into `route` or `control`.

use ractor::ActorRef;
use roam_actors::agent::AgentMsg;
use roam_actors::node::NodeMsg;
use roam_actors::workspace::WorkspaceMsg;
use tokio::io::{AsyncRead, AsyncWrite, ReadHalf, WriteHalf};

use crate::api::{NodeStatus, PROTOCOL_VERSION, Request, Response, Resume, Target};
use crate::conn::{self, ConnError};
use crate::error::{Failure, fail};
use crate::shared::Shared;
use crate::tree::{agent, list, try_ask, workspace};
use crate::{create, ownership, terminal};

/// Answers one request here. Streams (`Attach`, `Logs`, host streams) are
/// served by [`stream_attach`] and [`stream_logs`]; a request about the
/// mesh as a whole (`Nodes`) by `route`.
pub async fn handle(shared: &Shared, request: Request) -> Result<Response, Failure> {
    match request {
        Request::Ping => Ok(Response::Pong {
            protocol: PROTOCOL_VERSION,
            pid: std::process::id(),
        }),
        Request::Status => status(shared).await.map(Response::Status),
        Request::Shutdown { keep_agents } => {
            let _ = shared.shutdown.send(Some(keep_agents));
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
            let spec = roam_actors::site::CreateSpec {
                id: crate::names::new_id(),
                name,
                repo: repo.into(),
                base,
                profile,
                prompt,
                host,
            };
            create::create_here(shared, spec)
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
        Request::Remove {
            name,
            force,
            superseded,
        } => try_ask(&shared.node, |reply| NodeMsg::Remove {
            name,
            force,
            superseded_copy: superseded,
            reply,
        })
        .await
        .map(|r| Response::Removed {
            snapshot_ref: r.snapshot_ref,
        }),
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
            .map(|a| Response::Agent(a.into()))
        }
        Request::Send { target, data } => {
            let agent = agent(shared, &target).await?;
            try_ask(&agent, |reply| AgentMsg::Input(data, reply))
                .await
                .map(|_| Response::Done)
        }
        Request::Locate { name } => Ok(Response::Located {
            location: ownership::location(shared, &name).await,
        }),
        Request::Reserve { name, id, by } => create::reserve_here(shared, &name, &id, &by)
            .await
            .map(|_| Response::Done),
        Request::Release { name, id } => {
            shared.names.release(&name, &id);
            Ok(Response::Done)
        }
        Request::Ownership { claims } => Ok(Response::Ownership {
            newer: ownership::answer(shared, claims).await?,
        }),
        Request::PairOpen => {
            let (code, addrs, expires_secs) = shared.peers.open_pairing().await.map_err(fail)?;
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
            .map(|name| Response::Joined { name })
            .map_err(fail),
        Request::Unpair { name } => shared
            .peers
            .unpair(&name)
            .await
            .map(|also| Response::Unpaired { also })
            .map_err(fail),
        Request::Dial { addr } => {
            let parsed = addr
                .parse()
                .map_err(|e| Failure::invalid(format!("bad address '{addr}': {e}")))?;
            let peer = shared
                .peers
                .mesh
                .dial(parsed)
                .await
                .map_err(|e| Failure::new(crate::api::ErrorKind::Unreachable, e.to_string()))?;
            Ok(Response::Dialed {
                peer_id: peer.to_string(),
            })
        }
        Request::RosterSync { members } => {
            let merged = shared.peers.merge_roster(members).await.map_err(fail)?;
            if merged.changed {
                // News travels on at once (a tombstone above all), not only
                // when members next reconnect. It ends: a member that
                // learns nothing new spreads nothing.
                let peers = shared.peers.clone();
                tokio::spawn(async move { peers.spread_roster().await });
            }
            Ok(Response::Roster {
                members: shared.peers.wire_roster(),
            })
        }
        Request::HostAdd { alias, accept_new } => shared
            .hosts
            .add(&alias, accept_new)
            .await
            .map(Response::HostReport)
            .map_err(fail),
        Request::HostCheck { alias } => shared
            .hosts
            .check(&alias)
            .await
            .map(Response::HostReport)
            .map_err(fail),
        Request::HostList => Ok(Response::Hosts(shared.hosts.list().await)),
        Request::HostRemove { alias } => shared
            .hosts
            .remove(&alias)
            .await
            .map(|_| Response::Done)
            .map_err(fail),
        Request::Nodes => Err(Failure::invalid(
            "`nodes` is answered by the node the CLI talks to",
        )),
        Request::PairHello { .. } | Request::PairConfirm { .. } => Err(Failure::invalid(
            "pairing steps are spoken on the pairing protocol only",
        )),
        Request::Attach { .. }
        | Request::Logs { .. }
        | Request::HostPipe { .. }
        | Request::HostTmux(_) => Err(Failure::internal("stream requests are served elsewhere")),
    }
}

pub async fn stream_attach<S: AsyncRead + AsyncWrite + Send + 'static>(
    reader: ReadHalf<S>,
    writer: &mut WriteHalf<S>,
    shared: &Shared,
    target: Target,
    (rows, cols): (u16, u16),
    resume: Option<Resume>,
) -> Result<(), ConnError> {
    let agent = match agent(shared, &target).await {
        Ok(a) => a,
        Err(f) => return conn::send(writer, &Response::from(f)).await,
    };
    let _ = agent.cast(AgentMsg::Resize { rows, cols });
    let sub = match terminal::subscribe(&agent, false).await {
        Ok(s) => s,
        Err(f) => return conn::send(writer, &Response::from(f)).await,
    };
    conn::send(writer, &Response::Streaming).await?;
    terminal::attach(reader, writer, agent, sub, resume, &shared.inputs).await
}

pub async fn stream_logs<W: AsyncWrite + Unpin>(
    writer: &mut W,
    shared: &Shared,
    target: Target,
    follow: bool,
) -> Result<(), ConnError> {
    let agent = match agent(shared, &target).await {
        Ok(a) => a,
        Err(f) => return conn::send(writer, &Response::from(f)).await,
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
        Err(f) => return conn::send(writer, &Response::from(f)).await,
    };
    conn::send(writer, &Response::Streaming).await?;
    terminal::logs(writer, &scrollback, sub).await
}

async fn scrollback(agent: &ActorRef<AgentMsg>) -> Result<Vec<u8>, Failure> {
    try_ask(agent, AgentMsg::Scrollback).await
}

pub async fn status(shared: &Shared) -> Result<NodeStatus, Failure> {
    let workspaces = list(shared).await?;
    let agents_running = workspaces
        .iter()
        .flat_map(|w| &w.agents)
        .filter(|a| {
            !matches!(
                a.status,
                crate::api::AgentStatus::Exited { .. } | crate::api::AgentStatus::Stopped
            )
        })
        .count();
    let listen = shared.peers.listen_addrs().await;
    Ok(NodeStatus {
        name: shared.name().to_string(),
        peer_id: shared.me.peer.clone(),
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
