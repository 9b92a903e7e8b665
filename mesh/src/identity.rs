//! A node's ed25519 identity: its libp2p keypair, kept in the data dir with
//! mode 0600. The PeerId derived from it is how the roster names the node.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use libp2p::identity::Keypair;

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("cannot read identity {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("identity {path} is corrupt: {message}")]
    Corrupt { path: String, message: String },
    #[error("cannot write identity {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("identity {path} is readable by others (mode {mode:o}); run `chmod 600 {path}`")]
    Exposed { path: String, mode: u32 },
}

/// Loads the keypair at `path`, or makes and saves a new one.
pub fn load_or_create(path: &Path) -> Result<Keypair, IdentityError> {
    let shown = path.display().to_string();
    match std::fs::read(path) {
        Ok(bytes) => {
            let mode = std::fs::metadata(path)
                .map(|m| m.permissions().mode() & 0o777)
                .unwrap_or(0);
            if mode & 0o077 != 0 {
                return Err(IdentityError::Exposed { path: shown, mode });
            }
            Keypair::from_protobuf_encoding(&bytes).map_err(|e| IdentityError::Corrupt {
                path: shown,
                message: e.to_string(),
            })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let keypair = Keypair::generate_ed25519();
            let bytes = keypair
                .to_protobuf_encoding()
                .map_err(|e| IdentityError::Corrupt {
                    path: shown.clone(),
                    message: e.to_string(),
                })?;
            // Written beside, then renamed: a crash never leaves half a key.
            let tmp = path.with_extension("tmp");
            let write = || -> std::io::Result<()> {
                let mut f = std::fs::OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .mode(0o600)
                    .open(&tmp)?;
                f.write_all(&bytes)?;
                f.sync_all()?;
                std::fs::rename(&tmp, path)
            };
            write().map_err(|source| IdentityError::Write {
                path: shown,
                source,
            })?;
            Ok(keypair)
        }
        Err(source) => Err(IdentityError::Read {
            path: shown,
            source,
        }),
    }
}
