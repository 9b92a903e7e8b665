//! Finding the node that owns a workspace: this node if it holds a live
//! copy, else the answer cached from the last search, else every member is
//! asked at once and the live copy with the highest epoch wins. Members
//! found holding an older live copy are told, so they supersede it.

use std::collections::HashMap;
use std::sync::Mutex;

use futures::future::join_all;
use roam_mesh::PeerId;

use crate::api::{Claim, ErrorKind, Request, Response};
use crate::error::Failure;
use crate::lock::lock;
use crate::ownership;
use crate::shared::Shared;

/// Bounded: names are cheap, but not free.
const MAX_CACHED: usize = 4096;

/// Where a workspace was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    /// `None`: this node owns it.
    pub peer: Option<PeerId>,
    pub node: String,
    pub epoch: u64,
}

#[derive(Default)]
pub struct LocationCache {
    found: Mutex<HashMap<String, Found>>,
}

impl LocationCache {
    fn get(&self, name: &str) -> Option<Found> {
        lock(&self.found).get(name).cloned()
    }

    fn put(&self, name: &str, found: &Found) {
        let mut map = lock(&self.found);
        if map.len() >= MAX_CACHED {
            map.clear();
        }
        map.insert(name.to_string(), found.clone());
    }

    pub fn forget(&self, name: &str) {
        lock(&self.found).remove(name);
    }
}

/// Finds the owner of `name`. `fresh` skips the cache (after a stale
/// answer).
pub async fn locate(shared: &Shared, name: &str, fresh: bool) -> Result<Found, Failure> {
    let here = ownership::location(shared, name).await;
    if let Some(loc) = &here
        && !loc.superseded
    {
        return Ok(Found {
            peer: None,
            node: shared.name().to_string(),
            epoch: loc.claim.epoch,
        });
    }
    if !fresh && let Some(found) = shared.located.get(name) {
        return Ok(found);
    }
    let found = ask_everyone(shared, name, here.map(|l| l.claim)).await?;
    shared.located.put(name, &found);
    Ok(found)
}

async fn ask_everyone(
    shared: &Shared,
    name: &str,
    superseded_here: Option<Claim>,
) -> Result<Found, Failure> {
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
    let mut live: Vec<(PeerId, String, Claim)> = Vec::new();
    // What superseded copies say of the newer owner.
    let mut hints: Vec<Claim> = superseded_here.into_iter().collect();
    let mut unreachable = Vec::new();
    for (peer, node, answer) in join_all(asks).await {
        match answer {
            Ok(Response::Located {
                location: Some(loc),
            }) if !loc.superseded => live.push((peer, node, loc.claim)),
            Ok(Response::Located {
                location: Some(loc),
            }) => hints.push(loc.claim),
            Ok(_) => {}
            Err(_) => unreachable.push(node),
        }
    }
    let mut ids: Vec<&str> = live.iter().map(|(_, _, c)| c.id.as_str()).collect();
    ids.sort();
    ids.dedup();
    if ids.len() > 1 {
        let nodes: Vec<&str> = live.iter().map(|(_, n, _)| n.as_str()).collect();
        return Err(Failure::new(
            ErrorKind::Conflict,
            format!(
                "two different workspaces are named '{name}' (on nodes {}); remove one of them on its node",
                nodes.join(" and ")
            ),
        ));
    }
    if let Some((peer, node, claim)) = live.iter().max_by_key(|(_, _, c)| c.epoch).cloned() {
        let rivals: Vec<&str> = live
            .iter()
            .filter(|(_, _, c)| c.epoch == claim.epoch && c.owner_peer != claim.owner_peer)
            .map(|(_, n, _)| n.as_str())
            .collect();
        if !rivals.is_empty() {
            return Err(Failure::new(
                ErrorKind::Conflict,
                format!(
                    "nodes '{node}' and '{}' both claim workspace '{name}' at epoch {}; stop one of them",
                    rivals.join("', '"),
                    claim.epoch
                ),
            ));
        }
        fence_older(shared, &live, &claim).await;
        return Ok(Found {
            peer: Some(peer),
            node,
            epoch: claim.epoch,
        });
    }
    // No live copy answered: a superseded copy may name an owner that is
    // offline, and an offline node's last listing may hold the name.
    if let Some(hint) = hints.iter().max_by_key(|c| c.epoch) {
        return Err(Failure::new(
            ErrorKind::Unreachable,
            format!(
                "workspace '{name}' is on node '{}', which is unreachable",
                hint.owner_node
            ),
        ));
    }
    for node in &unreachable {
        if shared.peers.last_listed(node, name) {
            return Err(Failure::new(
                ErrorKind::Unreachable,
                format!("workspace '{name}' is on node '{node}', which is unreachable"),
            ));
        }
    }
    if unreachable.is_empty() {
        Err(Failure::new(
            ErrorKind::NotFound,
            format!("no workspace named '{name}'"),
        ))
    } else {
        Err(Failure::new(
            ErrorKind::NotFound,
            format!(
                "no workspace named '{name}' on any reachable node (unreachable: {})",
                unreachable.join(", ")
            ),
        ))
    }
}

/// Members that answered with an older live copy learn of the newer one.
async fn fence_older(shared: &Shared, live: &[(PeerId, String, Claim)], newest: &Claim) {
    let calls = live
        .iter()
        .filter(|(_, _, c)| c.epoch < newest.epoch)
        .map(|(peer, _, _)| {
            shared.peers.call(
                *peer,
                Request::Ownership {
                    claims: vec![newest.clone()],
                },
            )
        });
    join_all(calls).await;
}
