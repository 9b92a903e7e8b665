//! The roster at the door: a behaviour that refuses every connection from
//! or to a peer that is not on the roster, before any protocol runs.
//!
//! Written here rather than using `libp2p-allow-block-list` because of the
//! one exception pairing needs: while a pairing window is open, exactly one
//! unknown peer may connect (rate-limited), and that connection is closed
//! when the window closes unless the peer was admitted. Everything else the
//! peer might try is refused by the stream acceptor, which also checks the
//! roster (`Gate::is_member`).
//!
//! The one slot must never stay taken by a peer that is not pairing: it is
//! freed when the peer's last connection closes (or never got established),
//! when the node lets the peer go (`release_pairing_peer`: it sent garbage),
//! and when a new window opens (the old peer is closed).

use std::collections::{HashSet, VecDeque};
use std::convert::Infallible;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use libp2p::PeerId;
use libp2p::core::transport::PortUse;
use libp2p::core::{Endpoint, Multiaddr};
use libp2p::swarm::{
    CloseConnection, ConnectionDenied, ConnectionId, FromSwarm, NetworkBehaviour, THandler,
    THandlerInEvent, THandlerOutEvent, ToSwarm, dummy,
};

/// At most this many unknown peers may try to pair per minute.
const PAIRING_ATTEMPTS_PER_MINUTE: usize = 5;

#[derive(Debug, thiserror::Error)]
#[error("peer {peer} is not on the roster")]
pub struct NotOnRoster {
    pub peer: PeerId,
}

#[derive(Default)]
pub struct Gate {
    members: HashSet<PeerId>,
    pairing_until: Option<Instant>,
    /// The one unknown peer let in while pairing is open, and its
    /// connections (the slot is free again when the last one closes).
    pairing_peer: Option<PeerId>,
    pairing_conns: HashSet<ConnectionId>,
    attempts: VecDeque<Instant>,
    close: VecDeque<PeerId>,
    /// The node is stopping: nobody new gets in.
    closed: bool,
    waker: Option<Waker>,
}

impl Gate {
    pub fn new(members: impl IntoIterator<Item = PeerId>) -> Gate {
        Gate {
            members: members.into_iter().collect(),
            ..Gate::default()
        }
    }

    pub fn is_member(&self, peer: &PeerId) -> bool {
        self.members.contains(peer)
    }

    pub fn is_pairing_peer(&self, peer: &PeerId) -> bool {
        self.pairing_peer.as_ref() == Some(peer) && self.pairing_open()
    }

    pub fn admit(&mut self, peer: PeerId) {
        self.members.insert(peer);
        if self.pairing_peer == Some(peer) {
            self.free_slot();
        }
    }

    fn free_slot(&mut self) {
        self.pairing_peer = None;
        self.pairing_conns.clear();
    }

    /// Closes the pairing peer's connections and frees the slot for the
    /// next one, unless it was admitted meanwhile.
    fn drop_pairing_peer(&mut self) {
        if let Some(peer) = self.pairing_peer
            && !self.members.contains(&peer)
        {
            self.close.push_back(peer);
            self.wake();
        }
        self.free_slot();
    }

    /// Lets `peer` go if it holds the pairing slot: it tried and failed
    /// without using the code (garbage, a name already taken), so the
    /// window stays open for someone else.
    pub fn release_pairing_peer(&mut self, peer: PeerId) {
        if self.pairing_peer == Some(peer) {
            self.drop_pairing_peer();
        }
    }

    /// Removes a peer and closes its connections.
    pub fn expel(&mut self, peer: PeerId) {
        self.members.remove(&peer);
        self.close.push_back(peer);
        self.wake();
    }

    /// Lets one unknown peer in for `window`. A peer still holding the
    /// slot from an earlier window is closed: it had its chance.
    pub fn open_pairing(&mut self, window: Duration) {
        self.drop_pairing_peer();
        self.pairing_until = Some(Instant::now() + window);
    }

    /// Ends the window and closes the pairing peer's connection unless it
    /// was admitted.
    pub fn close_pairing(&mut self) {
        self.pairing_until = None;
        self.drop_pairing_peer();
    }

    fn pairing_open(&self) -> bool {
        self.pairing_until.is_some_and(|t| Instant::now() < t)
    }

    /// Refuses every new connection from now on (the node is stopping).
    pub fn close(&mut self) {
        self.closed = true;
    }

    fn enforce(&mut self, connection: ConnectionId, peer: &PeerId) -> Result<(), ConnectionDenied> {
        if self.closed {
            return Err(ConnectionDenied::new(NotOnRoster { peer: *peer }));
        }
        if self.members.contains(peer) {
            return Ok(());
        }
        if self.pairing_open() {
            if self.pairing_peer.as_ref() == Some(peer) {
                self.pairing_conns.insert(connection);
                return Ok(());
            }
            let now = Instant::now();
            self.attempts
                .retain(|t| now.duration_since(*t) < Duration::from_secs(60));
            if self.pairing_peer.is_none() && self.attempts.len() < PAIRING_ATTEMPTS_PER_MINUTE {
                self.attempts.push_back(now);
                self.pairing_peer = Some(*peer);
                self.pairing_conns.insert(connection);
                return Ok(());
            }
        }
        tracing::info!(peer = %peer, "refused connection from a peer not on the roster");
        Err(ConnectionDenied::new(NotOnRoster { peer: *peer }))
    }

    fn wake(&mut self) {
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }
}

impl NetworkBehaviour for Gate {
    type ConnectionHandler = dummy::ConnectionHandler;
    type ToSwarm = Infallible;

    fn handle_established_inbound_connection(
        &mut self,
        connection: ConnectionId,
        peer: PeerId,
        _: &Multiaddr,
        _: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.enforce(connection, &peer)?;
        Ok(dummy::ConnectionHandler)
    }

    fn handle_pending_outbound_connection(
        &mut self,
        connection: ConnectionId,
        peer: Option<PeerId>,
        _: &[Multiaddr],
        _: Endpoint,
    ) -> Result<Vec<Multiaddr>, ConnectionDenied> {
        if let Some(peer) = peer {
            self.enforce(connection, &peer)?;
        }
        Ok(vec![])
    }

    fn handle_established_outbound_connection(
        &mut self,
        connection: ConnectionId,
        peer: PeerId,
        _: &Multiaddr,
        _: Endpoint,
        _: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.enforce(connection, &peer)?;
        Ok(dummy::ConnectionHandler)
    }

    /// The slot follows the pairing peer's connections: once none is left
    /// (closed, or refused by another behaviour, or a dial that failed),
    /// the next unknown peer may try.
    fn on_swarm_event(&mut self, event: FromSwarm) {
        let gone = match event {
            FromSwarm::ConnectionClosed(c) => Some(c.connection_id),
            FromSwarm::ListenFailure(f) => Some(f.connection_id),
            FromSwarm::DialFailure(f) => Some(f.connection_id),
            _ => None,
        };
        if let Some(connection) = gone
            && self.pairing_conns.remove(&connection)
            && self.pairing_conns.is_empty()
        {
            tracing::debug!(peer = ?self.pairing_peer, "pairing peer gone; the slot is free");
            self.free_slot();
        }
    }

    fn on_connection_handler_event(
        &mut self,
        _: PeerId,
        _: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        match event {}
    }

    fn poll(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        if let Some(peer) = self.close.pop_front() {
            return Poll::Ready(ToSwarm::CloseConnection {
                peer_id: peer,
                connection: CloseConnection::All,
            });
        }
        // The pairing window may have lapsed with an unadmitted peer in.
        if self.pairing_until.is_some() && !self.pairing_open() {
            self.close_pairing();
        }
        if let Some(peer) = self.close.pop_front() {
            return Poll::Ready(ToSwarm::CloseConnection {
                peer_id: peer,
                connection: CloseConnection::All,
            });
        }
        self.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}
