//! `config.toml` in the data dir. Every field has a default, so a node
//! needs no config file at all.

use std::collections::BTreeMap;
use std::path::Path;

use roam_actors::profile::Profile;
use serde::Deserialize;

mod profiles;
pub use profiles::{ProfileConfig, ProfileError};

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub node: NodeConfig,
    pub terminal: TerminalConfig,
    pub mesh: MeshConfig,
    /// User profiles; a name that matches a built-in replaces it, and one
    /// may extend a built-in.
    pub profiles: BTreeMap<String, ProfileConfig>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NodeConfig {
    /// Defaults to the host name.
    pub name: Option<String>,
    /// Profile used by `roam new` without `--agent`.
    pub default_agent: String,
    /// Log files kept (one a day).
    pub log_files: usize,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TerminalConfig {
    pub scrollback_bytes: usize,
    /// Leaves `roam attach`: `ctrl-]` (default) or `ctrl-<letter>`.
    pub detach_key: String,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MeshConfig {
    /// Multiaddrs to listen on; QUIC first, TCP as fallback.
    pub listen: Vec<String>,
    /// Find paired nodes on the LAN (hints only: the roster decides).
    pub mdns: bool,
    /// How long a pairing code stays valid.
    pub pairing_window_secs: u64,
}

/// The port a node listens on when nothing is configured.
pub const DEFAULT_PORT: u16 = 4799;

impl Default for MeshConfig {
    fn default() -> Self {
        MeshConfig {
            listen: vec![
                format!("/ip4/0.0.0.0/udp/{DEFAULT_PORT}/quic-v1"),
                format!("/ip4/0.0.0.0/tcp/{DEFAULT_PORT}"),
            ],
            mdns: true,
            pairing_window_secs: 300,
        }
    }
}

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig {
            name: None,
            default_agent: "shell".into(),
            log_files: 7,
        }
    }
}

impl Default for TerminalConfig {
    fn default() -> Self {
        TerminalConfig {
            scrollback_bytes: 10 * 1024 * 1024,
            detach_key: "ctrl-]".into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("invalid config {path}: {message}")]
    Parse { path: String, message: String },
    #[error("invalid config: {0}")]
    Profile(#[from] ProfileError),
}

impl Config {
    /// Reads the file if there is one; no file means all defaults.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Config::default()),
            Err(source) => {
                return Err(ConfigError::Read {
                    path: path.display().to_string(),
                    source,
                });
            }
        };
        let config: Config = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.display().to_string(),
            message: e.message().to_string(),
        })?;
        // A bad profile is found when the node starts, not when an agent does.
        config.profiles()?;
        Ok(config)
    }

    /// Built-ins overlaid with the user's profiles (each resolved against
    /// the built-ins, never against another user profile).
    pub fn profiles(&self) -> Result<BTreeMap<String, Profile>, ProfileError> {
        let builtins = Profile::builtins();
        let mut all = builtins.clone();
        for (name, p) in &self.profiles {
            all.insert(name.clone(), p.resolve(name, &builtins)?);
        }
        Ok(all)
    }

    /// The byte that detaches: `ctrl-]` is 0x1d, `ctrl-a` is 0x01.
    pub fn detach_byte(&self) -> Option<u8> {
        parse_ctrl_key(&self.terminal.detach_key)
    }
}

pub fn parse_ctrl_key(key: &str) -> Option<u8> {
    let rest = key
        .strip_prefix("ctrl-")
        .or_else(|| key.strip_prefix("C-"))?;
    let mut chars = rest.chars();
    let c = chars.next()?;
    if chars.next().is_some() {
        return None;
    }
    match c.to_ascii_lowercase() {
        c @ 'a'..='z' => Some(c as u8 - b'a' + 1),
        '[' => Some(0x1b),
        '\\' => Some(0x1c),
        ']' => Some(0x1d),
        '^' => Some(0x1e),
        '_' => Some(0x1f),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn empty_config_is_all_defaults_and_profiles_parse() {
        let c: Config = toml::from_str("").unwrap();
        assert_eq!(c.terminal.scrollback_bytes, 10 * 1024 * 1024);
        let c: Config = toml::from_str(
            "[profiles.test]\ncommand = [\"agent\"]\nresume = [\"agent\", \"--resume\", \"{session}\"]\n",
        )
        .unwrap();
        let profiles = c.profiles().unwrap();
        assert!(profiles.contains_key("test"));
        assert!(profiles.contains_key("claude"));
    }

    #[test]
    fn detach_keys() {
        assert_eq!(parse_ctrl_key("ctrl-]"), Some(0x1d));
        assert_eq!(parse_ctrl_key("ctrl-a"), Some(1));
        assert_eq!(parse_ctrl_key("alt-x"), None);
    }
}
