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

use std::path::Path;

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
/// every event that may change the status, and `lost` when the watch can
/// no longer see every change (the kernel's watches ran out for a new
/// directory). Blocking: a recursive watch walks the tree.
pub fn start(
    inputs: Vec<StatusInput>,
    changed: impl Fn() + Send + 'static,
    lost: impl Fn(String) + Send + 'static,
) -> Result<StatusWatch, notify::Error> {
    let filter = Filter {
        inputs: inputs.clone(),
    };
    let handler = move |event: notify::Result<Event>| match event {
        Ok(event) if filter.may_change_status(&event) => changed(),
        Ok(_) => {}
        Err(error) => lost(error.to_string()),
    };
    // A symlinked directory (a package manager's store, a link to $HOME)
    // is not the worktree's to watch: git status does not follow it.
    let config = notify::Config::default().with_follow_symlinks(false);
    let mut watcher = RecommendedWatcher::new(handler, config)?;
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
    inputs: Vec<StatusInput>,
}

impl Filter {
    fn may_change_status(&self, event: &Event) -> bool {
        let writes = match event.kind {
            EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
            EventKind::Access(_) => false,
            _ => true,
        };
        // An event with no path (a rescan after the kernel's queue
        // overflowed) may be anything.
        writes && (event.paths.is_empty() || event.paths.iter().any(|p| self.counts(p)))
    }

    /// A path in an input counts unless the input names the only paths
    /// that do; a path in none (a watched directory itself) counts.
    fn counts(&self, path: &Path) -> bool {
        let mut within = self.inputs.iter().filter(|input| {
            if input.recursive {
                path.starts_with(&input.path)
            } else {
                path.parent() == Some(input.path.as_path())
            }
        });
        let mut any = false;
        let counted = within.any(|input| {
            any = true;
            input
                .only
                .as_ref()
                .is_none_or(|only| only.iter().any(|p| p == path))
        });
        counted || !any
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::{CreateKind, ModifyKind, RenameMode};
    use std::path::PathBuf;

    fn event(kind: EventKind, paths: &[&str]) -> Event {
        paths
            .iter()
            .fold(Event::new(kind), |e, p| e.add_path(PathBuf::from(p)))
    }

    #[test]
    fn reads_and_other_files_of_a_git_directory_change_nothing() {
        let input = |path: &str, recursive, only: Option<&[&str]>| StatusInput {
            path: PathBuf::from(path),
            recursive,
            only: only.map(|o| o.iter().map(PathBuf::from).collect()),
        };
        let filter = Filter {
            inputs: vec![
                input("/w", true, None),
                input(
                    "/r/.git/worktrees/a",
                    false,
                    Some(&["/r/.git/worktrees/a/HEAD"]),
                ),
                input("/r/.git/refs", true, Some(&["/r/.git/refs/heads/roam/a"])),
            ],
        };
        let open = EventKind::Access(AccessKind::Open(AccessMode::Any));
        let wrote = EventKind::Access(AccessKind::Close(AccessMode::Write));
        let created = EventKind::Create(CreateKind::File);
        let renamed = EventKind::Modify(ModifyKind::Name(RenameMode::Both));
        assert!(!filter.may_change_status(&event(open, &["/w/src"])));
        assert!(filter.may_change_status(&event(wrote, &["/w/src/a.rs"])));
        let copy = "/r/.git/worktrees/a/roam-status-index.9.1.tmp";
        assert!(!filter.may_change_status(&event(created, &[copy])));
        assert!(filter.may_change_status(&event(
            renamed,
            &["/r/.git/worktrees/a/HEAD.lock", "/r/.git/worktrees/a/HEAD"]
        )));
        // Another workspace's branch is no change to this one.
        assert!(!filter.may_change_status(&event(created, &["/r/.git/refs/heads/roam/b"])));
        assert!(filter.may_change_status(&event(created, &["/r/.git/refs/heads/roam/a"])));
        // A watched directory itself going away is.
        assert!(filter.may_change_status(&event(
            EventKind::Remove(notify::event::RemoveKind::Folder),
            &["/r/.git/worktrees/a"]
        )));
        assert!(filter.may_change_status(&Event::new(EventKind::Any)));
    }
}
