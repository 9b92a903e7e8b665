//! `roam-bench`: the foundation benchmark. One run measures workspace creation
//! against plain `git worktree add`, the memory of the node (idle and with
//! agents) and of its agents' holders, and output throughput through
//! `roam attach` and through a holder against a bare PTY, and `roam ls` at
//! scale, then prints a table. Everything runs in a temp dir with its own node, removed at the end.

mod foundation;

use anyhow::Context;
use roam_bench::flood::Flood;
use roam_bench::node::{Bins, Node};

use foundation::report::Report;
use foundation::{listing, repo, rss, throughput, worktree};

/// `roam new` and `git worktree add` runs each.
const CREATE_RUNS: usize = 10;
/// Agents running for the memory measurement.
const AGENTS: usize = 20;
/// The flood: lines, and characters per line.
const FLOOD: Flood = Flood {
    lines: 200_000,
    width: 100,
};
const FLOOD_RUNS: usize = 5;

fn main() -> std::process::ExitCode {
    roam_bench::report::finish("roam-bench", run().map(|report| report.render()))
}

fn run() -> anyhow::Result<Report> {
    let bins = Bins::locate()?;
    // Declared before the node, so dropped after it: the node stops first.
    let root = tempfile::Builder::new()
        .prefix("roam-bench-")
        .tempdir()
        .context("cannot make a temp dir")?;
    let repo_dir = root.path().join("repo");
    let plain_dir = root.path().join("plain");

    eprintln!(
        "roam-bench: building the benchmark repo in {}",
        repo_dir.display()
    );
    let repo = repo::create(&repo_dir)?;
    eprintln!(
        "roam-bench: {} files from {}",
        repo.files,
        repo.crates.join(", ")
    );

    let node = Node::start(bins, root.path())?;
    eprintln!("roam-bench: node started (pid {:?})", node.pid());
    let idle = rss::idle(&node)?;

    eprintln!("roam-bench: workspace creation x{CREATE_RUNS}");
    let creation = worktree::bench(&node, &repo, &plain_dir, CREATE_RUNS)?;

    eprintln!("roam-bench: starting {AGENTS} agents");
    let rss = rss::with_agents(&node, &repo, idle, AGENTS)?;

    eprintln!("roam-bench: output throughput x{FLOOD_RUNS}");
    let throughput = throughput::bench(&node, "ws0", root.path(), FLOOD, FLOOD_RUNS)?;

    eprintln!(
        "roam-bench: roam ls with {} workspaces of {} agents",
        listing::WORKSPACES,
        listing::AGENTS_EACH
    );
    let listing = listing::bench(&node, &repo, AGENTS)?;

    drop(node);
    Ok(Report {
        repo,
        creation,
        rss,
        throughput,
        listing,
    })
}
