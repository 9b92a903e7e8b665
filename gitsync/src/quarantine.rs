//! A receive's private object directory inside the mirror: objects land here
//! and become part of the mirror only once verified.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::GitError;
use crate::mirror::QUARANTINE_PREFIX;
use crate::transfer::TransferError;

/// Deleted on drop; one a killed receive left is swept by the next holder of
/// the mirror's lock (`Mirrors::lock`) or by `Mirrors::open`.
pub(crate) struct Quarantine {
    path: PathBuf,
}

impl Quarantine {
    pub(crate) fn new(mirror: &Path) -> Result<Quarantine, TransferError> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let path = mirror.join("objects").join(format!(
            "{QUARANTINE_PREFIX}{}-{nanos}-{n}",
            std::process::id()
        ));
        std::fs::create_dir_all(path.join("pack")).map_err(|source| GitError::Io {
            path: path.clone(),
            source,
        })?;
        Ok(Quarantine { path })
    }

    /// Makes git write new objects here and read existing ones from the mirror.
    pub(crate) fn env(&self, cmd: &mut tokio::process::Command, mirror: &Path) {
        self.env_alone(cmd);
        cmd.env("GIT_ALTERNATE_OBJECT_DIRECTORIES", mirror.join("objects"));
    }

    /// Makes git see only the objects received here, not the mirror's.
    pub(crate) fn env_alone(&self, cmd: &mut tokio::process::Command) {
        cmd.env("GIT_OBJECT_DIRECTORY", &self.path)
            // git itself refuses ref updates while this is set.
            .env("GIT_QUARANTINE_PATH", &self.path);
    }

    /// Moves the verified packs into the mirror, each index last: git only
    /// sees a pack once its `.idx` exists, so a crash here leaves at most
    /// an unreferenced `.pack`.
    pub(crate) fn migrate(&self, mirror: &Path) -> Result<(), TransferError> {
        let from = self.path.join("pack");
        let to = mirror.join("objects").join("pack");
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| TransferError::Git(GitError::Io { path, source })
        };
        let mut names: Vec<_> = std::fs::read_dir(&from)
            .map_err(io(&from))?
            .filter_map(|e| e.ok().map(|e| e.file_name()))
            .collect();
        names.sort_by_key(|n| n.to_string_lossy().ends_with(".idx"));
        std::fs::create_dir_all(&to).map_err(io(&to))?;
        for name in names {
            std::fs::rename(from.join(&name), to.join(&name)).map_err(io(&to))?;
        }
        Ok(())
    }
}

impl Drop for Quarantine {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}
