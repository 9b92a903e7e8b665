//! A PTY of this node's own: the process ends with the node. What an SSH
//! host's terminal runs in (`roam host tmux`, which only shows an agent
//! that tmux keeps on the host). Three plain threads do the blocking work:
//! a reader (PTY → `PtyMsg::Output`), a waiter (`PtyMsg::ChildExited`) and
//! a writer, so a process that stops reading cannot block the actor.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::Arc;

use portable_pty::{CommandBuilder, MasterPty, PtySize, native_pty_system};
use ractor::{ActorProcessingErr, ActorRef};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::{PtyMsg, READ_CHUNK};
use crate::leftover::Mark;
use crate::session::wait_exit_code;

/// What a direct terminal runs.
pub struct DirectSpec {
    pub argv: Vec<String>,
    pub cwd: PathBuf,
    pub env: Vec<(String, String)>,
    /// Where the running process is marked (`leftover`).
    pub mark_path: PathBuf,
}

pub(super) struct Direct {
    pub master: Box<dyn MasterPty + Send>,
    pub input: std::sync::mpsc::Sender<(Vec<u8>, OwnedSemaphorePermit)>,
    /// While the process runs: its mark, so a node that dies now has its
    /// next run end it.
    pub mark: Option<Arc<Mark>>,
}

/// Starts the process; its output comes to `myself` within `output_room`.
pub(super) fn start(
    spec: DirectSpec,
    size: PtySize,
    myself: &ActorRef<PtyMsg>,
    output_room: &Arc<Semaphore>,
) -> Result<(Direct, Option<u32>), ActorProcessingErr> {
    let pair = native_pty_system()
        .openpty(size)
        .map_err(|e| format!("cannot open a pty: {e}"))?;
    let mut cmd = CommandBuilder::from_argv(spec.argv.iter().map(Into::into).collect());
    cmd.cwd(&spec.cwd);
    for (k, v) in &spec.env {
        cmd.env(k, v);
    }
    let mut child = pair
        .slave
        .spawn_command(cmd)
        .map_err(|e| format!("cannot start {}: {e}", spec.argv.join(" ")))?;
    // The slave end belongs to the child now; keeping it open here would
    // hide the child's exit from the reader.
    drop(pair.slave);
    let pid = child.process_id();
    let mark = pid.and_then(|pid| match Mark::record(spec.mark_path.clone(), pid as i32) {
        Ok(mark) => Some(Arc::new(mark)),
        Err(e) => {
            tracing::warn!(pid, error = %e, "cannot mark the agent's process; a crash of the node would leave it running");
            None
        }
    });
    let mut reader = pair.master.try_clone_reader()?;
    let mut writer = pair.master.take_writer()?;

    let out = myself.clone();
    let room = output_room.clone();
    std::thread::Builder::new()
        .name("pty-read".into())
        .spawn(move || {
            let mut buf = vec![0u8; READ_CHUNK];
            loop {
                // Room first, then read: while the actor is behind, the
                // bytes stay in the kernel's PTY buffer and the agent's
                // writes block.
                let Ok(permit) =
                    futures::executor::block_on(room.clone().acquire_many_owned(READ_CHUNK as u32))
                else {
                    return; // the actor stopped
                };
                match reader.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if out.cast(PtyMsg::Output(buf[..n].to_vec(), permit)).is_err() {
                            return;
                        }
                    }
                }
            }
            let _ = out.cast(PtyMsg::ReadEnded);
        })?;
    let waiter = myself.clone();
    std::thread::Builder::new()
        .name("pty-wait".into())
        .spawn(move || {
            // Waited for by pid rather than through portable-pty, whose
            // status keeps only the signal's name: a signal exit is
            // 128 + its number, as a shell reports it.
            let code = match pid {
                Some(pid) => wait_exit_code(pid as i32),
                None => match child.wait() {
                    Ok(status) => status.exit_code() as i32,
                    Err(_) => -1,
                },
            };
            let _ = waiter.cast(PtyMsg::ChildExited { code });
        })?;
    let (input, input_rx) = std::sync::mpsc::channel::<(Vec<u8>, OwnedSemaphorePermit)>();
    std::thread::Builder::new()
        .name("pty-write".into())
        .spawn(move || {
            // The permit is dropped, giving its room back, once written.
            for (chunk, _room) in input_rx {
                if writer
                    .write_all(&chunk)
                    .and_then(|_| writer.flush())
                    .is_err()
                {
                    break;
                }
            }
        })?;
    Ok((
        Direct {
            master: pair.master,
            input,
            mark,
        },
        pid,
    ))
}
