//! The roster at the door: a behaviour that refuses every connection from
//! or to a peer that is not on the roster, before any protocol runs.
//!
//! Written here rather than using `libp2p-allow-block-list` because of the
//! one exception pairing needs: while a pairing window is open, exactly one
//! unknown peer may connect (rate-limited), and that connection is closed
//! when the window closes unless the peer was admitted. Everything else the
//! peer might try is refused by the stream acceptor, which also checks the
//! roster (`Gate::is_member`).

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
    /// The one unknown peer let in while pairing is open.
    pairing_peer: Option<PeerId>,
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
            self.pairing_peer = None;
        }
    }

    /// Removes a peer and closes its connections.
    pub fn expel(&mut self, peer: PeerId) {
        self.members.remove(&peer);
        self.close.push_back(peer);
        self.wake();
    }

    /// Lets one unknown peer in for `window`.
    pub fn open_pairing(&mut self, window: Duration) {
        self.pairing_until = Some(Instant::now() + window);
        self.pairing_peer = None;
    }

    /// Ends the window and closes the pairing peer's connection unless it
    /// was admitted.
    pub fn close_pairing(&mut self) {
        self.pairing_until = None;
        if let Some(peer) = self.pairing_peer.take()
            && !self.members.contains(&peer)
        {
            self.close.push_back(peer);
            self.wake();
        }
    }

    fn pairing_open(&self) -> bool {
        self.pairing_until.is_some_and(|t| Instant::now() < t)
    }

    /// Refuses every new connection from now on (the node is stopping).
    pub fn close(&mut self) {
        self.closed = true;
    }

    fn enforce(&mut self, peer: &PeerId) -> Result<(), ConnectionDenied> {
        if self.closed {
            return Err(ConnectionDenied::new(NotOnRoster { peer: *peer }));
        }
        if self.members.contains(peer) {
            return Ok(());
        }
        if self.pairing_open() {
            if self.pairing_peer.as_ref() == Some(peer) {
                return Ok(());
            }
            let now = Instant::now();
            self.attempts
                .retain(|t| now.duration_since(*t) < Duration::from_secs(60));
            if self.pairing_peer.is_none() && self.attempts.len() < PAIRING_ATTEMPTS_PER_MINUTE {
                self.attempts.push_back(now);
                self.pairing_peer = Some(*peer);
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
        _: ConnectionId,
        peer: PeerId,
        _: &Multiaddr,
        _: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.enforce(&peer)?;
        Ok(dummy::ConnectionHandler)
    }

    fn handle_pending_outbound_connection(
        &mut self,
        _: ConnectionId,
        peer: Option<PeerId>,
        _: &[Multiaddr],
        _: Endpoint,
    ) -> Result<Vec<Multiaddr>, ConnectionDenied> {
        if let Some(peer) = peer {
            self.enforce(&peer)?;
        }
        Ok(vec![])
    }

    fn handle_established_outbound_connection(
        &mut self,
        _: ConnectionId,
        peer: PeerId,
        _: &Multiaddr,
        _: Endpoint,
        _: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.enforce(&peer)?;
        Ok(dummy::ConnectionHandler)
    }

    fn on_swarm_event(&mut self, _event: FromSwarm) {}

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
            if let Some(peer) = self.close.pop_front() {
                return Poll::Ready(ToSwarm::CloseConnection {
                    peer_id: peer,
                    connection: CloseConnection::All,
                });
            }
        }
        self.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}
