//! The Node actor: the root of a node's actor tree.
//!
//! - Parent: none (spawned by the daemon).
//! - Children: one Workspace actor per workspace, spawned linked.
//! - Messages: create, list, look up, remove, supersede, records; from its
//!   own tasks, `Placed` (a create's worktree and record are ready) and
//!   `Settled` / `Forget` (a create failed, a remove finished).
//! - Supervision: a Workspace actor that fails is started again from its
//!   saved record (agents resume, unless the copy is superseded).
//! - Invariants: a workspace is in the map iff its record is saved; a name
//!   being created or removed is `busy` and refused meanwhile; `create`
//!   either makes worktree, branch, record and actor, or none of them;
//!   `remove` saves a snapshot ref of any unsaved work before it deletes
//!   anything. The slow part of every operation (git, a host, stopping
//!   agents, git status for a listing) runs in a task, so `ls`, `Locate`
//!   and peers are answered while a create or remove is under way.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};

use crate::Runtime;
use crate::agent::CallResultExt;
use crate::error::ActorError;
use crate::model::{AgentRecord, Owner, WorkspaceInfo, WorkspaceRecord};
use crate::site::{self, CreateSpec, unix_now};
use crate::workspace::{WorkspaceActor, WorkspaceArgs, WorkspaceMsg};

/// Long enough for an agent to get SIGHUP, then SIGKILL after its grace.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
const CALL_TIMEOUT: Duration = Duration::from_secs(15);

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
        /// Only a superseded copy may be removed this way (never the live
        /// workspace of that name elsewhere).
        superseded_copy: bool,
        reply: RpcReplyPort<Result<Removed, ActorError>>,
    },
    /// Another node owns workspace `id` at `epoch`: if ours is older, stop
    /// its agents and keep it as a superseded copy.
    Supersede {
        id: String,
        owner: Owner,
        epoch: u64,
    },
    /// Every record, superseded copies included.
    Records(RpcReplyPort<Vec<WorkspaceRecord>>),
    /// What is being done to `name` right now ("created", "removed"), if
    /// anything.
    Busy(String, RpcReplyPort<Option<&'static str>>),
    Placed {
        record: WorkspaceRecord,
        reply: RpcReplyPort<Result<WorkspaceInfo, ActorError>>,
    },
    Settled(String),
    Forget(String),
}

pub struct NodeState {
    workspaces: BTreeMap<String, ActorRef<WorkspaceMsg>>,
    /// Names with a create or remove under way, and which.
    busy: BTreeMap<String, &'static str>,
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
            busy: BTreeMap::new(),
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
            NodeMsg::Create(spec, reply) => self.create(&myself, state, spec, reply),
            NodeMsg::Placed { record, reply } => self.placed(&myself, state, record, reply).await,
            NodeMsg::List(reply) => state.list(reply),
            NodeMsg::Get(name, reply) => {
                let _ = reply.send(state.get(&name).cloned());
            }
            NodeMsg::Remove {
                name,
                force,
                superseded_copy,
                reply,
            } => self.remove(&myself, state, name, force, superseded_copy, reply),
            NodeMsg::Supersede { id, owner, epoch } => state.supersede(id, owner, epoch),
            NodeMsg::Records(reply) => state.records(reply),
            NodeMsg::Busy(name, reply) => {
                let _ = reply.send(state.busy.get(&name).copied());
            }
            NodeMsg::Settled(name) => {
                state.busy.remove(&name);
            }
            NodeMsg::Forget(name) => {
                state.busy.remove(&name);
                state.workspaces.remove(&name);
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
            if state.busy.contains_key(&name) {
                return Ok(());
            }
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

    /// Checks what can be checked at once, marks the name busy, and makes
    /// worktree and record in a task, which reports back with `Placed`.
    fn create(
        &self,
        myself: &ActorRef<NodeMsg>,
        state: &mut NodeState,
        spec: CreateSpec,
        reply: RpcReplyPort<Result<WorkspaceInfo, ActorError>>,
    ) {
        if let Err(e) = state.check_free(&spec.name) {
            let _ = reply.send(Err(e));
            return;
        }
        let profile_name = spec
            .profile
            .clone()
            .unwrap_or_else(|| self.rt.default_profile.clone());
        if let Err(e) = self.rt.profile(&profile_name) {
            let _ = reply.send(Err(e));
            return;
        }
        state.busy.insert(spec.name.clone(), "created");
        let (rt, myself) = (self.rt.clone(), myself.clone());
        tokio::spawn(async move {
            let name = spec.name.clone();
            match make_record(&rt, spec, profile_name).await {
                Ok(record) => {
                    let _ = myself.cast(NodeMsg::Placed { record, reply });
                }
                Err(e) => {
                    let _ = myself.cast(NodeMsg::Settled(name));
                    let _ = reply.send(Err(e));
                }
            }
        });
    }

    /// The record is saved and the worktree made: start the actor.
    async fn placed(
        &self,
        myself: &ActorRef<NodeMsg>,
        state: &mut NodeState,
        record: WorkspaceRecord,
        reply: RpcReplyPort<Result<WorkspaceInfo, ActorError>>,
    ) {
        let name = record.name.clone();
        match self.spawn_workspace(myself, record.clone(), false).await {
            Ok(ws) => {
                tracing::info!(workspace = %name, id = %record.id, "workspace created");
                state.busy.remove(&name);
                state.workspaces.insert(name, ws.clone());
                tokio::spawn(async move {
                    let info = match ws.call(WorkspaceMsg::Info, Some(CALL_TIMEOUT)).await {
                        Ok(res) => res.success_or_internal(),
                        Err(e) => Err(e.into()),
                    };
                    let _ = reply.send(info);
                });
            }
            // The name stays busy until what was made is taken back.
            Err(e) => {
                let (rt, myself) = (self.rt.clone(), myself.clone());
                tokio::spawn(async move {
                    let _ = rt.store.remove(&record.name).await;
                    site::of(&rt, record.host.as_deref()).discard(&record).await;
                    remove_files(&rt, &record.name).await;
                    let _ = myself.cast(NodeMsg::Settled(record.name.clone()));
                    let _ = reply.send(Err(e));
                });
            }
        }
    }

    /// Marks the name busy and does the rest in a task: save the work (or
    /// refuse), stop the actor, remove worktree and record, then `Forget`.
    fn remove(
        &self,
        myself: &ActorRef<NodeMsg>,
        state: &mut NodeState,
        name: String,
        force: bool,
        superseded_copy: bool,
        reply: RpcReplyPort<Result<Removed, ActorError>>,
    ) {
        let ws = match state.get(&name) {
            Ok(ws) => ws.clone(),
            Err(e) => {
                let _ = reply.send(Err(e));
                return;
            }
        };
        state.busy.insert(name.clone(), "removed");
        let (rt, myself) = (self.rt.clone(), myself.clone());
        tokio::spawn(async move {
            let outcome = remove_workspace(&rt, &ws, force, superseded_copy).await;
            match &outcome {
                Ok(_) => {
                    let _ = myself.cast(NodeMsg::Forget(name));
                }
                Err(_) => {
                    let _ = myself.cast(NodeMsg::Settled(name));
                }
            }
            let _ = reply.send(outcome);
        });
    }
}

/// The slow part of `create`: checks the agent's program where it will run,
/// makes the worktree, saves the record (flushed). Undoes the worktree if
/// the record cannot be saved.
async fn make_record(
    rt: &Arc<Runtime>,
    spec: CreateSpec,
    profile_name: String,
) -> Result<WorkspaceRecord, ActorError> {
    let site = site::of(rt, spec.host.as_deref());
    check_program(rt, site.as_ref(), &profile_name).await?;
    let placed = site.create(&spec).await?;
    let record = WorkspaceRecord {
        id: spec.id.clone(),
        name: spec.name.clone(),
        repo: placed.repo.clone(),
        base: placed.base.clone(),
        branch: format!("roam/{}", spec.name),
        path: placed.path.clone(),
        owner: rt.node.clone(),
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
        superseded: None,
    };
    if let Err(e) = rt.store.save(&record).await {
        site.discard(&record).await;
        return Err(e.into());
    }
    Ok(record)
}

/// Checks that the profile's program is where the agent will run.
pub async fn check_program(
    rt: &Runtime,
    site: &dyn site::Site,
    profile_name: &str,
) -> Result<(), ActorError> {
    let program = rt.profile(profile_name)?.program().to_string();
    if site.has_program(&program).await? {
        return Ok(());
    }
    Err(ActorError::ProgramMissing {
        profile: profile_name.to_string(),
        program: match site.badge() {
            None => program,
            Some(badge) => format!("{program} (on {badge})"),
        },
    })
}

async fn remove_workspace(
    rt: &Arc<Runtime>,
    ws: &ActorRef<WorkspaceMsg>,
    force: bool,
    superseded_copy: bool,
) -> Result<Removed, ActorError> {
    let record = ws
        .call(WorkspaceMsg::Record, Some(CALL_TIMEOUT))
        .await?
        .success_or_internal()?;
    if superseded_copy && record.is_active() {
        return Err(ActorError::NotSuperseded {
            name: record.name.clone(),
        });
    }
    let site = site::of(rt, record.host.as_deref());
    // Refused here (agents untouched) if there is unsaved work and no force.
    let mut saved = site.save_work(&record, force).await?;
    ws.stop_and_wait(None, Some(CALL_TIMEOUT)).await?;
    // What the agents wrote between the check and their end is kept too.
    if let Some(late) = site.save_work(&record, true).await? {
        saved = Some(late);
    }
    // From here the work is safe (merged, clean, or in a snapshot ref).
    site.discard(&record).await;
    rt.store.remove(&record.name).await?;
    remove_files(rt, &record.name).await;
    tracing::info!(workspace = %record.name, snapshot = ?saved, "workspace removed");
    Ok(Removed {
        snapshot_ref: saved,
    })
}

impl NodeState {
    fn get(&self, name: &str) -> Result<&ActorRef<WorkspaceMsg>, ActorError> {
        if let Some(doing) = self.busy.get(name) {
            return Err(ActorError::Busy {
                name: name.into(),
                doing,
            });
        }
        self.workspaces
            .get(name)
            .ok_or_else(|| ActorError::NoSuchWorkspace { name: name.into() })
    }

    /// A name may be created here unless it exists or is busy.
    fn check_free(&self, name: &str) -> Result<(), ActorError> {
        roam_gitsync::validate_workspace_name(name)?;
        if let Some(doing) = self.busy.get(name) {
            return Err(ActorError::Busy {
                name: name.into(),
                doing,
            });
        }
        if self.workspaces.contains_key(name) {
            return Err(ActorError::NameInUse { name: name.into() });
        }
        Ok(())
    }

    /// Asks every workspace at once, off the node's mailbox.
    fn list(&self, reply: RpcReplyPort<Vec<WorkspaceInfo>>) {
        let workspaces = self.live();
        tokio::spawn(async move {
            let calls = workspaces
                .into_iter()
                .map(|ws| async move { ws.call(WorkspaceMsg::Info, Some(CALL_TIMEOUT)).await });
            let infos = futures_join_all(calls)
                .await
                .into_iter()
                .filter_map(|r| match r {
                    Ok(ractor::rpc::CallResult::Success(info)) => Some(info),
                    _ => None,
                })
                .collect();
            let _ = reply.send(infos);
        });
    }

    fn records(&self, reply: RpcReplyPort<Vec<WorkspaceRecord>>) {
        let workspaces = self.live();
        tokio::spawn(async move {
            let calls = workspaces
                .into_iter()
                .map(|ws| async move { ws.call(WorkspaceMsg::Record, Some(CALL_TIMEOUT)).await });
            let records = futures_join_all(calls)
                .await
                .into_iter()
                .filter_map(|r| match r {
                    Ok(ractor::rpc::CallResult::Success(record)) => Some(record),
                    _ => None,
                })
                .collect();
            let _ = reply.send(records);
        });
    }

    /// Workspaces not being removed.
    fn live(&self) -> Vec<ActorRef<WorkspaceMsg>> {
        self.workspaces
            .iter()
            .filter(|(name, _)| !self.busy.contains_key(*name))
            .map(|(_, ws)| ws.clone())
            .collect()
    }

    /// Each workspace checks the id and the epoch itself: only the one with
    /// that id and an older epoch stops.
    fn supersede(&self, id: String, owner: Owner, epoch: u64) {
        for ws in self.workspaces.values() {
            let _ = ws.cast(WorkspaceMsg::Supersede {
                id: id.clone(),
                owner: owner.clone(),
                epoch,
            });
        }
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

/// Removes a workspace's scrollback and agent marks, off the async threads.
async fn remove_files(rt: &Runtime, workspace: &str) {
    let dirs = [
        rt.scrollback_dir.join(workspace),
        rt.run_dir.join(workspace),
    ];
    let removed = tokio::task::spawn_blocking(move || {
        for dir in dirs {
            match std::fs::remove_dir_all(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    tracing::warn!(path = %dir.display(), error = %e, "cannot remove a removed workspace's files")
                }
            }
        }
    });
    let _ = removed.await;
}
