//! Output throughput: a flood of agent output read through `roam attach`, and
//! read straight from the agent's own PTY.
//!
//! The rate is the flood's size (what the agent wrote) over the time until its
//! last line and the next prompt reached the reader. Bytes actually delivered
//! are kept too: the node resyncs a viewer that falls behind with the current
//! screen instead of every byte, so through attach they can be fewer.

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
    /// Bytes read from the PTY until the end marker (terminal echo and `\r` included).
    pub delivered: u64,
    pub took: Duration,
}

#[derive(Debug)]
pub struct Throughput {
    pub lines: u64,
    pub width: usize,
    pub attach: Vec<Run>,
    pub direct: Vec<Run>,
}

impl Throughput {
    /// What the agent writes: `lines` lines of `width` characters and a newline.
    pub fn flood_bytes(&self) -> u64 {
        self.lines * (self.width as u64 + 1)
    }

    /// The flood's size over the run's time, in MB (10^6 bytes) per second.
    pub fn mb_per_s(&self, run: &Run) -> f64 {
        self.flood_bytes() as f64 / 1e6 / run.took.as_secs_f64()
    }
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
            delivered: hit.bytes,
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
            delivered: hit.bytes,
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
