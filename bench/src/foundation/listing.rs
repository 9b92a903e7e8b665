//! `roam ls` at scale: the node's workspaces brought to `WORKSPACES`, each
//! with two agents (`WORKSPACES` × 2 in all), then `roam ls --json` timed,
//! end to end as a user runs it.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use roam_bench::node::Node;

use super::repo::BenchRepo;

pub const WORKSPACES: usize = 50;
pub const AGENTS_EACH: usize = 2;
const RUNS: usize = 10;

#[derive(Debug)]
pub struct Listing {
    pub workspaces: usize,
    pub agents: usize,
    pub runs: Vec<Duration>,
    /// The fewest workspaces a timed listing showed (a workspace that does
    /// not answer in time is left out).
    pub fewest_listed: usize,
}

/// Tops the node up from the `ws0..` it has to `WORKSPACES` workspaces of
/// `AGENTS_EACH` agents, then lists `RUNS` times (`roam ls --json`, parsed).
pub fn bench(node: &Node, repo: &BenchRepo, have: usize) -> anyhow::Result<Listing> {
    let repo_path = repo.path.to_str().context("repo path is not UTF-8")?;
    for i in have..WORKSPACES {
        let ws = format!("ws{i}");
        node.roam(&["new", &ws, "--repo", repo_path, "--agent", "test"])?;
    }
    for i in 0..WORKSPACES {
        let ws = format!("ws{i}");
        for _ in 1..AGENTS_EACH {
            node.roam(&["agent", "add", &ws, "--agent", "test"])?;
        }
    }
    let list = node.list()?;
    let agents: usize = list
        .iter()
        .filter_map(|ws| ws.get("agents").and_then(serde_json::Value::as_array))
        .map(Vec::len)
        .sum();
    if list.len() < WORKSPACES || agents < WORKSPACES * AGENTS_EACH {
        bail!(
            "the node lists {} workspaces and {agents} agents, not {WORKSPACES} and {}",
            list.len(),
            WORKSPACES * AGENTS_EACH
        );
    }
    let mut runs = Vec::with_capacity(RUNS);
    let mut fewest_listed = usize::MAX;
    for _ in 0..RUNS {
        let start = Instant::now();
        let listed = node.list()?.len();
        runs.push(start.elapsed());
        fewest_listed = fewest_listed.min(listed);
    }
    Ok(Listing {
        workspaces: list.len(),
        agents,
        runs,
        fewest_listed,
    })
}
