//! Shipping a snapshot ref between two stores over any async byte stream,
//! sending only the objects the receiver lacks.
//!
//! Protocol (framed by [`crate::wire`]):
//!
//! 1. sender → `Offer { key, roots, tip, ref_name }`: the repo identity and what to write.
//! 2. receiver → `Haves(tips)`: every ref tip of its mirror for that identity
//!    (none for a cold receiver), or `Refused` (e.g. a different repo than expected).
//! 3. sender → `Data*`, `Done`: `git pack-objects --stdout --thin --revs` of
//!    `tip ^have...`, i.e. only objects not reachable from what the receiver has,
//!    deltified against objects it has.
//! 4. receiver: `git index-pack --stdin --fix-thin --strict` into a quarantine
//!    object directory (the mirror's objects only as an alternate), counting
//!    bytes against its cap as they arrive, then checks every object reachable
//!    from `tip` exists, that the pack holds nothing else the mirror lacked, and
//!    that `tip` descends from the offered root; only then moves the pack in and
//!    updates the ref → `Accepted`. The whole receive holds the mirror's lock
//!    and runs under an idle timeout and a deadline.
//!
//! Why this and not `git bundle` or git's own fetch negotiation: a bundle with
//! prerequisites needs the sender to know the receiver's tips anyway (one round
//! trip, as here) and adds a file on disk on both sides; git's
//! upload-pack/fetch-pack negotiation needs `git` to own the stream (a
//! transport helper or `ext::`), which does not fit "any async stream" and
//! gives no hook for quarantine or progress. One round trip of haves is
//! enough because a mirror has few refs; thin packs make a small change cost
//! about its own size. Any failure before the ref update leaves refs exactly
//! as they were, and the quarantine (with every received object) is deleted.

use std::ffi::OsString;
use std::path::Path;
use std::process::Stdio;

use tokio::io::AsyncReadExt;

use crate::cmd::LOCATION_ENV;
use crate::wire::WireError;
use crate::{GitError, Oid};

/// Everything that can go wrong in [`crate::send`] or [`crate::receive`].
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    /// Reading or writing the stream failed.
    #[error("transfer stream failed while {doing}: {source}")]
    Stream {
        doing: &'static str,
        source: std::io::Error,
    },
    /// The stream ended early (the transfer broke off).
    #[error("peer closed the connection while {doing}")]
    Closed { doing: &'static str },
    /// The peer sent something that is not this protocol.
    #[error("peer sent a malformed message while {doing}: {why}")]
    Protocol { doing: &'static str, why: String },
    /// The other side refused, with its reason.
    #[error("peer refused the transfer: {0}")]
    Refused(String),
    /// The offered objects belong to another project (no shared root commit).
    #[error("objects for a different repo: expected root {expected}, got {got}")]
    DifferentRepo { expected: String, got: String },
    /// The ref to write is outside `refs/roam/` or not a valid ref name.
    #[error("refusing to write ref '{0}': only valid refs under refs/roam/ may be written")]
    BadRef(String),
    /// The received pack is corrupt, truncated or incomplete.
    #[error("received pack rejected: {0}")]
    BadPack(String),
    /// The receiver could not store the objects (disk full, file size limit).
    #[error("could not store received objects (disk full?): {0}")]
    Storage(String),
    /// The peer sent nothing (or read nothing) for the receiver's idle timeout.
    #[error("peer sent nothing for {idle:?} while {doing}; giving up")]
    Stalled {
        doing: &'static str,
        idle: std::time::Duration,
    },
    /// The whole transfer took longer than the receiver allows.
    #[error("transfer ran past the receiver's limit of {limit:?} while {doing}")]
    TimedOut {
        doing: &'static str,
        limit: std::time::Duration,
    },
    /// The pack is larger than the receiver accepts.
    #[error("pack exceeds the receiver's limit of {limit} bytes")]
    TooLarge { limit: u64 },
    /// A local git command failed.
    #[error(transparent)]
    Git(#[from] GitError),
}

impl TransferError {
    pub(crate) fn wire(doing: &'static str, e: WireError) -> TransferError {
        match e {
            WireError::Io(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                TransferError::Closed { doing }
            }
            WireError::Io(source) => TransferError::Stream { doing, source },
            WireError::Closed => TransferError::Closed { doing },
            WireError::Malformed(why) => TransferError::Protocol { doing, why },
        }
    }

    pub(crate) fn stream(doing: &'static str) -> impl FnOnce(std::io::Error) -> TransferError {
        move |source| TransferError::Stream { doing, source }
    }
}

/// How far a transfer has got, reported as pack bytes flow.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// Pack bytes sent or received so far.
    pub bytes: u64,
    /// Objects in the pack (from its header; 0 until the header has passed).
    pub objects: u32,
}

/// Tracks bytes and reads the object count from the 12-byte pack header.
#[derive(Default)]
pub(crate) struct PackCounter {
    header: Vec<u8>,
    pub(crate) progress: Progress,
}

impl PackCounter {
    pub(crate) fn add(&mut self, chunk: &[u8]) -> Progress {
        self.progress.bytes += chunk.len() as u64;
        if self.header.len() < 12 {
            let need = 12 - self.header.len();
            self.header
                .extend_from_slice(&chunk[..need.min(chunk.len())]);
            if let Some(count) = self.header.get(8..12)
                && self.header.starts_with(b"PACK")
            {
                let mut n = [0u8; 4];
                n.copy_from_slice(count);
                self.progress.objects = u32::from_be_bytes(n);
            }
        }
        self.progress
    }
}

/// A `git -C dir` command for tokio, with the same fixed environment as the
/// blocking [`crate::cmd::Git`], optionally run through `wrapper` (e.g.
/// `nice`, `ionice`, `prlimit ... --`).
pub(crate) fn git(dir: &Path, wrapper: &[OsString]) -> tokio::process::Command {
    let mut cmd = match wrapper.split_first() {
        Some((program, rest)) => {
            let mut c = tokio::process::Command::new(program);
            c.args(rest).arg("git");
            c
        }
        None => tokio::process::Command::new("git"),
    };
    cmd.arg("-C").arg(dir);
    for var in LOCATION_ENV {
        cmd.env_remove(var);
    }
    cmd.env("LC_ALL", "C")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_OPTIONAL_LOCKS", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // A transfer future that is dropped must not leave git running.
        .kill_on_drop(true);
    cmd
}

/// Runs `cmd` to completion feeding it `input`, requiring success; returns stdout.
pub(crate) async fn run(
    mut cmd: tokio::process::Command,
    what: &str,
    input: Option<Vec<u8>>,
) -> Result<Vec<u8>, GitError> {
    use tokio::io::AsyncWriteExt;
    if input.is_some() {
        cmd.stdin(Stdio::piped());
    }
    let mut child = cmd.spawn().map_err(|source| GitError::Spawn { source })?;
    if let (Some(input), Some(mut stdin)) = (input, child.stdin.take()) {
        // Written concurrently with reading output, so a large input cannot
        // deadlock against a full stdout pipe.
        let writer = tokio::spawn(async move {
            let _ = stdin.write_all(&input).await;
        });
        let out = child
            .wait_with_output()
            .await
            .map_err(|source| GitError::Spawn { source })?;
        let _ = writer.await;
        return check(what, out);
    }
    let out = child
        .wait_with_output()
        .await
        .map_err(|source| GitError::Spawn { source })?;
    check(what, out)
}

fn check(what: &str, out: std::process::Output) -> Result<Vec<u8>, GitError> {
    if out.status.success() {
        Ok(out.stdout)
    } else {
        Err(crate::cmd::failed(format!("git {what}"), &out))
    }
}

/// Reads a child's remaining stderr, bounded, for an error message.
pub(crate) async fn read_stderr(child: &mut tokio::process::Child) -> String {
    let mut buf = Vec::new();
    if let Some(err) = child.stderr.take() {
        let _ = err.take(64 * 1024).read_to_end(&mut buf).await;
    }
    String::from_utf8_lossy(&buf).trim().to_owned()
}

/// Parses one oid per line.
pub(crate) fn oids(out: &[u8]) -> Vec<Oid> {
    String::from_utf8_lossy(out)
        .lines()
        .filter_map(Oid::parse)
        .collect()
}
