//! The foundation benchmark's printed summary.

use std::fmt::Write;

use roam_bench::flood::Flood;
use roam_bench::report::{MIB, mib, ms, ms_list, percentile, profile};

use super::listing::Listing;
use super::repo::BenchRepo;
use super::rss::Rss;
use super::throughput::Throughput;
use super::worktree::Creation;

/// Goals printed beside the figures they bound.
const HOLDER_RSS_GOAL_MIB: f64 = 2.0;
const HOLDER_THROUGHPUT_GOAL: f64 = 0.9;

#[derive(Debug)]
pub struct Report {
    pub repo: BenchRepo,
    pub creation: Creation,
    pub rss: Rss,
    pub throughput: Throughput,
    pub listing: Listing,
}

impl Report {
    /// The whole summary, details first, then the table.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = self.write(&mut out, profile());
        out
    }

    fn write(&self, out: &mut String, profile: &str) -> std::fmt::Result {
        let c = &self.creation;
        let r = &self.rss;
        let t = &self.throughput;
        let f = &t.flood;
        writeln!(out, "details")?;
        writeln!(
            out,
            "  repo               {} files, {:.1} MiB, from {} crates ({})",
            self.repo.files,
            mib(self.repo.bytes),
            self.repo.crates.len(),
            self.repo.crates.join(", ")
        )?;
        writeln!(out, "  roam new ms        {}", ms_list(&c.roam))?;
        writeln!(out, "  git worktree ms    {}", ms_list(&c.git))?;
        writeln!(
            out,
            "  roam ls ms         {} ({} workspaces, {} agents; the fewest any listing showed: {})",
            ms_list(&self.listing.runs),
            self.listing.workspaces,
            self.listing.agents,
            self.listing.fewest_listed
        )?;
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
            "  holder rss         {} holders (each agent's parent), {:.1} MiB RSS in all (shared pages counted in each), {:.1} MiB PSS, {:.1} MiB private dirty; agents idle at their prompt",
            r.holders,
            mib(r.holder_processes),
            mib(r.holder_pss),
            mib(r.holder_private)
        )?;
        writeln!(
            out,
            "  flood              spam {} {}: {:.1} MB written by the agent; MB/s = that / time to the last line",
            f.lines,
            f.width,
            f.bytes() as f64 / 1e6
        )?;
        writeln!(
            out,
            "  roam attach MB/s   {} (MB delivered: {})",
            f.rate_list(&t.attach),
            Flood::delivered_list(&t.attach)
        )?;
        writeln!(
            out,
            "  holder MB/s        {} (MB delivered: {}; read off a roam-holder's socket as a node does, no node)",
            f.rate_list(&t.holder),
            Flood::delivered_list(&t.holder)
        )?;
        writeln!(
            out,
            "  direct pty MB/s    {} (MB delivered: {})",
            f.rate_list(&t.direct),
            Flood::delivered_list(&t.direct)
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
        let l = &self.listing;
        writeln!(
            out,
            "roam ls            {} workspaces, {} agents: p50 {:.1} ms p90 {:.1} ms (goal ≤ 50 ms){}",
            l.workspaces,
            l.agents,
            ms(percentile(&l.runs, 0.5)),
            ms(percentile(&l.runs, 0.9)),
            match l.fewest_listed < l.workspaces {
                true => format!(
                    "; a listing showed only {} of {} workspaces",
                    l.fewest_listed, l.workspaces
                ),
                false => String::new(),
            }
        )?;
        let per_agent = r.with_agents.saturating_sub(r.before_agents) as f64 / r.agents as f64;
        let holders = r.holders.max(1) as f64;
        let per_holder = r.holder_processes as f64 / holders;
        let pss_per_holder = r.holder_pss as f64 / holders;
        writeln!(
            out,
            "node rss           idle {:.1} MiB | {} agents {:.1} MiB (+{:.2} MiB/agent) | agent processes {:.1} MiB | holders RSS {:.1} MiB ({:.2} MiB/holder), PSS {:.2} MiB/holder (goal ≤ {HOLDER_RSS_GOAL_MIB:.0} MiB per holder)",
            mib(r.idle),
            r.agents,
            mib(r.with_agents),
            per_agent / MIB,
            mib(r.agent_processes),
            mib(r.holder_processes),
            per_holder / MIB,
            pss_per_holder / MIB
        )?;
        let (attach, direct) = (f.median_rate(&t.attach), f.median_rate(&t.direct));
        let note = f.resync_note(&t.attach);
        writeln!(
            out,
            "attach throughput  roam attach {attach:.1} MB/s | direct pty {direct:.1} MB/s | ratio {:.2}x{note}",
            attach / direct
        )?;
        let holder = f.median_rate(&t.holder);
        writeln!(
            out,
            "holder throughput  through the holder {holder:.1} MB/s | direct pty {direct:.1} MB/s | ratio {:.2}x (goal ≥ {HOLDER_THROUGHPUT_GOAL:.1}x)",
            holder / direct
        )?;
        Ok(())
    }
}
