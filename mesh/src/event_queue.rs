//! The swarm's events on their way to the node: the swarm never waits for
//! the node, and the node never misses a connection change.
//!
//! Connection changes (connected, disconnected, listening) are few and the
//! node acts on each (fencing, roster sync): when the queue is full they
//! wait in a backlog, sent in order as room frees. Hints (round-trip times,
//! LAN sightings, addresses) come again with the next ping, identify or
//! mDNS round: when the queue is full they are dropped, counted and said in
//! the log.

use std::collections::VecDeque;

use tokio::sync::mpsc::{self, error::TrySendError};

use crate::swarm::MeshEvent;

pub struct EventQueue {
    tx: mpsc::Sender<MeshEvent>,
    backlog: VecDeque<MeshEvent>,
    dropped_hints: u64,
}

impl EventQueue {
    pub fn new(tx: mpsc::Sender<MeshEvent>) -> EventQueue {
        EventQueue {
            tx,
            backlog: VecDeque::new(),
            dropped_hints: 0,
        }
    }

    /// Queues `event`; never blocks.
    pub fn emit(&mut self, event: MeshEvent) {
        let change = matches!(
            event,
            MeshEvent::Connected { .. }
                | MeshEvent::Disconnected { .. }
                | MeshEvent::Listening { .. }
        );
        if change {
            self.backlog.push_back(event);
            self.flush();
            return;
        }
        // Behind the backlog a hint would arrive out of order: drop it too.
        if !self.backlog.is_empty() || self.tx.try_send(event).is_err() {
            self.dropped_hints += 1;
            if self.dropped_hints.is_power_of_two() {
                tracing::warn!(
                    dropped = self.dropped_hints,
                    "mesh event queue full; dropping hints"
                );
            }
        }
    }

    /// Sends what the backlog holds, as far as there is room.
    pub fn flush(&mut self) {
        while let Some(event) = self.backlog.pop_front() {
            match self.tx.try_send(event) {
                Ok(()) => {}
                Err(TrySendError::Full(event)) => {
                    self.backlog.push_front(event);
                    return;
                }
                Err(TrySendError::Closed(_)) => {
                    self.backlog.clear();
                    return;
                }
            }
        }
    }

    pub fn dropped_hints(&self) -> u64 {
        self.dropped_hints
    }
}
