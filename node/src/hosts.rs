//! SSH hosts the user added (`roam host add box`): their records, the
//! pooled connections to them, and the checklist that says whether a
//! workspace can run there. Nothing is installed on the host: every check
//! is a plain shell command over the one pooled connection.

use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use bincode::{Decode, Encode};
use roam_mesh::ssh::{SshError, SshPool, SshSettings, StrictHostKeyChecking};

use crate::api::{CheckItem, ErrorKind, HostInfo, HostReport};
use crate::error::HasKind;
use crate::store::{Store, StoreError};

/// How adding, checking or removing an SSH host fails.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("no host named '{alias}'; add it with `roam host add {alias}`")]
    NotAdded { alias: String },
    /// The checklist failed: `failed` are the details of the failed lines.
    #[error("host {alias} not added: {}", .failed.join("; "))]
    ChecksFailed { alias: String, failed: Vec<String> },
    /// Connecting to the host, or running the probe there, failed.
    #[error("{source}")]
    Ssh {
        alias: String,
        /// Boxed: `SshError` is large, and this error is returned often.
        #[source]
        source: Box<SshError>,
    },
    #[error("{source}")]
    Store {
        #[from]
        source: StoreError,
    },
}

impl HasKind for HostError {
    fn kind(&self) -> ErrorKind {
        match self {
            HostError::NotAdded { .. } => ErrorKind::NotFound,
            HostError::ChecksFailed { .. } => ErrorKind::Refused,
            HostError::Ssh { source, .. } => ssh_kind(source),
            HostError::Store { .. } => ErrorKind::Internal,
        }
    }
}

/// Which kind an SSH failure is, for the answer that reports it.
pub(crate) fn ssh_kind(e: &SshError) -> ErrorKind {
    match e {
        // Retrying will not help: the user has to act.
        SshError::UnknownHostKey { .. }
        | SshError::HostKeyChanged { .. }
        | SshError::HostKeyRevoked { .. }
        | SshError::AuthFailed { .. }
        | SshError::PassphraseNeeded { .. } => ErrorKind::Refused,
        SshError::Config { .. } | SshError::BadConfig { .. } | SshError::IdentityFile { .. } => {
            ErrorKind::InvalidInput
        }
        SshError::ProxyJump { source, .. } => ssh_kind(source),
        SshError::Unreachable { .. }
        | SshError::Handshake { .. }
        | SshError::ConnectionLost { .. }
        | SshError::ChannelRefused { .. }
        | SshError::Timeout { .. } => ErrorKind::Unreachable,
        SshError::KnownHosts { .. }
        | SshError::OutputTooLarge { .. }
        | SshError::CommandFailed { .. } => ErrorKind::Internal,
    }
}

/// What is remembered of an added host.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct HostRecord {
    pub alias: String,
    pub added_unix: u64,
    pub last_used_unix: u64,
    pub last_check_ok: bool,
}

pub struct Hosts {
    pool: SshPool,
    store: Arc<Store>,
    /// Agent programs the profiles name, looked for on the host.
    programs: Vec<String>,
}

/// One shell script, one round trip: every fact the checklist needs, as
/// `key=value` lines. POSIX sh only; no Roam on the host.
const PROBE: &str = r#"printf 'git=%s\n' "$(git --version 2>/dev/null)"
printf 'tmux=%s\n' "$(tmux -V 2>/dev/null)"
for t in setsid script mkfifo tail; do command -v "$t" >/dev/null 2>&1 || printf 'lacks=%s\n' "$t"; done
printf 'home=%s\n' "$HOME"
if [ -w "$HOME" ]; then echo writable=yes; else echo writable=no; fi
printf 'free_kib=%s\n' "$(df -Pk "$HOME" 2>/dev/null | awk 'NR==2 {print $4}')"
for p in $ROAM_PROGRAMS; do printf 'bin.%s=%s\n' "$p" "$(command -v "$p" 2>/dev/null)"; done
"#;

impl Hosts {
    pub fn new(store: Arc<Store>, programs: Vec<String>) -> Hosts {
        Hosts {
            pool: SshPool::new(SshSettings::from_env()),
            store,
            programs,
        }
    }

    pub fn pool(&self) -> &SshPool {
        &self.pool
    }

    /// Connects (checking the host key like ssh), runs the checklist, and
    /// records the host only if a workspace could run there.
    pub async fn add(&self, alias: &str, accept_new: bool) -> Result<HostReport, HostError> {
        let policy = accept_new.then_some(StrictHostKeyChecking::AcceptNew);
        let report = self.report(alias, policy).await?;
        if report.checks.iter().any(|c| !c.ok) {
            let failed = report
                .checks
                .iter()
                .filter(|c| !c.ok)
                .map(|c| c.detail.clone())
                .collect();
            // The checklist is the answer; the error says why it was not added.
            return Err(HostError::ChecksFailed {
                alias: alias.to_string(),
                failed,
            });
        }
        let now = unix_now();
        let record = HostRecord {
            alias: alias.to_string(),
            added_unix: now,
            last_used_unix: now,
            last_check_ok: true,
        };
        self.store.save_host(&record).await?;
        Ok(report)
    }

    pub async fn check(&self, alias: &str) -> Result<HostReport, HostError> {
        let mut record = self.record(alias)?;
        let report = self.report(alias, None).await;
        record.last_check_ok = report.as_ref().is_ok_and(|r| r.checks.iter().all(|c| c.ok));
        if report.is_ok() {
            record.last_used_unix = unix_now();
        }
        self.store.save_host(&record).await?;
        report
    }

    pub async fn list(&self) -> Vec<HostInfo> {
        let mut out = Vec::new();
        for r in self.store.hosts() {
            let target = self
                .pool
                .resolve(&r.alias)
                .map(|s| s.display())
                .unwrap_or_else(|e| e.to_string());
            out.push(HostInfo {
                connected: self.pool.is_connected(&r.alias).await,
                alias: r.alias,
                target,
                added_unix: r.added_unix,
                last_used_unix: r.last_used_unix,
                last_check_ok: r.last_check_ok,
            });
        }
        out
    }

    pub async fn remove(&self, alias: &str) -> Result<(), HostError> {
        self.record(alias)?;
        self.store.remove_host(alias).await?;
        self.pool.disconnect(alias).await;
        Ok(())
    }

    /// The host's record, or the error that says how to add it.
    pub fn require(&self, alias: &str) -> Result<HostRecord, HostError> {
        self.record(alias)
    }

    fn record(&self, alias: &str) -> Result<HostRecord, HostError> {
        self.store
            .hosts()
            .into_iter()
            .find(|h| h.alias == alias)
            .ok_or_else(|| HostError::NotAdded {
                alias: alias.to_string(),
            })
    }

    /// Connects and probes; a connection failure is the error, anything
    /// else is a line of the checklist.
    async fn report(
        &self,
        alias: &str,
        policy: Option<StrictHostKeyChecking>,
    ) -> Result<HostReport, HostError> {
        let started = Instant::now();
        let ssh = |source| HostError::Ssh {
            alias: alias.to_string(),
            source: Box::new(source),
        };
        let conn = self.pool.get_with(alias, policy).await.map_err(ssh)?;
        let target = conn.spec().display();
        let script = format!("ROAM_PROGRAMS='{}'\n{PROBE}", self.programs.join(" "));
        let probe = conn.exec_checked(&script).await.map_err(ssh)?;
        let facts = Facts::parse(&probe.stdout_text());
        let mut checks = vec![CheckItem {
            name: "connection".into(),
            ok: true,
            detail: format!(
                "connected to {target} in {} ms",
                started.elapsed().as_millis()
            ),
        }];
        checks.push(match facts.get("git") {
            Some(v) if !v.is_empty() => CheckItem {
                name: "git".into(),
                ok: true,
                detail: v.to_string(),
            },
            _ => CheckItem {
                name: "git".into(),
                ok: false,
                detail: "git is not in PATH on the host; workspaces need it".into(),
            },
        });
        let home = facts.get("home").unwrap_or("~").to_string();
        checks.push(CheckItem {
            name: "home".into(),
            ok: facts.get("writable") == Some("yes"),
            detail: match facts.get("writable") {
                Some("yes") => format!("{home} is writable"),
                _ => format!("{home} is not writable; workspaces live under ~/.roam"),
            },
        });
        let free_kib: Option<u64> = facts.get("free_kib").and_then(|v| v.parse().ok());
        checks.push(CheckItem {
            name: "disk".into(),
            ok: free_kib.is_none_or(|k| k >= 100 * 1024),
            detail: match free_kib {
                Some(k) => format!("{:.1} GiB free in {home}", k as f64 / (1024.0 * 1024.0)),
                None => "free space unknown (no df)".into(),
            },
        });
        let tmux = facts.get("tmux").filter(|v| !v.is_empty());
        let lacks = facts.all("lacks");
        checks.push(CheckItem {
            name: "tmux".into(),
            // Without tmux, agents are detached with standard tools, which
            // must then be there.
            ok: tmux.is_some() || lacks.is_empty(),
            detail: match (tmux, lacks.is_empty()) {
                (Some(v), _) => format!("{v}: agents keep running when the connection drops"),
                (None, true) => {
                    "no tmux: agents are detached with setsid and script instead (fixed terminal size)".into()
                }
                (None, false) => format!("no tmux, and no {} to detach agents without it", lacks.join(", ")),
            },
        });
        for p in &self.programs {
            let found = facts.get(&format!("bin.{p}")).filter(|v| !v.is_empty());
            checks.push(CheckItem {
                name: format!("agent {p}"),
                // A missing agent CLI only limits which profiles work there.
                ok: true,
                detail: match found {
                    Some(path) => format!("{p} at {path}"),
                    None => format!("{p} not installed (profiles using it will not start there)"),
                },
            });
        }
        Ok(HostReport {
            alias: alias.to_string(),
            target,
            checks,
        })
    }
}

/// `key=value` lines of the probe.
struct Facts(Vec<(String, String)>);

impl Facts {
    fn parse(text: &str) -> Facts {
        Facts(
            text.lines()
                .filter_map(|l| l.split_once('='))
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .collect(),
        )
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.all(key).into_iter().next()
    }

    /// Every value of a key the probe printed several times.
    fn all(&self, key: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
