//! The mesh benchmark's printed summary: details, then one table with roam
//! over the mesh and OpenSSH side by side, their ratio, and local attach as
//! the baseline.

use std::fmt::Write;
use std::time::Duration;

use roam_bench::flood::{Flood, Run};
use roam_bench::report::{ms, percentile, profile};

use crate::latency;

/// One way of reaching node A's processes.
#[derive(Debug)]
pub struct Way {
    /// Keystroke round trips.
    pub keys: Vec<Duration>,
    /// Floods.
    pub runs: Vec<Run>,
}

#[derive(Debug)]
pub struct Summary {
    pub flood: Flood,
    /// `roam attach` on B, to A over the mesh.
    pub remote: Way,
    /// `ssh -tt` to the local OpenSSH server.
    pub ssh: Way,
    /// `roam attach` on A itself.
    pub local: Way,
}

const PERCENTILES: [(&str, f64); 3] = [("p50", 0.5), ("p90", 0.9), ("p99", 0.99)];

impl Summary {
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = self.write(&mut out);
        out
    }

    fn write(&self, out: &mut String) -> std::fmt::Result {
        let f = &self.flood;
        let ways = [
            ("roam attach B->A", &self.remote),
            ("ssh -tt", &self.ssh),
            ("roam attach on A", &self.local),
        ];
        writeln!(out, "details")?;
        writeln!(
            out,
            "  keystrokes         {} per way after {} warm-up, one letter every {} ms, time until the far PTY's echo arrives",
            latency::SAMPLES,
            latency::WARMUP,
            latency::GAP.as_millis()
        )?;
        for (name, way) in ways {
            let max = way.keys.iter().max().copied().unwrap_or_default();
            writeln!(
                out,
                "  {name:<18} {} | max {:.2} ms",
                PERCENTILES
                    .iter()
                    .map(|(label, p)| format!("{label} {:.2} ms", ms(percentile(&way.keys, *p))))
                    .collect::<Vec<_>>()
                    .join(" "),
                ms(max)
            )?;
        }
        writeln!(
            out,
            "  flood              {}: {:.1} MB written by the agent; MB/s = that / time to the last line and the next prompt",
            f.instruction(),
            f.bytes() as f64 / 1e6
        )?;
        for (name, way) in ways {
            writeln!(
                out,
                "  {name:<18} MB/s {} (MB delivered: {})",
                f.rate_list(&way.runs),
                Flood::delivered_list(&way.runs)
            )?;
        }
        writeln!(out)?;

        writeln!(
            out,
            "roam mesh benchmark ({} build; two nodes on loopback over QUIC vs OpenSSH on loopback)",
            profile()
        )?;
        writeln!(
            out,
            "{:<16} {:>17} {:>12} {:>10} {:>24}",
            "", "roam attach B->A", "ssh -tt", "roam/ssh", "baseline: attach on A"
        )?;
        for (label, p) in PERCENTILES {
            let [remote, ssh, local] =
                [&self.remote, &self.ssh, &self.local].map(|w| ms(percentile(&w.keys, p)));
            writeln!(
                out,
                "{:<16} {:>17} {:>12} {:>9.2}x {:>24}",
                format!("keystroke {label}"),
                format!("{remote:.2} ms"),
                format!("{ssh:.2} ms"),
                remote / ssh,
                format!("{local:.2} ms")
            )?;
        }
        let [remote, ssh, local] =
            [&self.remote, &self.ssh, &self.local].map(|w| f.median_rate(&w.runs));
        writeln!(
            out,
            "{:<16} {:>17} {:>12} {:>9.2}x {:>24}",
            "output (median)",
            format!("{remote:.1} MB/s"),
            format!("{ssh:.1} MB/s"),
            remote / ssh,
            format!("{local:.1} MB/s")
        )?;
        for (name, way) in ways {
            let note = f.resync_note(&way.runs);
            if !note.is_empty() {
                writeln!(out, "  {name}:{note}")?;
            }
        }
        Ok(())
    }
}
