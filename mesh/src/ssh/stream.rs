//! A remote command's channel as a byte stream (`AsyncRead + AsyncWrite`):
//! stdout in, stdin out; stderr and the exit status kept for [`SshStream::wait`].

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use russh::client::Msg;
use russh::{ChannelMsg, ChannelReadHalf, ChannelWriteHalf};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{mpsc, oneshot, watch};

use super::error::SshError;

/// How much of a stream's stderr is kept (the tail).
pub const STDERR_TAIL: usize = 64 * 1024;

/// How a remote command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExitStatus {
    /// It exited with this code.
    Code(u32),
    /// It was killed by this signal.
    Signal(String),
    /// The channel closed without saying (or the connection was lost).
    Unknown,
}

impl ExitStatus {
    pub fn success(&self) -> bool {
        *self == ExitStatus::Code(0)
    }
}

impl std::fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExitStatus::Code(c) => write!(f, "exit code {c}"),
            ExitStatus::Signal(s) => write!(f, "killed by signal {s}"),
            ExitStatus::Unknown => f.write_str("no exit status"),
        }
    }
}

/// The end of a stream's command.
#[derive(Debug, Clone)]
pub struct StreamExit {
    pub status: ExitStatus,
    /// The last [`STDERR_TAIL`] bytes of stderr (empty for a PTY, which merges it).
    pub stderr: Vec<u8>,
    /// False when the channel ended because the connection went away.
    pub closed_cleanly: bool,
}

/// A channel running one command (or a shell), as a byte stream.
///
/// Reading gives the command's stdout (for a PTY: the terminal's output);
/// writing feeds its stdin; `shutdown` sends end-of-file. Dropping the
/// stream closes the channel.
pub struct SshStream {
    host: String,
    control: Arc<ChannelWriteHalf<Msg>>,
    writer: Pin<Box<dyn AsyncWrite + Send>>,
    data: mpsc::Receiver<Bytes>,
    pending: Bytes,
    exit: watch::Receiver<Option<StreamExit>>,
    /// Dropped with the stream: tells the pump to close the channel.
    _alive: oneshot::Sender<()>,
}

/// Resizes the remote terminal of an [`SshStream`].
#[derive(Clone)]
pub struct Resizer {
    host: String,
    control: Arc<ChannelWriteHalf<Msg>>,
}

impl Resizer {
    pub async fn resize(&self, cols: u16, rows: u16) -> Result<(), SshError> {
        self.control
            .window_change(u32::from(cols), u32::from(rows), 0, 0)
            .await
            .map_err(|_| SshError::ConnectionLost {
                host: self.host.clone(),
                during: "resizing a terminal".to_owned(),
                retryable: false,
            })
    }
}

impl std::fmt::Debug for SshStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SshStream")
            .field("host", &self.host)
            .field("channel", &self.control.id())
            .finish()
    }
}

impl SshStream {
    pub(crate) fn new(host: String, read: ChannelReadHalf, write: ChannelWriteHalf<Msg>) -> Self {
        let control = Arc::new(write);
        let writer: Pin<Box<dyn AsyncWrite + Send>> = Box::pin(control.make_writer());
        // A few packets in flight; a reader that stops reading holds the rest
        // back (russh then stops reading this connection).
        let (data_tx, data) = mpsc::channel(16);
        let (exit_tx, exit) = watch::channel(None);
        let (alive, dropped) = oneshot::channel();
        tokio::spawn(pump(read, control.clone(), data_tx, exit_tx, dropped));
        SshStream {
            host,
            control,
            writer,
            data,
            pending: Bytes::new(),
            exit,
            _alive: alive,
        }
    }

    /// Tells the remote PTY its new size (ignored by a command without one).
    pub async fn resize(&self, cols: u16, rows: u16) -> Result<(), SshError> {
        self.resizer().resize(cols, rows).await
    }

    /// A handle that resizes this stream's terminal from anywhere (the
    /// stream itself is not `Sync`, so a task reading it cannot lend it).
    pub fn resizer(&self) -> Resizer {
        Resizer {
            host: self.host.clone(),
            control: self.control.clone(),
        }
    }

    /// Waits until the command has ended and the channel closed. Output not
    /// yet read is discarded when the stream is no longer read, so read to
    /// the end first if it matters.
    pub async fn wait(&mut self) -> StreamExit {
        // Stop holding output back so the command can finish.
        self.data.close();
        let mut exit = self.exit.clone();
        let result = exit.wait_for(Option::is_some).await;
        match result {
            Ok(v) => v.clone().unwrap_or_else(lost),
            Err(_) => lost(),
        }
    }

    /// The exit, if the channel has already closed.
    pub fn try_exit(&self) -> Option<StreamExit> {
        self.exit.borrow().clone()
    }
}

fn lost() -> StreamExit {
    StreamExit {
        status: ExitStatus::Unknown,
        stderr: Vec::new(),
        closed_cleanly: false,
    }
}

async fn pump(
    mut read: ChannelReadHalf,
    control: Arc<ChannelWriteHalf<Msg>>,
    data_tx: mpsc::Sender<Bytes>,
    exit_tx: watch::Sender<Option<StreamExit>>,
    mut dropped: oneshot::Receiver<()>,
) {
    let mut data_tx = Some(data_tx);
    let mut open = true;
    let mut status = ExitStatus::Unknown;
    let mut stderr: Vec<u8> = Vec::new();
    let mut closed_cleanly = false;
    loop {
        let msg = tokio::select! {
            m = read.wait() => m,
            // `wait` gave up on the output: drain for the exit status only.
            () = closed(&data_tx) => { data_tx = None; continue; }
            // The stream was dropped: close the channel, drain until closed.
            _ = &mut dropped, if open => {
                open = false;
                let _ = control.close().await;
                continue;
            }
        };
        match msg {
            Some(ChannelMsg::Data { data }) => {
                if let Some(tx) = &data_tx
                    && tx.send(data).await.is_err()
                {
                    data_tx = None;
                }
            }
            Some(ChannelMsg::ExtendedData { data, ext: 1 }) => {
                stderr.extend_from_slice(&data);
                if stderr.len() > STDERR_TAIL {
                    stderr.drain(..stderr.len() - STDERR_TAIL);
                }
            }
            Some(ChannelMsg::Eof) => data_tx = None,
            Some(ChannelMsg::ExitStatus { exit_status }) => status = ExitStatus::Code(exit_status),
            Some(ChannelMsg::ExitSignal { signal_name, .. }) => {
                status = ExitStatus::Signal(format!("{signal_name:?}"));
            }
            Some(ChannelMsg::Close) => {
                closed_cleanly = true;
                break;
            }
            None => break,
            Some(_) => {}
        }
    }
    drop(data_tx);
    if open {
        let _ = control.close().await;
    }
    exit_tx.send_replace(Some(StreamExit {
        status,
        stderr,
        closed_cleanly,
    }));
}

/// Resolves when the reader is gone; never while there is none to watch.
async fn closed(tx: &Option<mpsc::Sender<Bytes>>) {
    match tx {
        Some(tx) => tx.closed().await,
        None => std::future::pending().await,
    }
}

impl AsyncRead for SshStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        loop {
            if !self.pending.is_empty() {
                let n = self.pending.len().min(buf.remaining());
                let chunk = self.pending.split_to(n);
                buf.put_slice(&chunk);
                return Poll::Ready(Ok(()));
            }
            match ready!(self.data.poll_recv(cx)) {
                Some(b) => self.pending = b,
                None => return Poll::Ready(Ok(())),
            }
        }
    }
}

impl AsyncWrite for SshStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.writer.as_mut().poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.writer.as_mut().poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.writer.as_mut().poll_shutdown(cx)
    }
}
