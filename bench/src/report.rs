//! Statistics and the printed summary.

use std::fmt::Write;
use std::time::Duration;

use crate::repo::BenchRepo;
use crate::rss::Rss;
use crate::throughput::{Run, Throughput};
use crate::worktree::Creation;

const MIB: f64 = 1024.0 * 1024.0;

/// The `p`-th percentile (0..=1) by nearest rank.
pub fn percentile(samples: &[Duration], p: f64) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort();
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / MIB
}

/// Median MB/s of some runs.
fn median_rate(t: &Throughput, runs: &[Run]) -> f64 {
    let mut rates: Vec<f64> = runs.iter().map(|r| t.mb_per_s(r)).collect();
    rates.sort_by(f64::total_cmp);
    rates.get(rates.len() / 2).copied().unwrap_or(0.0)
}

#[derive(Debug)]
pub struct Report {
    pub repo: BenchRepo,
    pub creation: Creation,
    pub rss: Rss,
    pub throughput: Throughput,
}

impl Report {
    /// The whole summary, details first, then the table.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let profile = if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        };
        // Writing to a String cannot fail.
        let _ = self.write(&mut out, profile);
        out
    }

    fn write(&self, out: &mut String, profile: &str) -> std::fmt::Result {
        let c = &self.creation;
        let r = &self.rss;
        let t = &self.throughput;
        let samples = |d: &[Duration]| {
            d.iter()
                .map(|d| format!("{:.0}", ms(*d)))
                .collect::<Vec<_>>()
                .join(" ")
        };
        let rates = |runs: &[Run]| {
            runs.iter()
                .map(|r| format!("{:.1}", t.mb_per_s(r)))
                .collect::<Vec<_>>()
                .join(" ")
        };
        let delivered = |runs: &[Run]| {
            runs.iter()
                .map(|r| format!("{:.1}", r.delivered as f64 / 1e6))
                .collect::<Vec<_>>()
                .join(" ")
        };
        writeln!(out, "details")?;
        writeln!(
            out,
            "  repo               {} files, {:.1} MiB, from {} crates ({})",
            self.repo.files,
            mib(self.repo.bytes),
            self.repo.crates.len(),
            self.repo.crates.join(", ")
        )?;
        writeln!(out, "  roam new ms        {}", samples(&c.roam))?;
        writeln!(out, "  git worktree ms    {}", samples(&c.git))?;
        writeln!(
            out,
            "  node rss           idle {:.1} MiB, before agents {:.1} MiB, with {} agents {:.1} MiB",
            mib(r.idle),
            mib(r.before_agents),
            r.agents,
            mib(r.with_agents)
        )?;
        writeln!(
            out,
            "  flood              spam {} {}: {:.1} MB written by the agent; MB/s = that / time to the last line",
            t.lines,
            t.width,
            t.flood_bytes() as f64 / 1e6
        )?;
        writeln!(
            out,
            "  roam attach MB/s   {} (MB delivered: {})",
            rates(&t.attach),
            delivered(&t.attach)
        )?;
        writeln!(
            out,
            "  direct pty MB/s    {} (MB delivered: {})",
            rates(&t.direct),
            delivered(&t.direct)
        )?;
        writeln!(out)?;

        writeln!(out, "roam foundation benchmark ({profile} build)")?;
        let (roam50, roam90) = (percentile(&c.roam, 0.5), percentile(&c.roam, 0.9));
        let (git50, git90) = (percentile(&c.git, 0.5), percentile(&c.git, 0.9));
        writeln!(
            out,
            "workspace create   roam new p50 {:.1} ms p90 {:.1} ms | git worktree add p50 {:.1} ms p90 {:.1} ms | ratio {:.1}x",
            ms(roam50),
            ms(roam90),
            ms(git50),
            ms(git90),
            ms(roam50) / ms(git50)
        )?;
        let per_agent = r.with_agents.saturating_sub(r.before_agents) as f64 / r.agents as f64;
        writeln!(
            out,
            "node rss           idle {:.1} MiB | {} agents {:.1} MiB (+{:.2} MiB/agent) | agent processes {:.1} MiB",
            mib(r.idle),
            r.agents,
            mib(r.with_agents),
            per_agent / MIB,
            mib(r.agent_processes)
        )?;
        let (attach, direct) = (median_rate(t, &t.attach), median_rate(t, &t.direct));
        let resynced = t
            .attach
            .iter()
            .filter(|r| r.delivered < t.flood_bytes())
            .count();
        let note = if resynced > 0 {
            format!(
                " (viewer resynced, output skipped, in {resynced}/{} runs)",
                t.attach.len()
            )
        } else {
            String::new()
        };
        writeln!(
            out,
            "attach throughput  roam attach {attach:.1} MB/s | direct pty {direct:.1} MB/s | ratio {:.2}x{note}",
            attach / direct
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let d: Vec<Duration> = (1..=10).map(Duration::from_millis).collect();
        assert_eq!(percentile(&d, 0.5), Duration::from_millis(5));
        assert_eq!(percentile(&d, 0.9), Duration::from_millis(9));
        assert_eq!(percentile(&d[..1], 0.9), Duration::from_millis(1));
        assert_eq!(percentile(&[], 0.5), Duration::ZERO);
    }
}
