//! Where `roam attach` reads keys from. When standard input is a
//! terminal, that terminal is opened again (by its name) and read without
//! blocking on the runtime's own thread: a key then reaches the node with
//! no thread waking another on the way, the dearest step a keystroke had.
//! The new open file is ours alone, so making it non-blocking never
//! touches the shell's standard input. Otherwise (a pipe, a file), input is
//! read on a thread of its own.

use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use nix::fcntl::{FcntlArg, OFlag, fcntl};
use tokio::io::AsyncReadExt;
use tokio::net::unix::pipe;
use tokio::sync::mpsc;

pub enum Keyboard {
    Terminal(pipe::Receiver, Box<[u8; 4096]>),
    Thread(mpsc::Receiver<Vec<u8>>),
}

impl Keyboard {
    pub fn open() -> Keyboard {
        match open_terminal() {
            Some(tty) => Keyboard::Terminal(tty, Box::new([0; 4096])),
            None => Keyboard::Thread(stdin_thread()),
        }
    }

    /// The next keys; `None` at the end of input. Cancel-safe.
    pub async fn next(&mut self) -> Option<Vec<u8>> {
        let keys = self.read().await;
        roam_hops::mark(roam_hops::Hop::CliKeyRead);
        keys
    }

    async fn read(&mut self) -> Option<Vec<u8>> {
        match self {
            Keyboard::Terminal(tty, buf) => match tty.read(&mut buf[..]).await {
                Ok(n) if n > 0 => Some(buf[..n].to_vec()),
                _ => None,
            },
            Keyboard::Thread(keys) => keys.recv().await,
        }
    }
}

/// Standard input's terminal, opened anew under its own name (not
/// `/dev/tty`, which is a device of its own), if standard input is one.
fn open_terminal() -> Option<pipe::Receiver> {
    let name = nix::unistd::ttyname(std::io::stdin().as_fd()).ok()?;
    let tty = std::fs::File::open(name).ok()?;
    let same = match (
        nix::sys::stat::fstat(0),
        nix::sys::stat::fstat(tty.as_raw_fd()),
    ) {
        (Ok(stdin), Ok(ours)) => {
            stdin.st_rdev == ours.st_rdev && (stdin.st_mode & libc::S_IFMT) == libc::S_IFCHR
        }
        _ => false,
    };
    if !same {
        return None;
    }
    let flags = OFlag::from_bits_truncate(fcntl(tty.as_raw_fd(), FcntlArg::F_GETFL).ok()?);
    fcntl(
        tty.as_raw_fd(),
        FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK),
    )
    .ok()?;
    pipe::Receiver::from_owned_fd_unchecked(OwnedFd::from(tty)).ok()
}

/// Standard input, read on a thread (reading it blocks).
fn stdin_thread() -> mpsc::Receiver<Vec<u8>> {
    let (keys_tx, keys) = mpsc::channel::<Vec<u8>>(64);
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        let mut buf = [0u8; 4096];
        while let Ok(n) = stdin.read(&mut buf) {
            if n == 0 || keys_tx.blocking_send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    keys
}
