//! One framed, typed connection: requests in, responses out (or the other
//! way round for a client). Wraps `roam_mesh::frame` and the codec.

use bincode::{Decode, Encode};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::codec::{self, CodecError, MAX_MESSAGE};

#[derive(Debug, thiserror::Error)]
pub enum ConnError {
    #[error(transparent)]
    Frame(#[from] roam_mesh::FrameError),
    #[error(transparent)]
    Codec(#[from] CodecError),
}

pub async fn recv<T: Decode<()>, R: AsyncRead + Unpin>(r: &mut R) -> Result<Option<T>, ConnError> {
    match roam_mesh::read_frame(r, MAX_MESSAGE).await? {
        Some(bytes) => Ok(Some(codec::decode(&bytes)?)),
        None => Ok(None),
    }
}

pub async fn send<T: Encode, W: AsyncWrite + Unpin>(w: &mut W, value: &T) -> Result<(), ConnError> {
    let bytes = codec::encode(value)?;
    roam_mesh::write_frame(w, &bytes).await?;
    Ok(())
}

/// Frames read on a task of their own and handed over a channel. Reading a
/// frame is not cancel-safe, so it must never race in `select!`; receiving
/// from this is. It ends when the stream ends or sends garbage (then
/// `take_error` says what was wrong), and the task stops when this is dropped.
pub struct FrameReader<T> {
    frames: tokio::sync::mpsc::Receiver<Result<T, ConnError>>,
    error: Option<ConnError>,
    task: tokio::task::JoinHandle<()>,
}

impl<T: Decode<()> + Send + 'static> FrameReader<T> {
    pub fn spawn<R: AsyncRead + Unpin + Send + 'static>(reader: R, depth: usize) -> FrameReader<T> {
        Self::spawn_inner(reader, depth, None)
    }

    /// As `spawn`, noting `hop` as each frame is read (`roam_hops`).
    pub fn spawn_marked<R: AsyncRead + Unpin + Send + 'static>(
        reader: R,
        depth: usize,
        hop: roam_hops::Hop,
    ) -> FrameReader<T> {
        Self::spawn_inner(reader, depth, Some(hop))
    }

    fn spawn_inner<R: AsyncRead + Unpin + Send + 'static>(
        mut reader: R,
        depth: usize,
        hop: Option<roam_hops::Hop>,
    ) -> FrameReader<T> {
        let (tx, frames) = tokio::sync::mpsc::channel(depth);
        let task = tokio::spawn(async move {
            loop {
                let frame = match recv::<T, _>(&mut reader).await {
                    Ok(Some(frame)) => {
                        if let Some(hop) = hop {
                            roam_hops::mark(hop);
                        }
                        Ok(frame)
                    }
                    Ok(None) => break,
                    Err(e) => Err(e),
                };
                let last = frame.is_err();
                if tx.send(frame).await.is_err() || last {
                    break;
                }
            }
        });
        FrameReader {
            frames,
            error: None,
            task,
        }
    }

    /// The next frame; `None` once the stream has ended (cancel-safe).
    pub async fn recv(&mut self) -> Option<T> {
        match self.frames.recv().await? {
            Ok(frame) => Some(frame),
            Err(e) => {
                self.error = Some(e);
                None
            }
        }
    }

    /// Why the stream ended, if it was not a clean close.
    pub fn take_error(&mut self) -> Option<ConnError> {
        self.error.take()
    }
}

impl<T> Drop for FrameReader<T> {
    fn drop(&mut self) {
        self.task.abort();
    }
}
