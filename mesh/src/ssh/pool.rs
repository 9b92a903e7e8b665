//! One connection per host, shared by every workspace and command on it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::config::{HostSpec, ResolvedConfig, SshSettings, StrictHostKeyChecking};
use super::conn::{Connection, ExecOutput};
use super::error::SshError;

type Slot = Arc<tokio::sync::Mutex<Option<Arc<Connection>>>>;

/// The SSH connections of this process, one per host alias.
///
/// [`get`](SshPool::get) hands out the live connection or dials one; a
/// connection found dead (closed by the server, lost network, failed
/// keepalives) is dialled again on that use, once. Concurrent gets for one
/// alias wait for the same dial. The config file is read at each dial, so
/// edits to `~/.ssh/config` apply to the next connection.
#[derive(Debug)]
pub struct SshPool {
    settings: SshSettings,
    slots: Mutex<HashMap<String, Slot>>,
    dials: AtomicU64,
}

impl SshPool {
    pub fn new(settings: SshSettings) -> SshPool {
        SshPool {
            settings,
            slots: Mutex::new(HashMap::new()),
            dials: AtomicU64::new(0),
        }
    }

    pub fn settings(&self) -> &SshSettings {
        &self.settings
    }

    /// How `alias` resolves through the config, without connecting.
    pub fn resolve(&self, alias: &str) -> Result<HostSpec, SshError> {
        ResolvedConfig::load(&self.settings)?.resolve(alias)
    }

    /// How many connections this pool has dialled successfully.
    pub fn dials(&self) -> u64 {
        self.dials.load(Ordering::Relaxed)
    }

    /// The connection to `alias`, dialled if there is no live one.
    pub async fn get(&self, alias: &str) -> Result<Arc<Connection>, SshError> {
        self.get_with(alias, None).await
    }

    /// Like [`get`](Self::get); a dial, if one is needed, uses `policy` for
    /// an unknown host key instead of the config's (`--accept-new`).
    pub async fn get_with(
        &self,
        alias: &str,
        policy: Option<StrictHostKeyChecking>,
    ) -> Result<Arc<Connection>, SshError> {
        let slot = self.slot(alias);
        let mut held = slot.lock().await;
        if let Some(conn) = held.as_ref() {
            if !conn.is_closed() {
                return Ok(conn.clone());
            }
            tracing::info!(host = alias, "ssh connection lost; reconnecting");
        }
        *held = None;
        let config = ResolvedConfig::load(&self.settings)?;
        let spec = config.resolve(alias)?;
        let conn = Arc::new(Connection::connect(&config, spec, policy).await?);
        self.dials.fetch_add(1, Ordering::Relaxed);
        *held = Some(conn.clone());
        Ok(conn)
    }

    /// Runs `command` on `alias`. If the pooled connection turns out to be
    /// dead before the command started, one new connection is dialled and
    /// the command run there; a connection lost mid-command is an error
    /// (the command may have had effects).
    pub async fn exec(&self, alias: &str, command: &str) -> Result<ExecOutput, SshError> {
        let conn = self.get(alias).await?;
        match conn.exec(command).await {
            Err(e) if e.is_retryable() => {
                self.forget(alias, &conn).await;
                self.get(alias).await?.exec(command).await
            }
            r => r,
        }
    }

    /// Drops `conn` from the pool if it is still the one there.
    pub async fn forget(&self, alias: &str, conn: &Arc<Connection>) {
        let slot = self.slot(alias);
        let mut held = slot.lock().await;
        if held.as_ref().is_some_and(|c| Arc::ptr_eq(c, conn)) {
            *held = None;
        }
    }

    /// Whether a live pooled connection to `alias` exists (no dialling).
    pub async fn is_connected(&self, alias: &str) -> bool {
        let slot = self.slot(alias);
        let held = slot.lock().await;
        held.as_ref().is_some_and(|c| !c.is_closed())
    }

    /// Closes and forgets the connection to `alias`, if any.
    pub async fn disconnect(&self, alias: &str) {
        let slot = self.slot(alias);
        let conn = slot.lock().await.take();
        if let Some(conn) = conn {
            conn.disconnect().await;
        }
    }

    fn slot(&self, alias: &str) -> Slot {
        let mut slots = match self.slots.lock() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        slots.entry(alias.to_owned()).or_default().clone()
    }
}
