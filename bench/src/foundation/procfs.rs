//! What /proc says of a process: its resident set, its parent, its program.

use std::path::Path;

use anyhow::Context;

/// VmRSS of one process, from /proc/PID/status.
pub fn vm_rss(pid: u64) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("cannot read /proc/{pid}/status"))?;
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .with_context(|| format!("no VmRSS in /proc/{pid}/status"))?;
    Ok(kib * 1024)
}

/// Pss and Private_Dirty of one process, from /proc/PID/smaps_rollup:
/// what it costs the machine with the pages it shares (its binary, libc)
/// divided among their users, and the memory only it has written.
pub fn pss_and_private(pid: u64) -> anyhow::Result<(u64, u64)> {
    let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))
        .with_context(|| format!("cannot read /proc/{pid}/smaps_rollup"))?;
    let field = |name: &str| -> anyhow::Result<u64> {
        let kib: u64 = rollup
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .with_context(|| format!("no {name} in /proc/{pid}/smaps_rollup"))?;
        Ok(kib * 1024)
    };
    Ok((field("Pss:")?, field("Private_Dirty:")?))
}

/// The parent's pid, from /proc/PID/stat (after the command name, which is
/// in parentheses and may hold anything).
pub fn parent(pid: u64) -> anyhow::Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("cannot read /proc/{pid}/stat"))?;
    stat.rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().nth(1))
        .and_then(|ppid| ppid.parse().ok())
        .with_context(|| format!("no parent in /proc/{pid}/stat"))
}

/// The file name of the program a process was started as (its `argv[0]`,
/// which stays right when the binary is rebuilt under it, unlike its exe).
pub fn program(pid: u64) -> anyhow::Result<String> {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline"))
        .with_context(|| format!("cannot read /proc/{pid}/cmdline"))?;
    let argv0 = cmdline.split(|b| *b == 0).next().unwrap_or_default();
    let argv0 = String::from_utf8_lossy(argv0);
    Ok(Path::new(argv0.as_ref())
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default())
}
