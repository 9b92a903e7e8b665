//! The receiving side of a transfer (see [`crate::transfer`] for the protocol):
//! quarantine, verify, and only then move objects in and update the ref.

use std::ffi::OsString;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use crate::mirror::MirrorLock;
use crate::quarantine::Quarantine;
use crate::transfer::{self, PackCounter, Progress, TransferError};
use crate::verify::verify;
use crate::wire::{self, Msg};
use crate::{GitError, Mirror, Mirrors, Oid, RepoId};

/// The default [`ReceiveOptions::max_pack_bytes`]: 4 GiB. The first transfer
/// of a repo carries its whole history; hosting services refuse pushes over
/// 2 GiB and warn about repositories near 5 GB, so this fits every repository
/// they hold while keeping what one peer can make a node write bounded.
pub const DEFAULT_MAX_PACK_BYTES: u64 = 4 << 30;

/// How a receiver treats what it is offered.
#[derive(Clone, Debug)]
pub struct ReceiveOptions {
    /// The repo the receiver expects (e.g. from the workspace record); an offer
    /// sharing no root commit with it is refused as a different repo.
    pub expect: Option<RepoId>,
    /// Largest pack accepted, in bytes, counted as it arrives (and given to
    /// `git index-pack --max-input-size`), so a bigger one is cut off there.
    pub max_pack_bytes: u64,
    /// Longest the peer may send nothing (or read nothing we send) before the
    /// transfer is abandoned as stalled.
    pub idle_timeout: Duration,
    /// Longest the whole receive may take, including waiting for another
    /// receive into the same mirror, indexing and verifying; a peer trickling
    /// bytes just fast enough to never be idle is stopped by this.
    pub deadline: Duration,
    /// Program and arguments `git index-pack` runs under (e.g. `nice`, or
    /// `prlimit --fsize=N --` to cap what one transfer may write); empty for none.
    pub index_pack_wrapper: Vec<OsString>,
}

impl Default for ReceiveOptions {
    fn default() -> ReceiveOptions {
        ReceiveOptions {
            expect: None,
            max_pack_bytes: DEFAULT_MAX_PACK_BYTES,
            // Long enough for a sender's `pack-objects` to count and compress
            // a big repository before its first byte, short enough that a
            // vanished peer does not hold the mirror's lock for long.
            idle_timeout: Duration::from_secs(120),
            // A full 4 GiB pack at about 10 Mbit/s, plus indexing it.
            deadline: Duration::from_secs(2 * 60 * 60),
            index_pack_wrapper: Vec::new(),
        }
    }
}

/// What a finished receive stored.
#[derive(Clone, Debug)]
pub struct Received {
    /// The mirror that now holds the objects.
    pub mirror: Mirror,
    /// The ref that was written, e.g. `refs/roam/sync/NAME`.
    pub ref_name: String,
    /// The commit it points at.
    pub tip: Oid,
    /// Pack bytes received.
    pub pack_bytes: u64,
    /// Objects in the pack.
    pub objects: u32,
}

/// Receives one offer into the mirror for its repo identity (created if this
/// node has none). On any error the receiver's refs are unchanged and the
/// received objects are discarded; the sender is told why. Receives into one
/// mirror run one at a time (an `flock` per mirror), so a failed first
/// transfer can remove the mirror it made without removing another's.
pub async fn receive<S>(
    mirrors: &Mirrors,
    stream: &mut S,
    opts: &ReceiveOptions,
    mut progress: impl FnMut(Progress) + Send,
) -> Result<Received, TransferError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let clock = Clock::start(opts);
    let doing = "waiting for an offer";
    let offer = match clock
        .peer(doing, async {
            wire::read(stream)
                .await
                .map_err(|e| TransferError::wire(doing, e))
        })
        .await?
    {
        Msg::Offer {
            key,
            roots,
            tip,
            ref_name,
        } => (RepoId { key, roots }, tip, ref_name),
        _ => {
            return Err(TransferError::Protocol {
                doing,
                why: "expected an offer".into(),
            });
        }
    };
    let result = accept(mirrors, stream, opts, &clock, offer, &mut progress).await;
    let reply = match &result {
        Ok(_) => Msg::Accepted,
        Err(e) => Msg::Refused(e.to_string()),
    };
    // Best effort when failing: the stream may be what broke. Bounded, so a
    // peer that stopped reading cannot hold us here.
    let sent = tokio::time::timeout(opts.idle_timeout, wire::write(stream, &reply)).await;
    match (result, sent) {
        (Ok(received), Ok(Ok(()))) => Ok(received),
        // The objects are stored and the ref moved; the sender just won't hear it.
        (Ok(received), Ok(Err(e))) => {
            tracing::warn!(error = %e, "could not acknowledge a completed transfer");
            Ok(received)
        }
        (Ok(received), Err(_)) => {
            tracing::warn!("could not acknowledge a completed transfer: peer stopped reading");
            Ok(received)
        }
        (Err(e), _) => Err(e),
    }
}

/// The receive's two time limits: the peer's idle time and the whole deadline.
struct Clock {
    started: Instant,
    idle: Duration,
    deadline: Duration,
}

impl Clock {
    fn start(opts: &ReceiveOptions) -> Clock {
        Clock {
            started: Instant::now(),
            idle: opts.idle_timeout,
            deadline: opts.deadline,
        }
    }

    fn left(&self) -> Duration {
        self.deadline.saturating_sub(self.started.elapsed())
    }

    /// Runs one exchange with the peer, bounded by the idle timeout and the deadline.
    async fn peer<T>(
        &self,
        doing: &'static str,
        step: impl Future<Output = Result<T, TransferError>>,
    ) -> Result<T, TransferError> {
        let left = self.left();
        match tokio::time::timeout(self.idle.min(left), step).await {
            Ok(r) => r,
            Err(_) if self.idle < left => Err(TransferError::Stalled {
                doing,
                idle: self.idle,
            }),
            Err(_) => self.late(doing),
        }
    }

    /// Runs local work (git, waiting for the mirror), bounded by the deadline.
    async fn local<T>(
        &self,
        doing: &'static str,
        step: impl Future<Output = Result<T, TransferError>>,
    ) -> Result<T, TransferError> {
        match tokio::time::timeout(self.left(), step).await {
            Ok(r) => r,
            Err(_) => self.late(doing),
        }
    }

    fn late<T>(&self, doing: &'static str) -> Result<T, TransferError> {
        Err(TransferError::TimedOut {
            doing,
            limit: self.deadline,
        })
    }
}

async fn accept<S>(
    mirrors: &Mirrors,
    stream: &mut S,
    opts: &ReceiveOptions,
    clock: &Clock,
    (offered, tip, ref_name): (RepoId, Oid, String),
    progress: &mut (impl FnMut(Progress) + Send),
) -> Result<Received, TransferError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    check_ref_name(mirrors.dir(), &ref_name).await?;
    if let Some(expect) = &opts.expect
        && !expect.same_repo(&offered)
    {
        return Err(TransferError::DifferentRepo {
            expected: expect.key.to_string(),
            got: offered.key.to_string(),
        });
    }
    let held = clock
        .local(
            "waiting for another transfer into this mirror",
            open_locked(mirrors, &offered.key),
        )
        .await?;
    let mirror = held.mirror.clone();

    let mut cmd = transfer::git(mirror.path(), &[]);
    cmd.args(["for-each-ref", "--format=%(objectname)"]);
    let mut haves = transfer::oids(&transfer::run(cmd, "for-each-ref", None).await?);
    haves.sort_by(|a, b| a.0.cmp(&b.0));
    haves.dedup();
    haves.truncate(wire::MAX_HAVES);
    let doing = "sending haves";
    clock
        .peer(doing, async {
            wire::write(stream, &Msg::Haves(haves.clone()))
                .await
                .map_err(TransferError::stream(doing))
        })
        .await?;

    let quarantine = Quarantine::new(mirror.path())?;
    let counter = index_pack(&mirror, &quarantine, stream, opts, clock, progress).await?;
    clock
        .local(
            "verifying the received objects",
            verify(&mirror, &quarantine, &offered.key, &tip, &haves),
        )
        .await?;
    // From here on no limit applies: moving files and one ref is quick, and
    // stopping half way would leave a ref lock behind.
    quarantine.migrate(mirror.path())?;

    let mut cmd = transfer::git(mirror.path(), &[]);
    cmd.args([
        "update-ref",
        "-m",
        "roam gitsync receive",
        &ref_name,
        tip.as_str(),
    ]);
    transfer::run(cmd, "update-ref", None).await?;
    held.keep();
    Ok(Received {
        mirror,
        ref_name,
        tip,
        pack_bytes: counter.bytes,
        objects: counter.objects,
    })
}

/// Takes the mirror's lock (waiting for a receive into it to end), then opens
/// or creates it. If the wait is abandoned (deadline), the blocking task still
/// gets the lock and drops it at once, having created nothing.
async fn open_locked(mirrors: &Mirrors, key: &Oid) -> Result<Held, TransferError> {
    let join = |e: tokio::task::JoinError| GitError::Spawn {
        source: std::io::Error::other(e.to_string()),
    };
    let lock = {
        let (mirrors, key) = (mirrors.clone(), key.clone());
        tokio::task::spawn_blocking(move || mirrors.lock(&key))
            .await
            .map_err(join)??
    };
    let (mirrors, key) = (mirrors.clone(), key.clone());
    let (mirror, created) = tokio::task::spawn_blocking(move || mirrors.get_or_create(&key))
        .await
        .map_err(join)??;
    Ok(Held {
        new_mirror: NewMirror(created.then(|| mirror.path().to_owned())),
        mirror,
        _lock: lock,
    })
}

/// A mirror this receive holds the lock of. Fields drop in order, so a mirror
/// made for a failed transfer is removed before the lock is released.
struct Held {
    new_mirror: NewMirror,
    mirror: Mirror,
    _lock: MirrorLock,
}

impl Held {
    /// The transfer succeeded: a mirror made for it stays.
    fn keep(mut self) {
        self.new_mirror.0 = None;
    }
}

async fn check_ref_name(dir: &Path, name: &str) -> Result<(), TransferError> {
    let bad = || TransferError::BadRef(name.to_owned());
    if !name.starts_with("refs/roam/") {
        return Err(bad());
    }
    let mut cmd = transfer::git(dir, &[]);
    cmd.args(["check-ref-format", name]);
    transfer::run(cmd, "check-ref-format", None)
        .await
        .map_err(|_| bad())?;
    Ok(())
}

/// Pipes the data frames into `git index-pack` writing into the quarantine.
async fn index_pack<S>(
    mirror: &Mirror,
    quarantine: &Quarantine,
    stream: &mut S,
    opts: &ReceiveOptions,
    clock: &Clock,
    progress: &mut (impl FnMut(Progress) + Send),
) -> Result<Progress, TransferError>
where
    S: AsyncRead + Unpin + Send,
{
    let mut cmd = transfer::git(mirror.path(), &opts.index_pack_wrapper);
    quarantine.env(&mut cmd, mirror.path());
    // `--strict` fscks every object (malformed commits, trees with `.git` or
    // `..` entries, duplicate objects) and checks each one's links resolve.
    cmd.args(["index-pack", "--stdin", "--fix-thin", "--strict"])
        .arg(format!("--max-input-size={}", opts.max_pack_bytes))
        .stdin(Stdio::piped());
    let mut child = cmd.spawn().map_err(|source| GitError::Spawn { source })?;
    let mut stdin = child.stdin.take();
    let mut counter = PackCounter::default();
    let doing = "receiving the pack";
    let mut write_failed = false;
    loop {
        let msg = clock
            .peer(doing, async {
                wire::read(stream)
                    .await
                    .map_err(|e| TransferError::wire(doing, e))
            })
            .await?;
        match msg {
            Msg::Data(chunk) => {
                // Checked before the chunk reaches git, so not one byte past
                // the cap is written.
                let p = counter.add(&chunk);
                if p.bytes > opts.max_pack_bytes {
                    return Err(TransferError::TooLarge {
                        limit: opts.max_pack_bytes,
                    });
                }
                // If index-pack died (disk full, bad pack) keep draining the
                // stream to Done, so we report git's reason, not a broken pipe.
                if let Some(pipe) = stdin.as_mut() {
                    let wrote = clock
                        .local(doing, async { Ok(pipe.write_all(&chunk).await) })
                        .await?;
                    if wrote.is_err() {
                        write_failed = true;
                        stdin = None;
                    }
                }
                progress(p);
            }
            Msg::Done { bytes } => {
                if bytes != counter.progress.bytes {
                    return Err(TransferError::BadPack(format!(
                        "sender says {bytes} bytes, received {}",
                        counter.progress.bytes
                    )));
                }
                break;
            }
            Msg::Refused(why) => return Err(TransferError::Refused(why)),
            _ => {
                return Err(TransferError::Protocol {
                    doing,
                    why: "unexpected message inside the pack".into(),
                });
            }
        }
    }
    drop(stdin);
    let out = clock
        .local("indexing the pack", async {
            child
                .wait_with_output()
                .await
                .map_err(|source| TransferError::Git(GitError::Spawn { source }))
        })
        .await?;
    if out.status.success() && !write_failed {
        return Ok(counter.progress);
    }
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
    let why = if stderr.is_empty() {
        format!("git index-pack {}", describe(&out.status))
    } else {
        stderr
    };
    if let Some(oid) = why
        .lines()
        .find_map(|l| l.strip_prefix("fatal: did not receive expected object "))
    {
        // `--strict` found a link the pack and mirror both lack; said the
        // same way as when `verify` finds one.
        Err(TransferError::BadPack(format!(
            "pack is incomplete: object {} is missing",
            oid.trim()
        )))
    } else if is_storage_failure(&out.status, &why) {
        Err(TransferError::Storage(why))
    } else {
        Err(TransferError::BadPack(why))
    }
}

fn describe(status: &std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(sig)) => format!("was killed by signal {sig}"),
        _ => "failed".into(),
    }
}

/// SIGXFSZ (a file size limit) or ENOSPC/EFBIG in git's message.
fn is_storage_failure(status: &std::process::ExitStatus, why: &str) -> bool {
    use std::os::unix::process::ExitStatusExt;
    const SIGXFSZ: i32 = 25;
    status.signal() == Some(SIGXFSZ)
        || why.contains("No space left on device")
        || why.contains("File too large")
        || why.contains("Disk quota exceeded")
}

/// Removes a mirror created for a transfer that then failed.
struct NewMirror(Option<PathBuf>);

impl Drop for NewMirror {
    fn drop(&mut self) {
        if let Some(path) = &self.0
            && let Err(e) = std::fs::remove_dir_all(path)
        {
            tracing::warn!(path = %path.display(), error = %e, "could not remove unused mirror");
        }
    }
}
