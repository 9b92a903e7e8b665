//! Every way reaching an SSH host can fail, worded for the user.

use std::path::PathBuf;

/// Why an SSH host could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SshError {
    /// `~/.ssh/config` (or the file given instead) could not be read or parsed.
    #[error("cannot read ssh config {path}: {reason}")]
    Config { path: PathBuf, reason: String },

    /// A value in the config (a `%` token, a port, a ProxyJump) makes no sense.
    #[error("bad ssh config for host {host}: {reason}")]
    BadConfig { host: String, reason: String },

    /// The host's key is not in any known_hosts file and new keys were not accepted.
    #[error(
        "the authenticity of host {host} can't be established: its {algorithm} key fingerprint is \
         {fingerprint}; if that is the host's key, add it again with --accept-new"
    )]
    UnknownHostKey {
        host: String,
        algorithm: String,
        fingerprint: String,
    },

    /// The host offered a key different from the one recorded for it: another
    /// key of the same type, or a key of a type that nothing records for the
    /// host while a key of another type is (never learnt, even with
    /// accept-new: a man in the middle could otherwise switch key type).
    #[error(
        "WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED for {host}! someone could be \
         eavesdropping on you right now (man-in-the-middle attack), or the host key has just \
         been changed: the host now offers {algorithm} key {fingerprint}, which differs from the \
         {recorded_algorithm} key recorded in {file}:{line}{other_type}; refusing to connect \
         (remove that line only if you know why the key changed)",
        file = file.display(),
        other_type = if algorithm.as_str() == &**recorded_algorithm {
            String::new()
        } else {
            format!(", and no {algorithm} key is recorded for it")
        }
    )]
    HostKeyChanged {
        host: String,
        /// The offered key's algorithm.
        algorithm: String,
        /// The offered key's fingerprint.
        fingerprint: String,
        file: PathBuf,
        line: usize,
        /// The algorithm of the key recorded at `file:line` (boxed to keep
        /// `SshError` small).
        recorded_algorithm: Box<str>,
    },

    /// The host offered a key that a known_hosts file marks `@revoked`.
    #[error(
        "the host key {fingerprint} of {host} is marked as revoked in {file}:{line}; refusing \
         to connect", file = file.display()
    )]
    HostKeyRevoked {
        host: String,
        fingerprint: String,
        file: PathBuf,
        line: usize,
    },

    /// A known_hosts file could not be read or written.
    #[error("cannot {action} known_hosts file {path}: {source}", path = path.display())]
    KnownHosts {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },

    /// The host could not be reached at all (refused, timed out, name not found).
    #[error("cannot reach ssh host {host}: {source}")]
    Unreachable {
        host: String,
        #[source]
        source: std::io::Error,
    },

    /// The TCP connection opened but the SSH handshake did not complete.
    #[error("ssh handshake with {host} failed: {reason}")]
    Handshake { host: String, reason: String },

    /// The jump host of a ProxyJump could not be used.
    #[error("cannot reach {host} through jump host {jump}: {source}")]
    ProxyJump {
        host: String,
        jump: String,
        #[source]
        source: Box<SshError>,
    },

    /// The server accepted none of the keys offered.
    #[error(
        "permission denied for {user}@{host}: the server accepted none of the keys tried ({tried})",
        tried = if tried.is_empty() { "no keys found: none in ssh-agent and no identity files".to_owned() } else { tried.join(", ") }
    )]
    AuthFailed {
        user: String,
        host: String,
        tried: Vec<String>,
    },

    /// Authentication failed and a key that might have worked needs a passphrase.
    #[error(
        "permission denied for {user}@{host}: identity file {path} is passphrase-protected and \
         roam does not ask for passphrases; add it to ssh-agent (`ssh-add {path}`) and try again",
        path = path.display()
    )]
    PassphraseNeeded {
        user: String,
        host: String,
        path: PathBuf,
    },

    /// An identity file exists but could not be read or parsed.
    #[error("cannot use identity file {path}: {reason}", path = path.display())]
    IdentityFile { path: PathBuf, reason: String },

    /// The connection went away under a command or channel. `retryable`:
    /// nothing had started on the host yet, so a new connection may redo it.
    #[error("connection to {host} was lost while {during}")]
    ConnectionLost {
        host: String,
        during: String,
        retryable: bool,
    },

    /// The server refused to open a channel or run a request on it.
    #[error("ssh host {host} refused to {what}: {reason}")]
    ChannelRefused {
        host: String,
        what: String,
        reason: String,
    },

    /// A command produced more output than the caller allowed.
    #[error(
        "command `{command}` on {host} printed more than {limit} bytes on {stream}; output \
         beyond the limit is not kept"
    )]
    OutputTooLarge {
        host: String,
        command: String,
        stream: &'static str,
        limit: usize,
    },

    /// A command ran but exited with a failure.
    #[error("command `{command}` on {host} failed ({status}){stderr}", stderr = if stderr.is_empty() { String::new() } else { format!(": {stderr}") })]
    CommandFailed {
        host: String,
        command: String,
        status: String,
        stderr: String,
    },

    /// Opening a connection took too long.
    #[error("timed out after {seconds}s connecting to ssh host {host}")]
    Timeout { host: String, seconds: u64 },
}

impl SshError {
    /// The connection was gone before anything started on the host, so the
    /// same work can safely be tried again on a new connection.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            SshError::ConnectionLost {
                retryable: true,
                ..
            }
        )
    }
}
