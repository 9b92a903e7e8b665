//! A terminal's keyboard: input for the agent's terminal, bounded by
//! `INPUT_PENDING`, shared by the Pty actor (`roam send`, answers to
//! terminal queries) and every viewer's `Subscription`. A viewer's
//! keystroke goes from its connection's task straight to the terminal's
//! writer, with no actor mailbox on its way: the hop that costs a keystroke
//! most is a task waking another.
//!
//! The actor closes it when the agent has exited or the actor stops, so a
//! viewer still holding it never keeps the terminal's writer alive.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::INPUT_PENDING;
use super::held::HeldKeys;

/// Where input is written: the room goes back once it is.
pub(super) enum Sink {
    Direct(std::sync::mpsc::Sender<(Vec<u8>, OwnedSemaphorePermit)>),
    Held(HeldKeys),
}

#[derive(Clone)]
pub struct Keys(Arc<Inner>);

struct Inner {
    room: Arc<Semaphore>,
    /// `None` once closed.
    sink: Mutex<Option<Sink>>,
    /// Input dropped since the process last took some, for one warning per
    /// episode rather than one per key.
    dropped: AtomicUsize,
    pid: Option<u32>,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys").field("pid", &self.0.pid).finish()
    }
}

impl Keys {
    pub(super) fn new(sink: Option<Sink>, pid: Option<u32>) -> Keys {
        Keys(Arc::new(Inner {
            room: Arc::new(Semaphore::new(INPUT_PENDING)),
            sink: Mutex::new(sink),
            dropped: AtomicUsize::new(0),
            pid,
        }))
    }

    /// Types `bytes` into the terminal; dropped past the bound (said once
    /// per episode), and silently once the agent has exited.
    pub fn send(&self, bytes: Vec<u8>) {
        let sink = self.sink();
        let Some(sink) = sink.as_ref() else {
            return;
        };
        let room = u32::try_from(bytes.len())
            .ok()
            .and_then(|n| self.0.room.clone().try_acquire_many_owned(n).ok());
        let Some(room) = room else {
            if self.0.dropped.fetch_add(bytes.len(), Ordering::Relaxed) == 0 {
                tracing::warn!(
                    pid = ?self.0.pid,
                    bound_bytes = INPUT_PENDING,
                    "the agent is not reading its terminal; input past the bound is dropped"
                );
            }
            return;
        };
        let dropped = self.0.dropped.swap(0, Ordering::Relaxed);
        if dropped > 0 {
            tracing::info!(pid = ?self.0.pid, dropped_bytes = dropped, "the agent reads its terminal again");
        }
        match sink {
            Sink::Direct(input) => {
                let _ = input.send((bytes, room));
            }
            Sink::Held(held) => held.send(bytes, room),
        }
    }

    /// No more input: the agent has exited, or its terminal is going.
    pub(super) fn close(&self) {
        self.sink().take();
    }

    fn sink(&self) -> MutexGuard<'_, Option<Sink>> {
        self.0.sink.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
