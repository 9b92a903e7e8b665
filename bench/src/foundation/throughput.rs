//! Output throughput: a flood of agent output read through `roam attach`, and
//! read straight from the agent's own PTY (see `roam_bench::flood`).

use std::path::Path;

use roam_bench::flood::{Flood, Run};
use roam_bench::node::Node;
use roam_bench::pty::{COLS, PtyProcess, ROWS};

#[derive(Debug)]
pub struct Throughput {
    pub flood: Flood,
    pub attach: Vec<Run>,
    pub direct: Vec<Run>,
}

/// `runs` floods through `roam attach WORKSPACE`, then `runs` read directly.
pub fn bench(
    node: &Node,
    workspace: &str,
    cwd: &Path,
    flood: Flood,
    runs: usize,
) -> anyhow::Result<Throughput> {
    let instruction = flood.instruction();
    let mut term = node.attach(workspace, cwd)?;
    // The repaint on attach ends with the agent's prompt.
    term.settle("> ")?;
    // Sent through the node rather than typed, so only output crosses attach.
    let attach = flood.measure(&mut term, runs, |_| {
        node.roam(&["send", workspace, &instruction]).map(drop)
    })?;
    term.detach()?;
    drop(term);

    let mut agent = PtyProcess::spawn(&node.bins.agent, &[], &node.env(), cwd, COLS, ROWS)?;
    agent.settle("> ")?;
    let direct = flood.measure_typed(&mut agent, runs)?;
    agent.write(b"exit 0\r")?;
    agent.wait_exit()?;

    Ok(Throughput {
        flood,
        attach,
        direct,
    })
}
