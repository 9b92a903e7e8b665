//! An agent's whole Unix session: the agent leads one (its PTY made it),
//! and everything it starts stays in it — a shell's background jobs too,
//! which have process groups of their own. Ending an agent ends its
//! session, so nothing it started keeps working on the worktree.
//!
//! Blocking (it reads `/proc`): call it from a thread or `spawn_blocking`.
//! A process that leaves the session with `setsid` escapes; only a cgroup
//! would hold it, and the node has none to give in most containers.

use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// How often a waiting end looks whether the session is empty.
const POLL: Duration = Duration::from_millis(20);

/// The session led by `leader` (its session id is the leader's pid).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Session {
    pub leader: i32,
}

impl Session {
    /// Every live process in the session (zombies are already gone).
    pub fn members(&self) -> Vec<i32> {
        let Ok(all) = procfs::process::all_processes() else {
            return Vec::new();
        };
        all.filter_map(Result::ok)
            .filter_map(|p| p.stat().ok())
            .filter(|s| s.session == self.leader && s.state != 'Z')
            .map(|s| s.pid)
            .collect()
    }

    pub fn signal(&self, signal: Signal) -> usize {
        let members = self.members();
        for pid in &members {
            // Gone in between is fine: that is what we want.
            let _ = kill(Pid::from_raw(*pid), signal);
        }
        members.len()
    }

    /// SIGHUP to every member, as a terminal hanging up does; after `grace`
    /// SIGKILL to whatever is left. Returns how many had to be killed.
    pub fn end(&self, grace: Duration) -> usize {
        if self.signal(Signal::SIGHUP) == 0 {
            return 0;
        }
        self.kill_after(grace)
    }

    /// Waits up to `grace` for the session to empty, then SIGKILLs the rest.
    pub fn kill_after(&self, grace: Duration) -> usize {
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if self.members().is_empty() {
                return 0;
            }
            std::thread::sleep(POLL);
        }
        let killed = self.signal(Signal::SIGKILL);
        if killed > 0 {
            tracing::info!(
                session = self.leader,
                killed,
                "killed what was left of an agent's session after its grace"
            );
        }
        killed
    }
}

/// When a process started, in clock ticks since boot, so a recorded pid is
/// known to be the same process and not a new one that got the number.
pub fn start_time(pid: i32) -> Option<u64> {
    procfs::process::Process::new(pid)
        .ok()?
        .stat()
        .ok()
        .map(|s| s.starttime)
}

/// The start time of `pid` while it runs (a zombie has ended).
pub fn running_since(pid: i32) -> Option<u64> {
    let stat = procfs::process::Process::new(pid).ok()?.stat().ok()?;
    (stat.state != 'Z').then_some(stat.starttime)
}

/// Reaps `pid` and says how it ended: its code, or 128 + the signal.
pub fn wait_exit_code(pid: i32) -> i32 {
    use nix::sys::wait::{WaitStatus, waitpid};
    loop {
        match waitpid(nix::unistd::Pid::from_raw(pid), None) {
            Ok(WaitStatus::Exited(_, code)) => return code,
            Ok(WaitStatus::Signaled(_, signal, _)) => return 128 + signal as i32,
            Ok(_) | Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return -1,
        }
    }
}

/// This boot of the machine: a pid and start time from another boot name
/// some other process.
pub fn boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}
