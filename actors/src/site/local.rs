//! This node as a site: worktrees under the data dir, agents in PTYs here.
//! Git calls block, so they run in `spawn_blocking`.

use std::path::{Path, PathBuf};

use roam_gitsync::{CaptureOptions, Repo, Snapshot, Worktree, WorktreeStatus};

use super::{AgentCommand, CreateSpec, Placement, Site, snapshot_ref};
use crate::Runtime;
use crate::error::ActorError;
use crate::model::WorkspaceRecord;
use crate::persist::BoxFuture;
use crate::profile;
use crate::status_watch::{self, StatusWatch};

pub struct LocalSite {
    pub worktrees_dir: PathBuf,
}

impl Site for LocalSite {
    fn badge(&self) -> Option<String> {
        None
    }

    fn has_program<'a>(&'a self, program: &'a str) -> BoxFuture<'a, Result<bool, ActorError>> {
        Box::pin(async move { Ok(profile::find_program_off_thread(program).await.is_some()) })
    }

    fn create<'a>(&'a self, spec: &'a CreateSpec) -> BoxFuture<'a, Result<Placement, ActorError>> {
        Box::pin(async move {
            let path = self.worktrees_dir.join(&spec.name);
            let spec = spec.clone();
            tokio::task::spawn_blocking(move || make_worktree(&spec, &path)).await?
        })
    }

    fn status<'a>(
        &'a self,
        record: &'a WorkspaceRecord,
    ) -> BoxFuture<'a, Result<WorktreeStatus, ActorError>> {
        Box::pin(async move {
            let (path, base) = (PathBuf::from(&record.path), record.base.clone());
            tokio::task::spawn_blocking(move || Ok(Worktree::open(&path)?.status(&base)?)).await?
        })
    }

    fn watch_status<'a>(
        &'a self,
        record: &'a WorkspaceRecord,
        changed: Box<dyn Fn() + Send + 'static>,
        lost: Box<dyn Fn(String) + Send + 'static>,
    ) -> BoxFuture<'a, Option<StatusWatch>> {
        Box::pin(async move {
            let (path, name) = (PathBuf::from(&record.path), record.name.clone());
            let base = record.base.clone();
            let watch = tokio::task::spawn_blocking(move || -> Result<StatusWatch, String> {
                let inputs = Worktree::open(&path)
                    .and_then(|w| w.status_inputs(&base))
                    .map_err(|e| e.to_string())?;
                status_watch::start(inputs, changed, lost).map_err(|e| e.to_string())
            })
            .await
            .map_err(|e| e.to_string());
            match watch.and_then(|made| made) {
                Ok(watch) => Some(watch),
                Err(error) => {
                    tracing::warn!(workspace = %name, %error, "cannot watch the worktree; every listing reads its status");
                    None
                }
            }
        })
    }

    fn exclude<'a>(
        &'a self,
        workdir: &'a Path,
        patterns: &'a [String],
    ) -> BoxFuture<'a, Result<(), ActorError>> {
        Box::pin(async move {
            let (path, patterns) = (workdir.to_path_buf(), patterns.to_vec());
            tokio::task::spawn_blocking(move || Ok(Worktree::open(&path)?.exclude(&patterns)?))
                .await?
        })
    }

    fn worktree_present(&self, record: &WorkspaceRecord) -> bool {
        Path::new(&record.path).is_dir()
    }

    fn save_work<'a>(
        &'a self,
        record: &'a WorkspaceRecord,
        force: bool,
    ) -> BoxFuture<'a, Result<Option<String>, ActorError>> {
        Box::pin(async move {
            let record = record.clone();
            tokio::task::spawn_blocking(move || save_unsaved_work(&record, force)).await?
        })
    }

    fn snapshot<'a>(
        &'a self,
        record: &'a WorkspaceRecord,
        ref_name: &'a str,
    ) -> BoxFuture<'a, Result<(), ActorError>> {
        Box::pin(async move {
            let (path, ref_name) = (PathBuf::from(&record.path), ref_name.to_string());
            tokio::task::spawn_blocking(move || {
                let worktree = Worktree::open(&path)?;
                roam_gitsync::capture(&worktree, &ref_name, &CaptureOptions::default())?;
                Ok(())
            })
            .await?
        })
    }

    /// In the repository the workspace was made from (`record.repo`).
    fn restore<'a>(
        &'a self,
        record: &'a WorkspaceRecord,
        ref_name: &'a str,
        path: &'a str,
    ) -> BoxFuture<'a, Result<(), ActorError>> {
        Box::pin(async move {
            let repo = PathBuf::from(&record.repo);
            let (ref_name, path) = (ref_name.to_string(), PathBuf::from(path));
            tokio::task::spawn_blocking(move || {
                let snapshot = Snapshot::load(&repo, &ref_name)?;
                roam_gitsync::restore(&repo, &snapshot, &path)?;
                Ok(())
            })
            .await?
        })
    }

    fn discard<'a>(&'a self, record: &'a WorkspaceRecord) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let cleanup = {
                let record = record.clone();
                tokio::task::spawn_blocking(move || -> Result<(), ActorError> {
                    let repo = Repo::discover(Path::new(&record.repo))?;
                    if Path::new(&record.path).exists() {
                        repo.remove_worktree(Path::new(&record.path))?;
                    }
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
        })
    }

    fn agent_command(
        &self,
        _rt: &Runtime,
        _workspace: &str,
        workdir: &Path,
        _agent: &str,
        argv: Vec<String>,
        _reattach: bool,
    ) -> AgentCommand {
        AgentCommand {
            argv,
            cwd: workdir.to_path_buf(),
        }
    }

    fn end_agent<'a>(&'a self, _workspace: &'a str, _agent: &'a str) -> BoxFuture<'a, ()> {
        // Its process is the PTY's: ending the terminal ends it.
        Box::pin(async {})
    }

    fn reattaches(&self) -> bool {
        false
    }

    fn holds_agents(&self) -> bool {
        true
    }

    fn sees_session_files(&self) -> bool {
        true
    }
}

/// Finds the repo and resolves the base: (repo, base as recorded, commit).
pub fn resolve_base(spec: &CreateSpec) -> Result<(Repo, String, String), ActorError> {
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
fn make_worktree(spec: &CreateSpec, path: &Path) -> Result<Placement, ActorError> {
    let branch = format!("roam/{}", spec.name);
    let (repo, base, base_oid) = resolve_base(spec)?;
    let base_oid = roam_gitsync::Oid(base_oid);
    // add_worktree checks the branch first (one git call, not two).
    match repo.add_worktree_at(path, &branch, &base_oid) {
        Err(roam_gitsync::GitError::BranchExists { .. }) => {
            return Err(ActorError::BranchExists {
                branch,
                repo: repo.root().display().to_string(),
            });
        }
        made => made?,
    }
    Ok(Placement {
        repo: repo.root().to_string_lossy().into_owned(),
        base,
        path: path.to_string_lossy().into_owned(),
    })
}

/// Refuses (without `force`) or captures (with it) uncommitted and
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
        return Err(ActorError::UnsavedWork {
            name: record.name.clone(),
            what: unsaved(dirty, unmerged),
        });
    }
    let name = snapshot_ref(&record.name);
    match &worktree {
        Some(w) => {
            roam_gitsync::capture(w, &name, &CaptureOptions::default())?;
        }
        // The worktree is gone: its commits are what is left.
        None => {
            let tip = repo.resolve(&record.branch)?;
            repo.update_ref(&name, &tip)?;
        }
    }
    Ok(Some(name))
}

/// What unsaved work a workspace has, in words.
pub fn unsaved(dirty: u32, unmerged: bool) -> String {
    match (dirty, unmerged) {
        (0, _) => "commits not merged into its base".to_string(),
        (n, false) => format!("{n} uncommitted file(s)"),
        (n, true) => format!("{n} uncommitted file(s) and commits not merged into its base"),
    }
}
