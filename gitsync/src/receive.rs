//! The receiving side of a transfer (see [`crate::transfer`] for the protocol):
//! quarantine, verify, and only then move objects in and update the ref.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use crate::transfer::{self, PackCounter, Progress, TransferError};
use crate::wire::{self, Msg};
use crate::{GitError, Mirror, Mirrors, Oid, RepoId};

/// How a receiver treats what it is offered.
#[derive(Clone, Debug)]
pub struct ReceiveOptions {
    /// The repo the receiver expects (e.g. from the workspace record); an offer
    /// sharing no root commit with it is refused as a different repo.
    pub expect: Option<RepoId>,
    /// Largest pack accepted, in bytes.
    pub max_pack_bytes: u64,
    /// Program and arguments `git index-pack` runs under (e.g. `nice`, or
    /// `prlimit --fsize=N --` to cap what one transfer may write); empty for none.
    pub index_pack_wrapper: Vec<OsString>,
}

impl Default for ReceiveOptions {
    fn default() -> ReceiveOptions {
        ReceiveOptions {
            expect: None,
            max_pack_bytes: 64 << 30,
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
/// received objects are discarded; the sender is told why.
pub async fn receive<S>(
    mirrors: &Mirrors,
    stream: &mut S,
    opts: &ReceiveOptions,
    mut progress: impl FnMut(Progress) + Send,
) -> Result<Received, TransferError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let doing = "waiting for an offer";
    let offer = match wire::read(stream)
        .await
        .map_err(|e| TransferError::wire(doing, e))?
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
    let result = accept(mirrors, stream, opts, offer, &mut progress).await;
    let reply = match &result {
        Ok(_) => Msg::Accepted,
        Err(e) => Msg::Refused(e.to_string()),
    };
    // Best effort when failing: the stream may be what broke.
    let sent = wire::write(stream, &reply).await;
    match (result, sent) {
        (Ok(received), Ok(())) => Ok(received),
        // The objects are stored and the ref moved; the sender just won't hear it.
        (Ok(received), Err(e)) => {
            tracing::warn!(error = %e, "could not acknowledge a completed transfer");
            Ok(received)
        }
        (Err(e), _) => Err(e),
    }
}

async fn accept<S>(
    mirrors: &Mirrors,
    stream: &mut S,
    opts: &ReceiveOptions,
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
    let (mirror, created) = {
        let mirrors = mirrors.clone();
        let key = offered.key.clone();
        tokio::task::spawn_blocking(move || mirrors.get_or_create(&key))
            .await
            .map_err(|e| GitError::Spawn {
                source: std::io::Error::other(e.to_string()),
            })??
    };
    // A mirror made for this transfer goes again if the transfer fails, so a
    // failed first transfer leaves the node as it was.
    let mut new_mirror = NewMirror(created.then(|| mirror.path().to_owned()));

    let mut cmd = transfer::git(mirror.path(), &[]);
    cmd.args(["for-each-ref", "--format=%(objectname)"]);
    let mut haves = transfer::oids(&transfer::run(cmd, "for-each-ref", None).await?);
    haves.sort_by(|a, b| a.0.cmp(&b.0));
    haves.dedup();
    haves.truncate(wire::MAX_HAVES);
    wire::write(stream, &Msg::Haves(haves.clone()))
        .await
        .map_err(TransferError::stream("sending haves"))?;

    let quarantine = Quarantine::new(mirror.path())?;
    let counter = index_pack(&mirror, &quarantine, stream, opts, progress).await?;
    verify(&mirror, &quarantine, &offered.key, &tip, &haves).await?;
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
    new_mirror.0 = None;
    Ok(Received {
        mirror,
        ref_name,
        tip,
        pack_bytes: counter.bytes,
        objects: counter.objects,
    })
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
    progress: &mut (impl FnMut(Progress) + Send),
) -> Result<Progress, TransferError>
where
    S: AsyncRead + Unpin + Send,
{
    let mut cmd = transfer::git(mirror.path(), &opts.index_pack_wrapper);
    quarantine.env(&mut cmd, mirror.path());
    cmd.args(["index-pack", "--stdin", "--fix-thin"])
        .stdin(Stdio::piped());
    let mut child = cmd.spawn().map_err(|source| GitError::Spawn { source })?;
    let mut stdin = child.stdin.take();
    let mut counter = PackCounter::default();
    let doing = "receiving the pack";
    let mut write_failed = false;
    loop {
        match wire::read(stream)
            .await
            .map_err(|e| TransferError::wire(doing, e))?
        {
            Msg::Data(chunk) => {
                let p = counter.add(&chunk);
                if p.bytes > opts.max_pack_bytes {
                    return Err(TransferError::TooLarge {
                        limit: opts.max_pack_bytes,
                    });
                }
                // If index-pack died (disk full, bad pack) keep draining the
                // stream to Done, so we report git's reason, not a broken pipe.
                if let Some(pipe) = stdin.as_mut()
                    && pipe.write_all(&chunk).await.is_err()
                {
                    write_failed = true;
                    stdin = None;
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
    let out = child
        .wait_with_output()
        .await
        .map_err(|source| GitError::Spawn { source })?;
    if out.status.success() && !write_failed {
        return Ok(counter.progress);
    }
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
    let why = if stderr.is_empty() {
        format!("git index-pack {}", describe(&out.status))
    } else {
        stderr
    };
    if is_storage_failure(&out.status, &why) {
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

/// Checks, before anything becomes visible, that every object reachable from
/// `tip` is present and that `tip` belongs to the offered repo.
async fn verify(
    mirror: &Mirror,
    quarantine: &Quarantine,
    key: &Oid,
    tip: &Oid,
    haves: &[Oid],
) -> Result<(), TransferError> {
    let mut cmd = transfer::git(mirror.path(), &[]);
    quarantine.env(&mut cmd, mirror.path());
    // `--missing=print` makes a missing blob visible, which plain rev-list skips.
    cmd.args([
        "rev-list",
        "--objects",
        "--missing=print",
        tip.as_str(),
        "--not",
    ])
    .args(haves.iter().map(Oid::as_str));
    let out = transfer::run(cmd, "rev-list --objects", None)
        .await
        .map_err(|e| TransferError::BadPack(format!("pack is incomplete: {e}")))?;
    if let Some(missing) = String::from_utf8_lossy(&out)
        .lines()
        .find(|l| l.starts_with('?'))
    {
        return Err(TransferError::BadPack(format!(
            "pack is incomplete: object {} is missing",
            &missing[1..]
        )));
    }
    let mut cmd = transfer::git(mirror.path(), &[]);
    quarantine.env(&mut cmd, mirror.path());
    cmd.args([
        "rev-list",
        "--max-parents=0",
        "--first-parent",
        tip.as_str(),
    ]);
    let roots = transfer::oids(&transfer::run(cmd, "rev-list --max-parents=0", None).await?);
    if roots.first() != Some(key) {
        return Err(TransferError::DifferentRepo {
            expected: key.to_string(),
            got: roots
                .first()
                .map_or_else(|| "no root".to_owned(), Oid::to_string),
        });
    }
    Ok(())
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

/// A private object directory for incoming objects, deleted on drop: objects
/// become part of the mirror only through [`Quarantine::migrate`].
struct Quarantine {
    path: PathBuf,
}

impl Quarantine {
    fn new(mirror: &Path) -> Result<Quarantine, TransferError> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let path = mirror
            .join("objects")
            .join(format!("roam-incoming-{}-{nanos}-{n}", std::process::id()));
        std::fs::create_dir_all(path.join("pack")).map_err(|source| GitError::Io {
            path: path.clone(),
            source,
        })?;
        Ok(Quarantine { path })
    }

    /// Makes git write new objects here and read existing ones from the mirror.
    fn env(&self, cmd: &mut tokio::process::Command, mirror: &Path) {
        cmd.env("GIT_OBJECT_DIRECTORY", &self.path)
            .env("GIT_ALTERNATE_OBJECT_DIRECTORIES", mirror.join("objects"))
            // git itself refuses ref updates while this is set.
            .env("GIT_QUARANTINE_PATH", &self.path);
    }

    /// Moves the verified packs into the mirror, each index last: git only
    /// sees a pack once its `.idx` exists, so a crash here leaves at most
    /// an unreferenced `.pack`.
    fn migrate(&self, mirror: &Path) -> Result<(), TransferError> {
        let from = self.path.join("pack");
        let to = mirror.join("objects").join("pack");
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| TransferError::Git(GitError::Io { path, source })
        };
        let mut names: Vec<_> = std::fs::read_dir(&from)
            .map_err(io(&from))?
            .filter_map(|e| e.ok().map(|e| e.file_name()))
            .collect();
        names.sort_by_key(|n| n.to_string_lossy().ends_with(".idx"));
        std::fs::create_dir_all(&to).map_err(io(&to))?;
        for name in names {
            std::fs::rename(from.join(&name), to.join(&name)).map_err(io(&to))?;
        }
        Ok(())
    }
}

impl Drop for Quarantine {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}
