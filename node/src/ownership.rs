//! Fencing: one owner per workspace, the one with the highest epoch.
//!
//! - `Locate` answers what this node holds of a name ([`location`]).
//! - A request that acts on a workspace carries the epoch its sender saw;
//!   [`check_epoch`] refuses an older (or newer) one, and any request for a
//!   superseded copy, with `ErrorKind::Stale`: the sender locates again.
//! - Nodes converge without help: on every (re)connect, and at start-up
//!   before any agent runs, a node tells each member which workspaces it
//!   owns and at which epoch (`Request::Ownership`); whichever side holds
//!   an older epoch for the same id supersedes its copy — stops its agents
//!   and keeps the copy, marked, until the user drops it.
//!
//! The rule at start-up: members connected within `START_WAIT` are asked;
//! one that is not reachable cannot fence us then, and the exchange when
//! it reconnects does.

use std::time::{Duration, Instant};

use roam_actors::model::{Owner, Superseded, WorkspaceRecord};
use roam_actors::node::NodeMsg;
use roam_actors::persist::Persist;
use roam_mesh::PeerId;

use crate::api::{Claim, Location, Request, Response};
use crate::error::Failure;
use crate::peers::Peers;
use crate::shared::Shared;
use crate::store::Store;
use crate::tree;

/// How long a starting node waits for its members to connect before it
/// starts agents whose ownership nobody contradicted.
const START_WAIT: Duration = Duration::from_secs(3);

pub fn claim_of(record: &WorkspaceRecord) -> Claim {
    match &record.superseded {
        // What we know of the newer owner is the claim worth spreading.
        Some(s) => Claim {
            id: record.id.clone(),
            name: record.name.clone(),
            owner_peer: s.owner.peer.clone(),
            owner_node: s.owner.node.clone(),
            epoch: s.epoch,
        },
        None => Claim {
            id: record.id.clone(),
            name: record.name.clone(),
            owner_peer: record.owner.peer.clone(),
            owner_node: record.owner.node.clone(),
            epoch: record.epoch,
        },
    }
}

fn owner_of(claim: &Claim) -> Owner {
    Owner {
        peer: claim.owner_peer.clone(),
        node: claim.owner_node.clone(),
    }
}

/// What this node holds of workspace `name`.
pub async fn location(shared: &Shared, name: &str) -> Option<Location> {
    let record = tree::record(shared, name).await.ok()?;
    Some(Location {
        claim: Claim {
            id: record.id.clone(),
            name: record.name.clone(),
            owner_peer: record.owner.peer.clone(),
            owner_node: record.owner.node.clone(),
            epoch: record.epoch,
        },
        superseded: !record.is_active(),
    })
}

/// The workspace a request acts on, if it acts on one.
pub fn workspace_of(request: &Request) -> Option<&str> {
    match request {
        Request::Stop { name }
        | Request::Start { name }
        | Request::Remove { name, .. }
        | Request::AddAgent {
            workspace: name, ..
        } => Some(name),
        Request::Send { target, .. }
        | Request::Logs { target, .. }
        | Request::Attach { target, .. } => Some(&target.workspace),
        Request::Ping
        | Request::Status
        | Request::Shutdown
        | Request::New { .. }
        | Request::List
        | Request::Locate { .. }
        | Request::Reserve { .. }
        | Request::Release { .. }
        | Request::Ownership { .. }
        | Request::PairOpen
        | Request::Join { .. }
        | Request::PairHello { .. }
        | Request::PairConfirm { .. }
        | Request::RosterSync { .. }
        | Request::Unpair { .. }
        | Request::Nodes
        | Request::Dial { .. }
        | Request::HostAdd { .. }
        | Request::HostCheck { .. }
        | Request::HostList
        | Request::HostRemove { .. }
        | Request::HostPipe { .. }
        | Request::HostTmux(_) => None,
    }
}

/// Refuses a request that carries an epoch other than the one this node
/// holds, or that reaches a superseded copy. A request without an epoch
/// (the local CLI) and one for a name this node does not hold pass: the
/// request itself answers those.
pub async fn check_epoch(
    shared: &Shared,
    request: &Request,
    seen: Option<u64>,
) -> Result<(), Failure> {
    let (Some(name), Some(seen)) = (workspace_of(request), seen) else {
        return Ok(());
    };
    // Dropping a superseded copy is what one does to it.
    if matches!(
        request,
        Request::Remove {
            superseded: true,
            ..
        }
    ) {
        return Ok(());
    }
    let Ok(record) = tree::record(shared, name).await else {
        return Ok(());
    };
    if let Some(s) = &record.superseded {
        return Err(roam_actors::ActorError::Superseded {
            name: name.to_string(),
            held: record.epoch,
            owner: s.owner.node.clone(),
            epoch: s.epoch,
        }
        .into());
    }
    if seen != record.epoch {
        return Err(roam_actors::ActorError::StaleEpoch {
            name: name.to_string(),
            seen,
            held: record.epoch,
        }
        .into());
    }
    Ok(())
}

/// A member told us what it holds: supersede our older copies, and answer
/// with the claims we hold newer than its.
pub async fn answer(shared: &Shared, claims: Vec<Claim>) -> Vec<Claim> {
    let records = tree::records(shared).await;
    let mut newer = Vec::new();
    for claim in claims.into_iter().take(MAX_CLAIMS) {
        let Some(record) = records.iter().find(|r| r.id == claim.id) else {
            continue;
        };
        let ours = claim_of(record);
        if ours.epoch > claim.epoch {
            newer.push(ours);
        } else if ours.epoch < claim.epoch {
            supersede(shared, &claim);
        }
    }
    newer
}

/// Claims in one exchange are bounded where they enter.
const MAX_CLAIMS: usize = 4096;

fn supersede(shared: &Shared, claim: &Claim) {
    let _ = shared.node.cast(NodeMsg::Supersede {
        id: claim.id.clone(),
        owner: owner_of(claim),
        epoch: claim.epoch,
    });
}

/// Tells `peer` what we own and supersedes what it holds newer. Run on
/// every (re)connect of a member.
pub async fn exchange_with(shared: &Shared, peer: PeerId) {
    let claims: Vec<Claim> = tree::records(shared)
        .await
        .iter()
        .filter(|r| r.is_active())
        .map(claim_of)
        .collect();
    if claims.is_empty() {
        return;
    }
    match shared.peers.call(peer, Request::Ownership { claims }).await {
        Ok(Response::Ownership { newer }) => {
            for claim in newer.iter().take(MAX_CLAIMS) {
                supersede(shared, claim);
            }
        }
        Ok(other) => tracing::debug!(peer = %peer, answer = ?other, "ownership exchange refused"),
        Err(e) => tracing::debug!(peer = %peer, error = %e, "ownership exchange failed"),
    }
}

/// Before any agent runs: asks the members that connect within
/// `START_WAIT` whether they hold any of our workspaces at a newer epoch,
/// and marks (and saves) those records superseded, so their agents are
/// never started.
pub async fn check_at_start(peers: &Peers, store: &Store, records: &mut [WorkspaceRecord]) {
    let claims: Vec<Claim> = records
        .iter()
        .filter(|r| r.is_active())
        .map(claim_of)
        .collect();
    if claims.is_empty() {
        return;
    }
    let members: Vec<PeerId> = peers
        .others()
        .iter()
        .filter(|m| !m.addrs.is_empty())
        .filter_map(|m| m.peer.parse().ok())
        .collect();
    let deadline = Instant::now() + START_WAIT;
    let mut asked: Vec<PeerId> = Vec::new();
    while asked.len() < members.len() && Instant::now() < deadline {
        let connected = peers.connected().await;
        for peer in members.iter().filter(|p| connected.contains(p)) {
            if asked.contains(peer) {
                continue;
            }
            asked.push(*peer);
            let request = Request::Ownership {
                claims: claims.clone(),
            };
            let Ok(Response::Ownership { newer }) = peers.call(*peer, request).await else {
                continue;
            };
            for claim in newer.iter().take(MAX_CLAIMS) {
                mark_superseded(store, records, claim).await;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if asked.len() < members.len() {
        tracing::info!(
            asked = asked.len(),
            members = members.len(),
            "not every member answered at start; the rest are checked when they connect"
        );
    }
}

async fn mark_superseded(store: &Store, records: &mut [WorkspaceRecord], claim: &Claim) {
    let Some(record) = records.iter_mut().find(|r| r.id == claim.id) else {
        return;
    };
    if record.epoch >= claim.epoch {
        return;
    }
    tracing::warn!(workspace = %record.name, held = record.epoch, epoch = claim.epoch, owner = %claim.owner_node, "a member owns this workspace at a newer epoch; its agents stay stopped here");
    record.superseded = Some(Superseded {
        owner: owner_of(claim),
        epoch: claim.epoch,
        since_unix: roam_actors::site::unix_now(),
    });
    if let Err(e) = store.save(record).await {
        tracing::error!(workspace = %record.name, error = %e, "cannot save the superseded mark");
    }
}
