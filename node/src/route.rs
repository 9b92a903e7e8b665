//! Location transparency for the local CLI: decide where a request runs,
//! then answer it here (`local`) or forward it to the owner. Listings merge
//! every node's workspaces; a node that cannot be reached shows its last
//! known workspaces marked unreachable instead of hiding them.
//!
//! A forwarded request carries the epoch the owner was found at. A `Stale`
//! refusal (the workspace changed owner since, or is no longer there) was
//! not acted on, so it is safe to locate again, without the cache, and
//! retry once.

use roam_mesh::PeerId;
use tokio::io::{AsyncRead, AsyncWrite, ReadHalf, WriteHalf};

use crate::api::{ErrorKind, NodeInfo, Request, Response, Target, WorkspaceInfo};
use crate::conn;
use crate::error::{Failure, HasKind};
use crate::locate::{self, Found};
use crate::shared::Shared;
use crate::{local, relay, tree};

/// Answers a request from the local CLI, asking other nodes where needed.
pub async fn handle(shared: &Shared, request: Request) -> Result<Response, Failure> {
    match request {
        Request::List => list_all(shared).await.map(Response::Workspaces),
        Request::Nodes => Ok(Response::Nodes(nodes(shared).await)),
        // `ssh:HOST` is a host this node drives, not a mesh node.
        Request::New {
            on: Some(ref node), ..
        } if node != shared.name() && !node.starts_with("ssh:") => {
            let node = node.clone();
            let peer = shared
                .peers
                .member_named(&node)
                .map_err(crate::error::fail)?;
            // The owner makes it as its own.
            let mut request = request;
            if let Request::New { on, .. } = &mut request {
                *on = None;
            }
            match forward(shared, peer, &node, None, request).await? {
                Response::Workspace(mut ws) => {
                    ws.badge = node;
                    Ok(Response::Workspace(ws))
                }
                other => Ok(other),
            }
        }
        // A superseded copy is this node's own business.
        Request::Remove {
            superseded: true, ..
        } => local::handle(shared, request).await,
        request => match crate::ownership::workspace_of(&request) {
            Some(name) => {
                let name = name.to_string();
                owned(shared, &name, request).await
            }
            None => local::handle(shared, request).await,
        },
    }
}

/// Runs `request` where workspace `name` lives; locates again and retries
/// once if the owner it went to says it is not (or no longer) the owner.
async fn owned(shared: &Shared, name: &str, request: Request) -> Result<Response, Failure> {
    let found = locate::locate(shared, name, false).await?;
    let first = run_at(shared, &found, request.clone()).await;
    match first {
        Err(f) if retry_after(&f, &found) => {
            tracing::info!(workspace = %name, node = %found.node, kind = ?f.kind, "owner moved on; locating again");
            shared.located.forget(name);
            let found = locate::locate(shared, name, true).await?;
            run_at(shared, &found, request).await
        }
        Err(f) => {
            if f.kind == ErrorKind::Unreachable {
                shared.located.forget(name);
            }
            Err(f)
        }
        ok => ok,
    }
}

/// A refusal that means "not acted on, ask elsewhere": the owner found is
/// not (or no longer) the owner.
fn retry_after(f: &Failure, found: &Found) -> bool {
    f.kind == ErrorKind::Stale && found.peer.is_some()
}

async fn run_at(shared: &Shared, found: &Found, request: Request) -> Result<Response, Failure> {
    match found.peer {
        None => local::handle(shared, request).await,
        Some(peer) => forward(shared, peer, &found.node, Some(found.epoch), request).await,
    }
}

/// One call to another node; its error comes back as ours, kind and all.
async fn forward(
    shared: &Shared,
    peer: PeerId,
    node: &str,
    epoch: Option<u64>,
    request: Request,
) -> Result<Response, Failure> {
    match shared.peers.call_fenced(peer, epoch, request).await {
        Ok(response) => Failure::from_response(response),
        Err(e) => Err(Failure::new(
            e.kind(),
            format!("node '{node}' is unreachable: {e}"),
        )),
    }
}

/// This node's workspaces and every other node's, by name.
pub async fn list_all(shared: &Shared) -> Result<Vec<WorkspaceInfo>, Failure> {
    let mut all = tree::list(shared).await?;
    let others = shared.peers.others();
    let asks = others
        .iter()
        .filter_map(|m| Some((m.peer.parse::<PeerId>().ok()?, m.name.clone())))
        .map(|(peer, node)| async move { (node, shared.peers.call(peer, Request::List).await) });
    for (node, answer) in futures::future::join_all(asks).await {
        match answer {
            Ok(Response::Workspaces(mut list)) => {
                for w in &mut list {
                    w.badge = node.clone();
                }
                shared.peers.remember_listing(&node, &list);
                all.extend(list);
            }
            answer => {
                let why = match answer {
                    Err(e) => format!(": {e}"),
                    Ok(_) => String::new(),
                };
                let mut stale = shared.peers.last_listing(&node);
                for w in &mut stale {
                    w.problem = Some(format!("node '{node}' is unreachable{why}"));
                }
                all.extend(stale);
            }
        }
    }
    all.sort_by(|a, b| a.name.cmp(&b.name).then(a.badge.cmp(&b.badge)));
    Ok(all)
}

/// Serves `attach` for the local CLI: here, or relayed to the owner.
pub async fn attach<S>(
    shared: &Shared,
    reader: ReadHalf<S>,
    mut writer: WriteHalf<S>,
    target: Target,
    (rows, cols): (u16, u16),
    resume: Option<crate::api::Resume>,
) where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    match locate::locate(shared, &target.workspace, false).await {
        Ok(Found { peer: None, .. }) => {
            let _ = local::stream_attach(reader, &mut writer, shared, target, (rows, cols), resume)
                .await;
        }
        // The relay locates (again) itself on every reconnect.
        Ok(_) => relay::relay_attach(shared, reader, writer, target, rows, cols).await,
        Err(f) => {
            let _ = conn::send(&mut writer, &Response::from(f)).await;
        }
    }
}

/// Serves `logs` for the local CLI: here, or its frames relayed unchanged
/// from the owner until either side ends.
pub async fn logs<S>(
    shared: &Shared,
    reader: ReadHalf<S>,
    mut writer: WriteHalf<S>,
    target: Target,
    follow: bool,
) where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let found = match locate::locate(shared, &target.workspace, false).await {
        Ok(found) => found,
        Err(f) => {
            let _ = conn::send(&mut writer, &Response::from(f)).await;
            return;
        }
    };
    let Some(peer) = found.peer else {
        let _ = local::stream_logs(&mut writer, shared, target, follow).await;
        return;
    };
    let mut local = tokio::io::join(reader, writer);
    let request = Request::Logs { target, follow };
    match shared
        .peers
        .open_call(peer, Some(found.epoch), request)
        .await
    {
        Ok((Response::Streaming, mut remote)) => {
            if conn::send(&mut local, &Response::Streaming).await.is_ok() {
                let _ = tokio::io::copy_bidirectional(&mut local, &mut remote).await;
            }
        }
        Ok((other, _)) => {
            let _ = conn::send(&mut local, &other).await;
        }
        Err(e) => {
            let f = Failure::new(
                e.kind(),
                format!("node '{}' is unreachable: {e}", found.node),
            );
            let _ = conn::send(&mut local, &Response::from(f)).await;
        }
    }
}

/// Every node of the mesh with what it reports, this one first.
pub async fn nodes(shared: &Shared) -> Vec<NodeInfo> {
    let mut out = Vec::new();
    if let Ok(s) = local::status(shared).await {
        out.push(NodeInfo {
            name: s.name,
            peer_id: s.peer_id,
            addrs: s.listen,
            local: true,
            online: true,
            rtt_micros: None,
            workspaces: Some(s.workspaces),
            agents_running: Some(s.agents_running),
            load: Some(s.load),
        });
    }
    let others = shared.peers.others();
    let asks = others.into_iter().map(|m| async move {
        let peer = m.peer.parse::<PeerId>().ok();
        let status = match peer {
            Some(p) => shared.peers.call(p, Request::Status).await.ok(),
            None => None,
        };
        let rtt = peer.and_then(|p| shared.peers.rtt(&p));
        let status = match status {
            Some(Response::Status(s)) => Some(s),
            _ => None,
        };
        NodeInfo {
            name: m.name,
            peer_id: m.peer,
            addrs: m.addrs,
            local: false,
            online: status.is_some(),
            rtt_micros: rtt
                .filter(|_| status.is_some())
                .map(|d| d.as_micros() as u64),
            workspaces: status.as_ref().map(|s| s.workspaces),
            agents_running: status.as_ref().map(|s| s.agents_running),
            load: status.map(|s| s.load),
        }
    });
    out.extend(futures::future::join_all(asks).await);
    out
}
