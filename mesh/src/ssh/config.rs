//! Resolving a host alias the way `ssh` does, from `~/.ssh/config`.
//!
//! Parsing uses the `ssh2-config` crate (Host patterns with `*`, `?` and `!`,
//! `Include`, first value wins, `~` in IdentityFile). The keywords that crate
//! stores only as raw strings (IdentitiesOnly, UserKnownHostsFile,
//! StrictHostKeyChecking, HashKnownHosts, IdentityAgent) and the `%` tokens
//! are interpreted here.

use std::path::{Path, PathBuf};
use std::time::Duration;

use ssh2_config::{HostParams, ParseRule, SshConfig};

use super::error::SshError;

/// Where the user's SSH setup lives; tests point every path into a temp dir.
#[derive(Debug, Clone)]
pub struct SshSettings {
    /// The user's home (for `~` and `%d`).
    pub home: PathBuf,
    /// The client config file; a missing file means no config.
    pub config_file: PathBuf,
    /// The local user name (`%u`, and the remote user when the config names none).
    pub local_user: String,
    /// The ssh-agent socket (`SSH_AUTH_SOCK`), if any.
    pub agent_socket: Option<PathBuf>,
    /// known_hosts files used when the config has no UserKnownHostsFile.
    pub user_known_hosts: Vec<PathBuf>,
    /// System-wide known_hosts files (read only).
    pub global_known_hosts: Vec<PathBuf>,
    /// How long dialling (TCP + handshake + authentication) may take.
    pub connect_timeout: Duration,
    /// Keepalive interval when the config has no ServerAliveInterval.
    pub keepalive: Duration,
}

impl SshSettings {
    /// The real user's setup: `$HOME/.ssh/config`, `$HOME/.ssh/known_hosts`,
    /// `$SSH_AUTH_SOCK`, `/etc/ssh/ssh_known_hosts`.
    pub fn from_env() -> SshSettings {
        let home = std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/"));
        let local_user = std::env::var("USER")
            .or_else(|_| std::env::var("LOGNAME"))
            .unwrap_or_else(|_| "root".to_owned());
        let agent_socket = std::env::var_os("SSH_AUTH_SOCK")
            .filter(|s| !s.is_empty())
            .map(PathBuf::from);
        SshSettings::in_home(&home, local_user, agent_socket)
    }

    /// The standard layout under `home` (`.ssh/config`, `.ssh/known_hosts`,
    /// `.ssh/known_hosts2`), no global known_hosts.
    pub fn in_home(home: &Path, local_user: String, agent_socket: Option<PathBuf>) -> SshSettings {
        let ssh = home.join(".ssh");
        SshSettings {
            home: home.to_owned(),
            config_file: ssh.join("config"),
            local_user,
            agent_socket,
            user_known_hosts: vec![ssh.join("known_hosts"), ssh.join("known_hosts2")],
            global_known_hosts: vec![PathBuf::from("/etc/ssh/ssh_known_hosts")],
            connect_timeout: Duration::from_secs(15),
            keepalive: Duration::from_secs(15),
        }
    }
}

/// What to do with a host key that no known_hosts file lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StrictHostKeyChecking {
    /// Refuse (ssh's `yes`, and `ask`: roam never prompts mid-connection).
    Strict,
    /// Record it and connect (`accept-new`, `no`, or `--accept-new`).
    /// A changed key is refused either way.
    AcceptNew,
}

/// One jump host from ProxyJump, before it is resolved through the config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JumpSpec {
    pub user: Option<String>,
    pub host: String,
    pub port: Option<u16>,
}

impl JumpSpec {
    /// Parses `[user@]host[:port]` or `ssh://[user@]host[:port]`.
    pub fn parse(s: &str) -> Option<JumpSpec> {
        let s = s.strip_prefix("ssh://").unwrap_or(s);
        let (user, rest) = match s.rsplit_once('@') {
            Some((u, r)) => (Some(u.to_owned()), r),
            None => (None, s),
        };
        let (host, port) = if let Some(inner) = rest.strip_prefix('[') {
            let (h, after) = inner.split_once(']')?;
            let port = match after.strip_prefix(':') {
                Some(p) => Some(p.parse().ok()?),
                None if after.is_empty() => None,
                None => return None,
            };
            (h.to_owned(), port)
        } else {
            match rest.split_once(':') {
                Some((h, p)) => (h.to_owned(), Some(p.parse().ok()?)),
                None => (rest.to_owned(), None),
            }
        };
        if host.is_empty() {
            return None;
        }
        Some(JumpSpec { user, host, port })
    }
}

/// Everything needed to dial one host, resolved from its alias.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostSpec {
    /// What the user typed (`box`).
    pub alias: String,
    /// Where to connect (HostName, or the alias).
    pub hostname: String,
    pub user: String,
    pub port: u16,
    /// IdentityFile entries, expanded (or ssh's default key names).
    pub identity_files: Vec<PathBuf>,
    /// IdentitiesOnly: offer only agent keys matching `identity_files`.
    pub identities_only: bool,
    /// ProxyJump hops, outermost first (empty: direct).
    pub proxy_jump: Vec<JumpSpec>,
    /// Files checked for the host key; the first one is written to.
    pub known_hosts_files: Vec<PathBuf>,
    /// Read-only system files also checked.
    pub global_known_hosts_files: Vec<PathBuf>,
    pub strict: StrictHostKeyChecking,
    /// HashKnownHosts: write new entries hashed.
    pub hash_known_hosts: bool,
    /// IdentityAgent, or the settings' agent socket; `None` for no agent.
    pub agent_socket: Option<PathBuf>,
    /// ServerAliveInterval, or the settings' keepalive.
    pub keepalive: Duration,
    pub connect_timeout: Duration,
}

impl HostSpec {
    /// `user@hostname:port`, for messages.
    pub fn display(&self) -> String {
        if self.port == 22 {
            format!("{}@{}", self.user, self.hostname)
        } else {
            format!("{}@{}:{}", self.user, self.hostname, self.port)
        }
    }
}

/// Reads the config file once; resolves any number of aliases.
#[derive(Debug)]
pub struct ResolvedConfig {
    settings: SshSettings,
    config: SshConfig,
}

impl ResolvedConfig {
    /// Parses `settings.config_file` (a missing file is an empty config).
    pub fn load(settings: &SshSettings) -> Result<ResolvedConfig, SshError> {
        let path = &settings.config_file;
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => {
                return Err(SshError::Config {
                    path: path.clone(),
                    reason: e.to_string(),
                });
            }
        };
        let config = SshConfig::default()
            .home_dir(&settings.home)
            .parse(
                &mut text.as_bytes(),
                ParseRule::ALLOW_UNKNOWN_FIELDS | ParseRule::ALLOW_UNSUPPORTED_FIELDS,
            )
            .map_err(|e| SshError::Config {
                path: path.clone(),
                reason: e.to_string(),
            })?;
        Ok(ResolvedConfig {
            settings: settings.clone(),
            config,
        })
    }

    /// Resolves `alias` as `ssh alias` would.
    pub fn resolve(&self, alias: &str) -> Result<HostSpec, SshError> {
        self.resolve_with(alias, None, None)
    }

    /// Resolves a ProxyJump hop: its host is looked up like an alias, and the
    /// user and port written in the hop win over the config's.
    pub fn resolve_jump(&self, jump: &JumpSpec) -> Result<HostSpec, SshError> {
        self.resolve_with(&jump.host, jump.user.clone(), jump.port)
    }

    fn resolve_with(
        &self,
        alias: &str,
        user: Option<String>,
        port: Option<u16>,
    ) -> Result<HostSpec, SshError> {
        let bad = |reason: String| SshError::BadConfig {
            host: alias.to_owned(),
            reason,
        };
        if alias.is_empty() || alias.starts_with('-') || alias.contains(char::is_whitespace) {
            return Err(bad("not a valid host name".to_owned()));
        }
        let params = self.config.query(alias);
        let s = &self.settings;
        let port = port.or(params.port).unwrap_or(22);
        let user = user
            .or_else(|| params.user.clone())
            .unwrap_or_else(|| s.local_user.clone());
        let mut tokens = Tokens {
            alias,
            hostname: alias,
            user: &user,
            port,
            local_user: &s.local_user,
            home: &s.home,
        };
        let hostname = match &params.host_name {
            Some(h) => expand(h, &tokens).map_err(bad)?,
            None => alias.to_owned(),
        };
        tokens.hostname = &hostname;

        let expand_path = |p: &str| -> Result<PathBuf, String> {
            let p = expand(p, &tokens)?;
            Ok(tilde(&p, &s.home))
        };
        let identity_files = match &params.identity_file {
            Some(files) => files
                .iter()
                .map(|f| expand_path(&f.to_string_lossy()))
                .collect::<Result<Vec<_>, _>>()
                .map_err(bad)?,
            None => [
                "id_rsa",
                "id_ecdsa",
                "id_ecdsa_sk",
                "id_ed25519",
                "id_ed25519_sk",
            ]
            .iter()
            .map(|n| s.home.join(".ssh").join(n))
            .collect(),
        };
        let known_hosts_files = match raw(&params, "userknownhostsfile") {
            Some(args) if args.iter().any(|a| a.eq_ignore_ascii_case("none")) => Vec::new(),
            Some(args) => args
                .iter()
                .flat_map(|a| a.split_whitespace())
                .map(expand_path)
                .collect::<Result<Vec<_>, _>>()
                .map_err(bad)?,
            None => s.user_known_hosts.clone(),
        };
        let global_known_hosts_files = match raw(&params, "globalknownhostsfile") {
            Some(args) => args
                .iter()
                .flat_map(|a| a.split_whitespace())
                .filter(|a| !a.eq_ignore_ascii_case("none"))
                .map(expand_path)
                .collect::<Result<Vec<_>, _>>()
                .map_err(bad)?,
            None => s.global_known_hosts.clone(),
        };
        let strict = match first(&params, "stricthostkeychecking")
            .map(|v| v.to_ascii_lowercase())
            .as_deref()
        {
            Some("accept-new" | "no" | "off") => StrictHostKeyChecking::AcceptNew,
            _ => StrictHostKeyChecking::Strict,
        };
        let agent_socket = match first(&params, "identityagent") {
            Some(a) if a.eq_ignore_ascii_case("none") => None,
            Some(a) if a == "SSH_AUTH_SOCK" => s.agent_socket.clone(),
            Some(a) => Some(expand_path(&a).map_err(bad)?),
            None => s.agent_socket.clone(),
        };
        let proxy_jump = match &params.proxy_jump {
            Some(hops) if hops.len() == 1 && hops[0].eq_ignore_ascii_case("none") => Vec::new(),
            Some(hops) => hops
                .iter()
                .map(|h| {
                    JumpSpec::parse(h.trim()).ok_or_else(|| {
                        bad(format!("ProxyJump hop `{h}` is not [user@]host[:port]"))
                    })
                })
                .collect::<Result<Vec<_>, _>>()?,
            None => Vec::new(),
        };
        Ok(HostSpec {
            alias: alias.to_owned(),
            hostname,
            user,
            port,
            identity_files,
            identities_only: yes(first(&params, "identitiesonly")),
            proxy_jump,
            known_hosts_files,
            global_known_hosts_files,
            strict,
            hash_known_hosts: yes(first(&params, "hashknownhosts")),
            agent_socket,
            keepalive: params
                .server_alive_interval
                .filter(|d| !d.is_zero())
                .unwrap_or(s.keepalive),
            connect_timeout: params.connect_timeout.unwrap_or(s.connect_timeout),
        })
    }
}

fn raw<'a>(params: &'a HostParams, key: &str) -> Option<&'a Vec<String>> {
    params
        .unsupported_fields
        .get(key)
        .or_else(|| params.ignored_fields.get(key))
}

fn first(params: &HostParams, key: &str) -> Option<String> {
    raw(params, key).and_then(|a| a.first()).cloned()
}

fn yes(v: Option<String>) -> bool {
    v.is_some_and(|v| v.eq_ignore_ascii_case("yes") || v.eq_ignore_ascii_case("true"))
}

struct Tokens<'a> {
    alias: &'a str,
    hostname: &'a str,
    user: &'a str,
    port: u16,
    local_user: &'a str,
    home: &'a Path,
}

/// Expands ssh's `%` tokens: `%%`, `%h`, `%n`, `%p`, `%r`, `%u`, `%d`.
fn expand(s: &str, t: &Tokens<'_>) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some('h') => out.push_str(t.hostname),
            Some('n') => out.push_str(t.alias),
            Some('p') => out.push_str(&t.port.to_string()),
            Some('r') => out.push_str(t.user),
            Some('u') => out.push_str(t.local_user),
            Some('d') => out.push_str(&t.home.to_string_lossy()),
            Some(other) => return Err(format!("unsupported token %{other} in `{s}`")),
            None => return Err(format!("lone % at the end of `{s}`")),
        }
    }
    Ok(out)
}

/// `~` and `~/x` against `home`; anything else unchanged.
fn tilde(p: &str, home: &Path) -> PathBuf {
    if p == "~" {
        home.to_owned()
    } else if let Some(rest) = p.strip_prefix("~/") {
        home.join(rest)
    } else {
        PathBuf::from(p)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn settings(dir: &Path, config: &str) -> SshSettings {
        std::fs::write(dir.join("config"), config).unwrap();
        let mut s = SshSettings::in_home(dir, "me".into(), None);
        s.config_file = dir.join("config");
        s
    }

    #[test]
    fn first_match_wins_and_tokens_expand() {
        let dir = tempfile::tempdir().unwrap();
        let s = settings(
            dir.path(),
            "Host box\n  HostName %h.example.org\n  User alice\n  Port 2222\n  IdentityFile ~/.ssh/%r@%h_%p\n  IdentitiesOnly yes\n  UserKnownHostsFile ~/kh/%n\n  StrictHostKeyChecking accept-new\n  ProxyJump bob@jump:2200\n\
             Host b?x !other\n  User ignored\n\
             Host *\n  User fallback\n  Port 22\n",
        );
        let c = ResolvedConfig::load(&s).unwrap();
        let h = c.resolve("box").unwrap();
        assert_eq!(h.hostname, "box.example.org");
        assert_eq!(h.user, "alice");
        assert_eq!(h.port, 2222);
        assert_eq!(
            h.identity_files,
            vec![dir.path().join(".ssh/alice@box.example.org_2222")]
        );
        assert!(h.identities_only);
        assert_eq!(h.known_hosts_files, vec![dir.path().join("kh/box")]);
        assert_eq!(h.strict, StrictHostKeyChecking::AcceptNew);
        assert_eq!(
            h.proxy_jump,
            vec![JumpSpec {
                user: Some("bob".into()),
                host: "jump".into(),
                port: Some(2200)
            }]
        );
        let other = c.resolve("bax").unwrap();
        assert_eq!(other.user, "ignored");
        assert_eq!(other.hostname, "bax");
        assert_eq!(other.strict, StrictHostKeyChecking::Strict);
        let plain = c.resolve("elsewhere").unwrap();
        assert_eq!(plain.user, "fallback");
        assert_eq!(plain.port, 22);
        assert_eq!(plain.identity_files.len(), 5);
        assert!(c.resolve("-oProxyCommand=x").is_err());
    }

    #[test]
    fn jump_specs_parse() {
        assert_eq!(
            JumpSpec::parse("ssh://u@[::1]:22"),
            Some(JumpSpec {
                user: Some("u".into()),
                host: "::1".into(),
                port: Some(22)
            })
        );
        assert_eq!(JumpSpec::parse("h:x"), None);
        assert_eq!(JumpSpec::parse(""), None);
    }
}
