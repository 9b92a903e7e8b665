//! The Workspace actor: one git worktree and its agents.
//!
//! - Parent: the Node actor.
//! - Children: one Agent actor per agent, spawned linked.
//! - Messages: info (git status + agents), add agent, look up an agent,
//!   stop, start, record, supersede (a newer owner exists); from agents,
//!   `AgentChanged` (a cast); from its own tasks and its status watch,
//!   `Watching`, `WatchLost`, `StatusChanged`, `StatusSettle`,
//!   `StatusRead`.
//! - Git status: read in a task, never in a handler, and only when
//!   something changed since the last read began (`fresh_status`,
//!   `status_watch`): a listing of workspaces where nothing happened runs
//!   no git.
//! - Supervision: an Agent actor that fails is started again from its
//!   record with its resume command (its process is gone with it).
//! - Invariants: the record is the truth; every change to it is saved
//!   (flushed) before the request that caused it is answered. Agent names
//!   are unique within the workspace. A superseded copy runs no agents:
//!   they are stopped when it is superseded, not started when it is
//!   restored, and `start` and `agent add` are refused.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};

use crate::Runtime;
use crate::agent::{AgentActor, AgentArgs, AgentMsg, CallResultExt, StartMode};
use crate::error::ActorError;
use crate::fresh_status::{self, FreshStatus, Settle};
use crate::model::{AgentInfo, AgentRecord, Owner, Superseded, WorkspaceInfo, WorkspaceRecord};
use crate::site::{self, Site};
use crate::status_watch::StatusWatch;

/// Long enough for an agent to get SIGHUP, then SIGKILL after its grace.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

pub struct WorkspaceActor {
    pub rt: Arc<Runtime>,
}

pub struct WorkspaceArgs {
    pub record: WorkspaceRecord,
    /// Brought back after a node restart (agents resume) rather than new.
    pub restored: bool,
}

pub enum WorkspaceMsg {
    Info(RpcReplyPort<WorkspaceInfo>),
    AddAgent {
        profile: Option<String>,
        prompt: Option<String>,
        reply: RpcReplyPort<Result<AgentInfo, ActorError>>,
    },
    /// The agent named, or the first one.
    Agent {
        name: Option<String>,
        reply: RpcReplyPort<Result<ActorRef<AgentMsg>, ActorError>>,
    },
    Stop(RpcReplyPort<Result<(), ActorError>>),
    Start(RpcReplyPort<Result<(), ActorError>>),
    Record(RpcReplyPort<WorkspaceRecord>),
    AgentChanged(AgentRecord),
    /// Another node owns workspace `id` at `epoch`; ignored unless `id` is
    /// this workspace's and `epoch` is newer than its own.
    Supersede {
        id: String,
        owner: Owner,
        epoch: u64,
    },
    /// The status watch is set up, or cannot be.
    Watching(Option<StatusWatch>),
    /// The status may have changed (from the watch, at most one pending).
    StatusChanged,
    /// The watch can no longer see every change.
    WatchLost(String),
    /// The settle timer fired.
    StatusSettle,
    /// A status read ended; it covers the changes counted before it began.
    StatusRead {
        covers: u64,
        read: fresh_status::Read,
        /// `false`: it was given up on, so it covers nothing.
        finished: bool,
    },
}

pub struct WorkspaceState {
    /// Where it runs (from `record.host`, fixed for the actor's life).
    site: Arc<dyn Site>,
    record: WorkspaceRecord,
    agents: Vec<(String, ActorRef<AgentMsg>)>,
    status: FreshStatus<RpcReplyPort<WorkspaceInfo>>,
    /// Kept for as long as the actor lives: dropping it stops the watch.
    watch: Option<StatusWatch>,
    /// Set by the watch when it sends `StatusChanged`, cleared when that
    /// is handled: a burst of events is one message.
    change_pending: Arc<AtomicBool>,
}

impl Actor for WorkspaceActor {
    type Msg = WorkspaceMsg;
    type State = WorkspaceState;
    type Arguments = WorkspaceArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<WorkspaceMsg>,
        args: WorkspaceArgs,
    ) -> Result<WorkspaceState, ActorProcessingErr> {
        let mut state = WorkspaceState {
            site: site::of(&self.rt, args.record.host.as_deref()),
            record: args.record,
            agents: Vec::new(),
            // A worktree just made from its base is clean and even with it.
            status: FreshStatus::new((!args.restored).then(Default::default)),
            watch: None,
            change_pending: Arc::new(AtomicBool::new(false)),
        };
        let worktree_ok = state.site.worktree_present(&state.record);
        for agent in state.record.agents.clone() {
            let mode = if !worktree_ok
                || state.record.stopped
                || agent.exited.is_some()
                || !state.record.is_active()
            {
                StartMode::Idle
            } else if args.restored {
                StartMode::Resume {
                    banner: "node restarted; agent resumed".into(),
                }
            } else {
                StartMode::Fresh
            };
            let actor = self.spawn_agent(&myself, &state, agent.clone(), mode).await;
            match actor {
                Ok(a) => state.agents.push((agent.name, a)),
                // Restoring must not fail the workspace: start it idle so the
                // user sees the problem and keeps the scrollback.
                Err(e) if args.restored => {
                    tracing::error!(workspace = %state.record.name, agent = %agent.name, error = %e, "cannot resume agent");
                    let a = self
                        .spawn_agent(&myself, &state, agent.clone(), StartMode::Idle)
                        .await?;
                    state.agents.push((agent.name, a));
                }
                Err(e) => return Err(e.into()),
            }
        }
        // A superseded copy is read on every listing, as an SSH host's is:
        // nothing of it runs here to be watched.
        if state.record.is_active() {
            watch_status(&myself, &state);
        } else {
            state.status.watching(false);
        }
        Ok(state)
    }

    /// Children go first and are waited for, so every terminal has saved
    /// its scrollback and ended its process when this actor is gone.
    async fn post_stop(
        &self,
        myself: ActorRef<WorkspaceMsg>,
        _state: &mut WorkspaceState,
    ) -> Result<(), ActorProcessingErr> {
        myself
            .stop_children_and_wait(None, Some(STOP_TIMEOUT))
            .await;
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<WorkspaceMsg>,
        msg: WorkspaceMsg,
        state: &mut WorkspaceState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            WorkspaceMsg::Info(reply) => self.info(&myself, state, reply),
            WorkspaceMsg::AddAgent {
                profile,
                prompt,
                reply,
            } => {
                let _ = reply.send(self.add_agent(&myself, state, profile, prompt).await);
            }
            WorkspaceMsg::Agent { name, reply } => {
                let _ = reply.send(state.agent(name.as_deref()));
            }
            WorkspaceMsg::Stop(reply) => {
                let _ = reply.send(self.stop(state).await);
            }
            WorkspaceMsg::Start(reply) => {
                let _ = reply.send(self.start(state).await);
            }
            WorkspaceMsg::Record(reply) => {
                let _ = reply.send(state.record.clone());
            }
            WorkspaceMsg::AgentChanged(agent) => self.agent_changed(state, agent).await,
            WorkspaceMsg::Supersede { id, owner, epoch } => {
                if id == state.record.id && epoch > state.record.epoch {
                    self.supersede(state, owner, epoch).await;
                }
            }
            // A copy superseded meanwhile keeps no watch.
            WorkspaceMsg::Watching(watch) if state.record.is_active() => {
                state.status.watching(watch.is_some());
                state.watch = watch;
            }
            WorkspaceMsg::Watching(_) => {}
            WorkspaceMsg::WatchLost(error) => {
                if state.watch.take().is_some() {
                    tracing::warn!(workspace = %state.record.name, %error, "the worktree's watch lost track; every listing reads its status");
                    state.status.watching(false);
                }
            }
            WorkspaceMsg::StatusChanged => {
                state.change_pending.store(false, Ordering::SeqCst);
                if state.status.changed(Instant::now()) {
                    myself.send_after(fresh_status::SETTLE, || WorkspaceMsg::StatusSettle);
                }
            }
            WorkspaceMsg::StatusSettle => match state.status.settle(Instant::now()) {
                Settle::Again(wait) => {
                    myself.send_after(wait, || WorkspaceMsg::StatusSettle);
                }
                Settle::Read(covers) => read_status(&myself, state, covers),
                Settle::Nothing => {}
            },
            WorkspaceMsg::StatusRead {
                covers,
                read,
                finished,
            } => {
                for (reply, read) in state.status.read_done(covers, read) {
                    self.answer(state, reply, read);
                }
                if !finished {
                    state.status.unread();
                }
                // Only for whoever still waits: changes without a waiter
                // are the settle timer's, and a read given up on is not
                // started again until someone asks.
                if state.status.waiting()
                    && let Some(covers) = state.status.start_read()
                {
                    read_status(&myself, state, covers);
                }
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<WorkspaceMsg>,
        event: SupervisionEvent,
        state: &mut WorkspaceState,
    ) -> Result<(), ActorProcessingErr> {
        if let SupervisionEvent::ActorFailed(cell, err) = event {
            let Some(pos) = state
                .agents
                .iter()
                .position(|(_, a)| a.get_id() == cell.get_id())
            else {
                return Ok(());
            };
            let (name, _) = state.agents.remove(pos);
            tracing::warn!(workspace = %state.record.name, agent = %name, error = %err, "agent actor failed; restarting it");
            let Some(record) = state.record.agents.iter().find(|a| a.name == name).cloned() else {
                return Ok(());
            };
            // A stopped or superseded workspace runs no agents, even now.
            let mode = if state.record.stopped || !state.record.is_active() {
                StartMode::Idle
            } else {
                StartMode::Resume {
                    banner: "agent supervisor restarted".into(),
                }
            };
            let actor = match self.spawn_agent(&myself, state, record.clone(), mode).await {
                Ok(a) => a,
                Err(_) => {
                    self.spawn_agent(&myself, state, record, StartMode::Idle)
                        .await?
                }
            };
            state.agents.insert(pos, (name, actor));
        }
        Ok(())
    }
}

impl WorkspaceActor {
    async fn spawn_agent(
        &self,
        myself: &ActorRef<WorkspaceMsg>,
        state: &WorkspaceState,
        record: AgentRecord,
        mode: StartMode,
    ) -> Result<ActorRef<AgentMsg>, ActorError> {
        let handler = AgentActor {
            rt: self.rt.clone(),
            workspace: state.record.name.clone(),
            workspace_id: state.record.id.clone(),
            workdir: PathBuf::from(&state.record.path),
            site: state.site.clone(),
        };
        let args = AgentArgs {
            record,
            mode,
            parent: myself.clone(),
        };
        match Actor::spawn_linked(None, handler, args, myself.get_cell()).await {
            Ok((actor, _)) => Ok(actor),
            Err(ractor::SpawnErr::StartupFailed(e)) => match e.downcast::<ActorError>() {
                Ok(e) => Err(*e),
                Err(e) => Err(ActorError::Pty(e.to_string())),
            },
            Err(e) => Err(ActorError::Internal(e.to_string())),
        }
    }

    /// Answers at once when the status is fresh, else once a read that
    /// covers this moment ends.
    fn info(
        &self,
        myself: &ActorRef<WorkspaceMsg>,
        state: &mut WorkspaceState,
        reply: RpcReplyPort<WorkspaceInfo>,
    ) {
        if let Some((reply, read)) = state.status.ask(reply) {
            self.answer(state, reply, read);
        } else if let Some(covers) = state.status.start_read() {
            read_status(myself, state, covers);
        }
    }

    /// The agents answer in a task: a handler never waits on them.
    fn answer(
        &self,
        state: &WorkspaceState,
        reply: RpcReplyPort<WorkspaceInfo>,
        read: fresh_status::Read,
    ) {
        let mut info = self.describe(state, read);
        let (agents, workspace) = (state.agents.clone(), state.record.name.clone());
        tokio::spawn(async move {
            for (name, agent) in agents {
                match agent.call(AgentMsg::Info, Some(CALL_TIMEOUT)).await {
                    Ok(res) => match res.success_or_internal() {
                        Ok(agent) => info.agents.push(agent),
                        Err(e) => {
                            tracing::warn!(%workspace, agent = %name, error = %e, "agent did not answer")
                        }
                    },
                    Err(e) => {
                        tracing::warn!(%workspace, agent = %name, error = %e, "agent unreachable")
                    }
                }
            }
            let _ = reply.send(info);
        });
    }

    /// Everything but the agents.
    fn describe(&self, state: &WorkspaceState, read: fresh_status::Read) -> WorkspaceInfo {
        let r = &state.record;
        let (status, problem) = match read {
            Ok(s) => (s, None),
            Err(e) => (Default::default(), Some(e)),
        };
        WorkspaceInfo {
            id: r.id.clone(),
            name: r.name.clone(),
            badge: match (state.site.badge(), r.owner.peer == self.rt.node.peer) {
                (Some(badge), _) => badge,
                (None, true) => "local".into(),
                (None, false) => r.owner.node.clone(),
            },
            owner: r.owner.node.clone(),
            owner_peer: r.owner.peer.clone(),
            epoch: r.epoch,
            repo: r.repo.clone(),
            branch: r.branch.clone(),
            base: r.base.clone(),
            path: r.path.clone(),
            ahead: status.ahead,
            behind: status.behind,
            dirty_files: status.dirty_files,
            problem: match &r.superseded {
                Some(s) => Some(format!(
                    "superseded copy (epoch {}): node '{}' owns it at epoch {}; drop it with `roam rm {} --superseded`",
                    r.epoch, s.owner.node, s.epoch, r.name
                )),
                None => problem,
            },
            stopped: r.stopped,
            superseded_by: r.superseded.as_ref().map(|s| s.owner.node.clone()),
            agents: Vec::with_capacity(state.agents.len()),
        }
    }

    async fn add_agent(
        &self,
        myself: &ActorRef<WorkspaceMsg>,
        state: &mut WorkspaceState,
        profile_name: Option<String>,
        prompt: Option<String>,
    ) -> Result<AgentInfo, ActorError> {
        state.check_active()?;
        let profile_name = profile_name.unwrap_or_else(|| self.rt.default_profile.clone());
        crate::node::check_program(&self.rt, state.site.as_ref(), &profile_name).await?;
        let record = AgentRecord {
            name: state.unique_agent_name(&profile_name),
            profile: profile_name,
            prompt,
            session: None,
            exited: None,
        };
        let mut updated = state.record.clone();
        updated.agents.push(record.clone());
        updated.stopped = false;
        self.save(&updated).await?;
        let agent = match self
            .spawn_agent(myself, state, record.clone(), StartMode::Fresh)
            .await
        {
            Ok(a) => a,
            Err(e) => {
                // Undo: the agent never ran, so the record must not name it.
                self.save(&state.record).await?;
                return Err(e);
            }
        };
        state.record = updated;
        state.agents.push((record.name.clone(), agent.clone()));
        agent
            .call(AgentMsg::Info, Some(CALL_TIMEOUT))
            .await?
            .success_or_internal()
    }

    async fn stop(&self, state: &mut WorkspaceState) -> Result<(), ActorError> {
        for (_, agent) in &state.agents {
            agent
                .call(AgentMsg::Stop, Some(CALL_TIMEOUT))
                .await?
                .success_or_internal()?;
        }
        let mut updated = state.record.clone();
        updated.stopped = true;
        self.save(&updated).await?;
        state.record = updated;
        Ok(())
    }

    async fn start(&self, state: &mut WorkspaceState) -> Result<(), ActorError> {
        state.check_active()?;
        if !state.site.worktree_present(&state.record) {
            return Err(ActorError::Internal(format!(
                "worktree {} is missing; remove the workspace with `roam rm --force {}`",
                state.record.path, state.record.name
            )));
        }
        let mut updated = state.record.clone();
        updated.stopped = false;
        self.save(&updated).await?;
        state.record = updated;
        for (_, agent) in &state.agents {
            agent
                .call(AgentMsg::Start, Some(CALL_TIMEOUT))
                .await?
                .success_or_internal()??;
        }
        Ok(())
    }

    async fn agent_changed(&self, state: &mut WorkspaceState, agent: AgentRecord) {
        let Some(slot) = state
            .record
            .agents
            .iter_mut()
            .find(|a| a.name == agent.name)
        else {
            return;
        };
        *slot = agent;
        if let Err(e) = self.save(&state.record).await {
            tracing::error!(workspace = %state.record.name, error = %e, "cannot save agent state");
        }
    }

    /// A newer owner exists: stop every agent and keep this copy, marked,
    /// so it is never started again here. Saved before anything else runs.
    async fn supersede(&self, state: &mut WorkspaceState, owner: Owner, epoch: u64) {
        tracing::warn!(workspace = %state.record.name, id = %state.record.id, held = state.record.epoch, epoch, owner = %owner.node, "superseded by a newer owner; stopping its agents here");
        let mut updated = state.record.clone();
        updated.superseded = Some(Superseded {
            owner,
            epoch,
            since_unix: crate::site::unix_now(),
        });
        if let Err(e) = self.save(&updated).await {
            tracing::error!(workspace = %state.record.name, error = %e, "cannot save the superseded mark");
        }
        state.record = updated;
        state.watch = None;
        state.status.watching(false);
        for (_, agent) in &state.agents {
            let _ = agent.call(AgentMsg::Stop, Some(CALL_TIMEOUT)).await;
        }
    }

    async fn save(&self, record: &WorkspaceRecord) -> Result<(), ActorError> {
        Ok(self.rt.store.save(record).await?)
    }
}

impl WorkspaceState {
    fn check_active(&self) -> Result<(), ActorError> {
        match &self.record.superseded {
            None => Ok(()),
            Some(s) => Err(ActorError::Superseded {
                name: self.record.name.clone(),
                held: self.record.epoch,
                owner: s.owner.node.clone(),
                epoch: s.epoch,
            }),
        }
    }

    fn agent(&self, name: Option<&str>) -> Result<ActorRef<AgentMsg>, ActorError> {
        let found = match name {
            Some(n) => self.agents.iter().find(|(a, _)| a == n),
            None => self.agents.first(),
        };
        match (found, name) {
            (Some((_, a)), _) => Ok(a.clone()),
            (None, None) => Err(ActorError::NoAgents {
                workspace: self.record.name.clone(),
            }),
            (None, Some(n)) => Err(ActorError::NoSuchAgent {
                workspace: self.record.name.clone(),
                agent: n.to_string(),
                known: self
                    .agents
                    .iter()
                    .map(|(a, _)| a.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        }
    }

    /// `claude`, then `claude-2`, `claude-3`...
    fn unique_agent_name(&self, profile: &str) -> String {
        let taken = |n: &str| self.record.agents.iter().any(|a| a.name == n);
        if !taken(profile) {
            return profile.to_string();
        }
        (2..)
            .map(|i| format!("{profile}-{i}"))
            .find(|n| !taken(n))
            .unwrap_or_else(|| profile.to_string())
    }
}

/// Starts the status watch in a task (a recursive watch walks the tree);
/// it reports back with `Watching`.
fn watch_status(myself: &ActorRef<WorkspaceMsg>, state: &WorkspaceState) {
    let (me, pending) = (myself.clone(), state.change_pending.clone());
    let changed = Box::new(move || {
        if !pending.swap(true, Ordering::SeqCst) {
            let _ = me.cast(WorkspaceMsg::StatusChanged);
        }
    });
    let me = myself.clone();
    let lost = Box::new(move |error| {
        let _ = me.cast(WorkspaceMsg::WatchLost(error));
    });
    let (site, record, me) = (state.site.clone(), state.record.clone(), myself.clone());
    tokio::spawn(async move {
        let watch = site.watch_status(&record, changed, lost).await;
        let _ = me.cast(WorkspaceMsg::Watching(watch));
    });
}

/// A listing waits at most this long for a status (its call to this actor
/// gives up after 5 s, and would leave the workspace out).
const STATUS_READ_TIMEOUT: Duration = Duration::from_secs(4);

fn read_status(myself: &ActorRef<WorkspaceMsg>, state: &WorkspaceState, covers: u64) {
    let (site, record, me) = (state.site.clone(), state.record.clone(), myself.clone());
    tokio::spawn(async move {
        let (read, finished) = match tokio::time::timeout(STATUS_READ_TIMEOUT, site.status(&record))
            .await
        {
            Ok(read) => (read.map_err(|e| e.to_string()), true),
            Err(_) => (
                Err(format!(
                    "git status did not finish within {} s; it is read again on the next listing",
                    STATUS_READ_TIMEOUT.as_secs()
                )),
                false,
            ),
        };
        let _ = me.cast(WorkspaceMsg::StatusRead {
            covers,
            read,
            finished,
        });
    });
}
