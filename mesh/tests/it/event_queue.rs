//! The swarm's event queue under a node that does not keep up.

use std::time::Duration;

use roam_mesh::PeerId;
use roam_mesh::event_queue::EventQueue;
use roam_mesh::swarm::MeshEvent;

/// Caught connection changes dropped with the hints when the queue to the
/// node was full: the node then never synced or fenced with that member.
#[test]
fn a_full_queue_drops_hints_but_never_a_connection_change() {
    let (tx, mut rx) = tokio::sync::mpsc::channel(4);
    let mut queue = EventQueue::new(tx);
    let peer = PeerId::random();
    let rtt = || MeshEvent::Rtt {
        peer,
        rtt: Duration::from_millis(1),
    };
    for _ in 0..10 {
        queue.emit(rtt());
    }
    queue.emit(MeshEvent::Connected {
        peer,
        addr: "/ip4/127.0.0.1/udp/1/quic-v1".parse().unwrap(),
    });
    queue.emit(rtt());
    queue.emit(MeshEvent::Disconnected { peer });
    assert!(
        queue.dropped_hints() >= 6,
        "hints past the bound are dropped"
    );

    // The node catches up; the swarm flushes as it goes round its loop.
    let mut seen = Vec::new();
    while seen.len() < 64 {
        queue.flush();
        match rx.try_recv() {
            Ok(event) => seen.push(event),
            Err(_) => break,
        }
    }
    let changes: Vec<&str> = seen
        .iter()
        .filter_map(|e| match e {
            MeshEvent::Connected { .. } => Some("connected"),
            MeshEvent::Disconnected { .. } => Some("disconnected"),
            _ => None,
        })
        .collect();
    assert_eq!(
        changes,
        ["connected", "disconnected"],
        "in order, none lost"
    );
}
