//! The node's side of a holder: start one, connect to one, end one.

use std::path::Path;
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};

use crate::serve::{HolderArgs, KILL_GRACE};
use crate::session::{self, Session};
use crate::wire::{self, Down, Hello, Up, WireError};

/// How long a holder has to say hello.
const HELLO_TIMEOUT: Duration = Duration::from_secs(5);
/// What a failing holder may say on stderr before it exits.
const MAX_STDERR: u64 = 4096;

/// A connection to a holder that said hello in this node's protocol.
#[derive(Debug)]
pub struct Connected {
    pub hello: Hello,
    pub reader: OwnedReadHalf,
    pub writer: OwnedWriteHalf,
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot start the agent's holder {exe}: {message}")]
    Spawn { exe: String, message: String },
    #[error("{0}")]
    Start(String),
    #[error("no holder answers at {path}: {message}")]
    Gone { path: String, message: String },
    #[error("the holder at {path} speaks protocol {theirs}; this roam speaks {ours}")]
    Version {
        path: String,
        theirs: u16,
        ours: u16,
        /// The holder's pid, from the socket (its hello is not readable).
        pid: Option<i32>,
    },
    #[error("the process at {path} is not a holder of this user's: {message}")]
    NotOurs { path: String, message: String },
}

/// Starts a holder for `args` with the agent's environment `env` (on top
/// of this process's), and connects to it once it is ready.
pub async fn start(
    exe: &Path,
    args: &HolderArgs,
    env: &[(String, String)],
) -> Result<Connected, ClientError> {
    let mut cmd = tokio::process::Command::new(exe);
    cmd.arg("--socket")
        .arg(&args.socket)
        .arg("--workspace")
        .arg(&args.workspace)
        .arg("--agent")
        .arg(&args.agent)
        .arg("--cwd")
        .arg(&args.cwd)
        .arg("--rows")
        .arg(args.rows.to_string())
        .arg("--cols")
        .arg(args.cols.to_string())
        .arg("--")
        .args(&args.argv)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let spawn_err = |e: std::io::Error| ClientError::Spawn {
        exe: exe.display().to_string(),
        message: e.to_string(),
    };
    let mut child = cmd.spawn().map_err(spawn_err)?;
    // It closes stderr once the agent runs, or exits with why not.
    let mut said = String::new();
    if let Some(stderr) = child.stderr.take() {
        let mut stderr = stderr.take(MAX_STDERR);
        let read = stderr.read_to_string(&mut said);
        let _ = tokio::time::timeout(HELLO_TIMEOUT, read).await;
    }
    match connect(&args.socket).await {
        Ok(connected) => Ok(connected),
        Err(e) => {
            // Never left running unrecorded: it would hold an agent nobody sees.
            let _ = child.start_kill();
            let status = tokio::time::timeout(HELLO_TIMEOUT, child.wait()).await;
            let said = said.trim();
            Err(match (status, said.is_empty()) {
                (Ok(Ok(_)), false) => ClientError::Start(said.to_string()),
                _ => e,
            })
        }
    }
    // A holder that runs is reaped by the runtime once it exits, or by
    // init once this node is gone: it is never waited for here.
}

/// Connects to the holder at `socket` and reads its hello.
pub async fn connect(socket: &Path) -> Result<Connected, ClientError> {
    let path = socket.display().to_string();
    let stream = UnixStream::connect(socket)
        .await
        .map_err(|e| ClientError::Gone {
            path: path.clone(),
            message: e.to_string(),
        })?;
    let cred = stream.peer_cred().map_err(|e| ClientError::NotOurs {
        path: path.clone(),
        message: e.to_string(),
    })?;
    if cred.uid() != nix::unistd::getuid().as_raw() {
        return Err(ClientError::NotOurs {
            path,
            message: format!("it runs as uid {}", cred.uid()),
        });
    }
    let (mut reader, writer) = stream.into_split();
    let hello = tokio::time::timeout(HELLO_TIMEOUT, wire::read_up(&mut reader)).await;
    match hello {
        Ok(Ok(Some(Up::Hello(hello)))) => Ok(Connected {
            hello,
            reader,
            writer,
        }),
        Ok(Err(WireError::Version { theirs, ours })) => Err(ClientError::Version {
            path,
            theirs,
            ours,
            pid: cred.pid(),
        }),
        Ok(Ok(_)) => Err(ClientError::NotOurs {
            path,
            message: "it did not say hello".into(),
        }),
        Ok(Err(e)) => Err(ClientError::NotOurs {
            path,
            message: e.to_string(),
        }),
        Err(_) => Err(ClientError::Gone {
            path,
            message: "it said nothing in 5 s".into(),
        }),
    }
}

impl Connected {
    /// Tells the holder to start the replay.
    pub async fn attach(&mut self) -> Result<(), WireError> {
        wire::write_down(&mut self.writer, &Down::Attach(wire::version())).await
    }
}

/// A holder process, as recorded: a pid means it only together with the
/// process's start time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Process {
    pub pid: i32,
    pub start: u64,
}

impl Process {
    pub fn of(pid: i32) -> Option<Process> {
        Some(Process {
            pid,
            start: session::start_time(pid)?,
        })
    }

    /// Whether this very process still runs.
    pub fn alive(&self) -> bool {
        self.pid > 1 && session::running_since(self.pid) == Some(self.start)
    }
}

/// Ends holders the node will not adopt, and their agents: SIGTERM to each
/// holder (which ends its agent's session, then itself), and after the
/// grace SIGKILL to what is left, agents' sessions included. Blocking.
/// Only processes that are still the ones recorded are signalled.
pub fn end(holders: &[(Process, Option<Process>)]) {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;
    for (holder, _) in holders {
        if holder.alive() {
            let _ = kill(Pid::from_raw(holder.pid), Signal::SIGTERM);
        }
    }
    let deadline = Instant::now() + KILL_GRACE + Duration::from_secs(2);
    while Instant::now() < deadline && holders.iter().any(|(h, _)| h.alive()) {
        std::thread::sleep(Duration::from_millis(20));
    }
    for (holder, agent) in holders {
        if holder.alive() {
            let _ = kill(Pid::from_raw(holder.pid), Signal::SIGKILL);
        }
        if let Some(agent) = agent.filter(|a| a.alive()) {
            Session { leader: agent.pid }.signal(Signal::SIGKILL);
        }
    }
}
