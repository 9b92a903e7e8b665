//! The sending side of a transfer (see [`crate::transfer`] for the protocol).

use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::transfer::{self, PackCounter, Progress, TransferError};
use crate::wire::{self, Msg};
use crate::{GitError, Oid, RepoId};

/// What a finished send shipped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sent {
    /// The commit the receiver's ref now points at.
    pub tip: Oid,
    /// Pack bytes sent (frame headers and the handshake excluded).
    pub pack_bytes: u64,
    /// Objects in the pack.
    pub objects: u32,
    /// How many of the receiver's tips this side knew and used as bases.
    pub common: usize,
}

/// Sends `rev` (usually a snapshot ref) of the repository at `repo_dir` so the
/// receiver's `ref_name` points at it, shipping only objects it lacks.
/// Returns once the receiver has stored the objects and moved the ref.
pub async fn send<S>(
    repo_dir: &Path,
    rev: &str,
    ref_name: &str,
    stream: &mut S,
    mut progress: impl FnMut(Progress) + Send,
) -> Result<Sent, TransferError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let dir = repo_dir.to_owned();
    let (tip, id) = tip_and_id(dir.clone(), rev.to_owned()).await?;
    wire::write(
        stream,
        &Msg::Offer {
            key: id.key.clone(),
            roots: id.roots.clone(),
            tip: tip.clone(),
            ref_name: ref_name.to_owned(),
        },
    )
    .await
    .map_err(TransferError::stream("sending the offer"))?;

    let haves = match wire::read(stream)
        .await
        .map_err(|e| TransferError::wire("waiting for the receiver's haves", e))?
    {
        Msg::Haves(h) => h,
        Msg::Refused(why) => return Err(TransferError::Refused(why)),
        other => return Err(unexpected("waiting for the receiver's haves", &other)),
    };
    let common = known(&dir, &haves).await?;
    let mut excluded = common.clone();
    excluded.extend(have_trees(&dir, &common).await?);

    let sent = stream_pack(&dir, &tip, &excluded, stream, &mut progress).await?;
    wire::write(stream, &Msg::Done { bytes: sent.bytes })
        .await
        .map_err(TransferError::stream("finishing the pack"))?;
    match wire::read(stream)
        .await
        .map_err(|e| TransferError::wire("waiting for the receiver's result", e))?
    {
        Msg::Accepted => Ok(Sent {
            tip,
            pack_bytes: sent.bytes,
            objects: sent.objects,
            common: common.len(),
        }),
        Msg::Refused(why) => Err(TransferError::Refused(why)),
        other => Err(unexpected("waiting for the receiver's result", &other)),
    }
}

fn unexpected(doing: &'static str, msg: &Msg) -> TransferError {
    let name = match msg {
        Msg::Offer { .. } => "an offer",
        Msg::Haves(_) => "haves",
        Msg::Data(_) => "pack data",
        Msg::Done { .. } => "done",
        Msg::Accepted => "accepted",
        Msg::Refused(_) => "refused",
    };
    TransferError::Protocol {
        doing,
        why: format!("unexpected {name} message"),
    }
}

/// Resolves `rev` and the repo identity behind it, off the async threads.
async fn tip_and_id(dir: PathBuf, rev: String) -> Result<(Oid, RepoId), TransferError> {
    tokio::task::spawn_blocking(move || {
        let tip = crate::oid::resolve(|| crate::cmd::Git::new(&dir), &rev, &dir)?;
        let id = RepoId::of(&dir, tip.as_str())?;
        Ok::<_, GitError>((tip, id))
    })
    .await
    .map_err(|e| {
        TransferError::Git(GitError::Spawn {
            source: std::io::Error::other(e.to_string()),
        })
    })?
    .map_err(TransferError::from)
}

/// The receiver's tips that exist here as commits; only those can be `^have`s.
async fn known(dir: &Path, haves: &[Oid]) -> Result<Vec<Oid>, TransferError> {
    if haves.is_empty() {
        return Ok(Vec::new());
    }
    let mut input = String::new();
    for h in haves {
        input.push_str(h.as_str());
        input.push('\n');
    }
    let mut cmd = transfer::git(dir, &[]);
    cmd.args(["cat-file", "--batch-check=%(objectname) %(objecttype)"]);
    let out = transfer::run(cmd, "cat-file --batch-check", Some(input.into_bytes())).await?;
    Ok(String::from_utf8_lossy(&out)
        .lines()
        .filter_map(|l| l.strip_suffix(" commit"))
        .filter_map(Oid::parse)
        .collect())
}

/// The trees of the receiver's tips and of their parents.
///
/// `rev-list --objects tip ^have` only subtracts the trees of commits on the
/// walk's edge; a have that is not an ancestor of `tip` (the previous snapshot
/// of the same workspace, the usual case) would otherwise subtract no files at
/// all and the whole tree would be resent. Naming the trees as `^tree` makes
/// everything in them count as present. Parents are included because a
/// snapshot's index tree lives on its second parent.
async fn have_trees(dir: &Path, common: &[Oid]) -> Result<Vec<Oid>, TransferError> {
    if common.is_empty() {
        return Ok(Vec::new());
    }
    let mut cmd = transfer::git(dir, &[]);
    cmd.args(["log", "--no-walk=unsorted", "--format=%T %P"])
        .args(common.iter().map(Oid::as_str));
    let out = transfer::run(cmd, "log --format=%T %P", None).await?;
    let mut trees = Vec::new();
    let mut parents = Vec::new();
    for line in String::from_utf8_lossy(&out).lines() {
        let mut ids = line.split(' ').filter_map(Oid::parse);
        trees.extend(ids.next());
        parents.extend(ids);
    }
    parents.sort_by(|a, b| a.0.cmp(&b.0));
    parents.dedup();
    if !parents.is_empty() {
        let mut cmd = transfer::git(dir, &[]);
        cmd.args(["log", "--no-walk=unsorted", "--format=%T"])
            .args(parents.iter().map(Oid::as_str));
        trees.extend(transfer::oids(
            &transfer::run(cmd, "log --format=%T", None).await?,
        ));
    }
    trees.sort_by(|a, b| a.0.cmp(&b.0));
    trees.dedup();
    Ok(trees)
}

/// Runs pack-objects for `tip ^common...` and forwards its output as data frames.
async fn stream_pack<S>(
    dir: &Path,
    tip: &Oid,
    common: &[Oid],
    stream: &mut S,
    progress: &mut (impl FnMut(Progress) + Send),
) -> Result<Progress, TransferError>
where
    S: AsyncWrite + Unpin + Send,
{
    let mut cmd = transfer::git(dir, &[]);
    cmd.args([
        "pack-objects",
        "--stdout",
        "--thin",
        "--revs",
        "--delta-base-offset",
        "-q",
    ])
    .stdin(Stdio::piped());
    let mut child = cmd.spawn().map_err(|source| GitError::Spawn { source })?;
    let mut revs = format!("{tip}\n");
    for c in common {
        revs.push_str(&format!("^{c}\n"));
    }
    if let Some(mut stdin) = child.stdin.take() {
        // Short (one line per have), so it fits the pipe before git reads it.
        stdin
            .write_all(revs.as_bytes())
            .await
            .map_err(|source| GitError::Spawn { source })?;
    }
    let mut stdout = child.stdout.take().ok_or_else(|| GitError::Spawn {
        source: std::io::Error::other("pack-objects has no stdout"),
    })?;
    let mut counter = PackCounter::default();
    let mut buf = vec![0u8; wire::MAX_DATA];
    loop {
        let n = stdout
            .read(&mut buf)
            .await
            .map_err(|source| GitError::Spawn { source })?;
        if n == 0 {
            break;
        }
        let chunk = &buf[..n];
        wire::write_data(stream, chunk)
            .await
            .map_err(TransferError::stream("sending the pack"))?;
        progress(counter.add(chunk));
    }
    let stderr = transfer::read_stderr(&mut child).await;
    let status = child
        .wait()
        .await
        .map_err(|source| GitError::Spawn { source })?;
    if !status.success() {
        let why = format!("git pack-objects failed: {stderr}");
        let _ = wire::write(stream, &Msg::Refused(why.clone())).await;
        return Err(TransferError::Git(GitError::GitFailed {
            command: "git pack-objects --stdout --thin --revs".into(),
            stderr: why,
        }));
    }
    stream
        .flush()
        .await
        .map_err(TransferError::stream("sending the pack"))?;
    Ok(counter.progress)
}
