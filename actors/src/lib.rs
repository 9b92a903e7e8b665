//! The actor tree of a Roam node (ractor).
//!
//! ```text
//! NodeActor                 one per node; owns the name → workspace map
//! └── WorkspaceActor        one per workspace; owns its record
//!     └── AgentActor        one per agent; owns profile, session, status
//!         └── PtyActor      one per running process; scrollback, screen
//!             ┆             and the terminal: a PTY of its own, or
//!             └╌╌ holder    a holder process's, which outlives the node
//! ```
//!
//! Calls go down the tree and casts go up, so no actor ever waits on its
//! parent and the tree cannot deadlock. Everything that must survive a
//! restart or travel to another node is a plain [`model::WorkspaceRecord`],
//! saved through [`persist::Persist`] before a change is acknowledged. This
//! crate never touches the network: the node wires it to sockets and peers.
//!
//! - [`model`]: records and infos, plain data.
//! - [`profile`]: agent profiles and how to find their session files.
//! - [`remote`]: what the actors need of SSH hosts (the node provides it).
//! - [`site`]: where a workspace runs (this node, an SSH host): one trait.
//! - [`status_watch`], [`fresh_status`]: file events on what `git status`
//!   reads, and when a workspace's status must be read again.
//! - [`screen`]: the screen model, and the repaint of a late viewer;
//!   [`screen_thread`]: parsed on a thread of its own, off the output path.
//! - [`scrollback`]: the byte ring mirrored to disk.
//! - [`scan`]: finds fixed escape sequences in output; [`queries`]: the
//!   terminal queries a Pty actor answers itself.
//! - [`markers`], [`missed`]: a reattaching host terminal's repaints and
//!   missed history, kept out of the scrollback or cut to what is new.
//! - [`holders`]: starting, adopting and sweeping the holders that keep
//!   agents running while nodes come and go (`roam_holder`).
//! - [`pty`], [`agent`], [`workspace`], [`node`]: the actors.

pub mod agent;
pub mod error;
pub mod fresh_status;
pub mod holders;
pub mod leftover;
pub mod markers;
pub mod missed;
pub mod model;
pub mod node;
pub mod persist;
pub mod profile;
pub mod pty;
pub mod queries;
pub mod remote;
pub mod scan;
pub mod screen;
pub mod screen_thread;
pub mod scrollback;
pub use roam_holder::session;
pub mod site;
pub mod status;
pub mod status_watch;
pub mod workspace;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

pub use error::ActorError;

/// What every actor of a node reads and nobody changes: set once at start.
pub struct Runtime {
    /// This node as ownership names it (PeerId and name).
    pub node: model::Owner,
    pub worktrees_dir: PathBuf,
    pub scrollback_dir: PathBuf,
    /// Where running agents leave their marks (`leftover`), and holders
    /// their sockets (`holders`).
    pub run_dir: PathBuf,
    /// The holder binary (`roam-holder`, beside `roam`).
    pub holder_exe: PathBuf,
    /// Set when the node stops with `--keep-agents`: agents in holders run
    /// on, for the next node to adopt.
    pub keep_agents: std::sync::atomic::AtomicBool,
    pub profiles: BTreeMap<String, profile::Profile>,
    pub default_profile: String,
    pub scrollback_bytes: usize,
    /// The agents' home, where their session files live.
    pub home: PathBuf,
    pub store: Arc<dyn persist::Persist>,
    /// SSH hosts, as the node reaches them.
    pub remote: Arc<dyn remote::RemoteOps>,
    /// This node's `roam` binary and data dir: an agent on an SSH host is
    /// shown through `roam host tmux`, which talks to this node.
    pub roam_exe: PathBuf,
    pub data_dir: PathBuf,
}

impl Runtime {
    pub fn profile(&self, name: &str) -> Result<&profile::Profile, ActorError> {
        self.profiles
            .get(name)
            .ok_or_else(|| ActorError::UnknownProfile {
                name: name.to_string(),
                known: self.profiles.keys().cloned().collect::<Vec<_>>().join(", "),
            })
    }

    pub fn mark_path(&self, workspace: &str, agent: &str) -> PathBuf {
        self.run_dir.join(workspace).join(format!("{agent}.mark"))
    }

    pub fn holders_dir(&self) -> PathBuf {
        self.run_dir.join("holders")
    }

    pub fn scrollback_path(&self, workspace: &str, agent: &str) -> PathBuf {
        self.scrollback_dir
            .join(workspace)
            .join(format!("{agent}.log"))
    }
}
