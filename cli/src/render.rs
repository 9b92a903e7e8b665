//! How listings look in a terminal.

use std::fmt::Write;

use roam_node::api::{HostInfo, HostReport, NodeInfo, NodeStatus, WorkspaceInfo};

pub fn workspaces(list: &[WorkspaceInfo]) -> String {
    if list.is_empty() {
        return "no workspaces; make one with `roam new NAME`\n".into();
    }
    let rows: Vec<[String; 6]> = list
        .iter()
        .map(|w| {
            let agents = if w.agents.is_empty() {
                "-".to_string()
            } else {
                w.agents
                    .iter()
                    .map(|a| format!("{}: {}", a.name, a.status))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            // A problem can be long (a host-key warning): it gets a line
            // of its own below the table.
            let git = match &w.problem {
                Some(_) => "! see below".to_string(),
                None => format!("+{}/-{} {}", w.ahead, w.behind, w.base),
            };
            [
                w.name.clone(),
                w.badge.clone(),
                w.branch.clone(),
                git,
                w.dirty_files.to_string(),
                agents,
            ]
        })
        .collect();
    let mut out = table(
        &["NAME", "NODE", "BRANCH", "AHEAD/BEHIND", "DIRTY", "AGENTS"],
        &rows,
    );
    let width = terminal_width();
    for w in list {
        if let Some(p) = &w.problem {
            // One line, cut to the terminal; `--json` has it whole.
            let flat: String = p
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect();
            let line = format!("! {}: {flat}", w.name);
            let _ = writeln!(out, "{}", cut(&line, width));
        }
    }
    out
}

/// The terminal's width: `COLUMNS` if set, else the terminal's own, else 100
/// (output to a pipe).
fn terminal_width() -> usize {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .or_else(|| crossterm::terminal::size().ok().map(|(c, _)| c as usize))
        .filter(|w| *w >= 20)
        .unwrap_or(100)
}

/// `text` in at most `width` characters, an ellipsis marking a cut.
fn cut(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    let mut s: String = text.chars().take(width.saturating_sub(1)).collect();
    s.push('…');
    s
}

pub fn status(s: &NodeStatus) -> String {
    format!(
        "node {} running (pid {}, up {}s)\n  peer id {}\n  listening on {}\n  version {} (protocol {})\n  data dir {}\n  {} workspace(s), {} agent(s) running, rss {:.1} MiB, load {}\n",
        s.name,
        s.pid,
        s.uptime_secs,
        s.peer_id,
        if s.listen.is_empty() {
            "nothing".to_string()
        } else {
            s.listen.join(", ")
        },
        s.version,
        s.protocol,
        s.data_dir,
        s.workspaces,
        s.agents_running,
        s.rss_bytes as f64 / (1024.0 * 1024.0),
        s.load
    )
}

pub fn nodes(list: &[NodeInfo]) -> String {
    let rows: Vec<[String; 7]> = list
        .iter()
        .map(|n| {
            let short = n
                .peer_id
                .get(n.peer_id.len().saturating_sub(8)..)
                .unwrap_or(&n.peer_id);
            let dash = || "-".to_string();
            [
                if n.local {
                    format!("{} (this)", n.name)
                } else {
                    n.name.clone()
                },
                format!("…{short}"),
                if n.online {
                    "online".into()
                } else {
                    "offline".into()
                },
                n.rtt_micros
                    .map(|r| format!("{:.1} ms", r as f64 / 1000.0))
                    .unwrap_or_else(dash),
                n.agents_running.map(|a| a.to_string()).unwrap_or_else(dash),
                n.load.clone().unwrap_or_else(dash),
                n.addrs.first().cloned().unwrap_or_else(dash),
            ]
        })
        .collect();
    table(
        &["NODE", "PEER", "STATE", "RTT", "AGENTS", "LOAD", "ADDRESS"],
        &rows,
    )
}

pub fn host_report(r: &HostReport) -> String {
    let mut out = format!("host {} ({})\n", r.alias, r.target);
    let width = r.checks.iter().map(|c| c.name.len()).max().unwrap_or(0);
    for c in &r.checks {
        let mark = if c.ok { "ok  " } else { "FAIL" };
        let _ = writeln!(out, "  {mark} {:<width$}  {}", c.name, c.detail);
    }
    out
}

pub fn hosts(list: &[HostInfo]) -> String {
    if list.is_empty() {
        return "no hosts; add one with `roam host add HOST`\n".into();
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let rows: Vec<[String; 4]> = list
        .iter()
        .map(|h| {
            let state = match (h.connected, h.last_check_ok) {
                (true, _) => "connected",
                (false, true) => "ok",
                (false, false) => "check failed",
            };
            [
                format!("ssh:{}", h.alias),
                h.target.clone(),
                state.to_string(),
                format!("{} ago", ago(now.saturating_sub(h.last_used_unix))),
            ]
        })
        .collect();
    table(&["HOST", "TARGET", "STATUS", "LAST USED"], &rows)
}

fn ago(secs: u64) -> String {
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

fn table<const N: usize>(header: &[&str; N], rows: &[[String; N]]) -> String {
    let mut widths = header.map(str::len);
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<&str>| {
        let mut l = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == N {
                l.push_str(cell);
            } else {
                let _ = write!(l, "{cell:<w$}  ");
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
    out
}
