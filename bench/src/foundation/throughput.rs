//! Output throughput: a flood of agent output read three ways, each timed
//! from the instruction to the flood's last line and the next prompt (see
//! `roam_bench::flood`). The producer is the same every time: the test
//! agent in a PTY of `COLS` x `ROWS`, writing `flood.bytes()`.
//!
//! - attach: through the node and `roam attach` (holder, node, viewer),
//!   the instruction sent with `roam send`.
//! - holder: off the socket of a `roam-holder` of the benchmark's own,
//!   started and read as the node does (`roam_bench::held`), the
//!   instruction typed in an `Input` frame: the holder hop alone.
//! - direct: off the PTY's master, the instruction typed into it: no hop.

use std::path::Path;

use roam_bench::drain::Watched;
use roam_bench::flood::{Flood, Run};
use roam_bench::held::HeldAgent;
use roam_bench::node::Node;
use roam_bench::pty::{COLS, PtyProcess, ROWS};

#[derive(Debug)]
pub struct Throughput {
    pub flood: Flood,
    pub attach: Vec<Run>,
    pub holder: Vec<Run>,
    pub direct: Vec<Run>,
}

/// `runs` floods through `roam attach WORKSPACE`, then `runs` off a holder,
/// then `runs` read directly. `cwd` is where the benchmark's own agents run
/// (and its holder's socket is).
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

    let agent = [node.bins.agent.as_path()];
    let socket = cwd.join("bench-holder.sock");
    let mut held = HeldAgent::start(
        &node.bins.holder,
        &agent,
        &node.env(),
        cwd,
        socket,
        (COLS, ROWS),
    )?;
    held.drain().settle("> ")?;
    let typed = flood.typed();
    let holder = flood.measure(&mut held, runs, |h| {
        // What the last run delivered is saved by now, as far as the
        // holder knows: a node acknowledges what it saved every second.
        h.ack()?;
        h.type_in(typed.as_bytes())
    })?;
    held.exit()?;

    let mut agent = PtyProcess::spawn(&node.bins.agent, &[], &node.env(), cwd, COLS, ROWS)?;
    agent.settle("> ")?;
    let direct = flood.measure_typed(&mut agent, runs)?;
    agent.write(b"exit 0\r")?;
    agent.wait_exit()?;

    Ok(Throughput {
        flood,
        attach,
        holder,
        direct,
    })
}
