//! A process in a PTY whose output is drained continuously by a thread, which
//! watches for markers and notes when they arrived. Only a small tail of the
//! output is kept.

use std::ffi::OsString;
use std::io::{Read, Write};
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use portable_pty::{Child, CommandBuilder, MasterPty, PtySize, native_pty_system};

use crate::wait::TIMEOUT;

/// How much of the latest output is kept (for markers already seen, and errors).
const TAIL: usize = 8192;
/// The terminal size every benchmark uses: wide enough that flood lines do
/// not wrap.
pub const COLS: u16 = 200;
pub const ROWS: u16 = 50;
/// Ctrl-], `roam attach`'s detach key.
pub const DETACH: u8 = 0x1d;
/// Output that stops for this long is taken as finished (a repaint, a banner).
const SETTLED: Duration = Duration::from_millis(200);

/// When a watch completed.
#[derive(Debug, Clone, Copy)]
pub struct Hit {
    pub at: Instant,
    /// Bytes read from the PTY between arming the watch and the hit.
    pub bytes: u64,
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

pub struct PtyProcess {
    name: String,
    child: Box<dyn Child + Send + Sync>,
    writer: Box<dyn Write + Send>,
    shared: Arc<Shared>,
    _master: Box<dyn MasterPty + Send>,
}

impl PtyProcess {
    /// Starts `program ARGS` in a new PTY of `cols` x `rows`.
    pub fn spawn(
        program: &Path,
        args: &[&str],
        env: &[(&str, OsString)],
        cwd: &Path,
        cols: u16,
        rows: u16,
    ) -> anyhow::Result<PtyProcess> {
        let name = format!(
            "{} {}",
            program.file_name().unwrap_or_default().to_string_lossy(),
            args.join(" ")
        );
        let pair = native_pty_system()
            .openpty(PtySize {
                rows,
                cols,
                pixel_width: 0,
                pixel_height: 0,
            })
            .map_err(|e| anyhow!("cannot open a PTY: {e}"))?;
        let mut cmd = CommandBuilder::new(program);
        cmd.args(args);
        for (key, value) in env {
            cmd.env(key, value);
        }
        cmd.env("TERM", "xterm-256color");
        cmd.cwd(cwd);
        let child = pair
            .slave
            .spawn_command(cmd)
            .map_err(|e| anyhow!("cannot start {name} in a PTY: {e}"))?;
        drop(pair.slave);
        let mut reader = pair
            .master
            .try_clone_reader()
            .map_err(|e| anyhow!("cannot read the PTY: {e}"))?;
        let writer = pair
            .master
            .take_writer()
            .map_err(|e| anyhow!("cannot write the PTY: {e}"))?;
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
        });
        let drain = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("pty-drain".into())
            .spawn(move || {
                let mut buf = vec![0u8; 1 << 16];
                let mut scratch = String::with_capacity(1 << 17);
                loop {
                    let n = match reader.read(&mut buf) {
                        Ok(0) | Err(_) => break,
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
                }
                drain.lock().eof = true;
                drain.changed.notify_all();
            })
            .context("cannot start the PTY drain thread")?;
        Ok(PtyProcess {
            name,
            child,
            writer,
            shared,
            _master: pair.master,
        })
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
                bail!(
                    "{} ended before `{wanted}` appeared; last output: {:?}",
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

    /// Waits (bounded) until nothing has arrived for `quiet`.
    pub fn wait_quiet(&self, quiet: Duration) -> anyhow::Result<()> {
        let start = Instant::now();
        let mut last = self.shared.lock().total;
        loop {
            std::thread::sleep(quiet);
            let now = self.shared.lock().total;
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

    /// Detaches a `roam attach` with its detach key and waits (bounded) for it
    /// to exit.
    pub fn detach(&mut self) -> anyhow::Result<()> {
        self.write(&[DETACH])?;
        let status = self.wait_exit()?;
        if !status.success() {
            bail!("{} exited with {status:?} on detach", self.name);
        }
        Ok(())
    }

    /// Types `bytes` into the PTY.
    pub fn write(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        self.writer
            .write_all(bytes)
            .and_then(|()| self.writer.flush())
            .with_context(|| format!("cannot write to {}", self.name))
    }

    /// Waits (bounded) for the process to exit; kills it if it does not.
    pub fn wait_exit(&mut self) -> anyhow::Result<portable_pty::ExitStatus> {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            if start.elapsed() > TIMEOUT {
                let _ = self.child.kill();
                bail!("{} did not exit within {} s", self.name, TIMEOUT.as_secs());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for PtyProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
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
