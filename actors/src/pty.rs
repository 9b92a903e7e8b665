//! The Pty actor: one process in a pseudo-terminal, its scrollback and its
//! screen.
//!
//! - Parent: an Agent actor, which it notifies with `AgentMsg::PtyExited`.
//! - Children: none. The terminal is a PTY of its own (`direct`: an SSH
//!   host's terminal) or a holder's (`held`: every agent on this node),
//!   read and written by threads or tasks that talk to the actor by
//!   messages, so a process that stops reading cannot block the actor.
//! - Messages: output and exit from the terminal (and, from a holder, a
//!   gap in the output or the holder's loss); input, resize, subscribe,
//!   scrollback, activity and kill from the agent; a persist tick.
//! - Invariants: every byte the process writes goes, in order, to the
//!   scrollback, the screen model and every subscriber; a subscriber gets the
//!   current screen and then exactly the bytes that follow it (taken in one
//!   message, so nothing falls between). The actor outlives its process so
//!   the scrollback stays readable; it is persisted every second and on stop.
//!   A holder is told what the scrollback file holds once it holds it, and
//!   a stop with `keep_agents` leaves the holder's agent running.
//!   Memory is bounded by bytes whatever the process or a viewer does:
//!   output in flight to the actor (`OUTPUT_IN_FLIGHT`, the reader waits),
//!   output held for a lagging viewer (`SUBSCRIBER_DEPTH` × `READ_CHUNK`,
//!   then it resyncs), input not yet written (`INPUT_PENDING`, then dropped).
//! - Two exceptions to the first: terminal queries (`queries`) are
//!   answered here and go to nobody else. A terminal that reattaches (a
//!   host's, `marks_reattach`): its `markers` keep tmux's repaint out of the
//!   scrollback (screen and viewers only) and put only the unseen part of
//!   the missed history (scrollback only) or of the replayed log (all
//!   three) in it, so no line is there twice however often the link drops.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

mod direct;
mod held;
mod keys;

pub use direct::DirectSpec;
pub use keys::Keys;

use portable_pty::PtySize;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, broadcast};

use crate::Runtime;
use crate::agent::AgentMsg;
use crate::holders::Held;
use crate::markers::Marker;
use crate::queries::Query;
use crate::scan::{Piece, Scanner};
use crate::screen::Screen;
use crate::screen_thread::ScreenThread;
use crate::scrollback::Scrollback;
use crate::session::Session;

/// The largest read from the PTY, so every bound below counted in chunks is
/// also one in bytes.
const READ_CHUNK: usize = 16 * 1024;
/// Subscriber channel depth, in chunks (at most 4 MiB held for a viewer
/// that stalls). A viewer that falls further behind gets `Lagged` and
/// resynchronises from the screen, as mosh does, instead of holding the
/// agent back or growing memory without bound.
const SUBSCRIBER_DEPTH: usize = 256;
/// Output read from the PTY but not yet taken in by the actor. Past this
/// the reader waits, so an agent that writes faster than the screen model
/// parses is held back by its own terminal (its writes block, as on a slow
/// real terminal) instead of filling the actor's mailbox.
const OUTPUT_IN_FLIGHT: usize = 1024 * 1024;
/// Input accepted but not yet written to the PTY. A process that stops
/// reading its terminal loses keys past this, as a full tty input queue
/// does, instead of the node buffering them without end.
const INPUT_PENDING: usize = 1024 * 1024;
/// How much scrollback is replayed into a fresh screen model after a restart.
const SCREEN_REBUILD_BYTES: usize = 256 * 1024;
/// The most a marked block (`Block`) may hold: past it the
/// block is taken as ended (a marker that never came must not keep the
/// agent's output out of the scrollback for good).
const BLOCK_MAX: usize = 4 * 1024 * 1024;
const PERSIST_EVERY: Duration = Duration::from_secs(1);
/// How long an agent's session has to exit after SIGHUP before what is left
/// of it is killed.
pub const KILL_GRACE: Duration = Duration::from_secs(3);

#[derive(Clone, Debug)]
pub enum PtyEvent {
    Output(Arc<[u8]>),
    Exited { code: i32 },
}

/// A viewer's start: the screen as it is now, then the live stream.
#[derive(Debug)]
pub struct Subscription {
    /// Escape sequences that paint the current screen and cursor.
    pub screen: Vec<u8>,
    /// The whole scrollback, when asked for (`roam logs --follow`).
    pub scrollback: Option<Vec<u8>>,
    pub exited: Option<i32>,
    pub events: broadcast::Receiver<PtyEvent>,
    /// The terminal's keyboard: what the viewer types goes here.
    pub keys: Keys,
}

/// What a terminal saw last, which a reattaching one's missed output is
/// cut after.
#[derive(Clone, Debug, Default)]
pub struct Seen {
    /// The screen's rows as text.
    pub rows: Vec<String>,
    /// The last bytes the process wrote (at most `SEEN_BYTES`), without
    /// Roam's own notes.
    pub tail: Vec<u8>,
}

const SEEN_BYTES: usize = 512;

impl Seen {
    /// Keeps the end of what the process wrote.
    fn remember(&mut self, bytes: &[u8]) {
        self.tail
            .extend_from_slice(&bytes[bytes.len().saturating_sub(SEEN_BYTES)..]);
        self.tail
            .drain(..self.tail.len().saturating_sub(SEEN_BYTES));
    }
}

/// What status is derived from.
#[derive(Clone, Debug)]
pub struct Activity {
    pub quiet_for: Duration,
    pub cursor_line: String,
    pub last_line: String,
    pub exited: Option<i32>,
    pub pid: Option<u32>,
    pub produced_output: bool,
}

/// Where the process runs.
pub enum Process {
    /// In a PTY of this node's, started now.
    Direct(DirectSpec),
    /// In a holder, started or adopted (`holders`).
    Held { held: Box<Held>, rt: Arc<Runtime> },
}

pub struct PtySpec {
    pub process: Process,
    pub scrollback_path: PathBuf,
    pub scrollback_bytes: usize,
    pub rows: u16,
    pub cols: u16,
    /// Written into the scrollback and screen before the process starts
    /// (e.g. "node restarted").
    pub banner: Option<String>,
    /// What the terminal before this one saw last (a reattach); else it is
    /// taken from the screen and scrollback as they were rebuilt.
    pub seen: Option<Seen>,
    /// Whether the output's `markers` are honoured (a host's terminal).
    pub marks_reattach: bool,
    pub owner: ActorRef<AgentMsg>,
}

pub enum PtyMsg {
    /// Bytes from the reader; the permit is its share of
    /// `OUTPUT_IN_FLIGHT`, given back when the message is handled.
    Output(Vec<u8>, OwnedSemaphorePermit),
    ReadEnded,
    ChildExited {
        code: i32,
    },
    /// From a holder: this many bytes of output were lost before what
    /// follows (no node saved them before its ring let them go).
    Gap(u64),
    /// The holder's connection ended before it said how the agent ended.
    HolderLost(String),
    Input(Vec<u8>),
    Resize {
        rows: u16,
        cols: u16,
    },
    Subscribe {
        with_scrollback: bool,
        reply: RpcReplyPort<Subscription>,
    },
    Scrollback(RpcReplyPort<Vec<u8>>),
    Activity(RpcReplyPort<Activity>),
    /// What this terminal saw last, for the one that reattaches after it.
    Seen(RpcReplyPort<Seen>),
    /// Ends the process and its whole session (SIGHUP, then SIGKILL to
    /// what is left after a grace).
    Kill,
    /// The PTY stopped giving output a while ago; fail if the process
    /// still runs (its terminal is broken, the agent restarts it).
    CheckReadEnded,
    Persist,
}

pub struct PtyActor;

/// The terminal the process runs in.
enum Terminal {
    Direct(direct::Direct),
    Held {
        terminal: held::HeldTerminal,
        rt: Arc<Runtime>,
    },
    /// A stopped actor's holder, handed back.
    Gone,
}

/// Where output goes, on a terminal that marks its reattaches.
enum Block {
    /// Scrollback, screen and viewers, as on every other terminal.
    Live,
    /// tmux's repaint: screen and viewers (bytes so far).
    Repaint(usize),
    /// History missed while the link was down, gathered until its end.
    Missed(Vec<u8>),
    /// The end of the agent's raw log (a host without tmux): screen and
    /// viewers at once, and gathered for the scrollback's unseen part.
    Replay(Vec<u8>),
}

pub struct PtyState {
    scrollback: Scrollback,
    screen: ScreenThread,
    /// Present when the terminal marks its reattaches.
    markers: Option<Scanner<Marker>>,
    /// Terminal queries, answered here (`queries`).
    queries: Scanner<Query>,
    block: Block,
    /// What this node saw last before this start (its banner excluded),
    /// which the missed history is cut after; the tail follows the output.
    seen: Seen,
    /// Whether output is the agent's yet. A terminal reattaching after a
    /// lost link prints only its own complaints (a host still unreachable)
    /// until its first block: those must not pass for what was seen.
    agent_speaks: bool,
    events: broadcast::Sender<PtyEvent>,
    terminal: Terminal,
    /// Set for the output an earlier node already saw: its terminal
    /// queries were answered then.
    quiet_queries: bool,
    /// Input, bounded by `INPUT_PENDING`; viewers hold it too.
    keys: Keys,
    /// `OUTPUT_IN_FLIGHT`, in bytes; closed when the actor stops, which
    /// frees a reader waiting on it.
    output_room: Arc<Semaphore>,
    pid: Option<u32>,
    /// Set once the session is being ended, so it is ended once.
    ending: bool,
    last_output: Instant,
    produced_output: bool,
    child_exit: Option<i32>,
    read_done: bool,
    exit_reported: bool,
    owner: ActorRef<AgentMsg>,
}

impl Actor for PtyActor {
    type Msg = PtyMsg;
    type State = PtyState;
    type Arguments = PtySpec;

    async fn pre_start(
        &self,
        myself: ActorRef<PtyMsg>,
        spec: PtySpec,
    ) -> Result<PtyState, ActorProcessingErr> {
        let state = PtyState::start(myself.clone(), spec)?;
        myself.send_interval(PERSIST_EVERY, || PtyMsg::Persist);
        Ok(state)
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<PtyMsg>,
        state: &mut PtyState,
    ) -> Result<(), ActorProcessingErr> {
        state.output_room.close();
        // Viewers may hold the keys longer: the terminal's writer must not
        // wait on them.
        state.keys.close();
        let keep = state.keeps_agent();
        // Waited for here, so the node never exits (or starts the agent
        // again) while the session still runs.
        if !keep && let Some(ending) = state.end_session() {
            let _ = ending.await;
        }
        if let Terminal::Held { terminal, .. } = &mut state.terminal {
            terminal.ack_when_written(&mut state.scrollback);
        }
        // The file holds everything once the writer is done.
        if let Some(writer) = state.scrollback.close() {
            let _ = tokio::task::spawn_blocking(move || writer.join()).await;
        }
        if let Terminal::Held { terminal, .. } =
            std::mem::replace(&mut state.terminal, Terminal::Gone)
        {
            terminal.finish(keep).await;
        }
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<PtyMsg>,
        msg: PtyMsg,
        state: &mut PtyState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            PtyMsg::Output(bytes, _room) => state.took(&bytes),
            PtyMsg::Gap(lost) => state.gap(lost),
            PtyMsg::HolderLost(why) => state.holder_lost(why)?,
            PtyMsg::ReadEnded => {
                state.read_ended();
                if state.child_exit.is_none() {
                    myself.send_after(KILL_GRACE, || PtyMsg::CheckReadEnded);
                }
            }
            PtyMsg::CheckReadEnded => state.check_read_ended()?,
            PtyMsg::ChildExited { code } => state.child_exited(code),
            PtyMsg::Input(bytes) => state.input(bytes),
            PtyMsg::Resize { rows, cols } => state.resize(rows, cols),
            PtyMsg::Subscribe {
                with_scrollback,
                reply,
            } => {
                let _ = reply.send(state.subscribe(with_scrollback));
            }
            PtyMsg::Scrollback(reply) => {
                let _ = reply.send(state.scrollback.contents());
            }
            PtyMsg::Activity(reply) => {
                let _ = reply.send(state.activity());
            }
            PtyMsg::Seen(reply) => {
                let _ = reply.send(state.seen());
            }
            PtyMsg::Kill => {
                // Ends on its own: the handler does not wait out the grace.
                let _ = state.end_session();
            }
            PtyMsg::Persist => state.persist(),
        }
        Ok(())
    }
}

/// However the actor ends (a failure skips `post_stop`), viewers holding
/// the keys never keep the terminal's writer alive.
impl Drop for PtyState {
    fn drop(&mut self) {
        self.keys.close();
    }
}

impl PtyState {
    fn start(myself: ActorRef<PtyMsg>, spec: PtySpec) -> Result<PtyState, ActorProcessingErr> {
        let mut scrollback = Scrollback::open(&spec.scrollback_path, spec.scrollback_bytes)?;
        let mut screen = Screen::new(spec.rows, spec.cols);
        screen.process(&scrollback.tail(SCREEN_REBUILD_BYTES));
        let agent_speaks = spec.seen.is_none();
        let seen = spec.seen.unwrap_or_else(|| Seen {
            rows: screen.rows(),
            tail: scrollback.tail(SEEN_BYTES),
        });
        if let Some(banner) = &spec.banner {
            let line = format!("\r\n\x1b[7m[roam] {banner}\x1b[0m\r\n");
            scrollback.push(line.as_bytes());
            screen.process(line.as_bytes());
        }

        let output_room = Arc::new(Semaphore::new(OUTPUT_IN_FLIGHT));
        let size = PtySize {
            rows: spec.rows,
            cols: spec.cols,
            pixel_width: 0,
            pixel_height: 0,
        };
        let (terminal, pid) = match spec.process {
            Process::Direct(direct) => {
                let (direct, pid) = direct::start(direct, size, &myself, &output_room)?;
                (Terminal::Direct(direct), pid)
            }
            Process::Held { held, rt } => {
                let terminal = held::start(*held, rt.store.clone(), &myself, &output_room);
                // The holder's size may be another node's last one.
                terminal.resize(spec.rows, spec.cols);
                let pid = Some(terminal.agent_pid());
                (Terminal::Held { terminal, rt }, pid)
            }
        };

        let sink = match &terminal {
            Terminal::Direct(direct) => Some(keys::Sink::Direct(direct.input.clone())),
            Terminal::Held { terminal, .. } => Some(keys::Sink::Held(terminal.keys())),
            Terminal::Gone => None,
        };
        let keys = Keys::new(sink, pid);
        let (events, _) = broadcast::channel(SUBSCRIBER_DEPTH);
        Ok(PtyState {
            scrollback,
            screen: ScreenThread::start(screen)?,
            markers: spec.marks_reattach.then(crate::markers::scanner),
            queries: crate::queries::scanner(),
            block: Block::Live,
            seen,
            agent_speaks,
            events,
            terminal,
            quiet_queries: false,
            keys,
            output_room,
            pid,
            ending: false,
            last_output: Instant::now(),
            produced_output: false,
            child_exit: None,
            read_done: false,
            exit_reported: false,
            owner: spec.owner,
        })
    }

    /// Output from the terminal; from a holder, the part an earlier node
    /// already saw has its queries left unanswered (they were answered).
    fn took(&mut self, bytes: &[u8]) {
        let seen = match &mut self.terminal {
            Terminal::Held { terminal, .. } => terminal.took(bytes.len()),
            _ => 0,
        };
        if seen > 0 {
            self.quiet_queries = true;
            self.output(&bytes[..seen]);
            self.quiet_queries = false;
        }
        self.output(&bytes[seen..]);
    }

    /// Output the holder could not keep for us: said where it was.
    fn gap(&mut self, lost: u64) {
        if let Terminal::Held { terminal, .. } = &mut self.terminal {
            terminal.skipped(lost);
        }
        tracing::warn!(pid = ?self.pid, lost_bytes = lost, "output of the agent was lost while no node was attached");
        let line = format!(
            "\r\n\x1b[7m[roam] {lost} bytes of output were lost here while no node was running (the holder keeps the last {} MiB)\x1b[0m\r\n",
            roam_holder::serve::RING_BYTES >> 20
        );
        self.scrollback.push(line.as_bytes());
        self.show(line.as_bytes());
    }

    /// The holder went before saying how the agent ended: its agent lost
    /// its terminal. What is left of its session is ended, and the actor
    /// fails, so the agent is started again with its resume command.
    fn holder_lost(&mut self, why: String) -> Result<(), ActorProcessingErr> {
        if self.child_exit.is_some() {
            return Ok(()); // a released holder going, as it should
        }
        tracing::warn!(pid = ?self.pid, reason = %why, "the agent's holder ended before its agent");
        self.force_kill();
        self.persist();
        Err(format!("the agent's holder ended unexpectedly ({why})").into())
    }

    /// Whether stopping leaves the agent running, for the next node.
    fn keeps_agent(&self) -> bool {
        match &self.terminal {
            Terminal::Held { rt, .. } => {
                self.child_exit.is_none()
                    && rt.keep_agents.load(std::sync::atomic::Ordering::Acquire)
            }
            _ => false,
        }
    }

    fn output(&mut self, bytes: &[u8]) {
        self.last_output = Instant::now();
        self.produced_output = true;
        let Some(markers) = &mut self.markers else {
            self.answer_queries(bytes);
            return;
        };
        for piece in markers.split(bytes) {
            match piece {
                Piece::Bytes(bytes) => self.answer_queries(&bytes),
                Piece::Found(marker) => self.marker(marker),
            }
        }
    }

    /// Answers the terminal queries in `bytes` from the screen as it is
    /// right there, and passes the rest on.
    fn answer_queries(&mut self, bytes: &[u8]) {
        for piece in self.queries.split(bytes) {
            match piece {
                Piece::Bytes(bytes) => self.block_output(&bytes),
                Piece::Found(_) if self.quiet_queries => {}
                Piece::Found(query) => {
                    let answer = query.answer(self.screen.exact(Screen::cursor));
                    self.input(answer);
                }
            }
        }
    }

    fn live(&mut self, bytes: &[u8]) {
        self.show(bytes);
        self.scrollback.push(bytes);
        if self.agent_speaks {
            self.seen.remember(bytes);
        }
    }

    /// To every viewer, then the screen model's thread, which parses it
    /// while this actor goes on (a subscription is taken between messages
    /// and waits for the model to catch up, so it never sees the one
    /// without the other).
    fn show(&mut self, bytes: &[u8]) {
        let bytes: Arc<[u8]> = Arc::from(bytes);
        // No receivers is fine: nobody is attached.
        let _ = self.events.send(PtyEvent::Output(bytes.clone()));
        roam_hops::mark(roam_hops::Hop::NodeEchoShown);
        self.screen.process(bytes);
    }

    fn block_output(&mut self, bytes: &[u8]) {
        match &mut self.block {
            Block::Live => self.live(bytes),
            Block::Repaint(n) if *n + bytes.len() <= BLOCK_MAX => {
                *n += bytes.len();
                self.show(bytes);
            }
            Block::Missed(held) if held.len() + bytes.len() <= BLOCK_MAX => {
                held.extend_from_slice(bytes);
            }
            Block::Replay(held) if held.len() + bytes.len() <= BLOCK_MAX => {
                held.extend_from_slice(bytes);
                self.show(bytes);
            }
            Block::Repaint(_) | Block::Missed(_) | Block::Replay(_) => {
                tracing::warn!(pid = ?self.pid, bound_bytes = BLOCK_MAX, "a marked block never ended; its output goes on as usual");
                self.end_block();
                self.live(bytes);
            }
        }
    }

    fn marker(&mut self, marker: Marker) {
        self.agent_speaks = true;
        match marker {
            Marker::RepaintBegin => {
                self.end_block();
                self.block = Block::Repaint(0);
            }
            Marker::MissedBegin => {
                self.end_block();
                self.block = Block::Missed(Vec::new());
            }
            Marker::ReplayBegin => {
                self.end_block();
                self.block = Block::Replay(Vec::new());
            }
            Marker::RepaintEnd | Marker::MissedEnd | Marker::ReplayEnd => self.end_block(),
        }
    }

    /// Ends the current block: missed history goes into the scrollback,
    /// cut to what this node never saw.
    fn end_block(&mut self) {
        match std::mem::replace(&mut self.block, Block::Live) {
            Block::Missed(held) => {
                let text = String::from_utf8_lossy(&held);
                let lines: Vec<String> = text
                    .split('\n')
                    .map(|l| l.trim_end_matches('\r').to_string())
                    .collect();
                let new = crate::missed::unseen(&self.seen.rows, &lines);
                self.scrollback.push(&crate::missed::framed(new));
            }
            Block::Replay(held) => {
                let new = crate::missed::unseen_bytes(&self.seen.tail, &held);
                self.scrollback.push(&crate::missed::framed_bytes(new));
                // The log's end is what was seen now, whatever came before.
                self.seen.tail.clear();
                self.seen.remember(&held);
            }
            Block::Live | Block::Repaint(_) => {}
        }
    }

    fn read_ended(&mut self) {
        self.read_done = true;
        self.report_exit();
    }

    /// A process that lives on after its terminal stopped reading can no
    /// longer be seen or typed to: end it and fail, so the supervisor
    /// (the agent) starts it again with its resume command.
    fn check_read_ended(&mut self) -> Result<(), ActorProcessingErr> {
        if self.child_exit.is_some() {
            return Ok(());
        }
        self.force_kill();
        self.persist();
        Err("terminal read failed while the process was still running".into())
    }

    fn child_exited(&mut self, code: i32) {
        self.child_exit = Some(code);
        self.keys.close();
        // What the agent left in its session when it ended by itself is its
        // own (as under tmux); while we end it, the end clears the mark.
        if !self.ending
            && let Some(mark) = self.take_mark()
        {
            mark.clear();
        }
        self.report_exit();
    }

    /// The exit is reported once both the process has ended and its last
    /// output was read, so viewers never see "exited" before the final bytes.
    fn report_exit(&mut self) {
        let Some(code) = self.child_exit else { return };
        if !self.read_done || self.exit_reported {
            return;
        }
        self.exit_reported = true;
        let _ = self.events.send(PtyEvent::Exited { code });
        self.persist();
        if let Terminal::Held { terminal, .. } = &self.terminal {
            terminal.release();
        }
        let _ = self.owner.cast(AgentMsg::PtyExited { code });
    }

    /// A direct terminal's mark (a holder's record is the holder's own).
    fn take_mark(&mut self) -> Option<Arc<crate::leftover::Mark>> {
        match &mut self.terminal {
            Terminal::Direct(direct) => direct.mark.take(),
            _ => None,
        }
    }

    fn input(&mut self, bytes: Vec<u8>) {
        self.keys.send(bytes);
    }

    fn resize(&mut self, rows: u16, cols: u16) {
        let (rows, cols) = (rows.max(1), cols.max(1));
        match &self.terminal {
            Terminal::Direct(direct) => {
                let _ = direct.master.resize(PtySize {
                    rows,
                    cols,
                    pixel_width: 0,
                    pixel_height: 0,
                });
            }
            Terminal::Held { terminal, .. } => terminal.resize(rows, cols),
            Terminal::Gone => {}
        }
        self.screen.resize(rows, cols);
    }

    /// What a terminal that reattaches after this one cuts its missed
    /// output after: this screen, or, if the agent never spoke here, what
    /// this terminal was handed.
    fn seen(&self) -> Seen {
        if !self.agent_speaks {
            return self.seen.clone();
        }
        Seen {
            rows: self.screen.exact(Screen::rows),
            tail: self.seen.tail.clone(),
        }
    }

    fn subscribe(&self, with_scrollback: bool) -> Subscription {
        Subscription {
            screen: self.screen.exact(Screen::repaint),
            scrollback: with_scrollback.then(|| self.scrollback.contents()),
            exited: self.exit_reported.then_some(self.child_exit).flatten(),
            events: self.events.subscribe(),
            keys: self.keys.clone(),
        }
    }

    fn activity(&self) -> Activity {
        let ((row, _), lines) = self.screen.now(|s| (s.cursor(), s.rows()));
        let cursor_line = lines.get(row as usize).cloned().unwrap_or_default();
        let last_line = lines
            .iter()
            .rev()
            .find(|l| !l.trim().is_empty())
            .cloned()
            .unwrap_or_default();
        Activity {
            quiet_for: self.last_output.elapsed(),
            cursor_line,
            last_line,
            exited: self.child_exit,
            pid: self.pid,
            produced_output: self.produced_output,
        }
    }

    /// Ends the process's whole session on a blocking thread: SIGHUP to
    /// every member, SIGKILL to what is left after `KILL_GRACE` (a shell's
    /// background jobs have groups of their own, so the group is not
    /// enough). Then the mark goes. None if it no longer runs or is already
    /// being ended.
    fn end_session(&mut self) -> Option<tokio::task::JoinHandle<()>> {
        let (None, Some(pid), false) = (self.child_exit, self.pid, self.ending) else {
            return None;
        };
        self.ending = true;
        let mark = self.take_mark();
        Some(tokio::task::spawn_blocking(move || {
            Session { leader: pid as i32 }.end(KILL_GRACE);
            if let Some(mark) = mark {
                mark.clear();
            }
        }))
    }

    /// An agent whose terminal broke gets SIGKILL, with its whole session.
    fn force_kill(&mut self) {
        if let (None, Some(pid)) = (self.child_exit, self.pid) {
            Session { leader: pid as i32 }.signal(nix::sys::signal::Signal::SIGKILL);
        }
    }

    fn persist(&mut self) {
        match &mut self.terminal {
            Terminal::Held { terminal, .. } => terminal.ack_when_written(&mut self.scrollback),
            _ => self.scrollback.persist(),
        }
    }
}
