//! Memory: the node's resident set idle and with many agents, the agents'
//! own, and their holders' (each agent's parent is its `roam-holder`).

use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::Value;

use roam_bench::node::Node;
use roam_bench::wait;

use super::procfs::{parent, program, pss_and_private, vm_rss};
use super::repo::BenchRepo;

/// The program every local agent runs under.
const HOLDER: &str = "roam-holder";

#[derive(Debug)]
pub struct Rss {
    /// Fresh node, no workspaces.
    pub idle: u64,
    /// Just before the agents were started (after the creation benchmark).
    pub before_agents: u64,
    pub with_agents: u64,
    pub agents: usize,
    /// VmRSS summed over the agent processes.
    pub agent_processes: u64,
    /// How many holders were measured: one per agent with a pid.
    pub holders: usize,
    /// VmRSS summed over those holders: their binary's and libc's pages
    /// counted once per holder, though all of them share one copy.
    pub holder_processes: u64,
    /// Pss summed over them: shared pages divided among their users.
    pub holder_pss: u64,
    /// Private_Dirty summed over them: memory each holder alone has.
    pub holder_private: u64,
}

/// The node's RSS once it has been idle for a moment.
pub fn idle(node: &Node) -> anyhow::Result<u64> {
    std::thread::sleep(Duration::from_millis(500));
    node.rss_bytes()
}

/// Starts `count` workspaces `ws0..` with the test agent, waits until none is
/// starting, and measures. The workspaces stay (the throughput benchmark uses ws0).
pub fn with_agents(node: &Node, repo: &BenchRepo, idle: u64, count: usize) -> anyhow::Result<Rss> {
    let repo_path = repo.path.to_str().context("repo path is not UTF-8")?;
    let before_agents = node.rss_bytes()?;
    for i in 0..count {
        node.roam(&[
            "new",
            &format!("ws{i}"),
            "--repo",
            repo_path,
            "--agent",
            "test",
        ])?;
    }
    let pids = wait::poll(
        &format!("{count} agents to leave the starting state"),
        Duration::from_millis(100),
        || {
            let list = node.list()?;
            let agents: Vec<&Value> = list
                .iter()
                .filter_map(|ws| ws.get("agents").and_then(Value::as_array))
                .flatten()
                .collect();
            let settled = agents.len() == count
                && agents.iter().all(|a| {
                    let state = a.pointer("/status/state").and_then(Value::as_str);
                    state.is_some_and(|s| s != "starting")
                });
            Ok(settled.then(|| {
                agents
                    .iter()
                    .filter_map(|a| a.get("pid").and_then(Value::as_u64))
                    .collect::<Vec<_>>()
            }))
        },
    )?;
    std::thread::sleep(Duration::from_millis(500));
    let with_agents = node.rss_bytes()?;
    let mut agent_processes = 0;
    let (mut holder_processes, mut holder_pss, mut holder_private) = (0, 0, 0);
    for pid in &pids {
        agent_processes += vm_rss(*pid)?;
        let holder = holder_of(*pid)?;
        holder_processes += vm_rss(holder)?;
        let (pss, private) = pss_and_private(holder)?;
        holder_pss += pss;
        holder_private += private;
    }
    Ok(Rss {
        idle,
        before_agents,
        with_agents,
        agents: count,
        agent_processes,
        holders: pids.len(),
        holder_processes,
        holder_pss,
        holder_private,
    })
}

/// The holder of the agent `pid`: its parent, which must be a `roam-holder`.
fn holder_of(pid: u64) -> anyhow::Result<u64> {
    let holder = parent(pid)?;
    let name = program(holder)?;
    if name != HOLDER {
        bail!("agent {pid}'s parent {holder} is {name:?}, not {HOLDER}");
    }
    Ok(holder)
}
