//! Agent processes a node that died (`kill -9`, OOM, a crash) left
//! running. Each running agent has a mark in the data dir's `run/` naming
//! its process (pid, start time, boot), written when it starts and removed
//! when it ends; a node starting up ends every session still marked, before
//! any agent starts again, so one agent never runs twice on one worktree.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::session::{self, Session, boot_id};

/// A mark is a few dozen bytes; anything longer is not ours.
const MAX_MARK: u64 = 256;
const MARK_VERSION: &str = "roam-agent-mark 1";

/// The mark of one running agent; removed with [`Mark::clear`].
#[derive(Debug)]
pub struct Mark {
    path: PathBuf,
}

/// Who a mark names.
#[derive(Debug, PartialEq, Eq)]
struct Marked {
    pid: i32,
    start: u64,
    boot: String,
}

impl Mark {
    /// Records that `pid` runs an agent; `path` is the agent's mark file.
    pub fn record(path: PathBuf, pid: i32) -> std::io::Result<Mark> {
        let start = session::start_time(pid).unwrap_or(0);
        if let Some(dir) = path.parent() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)?;
        }
        let tmp = path.with_extension("tmp");
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        // Not synced: it only has to outlive the node's process (a crash of
        // the machine ends the agents with it).
        writeln!(file, "{MARK_VERSION}\n{pid} {start} {}", boot_id())?;
        std::fs::rename(&tmp, &path)?;
        Ok(Mark { path })
    }

    pub fn clear(&self) {
        if let Err(e) = std::fs::remove_file(&self.path)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(path = %self.path.display(), error = %e, "cannot remove an agent's mark");
        }
    }
}

/// Ends every marked session whose process is still the one marked: SIGHUP
/// to all at once, SIGKILL to what is left after `grace`. Removes every
/// mark. Returns how many sessions were still running.
pub fn end_left_over(run_dir: &Path, grace: Duration) -> usize {
    let marks = marks_under(run_dir);
    let boot = boot_id();
    let mut alive = Vec::new();
    for (path, marked) in marks {
        match marked {
            Some(m) if m.boot == boot && session::start_time(m.pid) == Some(m.start) => {
                tracing::warn!(pid = m.pid, mark = %path.display(), "an agent from the node's previous run is still running; ending its session");
                alive.push(Session { leader: m.pid });
            }
            Some(_) => {}
            None => tracing::warn!(mark = %path.display(), "ignoring an unreadable agent mark"),
        }
        let _ = std::fs::remove_file(&path);
    }
    for s in &alive {
        s.signal(nix::sys::signal::Signal::SIGHUP);
    }
    for s in &alive {
        // One grace for all: the first wait covers the others.
        s.kill_after(grace);
    }
    alive.len()
}

/// Every `run/WS/AGENT.mark`, with what it names (None if unreadable).
fn marks_under(run_dir: &Path) -> Vec<(PathBuf, Option<Marked>)> {
    let mut found = Vec::new();
    let Ok(workspaces) = std::fs::read_dir(run_dir) else {
        return found;
    };
    for ws in workspaces.filter_map(Result::ok) {
        let Ok(agents) = std::fs::read_dir(ws.path()) else {
            continue;
        };
        for agent in agents.filter_map(Result::ok) {
            let path = agent.path();
            if path.extension().is_some_and(|e| e == "mark") {
                let marked = read_mark(&path);
                found.push((path, marked));
            } else if path.extension().is_some_and(|e| e == "tmp") {
                let _ = std::fs::remove_file(&path);
            }
        }
    }
    found
}

fn read_mark(path: &Path) -> Option<Marked> {
    use std::io::Read;
    let mut text = String::new();
    std::fs::File::open(path)
        .ok()?
        .take(MAX_MARK)
        .read_to_string(&mut text)
        .ok()?;
    parse(&text)
}

fn parse(text: &str) -> Option<Marked> {
    let mut lines = text.lines();
    if lines.next()? != MARK_VERSION {
        return None;
    }
    let mut fields = lines.next()?.split(' ');
    let marked = Marked {
        pid: fields.next()?.parse().ok().filter(|p| *p > 1)?,
        start: fields.next()?.parse().ok()?,
        boot: fields.next()?.to_owned(),
    };
    fields.next().is_none().then_some(marked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mark_reads_back_and_garbage_does_not() {
        let m = parse("roam-agent-mark 1\n1234 99 abc\n");
        assert_eq!(
            m,
            Some(Marked {
                pid: 1234,
                start: 99,
                boot: "abc".into()
            })
        );
        for bad in [
            "",
            "roam-agent-mark 2\n1234 99 abc\n",
            "roam-agent-mark 1\n1 99 abc\n",
            "roam-agent-mark 1\n-5 99 abc\n",
            "roam-agent-mark 1\n1234 99\n",
            "roam-agent-mark 1\n1234 99 abc extra\n",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }
}
