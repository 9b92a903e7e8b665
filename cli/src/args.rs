//! The command line, as clap sees it.

use clap::{Args, Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "roam",
    version,
    about = "Run coding agents in git workspaces across your machines"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run or inspect this machine's node
    #[command(subcommand)]
    Node(NodeCommand),
    /// Start the node in the background (does nothing if it runs)
    Up {
        /// Node name (default: config, then host name)
        #[arg(long)]
        name: Option<String>,
    },
    /// Stop the node gracefully: scrollback saved, agents ended
    Down {
        /// Leave the agents running (each in its holder) for the next
        /// `roam up` to adopt: an upgrade or restart that interrupts nothing
        #[arg(long)]
        keep_agents: bool,
    },
    /// Make a workspace: a worktree on branch roam/NAME with an agent in it
    New {
        name: String,
        /// Repository to branch from (default: the one containing the current directory)
        #[arg(long)]
        repo: Option<String>,
        /// Ref to branch from (default: the repository's current branch)
        #[arg(long)]
        base: Option<String>,
        /// Agent profile (claude, codex, aider, shell, or one from config)
        #[arg(long)]
        agent: Option<String>,
        /// First prompt for the agent
        #[arg(long)]
        prompt: Option<String>,
        /// Make it on another node of the mesh (by name); --repo is a path there
        #[arg(long)]
        on: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// List workspaces with their agents
    Ls {
        #[arg(long)]
        json: bool,
    },
    /// Remove a workspace (refuses unsaved work unless --force, which keeps a snapshot ref)
    Rm {
        name: String,
        #[arg(long)]
        force: bool,
        /// Drop this node's superseded copy of the workspace (left behind
        /// when another node took it over); its unsaved work is kept in a
        /// snapshot ref first
        #[arg(long)]
        superseded: bool,
    },
    /// Stop a workspace's agents (the worktree and scrollback stay)
    Stop { name: String },
    /// Start a stopped workspace's agents again, resuming their conversations
    Start { name: String },
    /// Manage agents in a workspace
    #[command(subcommand)]
    Agent(AgentCommand),
    /// Attach your terminal to an agent (detach with Ctrl-])
    Attach {
        /// WORKSPACE or WORKSPACE:AGENT
        target: String,
    },
    /// Type text into an agent's terminal without attaching
    Send {
        /// WORKSPACE or WORKSPACE:AGENT
        target: String,
        text: String,
        /// Do not press Enter after the text
        #[arg(long)]
        no_enter: bool,
    },
    /// Print an agent's scrollback
    Logs {
        /// WORKSPACE or WORKSPACE:AGENT
        target: String,
        /// Keep printing new output
        #[arg(long, short)]
        follow: bool,
    },
    /// Print a one-time code that lets another machine join this mesh
    Pair,
    /// Join the mesh of another node with the code `roam pair` printed there
    Join {
        code: String,
        /// An address printed by `roam pair` (default: look on the LAN with mDNS)
        addr: Option<String>,
    },
    /// Remove a node from the mesh everywhere; it can no longer connect
    Unpair { node: String },
    /// List the nodes of the mesh
    Nodes {
        #[arg(long)]
        json: bool,
    },
    /// Talk to the mesh directly
    #[command(subcommand)]
    Mesh(MeshCommand),
    /// SSH hosts workspaces can run on, with nothing installed there
    #[command(subcommand)]
    Host(HostCommand),
    /// Print shell completions
    Completions { shell: clap_complete::Shell },
}

#[derive(Subcommand, Debug)]
pub enum NodeCommand {
    /// Run the node in the foreground
    Run {
        #[arg(long)]
        name: Option<String>,
        /// Do not look for paired nodes on the LAN
        #[arg(long)]
        no_mdns: bool,
    },
    /// Print this node's PeerId
    Id,
    /// Show the running node
    Status {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum HostCommand {
    /// Connect (as `ssh HOST` would), check the host, and add it
    Add {
        /// A host alias from ~/.ssh/config, or user@host[:port]
        host: String,
        /// Trust the host key if it is not in known_hosts yet (and record it)
        #[arg(long)]
        accept_new: bool,
        #[arg(long)]
        json: bool,
    },
    /// List added hosts
    Ls {
        #[arg(long)]
        json: bool,
    },
    /// Run the checklist again
    Check {
        host: String,
        #[arg(long)]
        json: bool,
    },
    /// Forget a host (nothing on the host is touched)
    Rm { host: String },
    /// (internal) relay stdio to COMMAND on HOST: git's transport
    #[command(hide = true)]
    Pipe {
        host: String,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<String>,
    },
    /// (internal) the terminal of an agent running in tmux on HOST
    #[command(hide = true)]
    Tmux {
        host: String,
        session: String,
        #[arg(long)]
        cwd: String,
        /// Start the agent if its session is not there
        #[arg(long)]
        create: bool,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        argv: Vec<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum MeshCommand {
    /// Connect to a paired node at an address mDNS cannot see
    Dial { addr: String },
}

#[derive(Subcommand, Debug)]
pub enum AgentCommand {
    /// Start another agent in a workspace
    Add(AgentAdd),
}

#[derive(Args, Debug)]
pub struct AgentAdd {
    pub workspace: String,
    #[arg(long)]
    pub agent: Option<String>,
    #[arg(long)]
    pub prompt: Option<String>,
    #[arg(long)]
    pub json: bool,
}
