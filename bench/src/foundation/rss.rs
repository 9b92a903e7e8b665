//! Memory: the node's resident set idle and with many agents, and the agents' own.

use std::time::Duration;

use anyhow::Context;
use serde_json::Value;

use roam_bench::node::Node;
use roam_bench::wait;

use super::repo::BenchRepo;

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
    for pid in &pids {
        agent_processes += vm_rss(*pid)?;
    }
    Ok(Rss {
        idle,
        before_agents,
        with_agents,
        agents: count,
        agent_processes,
    })
}

/// VmRSS of one process, from /proc/PID/status.
fn vm_rss(pid: u64) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("cannot read /proc/{pid}/status"))?;
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .with_context(|| format!("no VmRSS in /proc/{pid}/status"))?;
    Ok(kib * 1024)
}
