//! A process in a PTY whose output is drained continuously by a thread
//! (`drain`), which watches for markers and notes when they arrived.

use std::ffi::OsString;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use portable_pty::{Child, CommandBuilder, MasterPty, PtySize, native_pty_system};

pub use crate::drain::Hit;
use crate::drain::{Drain, Watched};
use crate::wait::TIMEOUT;

/// The terminal size every benchmark uses: wide enough that flood lines do
/// not wrap.
pub const COLS: u16 = 200;
pub const ROWS: u16 = 50;
/// Ctrl-], `roam attach`'s detach key.
pub const DETACH: u8 = 0x1d;

pub struct PtyProcess {
    name: String,
    child: Box<dyn Child + Send + Sync>,
    writer: Box<dyn Write + Send>,
    drain: Drain,
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
        let reader = pair
            .master
            .try_clone_reader()
            .map_err(|e| anyhow!("cannot read the PTY: {e}"))?;
        let writer = pair
            .master
            .take_writer()
            .map_err(|e| anyhow!("cannot write the PTY: {e}"))?;
        let drain = Drain::start(&name, reader)?;
        Ok(PtyProcess {
            name,
            child,
            writer,
            drain,
            _master: pair.master,
        })
    }

    /// Starts watching for `needles`, in order. With `seen_too`, the kept tail
    /// of earlier output counts as well.
    pub fn arm(&self, needles: &[&str], seen_too: bool) {
        self.drain.arm(needles, seen_too);
    }

    /// Waits (bounded) until the armed watch hits.
    pub fn wait_hit(&self) -> anyhow::Result<Hit> {
        self.drain.wait_hit()
    }

    /// Waits (bounded) for `needle`, counting output already seen, and then
    /// for the output to stop: the process is ready for input.
    pub fn settle(&self, needle: &str) -> anyhow::Result<()> {
        self.drain.settle(needle)
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

impl Watched for PtyProcess {
    fn drain(&self) -> &Drain {
        &self.drain
    }

    fn type_in(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        self.write(bytes)
    }
}
