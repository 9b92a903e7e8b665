//! An SSH host as a site: the repository and worktree live on the host,
//! agents run in tmux (or detached) there and are shown here through
//! `roam host tmux`. Everything goes through the node's `RemoteOps`.

use std::path::Path;
use std::sync::Arc;

use roam_gitsync::WorktreeStatus;

use super::local::{resolve_base, unsaved};
use super::{AgentCommand, CreateSpec, Placement, Site, snapshot_ref};
use crate::Runtime;
use crate::error::ActorError;
use crate::model::WorkspaceRecord;
use crate::persist::BoxFuture;
use crate::remote::{RemoteOps, SavedWork, session_name};
use crate::status_watch::StatusWatch;

/// Where the commit a host workspace was made from is kept, on the host and
/// in the repository here.
fn base_ref(name: &str) -> String {
    format!("refs/roam/base/{name}")
}

pub struct HostSite {
    pub host: String,
    pub remote: Arc<dyn RemoteOps>,
}

impl Site for HostSite {
    fn badge(&self) -> Option<String> {
        Some(format!("ssh:{}", self.host))
    }

    fn has_program<'a>(&'a self, program: &'a str) -> BoxFuture<'a, Result<bool, ActorError>> {
        Box::pin(async move { Ok(self.remote.has_program(&self.host, program).await?) })
    }

    fn create<'a>(&'a self, spec: &'a CreateSpec) -> BoxFuture<'a, Result<Placement, ActorError>> {
        Box::pin(async move {
            let (repo, base, base_oid) = {
                let spec = spec.clone();
                tokio::task::spawn_blocking(move || resolve_base(&spec)).await??
            };
            let path = self
                .remote
                .create_worktree(&self.host, repo.root(), &spec.name, &base_oid)
                .await?;
            // The fork point, here too: how far the base moved since is
            // measured here, where the base branch lives.
            {
                let (repo, name, oid) = (repo.clone(), base_ref(&spec.name), base_oid.clone());
                tokio::task::spawn_blocking(move || {
                    repo.update_ref(&name, &roam_gitsync::Oid(oid))
                })
                .await??;
            }
            Ok(Placement {
                repo: repo.root().to_string_lossy().into_owned(),
                base,
                path,
            })
        })
    }

    /// The files are on the host: every listing reads the status there.
    fn watch_status<'a>(
        &'a self,
        _record: &'a WorkspaceRecord,
        _changed: Box<dyn Fn() + Send + 'static>,
        _lost: Box<dyn Fn(String) + Send + 'static>,
    ) -> BoxFuture<'a, Option<StatusWatch>> {
        Box::pin(async { None })
    }

    fn status<'a>(
        &'a self,
        record: &'a WorkspaceRecord,
    ) -> BoxFuture<'a, Result<WorktreeStatus, ActorError>> {
        Box::pin(async move {
            // Ahead and dirty are read on the host; behind here, against
            // the base branch as it is now (as for a workspace on this node).
            let mut status = self.remote.status(&self.host, record).await?;
            let (repo, base, fork) = (
                record.repo.clone(),
                record.base.clone(),
                base_ref(&record.name),
            );
            status.behind = tokio::task::spawn_blocking(move || {
                roam_gitsync::Repo::discover(Path::new(&repo))
                    .and_then(|r| r.commits_between(&fork, &base))
                    .unwrap_or(0)
            })
            .await
            .unwrap_or(0);
            Ok(status)
        })
    }

    fn worktree_present(&self, _record: &WorkspaceRecord) -> bool {
        true
    }

    fn save_work<'a>(
        &'a self,
        record: &'a WorkspaceRecord,
        force: bool,
    ) -> BoxFuture<'a, Result<Option<String>, ActorError>> {
        Box::pin(async move {
            let name = snapshot_ref(&record.name);
            match self
                .remote
                .save_work(&self.host, record, force, &name)
                .await?
            {
                SavedWork::Clean => Ok(None),
                SavedWork::Unsaved { dirty, unmerged } => Err(ActorError::UnsavedWork {
                    name: record.name.clone(),
                    what: format!("{} on ssh:{}", unsaved(dirty, unmerged), self.host),
                }),
                SavedWork::Snapshot => Ok(Some(format!("{name} (on ssh:{})", self.host))),
            }
        })
    }

    fn snapshot<'a>(
        &'a self,
        record: &'a WorkspaceRecord,
        ref_name: &'a str,
    ) -> BoxFuture<'a, Result<(), ActorError>> {
        Box::pin(async move { Ok(self.remote.snapshot(&self.host, record, ref_name).await?) })
    }

    /// In the host's repository: the one the workspace's worktree on the
    /// host (`record.path`) belongs to.
    fn restore<'a>(
        &'a self,
        record: &'a WorkspaceRecord,
        ref_name: &'a str,
        path: &'a str,
    ) -> BoxFuture<'a, Result<(), ActorError>> {
        Box::pin(async move {
            Ok(self
                .remote
                .restore(&self.host, record, ref_name, path)
                .await?)
        })
    }

    fn discard<'a>(&'a self, record: &'a WorkspaceRecord) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            if let Err(e) = self.remote.discard(&self.host, record).await {
                tracing::warn!(workspace = %record.name, host = %self.host, error = %e, "worktree cleanup on the host incomplete");
                return;
            }
            let (repo, fork) = (record.repo.clone(), base_ref(&record.name));
            let _ = tokio::task::spawn_blocking(move || {
                roam_gitsync::Repo::discover(Path::new(&repo)).and_then(|r| r.delete_ref(&fork))
            })
            .await;
        })
    }

    fn agent_command(
        &self,
        rt: &Runtime,
        workspace: &str,
        workdir: &Path,
        agent: &str,
        argv: Vec<String>,
        reattach: bool,
    ) -> AgentCommand {
        let mut shown = vec![
            rt.roam_exe.to_string_lossy().into_owned(),
            "host".into(),
            "tmux".into(),
            self.host.clone(),
            session_name(workspace, agent),
            "--cwd".into(),
            workdir.to_string_lossy().into_owned(),
        ];
        if !reattach {
            shown.push("--create".into());
        }
        shown.push("--".into());
        shown.extend(argv);
        AgentCommand {
            argv: shown,
            cwd: rt.data_dir.clone(),
        }
    }

    fn exclude<'a>(
        &'a self,
        workdir: &'a Path,
        patterns: &'a [String],
    ) -> BoxFuture<'a, Result<(), ActorError>> {
        Box::pin(async move {
            let path = workdir.to_string_lossy();
            Ok(self.remote.exclude(&self.host, &path, patterns).await?)
        })
    }

    fn end_agent<'a>(&'a self, workspace: &'a str, agent: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            self.remote
                .end_agent(&self.host, &session_name(workspace, agent))
                .await
        })
    }

    fn reattaches(&self) -> bool {
        true
    }

    fn holds_agents(&self) -> bool {
        false
    }

    fn sees_session_files(&self) -> bool {
        // An agent on a host keeps its session files there.
        false
    }
}
