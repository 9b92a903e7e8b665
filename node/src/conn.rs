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
/// from this is. It ends when the stream ends or sends garbage, and the
/// task stops when this is dropped.
pub struct FrameReader<T> {
    frames: tokio::sync::mpsc::Receiver<T>,
    task: tokio::task::JoinHandle<()>,
}

impl<T: Decode<()> + Send + 'static> FrameReader<T> {
    pub fn spawn<R: AsyncRead + Unpin + Send + 'static>(
        mut reader: R,
        depth: usize,
    ) -> FrameReader<T> {
        let (tx, frames) = tokio::sync::mpsc::channel(depth);
        let task = tokio::spawn(async move {
            while let Ok(Some(frame)) = recv::<T, _>(&mut reader).await {
                if tx.send(frame).await.is_err() {
                    break;
                }
            }
        });
        FrameReader { frames, task }
    }

    pub async fn recv(&mut self) -> Option<T> {
        self.frames.recv().await
    }
}

impl<T> Drop for FrameReader<T> {
    fn drop(&mut self) {
        self.task.abort();
    }
}
