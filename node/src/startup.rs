//! Fencing before anything runs: a starting node asks its members whether
//! they own any of its workspaces at a newer epoch, and marks (and saves)
//! those copies superseded before the actor tree starts, so their agents
//! are never started.
//!
//! Until the tree is up, this node's own control streams are served here
//! ([`serve`]): ownership questions are answered from the stored records,
//! everything else is *busy*. So two members starting at the same moment
//! still answer each other, and the older copy is fenced on both sides.
//!
//! The rule: members that connect within `START_WAIT` are asked, and asked
//! again while they answer busy; one that stays unreachable cannot fence
//! us now, and the exchange when it connects does (`ownership`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use roam_actors::model::{Superseded, WorkspaceRecord};
use roam_actors::persist::Persist;
use roam_mesh::PeerId;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::Mutex;

use crate::api::{Claim, Envelope, ErrorKind, PROTOCOL_VERSION, Request, Response};
use crate::conn;
use crate::error::Failure;
use crate::ownership::{self, Verdict, claim_of};
use crate::peers::Peers;
use crate::store::Store;

/// How long a starting node waits for its members to connect before it
/// starts agents whose ownership nobody contradicted.
const START_WAIT: Duration = Duration::from_secs(3);

/// The stored records while the node starts, shared by the check and the
/// early answers.
pub struct Startup {
    records: Mutex<Vec<WorkspaceRecord>>,
    store: std::sync::Arc<Store>,
    /// Set once the records went to the actor tree: from then on nothing
    /// here may change them (the tree's exchange on connect takes over).
    done: AtomicBool,
}

impl Startup {
    pub fn new(records: Vec<WorkspaceRecord>, store: std::sync::Arc<Store>) -> Startup {
        Startup {
            records: Mutex::new(records),
            store,
            done: AtomicBool::new(false),
        }
    }

    /// The records, fenced, for the actor tree; later questions are busy.
    pub async fn finish(&self) -> Vec<WorkspaceRecord> {
        let records = self.records.lock().await;
        self.done.store(true, Ordering::SeqCst);
        records.clone()
    }

    /// Compares a member's claims with ours: supersedes (durably) what it
    /// holds newer, and returns what we hold newer.
    async fn fold(&self, claims: &[Claim]) -> Result<Vec<Claim>, Failure> {
        ownership::check_claims(claims)?;
        let mut records = self.records.lock().await;
        if self.done.load(Ordering::SeqCst) {
            return Err(Failure::new(ErrorKind::Busy, "the node is starting"));
        }
        let mut newer = Vec::new();
        for claim in claims {
            let Some(record) = records.iter_mut().find(|r| r.id == claim.id) else {
                continue;
            };
            match ownership::compare(&claim_of(record), claim) {
                Verdict::OursNewer => newer.push(claim_of(record)),
                Verdict::TheirsNewer => supersede(&self.store, record, claim).await,
                Verdict::Same | Verdict::Conflict => {}
            }
        }
        Ok(newer)
    }

    async fn claims(&self) -> Vec<Claim> {
        self.records
            .lock()
            .await
            .iter()
            .filter(|r| r.is_active())
            .map(claim_of)
            .collect()
    }
}

/// Asks the members that connect within `START_WAIT` (again while they
/// answer busy) and folds their newer claims into our records.
pub async fn check(peers: &Peers, startup: &Startup) {
    let claims = startup.claims().await;
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
    let mut answered: Vec<PeerId> = Vec::new();
    while answered.len() < members.len() && Instant::now() < deadline {
        let connected = peers.connected().await;
        for peer in members.iter().filter(|p| connected.contains(p)) {
            if answered.contains(peer) {
                continue;
            }
            let request = Request::Ownership {
                claims: claims.clone(),
            };
            match peers.call(*peer, request).await {
                Ok(Response::Ownership { newer }) => {
                    answered.push(*peer);
                    // Their newer claims supersede ours, exactly as if they
                    // had told us.
                    if let Err(e) = startup.fold(&newer).await {
                        tracing::warn!(peer = %peer, error = %e, "bad ownership answer");
                    }
                }
                Ok(Response::Error { kind, message }) => {
                    tracing::debug!(peer = %peer, ?kind, %message, "member not ready; asking again")
                }
                Ok(other) => {
                    answered.push(*peer);
                    tracing::warn!(peer = %peer, answer = ?other, "unexpected ownership answer");
                }
                Err(e) => tracing::debug!(peer = %peer, error = %e, "member not reachable yet"),
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if answered.len() < members.len() {
        tracing::info!(
            answered = answered.len(),
            members = members.len(),
            "not every member answered at start; the rest are checked when they connect"
        );
    }
}

/// Serves a member's control stream while the node starts.
pub async fn serve<S>(stream: S, startup: std::sync::Arc<Startup>)
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (mut reader, mut writer) = tokio::io::split(stream);
    while let Ok(Some(envelope)) = conn::recv::<Envelope, _>(&mut reader).await {
        let response = match envelope.request {
            _ if envelope.version != PROTOCOL_VERSION => Response::from(Failure::invalid(format!(
                "protocol version {} but this node speaks {PROTOCOL_VERSION}",
                envelope.version
            ))),
            Request::Ownership { claims } => match startup.fold(&claims).await {
                Ok(newer) => Response::Ownership { newer },
                Err(f) => Response::from(f),
            },
            _ => Response::from(Failure::new(
                ErrorKind::Busy,
                "the node is starting; try again in a moment",
            )),
        };
        if conn::send(&mut writer, &response).await.is_err() {
            return;
        }
    }
}

async fn supersede(store: &Store, record: &mut WorkspaceRecord, claim: &Claim) {
    tracing::warn!(workspace = %record.name, held = record.epoch, epoch = claim.epoch, owner = %claim.owner_node, "a member owns this workspace at a newer epoch; its agents stay stopped here");
    record.superseded = Some(Superseded {
        owner: ownership::owner_of(claim),
        epoch: claim.epoch,
        since_unix: roam_actors::site::unix_now(),
    });
    if let Err(e) = store.save(record).await {
        tracing::error!(workspace = %record.name, error = %e, "cannot save the superseded mark");
    }
}
