//! The Agent actor: one coding agent (or any command) of a workspace.
//!
//! - Parent: a Workspace actor, told of record changes by
//!   `WorkspaceMsg::AgentChanged` (a cast: children never wait on parents).
//! - Children: at most one Pty actor, running the agent's process.
//! - Messages: info, subscribe, input, resize, scrollback, stop, start; from
//!   the Pty, `PtyExited`; a timer that looks for the agent's session file;
//!   `Reconnect` (an agent on an SSH host whose connection was lost);
//!   `PromptCheck`, a timer that types a prompt when the agent is ready.
//! - Supervision: the agent's *process* exiting is normal (status
//!   `exited(code)`, not restarted: the user decides). The Pty *actor*
//!   failing (a PTY error) restarts it with the resume command, at most
//!   `MAX_RESTARTS` times a minute; after that the agent shows exited(-1).
//!   An agent on an SSH host runs in tmux there; its terminal here exiting
//!   with `CONNECTION_LOST` means only the link broke: it is reattached
//!   with backoff (1 s to 30 s), and the agent never stopped.
//! - Invariants: the first prompt is passed once, on the first start only;
//!   a typed prompt goes in at the agent's input prompt, never as the
//!   answer to a question it asks first (the user answers that);
//!   every later start resumes the conversation; the session id, once found,
//!   is saved through the parent before anything else can restart us.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};

use crate::error::ActorError;
use crate::holders::{self, Adoption, Held};
use crate::model::{AgentInfo, AgentRecord, AgentStatus};
use crate::profile::{self, Profile, PromptMode};
use crate::pty::{DirectSpec, Process, PtyActor, PtyMsg, PtySpec, Subscription};
use crate::scrollback::Scrollback;
use crate::site::Site;
use crate::workspace::WorkspaceMsg;
use crate::{Runtime, status};

const MAX_RESTARTS: usize = 3;
const RESTART_WINDOW: Duration = Duration::from_secs(60);
const SESSION_POLL: Duration = Duration::from_secs(1);
/// Long enough for an agent to get SIGHUP, then SIGKILL after its grace.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
const CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// Exit code of `roam host tmux` meaning the connection to the host was
/// lost (EX_TEMPFAIL): the agent still runs there; reconnect.
pub const CONNECTION_LOST: i32 = 75;
const RECONNECT_MIN: Duration = Duration::from_secs(1);
const RECONNECT_MAX: Duration = Duration::from_secs(30);
/// How often a prompt waiting to be typed looks at the screen.
const PROMPT_POLL: Duration = Duration::from_millis(100);
/// An agent whose screen matches none of its profile's patterns by then
/// gets its prompt typed anyway (a prompt the profile does not know), unless
/// it is asking a question.
const PROMPT_DEADLINE: Duration = Duration::from_secs(20);

/// Which command a start runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Launch {
    /// The first start: the prompt is handed over.
    Fresh,
    /// Continue the conversation (after a restart or `roam start`).
    Resume,
    /// Only show the agent again (on an SSH host, after a lost connection):
    /// it never stopped running there.
    Reattach,
}

/// How the agent comes up.
#[derive(Clone, Debug)]
pub enum StartMode {
    /// First start: the prompt is handed over.
    Fresh,
    /// After a node restart: resume the conversation, say so on the screen.
    Resume { banner: String },
    /// Not running (stopped by the user or exited): no process.
    Idle,
}

pub struct AgentActor {
    pub rt: Arc<Runtime>,
    pub workspace: String,
    /// The workspace's mesh-wide id, which its agents' holders are
    /// recorded with.
    pub workspace_id: String,
    pub workdir: PathBuf,
    /// Where the agent runs (this node, an SSH host).
    pub site: Arc<dyn Site>,
}

pub struct AgentArgs {
    pub record: AgentRecord,
    pub mode: StartMode,
    pub parent: ActorRef<WorkspaceMsg>,
}

pub enum AgentMsg {
    Info(RpcReplyPort<AgentInfo>),
    Subscribe {
        with_scrollback: bool,
        reply: RpcReplyPort<Result<Subscription, ActorError>>,
    },
    Input(Vec<u8>, RpcReplyPort<Result<(), ActorError>>),
    Resize {
        rows: u16,
        cols: u16,
    },
    Scrollback(RpcReplyPort<Result<Vec<u8>, ActorError>>),
    Stop(RpcReplyPort<()>),
    Start(RpcReplyPort<Result<(), ActorError>>),
    PtyExited {
        code: i32,
    },
    /// Show an agent on an SSH host again after its connection was lost.
    Reconnect,
    /// The once-a-second look for the agent's session file.
    FindSession,
    /// What a look found (it runs on a blocking thread).
    SessionFound(Option<String>),
    /// Is the agent ready for the prompt waiting to be typed?
    PromptCheck,
}

/// A prompt to type once the agent shows its input prompt.
struct PendingPrompt {
    text: String,
    since: Instant,
    /// The agent asked a question meanwhile (logged once).
    asked: bool,
}

pub struct AgentState {
    record: AgentRecord,
    profile: Profile,
    patterns: status::Patterns,
    pending_prompt: Option<PendingPrompt>,
    pty: Option<ActorRef<PtyMsg>>,
    stopped: bool,
    started_at: SystemTime,
    restarts: VecDeque<Instant>,
    reconnect_wait: Duration,
    /// What the lost terminal saw last, for the one that reattaches.
    seen: Option<crate::pty::Seen>,
    /// A look for the session file is under way.
    looking: bool,
    /// The link to the agent's host broke and a reconnect is due: the agent
    /// runs on there, it did not exit.
    disconnected: bool,
    size: (u16, u16),
    parent: ActorRef<WorkspaceMsg>,
}

impl Actor for AgentActor {
    type Msg = AgentMsg;
    type State = AgentState;
    type Arguments = AgentArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<AgentMsg>,
        args: AgentArgs,
    ) -> Result<AgentState, ActorProcessingErr> {
        let profile = self.rt.profile(&args.record.profile)?.clone();
        let mut state = AgentState {
            patterns: status::Patterns::new(&profile.waiting, &profile.questions),
            pending_prompt: None,
            profile,
            stopped: matches!(args.mode, StartMode::Idle) && args.record.exited.is_none(),
            record: args.record,
            pty: None,
            started_at: SystemTime::now(),
            restarts: VecDeque::new(),
            reconnect_wait: RECONNECT_MIN,
            seen: None,
            disconnected: false,
            looking: false,
            size: (24, 80),
            parent: args.parent,
        };
        match args.mode {
            StartMode::Fresh => {
                self.spawn_pty(&myself, &mut state, Launch::Fresh, None)
                    .await?
            }
            StartMode::Resume { banner } => {
                // An agent whose holder outlived the last node never
                // stopped: it is adopted, not started again.
                let adoption = match self.site.holds_agents() {
                    true => holders::adopt(&self.rt, &self.workspace, &state.record.name).await,
                    false => Adoption::NoHolder,
                };
                match adoption {
                    Adoption::Adopted(held) => {
                        self.spawn_pty_with(&myself, &mut state, Launch::Resume, None, Some(held))
                            .await?
                    }
                    Adoption::Lost(why) => {
                        let banner = format!("{why}; agent resumed");
                        self.spawn_pty(&myself, &mut state, Launch::Resume, Some(banner))
                            .await?
                    }
                    Adoption::NoHolder => {
                        self.spawn_pty(&myself, &mut state, Launch::Resume, Some(banner))
                            .await?
                    }
                }
            }
            StartMode::Idle => {}
        }
        myself.send_interval(SESSION_POLL, || AgentMsg::FindSession);
        Ok(state)
    }

    /// Children go first and are waited for, so every terminal has saved
    /// its scrollback and ended its process when this actor is gone.
    async fn post_stop(
        &self,
        myself: ActorRef<AgentMsg>,
        _state: &mut AgentState,
    ) -> Result<(), ActorProcessingErr> {
        myself
            .stop_children_and_wait(None, Some(STOP_TIMEOUT))
            .await;
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<AgentMsg>,
        msg: AgentMsg,
        state: &mut AgentState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            AgentMsg::Info(reply) => {
                let _ = reply.send(state.info().await);
            }
            AgentMsg::Subscribe {
                with_scrollback,
                reply,
            } => {
                let _ = reply.send(self.subscribe(state, with_scrollback).await);
            }
            AgentMsg::Input(bytes, reply) => {
                let _ = reply.send(self.running(state).map(|pty| {
                    let _ = pty.cast(PtyMsg::Input(bytes));
                }));
            }
            AgentMsg::Resize { rows, cols } => state.resize(rows, cols),
            AgentMsg::Scrollback(reply) => {
                let _ = reply.send(self.scrollback(state).await);
            }
            AgentMsg::Stop(reply) => {
                // Last look for the session, so a quick stop can still resume.
                if let Some((dir, since)) = self.session_look(state) {
                    let found = profile::newest_session_off_thread(dir, since).await;
                    self.session_found(state, found);
                }
                // Its terminal here may only show it: end it where it runs.
                self.site
                    .end_agent(&self.workspace, &state.record.name)
                    .await;
                state.stop();
                let _ = reply.send(());
            }
            AgentMsg::Start(reply) => {
                let _ = reply.send(self.start(&myself, state).await);
            }
            AgentMsg::PtyExited { code } => self.pty_exited(&myself, state, code),
            AgentMsg::Reconnect => self.reconnect(&myself, state).await,
            AgentMsg::FindSession => self.find_session(&myself, state),
            AgentMsg::SessionFound(found) => {
                state.looking = false;
                self.session_found(state, found);
            }
            AgentMsg::PromptCheck => self.prompt_check(&myself, state).await,
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<AgentMsg>,
        event: SupervisionEvent,
        state: &mut AgentState,
    ) -> Result<(), ActorProcessingErr> {
        if let SupervisionEvent::ActorFailed(cell, err) = event {
            let ours = state
                .pty
                .as_ref()
                .is_some_and(|p| p.get_id() == cell.get_id());
            if !ours {
                return Ok(());
            }
            tracing::warn!(workspace = %self.workspace, agent = %state.record.name, error = %err, "terminal failed");
            state.pty = None;
            let now = Instant::now();
            state
                .restarts
                .retain(|t| now.duration_since(*t) < RESTART_WINDOW);
            if state.restarts.len() >= MAX_RESTARTS {
                state.exited(-1);
                return Ok(());
            }
            state.restarts.push_back(now);
            let banner = Some(format!("{err}; agent resumed"));
            if let Err(e) = self.spawn_pty(&myself, state, Launch::Resume, banner).await {
                tracing::error!(workspace = %self.workspace, agent = %state.record.name, error = %e, "cannot restart agent");
                state.exited(-1);
            }
        }
        Ok(())
    }
}

impl AgentActor {
    /// Starts the process in a new Pty actor: the first time with the
    /// prompt, later with the profile's resume command.
    async fn spawn_pty(
        &self,
        myself: &ActorRef<AgentMsg>,
        state: &mut AgentState,
        launch: Launch,
        banner: Option<String>,
    ) -> Result<(), ActorError> {
        self.spawn_pty_with(myself, state, launch, banner, None)
            .await
    }

    /// Starts a Pty actor on the process of `launch`, or on the holder
    /// `adopted` (whose agent never stopped).
    async fn spawn_pty_with(
        &self,
        myself: &ActorRef<AgentMsg>,
        state: &mut AgentState,
        launch: Launch,
        banner: Option<String>,
        adopted: Option<Box<Held>>,
    ) -> Result<(), ActorError> {
        let fresh = launch == Launch::Fresh;
        let path = self.rt.scrollback_path(&self.workspace, &state.record.name);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| ActorError::Pty(format!("{}: {e}", dir.display())))?;
        }
        let process = match adopted {
            Some(held) => Process::Held {
                held,
                rt: self.rt.clone(),
            },
            None => self.start_process(state, launch).await?,
        };
        let spec = PtySpec {
            process,
            scrollback_path: path,
            scrollback_bytes: self.rt.scrollback_bytes,
            rows: state.size.0,
            cols: state.size.1,
            banner,
            seen: state.seen.take(),
            marks_reattach: self.site.reattaches(),
            owner: myself.clone(),
        };
        let holder = match &spec.process {
            Process::Held { held, .. } => Some(held.record.clone()),
            Process::Direct(_) => None,
        };
        let spawned = Actor::spawn_linked(None, PtyActor, spec, myself.get_cell()).await;
        let (pty, _) = match spawned {
            Ok(spawned) => spawned,
            Err(e) => {
                // A holder nobody shows must not run on beside the next try.
                if let Some(record) = holder {
                    holders::end(&self.rt, &record).await;
                }
                return Err(ActorError::Pty(e.to_string()));
            }
        };
        if let (true, PromptMode::Type, Some(prompt)) =
            (fresh, &state.profile.prompt, &state.record.prompt)
        {
            // Typed now, it could answer a first-run question instead.
            state.pending_prompt = Some(PendingPrompt {
                text: prompt.clone(),
                since: Instant::now(),
                asked: false,
            });
            myself.send_after(PROMPT_POLL, || AgentMsg::PromptCheck);
        }
        state.pty = Some(pty);
        state.stopped = false;
        // A reattach is still disconnected until its terminal shows the
        // agent (see `info`).
        state.disconnected &= launch == Launch::Reattach;
        state.started_at = SystemTime::now();
        Ok(())
    }

    /// Starts the agent's process: in a holder where the site holds its
    /// agents (this node), else in a PTY of this node's.
    async fn start_process(
        &self,
        state: &AgentState,
        launch: Launch,
    ) -> Result<Process, ActorError> {
        let command = self.site.agent_command(
            &self.rt,
            &self.workspace,
            &self.workdir,
            &state.record.name,
            state.argv(launch == Launch::Fresh),
            launch == Launch::Reattach,
        );
        let argv = command.argv;
        let program = argv.first().cloned().unwrap_or_default();
        if profile::find_program_off_thread(&program).await.is_none() {
            return Err(ActorError::ProgramMissing {
                profile: state.record.profile.clone(),
                program,
            });
        }
        // Before the agent writes them: its files are not uncommitted work.
        if !state.profile.owns.is_empty()
            && let Err(e) = self.site.exclude(&self.workdir, &state.profile.owns).await
        {
            tracing::warn!(workspace = %self.workspace, agent = %state.record.name, error = %e, "cannot exclude the files the agent owns; they show as uncommitted work");
        }
        let mut env: Vec<(String, String)> = state
            .profile
            .env
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        env.push(("TERM".into(), "xterm-256color".into()));
        env.push(("HOME".into(), self.rt.home.to_string_lossy().into_owned()));
        env.push(("ROAM_WORKSPACE".into(), self.workspace.clone()));
        env.push(("ROAM_AGENT".into(), state.record.name.clone()));
        // An agent on a host is shown by `roam host tmux`, which must reach
        // this very node and never start another.
        env.push((
            "ROAM_HOME".into(),
            self.rt.data_dir.to_string_lossy().into_owned(),
        ));
        env.push(("ROAM_NO_AUTOSTART".into(), "1".into()));
        if !self.site.holds_agents() {
            return Ok(Process::Direct(DirectSpec {
                argv,
                cwd: command.cwd,
                env,
                mark_path: self.rt.mark_path(&self.workspace, &state.record.name),
            }));
        }
        let held = holders::start(
            &self.rt,
            holders::Want {
                workspace_id: &self.workspace_id,
                workspace: &self.workspace,
                agent: &state.record.name,
                argv,
                cwd: command.cwd,
                env: &env,
                rows: state.size.0,
                cols: state.size.1,
            },
        )
        .await?;
        Ok(Process::Held {
            held: Box::new(held),
            rt: self.rt.clone(),
        })
    }

    fn running<'a>(&self, state: &'a AgentState) -> Result<&'a ActorRef<PtyMsg>, ActorError> {
        match &state.pty {
            Some(pty) if !state.stopped && state.record.exited.is_none() => Ok(pty),
            _ => Err(ActorError::AgentNotRunning {
                workspace: self.workspace.clone(),
                agent: state.record.name.clone(),
                status: state.status_without_pty().to_string(),
            }),
        }
    }

    async fn subscribe(
        &self,
        state: &AgentState,
        with_scrollback: bool,
    ) -> Result<Subscription, ActorError> {
        // A finished agent can still be viewed: its Pty actor keeps the screen.
        let pty = state
            .pty
            .as_ref()
            .ok_or_else(|| ActorError::AgentNotRunning {
                workspace: self.workspace.clone(),
                agent: state.record.name.clone(),
                status: state.status_without_pty().to_string(),
            })?;
        pty.call(
            |reply| PtyMsg::Subscribe {
                with_scrollback,
                reply,
            },
            Some(CALL_TIMEOUT),
        )
        .await?
        .success_or_internal()
    }

    async fn scrollback(&self, state: &AgentState) -> Result<Vec<u8>, ActorError> {
        if let Some(pty) = &state.pty {
            return pty
                .call(PtyMsg::Scrollback, Some(CALL_TIMEOUT))
                .await?
                .success_or_internal();
        }
        let path = self.rt.scrollback_path(&self.workspace, &state.record.name);
        let cap = self.rt.scrollback_bytes;
        let read = {
            let path = path.clone();
            tokio::task::spawn_blocking(move || Scrollback::read(&path, cap))
        };
        match read.await {
            Ok(Ok(bytes)) => Ok(bytes),
            Ok(Err(e)) => Err(ActorError::Internal(format!(
                "cannot read {}: {e}",
                path.display()
            ))),
            Err(e) => Err(ActorError::Internal(format!(
                "cannot read {}: {e}",
                path.display()
            ))),
        }
    }

    async fn start(
        &self,
        myself: &ActorRef<AgentMsg>,
        state: &mut AgentState,
    ) -> Result<(), ActorError> {
        if self.running(state).is_ok() {
            return Ok(());
        }
        if let Some(old) = state.pty.take() {
            // The old actor flushes its scrollback on stop; the new one
            // continues the same file.
            let _ = old.stop_and_wait(None, Some(CALL_TIMEOUT)).await;
        }
        state.record.exited = None;
        state.reconnect_wait = RECONNECT_MIN;
        self.spawn_pty(myself, state, Launch::Resume, Some("agent resumed".into()))
            .await?;
        let _ = state
            .parent
            .cast(WorkspaceMsg::AgentChanged(state.record.clone()));
        Ok(())
    }

    /// The terminal of an agent on a host ended: reconnect if only the
    /// connection was lost, else record the exit.
    fn pty_exited(&self, myself: &ActorRef<AgentMsg>, state: &mut AgentState, code: i32) {
        if self.site.reattaches() && code == CONNECTION_LOST && !state.stopped {
            let wait = state.reconnect_wait;
            state.reconnect_wait = (wait * 2).min(RECONNECT_MAX);
            tracing::info!(workspace = %self.workspace, agent = %state.record.name, wait = ?wait, "lost the host; reconnecting");
            state.disconnected = true;
            myself.send_after(wait, || AgentMsg::Reconnect);
            return;
        }
        state.exited(code);
    }

    async fn reconnect(&self, myself: &ActorRef<AgentMsg>, state: &mut AgentState) {
        if state.stopped || state.record.exited.is_some() {
            return;
        }
        if let Some(old) = state.pty.take() {
            if let Ok(ractor::rpc::CallResult::Success(seen)) =
                old.call(PtyMsg::Seen, Some(CALL_TIMEOUT)).await
            {
                state.seen = Some(seen);
            }
            let _ = old.stop_and_wait(None, Some(CALL_TIMEOUT)).await;
        }
        let badge = self.site.badge().unwrap_or_default();
        let banner = Some(format!("reconnected to {badge}"));
        if let Err(e) = self
            .spawn_pty(myself, state, Launch::Reattach, banner)
            .await
        {
            tracing::warn!(workspace = %self.workspace, agent = %state.record.name, error = %e, "reconnect failed");
            myself.send_after(state.reconnect_wait, || AgentMsg::Reconnect);
        }
    }

    /// Types the pending prompt if the agent shows its input prompt (or
    /// the deadline passed with no question on screen); looks again later
    /// otherwise. A question on screen is left to the user, however long.
    async fn prompt_check(&self, myself: &ActorRef<AgentMsg>, state: &mut AgentState) {
        let (Some(pending), Some(pty)) = (&mut state.pending_prompt, &state.pty) else {
            state.pending_prompt = None;
            return;
        };
        let activity = match pty.call(PtyMsg::Activity, Some(CALL_TIMEOUT)).await {
            Ok(ractor::rpc::CallResult::Success(a)) => a,
            _ => {
                state.pending_prompt = None;
                return;
            }
        };
        if activity.exited.is_some() {
            tracing::warn!(workspace = %self.workspace, agent = %state.record.name, "agent exited before its prompt could be typed");
            state.pending_prompt = None;
            return;
        }
        use status::PromptMoment;
        let moment = status::prompt_moment(&activity, &state.patterns);
        if moment == PromptMoment::Question {
            if !pending.asked {
                pending.asked = true;
                tracing::info!(workspace = %self.workspace, agent = %state.record.name, question = %activity.last_line.trim(), "agent asks a question first; the prompt is typed once it is answered");
            }
        } else if moment == PromptMoment::Now || pending.since.elapsed() >= PROMPT_DEADLINE {
            if moment == PromptMoment::NotYet {
                tracing::warn!(workspace = %self.workspace, agent = %state.record.name, "no input prompt seen in {PROMPT_DEADLINE:?}; typing the prompt anyway");
            }
            let text = format!("{}\r", pending.text);
            let _ = pty.cast(PtyMsg::Input(text.into_bytes()));
            state.pending_prompt = None;
            return;
        }
        myself.send_after(PROMPT_POLL, || AgentMsg::PromptCheck);
    }

    /// Starts a look for the session file on a blocking thread (it reads a
    /// folder), unless one is under way; its answer comes as `SessionFound`.
    fn find_session(&self, myself: &ActorRef<AgentMsg>, state: &mut AgentState) {
        if state.looking {
            return;
        }
        let Some((dir, since)) = self.session_look(state) else {
            return;
        };
        state.looking = true;
        let myself = myself.clone();
        tokio::spawn(async move {
            let found = profile::newest_session_off_thread(dir, since).await;
            let _ = myself.cast(AgentMsg::SessionFound(found));
        });
    }

    /// Where to look for this agent's session file and since when, if a
    /// look is due.
    fn session_look(&self, state: &AgentState) -> Option<(PathBuf, SystemTime)> {
        if !self.site.sees_session_files() {
            return None;
        }
        if state.record.session.is_some() || state.pty.is_none() {
            return None;
        }
        let template = state.profile.session_dir.as_ref()?;
        let dir = profile::expand_session_dir(template, &self.rt.home, &self.workdir);
        // Files touched just before our start belong to someone else.
        let since = state.started_at - Duration::from_secs(1);
        Some((dir, since))
    }

    fn session_found(&self, state: &mut AgentState, found: Option<String>) {
        let Some(id) = found else { return };
        if state.record.session.is_some() {
            return;
        }
        tracing::info!(workspace = %self.workspace, agent = %state.record.name, session = %id, "found agent session");
        state.record.session = Some(id);
        let _ = state
            .parent
            .cast(WorkspaceMsg::AgentChanged(state.record.clone()));
    }
}

impl AgentState {
    fn argv(&self, fresh: bool) -> Vec<String> {
        if fresh {
            let mut argv = self.profile.command.clone();
            if let (PromptMode::Arg, Some(p)) = (&self.profile.prompt, &self.record.prompt) {
                argv.push(p.clone());
            }
            return argv;
        }
        match (
            &self.record.session,
            &self.profile.resume,
            &self.profile.resume_last,
        ) {
            (Some(id), Some(resume), _) => {
                resume.iter().map(|a| a.replace("{session}", id)).collect()
            }
            (_, _, Some(last)) => last.clone(),
            _ => self.profile.command.clone(),
        }
    }

    async fn info(&self) -> AgentInfo {
        let (status, pid) = match (&self.pty, self.stopped) {
            (Some(pty), false) => match pty.call(PtyMsg::Activity, Some(CALL_TIMEOUT)).await {
                // Until a reattached terminal shows the agent again.
                Ok(ractor::rpc::CallResult::Success(a))
                    if self.disconnected && (a.exited.is_some() || !a.produced_output) =>
                {
                    (AgentStatus::Disconnected, None)
                }
                Ok(ractor::rpc::CallResult::Success(a)) => {
                    (status::derive(&a, &self.patterns), a.pid)
                }
                _ => (AgentStatus::Exited { code: -1 }, None),
            },
            _ => (self.status_without_pty(), None),
        };
        let status = match (status, self.record.exited) {
            (AgentStatus::Exited { .. }, Some(code)) => AgentStatus::Exited { code },
            (s, _) => s,
        };
        AgentInfo {
            name: self.record.name.clone(),
            profile: self.record.profile.clone(),
            status,
            session: self.record.session.clone(),
            pid: pid.filter(|_| !matches!(status, AgentStatus::Exited { .. })),
        }
    }

    fn status_without_pty(&self) -> AgentStatus {
        match self.record.exited {
            Some(code) => AgentStatus::Exited { code },
            None if self.disconnected && !self.stopped => AgentStatus::Disconnected,
            None => AgentStatus::Stopped,
        }
    }

    fn resize(&mut self, rows: u16, cols: u16) {
        self.size = (rows, cols);
        if let Some(pty) = &self.pty {
            let _ = pty.cast(PtyMsg::Resize { rows, cols });
        }
    }

    fn stop(&mut self) {
        self.stopped = true;
        if let Some(pty) = &self.pty {
            let _ = pty.cast(PtyMsg::Kill);
        }
    }

    fn exited(&mut self, code: i32) {
        if self.stopped {
            return;
        }
        self.record.exited = Some(code);
        let _ = self
            .parent
            .cast(WorkspaceMsg::AgentChanged(self.record.clone()));
    }
}

/// Turns a ractor call result into ours: a timeout or a dropped reply is an
/// internal error with a readable message.
pub(crate) trait CallResultExt<T> {
    fn success_or_internal(self) -> Result<T, ActorError>;
}

impl<T> CallResultExt<T> for ractor::rpc::CallResult<T> {
    fn success_or_internal(self) -> Result<T, ActorError> {
        match self {
            ractor::rpc::CallResult::Success(v) => Ok(v),
            ractor::rpc::CallResult::Timeout => Err(ActorError::Internal("timed out".into())),
            ractor::rpc::CallResult::SenderError => Err(ActorError::Internal(
                "actor stopped before answering".into(),
            )),
        }
    }
}
