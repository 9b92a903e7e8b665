//! The screen model, parsed on a thread of its own: the Pty actor sends
//! output on to viewers and the scrollback while the model parses what
//! came before, instead of after it. Parsing is the costliest step on the
//! output path (an emulator core takes every byte; 40–50 MB/s on a
//! scrolling flood), so in series with the rest it set the output rate
//! through a node.
//!
//! What the model shows at a given point in the stream is still exact: a
//! reader that needs it (a repaint for a new viewer, an answer to a cursor
//! query) waits until everything sent before it is parsed. What may be a
//! moment behind (the rows an agent's status is read from) does not wait.
//! The backlog is bounded: past `BACKLOG` messages, sending waits for the
//! parser, as parsing in the actor did.

use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use crate::screen::Screen;

/// Messages (output chunks, at most a holder frame each) the parser may
/// lag behind.
const BACKLOG: usize = 256;

pub struct ScreenThread {
    feed: SyncSender<Feed>,
    shared: Arc<Shared>,
    /// Messages sent so far.
    sent: u64,
}

enum Feed {
    Output(Arc<[u8]>),
    Resize { rows: u16, cols: u16 },
}

struct Shared {
    parsed: Mutex<Parsed>,
    caught_up: Condvar,
}

struct Parsed {
    screen: Screen,
    /// Messages parsed so far.
    done: u64,
}

impl ScreenThread {
    pub fn start(screen: Screen) -> std::io::Result<ScreenThread> {
        let shared = Arc::new(Shared {
            parsed: Mutex::new(Parsed { screen, done: 0 }),
            caught_up: Condvar::new(),
        });
        let (feed, parse) = sync_channel(BACKLOG);
        let parser = shared.clone();
        std::thread::Builder::new()
            .name("roam-screen".into())
            .spawn(move || run(&parse, &parser))?;
        Ok(ScreenThread {
            feed,
            shared,
            sent: 0,
        })
    }

    pub fn process(&mut self, bytes: Arc<[u8]>) {
        self.send(Feed::Output(bytes));
    }

    pub fn resize(&mut self, rows: u16, cols: u16) {
        self.send(Feed::Resize { rows, cols });
    }

    fn send(&mut self, feed: Feed) {
        // The parser ends only when this sender is dropped.
        if self.feed.send(feed).is_ok() {
            self.sent += 1;
        }
    }

    /// The model with everything sent so far parsed.
    pub fn exact<R>(&self, read: impl FnOnce(&Screen) -> R) -> R {
        let mut parsed = self.shared.lock();
        while parsed.done < self.sent {
            parsed = self
                .shared
                .caught_up
                .wait(parsed)
                .unwrap_or_else(PoisonError::into_inner);
        }
        read(&parsed.screen)
    }

    /// The model as parsed so far, which may be a moment behind.
    pub fn now<R>(&self, read: impl FnOnce(&Screen) -> R) -> R {
        read(&self.shared.lock().screen)
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Parsed> {
        self.parsed.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Takes what is waiting as one batch, so a reader waits on one lock.
fn run(parse: &Receiver<Feed>, shared: &Shared) {
    while let Ok(first) = parse.recv() {
        let batch: Vec<Feed> = std::iter::once(first)
            .chain(std::iter::from_fn(|| parse.try_recv().ok()).take(BACKLOG))
            .collect();
        let mut parsed = shared.lock();
        for feed in &batch {
            apply(&mut parsed.screen, feed);
        }
        parsed.done += batch.len() as u64;
        drop(parsed);
        shared.caught_up.notify_all();
    }
}

/// A model that panics on some input starts over blank rather than take
/// the actor (and every reader waiting on it) down.
fn apply(screen: &mut Screen, feed: &Feed) {
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match feed {
        Feed::Output(bytes) => screen.process(bytes),
        Feed::Resize { rows, cols } => screen.resize(*rows, *cols),
    }));
    if outcome.is_err() {
        let (rows, cols) = screen.size();
        tracing::error!(
            rows,
            cols,
            "the screen model failed on the agent's output; it starts over blank"
        );
        *screen = Screen::new(rows, cols);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn an_exact_read_sees_everything_sent_before_it() {
        let mut thread = ScreenThread::start(Screen::new(4, 20)).unwrap();
        for line in 0..1000 {
            thread.process(Arc::from(format!("\r\nline {line}").as_bytes()));
        }
        thread.resize(3, 20);
        thread.process(Arc::from(&b"\r\nlast"[..]));
        let rows = thread.exact(|screen| screen.rows());
        assert_eq!(rows, ["line 998", "line 999", "last"]);
    }
}
