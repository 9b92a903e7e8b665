//! Relaying a remote `attach` for the local CLI, across reconnects.
//!
//! The CLI talks to its own node; this node holds the attach to the owner
//! on a mesh stream. When that stream dies (the owner restarted, the
//! network went away longer than QUIC rides out), the relay says so on the
//! viewer's screen, keeps taking keys, reconnects, and resumes: the owner
//! repaints the current screen (resynced, as mosh does, not replayed), and
//! every key not yet acknowledged is sent again. The owner's input ledger
//! skips what it already applied, so no key is lost or typed twice.

use std::collections::VecDeque;
use std::hash::{BuildHasher, Hasher};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadHalf, WriteHalf};

use crate::api::{Down, ErrorKind, Request, Response, Resume, Target, Up};
use crate::conn;
use crate::error::Failure;
use crate::locate;
use crate::peers::PEER_TIMEOUT;
use crate::shared::Shared;

/// How long the relay keeps trying before it gives the viewer up.
const RECONNECT_FOR: Duration = Duration::from_secs(120);
/// How long the first connection may keep failing before attach gives up.
const FIRST_ATTEMPT_FOR: Duration = Duration::from_secs(10);
/// Keys typed while the owner is unreachable, kept until acknowledged.
const MAX_UNACKED: usize = 256 * 1024;

enum Attempt {
    /// The owner answered with an error: retrying will not help.
    Fatal(Failure),
    /// The owner could not be reached, or moved on: try again.
    Retry(String),
}

pub async fn relay_attach<S>(
    shared: &Shared,
    reader: ReadHalf<S>,
    mut local: WriteHalf<S>,
    target: Target,
    rows: u16,
    cols: u16,
) where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let mut keys = conn::FrameReader::<Up>::spawn(reader, 256);
    let mut state = Relay {
        session: std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish(),
        size: (rows, cols),
        unacked: VecDeque::new(),
        acked: 0,
        relocate: false,
    };
    state.run(shared, &target, &mut keys, &mut local).await;
}

struct Relay {
    session: u64,
    size: (u16, u16),
    /// Keys sent (or to send) that the owner has not acknowledged.
    unacked: VecDeque<u8>,
    /// Session input the owner has applied.
    acked: u64,
    /// The owner said it is not the owner: locate without the cache.
    relocate: bool,
}

impl Relay {
    async fn run<W: AsyncWrite + Unpin>(
        &mut self,
        shared: &Shared,
        target: &Target,
        keys: &mut conn::FrameReader<Up>,
        local: &mut W,
    ) {
        let mut first = true;
        let mut lost_at: Option<Instant> = None;
        loop {
            match self.connect(shared, target).await {
                Ok(remote) => {
                    if first {
                        if conn::send(local, &Response::Streaming).await.is_err() {
                            return;
                        }
                        first = false;
                    }
                    lost_at = None;
                    match self.pump(remote, keys, local).await {
                        Pump::Done => return,
                        Pump::Lost => {
                            let note = format!(
                                "\r\n[roam] lost the connection to {}; reconnecting…\r\n",
                                target.workspace
                            );
                            if conn::send(local, &Down::Output(note.into_bytes()))
                                .await
                                .is_err()
                            {
                                return;
                            }
                        }
                    }
                }
                Err(Attempt::Fatal(error)) if first => {
                    let _ = conn::send(local, &Response::from(error)).await;
                    return;
                }
                // The first attempt gets a short grace too (a link being
                // replaced, a peer just paired), then the viewer hears why.
                Err(Attempt::Retry(message))
                    if first
                        && lost_at.get_or_insert_with(Instant::now).elapsed()
                            > FIRST_ATTEMPT_FOR =>
                {
                    let error = Response::Error {
                        kind: ErrorKind::Unreachable,
                        message,
                    };
                    let _ = conn::send(local, &error).await;
                    return;
                }
                Err(Attempt::Retry(_)) if first => {
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                Err(Attempt::Fatal(error)) => {
                    let reason = error.message;
                    let _ = conn::send(local, &Down::Closed { reason }).await;
                    return;
                }
                Err(Attempt::Retry(reason)) => {
                    let since = *lost_at.get_or_insert_with(Instant::now);
                    if since.elapsed() > RECONNECT_FOR {
                        let reason = format!("gave up reconnecting: {reason}");
                        let _ = conn::send(local, &Down::Closed { reason }).await;
                        return;
                    }
                    // Keep taking keys while we wait to try again.
                    let pause = tokio::time::sleep(Duration::from_millis(500));
                    tokio::pin!(pause);
                    loop {
                        tokio::select! {
                            _ = &mut pause => break,
                            up = keys.recv() => if !self.take_key(up) { return },
                        }
                    }
                }
            }
        }
    }

    /// Opens an attach at the owner, resuming this session. An owner that
    /// says it is not (or no longer) the owner sends us to locate afresh.
    async fn connect(
        &mut self,
        shared: &Shared,
        target: &Target,
    ) -> Result<crate::peers::PeerStream, Attempt> {
        let found = locate::locate(shared, &target.workspace, self.relocate)
            .await
            .map_err(|f| Attempt::Retry(f.message))?;
        self.relocate = false;
        let Some(peer) = found.peer else {
            return Err(Attempt::Fatal(Failure::new(
                ErrorKind::Stale,
                format!(
                    "workspace '{}' is now on this node; attach again",
                    target.workspace
                ),
            )));
        };
        let node = found.node;
        let request = Request::Attach {
            target: target.clone(),
            rows: self.size.0,
            cols: self.size.1,
            resume: Some(Resume {
                session: self.session,
                input_offset: self.acked,
            }),
        };
        match shared
            .peers
            .open_call(peer, Some(found.epoch), request)
            .await
        {
            Ok((Response::Streaming, stream)) => Ok(stream),
            Ok((
                Response::Error {
                    kind: ErrorKind::Stale,
                    message,
                },
                _,
            )) => {
                self.relocate = true;
                Err(Attempt::Retry(message))
            }
            Ok((Response::Error { kind, message }, _)) => {
                Err(Attempt::Fatal(Failure::new(kind, message)))
            }
            Ok((other, _)) => Err(Attempt::Fatal(Failure::internal(format!(
                "unexpected answer to attach: {other:?}"
            )))),
            Err(e) => {
                self.relocate = true;
                Err(Attempt::Retry(format!("node '{node}' is unreachable: {e}")))
            }
        }
    }

    /// Records a key typed by the viewer; false when the viewer is done.
    fn take_key(&mut self, up: Option<Up>) -> bool {
        match up {
            Some(Up::Input(bytes)) => {
                self.unacked.extend(bytes);
                self.unacked.len() <= MAX_UNACKED
            }
            Some(Up::Resize { rows, cols }) => {
                self.size = (rows, cols);
                true
            }
            Some(Up::Detach) | None => false,
        }
    }

    /// Moves frames both ways until the viewer or the owner ends.
    async fn pump<W: AsyncWrite + Unpin>(
        &mut self,
        remote: crate::peers::PeerStream,
        keys: &mut conn::FrameReader<Up>,
        local: &mut W,
    ) -> Pump {
        let (remote_read, mut remote_write) = tokio::io::split(remote);
        let mut downs = conn::FrameReader::<Down>::spawn(remote_read, 256);
        self.pump_frames(&mut remote_write, &mut downs, keys, local)
            .await
    }

    async fn pump_frames<R: AsyncWrite + Unpin, W: AsyncWrite + Unpin>(
        &mut self,
        remote: &mut R,
        downs: &mut conn::FrameReader<Down>,
        keys: &mut conn::FrameReader<Up>,
        local: &mut W,
    ) -> Pump {
        if !self.unacked.is_empty() {
            let resend: Vec<u8> = self.unacked.iter().copied().collect();
            if conn::send(remote, &Up::Input(resend)).await.is_err() {
                return Pump::Lost;
            }
        }
        loop {
            tokio::select! {
                up = keys.recv() => {
                    let detach = matches!(up, Some(Up::Detach) | None);
                    let frame = match &up {
                        Some(Up::Input(bytes)) => Some(Up::Input(bytes.clone())),
                        Some(Up::Resize { rows, cols }) => Some(Up::Resize { rows: *rows, cols: *cols }),
                        Some(Up::Detach) | None => Some(Up::Detach),
                    };
                    let viewer_on = self.take_key(up);
                    if let Some(frame) = frame {
                        let sent = tokio::time::timeout(PEER_TIMEOUT, conn::send(remote, &frame)).await;
                        if detach {
                            return Pump::Done;
                        }
                        if !matches!(sent, Ok(Ok(()))) {
                            return Pump::Lost;
                        }
                    }
                    if !viewer_on {
                        let _ = conn::send(local, &Down::Closed { reason: "too many keys waiting for the node".into() }).await;
                        return Pump::Done;
                    }
                }
                down = downs.recv() => match down {
                    Some(Down::InputAck { bytes }) => {
                        let newly = bytes.saturating_sub(self.acked) as usize;
                        self.unacked.drain(..newly.min(self.unacked.len()));
                        self.acked = self.acked.max(bytes);
                    }
                    Some(frame @ Down::Output(_)) => {
                        if conn::send(local, &frame).await.is_err() {
                            return Pump::Done;
                        }
                    }
                    Some(frame @ (Down::Exited { .. } | Down::Closed { .. })) => {
                        let _ = conn::send(local, &frame).await;
                        return Pump::Done;
                    }
                    None => return Pump::Lost,
                },
            }
        }
    }
}

enum Pump {
    /// The viewer detached or left, or the agent ended.
    Done,
    /// The owner's stream broke: reconnect.
    Lost,
}
