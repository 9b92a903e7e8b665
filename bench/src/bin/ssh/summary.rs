//! The ssh benchmark's printed summary: details, then one table with roam's
//! pooled connection, ssh with a new connection per command and ssh with a
//! ControlMaster side by side, with roam's ratio to each.

use std::fmt::Write;
use std::time::Duration;

use roam_bench::report::{median, ms, ms_list, percentile, percentile_list, profile};

use crate::openssh::Multiplexed;
use crate::pooled::Pooled;
use crate::workspace::Starts;
use crate::{COMMAND, COMMANDS, DIALS};

#[derive(Debug)]
pub struct Summary {
    pub port: u16,
    pub user: String,
    /// Through `SshPool`: one dial, then the commands.
    pub roam: Pooled,
    /// `ssh box true`, a new connection each.
    pub fresh: Vec<Duration>,
    /// `ssh` with a ControlMaster: the opening command, then the commands.
    pub master: Multiplexed,
    /// A new pool's first command.
    pub dial_roam: Vec<Duration>,
    /// `ssh box true` (a new connection), run alternately with `dial_roam`.
    pub dial_ssh: Vec<Duration>,
    /// `roam new --on ssh:box` and a local `roam new`, alternately.
    pub starts: Starts,
}

const PERCENTILES: [(&str, f64); 2] = [("p50", 0.5), ("p90", 0.9)];

/// Percentiles, max and total of some command times, for the details.
fn spread(samples: &[Duration]) -> String {
    let max = samples.iter().max().copied().unwrap_or_default();
    let total: Duration = samples.iter().sum();
    format!(
        "{} | max {:.2} ms | total {:.1} ms",
        percentile_list(samples, &PERCENTILES),
        ms(max),
        ms(total)
    )
}

/// Median of some durations, in ms.
fn median_ms(samples: &[Duration]) -> f64 {
    median(&samples.iter().map(|d| ms(*d)).collect::<Vec<_>>())
}

impl Summary {
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = self.write(&mut out);
        out
    }

    fn write(&self, out: &mut String) -> std::fmt::Result {
        let ways = [
            ("roam pooled", &self.roam.commands),
            ("ssh new conn", &self.fresh),
            ("ssh master", &self.master.commands),
        ];
        writeln!(out, "details")?;
        writeln!(
            out,
            "  commands           {COMMANDS} x `{COMMAND}` one after another, as {} on 127.0.0.1:{}, host alias from one ~/.ssh/config; each includes the remote login shell's start-up, ssh's also starting the ssh process",
            self.user, self.port
        )?;
        writeln!(
            out,
            "  roam first dial    {:.1} ms (SshPool::get_with: TCP, key exchange, host key, auth)",
            ms(self.roam.dial)
        )?;
        writeln!(
            out,
            "  master opening     {:.1} ms (first `ssh box {COMMAND}` with ControlMaster=auto, ControlPersist=60)",
            ms(self.master.open)
        )?;
        for (name, samples) in ways {
            writeln!(out, "  {name:<18} {}", spread(samples))?;
        }
        writeln!(
            out,
            "  dial roam ms       {} (a new SshPool: dial + `{COMMAND}`)",
            ms_list(&self.dial_roam)
        )?;
        writeln!(
            out,
            "  dial ssh ms        {} (`ssh box {COMMAND}`, a new connection)",
            ms_list(&self.dial_ssh)
        )?;
        writeln!(out)?;

        writeln!(
            out,
            "roam ssh benchmark ({} build; roam's pooled russh connection vs the OpenSSH client, one local sshd on loopback)",
            profile()
        )?;
        writeln!(
            out,
            "{:<22} {:>12} {:>13} {:>12} {:>10} {:>12}",
            "", "roam pooled", "ssh new conn", "ssh master", "roam/new", "roam/master"
        )?;
        let row = |out: &mut String, label: &str, [roam, fresh, master]: [f64; 3]| {
            writeln!(
                out,
                "{label:<22} {:>12} {:>13} {:>12} {:>9.3}x {:>11.2}x",
                format!("{roam:.2} ms"),
                format!("{fresh:.2} ms"),
                format!("{master:.2} ms"),
                roam / fresh,
                roam / master
            )
        };
        for (label, p) in PERCENTILES {
            let times = [&self.roam.commands, &self.fresh, &self.master.commands]
                .map(|samples| ms(percentile(samples, p)));
            row(out, &format!("command {label}"), times)?;
        }
        let totals = [&self.roam.commands, &self.fresh, &self.master.commands]
            .map(|samples| ms(samples.iter().sum()));
        row(out, &format!("{COMMANDS} commands total"), totals)?;
        // Not a ratio: roam's is the dial alone, the master's includes a command.
        let [roam_first, master_first] = [self.roam.dial, self.master.open].map(ms);
        writeln!(
            out,
            "{:<22} {:>12} {:>13} {:>12} {:>10} {:>12}",
            "first connection",
            format!("{roam_first:.1} ms"),
            "-",
            format!("{master_first:.1} ms"),
            "-",
            "-"
        )?;
        let (dial_roam, dial_ssh) = (median_ms(&self.dial_roam), median_ms(&self.dial_ssh));
        writeln!(
            out,
            "{:<22} {:>12} {:>13} {:>12} {:>9.2}x {:>12}",
            format!("dial, median of {DIALS}"),
            format!("{dial_roam:.1} ms"),
            format!("{dial_ssh:.1} ms"),
            "-",
            dial_roam / dial_ssh,
            "-"
        )?;
        let (far, near) = (
            median_ms(&self.starts.on_host),
            median_ms(&self.starts.local),
        );
        writeln!(
            out,
            "workspace start        `roam new --on ssh:box` median {far:.0} ms ({}) | local `roam new` median {near:.0} ms | {:.1}x",
            ms_list(&self.starts.on_host),
            far / near
        )?;
        Ok(())
    }
}
