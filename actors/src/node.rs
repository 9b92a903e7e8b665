//! The Node actor: the root of a node's actor tree.
//!
//! - Parent: none (spawned by the daemon).
//! - Children: one Workspace actor per workspace, spawned linked.
//! - Messages: create, list, look up, remove, shutdown.
//! - Supervision: a Workspace actor that fails is started again from its
//!   saved record (agents resume).
//! - Invariants: a workspace exists in the map iff its record is saved;
//!   `create` either makes worktree, branch, record and actor, or none of
//!   them; `remove` saves a snapshot ref of any unsaved work before it
//!   deletes anything. Slow work (listing every workspace) runs in a task so
//!   one slow git call does not hold up the node.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use roam_gitsync::{Repo, Worktree};

use crate::Runtime;
use crate::agent::CallResultExt;
use crate::error::ActorError;
use crate::model::{AgentRecord, WorkspaceInfo, WorkspaceRecord};
use crate::profile;
use crate::workspace::{WorkspaceActor, WorkspaceArgs, WorkspaceMsg};

/// Long enough for an agent to get SIGHUP, then SIGKILL after its grace.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
const CALL_TIMEOUT: Duration = Duration::from_secs(15);

/// What `roam new` asks for.
#[derive(Clone, Debug)]
pub struct CreateSpec {
    pub name: String,
    /// Any path inside the repository.
    pub repo: PathBuf,
    pub base: Option<String>,
    pub profile: Option<String>,
    pub prompt: Option<String>,
    /// An SSH host to run it on; `None` is this node.
    pub host: Option<String>,
}

#[derive(Clone, Debug)]
pub struct Removed {
    /// Where the unsaved work went, if there was any.
    pub snapshot_ref: Option<String>,
}

pub struct NodeActor {
    pub rt: Arc<Runtime>,
}

pub enum NodeMsg {
    Create(CreateSpec, RpcReplyPort<Result<WorkspaceInfo, ActorError>>),
    List(RpcReplyPort<Vec<WorkspaceInfo>>),
    Get(
        String,
        RpcReplyPort<Result<ActorRef<WorkspaceMsg>, ActorError>>,
    ),
    Remove {
        name: String,
        force: bool,
        reply: RpcReplyPort<Result<Removed, ActorError>>,
    },
}

pub struct NodeState {
    workspaces: BTreeMap<String, ActorRef<WorkspaceMsg>>,
}

impl Actor for NodeActor {
    type Msg = NodeMsg;
    type State = NodeState;
    /// The records saved by an earlier run, brought back at start.
    type Arguments = Vec<WorkspaceRecord>;

    async fn pre_start(
        &self,
        myself: ActorRef<NodeMsg>,
        saved: Vec<WorkspaceRecord>,
    ) -> Result<NodeState, ActorProcessingErr> {
        let mut state = NodeState {
            workspaces: BTreeMap::new(),
        };
        for record in saved {
            let name = record.name.clone();
            match self.spawn_workspace(&myself, record, true).await {
                Ok(ws) => {
                    state.workspaces.insert(name, ws);
                }
                Err(e) => {
                    tracing::error!(workspace = %name, error = %e, "cannot restore workspace")
                }
            }
        }
        Ok(state)
    }

    /// Children go first and are waited for, so every terminal has saved
    /// its scrollback and ended its process when this actor is gone.
    async fn post_stop(
        &self,
        myself: ActorRef<NodeMsg>,
        _state: &mut NodeState,
    ) -> Result<(), ActorProcessingErr> {
        myself
            .stop_children_and_wait(None, Some(STOP_TIMEOUT))
            .await;
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<NodeMsg>,
        msg: NodeMsg,
        state: &mut NodeState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            NodeMsg::Create(spec, reply) => {
                let _ = reply.send(self.create(&myself, state, spec).await);
            }
            NodeMsg::List(reply) => state.list(reply),
            NodeMsg::Get(name, reply) => {
                let _ = reply.send(state.get(&name).cloned());
            }
            NodeMsg::Remove { name, force, reply } => {
                let _ = reply.send(self.remove(state, &name, force).await);
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<NodeMsg>,
        event: SupervisionEvent,
        state: &mut NodeState,
    ) -> Result<(), ActorProcessingErr> {
        if let SupervisionEvent::ActorFailed(cell, err) = event {
            let Some(name) = state
                .workspaces
                .iter()
                .find(|(_, w)| w.get_id() == cell.get_id())
                .map(|(n, _)| n.clone())
            else {
                return Ok(());
            };
            state.workspaces.remove(&name);
            tracing::warn!(workspace = %name, error = %err, "workspace actor failed; restarting it");
            match self.rt.store.load(&name) {
                Ok(Some(record)) => match self.spawn_workspace(&myself, record, true).await {
                    Ok(ws) => {
                        state.workspaces.insert(name, ws);
                    }
                    Err(e) => {
                        tracing::error!(workspace = %name, error = %e, "cannot restart workspace")
                    }
                },
                Ok(None) => {}
                Err(e) => tracing::error!(workspace = %name, error = %e, "cannot load workspace"),
            }
        }
        Ok(())
    }
}

impl NodeActor {
    async fn spawn_workspace(
        &self,
        myself: &ActorRef<NodeMsg>,
        record: WorkspaceRecord,
        restored: bool,
    ) -> Result<ActorRef<WorkspaceMsg>, ActorError> {
        let handler = WorkspaceActor {
            rt: self.rt.clone(),
        };
        let args = WorkspaceArgs { record, restored };
        match Actor::spawn_linked(None, handler, args, myself.get_cell()).await {
            Ok((ws, _)) => Ok(ws),
            Err(ractor::SpawnErr::StartupFailed(e)) => match e.downcast::<ActorError>() {
                Ok(e) => Err(*e),
                Err(e) => Err(ActorError::Internal(e.to_string())),
            },
            Err(e) => Err(ActorError::Internal(e.to_string())),
        }
    }

    /// Checks everything first, then makes worktree → record → actor, and
    /// undoes what was made if a later step fails.
    async fn create(
        &self,
        myself: &ActorRef<NodeMsg>,
        state: &mut NodeState,
        spec: CreateSpec,
    ) -> Result<WorkspaceInfo, ActorError> {
        roam_gitsync::validate_workspace_name(&spec.name)?;
        if state.workspaces.contains_key(&spec.name) {
            return Err(ActorError::NameInUse { name: spec.name });
        }
        let profile_name = spec
            .profile
            .clone()
            .unwrap_or_else(|| self.rt.default_profile.clone());
        let profile = self.rt.profile(&profile_name)?;
        let present = match &spec.host {
            None => profile::find_program(profile.program()).is_some(),
            Some(host) => self
                .rt
                .remote
                .has_program(host, profile.program())
                .await
                .map_err(ActorError::Remote)?,
        };
        if !present {
            return Err(ActorError::ProgramMissing {
                profile: profile_name,
                program: match &spec.host {
                    None => profile.program().to_string(),
                    Some(host) => format!("{} (on ssh:{host})", profile.program()),
                },
            });
        }
        let branch = format!("roam/{}", spec.name);
        let placed = match &spec.host {
            None => {
                let path = self.rt.worktrees_dir.join(&spec.name);
                let (branch, spec) = (branch.clone(), spec.clone());
                tokio::task::spawn_blocking(move || make_worktree(&spec, &branch, &path)).await??
            }
            Some(host) => self.place_on_host(host, &spec).await?,
        };
        let record = WorkspaceRecord {
            name: spec.name.clone(),
            repo: placed.repo.root().to_string_lossy().into_owned(),
            base: placed.base.clone(),
            branch: branch.clone(),
            path: placed.path.clone(),
            owner: self.rt.node_name.clone(),
            epoch: 1,
            created_unix: unix_now(),
            stopped: false,
            agents: vec![AgentRecord {
                name: profile_name.clone(),
                profile: profile_name,
                prompt: spec.prompt.clone(),
                session: None,
                exited: None,
            }],
            host: spec.host.clone(),
        };
        if let Err(e) = self.rt.store.save(&record).await {
            self.undo_placement(&record).await;
            return Err(ActorError::Store(e));
        }
        let ws = match self.spawn_workspace(myself, record.clone(), false).await {
            Ok(ws) => ws,
            Err(e) => {
                let _ = self.rt.store.remove(&spec.name).await;
                self.undo_placement(&record).await;
                let _ = std::fs::remove_dir_all(self.rt.scrollback_dir.join(&spec.name));
                return Err(e);
            }
        };
        tracing::info!(workspace = %spec.name, "workspace created");
        state.workspaces.insert(spec.name, ws.clone());
        ws.call(WorkspaceMsg::Info, Some(CALL_TIMEOUT))
            .await?
            .success_or_internal()
    }

    async fn remove(
        &self,
        state: &mut NodeState,
        name: &str,
        force: bool,
    ) -> Result<Removed, ActorError> {
        let ws = state.get(name)?.clone();
        let record = ws
            .call(WorkspaceMsg::Record, Some(CALL_TIMEOUT))
            .await?
            .success_or_internal()?;
        let saved = match &record.host {
            // One step on the host: refuse, or snapshot, end the agents, and
            // remove worktree and branch.
            Some(host) => self
                .rt
                .remote
                .remove(host, &record, force)
                .await
                .map_err(ActorError::Remote)?,
            None => {
                let record = record.clone();
                tokio::task::spawn_blocking(move || save_unsaved_work(&record, force)).await??
            }
        };
        // From here the work is safe (merged, clean, or in a snapshot ref).
        ws.stop_and_wait(None, Some(CALL_TIMEOUT)).await?;
        state.workspaces.remove(name);
        if record.host.is_none() {
            self.remove_local_worktree(&record).await;
        }
        self.rt
            .store
            .remove(name)
            .await
            .map_err(ActorError::Store)?;
        let _ = std::fs::remove_dir_all(self.rt.scrollback_dir.join(name));
        tracing::info!(workspace = %name, snapshot = ?saved, "workspace removed");
        Ok(Removed {
            snapshot_ref: saved,
        })
    }

    /// Removes the worktree and its branch; the work is already safe.
    async fn remove_local_worktree(&self, record: &WorkspaceRecord) {
        let cleanup = {
            let record = record.clone();
            tokio::task::spawn_blocking(move || -> Result<(), ActorError> {
                let repo = Repo::discover(std::path::Path::new(&record.repo))?;
                repo.remove_worktree(std::path::Path::new(&record.path))?;
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
}

impl NodeState {
    fn get(&self, name: &str) -> Result<&ActorRef<WorkspaceMsg>, ActorError> {
        self.workspaces
            .get(name)
            .ok_or_else(|| ActorError::NoSuchWorkspace { name: name.into() })
    }

    /// Asks every workspace at once, off the node's mailbox.
    fn list(&self, reply: RpcReplyPort<Vec<WorkspaceInfo>>) {
        let workspaces: Vec<_> = self.workspaces.values().cloned().collect();
        tokio::spawn(async move {
            let calls = workspaces
                .into_iter()
                .map(|ws| async move { ws.call(WorkspaceMsg::Info, Some(CALL_TIMEOUT)).await });
            let mut infos = Vec::new();
            for result in futures_join_all(calls).await {
                if let Ok(ractor::rpc::CallResult::Success(info)) = result {
                    infos.push(info);
                }
            }
            let _ = reply.send(infos);
        });
    }
}

/// Runs the calls concurrently; tokio has no join_all of its own.
async fn futures_join_all<F: std::future::Future + Send + 'static>(
    futs: impl Iterator<Item = F>,
) -> Vec<F::Output>
where
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futs.map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        if let Ok(v) = h.await {
            out.push(v);
        }
    }
    out
}

/// Where a new workspace's worktree was made.
struct Placement {
    repo: Repo,
    /// The base as it will be recorded.
    base: String,
    path: String,
}

impl NodeActor {
    /// Sends the base to the host and makes the worktree there.
    async fn place_on_host(&self, host: &str, spec: &CreateSpec) -> Result<Placement, ActorError> {
        let (repo, base, base_oid) = {
            let spec = spec.clone();
            tokio::task::spawn_blocking(move || resolve_base(&spec)).await??
        };
        let path = self
            .rt
            .remote
            .create_worktree(host, repo.root(), &spec.name, &base_oid)
            .await
            .map_err(ActorError::Remote)?;
        Ok(Placement { repo, base, path })
    }

    /// Takes back a worktree made for a workspace that could not start.
    async fn undo_placement(&self, record: &WorkspaceRecord) {
        if let Some(host) = &record.host {
            let _ = self.rt.remote.remove(host, record, true).await;
            return;
        }
        let record = record.clone();
        let _ = tokio::task::spawn_blocking(move || {
            if let Ok(repo) = Repo::discover(std::path::Path::new(&record.repo)) {
                let _ = repo.remove_worktree(std::path::Path::new(&record.path));
                let _ = repo.delete_branch(&record.branch);
            }
        })
        .await;
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
fn make_worktree(
    spec: &CreateSpec,
    branch: &str,
    path: &std::path::Path,
) -> Result<Placement, ActorError> {
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
    let repo = Repo::discover(std::path::Path::new(&record.repo))?;
    let worktree = Worktree::open(std::path::Path::new(&record.path)).ok();
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

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
