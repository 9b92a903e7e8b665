//! Where a node keeps things. One data dir per node (`ROAM_HOME`, else
//! `$XDG_DATA_HOME/roam`, else `~/.local/share/roam`), so several nodes can
//! run on one machine.

use std::path::{Path, PathBuf};

#[derive(Clone, Debug)]
pub struct Paths {
    pub home: PathBuf,
}

impl Paths {
    pub fn from_env() -> Paths {
        let home = if let Some(h) = std::env::var_os("ROAM_HOME").filter(|h| !h.is_empty()) {
            PathBuf::from(h)
        } else if let Some(x) = std::env::var_os("XDG_DATA_HOME").filter(|h| !h.is_empty()) {
            PathBuf::from(x).join("roam")
        } else {
            let user_home = std::env::var_os("HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| "/tmp".into());
            user_home.join(".local/share/roam")
        };
        Paths { home }
    }

    pub fn new(home: &Path) -> Paths {
        Paths {
            home: home.to_path_buf(),
        }
    }

    pub fn socket(&self) -> PathBuf {
        self.home.join("roam.sock")
    }
    pub fn identity(&self) -> PathBuf {
        self.home.join("identity.key")
    }
    pub fn config(&self) -> PathBuf {
        self.home.join("config.toml")
    }
    pub fn store(&self) -> PathBuf {
        self.home.join("store")
    }
    pub fn logs(&self) -> PathBuf {
        self.home.join("logs")
    }
    pub fn pid_file(&self) -> PathBuf {
        self.home.join("node.pid")
    }
    pub fn worktrees(&self) -> PathBuf {
        self.home.join("worktrees")
    }
    /// Marks of running agents, so a node restarted after a crash can end
    /// what its previous run left (`roam_actors::leftover`).
    pub fn run(&self) -> PathBuf {
        self.home.join("run")
    }

    pub fn scrollback(&self) -> PathBuf {
        self.home.join("scrollback")
    }
}
