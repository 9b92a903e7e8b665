//! Integration tests for `roam-mesh`.
#![allow(clippy::unwrap_used)]

mod event_queue;
mod frame;
mod fuzz_corpus;
mod ssh;
mod sshd;

// ---- the gate and the key: ARCHITECTURE.md's invariants for the mesh ----

use std::task::{Context, Poll, Waker};
use std::time::Duration;

use libp2p::core::Endpoint;
use libp2p::core::transport::PortUse;
use libp2p::swarm::behaviour::ConnectionClosed;
use libp2p::swarm::{ConnectionId, FromSwarm, NetworkBehaviour, ToSwarm};
use roam_mesh::PeerId;
use roam_mesh::gate::Gate;

fn addr() -> libp2p::Multiaddr {
    "/ip4/127.0.0.1/tcp/4799".parse().unwrap()
}

fn inbound(gate: &mut Gate, peer: PeerId) -> bool {
    let id = ConnectionId::new_unchecked(0);
    gate.handle_established_inbound_connection(id, peer, &addr(), &addr())
        .is_ok()
}

/// Whether a dial to `peer` may start, and whether its connection may stay.
fn outbound(gate: &mut Gate, peer: PeerId) -> (bool, bool) {
    let id = ConnectionId::new_unchecked(0);
    let dial = gate
        .handle_pending_outbound_connection(id, Some(peer), &[], Endpoint::Dialer)
        .is_ok();
    let established = gate
        .handle_established_outbound_connection(id, peer, &addr(), Endpoint::Dialer, PortUse::Reuse)
        .is_ok();
    (dial, established)
}

/// The peers whose connections the gate tells the swarm to close.
fn closed(gate: &mut Gate) -> Vec<PeerId> {
    let mut cx = Context::from_waker(Waker::noop());
    let mut peers = Vec::new();
    while let Poll::Ready(ToSwarm::CloseConnection { peer_id, .. }) = gate.poll(&mut cx) {
        peers.push(peer_id);
    }
    peers
}

#[test]
fn every_connection_off_the_roster_is_refused_but_one_while_pairing() {
    let member = PeerId::random();
    let stranger = PeerId::random();
    let mut gate = Gate::new([member]);
    assert!(inbound(&mut gate, member));
    assert_eq!(outbound(&mut gate, member), (true, true));
    assert!(!inbound(&mut gate, stranger));
    assert_eq!(outbound(&mut gate, stranger), (false, false));

    // A pairing window lets exactly one unknown peer in...
    gate.open_pairing(Duration::from_secs(60));
    let joiner = PeerId::random();
    assert!(inbound(&mut gate, joiner));
    assert!(inbound(&mut gate, joiner), "the same joiner again");
    assert!(!inbound(&mut gate, stranger), "a second unknown peer");
    // ...until the window closes, which closes its connection.
    gate.close_pairing();
    assert_eq!(closed(&mut gate), [joiner]);
    assert!(!inbound(&mut gate, joiner));

    // A peer admitted meanwhile is a member: it stays.
    gate.open_pairing(Duration::from_secs(60));
    let paired = PeerId::random();
    assert!(inbound(&mut gate, paired));
    gate.admit(paired);
    gate.close_pairing();
    assert!(closed(&mut gate).is_empty());
    assert!(inbound(&mut gate, paired));

    // A window that lapses closes the unadmitted peer by itself.
    gate.open_pairing(Duration::from_millis(50));
    let late = PeerId::random();
    assert!(inbound(&mut gate, late));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while gate.is_pairing_peer(&late) {
        assert!(
            std::time::Instant::now() < deadline,
            "the window never lapsed"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(closed(&mut gate), [late]);
    assert!(!inbound(&mut gate, late));

    // A removed member is closed and refused.
    gate.expel(member);
    assert_eq!(closed(&mut gate), [member]);
    assert!(!inbound(&mut gate, member));
    assert_eq!(outbound(&mut gate, member), (false, false));

    // A stopping node lets nobody in, members included.
    gate.close();
    assert!(!inbound(&mut gate, paired));
}

fn closes(gate: &mut Gate, peer: PeerId, id: ConnectionId) {
    let endpoint = libp2p::core::ConnectedPoint::Listener {
        local_addr: addr(),
        send_back_addr: addr(),
    };
    gate.on_swarm_event(FromSwarm::ConnectionClosed(ConnectionClosed {
        peer_id: peer,
        connection_id: id,
        endpoint: &endpoint,
        cause: None,
        remaining_established: 0,
    }));
}

#[test]
fn the_pairing_slot_is_freed_when_the_stranger_disconnects() {
    let mut gate = Gate::new([]);
    gate.open_pairing(Duration::from_secs(60));
    let stranger = PeerId::random();
    let joiner = PeerId::random();
    let id = ConnectionId::new_unchecked(7);
    assert!(
        gate.handle_established_inbound_connection(id, stranger, &addr(), &addr())
            .is_ok()
    );
    assert!(!inbound(&mut gate, joiner), "the slot is taken");
    // Another connection of someone else closing frees nothing.
    closes(&mut gate, PeerId::random(), ConnectionId::new_unchecked(8));
    assert!(!inbound(&mut gate, joiner), "the slot is still taken");
    closes(&mut gate, stranger, id);
    assert!(!gate.is_pairing_peer(&stranger));
    assert!(inbound(&mut gate, joiner), "the slot is free again");
}

#[test]
fn a_new_pairing_window_closes_the_previous_stranger() {
    let mut gate = Gate::new([]);
    gate.open_pairing(Duration::from_secs(60));
    let stranger = PeerId::random();
    assert!(inbound(&mut gate, stranger));
    gate.open_pairing(Duration::from_secs(60));
    assert_eq!(closed(&mut gate), [stranger]);
    assert!(!gate.is_pairing_peer(&stranger));
    let joiner = PeerId::random();
    assert!(inbound(&mut gate, joiner), "the new window has its slot");
}

#[test]
fn a_released_pairing_peer_is_closed_and_the_window_stays_open() {
    let mut gate = Gate::new([]);
    gate.open_pairing(Duration::from_secs(60));
    let stranger = PeerId::random();
    assert!(inbound(&mut gate, stranger));
    // Only the pairing peer itself can be released.
    gate.release_pairing_peer(PeerId::random());
    assert!(closed(&mut gate).is_empty());
    gate.release_pairing_peer(stranger);
    assert_eq!(closed(&mut gate), [stranger]);
    let joiner = PeerId::random();
    assert!(inbound(&mut gate, joiner));
    assert!(gate.is_pairing_peer(&joiner));
}

#[test]
fn unknown_peers_trying_to_pair_are_rate_limited() {
    let mut gate = Gate::new([]);
    let mut let_in = 0;
    for _ in 0..10 {
        gate.open_pairing(Duration::from_secs(60));
        if inbound(&mut gate, PeerId::random()) {
            let_in += 1;
        }
        gate.close_pairing();
    }
    assert_eq!(let_in, 5, "unknown peers let in within a minute");
}

#[test]
fn the_identity_key_is_private_to_the_owner() {
    use roam_mesh::identity::load_or_create;
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("identity.key");
    let made = load_or_create(&path).unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let again = load_or_create(&path).unwrap();
    assert_eq!(made.public().to_peer_id(), again.public().to_peer_id());
    // A key others can read is refused, not used.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = load_or_create(&path).unwrap_err();
    assert!(err.to_string().contains("readable by others"), "{err}");
}
