//! Load for the keystroke measurement: `LOAD_AGENTS` test agents on node A,
//! each printing a line every `LOAD_EVERY_MS` for as long as the node runs,
//! so a keystroke is timed while the node takes in their output too.

use std::time::Duration;

use anyhow::Context;
use roam_bench::node::Node;
use roam_bench::wait;

pub const LOAD_AGENTS: usize = 20;
pub const LOAD_EVERY_MS: u64 = 2;

/// Starts the printing agents and waits until every one has printed.
pub fn start(node: &Node, repo: &std::path::Path) -> anyhow::Result<()> {
    let repo = repo.to_str().context("repo path is not UTF-8")?;
    for i in 0..LOAD_AGENTS {
        let ws = format!("load{i}");
        node.roam(&["new", &ws, "--repo", repo, "--agent", "test"])?;
        wait::poll("a load agent's prompt", Duration::from_millis(50), || {
            Ok(node.roam(&["logs", &ws])?.contains("> ").then_some(()))
        })?;
        node.roam(&[
            "send",
            &ws,
            &format!("drip 100000000 {LOAD_EVERY_MS} load{i}"),
        ])?;
    }
    for i in 0..LOAD_AGENTS {
        let ws = format!("load{i}");
        wait::poll("a load agent to print", Duration::from_millis(50), || {
            Ok(node
                .roam(&["logs", &ws])?
                .contains(&format!("load{i} 2/"))
                .then_some(()))
        })?;
    }
    Ok(())
}
