//! Output throughput: the test agent's `spam N WIDTH` read through a PTY
//! (`roam attach`, ssh, or the agent's own) or off its holder's socket,
//! timed from the instruction to its last line and the next prompt.
//!
//! The rate is the flood's size (what the agent wrote) over that time. Bytes
//! actually delivered are kept too: the node resyncs a viewer that falls
//! behind with the current screen instead of every byte, so through attach
//! they can be fewer, and a summary must say so.

use std::time::{Duration, Instant};

use crate::drain::Watched;
use crate::report;

/// One flood: `lines` lines of `width` characters.
#[derive(Debug, Clone, Copy)]
pub struct Flood {
    pub lines: u64,
    pub width: usize,
}

#[derive(Debug, Clone, Copy)]
pub struct Run {
    /// Bytes read until the end marker (terminal echo and `\r` included).
    pub delivered: u64,
    pub took: Duration,
}

impl Flood {
    /// What the agent writes: `lines` lines of `width` characters and a newline.
    pub fn bytes(&self) -> u64 {
        self.lines * (self.width as u64 + 1)
    }

    /// The agent instruction.
    pub fn instruction(&self) -> String {
        format!("spam {} {}", self.lines, self.width)
    }

    /// The flood's size over the run's time, in MB (10^6 bytes) per second.
    pub fn mb_per_s(&self, run: &Run) -> f64 {
        self.bytes() as f64 / 1e6 / run.took.as_secs_f64()
    }

    /// Median MB/s of some runs.
    pub fn median_rate(&self, runs: &[Run]) -> f64 {
        let rates: Vec<f64> = runs.iter().map(|r| self.mb_per_s(r)).collect();
        report::median(&rates)
    }

    /// Runs delivered fewer bytes than the agent wrote: the viewer was resynced.
    pub fn resynced(&self, runs: &[Run]) -> usize {
        runs.iter().filter(|r| r.delivered < self.bytes()).count()
    }

    /// ` (viewer resynced, output skipped, in K/N runs)`, or nothing.
    pub fn resync_note(&self, runs: &[Run]) -> String {
        match self.resynced(runs) {
            0 => String::new(),
            k => format!(
                " (viewer resynced, output skipped, in {k}/{} runs)",
                runs.len()
            ),
        }
    }

    /// Each run's MB/s, for the details.
    pub fn rate_list(&self, runs: &[Run]) -> String {
        runs.iter()
            .map(|r| format!("{:.1}", self.mb_per_s(r)))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Each run's delivered MB, for the details.
    pub fn delivered_list(runs: &[Run]) -> String {
        runs.iter()
            .map(|r| format!("{:.1}", r.delivered as f64 / 1e6))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// `runs` floods read from `term`, each started by `start` (which types or
    /// sends the instruction); `term` must be settled at its prompt.
    pub fn measure<T: Watched>(
        &self,
        term: &mut T,
        runs: usize,
        mut start: impl FnMut(&mut T) -> anyhow::Result<()>,
    ) -> anyhow::Result<Vec<Run>> {
        // The last line, then the next prompt.
        let last = format!("line {} ", self.lines);
        let end = [last.as_str(), "\n> "];
        let mut result = Vec::with_capacity(runs);
        for _ in 0..runs {
            term.drain().arm(&end, false);
            let started = Instant::now();
            start(term)?;
            let hit = term.drain().wait_hit()?;
            result.push(Run {
                delivered: hit.bytes,
                took: hit.at - started,
            });
        }
        Ok(result)
    }

    /// `measure`, typing the instruction and Enter into `term`.
    pub fn measure_typed<T: Watched>(&self, term: &mut T, runs: usize) -> anyhow::Result<Vec<Run>> {
        let typed = self.typed();
        self.measure(term, runs, |t| t.type_in(typed.as_bytes()))
    }

    /// The instruction as typed: with Enter.
    pub fn typed(&self) -> String {
        format!("{}\r", self.instruction())
    }
}
