//! SSH hosts: the user's own servers, reached exactly as `ssh HOST` would
//! reach them (their `~/.ssh/config`, known_hosts and ssh-agent), with
//! nothing installed on the host.
//!
//! - [`config`]: an alias resolved to a [`HostSpec`] (HostName, User, Port,
//!   IdentityFile, ProxyJump, known_hosts files, StrictHostKeyChecking).
//! - [`known_hosts`]: host keys checked (known, unknown, changed, revoked)
//!   and recorded in OpenSSH's format.
//! - `auth`: ssh-agent keys first, then identity files without passphrase.
//! - [`Connection`]: one russh connection (keepalives, ProxyJump through a
//!   direct-tcpip channel): bounded `exec`, byte streams, PTYs.
//! - [`SshPool`]: one shared connection per host, redialled when found dead.
//!
//! Every path (config, known_hosts, agent socket) comes from [`SshSettings`],
//! so tests and callers never have to touch the real `~/.ssh`.

mod auth;
pub mod config;
mod conn;
mod error;
pub mod known_hosts;
mod pool;
mod stream;

pub use config::{HostSpec, JumpSpec, ResolvedConfig, SshSettings, StrictHostKeyChecking};
pub use conn::{Connection, DEFAULT_OUTPUT_LIMIT, ExecOutput, PtySize};
pub use error::SshError;
pub use known_hosts::{HostKeyStatus, fingerprint};
pub use pool::SshPool;
pub use stream::{ExitStatus, Resizer, STDERR_TAIL, SshStream, StreamExit};
