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
use roam_actors::model::WorkspaceInfo;
use roam_mesh::pairing::{Host, Joiner};
use roam_mesh::roster::{Member, Roster};
use roam_mesh::{
    CONTROL_PROTOCOL, Mesh, MeshEvent, MeshStream, Multiaddr, PAIRING_PROTOCOL, PeerId,
};
use tokio::sync::mpsc;

use crate::api::{Envelope, PROTOCOL_VERSION, Request, Response};
use crate::conn;
use crate::store::Store;

/// A stream to another node carrying the control protocol.
pub type PeerStream = MeshStream;

/// How long `roam join` without an address looks for the host on the LAN.
const LAN_SEARCH: Duration = Duration::from_secs(5);
/// How long a call to another node may take before it counts as unreachable.
pub const PEER_TIMEOUT: Duration = Duration::from_secs(10);

struct Window {
    code: String,
    expires: Instant,
    /// One try: the first attempt, right or wrong, uses the code up.
    used: bool,
}

pub struct Peers {
    pub mesh: Mesh,
    pub name: String,
    /// How long a pairing code lives.
    window_len: Duration,
    store: Arc<Store>,
    roster: Mutex<Roster>,
    window: Mutex<Option<Window>>,
    rtt: Mutex<HashMap<PeerId, Duration>>,
    /// What mDNS saw: hints for `roam join` without an address, never trust.
    discovered: Mutex<Vec<(PeerId, Multiaddr)>>,
    /// The last listing each peer gave, so an offline node's workspaces are
    /// shown as unreachable rather than hidden.
    last_seen: Mutex<HashMap<String, Vec<WorkspaceInfo>>>,
}

impl Peers {
    pub fn new(
        mesh: Mesh,
        name: String,
        window_len: Duration,
        store: Arc<Store>,
        roster: Roster,
    ) -> Arc<Peers> {
        Arc::new(Peers {
            mesh,
            name,
            window_len,
            store,
            roster: Mutex::new(roster),
            window: Mutex::new(None),
            rtt: Mutex::new(HashMap::new()),
            discovered: Mutex::new(Vec::new()),
            last_seen: Mutex::new(HashMap::new()),
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
                        if let Ok(mut m) = peers.rtt.lock() {
                            m.insert(peer, rtt);
                        }
                    }
                    MeshEvent::Disconnected { peer } => {
                        if let Ok(mut m) = peers.rtt.lock() {
                            m.remove(&peer);
                        }
                    }
                    MeshEvent::Identified { peer, listen } => {
                        // Others may not know where this member listens yet.
                        if peers.note_addrs(peer, &listen).await {
                            let p = peers.clone();
                            tokio::spawn(async move { p.spread_roster().await });
                        }
                    }
                    MeshEvent::Discovered { peer, addr } => {
                        if let Ok(mut d) = peers.discovered.lock() {
                            d.retain(|(p, a)| !(*p == peer && *a == addr));
                            d.push((peer, addr));
                            // Bounded: the LAN may be noisy.
                            let over = d.len().saturating_sub(64);
                            d.drain(..over);
                        }
                    }
                    // Whoever (re)connects hears what we know of the roster,
                    // so a node that was away catches up.
                    MeshEvent::Connected { peer, .. } => {
                        if peers.mesh.is_member(&peer) {
                            let p = peers.clone();
                            tokio::spawn(async move { p.sync_roster_with(peer).await });
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
            let Ok(mut r) = self.roster.lock() else {
                return false;
            };
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
        self.roster
            .lock()
            .map(|r| r.active().filter(|m| m.peer != me).cloned().collect())
            .unwrap_or_default()
    }

    pub fn member_named(&self, name: &str) -> Result<PeerId, String> {
        let others = self.others();
        match others.iter().find(|m| m.name == name) {
            Some(m) => m
                .peer
                .parse()
                .map_err(|_| format!("bad peer id for node {name}")),
            None => {
                let known: Vec<_> = others.iter().map(|m| m.name.as_str()).collect();
                Err(format!(
                    "no node named '{name}' in the mesh (nodes: {})",
                    if known.is_empty() {
                        "none paired".to_string()
                    } else {
                        known.join(", ")
                    }
                ))
            }
        }
    }

    pub fn rtt(&self, peer: &PeerId) -> Option<Duration> {
        self.rtt.lock().ok()?.get(peer).copied()
    }

    pub fn remember_listing(&self, node: &str, list: &[WorkspaceInfo]) {
        if let Ok(mut m) = self.last_seen.lock() {
            m.insert(node.to_string(), list.to_vec());
        }
    }

    pub fn last_listing(&self, node: &str) -> Vec<WorkspaceInfo> {
        self.last_seen
            .lock()
            .ok()
            .and_then(|m| m.get(node).cloned())
            .unwrap_or_default()
    }

    /// Opens a control stream to `peer` and sends `request` on it; returns
    /// the first response and the stream (which carries frames after
    /// `Response::Streaming`).
    pub async fn open_call(
        &self,
        peer: PeerId,
        request: Request,
    ) -> Result<(Response, MeshStream), String> {
        // A node that is not connected is offline: the background redial
        // brings it back. Dialling here would make `roam ls` wait out a QUIC
        // handshake timeout for every offline node.
        let connected = self
            .mesh
            .status()
            .await
            .map(|s| s.connected.iter().any(|(p, _)| *p == peer));
        if !connected.unwrap_or(false) {
            return Err("not connected".into());
        }
        let attempt = async {
            let mut stream = self.open_stream(peer).await?;
            let envelope = Envelope {
                version: PROTOCOL_VERSION,
                forwarded: true,
                request,
            };
            conn::send(&mut stream, &envelope)
                .await
                .map_err(|e| e.to_string())?;
            match conn::recv::<Response, _>(&mut stream).await {
                Ok(Some(r)) => Ok((r, stream)),
                Ok(None) => Err("the node closed the connection".to_string()),
                Err(e) => Err(e.to_string()),
            }
        };
        tokio::time::timeout(PEER_TIMEOUT, attempt)
            .await
            .map_err(|_| "timed out".to_string())?
    }

    /// Opens a control stream, trying twice: a stream asked for while a
    /// connection is being replaced (both sides dialled at once, a link
    /// closing) fails without anything having been sent, so a second try is
    /// safe where retrying a request would not be.
    async fn open_stream(&self, peer: PeerId) -> Result<MeshStream, String> {
        match self.mesh.open(peer, CONTROL_PROTOCOL).await {
            Ok(s) => Ok(s),
            Err(first) => {
                tracing::debug!(peer = %peer, error = %first, "opening a stream failed; trying again");
                tokio::time::sleep(Duration::from_millis(200)).await;
                self.mesh
                    .open(peer, CONTROL_PROTOCOL)
                    .await
                    .map_err(|e| e.to_string())
            }
        }
    }

    /// One request to `peer`, one response.
    pub async fn call(&self, peer: PeerId, request: Request) -> Result<Response, String> {
        self.open_call(peer, request).await.map(|(r, _)| r)
    }

    // ---- pairing: host side ----

    /// Opens a pairing window; returns the code and where to reach us.
    pub async fn open_pairing(&self) -> Result<(String, Vec<String>, u64), String> {
        let code = roam_mesh::pairing::new_code();
        if let Ok(mut w) = self.window.lock() {
            *w = Some(Window {
                code: code.clone(),
                expires: Instant::now() + self.window_len,
                used: false,
            });
        }
        self.mesh
            .open_pairing(self.window_len)
            .await
            .map_err(|e| e.to_string())?;
        let me = self.mesh.local_peer_id();
        let addrs = self
            .listen_addrs()
            .await
            .iter()
            .map(|a| format!("{a}/p2p/{me}"))
            .collect();
        Ok((code, addrs, self.window_len.as_secs()))
    }

    /// Takes the code for one attempt, if one is open.
    fn take_code(&self) -> Option<String> {
        let mut w = self.window.lock().ok()?;
        let open = w
            .as_ref()
            .is_some_and(|w| !w.used && Instant::now() < w.expires);
        if !open {
            return None;
        }
        let window = w.as_mut()?;
        window.used = true;
        Some(window.code.clone())
    }

    /// Serves the pairing protocol for one peer that connected while the
    /// window was open.
    pub async fn serve_pairing(self: Arc<Self>, peer: PeerId, mut stream: MeshStream) {
        let outcome = self.host_pairing(peer, &mut stream).await;
        if let Err(message) = &outcome {
            tracing::warn!(peer = %peer, error = %message, "pairing refused");
            let _ = conn::send(
                &mut stream,
                &Response::Error {
                    message: message.clone(),
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
        let _ = self.mesh.close_pairing().await;
        if let Ok(mut w) = self.window.lock() {
            *w = None;
        }
    }

    async fn host_pairing(&self, peer: PeerId, stream: &mut MeshStream) -> Result<(), String> {
        let me = self.mesh.local_peer_id();
        let Some(Envelope {
            request: Request::PairHello { name, spake, addrs },
            ..
        }) = recv(stream).await?
        else {
            return Err("expected a pairing hello".into());
        };
        if name == self.name
            || self
                .roster
                .lock()
                .map(|r| r.by_name(&name).is_some())
                .unwrap_or(true)
        {
            return Err(format!(
                "a node named '{name}' is already in the mesh; join with another --name"
            ));
        }
        let code = self.take_code().ok_or(
            "no pairing code is open here (expired or already used); run `roam pair` again",
        )?;
        let (host, msg_b, confirm_b) =
            Host::respond(&code, &peer, &me, &spake).map_err(|e| e.to_string())?;
        conn::send(
            stream,
            &Response::PairChallenge {
                name: self.name.clone(),
                spake: msg_b,
                confirm: confirm_b,
            },
        )
        .await
        .map_err(|e| e.to_string())?;
        let Some(Envelope {
            request: Request::PairConfirm { confirm },
            ..
        }) = recv(stream).await?
        else {
            return Err("expected a pairing confirmation".into());
        };
        host.verify(&confirm).map_err(|e| e.to_string())?;

        let joiner = Member {
            peer: peer.to_string(),
            name: name.clone(),
            addrs: addrs.into_iter().take(8).collect(),
            removed: false,
        };
        let me_member = self.self_member().await;
        self.merge_roster(vec![joiner, me_member]).await?;
        let members: Vec<Member> = self
            .roster
            .lock()
            .map(|r| r.members().cloned().collect())
            .unwrap_or_default();
        conn::send(stream, &Response::Welcome { members })
            .await
            .map_err(|e| e.to_string())?;
        tracing::info!(peer = %peer, node = %name, "paired");
        self.spread_roster().await;
        Ok(())
    }

    // ---- pairing: joiner side ----

    pub async fn join(&self, code: &str, addr: Option<&str>) -> Result<String, String> {
        let addr: Multiaddr = match addr {
            Some(a) => a.parse().map_err(|e| format!("bad address '{a}': {e}"))?,
            None => self.find_host_on_lan().await?,
        };
        // Our side must also let one unknown peer (the host) in.
        self.mesh
            .open_pairing(PEER_TIMEOUT)
            .await
            .map_err(|e| e.to_string())?;
        let result = self.join_inner(code, addr).await;
        let _ = self.mesh.close_pairing().await;
        result
    }

    /// The one unpaired node mDNS sees on the LAN. Refuses to guess when
    /// there are several: a wrong guess would use up that node's code.
    async fn find_host_on_lan(&self) -> Result<Multiaddr, String> {
        let deadline = Instant::now() + LAN_SEARCH;
        loop {
            let strangers: Vec<(PeerId, Multiaddr)> = self
                .discovered
                .lock()
                .map(|d| {
                    d.iter()
                        .filter(|(p, _)| !self.mesh.is_member(p))
                        .cloned()
                        .collect()
                })
                .unwrap_or_default();
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
                n if n > 1 => {
                    return Err(format!(
                        "{n} unpaired nodes on the LAN; give the address printed by `roam pair`"
                    ));
                }
                _ if Instant::now() > deadline => {
                    return Err(
                        "no node found on the LAN (mDNS); give the address printed by `roam pair`"
                            .into(),
                    );
                }
                _ => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }

    async fn join_inner(&self, code: &str, addr: Multiaddr) -> Result<String, String> {
        let me = self.mesh.local_peer_id();
        let refused = |e: String| {
            format!(
                "cannot pair with {addr}: {e} (is a code open there? codes work once and expire; run `roam pair` again)"
            )
        };
        let host = self
            .mesh
            .dial(addr.clone())
            .await
            .map_err(|e| refused(e.to_string()))?;
        let mut stream = self
            .mesh
            .open(host, PAIRING_PROTOCOL)
            .await
            .map_err(|e| refused(e.to_string()))?;
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
            other => return Err(format!("unexpected pairing answer: {other:?}")),
        };
        let confirm = joiner
            .finish(&msg_b, &confirm_b)
            .map_err(|e| e.to_string())?;
        send(&mut stream, Request::PairConfirm { confirm }).await?;
        let members = match recv_response(&mut stream).await? {
            Response::Welcome { members } => members,
            other => return Err(format!("unexpected pairing answer: {other:?}")),
        };
        let mut members = members;
        // Where we reached the host is worth remembering.
        let host_text = host.to_string();
        for m in members.iter_mut().filter(|m| m.peer == host_text) {
            m.addrs.insert(0, addr.to_string());
        }
        self.merge_roster(members).await?;
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
        }
    }

    /// Folds members in, saves the roster durably, then opens or closes the
    /// gate to match. Returns the merged roster.
    pub async fn merge_roster(&self, incoming: Vec<Member>) -> Result<Vec<Member>, String> {
        let (changed, all) = {
            let mut r = self
                .roster
                .lock()
                .map_err(|_| "roster lock poisoned".to_string())?;
            let changed = r.merge(incoming);
            (changed, r.members().cloned().collect::<Vec<_>>())
        };
        if changed {
            self.store
                .save_roster(&all)
                .await
                .map_err(|e| e.to_string())?;
            self.apply_gate(&all).await;
        }
        Ok(all)
    }

    async fn apply_gate(&self, members: &[Member]) {
        let me = self.mesh.local_peer_id().to_string();
        for m in members.iter().filter(|m| m.peer != me) {
            let Ok(peer) = m.peer.parse::<PeerId>() else {
                continue;
            };
            if m.removed {
                let _ = self.mesh.expel(peer).await;
            } else {
                let addrs = m.addrs.iter().filter_map(|a| a.parse().ok()).collect();
                let _ = self.mesh.admit(peer, addrs).await;
            }
        }
    }

    /// Tells every reachable member what we know; best effort (members that
    /// are offline catch up when they next sync).
    pub async fn spread_roster(&self) {
        let members: Vec<Member> = self
            .roster
            .lock()
            .map(|r| r.members().cloned().collect())
            .unwrap_or_default();
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
                    let _ = self.merge_roster(members).await;
                }
                Ok(_) | Err(_) => tracing::debug!(peer = %peer, "roster not spread to peer"),
            }
        }
    }

    /// Exchanges rosters with one member.
    async fn sync_roster_with(&self, peer: PeerId) {
        let members: Vec<Member> = self
            .roster
            .lock()
            .map(|r| r.members().cloned().collect())
            .unwrap_or_default();
        if let Ok(Response::Roster { members }) =
            self.call(peer, Request::RosterSync { members }).await
        {
            let _ = self.merge_roster(members).await;
        }
    }

    /// Removes a node from the mesh everywhere we can reach.
    pub async fn unpair(&self, name: &str) -> Result<(), String> {
        let peer = self.member_named(name)?;
        let all = {
            let mut r = self
                .roster
                .lock()
                .map_err(|_| "roster lock poisoned".to_string())?;
            r.remove(&peer.to_string());
            r.members().cloned().collect::<Vec<_>>()
        };
        self.store
            .save_roster(&all)
            .await
            .map_err(|e| e.to_string())?;
        self.apply_gate(&all).await;
        self.spread_roster().await;
        Ok(())
    }

    /// Accepts control and pairing streams until the mesh stops.
    pub fn accept<F, Fut>(self: &Arc<Self>, serve_control: F) -> Result<(), String>
    where
        F: Fn(PeerId, MeshStream) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let mut control = self
            .mesh
            .incoming(CONTROL_PROTOCOL)
            .map_err(|e| e.to_string())?;
        let mut pairing = self
            .mesh
            .incoming(PAIRING_PROTOCOL)
            .map_err(|e| e.to_string())?;
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
                let stream = tokio_util::compat::FuturesAsyncReadCompatExt::compat(stream);
                tokio::spawn(peers.clone().serve_pairing(peer, stream));
            }
        });
        Ok(())
    }
}

async fn send(stream: &mut MeshStream, request: Request) -> Result<(), String> {
    let envelope = Envelope {
        version: PROTOCOL_VERSION,
        forwarded: true,
        request,
    };
    conn::send(stream, &envelope)
        .await
        .map_err(|e| e.to_string())
}

async fn recv(stream: &mut MeshStream) -> Result<Option<Envelope>, String> {
    tokio::time::timeout(PEER_TIMEOUT, conn::recv::<Envelope, _>(stream))
        .await
        .map_err(|_| "pairing timed out".to_string())?
        .map_err(|e| e.to_string())
}

async fn recv_response(stream: &mut MeshStream) -> Result<Response, String> {
    match tokio::time::timeout(PEER_TIMEOUT, conn::recv::<Response, _>(stream)).await {
        Err(_) => Err("pairing timed out".into()),
        Ok(Err(e)) => Err(e.to_string()),
        Ok(Ok(None)) => Err("the other node closed the connection".into()),
        Ok(Ok(Some(Response::Error { message }))) => Err(message),
        Ok(Ok(Some(r))) => Ok(r),
    }
}
