//! Byte-counting relays, so that every transfer is measured in real bytes on
//! the wire: a TCP relay thread (for protocols we connect ourselves), and the
//! stdio relay ssh runs as its `ProxyCommand` (this same binary, invoked as
//! `BIN relay HOST PORT COUNTFILE`; see `dispatch`).

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;

use anyhow::{Result, bail};

/// If this process was started as ssh's proxy (`BIN relay …`), relays and
/// returns its exit code; otherwise `None`. Binaries using
/// `Sshd::ssh_cmd` call this first thing in `main`.
pub fn dispatch() -> Option<ExitCode> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) != Some("relay") {
        return None;
    }
    Some(match relay_stdio(&args[2..]) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("relay: {e:#}");
            ExitCode::FAILURE
        }
    })
}

/// `relay HOST PORT COUNTFILE`: ssh's ProxyCommand. Copies stdin→socket and
/// socket→stdout. ssh kills its proxy when done, so the running total is
/// rewritten to `COUNTFILE.<pid>` after every chunk rather than at the end.
fn relay_stdio(args: &[String]) -> Result<()> {
    let [host, port, count] = args else {
        bail!("usage: relay HOST PORT COUNTFILE")
    };
    let sock = TcpStream::connect((host.as_str(), port.parse::<u16>()?))?;
    let total = Arc::new(AtomicU64::new(0));
    let file = PathBuf::from(format!("{count}.{}", std::process::id()));
    let mut w = sock.try_clone()?;
    let (t2, f2) = (total.clone(), file.clone());
    let t = std::thread::spawn(move || {
        let _ = copy_reporting(&mut std::io::stdin(), &mut w, &t2, &f2);
        let _ = w.shutdown(Shutdown::Write);
    });
    let mut r = sock;
    let _ = copy_reporting(&mut r, &mut std::io::stdout(), &total, &file);
    let _ = t.join();
    Ok(())
}

fn copy_reporting(
    r: &mut impl Read,
    w: &mut impl Write,
    n: &AtomicU64,
    file: &Path,
) -> std::io::Result<()> {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let k = r.read(&mut buf)?;
        if k == 0 {
            return Ok(());
        }
        // Counted before forwarding: once the peer has the bytes, ssh may kill us.
        let total = n.fetch_add(k as u64, Ordering::SeqCst) + k as u64;
        // Write-then-rename: ssh may kill us mid-write, and a truncated
        // file would lose the whole count instead of at most this chunk.
        // The two directions write their own temp file; a failed count
        // write must never break the connection it is measuring.
        let tmp = PathBuf::from(format!(
            "{}.{:?}.tmp",
            file.display(),
            std::thread::current().id()
        ));
        if std::fs::write(&tmp, total.to_string()).is_ok() {
            let _ = std::fs::rename(&tmp, file);
        }
        w.write_all(&buf[..k])?;
        w.flush()?;
    }
}

/// Sums and removes the `<count>.<pid>` files the stdio relays wrote.
pub fn counted(count: &Path) -> u64 {
    let (Some(dir), Some(prefix)) = (count.parent(), count.file_name()) else {
        return 0;
    };
    let prefix = format!("{}.", prefix.to_string_lossy());
    let mut total = 0;
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.ends_with(".tmp") {
            let _ = std::fs::remove_file(e.path());
        } else if name.starts_with(&prefix) {
            total += std::fs::read_to_string(e.path())
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
                .unwrap_or(0);
            let _ = std::fs::remove_file(e.path());
        }
    }
    total
}

/// A one-connection TCP relay to `target`, counting bytes both ways.
pub struct TcpRelay {
    /// Where to connect instead of `target`.
    pub addr: SocketAddr,
    bytes: Arc<AtomicU64>,
    thread: JoinHandle<std::io::Result<()>>,
}

impl TcpRelay {
    pub fn start(target: SocketAddr) -> Result<TcpRelay> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let bytes = Arc::new(AtomicU64::new(0));
        let b = bytes.clone();
        let thread = std::thread::spawn(move || -> std::io::Result<()> {
            let (client, _) = listener.accept()?;
            let server = TcpStream::connect(target)?;
            let (mut c2, mut s2) = (client.try_clone()?, server.try_clone()?);
            let b2 = b.clone();
            let t = std::thread::spawn(move || {
                let _ = copy_counting(&mut c2, &mut s2, &b2);
                let _ = s2.shutdown(Shutdown::Write);
            });
            let (mut c, mut s) = (client, server);
            let _ = copy_counting(&mut s, &mut c, &b);
            let _ = c.shutdown(Shutdown::Write);
            let _ = t.join();
            Ok(())
        });
        Ok(TcpRelay {
            addr,
            bytes,
            thread,
        })
    }

    /// Waits for the connection to end; returns the bytes relayed both ways.
    pub fn finish(self) -> u64 {
        let _ = self.thread.join();
        self.bytes.load(Ordering::Relaxed)
    }
}

fn copy_counting(r: &mut impl Read, w: &mut impl Write, n: &AtomicU64) -> std::io::Result<()> {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let k = r.read(&mut buf)?;
        if k == 0 {
            return Ok(());
        }
        w.write_all(&buf[..k])?;
        w.flush()?;
        n.fetch_add(k as u64, Ordering::Relaxed);
    }
}
