//! Making and removing a workspace's worktree, on this node or on an SSH
//! host: the slow part of `create` and `remove`, run by the Node actor in
//! tasks off its mailbox. Git calls block, so they run in `spawn_blocking`.
//!
//! Invariant: `save_work` runs before anything is deleted, so unsaved work
//! is refused (without `force`) or kept in a snapshot ref (with it).

use std::path::{Path, PathBuf};

use roam_gitsync::{Repo, Worktree};

use crate::Runtime;
use crate::error::ActorError;
use crate::model::WorkspaceRecord;
use crate::profile;

/// What `roam new` asks for.
#[derive(Clone, Debug)]
pub struct CreateSpec {
    /// The mesh-wide id, chosen by whoever reserved the name.
    pub id: String,
    pub name: String,
    /// Any path inside the repository.
    pub repo: PathBuf,
    pub base: Option<String>,
    pub profile: Option<String>,
    pub prompt: Option<String>,
    /// An SSH host to run it on; `None` is this node.
    pub host: Option<String>,
}

/// Where a new workspace's worktree was made.
pub struct Placement {
    pub repo: Repo,
    /// The base as it will be recorded.
    pub base: String,
    pub path: String,
}

/// Checks that the profile's program is where the agent will run.
pub async fn check_program(
    rt: &Runtime,
    host: Option<&str>,
    profile_name: &str,
) -> Result<(), ActorError> {
    let program = rt.profile(profile_name)?.program().to_string();
    let present = match host {
        None => profile::find_program(&program).is_some(),
        Some(host) => rt.remote.has_program(host, &program).await?,
    };
    if present {
        return Ok(());
    }
    Err(ActorError::ProgramMissing {
        profile: profile_name.to_string(),
        program: match host {
            None => program,
            Some(host) => format!("{program} (on ssh:{host})"),
        },
    })
}

/// Makes the worktree on branch `roam/NAME`: here, or on the host (the base
/// is sent there first, only the objects it lacks).
pub async fn place(rt: &Runtime, spec: &CreateSpec) -> Result<Placement, ActorError> {
    let branch = format!("roam/{}", spec.name);
    match &spec.host {
        None => {
            let path = rt.worktrees_dir.join(&spec.name);
            let spec = spec.clone();
            tokio::task::spawn_blocking(move || make_worktree(&spec, &branch, &path)).await?
        }
        Some(host) => {
            let (repo, base, base_oid) = {
                let spec = spec.clone();
                tokio::task::spawn_blocking(move || resolve_base(&spec)).await??
            };
            let path = rt
                .remote
                .create_worktree(host, repo.root(), &spec.name, &base_oid)
                .await?;
            Ok(Placement { repo, base, path })
        }
    }
}

/// Takes back a worktree made for a workspace that could not start.
pub async fn unplace(rt: &Runtime, record: &WorkspaceRecord) {
    if let Some(host) = &record.host {
        let _ = rt.remote.remove(host, record, true).await;
        return;
    }
    let record = record.clone();
    let _ = tokio::task::spawn_blocking(move || {
        if let Ok(repo) = Repo::discover(Path::new(&record.repo)) {
            let _ = repo.remove_worktree(Path::new(&record.path));
            let _ = repo.delete_branch(&record.branch);
        }
    })
    .await;
}

/// Refuses (without `force`) or snapshots (with it) unsaved work. On a host
/// this one step also ends the agents there and removes the worktree.
pub async fn save_work(
    rt: &Runtime,
    record: &WorkspaceRecord,
    force: bool,
) -> Result<Option<String>, ActorError> {
    match &record.host {
        Some(host) => Ok(rt.remote.remove(host, record, force).await?),
        None => {
            let record = record.clone();
            tokio::task::spawn_blocking(move || save_unsaved_work(&record, force)).await?
        }
    }
}

/// Removes the worktree and its branch here; the work is already safe.
pub async fn remove_local_worktree(record: &WorkspaceRecord) {
    if record.host.is_some() {
        return;
    }
    let cleanup = {
        let record = record.clone();
        tokio::task::spawn_blocking(move || -> Result<(), ActorError> {
            let repo = Repo::discover(Path::new(&record.repo))?;
            repo.remove_worktree(Path::new(&record.path))?;
            if repo.branch_exists(&record.branch)? {
                repo.delete_branch(&record.branch)?;
            }
            Ok(())
        })
        .await
    };
    let outcome = match cleanup {
        Ok(done) => done,
        Err(join) => Err(ActorError::from(join)),
    };
    if let Err(e) = outcome {
        tracing::warn!(workspace = %record.name, error = %e, "worktree cleanup incomplete");
    }
}

/// Finds the repo and resolves the base: (repo, base as recorded, commit).
fn resolve_base(spec: &CreateSpec) -> Result<(Repo, String, String), ActorError> {
    let repo = Repo::discover(&spec.repo)?;
    let base = match &spec.base {
        Some(b) => b.clone(),
        None => repo.current_branch()?.unwrap_or_else(|| "HEAD".into()),
    };
    let base_oid = repo.resolve(&base)?.to_string();
    // A detached base is pinned to its commit: "HEAD" would drift.
    let recorded = if base == "HEAD" {
        base_oid.clone()
    } else {
        base
    };
    Ok((repo, recorded, base_oid))
}

/// Finds the repo, resolves the base and adds the worktree here.
fn make_worktree(spec: &CreateSpec, branch: &str, path: &Path) -> Result<Placement, ActorError> {
    let (repo, base, _) = resolve_base(spec)?;
    if repo.branch_exists(branch)? {
        return Err(ActorError::BranchExists {
            branch: branch.into(),
            repo: repo.root().display().to_string(),
        });
    }
    repo.add_worktree(path, branch, &base)?;
    Ok(Placement {
        repo,
        base,
        path: path.to_string_lossy().into_owned(),
    })
}

/// Refuses (without `force`) or snapshots (with it) uncommitted and
/// unmerged work. Returns the snapshot ref when one was written.
fn save_unsaved_work(record: &WorkspaceRecord, force: bool) -> Result<Option<String>, ActorError> {
    let repo = Repo::discover(Path::new(&record.repo))?;
    let worktree = Worktree::open(Path::new(&record.path)).ok();
    let dirty = match &worktree {
        Some(w) => w.status(&record.base)?.dirty_files,
        None => 0,
    };
    let unmerged =
        repo.branch_exists(&record.branch)? && !repo.is_merged(&record.branch, &record.base)?;
    if dirty == 0 && !unmerged {
        return Ok(None);
    }
    if !force {
        let what = match (dirty, unmerged) {
            (0, _) => "commits not merged into its base".to_string(),
            (n, false) => format!("{n} uncommitted file(s)"),
            (n, true) => format!("{n} uncommitted file(s) and commits not merged into its base"),
        };
        return Err(ActorError::UnsavedWork {
            name: record.name.clone(),
            what,
        });
    }
    let oid = match &worktree {
        Some(w) => w.snapshot(&format!(
            "roam: snapshot of workspace {} before rm --force",
            record.name
        ))?,
        None => repo.resolve(&record.branch)?,
    };
    let name = format!("refs/roam/snapshots/{}/{}", record.name, unix_now());
    repo.update_ref(&name, &oid)?;
    Ok(Some(name))
}

pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
