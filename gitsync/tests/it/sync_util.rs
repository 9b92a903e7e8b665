//! Helpers for capture/transfer/restore tests: running both sides of a
//! transfer, recording and replaying a sender, and comparing worktree states.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use roam_gitsync::{Mirrors, ReceiveOptions, Received, Sent, TransferError, receive, send};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};

use crate::common::{git, git_bytes};

pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

pub type Both = (Result<Sent, TransferError>, Result<Received, TransferError>);

/// Runs `send` and `receive` against each other over an in-memory stream.
/// Each side drops its end when done, so a failing side never leaves the
/// other waiting.
pub fn transfer(
    src: &Path,
    rev: &str,
    ref_name: &str,
    to: &Mirrors,
    opts: &ReceiveOptions,
) -> Both {
    rt().block_on(async {
        let (mut a, mut b) = tokio::io::duplex(64 * 1024);
        let sender = async move {
            let r = send(src, rev, ref_name, &mut a, |_| {}).await;
            drop(a);
            r
        };
        let receiver = async move {
            let r = receive(to, &mut b, opts, |_| {}).await;
            drop(b);
            r
        };
        tokio::join!(sender, receiver)
    })
}

/// Records everything the sender writes while transferring to `to`.
pub fn record(src: &Path, rev: &str, ref_name: &str, to: &Mirrors) -> Vec<u8> {
    let log = Arc::new(Mutex::new(Vec::new()));
    let tap_log = log.clone();
    rt().block_on(async {
        let (a, mut b) = tokio::io::duplex(64 * 1024);
        let mut tap = Tap {
            inner: a,
            log: tap_log,
        };
        let opts = ReceiveOptions::default();
        let (s, r) = tokio::join!(
            send(src, rev, ref_name, &mut tap, |_| {}),
            receive(to, &mut b, &opts, |_| {})
        );
        s.unwrap();
        r.unwrap();
    });
    // The tap (holding the other Arc) is gone once the transfer is done.
    Arc::try_unwrap(log).unwrap().into_inner().unwrap()
}

/// Feeds `bytes` (e.g. a mangled recording) to a receiver as if a sender wrote them.
pub fn replay(bytes: Vec<u8>, to: &Mirrors) -> Result<Received, TransferError> {
    rt().block_on(async {
        let (mut feeder, mut rx) = tokio::io::duplex(64 * 1024);
        let feed = tokio::spawn(async move {
            let _ = feeder.write_all(&bytes).await;
            // End of stream where the sender broke off; the feeder itself
            // stays open so the receiver's replies don't hit a broken pipe.
            let _ = feeder.shutdown().await;
            feeder
        });
        let r = receive(to, &mut rx, &ReceiveOptions::default(), |_| {}).await;
        drop(rx);
        drop(feed.await.unwrap());
        r
    })
}

/// Feeds `bytes` to a receiver and then sends nothing more, keeping the
/// stream open like a peer that hangs. Panics if the receiver never gives up.
pub fn replay_then_stall(
    bytes: Vec<u8>,
    to: &Mirrors,
    opts: &ReceiveOptions,
) -> Result<Received, TransferError> {
    rt().block_on(async {
        let (mut feeder, mut rx) = tokio::io::duplex(64 * 1024);
        let feed = tokio::spawn(async move {
            let _ = feeder.write_all(&bytes).await;
            feeder
        });
        // Only a guard against hanging the test run, far above the limits tested.
        let r = tokio::time::timeout(
            std::time::Duration::from_secs(600),
            receive(to, &mut rx, opts, |_| {}),
        )
        .await
        .expect("the receiver never gave up on a stalled sender");
        drop(rx);
        drop(feed.await.unwrap());
        r
    })
}

/// The offer frame a recording starts with.
pub fn offer_frame(recording: &[u8]) -> &[u8] {
    let offer_len = u32::from_be_bytes(recording[1..5].try_into().unwrap()) as usize;
    &recording[..5 + offer_len]
}

/// What a sender writes after `offer` to ship `pack`: data frames and done.
pub fn frames(offer: &[u8], pack: &[u8]) -> Vec<u8> {
    let mut out = offer.to_vec();
    for chunk in pack.chunks(64 * 1024) {
        out.push(3);
        out.extend_from_slice(&(chunk.len() as u32).to_be_bytes());
        out.extend_from_slice(chunk);
    }
    out.push(4);
    out.extend_from_slice(&8u32.to_be_bytes());
    out.extend_from_slice(&(pack.len() as u64).to_be_bytes());
    out
}

/// Polls `cond` until it holds; panics naming `what` if it never does.
pub async fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let started = std::time::Instant::now();
    while !cond() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(600),
            "gave up waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// A stream that copies everything written through it into `log`.
struct Tap<S> {
    inner: S,
    log: Arc<Mutex<Vec<u8>>>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Tap<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tap<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = &r {
            self.log.lock().unwrap().extend_from_slice(&buf[..*n]);
        }
        r
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Offset of the first pack byte in a recording: after the offer frame and
/// the first data frame's header.
pub fn first_pack_byte(recording: &[u8]) -> usize {
    let offer_len = u32::from_be_bytes(recording[1..5].try_into().unwrap()) as usize;
    let data = 5 + offer_len;
    assert_eq!(recording[data], 3, "second frame is data");
    data + 5
}

/// One file's observable state.
#[derive(Debug, PartialEq, Eq, Clone)]
pub enum Entry {
    File { exec: bool, content: Vec<u8> },
    Symlink(String),
}

/// HEAD, branch, index and every file of a worktree (excluding `.git`).
#[derive(Debug, PartialEq, Eq)]
pub struct State {
    pub head: String,
    pub branch: String,
    pub index: String,
    pub files: Vec<(String, Entry)>,
}

pub fn state(dir: &Path) -> State {
    let branch = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["symbolic-ref", "-q", "HEAD"])
        .output()
        .unwrap();
    let mut files = Vec::new();
    walk(dir, dir, &mut files);
    files.sort_by(|a, b| a.0.cmp(&b.0));
    State {
        head: git(dir, &["rev-parse", "HEAD"]),
        branch: String::from_utf8_lossy(&branch.stdout).trim().to_owned(),
        index: String::from_utf8_lossy(&git_bytes(dir, &["ls-files", "-s", "-z"])).into_owned(),
        files,
    }
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, Entry)>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let path = e.path();
        let rel = path
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        if rel == ".git" {
            continue;
        }
        let meta = path.symlink_metadata().unwrap();
        if meta.is_symlink() {
            let target = std::fs::read_link(&path).unwrap();
            out.push((rel, Entry::Symlink(target.to_string_lossy().into_owned())));
        } else if meta.is_dir() {
            walk(root, &path, out);
        } else {
            let exec = meta.permissions().mode() & 0o111 != 0;
            out.push((
                rel,
                Entry::File {
                    exec,
                    content: std::fs::read(&path).unwrap(),
                },
            ));
        }
    }
}

/// Every ref of a repository with its target, for "nothing moved" checks.
pub fn refs(dir: &Path) -> String {
    git(dir, &["for-each-ref", "--format=%(refname) %(objectname)"])
}
