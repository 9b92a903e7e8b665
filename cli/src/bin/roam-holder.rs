//! `roam-holder`: keeps one agent's terminal so the agent outlives the
//! node. Started by the node, never by hand (see `roam_holder::serve`).

use std::path::PathBuf;

use clap::Parser;

#[derive(Parser)]
#[command(
    name = "roam-holder",
    about = "Holds an agent's terminal for a roam node (started by the node)"
)]
struct Args {
    #[arg(long)]
    socket: PathBuf,
    #[arg(long)]
    workspace: String,
    #[arg(long)]
    agent: String,
    #[arg(long)]
    cwd: PathBuf,
    #[arg(long, default_value_t = 24)]
    rows: u16,
    #[arg(long, default_value_t = 80)]
    cols: u16,
    /// The agent's command.
    #[arg(last = true, required = true)]
    argv: Vec<String>,
}

fn main() {
    let args = Args::parse();
    let held = roam_holder::serve::HolderArgs {
        socket: args.socket,
        workspace: args.workspace,
        agent: args.agent,
        cwd: args.cwd,
        rows: args.rows,
        cols: args.cols,
        argv: args.argv,
    };
    if let Err(e) = roam_holder::serve::run(held) {
        eprintln!("roam-holder: {e}");
        std::process::exit(1);
    }
}
