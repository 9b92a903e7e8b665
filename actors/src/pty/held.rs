//! A holder's terminal (`roam_holder`): the agent's PTY is the holder's,
//! so the agent outlives this node. Two tasks do the I/O on the holder's
//! socket: a reader (frames → `PtyMsg`) and a writer (input, resizes,
//! acknowledgements, the release).
//!
//! What this node acknowledges is what its scrollback file holds: an `Ack`
//! is sent by the scrollback's writer once it has written every byte before
//! it (`Scrollback::after_written`), so the next node is sent again exactly
//! what the file lacks, wherever this one was killed.
//!
//! Input's room (`INPUT_PENDING`) goes back only once the holder says the
//! input is written to the agent's terminal (`Up::Written`), so an agent
//! that stops reading fills this node's bound, which drops and says so,
//! and nothing in between holds the keys.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ractor::ActorRef;
use roam_holder::wire::{self, Down, Up};
use tokio::io::AsyncWriteExt;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::task::JoinHandle;

use super::PtyMsg;
use crate::holders::Held;
use crate::model::HolderRecord;
use crate::persist::Persist;
use crate::scrollback::Scrollback;

/// How long a stopping terminal waits for its last frames to go out.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(2);

type Queued = (Down, Option<OwnedSemaphorePermit>);
/// Input's room, each with the input offset past the bytes it stands for,
/// held until the holder has written that far.
type Unwritten = Arc<Mutex<VecDeque<(u64, OwnedSemaphorePermit)>>>;

pub(super) struct HeldTerminal {
    down: mpsc::UnboundedSender<Queued>,
    reader: JoinHandle<()>,
    writer: JoinHandle<()>,
    record: HolderRecord,
    store: Arc<dyn Persist>,
    /// The offset just past the last byte taken in.
    consumed: u64,
    /// Bytes still to come that an earlier node was already sent (it
    /// answered their terminal queries).
    already_sent: u64,
    /// The last offset an acknowledgement was asked for.
    acked: u64,
}

pub(super) fn start(
    held: Held,
    store: Arc<dyn Persist>,
    myself: &ActorRef<PtyMsg>,
    output_room: &Arc<Semaphore>,
) -> HeldTerminal {
    let Held { connected, record } = held;
    let hello = connected.hello;
    let (down, queued) = mpsc::unbounded_channel();
    let unwritten = Unwritten::default();
    HeldTerminal {
        reader: tokio::spawn(read(
            connected.reader,
            myself.clone(),
            output_room.clone(),
            unwritten.clone(),
        )),
        writer: tokio::spawn(write(connected.writer, queued, unwritten)),
        down,
        record,
        store,
        consumed: hello.replay_from,
        already_sent: hello.already_sent,
        acked: hello.replay_from,
    }
}

impl HeldTerminal {
    pub fn agent_pid(&self) -> u32 {
        self.record.agent_pid as u32
    }

    /// Where input for the holder's terminal goes (`keys`).
    pub fn keys(&self) -> HeldKeys {
        HeldKeys(self.down.clone())
    }

    pub fn resize(&self, rows: u16, cols: u16) {
        let _ = self.down.send((Down::Resize { rows, cols }, None));
    }

    /// Counts `n` bytes taken in; returns how many of them (from the
    /// front) an earlier node was already sent.
    pub fn took(&mut self, n: usize) -> usize {
        let seen = self.already_sent.min(n as u64);
        self.already_sent -= seen;
        self.consumed += n as u64;
        seen as usize
    }

    /// Has the scrollback's writer acknowledge what was taken in so far,
    /// once it has written it.
    pub fn ack_when_written(&mut self, scrollback: &mut Scrollback) {
        if self.consumed <= self.acked {
            return;
        }
        self.acked = self.consumed;
        let (down, at) = (self.down.clone(), self.consumed);
        scrollback.after_written(Box::new(move || {
            let _ = down.send((Down::Ack(at), None));
        }));
    }

    /// Counts `lost` bytes the holder could not keep (a gap), so what is
    /// acknowledged stays the holder's offset.
    pub fn skipped(&mut self, lost: u64) {
        self.already_sent -= self.already_sent.min(lost);
        self.consumed += lost;
    }

    /// The node has the exit code: the holder may go, and is forgotten.
    pub fn release(&self) {
        let _ = self.down.send((Down::Release, None));
        let (store, r) = (self.store.clone(), self.record.clone());
        tokio::spawn(async move { forget(&*store, &r).await });
    }

    /// The terminal stops: the holder is released (its agent was ended) or,
    /// with `keep`, left running for the next node to adopt.
    pub async fn finish(self, keep: bool) {
        self.reader.abort();
        if !keep {
            let _ = self.down.send((Down::Release, None));
            forget(&*self.store, &self.record).await;
        }
        drop(self.down);
        let _ = tokio::time::timeout(FLUSH_TIMEOUT, self.writer).await;
    }
}

/// Input for a holder's terminal, sent from wherever it is typed.
pub(super) struct HeldKeys(mpsc::UnboundedSender<Queued>);

impl HeldKeys {
    /// Input in frames; the room goes back once the holder has written the
    /// last to the terminal.
    pub fn send(&self, bytes: Vec<u8>, room: OwnedSemaphorePermit) {
        let mut frames: Vec<Down> = wire::input_frames(&bytes).collect();
        let last = frames.pop();
        for frame in frames {
            let _ = self.0.send((frame, None));
        }
        if let Some(last) = last {
            let _ = self.0.send((last, Some(room)));
        }
    }
}

async fn forget(store: &dyn Persist, r: &HolderRecord) {
    if let Err(e) = store.remove_holder(r).await {
        tracing::warn!(workspace = %r.workspace, agent = %r.agent, error = %e, "cannot forget an ended agent's holder; the next start ends it");
    }
}

async fn read(
    mut reader: OwnedReadHalf,
    myself: ActorRef<PtyMsg>,
    room: Arc<Semaphore>,
    unwritten: Unwritten,
) {
    let why = loop {
        let msg = match wire::read_up(&mut reader).await {
            Ok(Some(Up::Output(bytes))) => {
                roam_hops::mark(roam_hops::Hop::NodeEchoRead);
                // Waits while the actor is behind: the holder's window then
                // fills and the agent waits on its terminal.
                let Ok(permit) = room.clone().acquire_many_owned(bytes.len() as u32).await else {
                    return; // the actor stopped
                };
                PtyMsg::Output(bytes, permit)
            }
            Ok(Some(Up::Gap(lost))) => PtyMsg::Gap(lost),
            Ok(Some(Up::Eof)) => PtyMsg::ReadEnded,
            Ok(Some(Up::Exited(code))) => PtyMsg::ChildExited { code },
            Ok(Some(Up::Written(upto))) => {
                let mut unwritten = unwritten.lock().unwrap_or_else(|e| e.into_inner());
                while unwritten.front().is_some_and(|(end, _)| *end <= upto) {
                    unwritten.pop_front();
                }
                continue;
            }
            Ok(Some(Up::Hello(_))) => break "it said hello twice".to_string(),
            Ok(None) => break "its connection closed".to_string(),
            Err(e) => break e.to_string(),
        };
        if myself.cast(msg).is_err() {
            return;
        }
    };
    let _ = myself.cast(PtyMsg::HolderLost(why));
}

async fn write(
    mut writer: OwnedWriteHalf,
    mut queued: mpsc::UnboundedReceiver<Queued>,
    unwritten: Unwritten,
) {
    let mut buf = Vec::new();
    let mut input_sent = 0u64;
    while let Some((down, room)) = queued.recv().await {
        let input = match &down {
            Down::Input(bytes) => {
                input_sent += bytes.len() as u64;
                true
            }
            _ => false,
        };
        // Put away before the frame goes out: the holder's answer may
        // come before `write_all` returns.
        if let Some(room) = room {
            let mut unwritten = unwritten.lock().unwrap_or_else(|e| e.into_inner());
            unwritten.push_back((input_sent, room));
        }
        buf.clear();
        down.encode(&mut buf);
        if writer.write_all(&buf).await.is_err() {
            return;
        }
        if input {
            roam_hops::mark(roam_hops::Hop::NodeKeySent);
        }
    }
    let _ = writer.shutdown().await;
}
