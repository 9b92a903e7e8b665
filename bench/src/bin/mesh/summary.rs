//! The mesh benchmark's printed summary: details, then one table with roam
//! over the mesh and OpenSSH side by side, their ratio, and local attach as
//! the baseline.

use std::fmt::Write;
use std::time::Duration;

use roam_bench::flood::{Flood, Run};
use roam_bench::report::{ms, percentile, percentile_list, profile};

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
    pub anchors: Anchors,
    pub hops: crate::hops::Breakdown,
    pub loaded: Loaded,
}

/// Keystroke round trips with `load` running on A.
#[derive(Debug)]
pub struct Loaded {
    pub local: Vec<Duration>,
    pub remote: Vec<Duration>,
}

/// Keystroke round trips of what a user would run without roam, and of the
/// layers under roam's own path.
#[derive(Debug)]
pub struct Anchors {
    /// `tmux attach` to a session running `cat`.
    pub tmux: Vec<Duration>,
    /// `ssh -tt HOST tmux attach`, same session.
    pub ssh_tmux: Vec<Duration>,
    /// `cat` in a PTY read directly.
    pub pty: Vec<Duration>,
    /// `cat` in a holder, read off its socket.
    pub holder: Vec<Duration>,
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
                percentile_list(&way.keys, &PERCENTILES),
                ms(max)
            )?;
        }
        let a = &self.anchors;
        for (name, keys) in [
            ("tmux attach", &a.tmux),
            ("ssh -tt tmux attach", &a.ssh_tmux),
            ("cat in a PTY", &a.pty),
            ("cat in a holder", &a.holder),
        ] {
            writeln!(out, "  {name:<19} {}", percentile_list(keys, &PERCENTILES))?;
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
        self.write_breakdown(out)?;
        self.write_hops(out)?;
        self.write_loaded(out)?;
        for (name, way) in ways {
            let note = f.resync_note(&way.runs);
            if !note.is_empty() {
                writeln!(out, "  {name}:{note}")?;
            }
        }
        Ok(())
    }

    /// Keystrokes while other agents print, against the same way idle.
    fn write_loaded(&self, out: &mut String) -> std::fmt::Result {
        for (label, p) in PERCENTILES {
            let at = |keys: &[Duration]| ms(percentile(keys, p));
            writeln!(
                out,
                "keystroke {label} with {} agents on A printing a line every {} ms each: roam attach on A {:.2} ms ({:.2}x idle); roam attach B->A {:.2} ms ({:.2}x idle)",
                crate::load::LOAD_AGENTS,
                crate::load::LOAD_EVERY_MS,
                at(&self.loaded.local),
                at(&self.loaded.local) / at(&self.local.keys),
                at(&self.loaded.remote),
                at(&self.loaded.remote) / at(&self.remote.keys),
            )?;
        }
        Ok(())
    }

    /// Where a keystroke's time goes, hop by hop.
    fn write_hops(&self, out: &mut String) -> std::fmt::Result {
        let h = &self.hops;
        writeln!(
            out,
            "keystroke hop by hop (roam attach on a node of its own that notes each hop; {} keystrokes, median round trip {:.3} ms; medians of each step):",
            h.samples,
            ms(h.total)
        )?;
        for (from, to, time) in &h.steps {
            writeln!(out, "  {:<26} -> {:<26} {:>7.3} ms", from, to, ms(*time))?;
        }
        Ok(())
    }

    /// Where a keystroke's time goes, by layer (medians of each way, so
    /// the differences are of medians), and the ratios to what a user
    /// would run without roam.
    fn write_breakdown(&self, out: &mut String) -> std::fmt::Result {
        let p50 = |keys: &[Duration]| ms(percentile(keys, 0.5));
        let a = &self.anchors;
        let [pty, holder, local, remote] =
            [&a.pty, &a.holder, &self.local.keys, &self.remote.keys].map(|keys| p50(keys));
        writeln!(out)?;
        writeln!(
            out,
            "keystroke p50 by layer: PTY and cat {pty:.2} ms; + holder socket {:+.2} ms; + node (CLI, control socket, actors) {:+.2} ms; + mesh (QUIC, second node) {:+.2} ms",
            holder - pty,
            local - holder,
            remote - local
        )?;
        for (label, p) in PERCENTILES {
            let at = |keys: &[Duration]| ms(percentile(keys, p));
            writeln!(
                out,
                "keystroke {label}: roam attach on A {:.2} ms vs tmux attach {:.2} ms ({:.2}x); roam attach B->A {:.2} ms vs ssh -tt tmux attach {:.2} ms ({:.2}x)",
                at(&self.local.keys),
                at(&a.tmux),
                at(&self.local.keys) / at(&a.tmux),
                at(&self.remote.keys),
                at(&a.ssh_tmux),
                at(&self.remote.keys) / at(&a.ssh_tmux),
            )?;
        }
        Ok(())
    }
}
