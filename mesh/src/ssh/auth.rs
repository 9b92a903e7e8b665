//! User authentication the way `ssh` does it: agent keys first, then
//! identity files that need no passphrase. Roam never prompts: a key file
//! with a passphrase has to be in the agent.

use std::path::PathBuf;
use std::sync::Arc;

use russh::client::Handle;
use russh::keys::agent::AgentIdentity;
use russh::keys::agent::client::AgentClient;
use russh::keys::{HashAlg, PrivateKeyWithHashAlg, PublicKey};

use super::config::HostSpec;
use super::conn::Client;
use super::error::SshError;
use super::known_hosts::fingerprint;

/// Authenticates `handle` as `spec.user`, or says which keys were tried.
pub(crate) async fn authenticate(
    handle: &mut Handle<Client>,
    spec: &HostSpec,
) -> Result<(), SshError> {
    let host = spec.display();
    let lost = |e: russh::Error| SshError::Handshake {
        host: host.clone(),
        reason: format!("authentication broke off: {e}"),
    };
    let rsa_hash: Option<HashAlg> = handle
        .best_supported_rsa_hash()
        .await
        .ok()
        .flatten()
        .flatten();
    let mut tried: Vec<String> = Vec::new();
    let mut offered: Vec<PublicKey> = Vec::new();

    // Public halves of the identity files, to honour IdentitiesOnly and to
    // skip files whose key the agent already offered.
    let file_keys: Vec<(PathBuf, Option<PublicKey>)> = spec
        .identity_files
        .iter()
        .filter(|p| p.exists())
        .map(|p| {
            let mut pub_path = p.clone().into_os_string();
            pub_path.push(".pub");
            (
                p.clone(),
                russh::keys::load_public_key(PathBuf::from(pub_path)).ok(),
            )
        })
        .collect();

    if let Some(socket) = &spec.agent_socket {
        match AgentClient::connect_uds(socket).await {
            Ok(mut agent) => {
                let identities = agent.request_identities().await.unwrap_or_else(|e| {
                    tracing::debug!(socket = %socket.display(), error = %e, "ssh-agent listed no keys");
                    Vec::new()
                });
                for identity in identities {
                    let AgentIdentity::PublicKey { key, comment } = identity else {
                        continue;
                    };
                    if spec.identities_only
                        && !file_keys.iter().any(|(_, k)| {
                            k.as_ref().is_some_and(|k| k.key_data() == key.key_data())
                        })
                    {
                        continue;
                    }
                    tried.push(
                        format!("agent key {} {comment}", fingerprint(&key))
                            .trim_end()
                            .to_owned(),
                    );
                    offered.push(key.clone());
                    let hash = if key.algorithm().is_rsa() {
                        rsa_hash
                    } else {
                        None
                    };
                    match handle
                        .authenticate_publickey_with(spec.user.clone(), key, hash, &mut agent)
                        .await
                    {
                        Ok(r) if r.success() => return Ok(()),
                        Ok(_) => {}
                        Err(russh::AgentAuthError::Send(_)) => {
                            return Err(SshError::Handshake {
                                host,
                                reason: "the connection closed during authentication".to_owned(),
                            });
                        }
                        Err(e) => {
                            tracing::debug!(error = %e, "ssh-agent could not sign");
                        }
                    }
                }
            }
            Err(e) => {
                tracing::debug!(socket = %socket.display(), error = %e, "no ssh-agent");
            }
        }
    }

    let mut locked: Option<PathBuf> = None;
    for (path, public) in &file_keys {
        if public
            .as_ref()
            .is_some_and(|p| offered.iter().any(|o| o.key_data() == p.key_data()))
        {
            continue;
        }
        let key = match russh::keys::load_secret_key(path, None) {
            Ok(k) => k,
            Err(russh::keys::Error::KeyIsEncrypted) => {
                locked.get_or_insert_with(|| path.clone());
                continue;
            }
            Err(e) => {
                // ssh, too, skips an identity file it cannot read.
                tracing::warn!(path = %path.display(), error = %e, "skipping unreadable identity file");
                continue;
            }
        };
        tried.push(path.display().to_string());
        let hash = if key.algorithm().is_rsa() {
            rsa_hash
        } else {
            None
        };
        let result = handle
            .authenticate_publickey(
                spec.user.clone(),
                PrivateKeyWithHashAlg::new(Arc::new(key), hash),
            )
            .await
            .map_err(lost)?;
        if result.success() {
            return Ok(());
        }
    }

    match locked {
        Some(path) => Err(SshError::PassphraseNeeded {
            user: spec.user.clone(),
            host: spec.hostname.clone(),
            path,
        }),
        None => Err(SshError::AuthFailed {
            user: spec.user.clone(),
            host: spec.hostname.clone(),
            tried,
        }),
    }
}
