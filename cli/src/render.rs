//! How listings look in a terminal.

use std::fmt::Write;

use roam_node::api::{NodeStatus, WorkspaceInfo};

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
            let git = match &w.problem {
                Some(p) => format!("! {p}"),
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
    table(
        &["NAME", "NODE", "BRANCH", "AHEAD/BEHIND", "DIRTY", "AGENTS"],
        &rows,
    )
}

pub fn status(s: &NodeStatus) -> String {
    format!(
        "node {} running (pid {}, up {}s)\n  version {} (protocol {})\n  data dir {}\n  {} workspace(s), {} agent(s) running, rss {:.1} MiB\n",
        s.name,
        s.pid,
        s.uptime_secs,
        s.version,
        s.protocol,
        s.data_dir,
        s.workspaces,
        s.agents_running,
        s.rss_bytes as f64 / (1024.0 * 1024.0)
    )
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
