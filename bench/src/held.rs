//! An agent in a holder (`roam-holder`) with the benchmark where its node
//! would be. The holder is started and connected by the node's own code
//! (`roam_holder::client::start`, with the arguments the node gives it), and
//! its frames are read one at a time off its socket as the node reads them.
//! After that, its output goes to a `Drain`, the same as a PTY's output does.
//! Nothing else the node does (scrollback, screen, viewers) is on this path.

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use roam_holder::client::{self, Process};
use roam_holder::serve::{HolderArgs, KILL_GRACE};
use roam_holder::wire::{self, Down, Up};

use crate::drain::{Drain, Watched};

/// How long a holder may take to exit once its agent ended and it was released.
const EXIT_GRACE: Duration = Duration::from_secs(10);

pub struct HeldAgent {
    name: String,
    /// Our end of the holder's socket, for what goes down to it; the drain
    /// reads a clone.
    socket: UnixStream,
    drain: Drain,
    /// The offset of the first byte the holder sent (0 for a fresh agent).
    replay_from: u64,
    holder: Process,
    agent: Option<Process>,
    /// The holder has exited and been reaped.
    gone: bool,
}

impl HeldAgent {
    /// Starts `argv` (the agent's command) in a new holder whose socket is
    /// `socket`, its PTY `cols` x `rows`, with `env` on top of this process's
    /// environment, and attaches to it.
    pub fn start(
        holder_exe: &Path,
        argv: &[&Path],
        env: &[(&str, std::ffi::OsString)],
        cwd: &Path,
        socket: PathBuf,
        (cols, rows): (u16, u16),
    ) -> anyhow::Result<HeldAgent> {
        let args = HolderArgs {
            socket,
            workspace: "bench".into(),
            agent: "bench".into(),
            cwd: cwd.to_path_buf(),
            rows,
            cols,
            argv: argv.iter().map(|p| p.display().to_string()).collect(),
        };
        let mut env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.to_string_lossy().into_owned()))
            .collect();
        // As `PtyProcess` gives its processes.
        env.push(("TERM".into(), "xterm-256color".into()));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start a runtime for the holder's client")?;
        let (hello, stream) = runtime.block_on(async {
            let mut connected = client::start(holder_exe, &args, &env).await?;
            connected.attach().await?;
            let stream = connected.reader.reunite(connected.writer)?.into_std()?;
            anyhow::Ok((connected.hello, stream))
        })?;
        // The holder is reaped here (`reap`), not by that runtime.
        drop(runtime);
        stream.set_nonblocking(false)?;
        let name = format!("roam-holder of {}", args.argv.join(" "));
        let frames = Frames {
            stream: stream.try_clone()?,
            chunk: Vec::new(),
            at: 0,
        };
        let holder = Process::of(hello.holder_pid as i32)
            .with_context(|| format!("the holder (pid {}) is gone", hello.holder_pid))?;
        Ok(HeldAgent {
            drain: Drain::start(&name, Box::new(frames))?,
            name,
            socket: stream,
            replay_from: hello.replay_from,
            holder,
            agent: Process::of(hello.agent_pid as i32),
            gone: false,
        })
    }

    /// Tells the holder every byte read so far is saved, as a node does once
    /// its scrollback file holds them (about every second), so the holder's
    /// ring lets them go.
    pub fn ack(&mut self) -> anyhow::Result<()> {
        let offset = self.replay_from + self.drain.total();
        self.send(&Down::Ack(offset))
    }

    /// Types `exit 0` into the agent, waits (bounded) for its output to end,
    /// releases the holder and waits (bounded) for it to exit.
    pub fn exit(mut self) -> anyhow::Result<()> {
        self.type_in(b"exit 0\r")?;
        self.drain.wait_eof()?;
        self.send(&Down::Release)?;
        self.gone = reap(self.holder.pid, EXIT_GRACE)?;
        if !self.gone {
            bail!(
                "{} did not exit within {} s of its release",
                self.name,
                EXIT_GRACE.as_secs()
            );
        }
        Ok(())
    }

    fn send(&mut self, down: &Down) -> anyhow::Result<()> {
        let mut frame = Vec::new();
        down.encode(&mut frame);
        self.socket
            .write_all(&frame)
            .with_context(|| format!("cannot write to {}", self.name))
    }
}

impl Watched for HeldAgent {
    fn drain(&self) -> &Drain {
        &self.drain
    }

    /// In `Input` frames, as the node sends what a viewer types.
    fn type_in(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        for frame in wire::input_frames(bytes) {
            self.send(&frame)?;
        }
        Ok(())
    }
}

impl Drop for HeldAgent {
    /// Ends a holder that is still there the way a node ends one it will
    /// not adopt: SIGTERM (it ends its agent's session, then itself), and
    /// SIGKILL to both if that does not do it.
    fn drop(&mut self) {
        if self.gone {
            return;
        }
        let _ = kill(Pid::from_raw(self.holder.pid), Signal::SIGTERM);
        if !reap(self.holder.pid, KILL_GRACE + Duration::from_secs(2)).unwrap_or(true) {
            client::end(&[(self.holder, self.agent)]);
            let _ = reap(self.holder.pid, Duration::from_secs(1));
        }
    }
}

/// Waits up to `limit` for our child `pid` to exit and reaps it; whether it
/// did. A child someone else reaped counts as exited.
fn reap(pid: i32, limit: Duration) -> anyhow::Result<bool> {
    let start = Instant::now();
    loop {
        match waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) => {}
            Ok(WaitStatus::Exited(..) | WaitStatus::Signaled(..)) => return Ok(true),
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(nix::errno::Errno::ECHILD) => return Ok(true),
            Err(e) => return Err(anyhow!("cannot wait for holder {pid}: {e}")),
        }
        if start.elapsed() > limit {
            return Ok(false);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The agent's output out of the holder's frames: each frame's header, then
/// its payload, read off the socket as `wire::read_frame` does for the node,
/// and decoded by `wire`. Ends at the end of the terminal.
struct Frames {
    stream: UnixStream,
    /// The current `Output` payload, and how much of it was read.
    chunk: Vec<u8>,
    at: usize,
}

impl Frames {
    fn next_up(&mut self) -> io::Result<Option<Up>> {
        let mut head = [0u8; wire::HEAD];
        match self.stream.read_exact(&mut head) {
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
            other => other?,
        }
        let mut payload = vec![0u8; wire::payload_len(&head).map_err(io::Error::other)?];
        self.stream.read_exact(&mut payload)?;
        Up::decode(head[0], &payload)
            .map(Some)
            .map_err(io::Error::other)
    }
}

impl Read for Frames {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.at == self.chunk.len() {
            match self.next_up()? {
                Some(Up::Output(bytes)) => {
                    self.chunk = bytes;
                    self.at = 0;
                }
                // With a reader attached the holder never drops output; if
                // it did, the flood's bytes would not be what was measured.
                Some(Up::Gap(lost)) => {
                    return Err(io::Error::other(format!(
                        "the holder dropped {lost} bytes of output"
                    )));
                }
                // What the benchmark typed is written: nothing to wait on.
                Some(Up::Written(_)) => {}
                Some(Up::Hello(_)) => return Err(io::Error::other("the holder said hello twice")),
                None | Some(Up::Eof | Up::Exited(_)) => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len() - self.at);
        buf[..n].copy_from_slice(&self.chunk[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}
