//! Running short-lived commands (git, ssh-keygen, roam, rsync) to completion,
//! bounded like every other wait: a hung command is killed, not waited on.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context, bail};

use crate::wait::TIMEOUT;

/// How long the output pipes may stay open after the command exited (a
/// background process it started could hold them).
const AFTER_EXIT: Duration = Duration::from_secs(10);

/// `program arg…`, for messages.
pub fn describe(cmd: &Command) -> String {
    let mut text = cmd.get_program().to_string_lossy().into_owned();
    for arg in cmd.get_args() {
        text.push(' ');
        text.push_str(&arg.to_string_lossy());
    }
    text
}

/// Runs `cmd` (stdin null, output captured) and waits at most `TIMEOUT` for it;
/// kills it if it takes longer.
pub fn output(cmd: &mut Command) -> anyhow::Result<Output> {
    let what = describe(cmd);
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run {what}"))?;
    // Both pipes are drained while the command runs, so it never blocks on a
    // full pipe; the readers report through channels so that a grandchild
    // keeping a pipe open cannot hang us either.
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    // Waited for on a thread so the wait can be given up on without polling
    // (polling would add its period to the times the benchmarks measure).
    let pid = child.id();
    let (tx, exited) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait());
    });
    let status = match exited.recv_timeout(TIMEOUT) {
        Ok(status) => status.with_context(|| format!("cannot wait for {what}"))?,
        Err(_) => {
            kill(pid);
            bail!("{what} did not finish within {} s", TIMEOUT.as_secs());
        }
    };
    let collect = |rx: mpsc::Receiver<Vec<u8>>| rx.recv_timeout(AFTER_EXIT).unwrap_or_default();
    Ok(Output {
        status,
        stdout: collect(stdout),
        stderr: collect(stderr),
    })
}

/// SIGKILL to one process we started.
pub fn kill(pid: u32) {
    if let Ok(pid) = i32::try_from(pid) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

/// Runs `cmd`; fails with its stderr unless it succeeds; returns its stdout.
pub fn run(cmd: &mut Command) -> anyhow::Result<String> {
    let out = output(cmd)?;
    if !out.status.success() {
        bail!(
            "{} failed ({}): {}",
            describe(cmd),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs git in `dir`; fails with its stderr unless it succeeds.
pub fn git(dir: &Path, args: &[&str]) -> anyhow::Result<String> {
    run(Command::new("git").args(args).current_dir(dir))
}

/// Everything a pipe yields, delivered on a channel when it closes.
fn drain(pipe: Option<impl Read + Send + 'static>) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    if let Some(mut pipe) = pipe {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            let _ = tx.send(bytes);
        });
    }
    rx
}
