//! The holders that keep this node's agents (`roam_holder`): every agent
//! that runs on this node runs in one. A holder is recorded in the store
//! (flushed) before its agent counts as started, adopted by the next node
//! that starts on this data dir, and swept at start-up otherwise.
//!
//! Invariant (never two): a holder is adopted only while its record names
//! it — the holder's and the agent's pid and start time, in this boot —
//! and its workspace is here, active (not superseded) and not stopped, and
//! its agent has not exited. Every other holder found, recorded or only a
//! socket in the holders dir, is ended before any agent starts, with why
//! in the node log.

use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use roam_holder::client::{self, ClientError, Connected, Process};
use roam_holder::serve::HolderArgs;
use roam_holder::session;

use crate::Runtime;
use crate::error::ActorError;
use crate::model::{HolderRecord, WorkspaceRecord};

/// A Unix socket path is at most 108 bytes with its NUL; keep clear of it.
const MAX_SOCKET_PATH: usize = 100;

/// A holder attached to this node, with what the store says of it.
#[derive(Debug)]
pub struct Held {
    pub connected: Connected,
    pub record: HolderRecord,
}

/// What a new holder runs.
pub struct Want<'a> {
    pub workspace_id: &'a str,
    pub workspace: &'a str,
    pub agent: &'a str,
    pub argv: Vec<String>,
    pub cwd: PathBuf,
    pub env: &'a [(String, String)],
    pub rows: u16,
    pub cols: u16,
}

/// Starts the agent in a new holder, records the holder durably, and
/// attaches to it. On any failure after the holder started, it is ended.
pub async fn start(rt: &Runtime, want: Want<'_>) -> Result<Held, ActorError> {
    let dir = rt.holders_dir();
    let socket = dir.join(socket_name());
    if socket.as_os_str().len() > MAX_SOCKET_PATH {
        return Err(ActorError::Pty(format!(
            "the data dir's path is too long for an agent's holder socket ({}; at most {MAX_SOCKET_PATH} bytes)",
            socket.display()
        )));
    }
    let made = {
        let dir = dir.clone();
        tokio::task::spawn_blocking(move || {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&dir)
        })
        .await?
    };
    made.map_err(|e| ActorError::Pty(format!("{}: {e}", dir.display())))?;
    let args = HolderArgs {
        socket: socket.clone(),
        workspace: want.workspace.to_string(),
        agent: want.agent.to_string(),
        cwd: want.cwd,
        rows: want.rows,
        cols: want.cols,
        argv: want.argv,
    };
    let mut connected = client::start(&rt.holder_exe, &args, want.env).await?;
    let hello = &connected.hello;
    let holder = Process::of(hello.holder_pid as i32);
    let agent = Process::of(hello.agent_pid as i32);
    let record = HolderRecord {
        workspace_id: want.workspace_id.to_string(),
        workspace: want.workspace.to_string(),
        agent: want.agent.to_string(),
        socket: socket.to_string_lossy().into_owned(),
        holder_pid: hello.holder_pid as i32,
        holder_start: holder.map_or(0, |p| p.start),
        agent_pid: hello.agent_pid as i32,
        agent_start: agent.map_or(0, |p| p.start),
        boot: session::boot_id(),
    };
    let recorded = rt.store.save_holder(&record).await;
    let attached = match recorded {
        Ok(()) => connected
            .attach()
            .await
            .map_err(|e| ActorError::Pty(e.to_string())),
        Err(e) => Err(e.into()),
    };
    if let Err(e) = attached {
        end(rt, &record).await;
        return Err(e);
    }
    Ok(Held { connected, record })
}

/// Ends the holder `record` names and its agent, and forgets it: for a
/// holder this node started or found but cannot use.
pub async fn end(rt: &Runtime, record: &HolderRecord) {
    end_off_thread(vec![recorded_processes(record)]).await;
    let _ = rt.store.remove_holder(record).await;
}

/// What became of a recorded holder at start-up.
pub enum Adoption {
    /// None was recorded: start the agent as usual.
    NoHolder,
    Adopted(Box<Held>),
    /// One was recorded but could not be adopted (it is ended, its record
    /// gone); the reason, for the screen.
    Lost(String),
}

/// Adopts the recorded holder of `agent` in `workspace`, if there is one.
pub async fn adopt(rt: &Runtime, workspace: &str, agent: &str) -> Adoption {
    let Some(record) = rt
        .store
        .holders()
        .into_iter()
        .find(|r| r.workspace == workspace && r.agent == agent)
    else {
        return Adoption::NoHolder;
    };
    let outcome = attach_recorded(rt, &record).await;
    match outcome {
        Ok(held) => {
            tracing::info!(
                workspace,
                agent,
                holder = record.holder_pid,
                pid = record.agent_pid,
                "adopted the agent's holder; the agent never stopped"
            );
            Adoption::Adopted(Box::new(held))
        }
        Err(why) => {
            tracing::warn!(workspace, agent, reason = %why, "cannot adopt the agent's holder; the agent is started again");
            end(rt, &record).await;
            Adoption::Lost(why)
        }
    }
}

async fn attach_recorded(rt: &Runtime, record: &HolderRecord) -> Result<Held, String> {
    if record.boot != session::boot_id() {
        return Err("the machine restarted since the agent started".into());
    }
    if !Path::new(&record.socket).starts_with(rt.holders_dir()) {
        return Err("its holder belongs to another data dir".into());
    }
    let holder = Process {
        pid: record.holder_pid,
        start: record.holder_start,
    };
    let alive = tokio::task::spawn_blocking(move || holder.alive())
        .await
        .unwrap_or(false);
    if !alive {
        return Err("the agent's holder ended while no node was running".into());
    }
    let mut connected = client::connect(Path::new(&record.socket))
        .await
        .map_err(|e| match e {
            ClientError::Version { theirs, ours, .. } => format!(
                "the agent's holder speaks protocol {theirs} and this roam speaks {ours} (an upgrade across a protocol change); it was ended"
            ),
            other => other.to_string(),
        })?;
    let hello = &connected.hello;
    if (hello.holder_pid as i32, hello.agent_pid as i32) != (record.holder_pid, record.agent_pid)
        || hello.workspace != record.workspace
        || hello.agent != record.agent
    {
        return Err(format!(
            "the process at {} is not the holder recorded for this agent",
            record.socket
        ));
    }
    connected.attach().await.map_err(|e| e.to_string())?;
    Ok(Held {
        connected,
        record: record.clone(),
    })
}

/// Ends, before any agent starts, every holder this node must not adopt:
/// recorded ones whose workspace or agent is gone, superseded, stopped or
/// exited, and unrecorded ones (a socket in the holders dir, a node that
/// died between starting a holder and recording it). Records of another
/// boot go without anything to end.
pub async fn sweep(rt: &Runtime, records: &[WorkspaceRecord]) {
    let boot = session::boot_id();
    let dir = rt.holders_dir();
    let mut keep = Vec::new();
    let mut end = Vec::new();
    for r in rt.store.holders() {
        let why = match records
            .iter()
            .find(|w| w.name == r.workspace && w.id == r.workspace_id)
        {
            _ if r.boot != boot => None,
            // A store copied from another data dir names another node's
            // holders: theirs to keep or end, never ours.
            _ if !Path::new(&r.socket).starts_with(&dir) => None,
            None => Some("its workspace is no longer on this node"),
            Some(w) if !w.is_active() => Some("another node owns its workspace now"),
            Some(w) if w.stopped => Some("its workspace is stopped"),
            Some(w) => match w.agents.iter().find(|a| a.name == r.agent) {
                None => Some("its agent is no longer in the workspace"),
                Some(a) if a.exited.is_some() => Some("its agent is recorded as exited"),
                Some(_) => {
                    keep.push(PathBuf::from(&r.socket));
                    continue;
                }
            },
        };
        if let Some(why) = why {
            tracing::warn!(workspace = %r.workspace, agent = %r.agent, holder = r.holder_pid, reason = why, "ending an agent's holder this node will not adopt");
            end.push(recorded_processes(&r));
        }
        let _ = rt.store.remove_holder(&r).await;
    }
    for socket in unrecorded_sockets(&dir, &keep).await {
        match client::connect(&socket).await {
            Ok(c) => {
                tracing::warn!(socket = %socket.display(), workspace = %c.hello.workspace, agent = %c.hello.agent, holder = c.hello.holder_pid, "ending an agent's holder with no record in the store");
                if let Some(holder) = Process::of(c.hello.holder_pid as i32) {
                    end.push((holder, Process::of(c.hello.agent_pid as i32)));
                }
            }
            Err(ClientError::Version {
                theirs,
                pid: Some(pid),
                ..
            }) => {
                tracing::warn!(socket = %socket.display(), protocol = theirs, holder = pid, "ending an agent's holder of another protocol with no record in the store");
                if let Some(holder) = Process::of(pid) {
                    end.push((holder, None));
                }
            }
            Err(e) => {
                // Nobody listens: what a holder that was killed left. One
                // that listens but will not talk is left, and logged.
                let listens = std::os::unix::net::UnixStream::connect(&socket).is_ok();
                if listens {
                    tracing::warn!(socket = %socket.display(), error = %e, "a process at a holder's socket does not answer as a holder; left alone");
                } else {
                    let _ = tokio::fs::remove_file(&socket).await;
                }
            }
        }
    }
    if !end.is_empty() {
        end_off_thread(end).await;
    }
}

/// The processes a record names, for ending them: only those still the
/// recorded ones are signalled.
fn recorded_processes(r: &HolderRecord) -> (Process, Option<Process>) {
    let holder = Process {
        pid: r.holder_pid,
        start: r.holder_start,
    };
    let agent = Process {
        pid: r.agent_pid,
        start: r.agent_start,
    };
    (holder, Some(agent))
}

async fn end_off_thread(holders: Vec<(Process, Option<Process>)>) {
    let _ = tokio::task::spawn_blocking(move || client::end(&holders)).await;
}

async fn unrecorded_sockets(dir: &Path, keep: &[PathBuf]) -> Vec<PathBuf> {
    let Ok(mut entries) = tokio::fs::read_dir(dir).await else {
        return Vec::new();
    };
    let mut found = Vec::new();
    while let Ok(Some(entry)) = entries.next_entry().await {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "sock") && !keep.contains(&path) {
            found.push(path);
        }
    }
    found
}

/// A name no other holder of this data dir has had: this node's pid and
/// the time, with a counter for two in one tick.
fn socket_name() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{}-{nanos:x}-{n}.sock", std::process::id())
}
