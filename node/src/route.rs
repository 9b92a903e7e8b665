//! Location transparency: a request from the local CLI about a workspace
//! this node does not own goes to the node that does. Listings merge every
//! node's workspaces; a node that cannot be reached shows its last known
//! workspaces marked unreachable instead of hiding them.

use roam_actors::model::WorkspaceInfo;
use roam_mesh::PeerId;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::api::{NodeInfo, Request, Response};
use crate::conn;
use crate::control::{self, Shared};

pub async fn is_local(shared: &Shared, name: &str) -> bool {
    control::workspace(shared, name).await.is_ok()
}

/// Answers a local request, asking other nodes where needed.
pub async fn handle(shared: &Shared, request: Request) -> Result<Response, String> {
    match request {
        Request::List => list_all(shared).await.map(Response::Workspaces),
        // `ssh:HOST` is a host this node drives, not a mesh node.
        Request::New {
            on: Some(ref node), ..
        } if *node != shared.name && !node.starts_with("ssh:") => {
            let node = node.clone();
            let peer = shared.peers.member_named(&node)?;
            // The owner makes it as its own.
            let mut request = request;
            if let Request::New { on, .. } = &mut request {
                *on = None;
            }
            match remote(shared, peer, &node, request).await? {
                Response::Workspace(mut ws) => {
                    ws.badge = node;
                    Ok(Response::Workspace(ws))
                }
                other => Ok(other),
            }
        }
        Request::Stop { ref name }
        | Request::Start { ref name }
        | Request::Remove { ref name, .. }
        | Request::AddAgent {
            workspace: ref name,
            ..
        } => owned(shared, name.clone(), request).await,
        Request::Send { ref target, .. } => owned(shared, target.workspace.clone(), request).await,
        other => control::handle(shared, other).await,
    }
}

/// Runs `request` where workspace `name` lives.
async fn owned(shared: &Shared, name: String, request: Request) -> Result<Response, String> {
    if is_local(shared, &name).await {
        return control::handle(shared, request).await;
    }
    let (peer, node) = locate(shared, &name).await?;
    remote(shared, peer, &node, request).await
}

/// One call to another node; its error comes back as ours.
async fn remote(
    shared: &Shared,
    peer: PeerId,
    node: &str,
    request: Request,
) -> Result<Response, String> {
    match shared.peers.call(peer, request).await {
        Ok(Response::Error { message }) => Err(message),
        Ok(r) => Ok(r),
        Err(e) => Err(format!("node '{node}' is unreachable: {e}")),
    }
}

/// Finds the node that owns workspace `name`: asks every member at once.
pub async fn locate(shared: &Shared, name: &str) -> Result<(PeerId, String), String> {
    let others = shared.peers.others();
    let asks = others
        .iter()
        .filter_map(|m| Some((m.peer.parse::<PeerId>().ok()?, m.name.clone())))
        .map(|(peer, node)| async move {
            let answer = shared
                .peers
                .call(
                    peer,
                    Request::Locate {
                        name: name.to_string(),
                    },
                )
                .await;
            (peer, node, answer)
        });
    let mut unreachable = Vec::new();
    for (peer, node, answer) in futures::future::join_all(asks).await {
        match answer {
            Ok(Response::Located { found: true }) => return Ok((peer, node)),
            Ok(_) => {}
            Err(_) => unreachable.push(node),
        }
    }
    for node in &unreachable {
        if shared
            .peers
            .last_listing(node)
            .iter()
            .any(|w| w.name == name)
        {
            return Err(format!(
                "workspace '{name}' is on node '{node}', which is unreachable"
            ));
        }
    }
    if unreachable.is_empty() {
        Err(format!("no workspace named '{name}'"))
    } else {
        Err(format!(
            "no workspace named '{name}' on any reachable node (unreachable: {})",
            unreachable.join(", ")
        ))
    }
}

/// This node's workspaces and every other node's, by name.
pub async fn list_all(shared: &Shared) -> Result<Vec<WorkspaceInfo>, String> {
    let mut all = control::list(shared).await?;
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
            _ => {
                let mut stale = shared.peers.last_listing(&node);
                for w in &mut stale {
                    w.problem = Some(format!("node '{node}' is unreachable"));
                }
                all.extend(stale);
            }
        }
    }
    all.sort_by(|a, b| a.name.cmp(&b.name).then(a.badge.cmp(&b.badge)));
    Ok(all)
}

pub use crate::relay::relay_attach;

/// Carries `logs` to the owner and relays its frames unchanged until either
/// side ends. (An attach goes through `relay_attach`, which reconnects.)
pub async fn relay_stream<S>(shared: &Shared, mut local: S, request: Request)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let name = match &request {
        Request::Attach { target, .. } | Request::Logs { target, .. } => target.workspace.clone(),
        _ => return,
    };
    let opened = match locate(shared, &name).await {
        Ok((peer, node)) => shared
            .peers
            .open_call(peer, request)
            .await
            .map_err(|e| format!("node '{node}' is unreachable: {e}")),
        Err(e) => Err(e),
    };
    match opened {
        Ok((Response::Streaming, mut remote)) => {
            if conn::send(&mut local, &Response::Streaming).await.is_ok() {
                let _ = tokio::io::copy_bidirectional(&mut local, &mut remote).await;
            }
        }
        Ok((other, _)) => {
            let _ = conn::send(&mut local, &other).await;
        }
        Err(message) => {
            let _ = conn::send(&mut local, &Response::Error { message }).await;
        }
    }
}

/// Every node of the mesh with what it reports, this one first.
pub async fn nodes(shared: &Shared) -> Vec<NodeInfo> {
    let mut out = Vec::new();
    if let Ok(s) = control::status(shared).await {
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
        match status {
            Some(Response::Status(s)) => NodeInfo {
                name: m.name,
                peer_id: m.peer,
                addrs: m.addrs,
                local: false,
                online: true,
                rtt_micros: rtt.map(|d| d.as_micros() as u64),
                workspaces: Some(s.workspaces),
                agents_running: Some(s.agents_running),
                load: Some(s.load),
            },
            _ => NodeInfo {
                name: m.name,
                peer_id: m.peer,
                addrs: m.addrs,
                local: false,
                online: false,
                rtt_micros: None,
                workspaces: None,
                agents_running: None,
                load: None,
            },
        }
    });
    out.extend(futures::future::join_all(asks).await);
    out
}
