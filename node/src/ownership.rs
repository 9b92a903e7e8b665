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
//! Before the actor tree exists, `startup` does the same from the stored
//! records.

use std::sync::Arc;

use roam_actors::model::{Owner, WorkspaceRecord};
use roam_actors::node::NodeMsg;

use roam_mesh::PeerId;
use tokio::sync::broadcast;

use crate::api::{Claim, Location, Request, Response};
use crate::error::Failure;
use crate::shared::Shared;
use crate::tree;

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

pub fn owner_of(claim: &Claim) -> Owner {
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
        | Request::Shutdown { .. }
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
/// holds, that reaches a superseded copy, or that was sent here (with an
/// epoch) for a workspace this node no longer has: all *stale*, so the
/// sender locates again. A peer must say which epoch it saw; the local CLI
/// (no epoch) is answered from this node's state as it is.
pub async fn check_epoch(
    shared: &Shared,
    request: &Request,
    seen: Option<u64>,
    from_peer: bool,
) -> Result<(), Failure> {
    let Some(name) = workspace_of(request) else {
        return Ok(());
    };
    let seen = match (seen, from_peer) {
        (Some(seen), _) => seen,
        (None, false) => return Ok(()),
        (None, true) => {
            return Err(Failure::invalid(format!(
                "a request for workspace '{name}' from another node must carry the epoch it saw"
            )));
        }
    };
    let record = match tree::record(shared, name).await {
        Ok(record) => record,
        Err(f) if f.kind == crate::api::ErrorKind::NotFound => {
            return Err(Failure::new(
                crate::api::ErrorKind::Stale,
                format!(
                    "workspace '{name}' is not on node '{}' (any more); locate it again",
                    shared.name()
                ),
            ));
        }
        // Busy and the like: the request itself answers.
        Err(_) => return Ok(()),
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

/// How our claim on a workspace compares with a member's.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Ours is newer: tell them.
    OursNewer,
    /// Theirs is newer: supersede ours.
    TheirsNewer,
    /// The same owner at the same epoch.
    Same,
    /// One epoch, two owners: a bug or a forged claim. Neither side acts;
    /// it is logged and `locate` refuses to guess.
    Conflict,
}

pub fn compare(ours: &Claim, theirs: &Claim) -> Verdict {
    match ours.epoch.cmp(&theirs.epoch) {
        std::cmp::Ordering::Greater => Verdict::OursNewer,
        std::cmp::Ordering::Less => Verdict::TheirsNewer,
        std::cmp::Ordering::Equal if ours.owner_peer == theirs.owner_peer => Verdict::Same,
        std::cmp::Ordering::Equal => Verdict::Conflict,
    }
}

/// Claims in one exchange, and the length of each text in a claim, are
/// bounded where they enter.
pub const MAX_CLAIMS: usize = 4096;
const MAX_CLAIM_TEXT: usize = 256;

/// Refuses a claim list that is too long or carries oversized texts.
pub fn check_claims(claims: &[Claim]) -> Result<(), Failure> {
    if claims.len() > MAX_CLAIMS {
        return Err(Failure::invalid(format!(
            "too many claims in one exchange ({}; at most {MAX_CLAIMS})",
            claims.len()
        )));
    }
    let oversized = claims.iter().any(|c| {
        [&c.id, &c.name, &c.owner_peer, &c.owner_node]
            .iter()
            .any(|t| t.len() > MAX_CLAIM_TEXT)
    });
    if oversized {
        return Err(Failure::invalid(format!(
            "a claim field is longer than {MAX_CLAIM_TEXT} bytes"
        )));
    }
    Ok(())
}

/// A member told us what it holds: supersede our older copies, and answer
/// with the claims we hold newer than its.
pub async fn answer(shared: &Shared, claims: Vec<Claim>) -> Result<Vec<Claim>, Failure> {
    check_claims(&claims)?;
    let records = tree::records(shared).await;
    let mut newer = Vec::new();
    for claim in claims {
        let Some(record) = records.iter().find(|r| r.id == claim.id) else {
            continue;
        };
        let ours = claim_of(record);
        match compare(&ours, &claim) {
            Verdict::OursNewer => newer.push(ours),
            Verdict::TheirsNewer => supersede(shared, &claim),
            Verdict::Same => {}
            Verdict::Conflict => {
                tracing::error!(workspace = %claim.name, epoch = claim.epoch, ours = %ours.owner_node, theirs = %claim.owner_node, "two owners claim one epoch; leaving both as they are")
            }
        }
    }
    Ok(newer)
}

fn supersede(shared: &Shared, claim: &Claim) {
    let _ = shared.node.cast(NodeMsg::Supersede {
        id: claim.id.clone(),
        owner: owner_of(claim),
        epoch: claim.epoch,
    });
}

/// Exchanges with every member connected now, then with each that
/// (re)connects, for the node's life. Missed connect events (a lagging
/// queue) mean a round with every connected member again.
pub async fn follow(shared: Arc<Shared>, mut connects: broadcast::Receiver<PeerId>) {
    let each = |peers: Vec<PeerId>| {
        for peer in peers {
            let shared = shared.clone();
            tokio::spawn(async move { exchange_with(&shared, peer).await });
        }
    };
    each(shared.peers.connected_members().await);
    loop {
        match connects.recv().await {
            Ok(peer) => each(vec![peer]),
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                tracing::warn!(
                    missed,
                    "missed connect events; exchanging with every member"
                );
                each(shared.peers.connected_members().await);
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
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
        Ok(Response::Ownership { newer }) if check_claims(&newer).is_ok() => {
            for claim in &newer {
                supersede(shared, claim);
            }
        }
        Ok(other) => tracing::debug!(peer = %peer, answer = ?other, "ownership exchange refused"),
        Err(e) => tracing::debug!(peer = %peer, error = %e, "ownership exchange failed"),
    }
}
