//! The PTY master, read and written by the holder's own loop: duplicates
//! of its descriptor, non-blocking, under tokio's reactor (as a pipe's two
//! ends: to epoll a terminal is a pipe). A keystroke and a chunk of output
//! then cross no thread inside the holder (a thread waking another is the
//! dearest step on a keystroke's path), and an agent that stops reading
//! its terminal leaves a write waiting, not a thread blocked.
//!
//! Hand-written rather than through portable-pty's reader and writer: those
//! are blocking `Read`/`Write` objects, to be driven from threads.

use std::io;
use std::os::fd::{AsFd, BorrowedFd};

use nix::fcntl::{FcntlArg, OFlag, fcntl};
use portable_pty::MasterPty;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::pipe;

/// The terminal's output side.
pub struct PtyReader(pipe::Receiver);
/// The terminal's input side.
pub struct PtyWriter(pipe::Sender);

/// Both sides of `master`'s terminal.
pub fn open(master: &dyn MasterPty) -> io::Result<(PtyReader, PtyWriter)> {
    let raw = master
        .as_raw_fd()
        .ok_or_else(|| io::Error::other("the pty has no descriptor"))?;
    // SAFETY: `raw` is the master's descriptor, open for as long as the
    // master lives, which is past this function: it is borrowed only to
    // be duplicated. portable-pty hands out no owned descriptor.
    #[allow(unsafe_code)]
    let master_fd = unsafe { BorrowedFd::borrow_raw(raw) };
    let (reader, writer) = (
        master_fd.try_clone_to_owned()?,
        master_fd.try_clone_to_owned()?,
    );
    // One open file: the flag holds for every descriptor of it.
    let flags = OFlag::from_bits_truncate(fcntl(
        std::os::fd::AsRawFd::as_raw_fd(&reader.as_fd()),
        FcntlArg::F_GETFL,
    )?);
    fcntl(
        std::os::fd::AsRawFd::as_raw_fd(&reader.as_fd()),
        FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK),
    )?;
    Ok((
        PtyReader(pipe::Receiver::from_owned_fd_unchecked(reader)?),
        PtyWriter(pipe::Sender::from_owned_fd_unchecked(writer)?),
    ))
}

impl PtyReader {
    /// Reads what the terminal has; 0 once every writer closed it (Linux
    /// says EIO then). Cancel-safe.
    pub async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.0.read(buf).await {
            Err(e) if e.raw_os_error() == Some(libc::EIO) => Ok(0),
            other => other,
        }
    }
}

impl PtyWriter {
    /// Writes what the terminal takes of `buf` now, waiting while it takes
    /// nothing. Cancel-safe.
    pub async fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf).await
    }
}
