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
