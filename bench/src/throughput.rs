//! Output throughput: a flood of agent output read through `roam attach`, and
//! read straight from the agent's own PTY.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::node::Node;
use crate::pty::PtyProcess;

const COLS: u16 = 200;
const ROWS: u16 = 50;
/// Ctrl-], roam attach's detach key.
const DETACH: u8 = 0x1d;

#[derive(Debug, Clone, Copy)]
pub struct Run {
    pub bytes: u64,
    pub took: Duration,
}

impl Run {
    pub fn mb_per_s(&self) -> f64 {
        self.bytes as f64 / 1e6 / self.took.as_secs_f64()
    }
}

#[derive(Debug)]
pub struct Throughput {
    pub lines: u64,
    pub width: usize,
    pub attach: Vec<Run>,
    pub direct: Vec<Run>,
}

/// The instruction, and what marks the end of its output: the last line, then
/// the next prompt.
fn spam(lines: u64, width: usize) -> (String, [String; 2]) {
    (
        format!("spam {lines} {width}"),
        [format!("line {lines} "), "\n> ".to_owned()],
    )
}

/// `runs` floods through `roam attach WORKSPACE`, then `runs` read directly.
pub fn bench(
    node: &Node,
    workspace: &str,
    cwd: &Path,
    lines: u64,
    width: usize,
    runs: usize,
) -> anyhow::Result<Throughput> {
    let (instruction, end) = spam(lines, width);
    let end: Vec<&str> = end.iter().map(String::as_str).collect();

    let mut attach = Vec::new();
    let mut term = PtyProcess::spawn(
        &node.bins.roam,
        &["attach", workspace],
        &node.env(),
        cwd,
        COLS,
        ROWS,
    )?;
    // The repaint on attach ends with the agent's prompt.
    term.arm(&["> "], true);
    term.wait_hit()?;
    term.wait_quiet(Duration::from_millis(200))?;
    for _ in 0..runs {
        term.arm(&end, false);
        let start = Instant::now();
        node.roam(&["send", workspace, &instruction])?;
        let hit = term.wait_hit()?;
        attach.push(Run {
            bytes: hit.bytes,
            took: hit.at - start,
        });
    }
    term.write(&[DETACH])?;
    term.wait_exit()?;
    drop(term);

    let mut direct = Vec::new();
    let mut agent = PtyProcess::spawn(&node.bins.agent, &[], &node.env(), cwd, COLS, ROWS)?;
    agent.arm(&["> "], true);
    agent.wait_hit()?;
    for _ in 0..runs {
        agent.arm(&end, false);
        let start = Instant::now();
        agent.write(format!("{instruction}\r").as_bytes())?;
        let hit = agent.wait_hit()?;
        direct.push(Run {
            bytes: hit.bytes,
            took: hit.at - start,
        });
    }
    agent.write(b"exit 0\r")?;
    agent.wait_exit()?;

    Ok(Throughput {
        lines,
        width,
        attach,
        direct,
    })
}
