//! The data dir: made private, checked to be the user's own, before
//! anything is written in it. It holds the identity key, the control
//! socket, the store, the scrollback (all an agent printed) and
//! `config.toml`, which names the commands agents run — so a data dir that
//! someone else owns or may write is refused, not used.

use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::Path;

use crate::paths::Paths;

#[derive(Debug, thiserror::Error)]
pub enum DataDirError {
    #[error("data dir {path} is not writable: {reason}")]
    NotWritable { path: String, reason: String },
    #[error(
        "data dir {path} belongs to uid {owner}, not to you (uid {me}); use a ROAM_HOME of your own"
    )]
    NotYours { path: String, owner: u32, me: u32 },
    #[error(
        "data dir {path} may be written by other users (mode {mode:o}); run `chmod 700 {path}` if it is yours"
    )]
    OpenToOthers { path: String, mode: u32 },
}

/// Makes the data dir (mode 0700) and its folders, or checks the one there:
/// owned by this user and writable by nobody else. One readable by others
/// (made by an older release) is closed to them.
pub fn prepare(paths: &Paths) -> Result<(), DataDirError> {
    let home = &paths.home;
    let not_writable = |path: &Path, e: std::io::Error| DataDirError::NotWritable {
        path: path.display().to_string(),
        reason: e.to_string(),
    };
    if !home.exists() {
        if let Some(parent) = home.parent() {
            std::fs::create_dir_all(parent).map_err(|e| not_writable(home, e))?;
        }
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(home)
            .or_else(|e| match e.kind() {
                // Made meanwhile (another `roam` starting): checked below.
                std::io::ErrorKind::AlreadyExists => Ok(()),
                _ => Err(e),
            })
            .map_err(|e| not_writable(home, e))?;
    }
    let meta = std::fs::metadata(home).map_err(|e| not_writable(home, e))?;
    let me = nix::unistd::geteuid().as_raw();
    if meta.uid() != me {
        return Err(DataDirError::NotYours {
            path: home.display().to_string(),
            owner: meta.uid(),
            me,
        });
    }
    let mode = meta.mode() & 0o777;
    if mode & 0o022 != 0 {
        return Err(DataDirError::OpenToOthers {
            path: home.display().to_string(),
            mode,
        });
    }
    if mode & 0o077 != 0 {
        std::fs::set_permissions(home, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| not_writable(home, e))?;
        tracing::info!(path = %home.display(), old = format!("{mode:o}"), "data dir closed to other users");
    }
    for dir in [
        paths.logs(),
        paths.worktrees(),
        paths.scrollback(),
        paths.run(),
    ] {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(|e| not_writable(&dir, e))?;
        let mode = std::fs::metadata(&dir)
            .map_err(|e| not_writable(&dir, e))?
            .mode();
        if mode & 0o077 != 0 {
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
                .map_err(|e| not_writable(&dir, e))?;
        }
    }
    let probe = home.join(".write-test");
    std::fs::write(&probe, b"ok").map_err(|e| not_writable(home, e))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}
