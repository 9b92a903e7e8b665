//! The client side of the control socket, used by the `roam` CLI.

use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};

use crate::api::{Down, Envelope, Request, Response, Up};
use crate::conn::{self, ConnError};
use crate::paths::Paths;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("no node is running with data dir {home}")]
    NotRunning { home: String },
    #[error("lost the connection to the node: {0}")]
    Conn(#[from] ConnError),
    #[error("the node closed the connection")]
    Closed,
    /// The node refused or failed the request; `kind` says which way.
    #[error("{message}")]
    Node {
        kind: crate::api::ErrorKind,
        message: String,
    },
    #[error("unexpected answer from the node: {0}")]
    Unexpected(String),
}

pub struct Client {
    reader: OwnedReadHalf,
    writer: OwnedWriteHalf,
}

impl Client {
    pub async fn connect(paths: &Paths) -> Result<Client, ClientError> {
        let stream =
            UnixStream::connect(paths.socket())
                .await
                .map_err(|_| ClientError::NotRunning {
                    home: paths.home.display().to_string(),
                })?;
        let (reader, writer) = stream.into_split();
        Ok(Client { reader, writer })
    }

    /// Sends a request and returns its answer; `Response::Error` becomes
    /// `ClientError::Node` with the node's message.
    pub async fn request(&mut self, request: Request) -> Result<Response, ClientError> {
        conn::send(&mut self.writer, &Envelope::new(request)).await?;
        match conn::recv::<Response, _>(&mut self.reader).await? {
            Some(Response::Error { kind, message }) => Err(ClientError::Node { kind, message }),
            Some(r) => Ok(r),
            None => Err(ClientError::Closed),
        }
    }

    pub async fn ping(&mut self) -> Result<u32, ClientError> {
        match self.request(Request::Ping).await? {
            Response::Pong { pid, .. } => Ok(pid),
            other => Err(ClientError::Unexpected(format!("{other:?}"))),
        }
    }

    /// After `Response::Streaming` on a raw stream (`HostPipe`): the bytes.
    pub fn into_raw(self) -> (OwnedReadHalf, OwnedWriteHalf) {
        (self.reader, self.writer)
    }

    /// After `Response::Streaming`: the two directions of the stream.
    /// Must be called inside a tokio runtime: frames are read on a task.
    pub fn into_stream(self) -> (DownStream, UpStream) {
        (
            DownStream {
                frames: conn::FrameReader::spawn(self.reader, 64),
            },
            UpStream {
                writer: self.writer,
            },
        )
    }
}

/// The node's side of a terminal stream. Frames are read on a task of
/// their own, so `recv` is cancel-safe and may race keys and window
/// changes in `select!` without losing half a frame.
pub struct DownStream {
    frames: conn::FrameReader<Down>,
}

impl DownStream {
    /// The next frame; `Ok(None)` once the stream ends cleanly.
    pub async fn recv(&mut self) -> Result<Option<Down>, ClientError> {
        match self.frames.recv().await {
            Some(frame) => Ok(Some(frame)),
            None => match self.frames.take_error() {
                Some(e) => Err(e.into()),
                None => Ok(None),
            },
        }
    }
}

pub struct UpStream {
    writer: OwnedWriteHalf,
}

impl UpStream {
    pub async fn send(&mut self, up: &Up) -> Result<(), ClientError> {
        Ok(conn::send(&mut self.writer, up).await?)
    }
}
