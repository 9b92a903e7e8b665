//! Tells a workspace when its git status may have changed: the kernel's
//! file events (inotify, through `notify`) on what `git status` reads —
//! the worktree's files, its HEAD and index, the refs of its branch and
//! base (`roam_gitsync::Worktree::status_inputs`).
//!
//! So that `roam ls` runs git only for workspaces where something
//! happened. Events that change nothing a status reads are dropped here:
//! opens and reads (git's own status opens every directory), and in a
//! git directory every file but those named (so Roam's own copy of the
//! index, or the user's checkout refreshing its index, is no change).

use std::path::{Path, PathBuf};

use notify::event::{AccessKind, AccessMode};
use notify::{Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use roam_gitsync::StatusInput;

/// Watching lasts as long as this value.
pub struct StatusWatch {
    _watcher: RecommendedWatcher,
}

impl std::fmt::Debug for StatusWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StatusWatch")
    }
}

/// Watches `inputs` and calls `changed` from the watcher's thread on
/// every event that may change the status. Blocking: a recursive watch
/// walks the tree.
pub fn start(
    inputs: Vec<StatusInput>,
    changed: impl Fn() + Send + 'static,
) -> Result<StatusWatch, notify::Error> {
    let filter = Filter {
        named: inputs
            .iter()
            .filter_map(|i| Some((i.path.clone(), i.names.clone()?)))
            .collect(),
    };
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<Event>| {
        // An error (the kernel's queue overflowed, a watch lost) may hide
        // a change: count it as one.
        if event.as_ref().map_or(true, |e| filter.may_change_status(e)) {
            changed();
        }
    })?;
    for input in &inputs {
        let mode = if input.recursive {
            RecursiveMode::Recursive
        } else {
            RecursiveMode::NonRecursive
        };
        watcher.watch(&input.path, mode)?;
    }
    Ok(StatusWatch { _watcher: watcher })
}

struct Filter {
    /// Directories in which only the files of these names count.
    named: Vec<(PathBuf, Vec<String>)>,
}

impl Filter {
    fn may_change_status(&self, event: &Event) -> bool {
        let writes = match event.kind {
            EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
            EventKind::Access(_) => false,
            _ => true,
        };
        // An event with no path (a rescan) may be anything.
        writes && (event.paths.is_empty() || event.paths.iter().any(|p| self.counts(p)))
    }

    fn counts(&self, path: &Path) -> bool {
        let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
            return true;
        };
        match self.named.iter().find(|(named, _)| named == dir) {
            Some((_, names)) => names.iter().any(|n| name == n.as_str()),
            None => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::{CreateKind, ModifyKind, RenameMode};

    fn event(kind: EventKind, paths: &[&str]) -> Event {
        paths
            .iter()
            .fold(Event::new(kind), |e, p| e.add_path(PathBuf::from(p)))
    }

    #[test]
    fn reads_and_other_files_of_a_git_directory_change_nothing() {
        let filter = Filter {
            named: vec![(
                PathBuf::from("/r/.git/worktrees/a"),
                vec!["HEAD".into(), "index".into()],
            )],
        };
        let open = EventKind::Access(AccessKind::Open(AccessMode::Any));
        let wrote = EventKind::Access(AccessKind::Close(AccessMode::Write));
        let created = EventKind::Create(CreateKind::File);
        let renamed = EventKind::Modify(ModifyKind::Name(RenameMode::Both));
        assert!(!filter.may_change_status(&event(open, &["/w/src"])));
        assert!(filter.may_change_status(&event(wrote, &["/w/src/a.rs"])));
        assert!(filter.may_change_status(&event(created, &["/w/.git/worktrees/a/x"])));
        let copy = "/r/.git/worktrees/a/roam-status-index.9.1.tmp";
        assert!(!filter.may_change_status(&event(created, &[copy])));
        assert!(filter.may_change_status(&event(
            renamed,
            &[
                "/r/.git/worktrees/a/index.lock",
                "/r/.git/worktrees/a/index"
            ]
        )));
        assert!(filter.may_change_status(&Event::new(EventKind::Any)));
    }
}
