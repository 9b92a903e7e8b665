//! Serving a terminal stream (`attach`, `logs --follow`) on a connection
//! that answered `Response::Streaming`.
//!
//! Output is coalesced: whatever is queued when a frame is sent goes into
//! that frame (up to `MAX_BATCH`), so a fast agent costs few frames. A
//! viewer that falls too far behind is resynchronised with the current
//! screen rather than slowing the agent down.

use std::time::Duration;

use ractor::ActorRef;
use roam_actors::agent::AgentMsg;
use roam_actors::pty::{PtyEvent, Subscription};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::broadcast::error::{RecvError, TryRecvError};

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use crate::api::{Down, Resume, Up};
use crate::conn::{self, ConnError};
use crate::error::Failure;
use crate::lock::lock;

const MAX_BATCH: usize = 256 * 1024;
/// Logs are sent in pieces well under the frame bound.
const LOG_CHUNK: usize = 1024 * 1024;
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

pub async fn subscribe(
    agent: &ActorRef<AgentMsg>,
    with_scrollback: bool,
) -> Result<Subscription, Failure> {
    let res = agent
        .call(
            |reply| AgentMsg::Subscribe {
                with_scrollback,
                reply,
            },
            Some(CALL_TIMEOUT),
        )
        .await
        .map_err(|e| Failure::internal(e.to_string()))?;
    match res {
        ractor::rpc::CallResult::Success(Ok(sub)) => Ok(sub),
        ractor::rpc::CallResult::Success(Err(e)) => Err(e.into()),
        _ => Err(Failure::internal("agent did not answer")),
    }
}

/// How long the owner remembers a relayed session's applied input.
const LEDGER_TTL: Duration = Duration::from_secs(600);

/// Input already applied per resumable attach session, so a relay that
/// reconnects and resends unacknowledged keys never types them twice.
#[derive(Default)]
pub struct InputLedger {
    applied: Mutex<HashMap<u64, (u64, Instant)>>,
}

impl InputLedger {
    fn applied(&self, session: u64) -> u64 {
        lock(&self.applied)
            .get(&session)
            .map(|(n, _)| *n)
            .unwrap_or(0)
    }

    fn record(&self, session: u64, total: u64) {
        let mut m = lock(&self.applied);
        m.retain(|_, (_, t)| t.elapsed() < LEDGER_TTL);
        m.insert(session, (total, Instant::now()));
    }
}

/// Where a resumable attach stands in its session's input.
struct ResumeCursor<'a> {
    ledger: &'a InputLedger,
    session: u64,
    next: u64,
}

impl ResumeCursor<'_> {
    /// The part of `bytes` not applied yet, and the session's applied total
    /// once it is; advances the cursor.
    /// The offset comes from the peer: it is added with saturation, so a
    /// forged one near `u64::MAX` cannot overflow (it can only make this
    /// session's own keys count as already applied).
    fn fresh(&mut self, bytes: Vec<u8>) -> (Vec<u8>, u64) {
        let start = self.next;
        self.next = self.next.saturating_add(bytes.len() as u64);
        let applied = self.ledger.applied(self.session);
        let skip = applied.saturating_sub(start).min(bytes.len() as u64) as usize;
        let total = applied.max(self.next);
        self.ledger.record(self.session, total);
        (bytes.get(skip..).unwrap_or_default().to_vec(), total)
    }
}

/// `roam attach`: the screen, then live output both ways until the client
/// detaches, the connection drops, or the process exits.
pub async fn attach<R, W>(
    reader: R,
    writer: &mut W,
    agent: ActorRef<AgentMsg>,
    mut sub: Subscription,
    resume: Option<Resume>,
    ledger: &InputLedger,
) -> Result<(), ConnError>
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin,
{
    let mut ups = conn::FrameReader::<Up>::spawn_marked(reader, 64, roam_hops::Hop::NodeKeyRead);
    let mut cursor = resume.map(|r| ResumeCursor {
        ledger,
        session: r.session,
        next: r.input_offset,
    });
    attach_loop(&mut ups, writer, &agent, &mut sub, cursor.as_mut()).await
}

async fn attach_loop<W: AsyncWrite + Unpin>(
    up_rx: &mut conn::FrameReader<Up>,
    writer: &mut W,
    agent: &ActorRef<AgentMsg>,
    sub: &mut Subscription,
    mut cursor: Option<&mut ResumeCursor<'_>>,
) -> Result<(), ConnError> {
    conn::send(writer, &Down::Output(std::mem::take(&mut sub.screen))).await?;
    if let Some(code) = sub.exited {
        return conn::send(writer, &Down::Exited { code }).await;
    }
    loop {
        tokio::select! {
            up = up_rx.recv() => match up {
                Some(Up::Input(bytes)) => {
                    roam_hops::mark(roam_hops::Hop::NodeKeyTaken);
                    let (bytes, ack) = match cursor.as_deref_mut() {
                        Some(c) => {
                            let (fresh, total) = c.fresh(bytes);
                            (fresh, Some(total))
                        }
                        None => (bytes, None),
                    };
                    if !bytes.is_empty() {
                        // Straight to the terminal's writer; an agent that
                        // has exited takes none, and the viewer sees the
                        // exit next.
                        sub.keys.send(bytes);
                    }
                    if let Some(bytes) = ack {
                        conn::send(writer, &Down::InputAck { bytes }).await?;
                    }
                }
                Some(Up::Resize { rows, cols }) => {
                    let (rows, cols) = crate::api::bounded_size(rows, cols);
                    let _ = agent.cast(AgentMsg::Resize { rows, cols });
                }
                Some(Up::Detach) | None => return Ok(()),
            },
            event = sub.events.recv() => match forward(writer, event, sub).await? {
                Flow::Continue => {}
                Flow::Resync => {
                    match subscribe(agent, false).await {
                        Ok(fresh) => {
                            *sub = fresh;
                            conn::send(writer, &Down::Output(std::mem::take(&mut sub.screen))).await?;
                        }
                        Err(f) => return conn::send(writer, &Down::Closed { reason: f.message }).await,
                    }
                }
                Flow::End => return Ok(()),
            },
        }
    }
}

/// `roam logs`: the scrollback, then (with `follow`) live output.
pub async fn logs<W: AsyncWrite + Unpin>(
    writer: &mut W,
    scrollback: &[u8],
    sub: Option<Subscription>,
) -> Result<(), ConnError> {
    for chunk in scrollback.chunks(LOG_CHUNK) {
        conn::send(writer, &Down::Output(chunk.to_vec())).await?;
    }
    let Some(mut sub) = sub else {
        return conn::send(
            writer,
            &Down::Closed {
                reason: "end of scrollback".into(),
            },
        )
        .await;
    };
    if let Some(code) = sub.exited {
        return conn::send(writer, &Down::Exited { code }).await;
    }
    loop {
        let event = sub.events.recv().await;
        match forward(writer, event, &mut sub).await? {
            Flow::Continue => {}
            // A log follower cannot repaint; it says what it missed.
            Flow::Resync => {
                conn::send(
                    writer,
                    &Down::Output(b"\r\n[roam] output skipped: reader too slow\r\n".to_vec()),
                )
                .await?;
            }
            Flow::End => return Ok(()),
        }
    }
}

enum Flow {
    Continue,
    Resync,
    End,
}

/// Sends one event plus whatever else is already queued, as one frame.
async fn forward<W: AsyncWrite + Unpin>(
    writer: &mut W,
    first: Result<PtyEvent, RecvError>,
    sub: &mut Subscription,
) -> Result<Flow, ConnError> {
    let mut batch = match first {
        Ok(PtyEvent::Output(bytes)) => bytes.to_vec(),
        Ok(PtyEvent::Exited { code }) => {
            conn::send(writer, &Down::Exited { code }).await?;
            return Ok(Flow::End);
        }
        Err(RecvError::Lagged(_)) => return Ok(Flow::Resync),
        // The terminal went away with its node (stopping, restarting): end
        // without a word, so a relay takes it as a lost connection and
        // reconnects once the node is back.
        Err(RecvError::Closed) => {
            return Ok(Flow::End);
        }
    };
    let mut after = None;
    while batch.len() < MAX_BATCH {
        match sub.events.try_recv() {
            Ok(PtyEvent::Output(bytes)) => batch.extend_from_slice(&bytes),
            Ok(PtyEvent::Exited { code }) => {
                after = Some(code);
                break;
            }
            Err(TryRecvError::Lagged(_)) => {
                conn::send(writer, &Down::Output(batch)).await?;
                return Ok(Flow::Resync);
            }
            Err(TryRecvError::Empty) | Err(TryRecvError::Closed) => break,
        }
    }
    conn::send(writer, &Down::Output(batch)).await?;
    roam_hops::mark(roam_hops::Hop::NodeEchoSent);
    if let Some(code) = after {
        conn::send(writer, &Down::Exited { code }).await?;
        return Ok(Flow::End);
    }
    Ok(Flow::Continue)
}
