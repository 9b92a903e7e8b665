//! The per-node mirror cache: one bare repository per repo identity, from which
//! worktrees are made, so a node fetches each object of a project at most once
//! and the second workspace of a repo costs no network.

use std::fs::File;
use std::path::{Path, PathBuf};

use crate::cmd::Git;
use crate::oid::Oid;
use crate::{GitError, Result};

/// How a receive's private object directory inside `<mirror>/objects` starts.
pub(crate) const QUARANTINE_PREFIX: &str = "roam-incoming-";

/// A directory of mirrors, `<dir>/<root-commit-hex>.git`.
#[derive(Clone, Debug)]
pub struct Mirrors {
    dir: PathBuf,
}

/// One bare mirror of one repo identity.
#[derive(Clone, Debug)]
pub struct Mirror {
    path: PathBuf,
    key: Oid,
}

/// Exclusive right to change one mirror (create it, receive into it, remove
/// it), held as an `flock` on `<dir>/<key>.lock`. The kernel drops it when the
/// file is closed, so a receive that is killed never leaves the mirror locked.
#[derive(Debug)]
pub(crate) struct MirrorLock {
    _file: File,
}

impl Mirrors {
    /// Opens (creating if needed) the mirror directory `dir`, and removes what
    /// receives killed mid-transfer left behind (see [`Mirrors::sweep`]).
    pub fn open(dir: &Path) -> Result<Mirrors> {
        std::fs::create_dir_all(dir).map_err(|source| GitError::Io {
            path: dir.to_owned(),
            source,
        })?;
        let mirrors = Mirrors {
            dir: dir.to_owned(),
        };
        mirrors.sweep();
        Ok(mirrors)
    }

    /// The directory holding the mirrors.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the mirror for `key` lives (whether or not it exists). `key` is a
    /// parsed [`Oid`], hex only, so it cannot escape the directory.
    pub fn path_for(&self, key: &Oid) -> PathBuf {
        self.dir.join(format!("{key}.git"))
    }

    /// The mirror for `key`, if this node has one.
    pub fn get(&self, key: &Oid) -> Option<Mirror> {
        let path = self.path_for(key);
        path.join("objects").is_dir().then(|| Mirror {
            path,
            key: key.clone(),
        })
    }

    /// The mirror for `key`, created empty if missing. The bool is true when it
    /// was created now, so a failed first transfer can remove it again. Callers
    /// that may race another receive hold [`Mirrors::lock`] around this.
    pub fn get_or_create(&self, key: &Oid) -> Result<(Mirror, bool)> {
        if let Some(m) = self.get(key) {
            return Ok((m, false));
        }
        let path = self.path_for(key);
        Git::new(&self.dir)
            .args(["init", "--quiet", "--bare"])
            .arg(&path)
            .run()?;
        // A mirror must never drop objects a snapshot ref or worktree still
        // needs behind our back while a transfer is quarantined.
        Git::new(&path).args(["config", "gc.auto", "0"]).run()?;
        Ok((
            Mirror {
                path,
                key: key.clone(),
            },
            true,
        ))
    }

    fn lock_path(&self, key: &Oid) -> PathBuf {
        self.dir.join(format!("{key}.lock"))
    }

    fn lock_file(&self, key: &Oid) -> Result<File> {
        let path = self.lock_path(key);
        // Never deleted: removing a lock file another process has open would
        // let two holders lock two different files.
        std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|source| GitError::Io { path, source })
    }

    /// Waits for exclusive use of the mirror for `key` (blocking), then removes
    /// quarantines a killed receive left in it: while we hold the lock no other
    /// receive is running, so any quarantine there is stale.
    pub(crate) fn lock(&self, key: &Oid) -> Result<MirrorLock> {
        let file = self.lock_file(key)?;
        file.lock().map_err(|source| GitError::Io {
            path: self.lock_path(key),
            source,
        })?;
        remove_quarantines(&self.path_for(key));
        Ok(MirrorLock { _file: file })
    }

    /// Removes stale quarantines from every mirror no receive is using now.
    /// A mirror whose lock is held is skipped: its quarantine is live, and the
    /// next receive into it sweeps it when it takes the lock.
    fn sweep(&self) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(key) = name
                .to_str()
                .and_then(|n| n.strip_suffix(".git"))
                .and_then(Oid::parse)
            else {
                continue;
            };
            let Ok(file) = self.lock_file(&key) else {
                continue;
            };
            if file.try_lock().is_ok() {
                remove_quarantines(&entry.path());
            }
        }
    }
}

/// Deletes every `objects/roam-incoming-*` of the mirror at `path`; the caller
/// holds its lock.
fn remove_quarantines(path: &Path) {
    let objects = path.join("objects");
    let Ok(entries) = std::fs::read_dir(&objects) else {
        return;
    };
    for entry in entries.flatten() {
        if !entry
            .file_name()
            .to_string_lossy()
            .starts_with(QUARANTINE_PREFIX)
        {
            continue;
        }
        let stale = entry.path();
        match std::fs::remove_dir_all(&stale) {
            Ok(()) => {
                tracing::info!(path = %stale.display(), "removed a quarantine left by an interrupted receive")
            }
            Err(e) => {
                tracing::warn!(path = %stale.display(), error = %e, "could not remove a stale quarantine")
            }
        }
    }
}

impl Mirror {
    /// The bare repository's directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The identity key (first-parent root commit) this mirror holds.
    pub fn key(&self) -> &Oid {
        &self.key
    }
}
