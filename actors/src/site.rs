//! Where a workspace runs. One trait, one implementation per kind — this
//! node ([`local::LocalSite`]) and an SSH host ([`host::HostSite`]); next, a
//! peer during a move and a cloud worker. The actors never branch on the
//! kind: they ask the workspace's site to check for a program, make, read,
//! save (refuse or snapshot unsaved work) and remove the worktree, to
//! snapshot a worktree's whole state and restore it as a new worktree, and
//! for the command that runs (or shows) an agent and how its terminal
//! behaves.
//!
//! Invariants: `save_work` runs before `discard`, so unsaved work is refused
//! (without `force`) or kept in a snapshot ref first (with it). A snapshot
//! has one format on every site: gitsync's capture (`roam_gitsync::capture`
//! and `roam_gitsync::restore` here; the same layout written and read by
//! shell scripts on a host), so a snapshot made on one site restores on
//! another. A snapshot never touches the user's branch, index or files; a
//! restore never writes over a path or moves a branch that is there.

pub mod host;
pub mod local;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use roam_gitsync::WorktreeStatus;

use crate::Runtime;
use crate::error::ActorError;
use crate::model::WorkspaceRecord;
use crate::persist::BoxFuture;
use crate::status_watch::StatusWatch;

/// What `roam new` asks for.
#[derive(Clone, Debug)]
pub struct CreateSpec {
    /// The mesh-wide id, chosen by whoever reserved the name.
    pub id: String,
    pub name: String,
    /// Any path inside the repository (on this node).
    pub repo: PathBuf,
    pub base: Option<String>,
    pub profile: Option<String>,
    pub prompt: Option<String>,
    /// An SSH host to run it on; `None` is this node.
    pub host: Option<String>,
}

/// Where a new workspace's worktree was made.
pub struct Placement {
    /// The repository's main worktree on this node.
    pub repo: String,
    /// The base as it will be recorded.
    pub base: String,
    /// The worktree, as the site names it.
    pub path: String,
}

/// How an agent's terminal is started here: the process the PTY runs and
/// its working directory.
pub struct AgentCommand {
    pub argv: Vec<String>,
    pub cwd: PathBuf,
}

pub trait Site: Send + Sync + 'static {
    /// The badge `roam ls` shows for it when it is not this node (`ssh:box`).
    fn badge(&self) -> Option<String>;

    /// Whether `program` can run there.
    fn has_program<'a>(&'a self, program: &'a str) -> BoxFuture<'a, Result<bool, ActorError>>;

    /// Makes the worktree on branch `roam/NAME` from the base, sending the
    /// site whatever of the repository it lacks.
    fn create<'a>(&'a self, spec: &'a CreateSpec) -> BoxFuture<'a, Result<Placement, ActorError>>;

    /// Ahead/behind the base and dirty files.
    fn status<'a>(
        &'a self,
        record: &'a WorkspaceRecord,
    ) -> BoxFuture<'a, Result<WorktreeStatus, ActorError>>;

    /// Calls `changed` whenever the status may have changed, for as long
    /// as the value returned lives, and `lost` if it no longer can;
    /// `None` where that cannot be watched (then every listing reads the
    /// status).
    fn watch_status<'a>(
        &'a self,
        record: &'a WorkspaceRecord,
        changed: Box<dyn Fn() + Send + 'static>,
        lost: Box<dyn Fn(String) + Send + 'static>,
    ) -> BoxFuture<'a, Option<StatusWatch>>;

    /// Whether the worktree is there (a host's is checked when its agent
    /// attaches, not here).
    fn worktree_present(&self, record: &WorkspaceRecord) -> bool;

    /// Refuses unsaved work unless `force`; with it, keeps it in a snapshot
    /// ref (`refs/roam/snapshots/NAME/TIME`) in the site's repository.
    /// Returns the ref, if one was written.
    fn save_work<'a>(
        &'a self,
        record: &'a WorkspaceRecord,
        force: bool,
    ) -> BoxFuture<'a, Result<Option<String>, ActorError>>;

    /// Captures the worktree's whole state — HEAD branch, index, files
    /// (untracked included) — at `ref_name` in the site's repository, in
    /// gitsync's snapshot layout, never touching the user's branch, index
    /// or files. A merge, rebase, cherry-pick, revert or bisect in progress
    /// is refused (it would not be carried).
    fn snapshot<'a>(
        &'a self,
        record: &'a WorkspaceRecord,
        ref_name: &'a str,
    ) -> BoxFuture<'a, Result<(), ActorError>>;

    /// Makes a new worktree at `path` (refused if anything is there) of the
    /// site's repository (this node: `record.repo`; a host: the one
    /// `record.path` is a worktree of) holding exactly the snapshot at
    /// `ref_name`, in the layout `snapshot` writes: HEAD on the recorded
    /// branch (made at the snapshot's HEAD if missing; refused if it exists
    /// elsewhere) or detached, the index as staged, the files as they were.
    /// On any failure the new worktree is removed again.
    fn restore<'a>(
        &'a self,
        record: &'a WorkspaceRecord,
        ref_name: &'a str,
        path: &'a str,
    ) -> BoxFuture<'a, Result<(), ActorError>>;

    /// Ends what still runs there and removes the worktree and its branch.
    /// The work is already safe (`save_work`).
    fn discard<'a>(&'a self, record: &'a WorkspaceRecord) -> BoxFuture<'a, ()>;

    /// The command that runs the agent (`argv`, the profile's command or
    /// resume) there, as a process here: the agent itself, or what shows it.
    /// `reattach` only shows an agent that never stopped running there.
    fn agent_command(
        &self,
        rt: &Runtime,
        workspace: &str,
        workdir: &Path,
        agent: &str,
        argv: Vec<String>,
        reattach: bool,
    ) -> AgentCommand;

    /// Keeps the files an agent owns (its profile's `owns` patterns) out of
    /// the worktree's status, in its repository's `info/exclude`.
    fn exclude<'a>(
        &'a self,
        workdir: &'a Path,
        patterns: &'a [String],
    ) -> BoxFuture<'a, Result<(), ActorError>>;

    /// Ends the agent where it runs (its terminal here may only show it).
    fn end_agent<'a>(&'a self, workspace: &'a str, agent: &'a str) -> BoxFuture<'a, ()>;

    /// Whether the agent's terminal ending with `agent::CONNECTION_LOST`
    /// means only the link broke (the agent runs on; reattach). Such a
    /// terminal marks its repaints and missed history (`markers`).
    fn reattaches(&self) -> bool;

    /// Whether its agents run in holders on this node (`holders`), so they
    /// outlive the node; else what keeps them is the site's own (tmux on
    /// an SSH host) and this node's terminal only shows them.
    fn holds_agents(&self) -> bool;

    /// Whether the agent's session files can be read from here.
    fn sees_session_files(&self) -> bool;
}

/// The site a workspace runs on: this node, or the SSH host it names.
pub fn of(rt: &Arc<Runtime>, host: Option<&str>) -> Arc<dyn Site> {
    match host {
        None => Arc::new(local::LocalSite {
            worktrees_dir: rt.worktrees_dir.clone(),
        }),
        Some(host) => Arc::new(host::HostSite {
            host: host.to_string(),
            remote: rt.remote.clone(),
        }),
    }
}

/// The ref a snapshot of workspace `name` is kept at: the time, and a
/// nonce so two snapshots in one second never share a ref.
pub fn snapshot_ref(name: &str) -> String {
    let nonce: u16 = rand_nonce();
    format!("refs/roam/snapshots/{name}/{}-{nonce:04x}", unix_now())
}

fn rand_nonce() -> u16 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    // Nanoseconds mixed with a per-process counter: unique enough within a
    // second on one node, which is all a snapshot ref needs.
    static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    (nanos ^ n.wrapping_mul(0x9e37_79b9)) as u16
}

pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
