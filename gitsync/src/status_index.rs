//! Roam's own copy of a worktree's index, for `git status` alone.
//!
//! Roam's git never takes the agent's `index.lock` (`GIT_OPTIONAL_LOCKS=0`,
//! so an agent's own `git commit` never fails on it), which means `status`
//! never writes back what it learns. In a fresh worktree, whose files were
//! written in the same second as its index, every entry stays "racily
//! clean", and every `status` read every file again: 0.25 s for 3,395
//! files, each time, so `roam ls` over 50 workspaces took 5 s.
//!
//! `status` runs against a copy instead (`GIT_INDEX_FILE`), which it may
//! rewrite: once refreshed, a status reads only what changed. The copy is
//! taken again whenever the real index is another file (git replaces it
//! by rename on every write), so it always holds what is staged.

use std::path::{Path, PathBuf};

const COPY: &str = "roam-status-index";
/// Which real index the copy was taken from.
const FROM: &str = "roam-status-index.from";

/// The copy to run `status` against, taken again if the real index
/// changed; `None` (plain status) if there is no index or it cannot be
/// copied.
pub(crate) fn current(git_dir: &Path) -> Option<PathBuf> {
    let real = git_dir.join("index");
    let (copy, from) = (git_dir.join(COPY), git_dir.join(FROM));
    let stamp = stamp(&real)?;
    if copy.is_file() && std::fs::read_to_string(&from).ok().as_deref() == Some(&stamp) {
        return Some(copy);
    }
    // Two statuses of one worktree may copy at once, even in one process.
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = git_dir.join(format!("{COPY}.{}.{n}.tmp", std::process::id()));
    let copied = std::fs::copy(&real, &tmp)
        .and_then(|_| std::fs::rename(&tmp, &copy))
        .is_ok();
    let _ = std::fs::remove_file(&tmp);
    // Stamped only if the index did not change while it was copied.
    if !copied || self::stamp(&real).as_deref() != Some(&stamp) {
        return None;
    }
    std::fs::write(&from, &stamp).ok()?;
    Some(copy)
}

/// What tells one index file from the next: git writes a new file and
/// renames it over the old one, so the inode changes with every write.
fn stamp(index: &Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(index).ok()?;
    Some(format!(
        "{} {} {} {}",
        m.ino(),
        m.size(),
        m.mtime(),
        m.mtime_nsec()
    ))
}
