//! Blocking wrappers of [`crate::send`] and [`crate::receive`] over a TCP
//! socket, for callers without a tokio runtime (tools, benchmarks); each call
//! runs its own current-thread runtime.

use std::path::Path;

use crate::transfer::{Progress, TransferError};
use crate::{GitError, Mirrors, ReceiveOptions, Received, Sent};

fn runtime() -> Result<tokio::runtime::Runtime, TransferError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| TransferError::Git(GitError::Spawn { source }))
}

fn to_tokio(stream: std::net::TcpStream) -> Result<tokio::net::TcpStream, TransferError> {
    stream
        .set_nonblocking(true)
        .and_then(|()| tokio::net::TcpStream::from_std(stream))
        .map_err(TransferError::stream("setting up the socket"))
}

/// [`crate::send`] over a connected TCP socket.
pub fn send_tcp(
    repo_dir: &Path,
    rev: &str,
    ref_name: &str,
    stream: std::net::TcpStream,
    progress: impl FnMut(Progress) + Send,
) -> Result<Sent, TransferError> {
    let rt = runtime()?;
    rt.block_on(async {
        let mut s = to_tokio(stream)?;
        crate::send(repo_dir, rev, ref_name, &mut s, progress).await
    })
}

/// [`crate::receive`] over a connected TCP socket.
pub fn receive_tcp(
    mirrors: &Mirrors,
    stream: std::net::TcpStream,
    opts: &ReceiveOptions,
    progress: impl FnMut(Progress) + Send,
) -> Result<Received, TransferError> {
    let rt = runtime()?;
    rt.block_on(async {
        let mut s = to_tokio(stream)?;
        crate::receive(mirrors, &mut s, opts, progress).await
    })
}
