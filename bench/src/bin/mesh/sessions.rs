//! The three ways of reaching a process on node A, each a terminal in a PTY:
//! `roam attach` from node B over the mesh, `roam attach` on A itself (the
//! baseline without the network), and `ssh -tt` to a local OpenSSH server.

use std::path::{Path, PathBuf};

use anyhow::Context;
use roam_bench::node::Node;
use roam_bench::pty::{COLS, PtyProcess, ROWS};
use roam_bench::sshd::{Sshd, shell_quote};

/// A settled terminal, and how to leave it.
pub struct Session {
    pub term: PtyProcess,
    attached: bool,
}

impl Session {
    /// Detaches `roam attach` (Ctrl-]) or ends the remote command under ssh;
    /// waits (bounded) for the terminal's process to exit.
    pub fn close(mut self) -> anyhow::Result<()> {
        if self.attached {
            return self.term.detach();
        }
        // Ctrl-D twice: the first hands `cat` its pending line, the second is
        // end of input, for `cat` and the agent alike; ssh ends with them.
        self.term.write(b"\x04\x04")?;
        self.term.wait_exit().map(drop)
    }
}

/// `roam attach WORKSPACE` through `node`, settled once the repaint showing
/// `marker` has arrived and gone quiet (raw mode is on by then).
pub fn attach(node: &Node, workspace: &str, marker: &str, cwd: &Path) -> anyhow::Result<Session> {
    let term = node.attach(workspace, cwd)?;
    term.settle(marker)?;
    Ok(Session {
        term,
        attached: true,
    })
}

/// `ssh -tt … REMOTE`, settled once `marker` has arrived and gone quiet.
pub fn ssh(sshd: &Sshd, remote: &str, marker: &str, cwd: &Path) -> anyhow::Result<Session> {
    let args = sshd.interactive_args(remote);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let term = PtyProcess::spawn(&PathBuf::from("ssh"), &args, &[], cwd, COLS, ROWS)?;
    term.settle(marker)?;
    Ok(Session {
        term,
        attached: false,
    })
}

/// The remote command for `cat` over ssh: it announces itself first, since
/// `cat` prints nothing until it reads a line.
pub fn ssh_cat(marker: &str) -> String {
    format!("echo {}; exec cat", shell_quote(marker))
}

/// The remote command for the test agent over ssh, in `dir` with `HOME` there
/// too (it writes session files under `$HOME`, like a real agent).
pub fn ssh_agent(agent: &Path, dir: &Path) -> anyhow::Result<String> {
    let agent = agent.to_str().context("agent path is not UTF-8")?;
    let dir = shell_quote(dir.to_str().context("temp path is not UTF-8")?);
    Ok(format!(
        "cd {dir} && HOME={dir} exec {}",
        shell_quote(agent)
    ))
}
