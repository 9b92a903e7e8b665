//! The ways of reaching a process on node A, each a terminal in a PTY:
//! `roam attach` from node B over the mesh, `roam attach` on A itself (the
//! baseline without the network), `ssh -tt` to a local OpenSSH server, and
//! `tmux attach`, here and through `ssh -tt` (what a user keeps a terminal
//! alive with without roam).

use std::path::{Path, PathBuf};

use anyhow::Context;
use roam_bench::node::Node;
use roam_bench::pty::{COLS, PtyProcess, ROWS};
use roam_bench::sshd::{Sshd, shell_quote};

/// A settled terminal, and how to leave it.
pub struct Session {
    pub term: PtyProcess,
    leave: Leave,
}

enum Leave {
    /// `roam attach`'s detach key.
    Detach,
    /// End of input for the remote command.
    EndOfInput,
    /// tmux's detach keys (Ctrl-B d): the session and its `cat` stay.
    TmuxDetach,
}

impl Session {
    /// Detaches `roam attach` (Ctrl-]) or tmux, or ends the remote command
    /// under ssh; waits (bounded) for the terminal's process to exit.
    pub fn close(mut self) -> anyhow::Result<()> {
        match self.leave {
            Leave::Detach => return self.term.detach(),
            // Ctrl-D twice: the first hands `cat` its pending line, the
            // second is end of input, for `cat` and the agent alike; ssh
            // ends with them.
            Leave::EndOfInput => self.term.write(b"\x04\x04")?,
            Leave::TmuxDetach => self.term.write(b"\x02d")?,
        }
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
        leave: Leave::Detach,
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
        leave: Leave::EndOfInput,
    })
}

/// `tmux attach` to `tmux`'s session, here or (with `sshd`) through
/// `ssh -tt`, settled once its repaint showing `marker` has gone quiet.
pub fn tmux(tmux: &Tmux, sshd: Option<&Sshd>, marker: &str, cwd: &Path) -> anyhow::Result<Session> {
    let attach = tmux.attach_args();
    let term = match sshd {
        None => {
            let args: Vec<&str> = attach.iter().map(String::as_str).collect();
            PtyProcess::spawn(&PathBuf::from("tmux"), &args, &[], cwd, COLS, ROWS)?
        }
        Some(sshd) => {
            let remote = std::iter::once("tmux".to_owned())
                .chain(attach.iter().map(|a| shell_quote(a)))
                .collect::<Vec<_>>()
                .join(" ");
            let args = sshd.interactive_args(&remote);
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            PtyProcess::spawn(&PathBuf::from("ssh"), &args, &[], cwd, COLS, ROWS)?
        }
    };
    term.settle(marker)?;
    Ok(Session {
        term,
        leave: Leave::TmuxDetach,
    })
}

/// A tmux server of the benchmark's own (its socket in the temp dir) with
/// one session running `cat`, which has echoed `marker` once; killed on drop.
pub struct Tmux {
    socket: PathBuf,
}

const TMUX_SESSION: &str = "bench";

impl Tmux {
    pub fn start(dir: &Path, marker: &str) -> anyhow::Result<Tmux> {
        let tmux = Tmux {
            socket: dir.join("tmux.sock"),
        };
        let socket = tmux.socket.to_str().context("temp path is not UTF-8")?;
        let (cols, rows) = (COLS.to_string(), ROWS.to_string());
        roam_bench::cmd::run(std::process::Command::new("tmux").args([
            "-S",
            socket,
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-s",
            TMUX_SESSION,
            "-x",
            &cols,
            "-y",
            &rows,
            &format!("echo {}; exec cat", shell_quote(marker)),
        ]))
        .context("cannot start tmux (it is the benchmark's baseline: install tmux)")?;
        Ok(tmux)
    }

    fn attach_args(&self) -> Vec<String> {
        [
            "-S",
            &self.socket.display().to_string(),
            "attach",
            "-t",
            TMUX_SESSION,
        ]
        .map(String::from)
        .into()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = std::process::Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .arg("kill-server")
            .output();
    }
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
