//! Throwaway index files, so capture and restore can stage whole trees
//! without ever writing the user's index (even `write-tree` rewrites it).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::GitError;

/// A uniquely named temporary index file, deleted (with any stale lock) on drop.
pub(crate) struct TempIndex {
    pub(crate) path: PathBuf,
}

impl TempIndex {
    /// A copy of the index at `index`, in `dir`. No index yet (nothing ever
    /// staged) gives an empty one: a missing GIT_INDEX_FILE is an empty index.
    pub(crate) fn copy_of(dir: &Path, index: &Path) -> crate::Result<TempIndex> {
        let temp = TempIndex::new(dir);
        match std::fs::copy(index, &temp.path) {
            Ok(_) => Ok(temp),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(temp),
            Err(source) => Err(GitError::Io {
                path: index.to_path_buf(),
                source,
            }),
        }
    }

    /// A fresh name in `dir` (kept next to the real index, so anything git
    /// resolves relative to the git dir, e.g. split-index files, still works);
    /// no file is created until git writes one.
    pub(crate) fn new(dir: &Path) -> TempIndex {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("roam-snapshot-index.{}.{nanos}.{n}", std::process::id());
        TempIndex {
            path: dir.join(name),
        }
    }
}

impl Drop for TempIndex {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
        let mut lock = self.path.clone().into_os_string();
        lock.push(".lock");
        let _ = std::fs::remove_file(lock);
    }
}
