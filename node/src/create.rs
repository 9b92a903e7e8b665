//! Making a workspace on this node (or on one of its SSH hosts) under a
//! name that is unique across the mesh: reserve the name with every
//! reachable member (`names`), then let the Node actor make it, then let
//! the reservations go.
//!
//! The rule for a member that is offline at that moment: it is skipped,
//! but a name its last known listing shows is refused (it most likely
//! still has it). A duplicate can still arise if the offline member made
//! the same name meanwhile; `locate` then refuses to guess between the two
//! (a `Conflict` naming both nodes) and `roam ls` shows both.

use futures::future::join_all;
use roam_actors::node::NodeMsg;
use roam_actors::site::CreateSpec;
use roam_mesh::PeerId;

use crate::api::{ErrorKind, Request, Response, WorkspaceInfo};
use crate::error::{Failure, HasKind};
use crate::shared::Shared;
use crate::{names, tree};

/// Makes workspace `spec` here (or on one of this node's hosts) under its
/// new id, once every reachable member holds the name for it.
pub async fn create_here(shared: &Shared, spec: CreateSpec) -> Result<WorkspaceInfo, Failure> {
    roam_gitsync::validate_workspace_name(&spec.name)
        .map_err(|e| Failure::invalid(e.to_string()))?;
    let (name, id) = (spec.name.clone(), spec.id.clone());
    let held = reserve_everywhere(shared, &name, &id).await;
    let made = match &held {
        Ok(peers) => {
            // A long create (a big repository to a host) keeps its holds.
            let making = make(shared, spec);
            tokio::pin!(making);
            let mut renew = tokio::time::interval(names::HOLD / 3);
            renew.tick().await;
            loop {
                tokio::select! {
                    made = &mut making => break made,
                    _ = renew.tick() => renew_holds(shared, &name, &id, peers).await,
                }
            }
        }
        Err(f) => Err(f.clone()),
    };
    let peers = held.unwrap_or_default();
    release(shared, &name, &id, &peers).await;
    made
}

async fn make(shared: &Shared, spec: CreateSpec) -> Result<WorkspaceInfo, Failure> {
    let call = shared
        .node
        .call(|r| NodeMsg::Create(spec, r), Some(CREATE_TIMEOUT))
        .await;
    match call {
        Ok(ractor::rpc::CallResult::Success(made)) => made.map(Into::into).map_err(Failure::from),
        Ok(_) => Err(Failure::new(
            ErrorKind::Busy,
            "the node did not finish making the workspace in time",
        )),
        Err(e) => Err(Failure::internal(format!("node unavailable: {e}"))),
    }
}

/// A repository sent to a host can take a while.
const CREATE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(600);

/// Holds `name` for `id` with every member in PeerId order, this node at
/// its place in that order. Returns the members that hold it; on a refusal,
/// lets go of what was held and returns the refusal.
async fn reserve_everywhere(shared: &Shared, name: &str, id: &str) -> Result<Vec<PeerId>, Failure> {
    let mut order: Vec<(String, String)> = shared
        .peers
        .others()
        .into_iter()
        .map(|m| (m.peer, m.name))
        .collect();
    order.push((shared.me.peer.clone(), shared.me.node.clone()));
    order.sort();
    let mut held = Vec::new();
    for (peer, node) in order {
        let outcome = if peer == shared.me.peer {
            reserve_here(shared, name, id, shared.name()).await
        } else {
            reserve_at(shared, &peer, &node, name, id).await.map(|p| {
                held.extend(p);
            })
        };
        if let Err(refused) = outcome {
            release(shared, name, id, &held).await;
            return Err(refused);
        }
    }
    Ok(held)
}

/// Asks one member to hold the name. `Ok(None)` when it is offline and its
/// last listing does not show the name.
async fn reserve_at(
    shared: &Shared,
    peer: &str,
    node: &str,
    name: &str,
    id: &str,
) -> Result<Option<PeerId>, Failure> {
    let Ok(pid) = peer.parse::<PeerId>() else {
        return Ok(None);
    };
    let request = Request::Reserve {
        name: name.to_string(),
        id: id.to_string(),
        by: shared.name().to_string(),
    };
    match shared.peers.call(pid, request).await {
        Ok(Response::Done) => Ok(Some(pid)),
        Ok(Response::Error { kind, message }) => Err(Failure { kind, message }),
        Ok(other) => Err(Failure::internal(format!(
            "unexpected answer from node '{node}' to a reservation: {other:?}"
        ))),
        Err(e) if e.kind() == ErrorKind::Unreachable => {
            if shared.peers.last_listed(node, name) {
                return Err(Failure::new(
                    ErrorKind::Conflict,
                    format!("workspace '{name}' is on node '{node}', which is unreachable"),
                ));
            }
            tracing::info!(node = %node, workspace = %name, "member offline; name reserved without it");
            Ok(None)
        }
        Err(e) => Err(Failure::new(e.kind(), e.to_string())),
    }
}

/// This node's answer to a reservation (its own included): refused if a
/// live workspace of that name is here or being made or removed here, or
/// the name is held for another id.
pub async fn reserve_here(shared: &Shared, name: &str, id: &str, by: &str) -> Result<(), Failure> {
    // Bounded where they enter: a member's reservation is checked like ours.
    roam_gitsync::validate_workspace_name(name).map_err(|e| Failure::invalid(e.to_string()))?;
    if !names::valid_id(id) {
        return Err(Failure::invalid("a workspace id is 32 hex digits"));
    }
    if by.is_empty() || by.len() > names::MAX_NODE_NAME {
        return Err(Failure::invalid(format!(
            "a node name is 1 to {} bytes",
            names::MAX_NODE_NAME
        )));
    }
    let me = shared.name();
    if let Some(doing) = tree::busy(shared, name).await {
        return Err(Failure::new(
            ErrorKind::Conflict,
            format!("workspace '{name}' is being {doing} on node '{me}'"),
        ));
    }
    if let Ok(record) = tree::record(shared, name).await
        && record.is_active()
    {
        return Err(Failure::new(
            ErrorKind::Conflict,
            format!("workspace '{name}' already exists on node '{me}'"),
        ));
    }
    shared.names.reserve(name, id, by).map_err(|held| {
        Failure::new(
            ErrorKind::Conflict,
            format!(
                "workspace '{name}' is being created on node '{}'",
                held.node
            ),
        )
    })
}

/// Holds the name again (for the same id), here and at `peers`, so the
/// holds outlive a creation longer than `names::HOLD`.
async fn renew_holds(shared: &Shared, name: &str, id: &str, peers: &[PeerId]) {
    let _ = shared.names.reserve(name, id, shared.name());
    let calls = peers.iter().map(|peer| {
        shared.peers.call(
            *peer,
            Request::Reserve {
                name: name.to_string(),
                id: id.to_string(),
                by: shared.name().to_string(),
            },
        )
    });
    join_all(calls).await;
}

/// Lets go of the holds, here and at `peers`, all at once.
async fn release(shared: &Shared, name: &str, id: &str, peers: &[PeerId]) {
    shared.names.release(name, id);
    let calls = peers.iter().map(|peer| {
        shared.peers.call(
            *peer,
            Request::Release {
                name: name.to_string(),
                id: id.to_string(),
            },
        )
    });
    for outcome in join_all(calls).await {
        if let Err(e) = outcome {
            tracing::debug!(workspace = %name, error = %e, "could not release a reservation (it expires)");
        }
    }
}
