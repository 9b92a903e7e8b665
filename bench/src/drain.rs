//! A process's output drained continuously by a thread, which watches for
//! markers and notes when they arrived. Only a small tail of the output is
//! kept. The output is any byte stream: a PTY of ours (`pty`) or a holder's
//! socket (`held`).

use std::io::Read;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::wait::TIMEOUT;

/// How much of the latest output is kept (for markers already seen, and errors).
const TAIL: usize = 8192;
/// Output that stops for this long is taken as finished (a repaint, a banner).
const SETTLED: Duration = Duration::from_millis(200);

/// When a watch completed.
#[derive(Debug, Clone, Copy)]
pub struct Hit {
    pub at: Instant,
    /// Bytes read between arming the watch and the hit.
    pub bytes: u64,
}

/// A process whose output a `Drain` watches, and which can be typed into.
pub trait Watched {
    fn drain(&self) -> &Drain;
    /// Types `bytes` into the process's terminal.
    fn type_in(&mut self, bytes: &[u8]) -> anyhow::Result<()>;
}

/// Needles to find in order, each after the previous one.
struct Watch {
    needles: Vec<String>,
    next: usize,
    armed_total: u64,
    carry: String,
    hit: Option<Hit>,
}

impl Watch {
    /// Scans `text` (the carry from the last scan is put in front of it).
    fn scan(&mut self, text: &str, scratch: &mut String, now: Instant, total: u64) {
        if self.hit.is_some() {
            return;
        }
        scratch.clear();
        scratch.push_str(&self.carry);
        scratch.push_str(text);
        let mut pos = 0;
        while let Some(needle) = self.needles.get(self.next) {
            match scratch[pos..].find(needle.as_str()) {
                Some(i) => {
                    pos += i + needle.len();
                    self.next += 1;
                }
                None => break,
            }
        }
        match self.needles.get(self.next) {
            None => {
                self.hit = Some(Hit {
                    at: now,
                    bytes: total - self.armed_total,
                })
            }
            Some(needle) => {
                let mut start = pos.max(scratch.len().saturating_sub(needle.len() - 1));
                while !scratch.is_char_boundary(start) {
                    start += 1;
                }
                self.carry.clear();
                self.carry.push_str(&scratch[start..]);
            }
        }
    }
}

#[derive(Default)]
struct State {
    total: u64,
    tail: Vec<u8>,
    watch: Option<Watch>,
    eof: bool,
    /// Why the output ended, when it ended with an error.
    error: Option<String>,
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The draining thread's findings, for the process named `name`.
pub struct Drain {
    name: String,
    shared: Arc<Shared>,
}

impl Drain {
    /// Starts a thread reading `reader` until it ends or fails.
    pub fn start(name: &str, mut reader: Box<dyn Read + Send>) -> anyhow::Result<Drain> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
        });
        let drain = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("output-drain".into())
            .spawn(move || {
                let mut buf = vec![0u8; 1 << 16];
                let mut scratch = String::with_capacity(1 << 17);
                let error = loop {
                    let n = match reader.read(&mut buf) {
                        Ok(0) => break None,
                        Err(e) => break Some(e.to_string()),
                        Ok(n) => n,
                    };
                    let now = Instant::now();
                    let chunk = &buf[..n];
                    let mut state = drain.lock();
                    state.total += n as u64;
                    let total = state.total;
                    if let Some(watch) = state.watch.as_mut() {
                        watch.scan(&String::from_utf8_lossy(chunk), &mut scratch, now, total);
                    }
                    push_tail(&mut state.tail, chunk);
                    drop(state);
                    drain.changed.notify_all();
                };
                let mut state = drain.lock();
                state.eof = true;
                state.error = error;
                drop(state);
                drain.changed.notify_all();
            })
            .context("cannot start the output drain thread")?;
        Ok(Drain {
            name: name.to_owned(),
            shared,
        })
    }

    /// Bytes read so far.
    pub fn total(&self) -> u64 {
        self.shared.lock().total
    }

    /// Starts watching for `needles`, in order. With `seen_too`, the kept tail
    /// of earlier output counts as well.
    pub fn arm(&self, needles: &[&str], seen_too: bool) {
        let mut state = self.shared.lock();
        let mut watch = Watch {
            needles: needles.iter().map(|n| (*n).to_owned()).collect(),
            next: 0,
            armed_total: state.total,
            carry: String::new(),
            hit: None,
        };
        if seen_too {
            let tail = String::from_utf8_lossy(&state.tail).into_owned();
            let mut scratch = String::new();
            watch.scan(&tail, &mut scratch, Instant::now(), state.total);
        }
        state.watch = Some(watch);
    }

    /// Waits (bounded) until the armed watch hits.
    pub fn wait_hit(&self) -> anyhow::Result<Hit> {
        let start = Instant::now();
        let mut state = self.shared.lock();
        loop {
            let Some(watch) = state.watch.as_ref() else {
                bail!("nothing is being watched for in {}", self.name);
            };
            if let Some(hit) = watch.hit {
                return Ok(hit);
            }
            let wanted = watch.needles.join("` then `");
            if state.eof {
                let why = state
                    .error
                    .as_ref()
                    .map(|e| format!(" ({e})"))
                    .unwrap_or_default();
                bail!(
                    "{}'s output ended{why} before `{wanted}` appeared; last output: {:?}",
                    self.name,
                    last_output(&state.tail)
                );
            }
            let elapsed = start.elapsed();
            if elapsed > TIMEOUT {
                bail!(
                    "timed out after {} s waiting for `{wanted}` from {}; last output: {:?}",
                    TIMEOUT.as_secs(),
                    self.name,
                    last_output(&state.tail)
                );
            }
            state = self
                .shared
                .changed
                .wait_timeout(state, TIMEOUT - elapsed)
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .0;
        }
    }

    /// Waits (bounded) until the output has ended.
    pub fn wait_eof(&self) -> anyhow::Result<()> {
        let start = Instant::now();
        let mut state = self.shared.lock();
        while !state.eof {
            let elapsed = start.elapsed();
            if elapsed > TIMEOUT {
                bail!(
                    "{}'s output did not end within {} s",
                    self.name,
                    TIMEOUT.as_secs()
                );
            }
            state = self
                .shared
                .changed
                .wait_timeout(state, TIMEOUT - elapsed)
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .0;
        }
        Ok(())
    }

    /// Waits (bounded) until nothing has arrived for `quiet`.
    pub fn wait_quiet(&self, quiet: Duration) -> anyhow::Result<()> {
        let start = Instant::now();
        let mut last = self.total();
        loop {
            std::thread::sleep(quiet);
            let now = self.total();
            if now == last {
                return Ok(());
            }
            last = now;
            if start.elapsed() > TIMEOUT {
                bail!("{} never went quiet", self.name);
            }
        }
    }

    /// Waits (bounded) for `needle`, counting output already seen, and then
    /// for the output to stop: the process is ready for input.
    pub fn settle(&self, needle: &str) -> anyhow::Result<()> {
        self.arm(&[needle], true);
        self.wait_hit()?;
        self.wait_quiet(SETTLED)
    }
}

fn push_tail(tail: &mut Vec<u8>, chunk: &[u8]) {
    if chunk.len() >= TAIL {
        tail.clear();
        tail.extend_from_slice(&chunk[chunk.len() - TAIL..]);
        return;
    }
    let overflow = (tail.len() + chunk.len()).saturating_sub(TAIL);
    tail.drain(..overflow);
    tail.extend_from_slice(chunk);
}

/// The last few hundred bytes, for error messages.
fn last_output(tail: &[u8]) -> String {
    let from = tail.len().saturating_sub(300);
    String::from_utf8_lossy(&tail[from..]).into_owned()
}
