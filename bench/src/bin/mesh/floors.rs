//! The layers under roam's keystroke path, each measured on its own, so the
//! difference between one and the next is what that layer costs: `cat` in a
//! PTY read directly (the kernel's echo, nothing else), then `cat` in a
//! holder read off its socket as a node reads it (`roam_bench::held`).
//! `roam attach` on A adds the node (the CLI, the control socket, the
//! actors) to the holder; `roam attach` from B adds the mesh.

use std::path::{Path, PathBuf};

use roam_bench::drain::Watched;
use roam_bench::held::HeldAgent;
use roam_bench::node::Bins;
use roam_bench::pty::{COLS, PtyProcess, ROWS};
use roam_bench::sshd::shell_quote;

/// `cat` that announces itself with `marker` first.
fn cat_argv(marker: &str) -> [String; 3] {
    [
        "/bin/sh".into(),
        "-c".into(),
        format!("echo {}; exec cat", shell_quote(marker)),
    ]
}

/// `cat` in a PTY of our own, settled.
pub fn pty_cat(marker: &str, cwd: &Path) -> anyhow::Result<PtyProcess> {
    let [sh, flag, script] = cat_argv(marker);
    let term = PtyProcess::spawn(Path::new(&sh), &[&flag, &script], &[], cwd, COLS, ROWS)?;
    term.settle(marker)?;
    Ok(term)
}

/// `cat` in a holder, its socket under `dir`, settled.
pub fn held_cat(bins: &Bins, marker: &str, dir: &Path) -> anyhow::Result<HeldAgent> {
    let argv = cat_argv(marker).map(PathBuf::from);
    let argv: Vec<&Path> = argv.iter().map(PathBuf::as_path).collect();
    let held = HeldAgent::start(
        &bins.holder,
        &argv,
        &[],
        dir,
        dir.join("cat.sock"),
        (COLS, ROWS),
    )?;
    held.drain().settle(marker)?;
    Ok(held)
}
