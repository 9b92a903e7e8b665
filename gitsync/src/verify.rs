//! Checks a quarantined pack before any of it becomes visible: complete,
//! holding nothing a peer could plant, and of the offered repo.

use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::quarantine::Quarantine;
use crate::transfer::{self, TransferError};
use crate::{GitError, Mirror, Oid};

/// Checks that every object reachable from `tip` is present, that the pack
/// brought no object the mirror lacked and `tip` does not reach, and that
/// `tip` belongs to the offered repo.
///
/// The second check is why this counts instead of comparing sets: git's
/// `--fix-thin` adds delta bases the mirror already has, so the pack is not
/// exactly `tip`'s objects, but every object the mirror lacked must be one of
/// them. Both sides are counted as "objects the mirror alone lacks", which
/// keeps memory flat however big the pack is. Unreachable objects would
/// otherwise stay forever: mirrors never gc (see `Mirrors::get_or_create`).
pub(crate) async fn verify(
    mirror: &Mirror,
    quarantine: &Quarantine,
    key: &Oid,
    tip: &Oid,
    haves: &[Oid],
) -> Result<(), TransferError> {
    let mut walk = transfer::git(mirror.path(), &[]);
    quarantine.env(&mut walk, mirror.path());
    // `--missing=print` makes a missing blob visible, which plain rev-list skips.
    walk.args([
        "rev-list",
        "--objects",
        "--no-object-names",
        "--missing=print",
        tip.as_str(),
        "--not",
    ])
    .args(haves.iter().map(Oid::as_str));
    let reachable_new = match lacked_by_mirror(mirror, walk).await {
        Ok(Lacked::Count(n)) => n,
        Ok(Lacked::Nowhere(oid)) => {
            return Err(TransferError::BadPack(format!(
                "pack is incomplete: object {oid} is missing"
            )));
        }
        Err(e) => return Err(TransferError::BadPack(format!("pack is incomplete: {e}"))),
    };

    let mut list = transfer::git(mirror.path(), &[]);
    quarantine.env_alone(&mut list);
    list.args([
        "cat-file",
        "--batch-all-objects",
        "--batch-check=%(objectname)",
        "--unordered",
    ]);
    let received_new = match lacked_by_mirror(mirror, list).await? {
        Lacked::Count(n) => n,
        Lacked::Nowhere(oid) => {
            return Err(TransferError::Git(GitError::UnexpectedOutput {
                command: "git cat-file --batch-all-objects".into(),
                output: format!("?{oid}"),
            }));
        }
    };
    if received_new > reachable_new {
        return Err(TransferError::BadPack(format!(
            "{} objects in the pack are not reachable from {tip}",
            received_new - reachable_new
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

enum Lacked {
    /// How many of the listed objects the mirror does not have.
    Count(u64),
    /// `--missing=print` listed this object: neither pack nor mirror has it.
    Nowhere(String),
}

/// Runs `producer` (one object id per line, `?<oid>` for one nobody has) and
/// counts the objects the mirror alone (without the quarantine) lacks,
/// streaming the ids through `git cat-file --batch-check`.
async fn lacked_by_mirror(
    mirror: &Mirror,
    mut producer: tokio::process::Command,
) -> Result<Lacked, GitError> {
    let spawn = |source| GitError::Spawn { source };
    let mut listing = producer.spawn().map_err(spawn)?;
    let mut check = transfer::git(mirror.path(), &[]);
    check
        .args(["cat-file", "--batch-check=%(objectname)"])
        .stdin(Stdio::piped());
    let mut checker = check.spawn().map_err(spawn)?;
    let (Some(listed), Some(mut ask), Some(answers)) = (
        listing.stdout.take(),
        checker.stdin.take(),
        checker.stdout.take(),
    ) else {
        return Err(spawn(std::io::Error::other("git has no pipes")));
    };
    let feed = async move {
        let mut lines = BufReader::new(listed).lines();
        while let Some(line) = lines.next_line().await? {
            if let Some(oid) = line.strip_prefix('?') {
                return Ok(Some(oid.to_owned()));
            }
            ask.write_all(line.as_bytes()).await?;
            ask.write_all(b"\n").await?;
        }
        // Dropping `ask` ends cat-file's input.
        Ok::<_, std::io::Error>(None)
    };
    let count = async move {
        let mut lines = BufReader::new(answers).lines();
        let mut n = 0u64;
        while let Some(line) = lines.next_line().await? {
            if line.ends_with(" missing") {
                n += 1;
            }
        }
        Ok::<_, std::io::Error>(n)
    };
    let (fed, counted) = tokio::join!(feed, count);
    if let Some(oid) = fed.map_err(spawn)? {
        return Ok(Lacked::Nowhere(oid));
    }
    let counted = counted.map_err(spawn)?;
    for (child, what) in [
        (&mut listing, "listing objects"),
        (&mut checker, "cat-file --batch-check"),
    ] {
        let stderr = transfer::read_stderr(child).await;
        let status = child.wait().await.map_err(spawn)?;
        if !status.success() {
            return Err(GitError::GitFailed {
                command: format!("git {what}"),
                stderr,
            });
        }
    }
    Ok(Lacked::Count(counted))
}
