//! The holder process: it starts the agent in a PTY of its own, in a
//! session of its own (out of the node's, so the node's terminal hanging
//! up or its process group getting a signal never reaches it), keeps the
//! agent's recent output in a ring (`ring`), and serves one node at a time
//! on its Unix socket (`wire`). It outlives the node and does nothing else.
//!
//! - Output: read from the PTY into the ring and sent to the attached node,
//!   which acknowledges what it saved; saved bytes leave the ring. With no
//!   node attached the agent keeps running and the ring keeps the newest
//!   `RING_BYTES`; a node attaching later is sent what it has not saved,
//!   and told how much was lost if the ring could not keep it all.
//! - Flow: while a node is attached and more than `WINDOW` bytes are not yet
//!   sent to it, the PTY is not read, so an agent writing faster than the
//!   node takes it in waits on its own terminal, as it would on a slow one.
//! - Input: written to the terminal as it takes it (`pty_fd`: the holder's
//!   one thread does all of its I/O); the node is told how much is written
//!   (`Up::Written`) and sends no more than its bound ahead of it.
//! - Exit: the agent's exit code is kept, and sent to every node that
//!   attaches, until a node releases the holder (`Down::Release`).
//! - SIGTERM ends the agent's whole session (SIGHUP, then SIGKILL after
//!   `KILL_GRACE`) and the holder: how a node ends a holder it will not
//!   adopt, whatever protocol that holder speaks.
//! - Only the owner's processes get in: the socket is made 0600 from its
//!   first moment (under a 177 umask, in a 0700 directory), and a
//!   connection from another uid is closed unread.

use std::collections::VecDeque;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use portable_pty::{CommandBuilder, MasterPty, PtySize, native_pty_system};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{UnixListener, UnixStream};

use crate::pty_fd;
use crate::ring::Ring;
use crate::session::{self, Session};
use crate::wire::{self, Down, Hello, Up};

/// Output kept for a node that is not attached (or has not saved it yet).
pub const RING_BYTES: usize = 4 * 1024 * 1024;
/// Output read ahead of what the attached node has been sent.
const WINDOW: u64 = 1024 * 1024;
/// How long an agent has to go after SIGHUP before SIGKILL.
pub const KILL_GRACE: Duration = Duration::from_secs(3);
/// Encoded frames waiting for the node's connection are topped up to
/// this; the socket's own buffer holds the rest.
const OUT_LOW: usize = 64 * 1024;
/// Input bytes queued for the agent's terminal and not yet written. A node
/// sends no more than its own bound (1 MiB) ahead of what we said is
/// written (`Up::Written`); past this, input from a node that does not
/// wait is dropped, as a full tty input queue drops it, and the node's
/// acknowledgements and release are never held up behind it.
const INPUT_BOUND: usize = 2 * 1024 * 1024;

/// What a node asks a holder to run.
#[derive(Clone, Debug)]
pub struct HolderArgs {
    pub socket: PathBuf,
    pub workspace: String,
    pub agent: String,
    pub cwd: PathBuf,
    pub rows: u16,
    pub cols: u16,
    /// The agent's command; its environment is the holder's own.
    pub argv: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum HolderError {
    #[error("cannot make the holder's socket {path}: {message}")]
    Socket { path: String, message: String },
    #[error("cannot open a pty: {0}")]
    Pty(String),
    #[error("cannot start {command}: {message}")]
    Start { command: String, message: String },
    #[error("holder: {0}")]
    Io(#[from] std::io::Error),
}

/// Runs the holder until its agent has ended and a node has read how, or
/// until SIGTERM. Errors come before the agent starts, while the node that
/// started us still reads our stderr; once it runs, stdio is /dev/null.
pub fn run(args: HolderArgs) -> Result<(), HolderError> {
    // Fails only if we already lead a group, which a spawned child does not.
    let _ = nix::unistd::setsid();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let result = runtime.block_on(serve(args));
    runtime.shutdown_timeout(Duration::from_secs(1));
    result
}

/// The node attached now. Its socket is read and written by the holder's
/// loop itself: a frame crosses no task on its way.
struct Conn {
    id: u64,
    reader: OwnedReadHalf,
    writer: OwnedWriteHalf,
    /// Bytes read that are not yet a whole frame.
    inbound: Vec<u8>,
    /// Encoded frames not yet written, and whether output is among them.
    outbound: Vec<u8>,
    outbound_has_output: bool,
    /// It sent a matching `Attach`: output flows.
    attached: bool,
    /// The offset of the next byte to send it.
    sent: u64,
    /// Its input written to the terminal so far, and what it was told of.
    input_written: u64,
    told_written: u64,
    told_eof: bool,
    told_exit: bool,
}

struct Holder {
    args: HolderArgs,
    agent_pid: u32,
    master: Box<dyn MasterPty + Send>,
    ring: Ring,
    /// Every byte before this a node has saved.
    acked: u64,
    /// Every byte before this was sent to some node.
    delivered: u64,
    eof: bool,
    exited: Option<i32>,
    released: bool,
    conn: Option<Conn>,
    next_conn: u64,
}

/// Input for the terminal not yet written, each chunk tagged with the
/// connection it came on; at most `INPUT_BOUND` bytes.
#[derive(Default)]
struct Typing {
    chunks: VecDeque<(u64, Vec<u8>)>,
    /// How much of the first chunk is written.
    at: usize,
    queued: usize,
    /// Writing failed: the terminal is gone, input is dropped.
    broken: bool,
}

impl Typing {
    /// Queues `bytes`; false if they are dropped (past the bound, or the
    /// terminal is gone).
    fn push(&mut self, id: u64, bytes: Vec<u8>) -> bool {
        if self.broken || self.queued + bytes.len() > INPUT_BOUND {
            return false;
        }
        if !bytes.is_empty() {
            self.queued += bytes.len();
            self.chunks.push_back((id, bytes));
        }
        true
    }

    fn pending(&self) -> Option<&[u8]> {
        self.chunks.front().map(|(_, bytes)| &bytes[self.at..])
    }

    /// `n` more bytes are written; the first chunk's connection and
    /// length once all of it is.
    fn wrote(&mut self, n: usize) -> Option<(u64, usize)> {
        self.at += n;
        let (id, len) = self.chunks.front().map(|(id, b)| (*id, b.len()))?;
        if self.at < len {
            return None;
        }
        self.chunks.pop_front();
        self.at = 0;
        self.queued -= len;
        Some((id, len))
    }

    /// Writing failed: what was queued is dropped; each chunk's
    /// connection and length.
    fn break_off(&mut self) -> Vec<(u64, usize)> {
        self.broken = true;
        self.at = 0;
        self.queued = 0;
        self.chunks.drain(..).map(|(id, b)| (id, b.len())).collect()
    }
}

async fn serve(args: HolderArgs) -> Result<(), HolderError> {
    let listener = bind_private(&args.socket)?;
    let pair = native_pty_system()
        .openpty(PtySize {
            rows: args.rows.max(1),
            cols: args.cols.max(1),
            pixel_width: 0,
            pixel_height: 0,
        })
        .map_err(|e| HolderError::Pty(e.to_string()))?;
    let mut cmd = CommandBuilder::from_argv(args.argv.iter().map(Into::into).collect());
    cmd.cwd(&args.cwd);
    // A benchmark's hop notes are the node's and ours, not the agent's.
    cmd.env_remove(roam_hops::DIR);
    let child = pair.slave.spawn_command(cmd).map_err(|e| {
        let _ = std::fs::remove_file(&args.socket);
        HolderError::Start {
            command: args.argv.join(" "),
            message: e.to_string(),
        }
    })?;
    // The slave end is the agent's now; holding it would hide its end.
    drop(pair.slave);
    let agent_pid = child.process_id().unwrap_or(0);
    let master = pair.master;
    let (mut pty_out, mut pty_in) =
        pty_fd::open(&*master).map_err(|e| HolderError::Pty(e.to_string()))?;
    // The node reads our stderr until it closes: that is "ready".
    quiet_stdio()?;

    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    // Out of the node's session, a hangup is nobody's to send us; ignored.
    let _sighup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    let mut output = vec![0u8; wire::MAX_PAYLOAD];
    let mut typing = Typing::default();
    let (exit_tx, mut exit_rx) = tokio::sync::oneshot::channel();
    tokio::task::spawn_blocking(move || {
        let _ = exit_tx.send(session::wait_exit_code(agent_pid as i32));
    });
    let mut inbound = vec![0u8; wire::MAX_PAYLOAD];
    let mut accept_after = None;

    let mut h = Holder {
        args,
        agent_pid,
        master,
        ring: Ring::new(RING_BYTES),
        acked: 0,
        delivered: 0,
        eof: false,
        exited: None,
        released: false,
        conn: None,
        next_conn: 0,
    };
    while !(h.released && h.exited.is_some()) {
        let read_pty = !h.eof
            && h.conn
                .as_ref()
                .is_none_or(|c| !c.attached || h.ring.end() - c.sent < WINDOW);
        h.top_up();
        let (from_node, to_node) = match h.conn.as_mut() {
            Some(Conn {
                reader,
                writer,
                outbound,
                ..
            }) => (
                Some(reader),
                Some((writer, &outbound[..])).filter(|(_, o)| !o.is_empty()),
            ),
            None => (None, None),
        };
        tokio::select! {
            _ = sigterm.recv() => {
                let leader = h.agent_pid as i32;
                let _ = tokio::task::spawn_blocking(move || {
                    Session { leader }.end(KILL_GRACE)
                })
                .await;
                break;
            }
            accepted = listener.accept(), if accept_after.is_none() => match accepted {
                Ok((stream, _)) => h.accept(stream),
                // Out of descriptors, say: not a reason to spin, nor to
                // hold up the agent's I/O.
                Err(_) => accept_after = Some(tokio::time::Instant::now() + Duration::from_millis(100)),
            },
            _ = pause(accept_after) => accept_after = None,
            read = read_from(from_node, &mut inbound) => h.took_in(read, &inbound, &mut typing),
            wrote = write_to(to_node) => h.put_out(wrote),
            read = pty_out.read(&mut output), if read_pty => match read {
                Ok(n) if n > 0 => {
                    roam_hops::mark(roam_hops::Hop::HolderEchoRead);
                    h.ring.push(&output[..n]);
                }
                // 0 once every writer closed the terminal; an error is as
                // final.
                _ => h.eof = true,
            },
            wrote = pty_in.write(typing.pending().unwrap_or_default()), if typing.pending().is_some() => {
                match wrote {
                    Ok(n) => {
                        roam_hops::mark(roam_hops::Hop::HolderKeyWritten);
                        if let Some((id, len)) = typing.wrote(n) {
                            h.written(id, len);
                        }
                    }
                    Err(_) => {
                        for (id, len) in typing.break_off() {
                            h.written(id, len);
                        }
                    }
                }
            }
            code = &mut exit_rx, if h.exited.is_none() => {
                h.exited = Some(code.unwrap_or(-1));
            }
        }
    }
    let _ = std::fs::remove_file(&h.args.socket);
    Ok(())
}

impl Holder {
    fn accept(&mut self, stream: UnixStream) {
        let ours = stream
            .peer_cred()
            .is_ok_and(|c| c.uid() == nix::unistd::getuid().as_raw());
        if !ours {
            return;
        }
        // One node at a time; the newest is the one alive (a node only
        // starts once the one before it let go of its store).
        self.conn = None;
        self.next_conn += 1;
        let id = self.next_conn;
        let (reader, writer) = stream.into_split();
        let mut hello = Vec::new();
        Up::Hello(Hello {
            version: wire::version(),
            holder_pid: std::process::id(),
            agent_pid: self.agent_pid,
            workspace: self.args.workspace.clone(),
            agent: self.args.agent.clone(),
            replay_from: self.acked,
            already_sent: self.delivered - self.acked,
        })
        .encode(&mut hello);
        self.conn = Some(Conn {
            id,
            reader,
            writer,
            inbound: Vec::new(),
            outbound: hello,
            outbound_has_output: false,
            attached: false,
            sent: self.acked,
            input_written: 0,
            told_written: 0,
            told_eof: false,
            told_exit: false,
        });
    }

    /// Bytes from the node: each whole frame is heard; the connection goes
    /// at its end, on an error, or on a frame that is not ours.
    fn took_in(&mut self, read: std::io::Result<usize>, buf: &[u8], typing: &mut Typing) {
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        let n = match read {
            Ok(n) if n > 0 => n,
            _ => {
                self.conn = None;
                return;
            }
        };
        conn.inbound.extend_from_slice(&buf[..n]);
        let (id, mut downs, mut at) = (conn.id, Vec::new(), 0);
        let whole = loop {
            match wire::split_frame(&conn.inbound[at..]) {
                Ok(Some((kind, payload, len))) => match Down::decode(kind, payload) {
                    Ok(down) => {
                        downs.push(down);
                        at += len;
                    }
                    Err(_) => break false,
                },
                Ok(None) => break true,
                Err(_) => break false,
            }
        };
        conn.inbound.drain(..at);
        for down in downs {
            if matches!(down, Down::Input(_)) {
                roam_hops::mark(roam_hops::Hop::HolderKeyRead);
            }
            self.heard(id, Some(down), typing);
        }
        if !whole {
            self.heard(id, None, typing);
        }
    }

    /// `wrote` bytes of the outbound frames went out; on an error the
    /// connection goes.
    fn put_out(&mut self, wrote: std::io::Result<usize>) {
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        match wrote {
            Ok(n) if n > 0 => {
                conn.outbound.drain(..n);
                if conn.outbound.is_empty() && conn.outbound_has_output {
                    conn.outbound_has_output = false;
                    roam_hops::mark(roam_hops::Hop::HolderEchoSent);
                }
            }
            _ => self.conn = None,
        }
    }

    /// Encodes what the attached node is due next, up to `OUT_LOW` waiting.
    fn top_up(&mut self) {
        while let Some(conn) = self.conn.as_ref() {
            if conn.outbound.len() >= OUT_LOW || !self.has_news(conn) {
                return;
            }
            self.next_frame();
        }
    }

    fn heard(&mut self, id: u64, down: Option<Down>, typing: &mut Typing) {
        let Some(conn) = self.conn.as_mut().filter(|c| c.id == id) else {
            return; // a connection already replaced
        };
        match down {
            None => self.conn = None,
            Some(Down::Attach(version)) if version == wire::version() => conn.attached = true,
            // A node of another protocol: it ends us by signal.
            Some(Down::Attach(_)) => self.conn = None,
            Some(Down::Input(bytes)) => {
                // Dropped input counts as written: its room goes back to
                // the node, which would otherwise wait for it for good.
                let len = bytes.len();
                if !typing.push(id, bytes) {
                    self.written(id, len);
                }
            }
            Some(Down::Resize { rows, cols }) => {
                let _ = self.master.resize(PtySize {
                    rows: rows.max(1),
                    cols: cols.max(1),
                    pixel_width: 0,
                    pixel_height: 0,
                });
            }
            Some(Down::Ack(offset)) => {
                self.acked = self.acked.max(offset.min(self.delivered));
                self.ring.forget_before(self.acked);
            }
            Some(Down::Release) => self.released = true,
        }
    }

    /// `n` bytes of input that came on connection `id` are written.
    fn written(&mut self, id: u64, n: usize) {
        if let Some(conn) = self.conn.as_mut().filter(|c| c.id == id) {
            conn.input_written += n as u64;
        }
    }

    /// Whether the attached node has something to be sent.
    fn has_news(&self, c: &Conn) -> bool {
        c.attached
            && (c.told_written < c.input_written
                || c.sent < self.ring.end()
                || (self.eof && !c.told_eof)
                || (self.exited.is_some() && !c.told_exit))
    }

    /// Encodes the next frame for the attached node: how much of its input
    /// is written (a few bytes that let it type on), output, then the end
    /// of the terminal, then the exit.
    fn next_frame(&mut self) {
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        let up = if conn.told_written < conn.input_written {
            conn.told_written = conn.input_written;
            Up::Written(conn.input_written)
        } else if conn.sent < self.ring.start() {
            let lost = self.ring.start() - conn.sent;
            conn.sent = self.ring.start();
            Up::Gap(lost)
        } else if conn.sent < self.ring.end() {
            let bytes = self.ring.read_at(conn.sent, wire::MAX_PAYLOAD);
            conn.sent += bytes.len() as u64;
            self.delivered = self.delivered.max(conn.sent);
            Up::Output(bytes)
        } else if self.eof && !conn.told_eof {
            conn.told_eof = true;
            Up::Eof
        } else if let (Some(code), false) = (self.exited, conn.told_exit) {
            conn.told_exit = true;
            Up::Exited(code)
        } else {
            return;
        };
        conn.outbound_has_output |= matches!(up, Up::Output(_));
        up.encode(&mut conn.outbound);
    }
}

/// Until `until`, if set. Cancel-safe.
async fn pause(until: Option<tokio::time::Instant>) {
    match until {
        Some(until) => tokio::time::sleep_until(until).await,
        None => std::future::pending().await,
    }
}

/// Reads what the node sent, if one is attached. Cancel-safe.
async fn read_from(reader: Option<&mut OwnedReadHalf>, buf: &mut [u8]) -> std::io::Result<usize> {
    match reader {
        Some(reader) => reader.read(buf).await,
        None => std::future::pending().await,
    }
}

/// Writes what the socket takes of the frames waiting, if any. Cancel-safe.
async fn write_to(to: Option<(&mut OwnedWriteHalf, &[u8])>) -> std::io::Result<usize> {
    match to {
        Some((writer, bytes)) => writer.write(bytes).await,
        None => std::future::pending().await,
    }
}

/// Binds the socket private from its first moment: under a 177 umask (put
/// back before the agent starts, so its files are made as the user asks).
fn bind_private(path: &Path) -> Result<UnixListener, HolderError> {
    use nix::sys::stat::{Mode, umask};
    let old = umask(Mode::from_bits_truncate(0o177));
    let bound = UnixListener::bind(path);
    umask(old);
    bound.map_err(|e| HolderError::Socket {
        path: path.display().to_string(),
        message: e.to_string(),
    })
}

/// stdin, stdout and stderr become /dev/null: the holder must not keep the
/// node's pipes (or its terminal) open once it runs on its own.
fn quiet_stdio() -> Result<(), HolderError> {
    let null = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")?;
    for fd in 0..3 {
        nix::unistd::dup2(null.as_raw_fd(), fd).map_err(std::io::Error::from)?;
    }
    Ok(())
}
