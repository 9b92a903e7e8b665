//! One authenticated SSH connection, multiplexing any number of channels.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use russh::client::{Handle, Handler, Msg};
use russh::keys::{PublicKey, PublicKeyOrCertificate};
use russh::{Channel, ChannelMsg, Pty};

use super::auth::authenticate;
use super::config::{HostSpec, ResolvedConfig, StrictHostKeyChecking};
use super::error::SshError;
use super::known_hosts::{self, HostKeyStatus, fingerprint};
use super::stream::{ExitStatus, SshStream};

/// Default bound on what [`Connection::exec`] keeps of stdout and of stderr.
pub const DEFAULT_OUTPUT_LIMIT: usize = 16 * 1024 * 1024;

/// ProxyJump chains longer than this are refused (and loops stop here).
const MAX_JUMPS: usize = 8;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// What a finished command printed and how it ended.
#[derive(Debug, Clone)]
pub struct ExecOutput {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub status: ExitStatus,
}

impl ExecOutput {
    /// stdout as text (lossy).
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
}

/// A terminal's size in character cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PtySize {
    pub cols: u16,
    pub rows: u16,
}

/// russh's callbacks for one connection: host key checking.
pub(crate) struct Client {
    host: String,
    port: u16,
    spec: Arc<HostSpec>,
    policy: StrictHostKeyChecking,
    /// Why the host key was refused, read after the handshake fails.
    verdict: Arc<Mutex<Option<SshError>>>,
}

/// The user's known_hosts files, then the global ones.
fn known_hosts_files(spec: &HostSpec) -> Vec<PathBuf> {
    let mut files = spec.known_hosts_files.clone();
    files.extend(spec.global_known_hosts_files.iter().cloned());
    files
}

impl Client {
    fn judge(&self, key: &PublicKey) -> Result<(), SshError> {
        let files = known_hosts_files(&self.spec);
        let status = known_hosts::check(&files, &self.host, self.port, key)?;
        let host = known_hosts::host_entry_name(&self.host, self.port);
        match status {
            HostKeyStatus::Known => Ok(()),
            HostKeyStatus::Unknown => match (self.policy, self.spec.known_hosts_files.first()) {
                (StrictHostKeyChecking::AcceptNew, Some(file)) => {
                    known_hosts::learn(
                        file,
                        &self.host,
                        self.port,
                        key,
                        self.spec.hash_known_hosts,
                    )?;
                    tracing::info!(%host, fingerprint = %fingerprint(key), file = %file.display(), "recorded new host key");
                    Ok(())
                }
                _ => Err(SshError::UnknownHostKey {
                    host,
                    algorithm: key.algorithm().to_string(),
                    fingerprint: fingerprint(key),
                }),
            },
            HostKeyStatus::Changed {
                file,
                line,
                recorded_algorithm,
            } => Err(SshError::HostKeyChanged {
                host,
                algorithm: key.algorithm().to_string(),
                fingerprint: fingerprint(key),
                file,
                line,
                recorded_algorithm: recorded_algorithm.into_boxed_str(),
            }),
            HostKeyStatus::Revoked { file, line } => Err(SshError::HostKeyRevoked {
                host,
                fingerprint: fingerprint(key),
                file,
                line,
            }),
        }
    }
}

impl Handler for Client {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        server_public_key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let key = match server_public_key {
            PublicKeyOrCertificate::PublicKey { key, .. } => key.clone(),
            // Host certificates are checked as their plain key (no
            // @cert-authority support yet).
            PublicKeyOrCertificate::Certificate(cert) => {
                PublicKey::new(cert.public_key().clone(), "")
            }
        };
        match self.judge(&key) {
            Ok(()) => Ok(true),
            Err(e) => {
                *self
                    .verdict
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(e);
                Ok(false)
            }
        }
    }
}

/// One live connection to a host (possibly through jump hosts).
pub struct Connection {
    spec: HostSpec,
    handle: Handle<Client>,
    /// Kept alive for as long as this connection tunnels through it.
    jump: Option<Arc<Connection>>,
    id: u64,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("host", &self.spec.display())
            .field("id", &self.id)
            .finish()
    }
}

impl Connection {
    /// Dials, checks the host key, authenticates; all within the host's
    /// connect timeout. `policy` overrides the config's StrictHostKeyChecking.
    pub async fn connect(
        config: &ResolvedConfig,
        spec: HostSpec,
        policy: Option<StrictHostKeyChecking>,
    ) -> Result<Connection, SshError> {
        Self::connect_depth(config, spec, policy, 0).await
    }

    async fn connect_depth(
        config: &ResolvedConfig,
        spec: HostSpec,
        policy: Option<StrictHostKeyChecking>,
        depth: usize,
    ) -> Result<Connection, SshError> {
        let timeout = spec.connect_timeout;
        let host = spec.display();
        match tokio::time::timeout(timeout, Self::dial(config, spec, policy, depth)).await {
            Ok(r) => r,
            Err(_) => Err(SshError::Timeout {
                host,
                seconds: timeout.as_secs(),
            }),
        }
    }

    async fn dial(
        config: &ResolvedConfig,
        spec: HostSpec,
        policy: Option<StrictHostKeyChecking>,
        depth: usize,
    ) -> Result<Connection, SshError> {
        let verdict = Arc::new(Mutex::new(None));
        let spec_arc = Arc::new(spec.clone());
        let client = Client {
            host: spec.hostname.clone(),
            port: spec.port,
            spec: spec_arc,
            policy: policy.unwrap_or(spec.strict),
            verdict: verdict.clone(),
        };
        // Ask first for the key types known_hosts records for this host, as
        // OpenSSH does: a host with several keys must show the known one, a
        // key of another type being refused as changed.
        let recorded =
            known_hosts::recorded_algorithms(&known_hosts_files(&spec), &spec.hostname, spec.port)?;
        let preferred = russh::Preferred::default();
        let ssh_config = Arc::new(russh::client::Config {
            keepalive_interval: Some(spec.keepalive),
            keepalive_max: 3,
            nodelay: true,
            preferred: russh::Preferred {
                key: known_hosts::prefer_recorded(&preferred.key, &recorded).into(),
                ..preferred
            },
            ..Default::default()
        });
        let host = spec.display();

        let (jump, handshake) = if let Some((last, earlier)) = spec.proxy_jump.split_last() {
            if depth >= MAX_JUMPS {
                return Err(SshError::BadConfig {
                    host: spec.alias.clone(),
                    reason: format!("ProxyJump chain longer than {MAX_JUMPS} hops (a loop?)"),
                });
            }
            let jump_name = match &last.user {
                Some(u) => format!("{u}@{}", last.host),
                None => last.host.clone(),
            };
            let via = |source: SshError| SshError::ProxyJump {
                host: host.clone(),
                jump: jump_name.clone(),
                source: Box::new(source),
            };
            let mut jump_spec = config.resolve_jump(last).map_err(via)?;
            if !earlier.is_empty() {
                jump_spec.proxy_jump = earlier.to_vec();
            }
            let jump = Box::pin(Self::connect_depth(config, jump_spec, policy, depth + 1))
                .await
                .map_err(via)?;
            let channel = jump
                .handle
                .channel_open_direct_tcpip(
                    spec.hostname.clone(),
                    u32::from(spec.port),
                    "127.0.0.1",
                    0,
                )
                .await
                .map_err(|e| {
                    via(SshError::ChannelRefused {
                        host: jump.spec.display(),
                        what: format!("forward a connection to {}:{}", spec.hostname, spec.port),
                        reason: e.to_string(),
                    })
                })?;
            let r = russh::client::connect_stream(ssh_config, channel.into_stream(), client).await;
            (Some(Arc::new(jump)), r)
        } else {
            let tcp = tokio::net::TcpStream::connect((spec.hostname.as_str(), spec.port))
                .await
                .map_err(|source| SshError::Unreachable {
                    host: format!("{}:{}", spec.hostname, spec.port),
                    source,
                })?;
            // `Config::nodelay` only applies to sockets russh opens itself.
            // Without it every small request waits out Nagle and the peer's
            // delayed ACK (~40 ms a command, measured by the ssh bench).
            let _ = tcp.set_nodelay(true);
            (
                None,
                russh::client::connect_stream(ssh_config, tcp, client).await,
            )
        };

        let mut handle = match handshake {
            Ok(h) => h,
            Err(e) => {
                let judged = verdict
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .take();
                if let Some(v) = judged {
                    return Err(v);
                }
                return Err(SshError::Handshake {
                    host,
                    reason: e.to_string(),
                });
            }
        };
        authenticate(&mut handle, &spec).await?;
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(host = %spec.display(), id, "ssh connection up");
        Ok(Connection {
            spec,
            handle,
            jump,
            id,
        })
    }

    /// The host this connection reaches.
    pub fn spec(&self) -> &HostSpec {
        &self.spec
    }

    /// A number unique to this connection in this process.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Whether the connection (or the jump host under it) is gone.
    pub fn is_closed(&self) -> bool {
        self.handle.is_closed() || self.jump.as_ref().is_some_and(|j| j.is_closed())
    }

    /// Says goodbye to the server; later uses fail.
    pub async fn disconnect(&self) {
        let _ = self
            .handle
            .disconnect(russh::Disconnect::ByApplication, "", "en")
            .await;
    }

    fn lost(&self, during: impl Into<String>, retryable: bool) -> SshError {
        SshError::ConnectionLost {
            host: self.spec.display(),
            during: during.into(),
            retryable,
        }
    }

    async fn open_session(&self) -> Result<Channel<Msg>, SshError> {
        if self.is_closed() {
            return Err(self.lost("opening a channel", true));
        }
        let open = self.handle.channel_open_session();
        match tokio::time::timeout(self.spec.connect_timeout, open).await {
            Ok(Ok(ch)) => Ok(ch),
            Ok(Err(russh::Error::ChannelOpenFailure(reason))) => Err(SshError::ChannelRefused {
                host: self.spec.display(),
                what: "open a session channel".to_owned(),
                reason: format!("{reason:?}"),
            }),
            Ok(Err(_)) | Err(_) => Err(self.lost("opening a channel", true)),
        }
    }

    /// Runs `command`, keeping at most [`DEFAULT_OUTPUT_LIMIT`] bytes of
    /// stdout and of stderr.
    pub async fn exec(&self, command: &str) -> Result<ExecOutput, SshError> {
        self.exec_limited(command, DEFAULT_OUTPUT_LIMIT).await
    }

    /// Runs `command` to the end. Output beyond `limit` bytes (on stdout or
    /// stderr) is an [`SshError::OutputTooLarge`] error, never a silent
    /// truncation; the channel is closed at that point.
    pub async fn exec_limited(&self, command: &str, limit: usize) -> Result<ExecOutput, SshError> {
        let mut ch = self.open_session().await?;
        let sent = ch.exec(true, command.as_bytes()).await;
        self.request(&mut ch, sent, format!("run `{command}`"))
            .await?;
        let mut out = ExecOutput {
            stdout: Vec::new(),
            stderr: Vec::new(),
            status: ExitStatus::Unknown,
        };
        let during = || format!("running `{command}`");
        loop {
            let Some(msg) = ch.wait().await else {
                if self.is_closed() {
                    return Err(self.lost(during(), false));
                }
                break;
            };
            match msg {
                ChannelMsg::Data { data } => {
                    if out.stdout.len() + data.len() > limit {
                        let _ = ch.close().await;
                        return Err(self.too_large(command, "stdout", limit));
                    }
                    out.stdout.extend_from_slice(&data);
                }
                ChannelMsg::ExtendedData { data, ext: 1 } => {
                    if out.stderr.len() + data.len() > limit {
                        let _ = ch.close().await;
                        return Err(self.too_large(command, "stderr", limit));
                    }
                    out.stderr.extend_from_slice(&data);
                }
                ChannelMsg::ExitStatus { exit_status } => {
                    out.status = ExitStatus::Code(exit_status);
                }
                ChannelMsg::ExitSignal { signal_name, .. } => {
                    out.status = ExitStatus::Signal(format!("{signal_name:?}"));
                }
                ChannelMsg::Close => break,
                _ => {}
            }
        }
        if out.status == ExitStatus::Unknown && self.is_closed() {
            return Err(self.lost(during(), false));
        }
        Ok(out)
    }

    /// Like [`exec`](Self::exec), but a non-zero exit is an
    /// [`SshError::CommandFailed`] carrying the end of stderr.
    pub async fn exec_checked(&self, command: &str) -> Result<ExecOutput, SshError> {
        let out = self.exec(command).await?;
        if out.status.success() {
            return Ok(out);
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stderr = stderr.trim();
        let tail: String = stderr
            .char_indices()
            .rev()
            .nth(500)
            .map_or(stderr, |(i, _)| &stderr[i..])
            .to_owned();
        Err(SshError::CommandFailed {
            host: self.spec.display(),
            command: command.to_owned(),
            status: out.status.to_string(),
            stderr: tail,
        })
    }

    fn too_large(&self, command: &str, stream: &'static str, limit: usize) -> SshError {
        SshError::OutputTooLarge {
            host: self.spec.display(),
            command: command.to_owned(),
            stream,
            limit,
        }
    }

    /// Starts `command` and hands back its stdin/stdout as a byte stream
    /// (for git and other protocols).
    pub async fn open_exec(&self, command: &str) -> Result<SshStream, SshError> {
        let mut ch = self.open_session().await?;
        let sent = ch.exec(true, command.as_bytes()).await;
        self.request(&mut ch, sent, format!("run `{command}`"))
            .await?;
        let (read, write) = ch.split();
        Ok(SshStream::new(self.spec.display(), read, write))
    }

    /// Starts `command` (or the login shell) in a remote PTY of `size`; the
    /// stream's [`resize`](SshStream::resize) follows the local terminal.
    pub async fn open_pty(
        &self,
        command: Option<&str>,
        term: &str,
        size: PtySize,
    ) -> Result<SshStream, SshError> {
        let mut ch = self.open_session().await?;
        let modes = [(Pty::ECHO, 1), (Pty::ICANON, 1), (Pty::ISIG, 1)];
        let sent = ch
            .request_pty(
                true,
                term,
                u32::from(size.cols),
                u32::from(size.rows),
                0,
                0,
                &modes,
            )
            .await;
        self.request(&mut ch, sent, "allocate a terminal".to_owned())
            .await?;
        let (sent, what) = match command {
            Some(c) => (ch.exec(true, c.as_bytes()).await, format!("run `{c}`")),
            None => (ch.request_shell(true).await, "start a shell".to_owned()),
        };
        self.request(&mut ch, sent, what).await?;
        let (read, write) = ch.split();
        Ok(SshStream::new(self.spec.display(), read, write))
    }

    /// Sends a channel request with want_reply and waits for the server's
    /// answer (OpenSSH answers before the command can print anything).
    async fn request(
        &self,
        ch: &mut Channel<Msg>,
        sent: Result<(), russh::Error>,
        what: String,
    ) -> Result<(), SshError> {
        sent.map_err(|_| self.lost(format!("asking to {what}"), true))?;
        loop {
            match ch.wait().await {
                Some(ChannelMsg::Success) => return Ok(()),
                Some(ChannelMsg::Failure) => {
                    return Err(SshError::ChannelRefused {
                        host: self.spec.display(),
                        what,
                        reason: "the server declined the request".to_owned(),
                    });
                }
                Some(ChannelMsg::Close) | None => {
                    return Err(self.lost(format!("asking to {what}"), false));
                }
                Some(_) => {}
            }
        }
    }
}
