//! When a workspace's git status must be read again, and who waits for it.
//!
//! A listing shows the status last read, unless something changed since
//! that read began: then it waits for the next read. Changes are counted
//! (`StatusWatch` reports them); a read covers every change counted
//! before it began. Bursts of changes (a checkout, a build) are let
//! settle before the status is read in the background, so the next
//! listing finds it read and a burst costs one read. Without a watch
//! (an SSH host, or the kernel's watches used up) anything may have
//! changed at any time, and every listing reads.
//!
//! Plain data and decisions; the Workspace actor runs the reads and the
//! timer.

use std::time::{Duration, Instant};

use roam_gitsync::WorktreeStatus;

/// How long changes must stop before the status is read in the background.
pub const SETTLE: Duration = Duration::from_millis(300);

pub type Read = Result<WorktreeStatus, String>;

pub struct FreshStatus<T> {
    last: Option<Read>,
    /// Changes counted so far.
    changes: u64,
    /// The changes the last read covers.
    covered: u64,
    /// A read under way, and the changes it covers.
    reading: Option<u64>,
    watch: Watch,
    /// Who asked, and the changes counted when they did.
    waiting: Vec<(u64, T)>,
    last_change: Option<Instant>,
    timer_set: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Watch {
    /// Until the watch is set up (just after the workspace starts), the
    /// status read last (or known at creation) stands; the watch counts a
    /// change when it starts, for what happened before it.
    Starting,
    On,
    Off,
}

/// What to do when the settle timer fires.
#[derive(Debug, PartialEq, Eq)]
pub enum Settle {
    /// Changes came since: wait this much more.
    Again(Duration),
    /// Start a read covering these changes.
    Read(u64),
    Nothing,
}

impl<T> FreshStatus<T> {
    /// `known`: the status when it is known without reading (a worktree
    /// just made from its base is clean and even with it).
    pub fn new(known: Option<WorktreeStatus>) -> FreshStatus<T> {
        FreshStatus {
            last: known.map(Ok),
            changes: 0,
            covered: 0,
            reading: None,
            watch: Watch::Starting,
            waiting: Vec::new(),
            last_change: None,
            timer_set: false,
        }
    }

    /// The watch is set up (`true`), or cannot be or is given up
    /// (`false`). What changed before it started is read when asked, not
    /// in the background: a node starting with many workspaces reads none
    /// until it is asked.
    pub fn watching(&mut self, on: bool) {
        self.changes += 1;
        self.watch = if on { Watch::On } else { Watch::Off };
    }

    /// Something may have changed. Returns whether to set the settle timer.
    pub fn changed(&mut self, now: Instant) -> bool {
        self.changes += 1;
        self.last_change = Some(now);
        let set = self.watch == Watch::On && !self.timer_set;
        self.timer_set |= set;
        set
    }

    fn fresh(&self) -> bool {
        self.last.is_some() && self.covered == self.changes
    }

    /// `waiter` wants the status: answered now when it is fresh, else
    /// kept for the read that covers the moment it asked (`start_read`).
    pub fn ask(&mut self, waiter: T) -> Option<(T, Read)> {
        if self.watch == Watch::Off {
            self.changes += 1;
        }
        match &self.last {
            Some(last) if self.fresh() => Some((waiter, last.clone())),
            _ => {
                self.waiting.push((self.changes, waiter));
                None
            }
        }
    }

    /// Whether anyone waits for a read.
    pub fn waiting(&self) -> bool {
        !self.waiting.is_empty()
    }

    /// A read to start now, covering the changes returned, if the status
    /// is not fresh and none is under way.
    pub fn start_read(&mut self) -> Option<u64> {
        if self.reading.is_some() || self.fresh() {
            return None;
        }
        self.reading = Some(self.changes);
        self.reading
    }

    /// A read that covers `covers` finished. Returns the waiters it
    /// answers; call `start_read` again for the rest.
    pub fn read_done(&mut self, covers: u64, read: Read) -> Vec<(T, Read)> {
        self.reading = None;
        self.covered = covers;
        self.last = Some(read.clone());
        let (answered, rest) = std::mem::take(&mut self.waiting)
            .into_iter()
            .partition(|(asked, _)| *asked <= covers);
        self.waiting = rest;
        answered
            .into_iter()
            .map(|(_, waiter)| (waiter, read.clone()))
            .collect()
    }

    /// The last read was given up on: the next ask reads again (and no
    /// background read piles up behind one that hangs).
    pub fn unread(&mut self) {
        self.changes += 1;
    }

    /// The settle timer fired.
    pub fn settle(&mut self, now: Instant) -> Settle {
        let quiet = self
            .last_change
            .map_or(SETTLE, |at| now.saturating_duration_since(at));
        if quiet < SETTLE {
            return Settle::Again(SETTLE - quiet);
        }
        self.timer_set = false;
        match self.start_read() {
            Some(covers) => Settle::Read(covers),
            None => Settle::Nothing,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(dirty: u32) -> WorktreeStatus {
        WorktreeStatus {
            dirty_files: dirty,
            ..Default::default()
        }
    }

    #[test]
    fn a_status_known_at_creation_is_shown_without_a_read_until_the_watch_starts() {
        let mut fresh = FreshStatus::new(Some(status(0)));
        assert_eq!(fresh.ask("a").map(|(_, r)| r), Some(Ok(status(0))));
        assert_eq!(fresh.start_read(), None);
        // What happened before the watch started is read once it has.
        fresh.watching(true);
        assert!(fresh.ask("b").is_none());
        let covers = fresh.start_read().expect("a read");
        assert_eq!(
            fresh.read_done(covers, Ok(status(2))),
            [("b", Ok(status(2)))]
        );
        assert_eq!(fresh.ask("c").map(|(_, r)| r), Some(Ok(status(2))));
    }

    #[test]
    fn a_change_during_a_read_is_read_again_for_whoever_asked_after_it() {
        let now = Instant::now();
        let mut fresh = FreshStatus::new(None);
        fresh.watching(true);
        assert!(fresh.ask("before").is_none());
        let first = fresh.start_read().expect("a read");
        fresh.changed(now);
        assert!(fresh.ask("after").is_none());
        assert_eq!(fresh.start_read(), None, "one read at a time");
        assert_eq!(
            fresh.read_done(first, Ok(status(1))),
            [("before", Ok(status(1)))]
        );
        let second = fresh.start_read().expect("a second read");
        assert_eq!(
            fresh.read_done(second, Ok(status(2))),
            [("after", Ok(status(2)))]
        );
        assert_eq!(fresh.start_read(), None);
    }

    #[test]
    fn a_burst_of_changes_is_read_once_it_settles() {
        let start = Instant::now();
        let mut fresh = FreshStatus::<()>::new(Some(status(0)));
        fresh.watching(true);
        assert!(fresh.changed(start), "the first change sets the timer");
        assert!(
            !fresh.changed(start + SETTLE / 2),
            "the timer is already set"
        );
        assert_eq!(fresh.settle(start + SETTLE), Settle::Again(SETTLE / 2));
        let Settle::Read(covers) = fresh.settle(start + SETTLE * 2) else {
            panic!("no read once the changes settled");
        };
        assert!(fresh.read_done(covers, Ok(status(3))).is_empty());
        assert!(
            fresh.changed(start + SETTLE * 3),
            "a new burst sets the timer again"
        );
    }

    #[test]
    fn without_a_watch_every_ask_reads() {
        let now = Instant::now();
        let mut fresh = FreshStatus::new(Some(status(0)));
        fresh.watching(false);
        assert!(!fresh.changed(now), "no background reads without a watch");
        for round in 0..2 {
            assert!(fresh.ask(round).is_none());
            let covers = fresh.start_read().expect("a read");
            assert_eq!(
                fresh.read_done(covers, Err("gone".into())),
                [(round, Err("gone".into()))]
            );
        }
    }
}
