//! The per-node mirror cache: one bare repository per repo identity, from which
//! worktrees are made, so a node fetches each object of a project at most once
//! and the second workspace of a repo costs no network.

use std::path::{Path, PathBuf};

use crate::cmd::Git;
use crate::oid::Oid;
use crate::{GitError, Result};

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

impl Mirrors {
    /// Opens (creating if needed) the mirror directory `dir`.
    pub fn open(dir: &Path) -> Result<Mirrors> {
        std::fs::create_dir_all(dir).map_err(|source| GitError::Io {
            path: dir.to_owned(),
            source,
        })?;
        Ok(Mirrors {
            dir: dir.to_owned(),
        })
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
    /// was created now, so a failed first transfer can remove it again.
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
