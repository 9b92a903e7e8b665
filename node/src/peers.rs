//! The node's side of the mesh: the roster (stored, spread, enforced),
//! pairing, and calls to other nodes.
//!
//! Every protocol rides on mesh streams carrying the same framed requests
//! as the local socket. A request that came from a peer is answered from
//! this node's own state and never forwarded again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use roam_mesh::pairing::{Host, Joiner, PairingError};
use roam_mesh::roster::{Member, Merged, NameError, Roster, Vouch};
use roam_mesh::{
    CONTROL_PROTOCOL, Mesh, MeshError, MeshEvent, MeshStream, Multiaddr, PAIRING_PROTOCOL, PeerId,
};
use tokio::sync::mpsc;

use crate::api::{self, Envelope, ErrorKind, PROTOCOL_VERSION, Request, Response, WorkspaceInfo};
use crate::conn::{self, ConnError};
use crate::error::HasKind;
use crate::lock::lock;
use crate::store::{Store, StoreError};

/// A stream to another node carrying the control protocol.
pub type PeerStream = MeshStream;

/// How long `roam join` without an address looks for the host on the LAN.
const LAN_SEARCH: Duration = Duration::from_secs(5);
/// How long a call to another node may take before it counts as unreachable.
pub const PEER_TIMEOUT: Duration = Duration::from_secs(10);
/// A member that has answered no ping for this long is taken as gone: a
/// call to it ends then instead of waiting out `PEER_TIMEOUT` (the swarm
/// pings every half second; a node that was `kill -9`ed keeps its QUIC
/// connection looking open until the idle timeout).
pub const SILENCE: Duration = Duration::from_millis(1500);

/// How a mesh operation (a call, pairing, the roster) fails.
#[derive(Debug, thiserror::Error)]
pub enum PeersError {
    #[error("no node named '{name}' in the mesh (nodes: {})", known_nodes(.known))]
    UnknownNode { name: String, known: Vec<String> },
    #[error("bad peer id for node {name}")]
    BadPeerId { name: String },
    #[error("not connected")]
    NotConnected { peer: PeerId },
    #[error("timed out")]
    TimedOut { peer: PeerId },
    #[error("it has answered no ping for {} s", SILENCE.as_secs_f32())]
    Silent { peer: PeerId },
    #[error("the node closed the connection")]
    Closed { peer: PeerId },
    /// Sending or reading a frame failed.
    #[error("{source}")]
    Stream {
        #[from]
        source: ConnError,
    },
    #[error("{source}")]
    Mesh {
        #[from]
        source: MeshError,
    },
    /// Another node answered with an error; its kind is kept.
    #[error("{message}")]
    Remote { kind: ErrorKind, message: String },
    #[error("{source}")]
    Store {
        #[from]
        source: StoreError,
    },
    #[error("roster lock poisoned")]
    LockPoisoned,
    #[error("expected a pairing {expected}")]
    UnexpectedPairingRequest { expected: &'static str },
    #[error("bad node name {name:?}: {reason}")]
    BadNodeName { name: String, reason: NameError },
    #[error("the roster refused {peer}'s entry: {reason}")]
    RefusedEntry { peer: String, reason: String },
    #[error("a node named '{name}' is already in the mesh; join with another --name")]
    NameTaken { name: String },
    #[error("no pairing code is open here (expired or already used); run `roam pair` again")]
    NoPairingWindow,
    /// A wrong code (or a tampered exchange), or a malformed message.
    #[error("{source}")]
    Pairing {
        #[from]
        source: PairingError,
    },
    #[error("pairing timed out")]
    PairingTimedOut,
    #[error("the other node closed the connection")]
    PairingClosed,
    #[error("unexpected pairing answer: {answer}")]
    UnexpectedAnswer { answer: String },
    #[error("bad address '{addr}': {message}")]
    BadAddress { addr: String, message: String },
    #[error("{count} unpaired nodes on the LAN; give the address printed by `roam pair`")]
    SeveralOnLan { count: usize },
    #[error("no node found on the LAN (mDNS); give the address printed by `roam pair`")]
    NoneOnLan,
    #[error(
        "cannot pair with {addr}: {source} (is a code open there? codes work once and expire; run `roam pair` again)"
    )]
    CannotPair { addr: String, source: MeshError },
}

fn known_nodes(known: &[String]) -> String {
    if known.is_empty() {
        "none paired".to_string()
    } else {
        known.join(", ")
    }
}

impl HasKind for PeersError {
    fn kind(&self) -> ErrorKind {
        match self {
            PeersError::UnknownNode { .. } | PeersError::NoneOnLan => ErrorKind::NotFound,
            PeersError::BadPeerId { .. }
            | PeersError::BadNodeName { .. }
            | PeersError::RefusedEntry { .. }
            | PeersError::BadAddress { .. }
            | PeersError::SeveralOnLan { .. } => ErrorKind::InvalidInput,
            PeersError::NotConnected { .. }
            | PeersError::TimedOut { .. }
            | PeersError::Silent { .. }
            | PeersError::Closed { .. }
            | PeersError::Stream { .. }
            | PeersError::PairingTimedOut
            | PeersError::PairingClosed
            | PeersError::CannotPair { .. } => ErrorKind::Unreachable,
            PeersError::Mesh { source } => match source {
                MeshError::Unreachable { .. } | MeshError::Dial { .. } => ErrorKind::Unreachable,
                MeshError::Start(_) | MeshError::Listen { .. } | MeshError::Stopped => {
                    ErrorKind::Internal
                }
            },
            PeersError::Remote { kind, .. } => *kind,
            PeersError::NameTaken { .. } => ErrorKind::Conflict,
            PeersError::NoPairingWindow
            | PeersError::UnexpectedPairingRequest { .. }
            | PeersError::Pairing { .. } => ErrorKind::Refused,
            PeersError::Store { .. }
            | PeersError::LockPoisoned
            | PeersError::UnexpectedAnswer { .. } => ErrorKind::Internal,
        }
    }
}

struct Window {
    /// Which `roam pair` opened it: only the pairing that took this code
    /// may close it, never one from an earlier window.
    id: u64,
    code: String,
    expires: Instant,
    /// One try: the first attempt, right or wrong, uses the code up.
    used: bool,
}

pub struct Peers {
    pub mesh: Mesh,
    pub name: String,
    /// This node's key: it signs the vouches pairing makes.
    keypair: roam_mesh::Keypair,
    /// How long a pairing code lives.
    window_len: Duration,
    store: Arc<Store>,
    roster: Mutex<Roster>,
    window: Mutex<Option<Window>>,
    rtt: Mutex<HashMap<PeerId, Duration>>,
    /// When each connected peer was last heard from (a pong, or connecting).
    heard: Mutex<HashMap<PeerId, Instant>>,
    /// What mDNS saw: hints for `roam join` without an address, never trust.
    discovered: Mutex<Vec<(PeerId, Multiaddr)>>,
    /// The last listing each peer gave, so an offline node's workspaces are
    /// shown as unreachable rather than hidden.
    last_seen: Mutex<HashMap<String, Vec<WorkspaceInfo>>>,
    /// Members as they (re)connect, for whoever must talk to them then
    /// (the ownership exchange).
    connects: tokio::sync::broadcast::Sender<PeerId>,
}

impl Peers {
    pub fn new(
        mesh: Mesh,
        name: String,
        keypair: roam_mesh::Keypair,
        window_len: Duration,
        store: Arc<Store>,
        roster: Roster,
    ) -> Arc<Peers> {
        Arc::new(Peers {
            mesh,
            name,
            keypair,
            window_len,
            store,
            roster: Mutex::new(roster),
            window: Mutex::new(None),
            rtt: Mutex::new(HashMap::new()),
            heard: Mutex::new(HashMap::new()),
            discovered: Mutex::new(Vec::new()),
            last_seen: Mutex::new(HashMap::new()),
            connects: tokio::sync::broadcast::channel(64).0,
        })
    }

    /// Follows swarm events: round-trip times and the addresses members are
    /// reached at (remembered for redialling after a restart).
    pub fn follow(self: &Arc<Self>, mut events: mpsc::Receiver<MeshEvent>) {
        let peers = self.clone();
        tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                match event {
                    MeshEvent::Rtt { peer, rtt } => {
                        peers.heard_from(peer);
                        lock(&peers.rtt).insert(peer, rtt);
                    }
                    MeshEvent::Disconnected { peer } => {
                        lock(&peers.rtt).remove(&peer);
                        lock(&peers.heard).remove(&peer);
                    }
                    MeshEvent::Identified { peer, listen } => {
                        // Others may not know where this member listens yet.
                        if peers.note_addrs(peer, &listen).await {
                            let p = peers.clone();
                            tokio::spawn(async move { p.spread_roster().await });
                        }
                    }
                    MeshEvent::Discovered { peer, addr } => {
                        let mut d = lock(&peers.discovered);
                        d.retain(|(p, a)| !(*p == peer && *a == addr));
                        d.push((peer, addr));
                        // Bounded: the LAN may be noisy.
                        let over = d.len().saturating_sub(64);
                        d.drain(..over);
                    }
                    // Whoever (re)connects hears what we know of the roster,
                    // so a node that was away catches up.
                    MeshEvent::Connected { peer, .. } => {
                        peers.heard_from(peer);
                        if peers.mesh.is_member(&peer) {
                            let p = peers.clone();
                            tokio::spawn(async move { p.sync_roster_with(peer).await });
                            // No receiver (nothing follows connections yet) is fine.
                            let _ = peers.connects.send(peer);
                        }
                    }
                    MeshEvent::Listening { .. } => {}
                }
            }
        });
    }

    /// Remembers where a member listens, durably, so a restart can redial.
    /// Returns whether anything new was learnt.
    async fn note_addrs(&self, peer: PeerId, listen: &[Multiaddr]) -> bool {
        let changed = {
            let mut r = lock(&self.roster);
            let text = peer.to_string();
            let mut changed = false;
            for a in listen {
                changed |= r.note_addr(&text, &a.to_string());
            }
            changed.then(|| r.members().cloned().collect::<Vec<_>>())
        };
        if let Some(all) = changed {
            if let Err(e) = self.store.save_roster(&all).await {
                tracing::warn!(error = %e, "cannot save roster addresses");
            }
            return true;
        }
        false
    }

    /// Active members other than this node.
    pub fn others(&self) -> Vec<Member> {
        let me = self.mesh.local_peer_id().to_string();
        lock(&self.roster)
            .active()
            .filter(|m| m.peer != me)
            .cloned()
            .collect()
    }

    pub fn member_named(&self, name: &str) -> Result<PeerId, PeersError> {
        let others = self.others();
        match others.iter().find(|m| m.name == name) {
            Some(m) => m.peer.parse().map_err(|_| PeersError::BadPeerId {
                name: name.to_string(),
            }),
            None => Err(PeersError::UnknownNode {
                name: name.to_string(),
                known: others.into_iter().map(|m| m.name).collect(),
            }),
        }
    }

    /// Members as they (re)connect.
    pub fn member_connected(&self) -> tokio::sync::broadcast::Receiver<PeerId> {
        self.connects.subscribe()
    }

    /// The peers connected right now.
    pub async fn connected(&self) -> Vec<PeerId> {
        self.mesh
            .status()
            .await
            .map(|s| s.connected.iter().map(|(p, _)| *p).collect())
            .unwrap_or_default()
    }

    /// The members connected right now.
    pub async fn connected_members(&self) -> Vec<PeerId> {
        let members: Vec<String> = self.others().into_iter().map(|m| m.peer).collect();
        self.connected()
            .await
            .into_iter()
            .filter(|p| members.contains(&p.to_string()))
            .collect()
    }

    /// Whether the last listing `node` gave held a live workspace `name`
    /// (what is known of a node that cannot be asked now).
    pub fn last_listed(&self, node: &str, name: &str) -> bool {
        self.last_listing(node)
            .iter()
            .any(|w| w.name == name && w.superseded_by.is_none())
    }

    fn heard_from(&self, peer: PeerId) {
        lock(&self.heard).insert(peer, Instant::now());
    }

    /// Ends once `peer` has answered no ping for `SILENCE` (never, if it was
    /// never heard from: then only the call's own timeout applies).
    async fn gone_silent(&self, peer: PeerId) {
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let last = lock(&self.heard).get(&peer).copied();
            if last.is_some_and(|t| t.elapsed() > SILENCE) {
                return;
            }
        }
    }

    pub fn rtt(&self, peer: &PeerId) -> Option<Duration> {
        lock(&self.rtt).get(peer).copied()
    }

    pub fn remember_listing(&self, node: &str, list: &[WorkspaceInfo]) {
        lock(&self.last_seen).insert(node.to_string(), list.to_vec());
    }

    pub fn last_listing(&self, node: &str) -> Vec<WorkspaceInfo> {
        lock(&self.last_seen).get(node).cloned().unwrap_or_default()
    }

    /// Opens a control stream to `peer` and sends `request` on it, with the
    /// epoch the caller saw for the workspace it acts on (`None`: not
    /// fenced); returns the first response and the stream (which carries
    /// frames after `Response::Streaming`). An error the other node answers
    /// with is a response here (`Ok(Response::Error { .. })`), not an `Err`.
    pub async fn open_call(
        &self,
        peer: PeerId,
        epoch: Option<u64>,
        request: Request,
    ) -> Result<(Response, MeshStream), PeersError> {
        // A node that is not connected is offline: the background redial
        // brings it back. Dialling here would make `roam ls` wait out a QUIC
        // handshake timeout for every offline node.
        let connected = self
            .mesh
            .status()
            .await
            .map(|s| s.connected.iter().any(|(p, _)| *p == peer));
        if !connected.unwrap_or(false) {
            return Err(PeersError::NotConnected { peer });
        }
        let attempt = async {
            let mut stream = self.open_stream(peer).await?;
            let envelope = Envelope {
                version: PROTOCOL_VERSION,
                forwarded: true,
                epoch,
                request,
            };
            conn::send(&mut stream, &envelope).await?;
            match conn::recv::<Response, _>(&mut stream).await? {
                Some(r) => Ok((r, stream)),
                None => Err(PeersError::Closed { peer }),
            }
        };
        tokio::select! {
            answer = tokio::time::timeout(PEER_TIMEOUT, attempt) => {
                answer.map_err(|_| PeersError::TimedOut { peer })?
            }
            () = self.gone_silent(peer) => Err(PeersError::Silent { peer }),
        }
    }

    /// Opens a control stream, trying twice: a stream asked for while a
    /// connection is being replaced (both sides dialled at once, a link
    /// closing) fails without anything having been sent, so a second try is
    /// safe where retrying a request would not be.
    async fn open_stream(&self, peer: PeerId) -> Result<MeshStream, MeshError> {
        match self.mesh.open(peer, CONTROL_PROTOCOL).await {
            Ok(s) => Ok(s),
            Err(first) => {
                tracing::debug!(peer = %peer, error = %first, "opening a stream failed; trying again");
                tokio::time::sleep(Duration::from_millis(200)).await;
                self.mesh.open(peer, CONTROL_PROTOCOL).await
            }
        }
    }

    /// One request to `peer`, one response.
    pub async fn call(&self, peer: PeerId, request: Request) -> Result<Response, PeersError> {
        self.call_fenced(peer, None, request).await
    }

    /// One request to `peer` carrying the epoch the caller saw for the
    /// workspace it acts on, one response (`Response::Error` with
    /// `ErrorKind::Stale` when the peer holds a newer one).
    pub async fn call_fenced(
        &self,
        peer: PeerId,
        epoch: Option<u64>,
        request: Request,
    ) -> Result<Response, PeersError> {
        self.open_call(peer, epoch, request).await.map(|(r, _)| r)
    }

    // ---- pairing: host side ----

    /// Opens a pairing window; returns the code and where to reach us.
    pub async fn open_pairing(&self) -> Result<(String, Vec<String>, u64), PeersError> {
        let code = roam_mesh::pairing::new_code();
        *lock(&self.window) = Some(Window {
            id: rand::random(),
            code: code.clone(),
            expires: Instant::now() + self.window_len,
            used: false,
        });
        self.mesh.open_pairing(self.window_len).await?;
        let me = self.mesh.local_peer_id();
        let addrs = self
            .listen_addrs()
            .await
            .iter()
            .map(|a| format!("{a}/p2p/{me}"))
            .collect();
        Ok((code, addrs, self.window_len.as_secs()))
    }

    /// Takes the code for one attempt, if one is open; returns it and the
    /// window it belongs to.
    fn take_code(&self) -> Option<(String, u64)> {
        let mut w = lock(&self.window);
        let open = w
            .as_ref()
            .is_some_and(|w| !w.used && Instant::now() < w.expires);
        if !open {
            return None;
        }
        let window = w.as_mut()?;
        window.used = true;
        Some((window.code.clone(), window.id))
    }

    /// Closes window `id` if it is still the open one.
    async fn close_window(&self, id: u64) {
        let mine = {
            let mut w = lock(&self.window);
            let mine = w.as_ref().is_some_and(|w| w.id == id);
            if mine {
                *w = None;
            }
            mine
        };
        if mine && let Err(e) = self.mesh.close_pairing().await {
            tracing::warn!(error = %e, "cannot close the pairing window");
        }
    }

    /// Serves the pairing protocol for the peer the open window let in.
    /// Only an attempt that took the code closes the window; one that
    /// failed before (garbage, a name already taken) is disconnected and
    /// the code stays open for the real joiner.
    pub async fn serve_pairing(self: Arc<Self>, peer: PeerId, mut stream: MeshStream) {
        let mut took = None;
        let outcome = self.host_pairing(peer, &mut stream, &mut took).await;
        if let Err(e) = &outcome {
            tracing::warn!(peer = %peer, error = %e, "pairing refused");
            // Best effort: the stream may be what failed.
            let _ = conn::send(
                &mut stream,
                &Response::Error {
                    kind: e.kind(),
                    message: e.to_string(),
                },
            )
            .await;
        }
        // Give the joiner the last answer before the gate drops the link:
        // wait (briefly) until it hangs up.
        let mut byte = [0u8; 1];
        let _ = tokio::time::timeout(
            Duration::from_secs(2),
            tokio::io::AsyncReadExt::read(&mut stream, &mut byte),
        )
        .await;
        match took {
            Some(window) => self.close_window(window).await,
            None => {
                tracing::info!(peer = %peer, "pairing attempt did not use the code; the window stays open");
                if let Err(e) = self.mesh.release_pairing_peer(peer).await {
                    tracing::warn!(peer = %peer, error = %e, "cannot release the pairing slot");
                }
            }
        }
    }

    /// The host's side of one pairing; sets `took` to the window whose code
    /// it used, as soon as it uses it.
    async fn host_pairing(
        &self,
        peer: PeerId,
        stream: &mut MeshStream,
        took: &mut Option<u64>,
    ) -> Result<(), PeersError> {
        let me = self.mesh.local_peer_id();
        let Some(Envelope {
            request: Request::PairHello { name, spake, addrs },
            ..
        }) = recv(stream).await?
        else {
            return Err(PeersError::UnexpectedPairingRequest { expected: "hello" });
        };
        // Bounded where it enters: the name is shown in `roam nodes` and
        // every listing, and signed into the roster.
        roam_mesh::roster::check_node_name(&name).map_err(|reason| PeersError::BadNodeName {
            name: name
                .chars()
                .take(roam_mesh::roster::MAX_NODE_NAME)
                .collect(),
            reason,
        })?;
        if name == self.name || lock(&self.roster).by_name(&name).is_some() {
            return Err(PeersError::NameTaken { name });
        }
        let (code, window) = self.take_code().ok_or(PeersError::NoPairingWindow)?;
        *took = Some(window);
        let (host, msg_b, confirm_b) = Host::respond(&code, &peer, &me, &spake)?;
        conn::send(
            stream,
            &Response::PairChallenge {
                name: self.name.clone(),
                spake: msg_b,
                confirm: confirm_b,
            },
        )
        .await?;
        let Some(Envelope {
            request: Request::PairConfirm { confirm },
            ..
        }) = recv(stream).await?
        else {
            return Err(PeersError::UnexpectedPairingRequest {
                expected: "confirmation",
            });
        };
        host.verify(&confirm)?;

        let joiner = Member {
            peer: peer.to_string(),
            name: name.clone(),
            addrs: usable_addrs(addrs),
            removed: false,
            vouches: vec![Vouch::sign(&self.keypair, &peer.to_string(), &name)],
        };
        let me_member = self.self_member().await;
        let merged = self
            .merge_roster(vec![joiner.into(), me_member.into()])
            .await?;
        if let Some(refused) = merged.refused.into_iter().next() {
            return Err(PeersError::RefusedEntry {
                peer: peer.to_string(),
                reason: refused.to_string(),
            });
        }
        let members = self.wire_roster();
        conn::send(stream, &Response::Welcome { members }).await?;
        tracing::info!(peer = %peer, node = %name, "paired");
        self.spread_roster().await;
        Ok(())
    }

    // ---- pairing: joiner side ----

    pub async fn join(&self, code: &str, addr: Option<&str>) -> Result<String, PeersError> {
        let addr: Multiaddr = match addr {
            Some(a) => a.parse::<Multiaddr>().map_err(|e| PeersError::BadAddress {
                addr: a.to_string(),
                message: e.to_string(),
            })?,
            None => self.find_host_on_lan().await?,
        };
        // Our side must also let one unknown peer (the host) in.
        self.mesh.open_pairing(PEER_TIMEOUT).await?;
        let result = self.join_inner(code, addr).await;
        if let Err(e) = self.mesh.close_pairing().await {
            tracing::warn!(error = %e, "cannot close the joiner's pairing window");
        }
        result
    }

    /// The one unpaired node mDNS sees on the LAN. Refuses to guess when
    /// there are several: a wrong guess would use up that node's code.
    async fn find_host_on_lan(&self) -> Result<Multiaddr, PeersError> {
        let deadline = Instant::now() + LAN_SEARCH;
        loop {
            let strangers: Vec<(PeerId, Multiaddr)> = lock(&self.discovered)
                .iter()
                .filter(|(p, _)| !self.mesh.is_member(p))
                .cloned()
                .collect();
            let peers: std::collections::HashSet<_> = strangers.iter().map(|(p, _)| *p).collect();
            match peers.len() {
                1 => {
                    let (peer, addr) = &strangers[0];
                    let has_peer = addr
                        .iter()
                        .any(|p| matches!(p, roam_mesh::swarm::Protocol::P2p(_)));
                    return Ok(if has_peer {
                        addr.clone()
                    } else {
                        addr.clone().with(roam_mesh::swarm::Protocol::P2p(*peer))
                    });
                }
                n if n > 1 => return Err(PeersError::SeveralOnLan { count: n }),
                _ if Instant::now() > deadline => return Err(PeersError::NoneOnLan),
                _ => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }

    async fn join_inner(&self, code: &str, addr: Multiaddr) -> Result<String, PeersError> {
        let me = self.mesh.local_peer_id();
        let refused = |source: MeshError| PeersError::CannotPair {
            addr: addr.to_string(),
            source,
        };
        let host = self.mesh.dial(addr.clone()).await.map_err(refused)?;
        let mut stream = self
            .mesh
            .open(host, PAIRING_PROTOCOL)
            .await
            .map_err(refused)?;
        let (joiner, msg_a) = Joiner::start(code, &me, &host);
        let addrs = self.self_member().await.addrs;
        send(
            &mut stream,
            Request::PairHello {
                name: self.name.clone(),
                spake: msg_a,
                addrs,
            },
        )
        .await?;
        let (host_name, msg_b, confirm_b) = match recv_response(&mut stream).await? {
            Response::PairChallenge {
                name,
                spake,
                confirm,
            } => (name, spake, confirm),
            other => return Err(unexpected(&other)),
        };
        roam_mesh::roster::check_node_name(&host_name).map_err(|reason| {
            PeersError::BadNodeName {
                name: host_name
                    .chars()
                    .take(roam_mesh::roster::MAX_NODE_NAME)
                    .collect(),
                reason,
            }
        })?;
        let confirm = joiner.finish(&msg_b, &confirm_b)?;
        send(&mut stream, Request::PairConfirm { confirm }).await?;
        let members = match recv_response(&mut stream).await? {
            Response::Welcome { members } => members,
            other => return Err(unexpected(&other)),
        };
        let mut members = members;
        // Where we reached the host is worth remembering.
        let host_text = host.to_string();
        for m in members.iter_mut().filter(|m| m.peer == host_text) {
            m.addrs.insert(0, addr.to_string());
            m.addrs.truncate(roam_mesh::roster::MAX_ADDRS);
        }
        // The host is in on our word: we vouch for it (it vouched for us),
        // and through it for the members it vouches for.
        let all = {
            let mut r = self.roster.lock().map_err(|_| PeersError::LockPoisoned)?;
            let merged = r.merge(members.into_iter().map(Member::from));
            log_refused(&merged);
            let named = r
                .members()
                .any(|m| m.peer == host_text && m.name == host_name);
            if !named || !r.vouch(&self.keypair, &host_text) {
                return Err(PeersError::RefusedEntry {
                    peer: host_text,
                    reason: "the host's welcome does not hold its own entry".into(),
                });
            }
            r.members().cloned().collect::<Vec<_>>()
        };
        self.store.save_roster(&all).await?;
        self.apply_gate().await;
        Ok(host_name)
    }

    // ---- roster ----

    /// Where this node listens, QUIC first: the transport to prefer.
    pub async fn listen_addrs(&self) -> Vec<String> {
        let mut addrs: Vec<String> = self
            .mesh
            .status()
            .await
            .map(|s| s.listen.iter().map(|a| a.to_string()).collect())
            .unwrap_or_default();
        addrs.sort_by_key(|a| !a.contains("/quic"));
        addrs
    }

    async fn self_member(&self) -> Member {
        let me = self.mesh.local_peer_id();
        let addrs = self.listen_addrs().await;
        Member {
            peer: me.to_string(),
            name: self.name.clone(),
            addrs,
            removed: false,
            // Our own word for our name, so no member can give us another.
            vouches: vec![Vouch::sign(&self.keypair, &me.to_string(), &self.name)],
        }
    }

    /// The whole roster as the wire carries it.
    pub fn wire_roster(&self) -> Vec<api::Member> {
        lock(&self.roster)
            .members()
            .cloned()
            .map(Into::into)
            .collect()
    }

    /// Folds members in, saves the roster durably, then opens or closes the
    /// gate to match. Entries the roster refuses are logged and left out.
    pub async fn merge_roster(&self, incoming: Vec<api::Member>) -> Result<Merged, PeersError> {
        // Bounded where it enters: each entry costs signature checks.
        if incoming.len() > roam_mesh::roster::MAX_MEMBERS {
            return Err(PeersError::RefusedEntry {
                peer: "a member".into(),
                reason: format!(
                    "a roster of {} entries (at most {})",
                    incoming.len(),
                    roam_mesh::roster::MAX_MEMBERS
                ),
            });
        }
        let (merged, all) = {
            let mut r = self.roster.lock().map_err(|_| PeersError::LockPoisoned)?;
            let merged = r.merge(incoming.into_iter().map(Member::from));
            (merged, r.members().cloned().collect::<Vec<_>>())
        };
        log_refused(&merged);
        if merged.changed {
            self.store.save_roster(&all).await?;
            self.apply_gate().await;
        }
        Ok(merged)
    }

    /// Admits the members in the mesh and expels every other entry (removed,
    /// or no longer reached by a chain of vouches).
    async fn apply_gate(&self) {
        let me = self.mesh.local_peer_id().to_string();
        let entries: Vec<(String, bool, Vec<String>)> = match self.roster.lock() {
            Ok(r) => r
                .members()
                .filter(|m| m.peer != me)
                .map(|m| (m.peer.clone(), r.is_active(&m.peer), m.addrs.clone()))
                .collect(),
            Err(_) => {
                tracing::error!("roster lock poisoned; the gate is left as it was");
                return;
            }
        };
        for (peer_text, active, addrs) in entries {
            let Ok(peer) = peer_text.parse::<PeerId>() else {
                continue;
            };
            let done = if active {
                let addrs = addrs.iter().filter_map(|a| a.parse().ok()).collect();
                self.mesh.admit(peer, addrs).await
            } else {
                self.mesh.expel(peer).await
            };
            if let Err(e) = done {
                tracing::warn!(peer = %peer, admit = active, error = %e, "cannot bring the gate in line with the roster");
            }
        }
    }

    /// Tells every reachable member what we know; best effort (members that
    /// are offline catch up when they next sync).
    pub async fn spread_roster(&self) {
        let members = self.wire_roster();
        let calls = self
            .others()
            .into_iter()
            .filter_map(|m| m.peer.parse::<PeerId>().ok())
            .map(|peer| {
                let members = members.clone();
                async move { (peer, self.call(peer, Request::RosterSync { members }).await) }
            });
        for (peer, result) in futures::future::join_all(calls).await {
            match result {
                Ok(Response::Roster { members }) => {
                    if let Err(e) = self.merge_roster(members).await {
                        tracing::warn!(peer = %peer, error = %e, "cannot merge a member's roster");
                    }
                }
                Ok(_) | Err(_) => tracing::debug!(peer = %peer, "roster not spread to peer"),
            }
        }
    }

    /// Exchanges rosters with one member.
    async fn sync_roster_with(&self, peer: PeerId) {
        let members = self.wire_roster();
        if let Ok(Response::Roster { members }) =
            self.call(peer, Request::RosterSync { members }).await
            && let Err(e) = self.merge_roster(members).await
        {
            tracing::warn!(peer = %peer, error = %e, "cannot merge a member's roster");
        }
    }

    /// Removes a node from the mesh everywhere we can reach, and with it
    /// every member only it vouched for; returns their names.
    pub async fn unpair(&self, name: &str) -> Result<Vec<String>, PeersError> {
        let peer = self.member_named(name)?;
        let (also, all) = {
            let mut r = self.roster.lock().map_err(|_| PeersError::LockPoisoned)?;
            let also = r.remove(&peer.to_string()).unwrap_or_default();
            (also, r.members().cloned().collect::<Vec<_>>())
        };
        self.store.save_roster(&all).await?;
        self.apply_gate().await;
        self.spread_roster().await;
        if !also.is_empty() {
            tracing::warn!(node = %name, also = ?also, "unpaired; members only it vouched for are out with it");
        }
        Ok(also)
    }

    /// Accepts control and pairing streams until the mesh stops.
    pub fn accept<F, Fut>(self: &Arc<Self>, serve_control: F) -> Result<(), PeersError>
    where
        F: Fn(PeerId, MeshStream) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let mut control = self.mesh.incoming(CONTROL_PROTOCOL)?;
        let mut pairing = self.mesh.incoming(PAIRING_PROTOCOL)?;
        let peers = self.clone();
        tokio::spawn(async move {
            while let Some((peer, stream)) = control.next().await {
                // The roster first, before a single byte is read.
                if !peers.mesh.is_member(&peer) {
                    tracing::warn!(peer = %peer, "refused control stream from a peer not on the roster");
                    continue;
                }
                tokio::spawn(serve_control(
                    peer,
                    tokio_util::compat::FuturesAsyncReadCompatExt::compat(stream),
                ));
            }
        });
        let peers = self.clone();
        tokio::spawn(async move {
            while let Some((peer, stream)) = pairing.next().await {
                let peers = peers.clone();
                tokio::spawn(async move {
                    // Only the one peer the open window let in may pair: a
                    // member's or anyone else's stream is dropped unread.
                    if !peers.mesh.is_pairing_peer(peer).await {
                        tracing::warn!(peer = %peer, "refused pairing stream from a peer the window did not let in");
                        return;
                    }
                    let stream = tokio_util::compat::FuturesAsyncReadCompatExt::compat(stream);
                    peers.serve_pairing(peer, stream).await;
                });
            }
        });
        Ok(())
    }
}

/// Addresses a joiner offers, kept only if the roster would take them.
fn usable_addrs(addrs: Vec<String>) -> Vec<String> {
    addrs
        .into_iter()
        .filter(|a| a.len() <= roam_mesh::roster::MAX_ADDR_LEN && a.parse::<Multiaddr>().is_ok())
        .take(roam_mesh::roster::MAX_ADDRS)
        .collect()
}

fn log_refused(merged: &Merged) {
    for refused in &merged.refused {
        tracing::warn!(reason = %refused, "roster entry refused");
    }
}

fn unexpected(answer: &Response) -> PeersError {
    PeersError::UnexpectedAnswer {
        answer: format!("{answer:?}"),
    }
}

async fn send(stream: &mut MeshStream, request: Request) -> Result<(), PeersError> {
    let envelope = Envelope {
        version: PROTOCOL_VERSION,
        forwarded: true,
        epoch: None,
        request,
    };
    conn::send(stream, &envelope).await?;
    Ok(())
}

async fn recv(stream: &mut MeshStream) -> Result<Option<Envelope>, PeersError> {
    let envelope = tokio::time::timeout(PEER_TIMEOUT, conn::recv::<Envelope, _>(stream))
        .await
        .map_err(|_| PeersError::PairingTimedOut)??;
    Ok(envelope)
}

async fn recv_response(stream: &mut MeshStream) -> Result<Response, PeersError> {
    match tokio::time::timeout(PEER_TIMEOUT, conn::recv::<Response, _>(stream)).await {
        Err(_) => Err(PeersError::PairingTimedOut),
        Ok(Err(e)) => Err(e.into()),
        Ok(Ok(None)) => Err(PeersError::PairingClosed),
        Ok(Ok(Some(Response::Error { kind, message }))) => {
            Err(PeersError::Remote { kind, message })
        }
        Ok(Ok(Some(r))) => Ok(r),
    }
}
