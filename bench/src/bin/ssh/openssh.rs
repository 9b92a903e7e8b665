//! The user's way: the OpenSSH client with the same config, a new connection
//! per command or multiplexed over a ControlMaster.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use roam_bench::cmd;

use crate::{ALIAS, COMMAND, config_file};

/// `ssh -F <home>/.ssh/config`, plus any options.
#[derive(Debug, Clone)]
pub struct OpenSsh {
    args: Vec<String>,
}

impl OpenSsh {
    pub fn new(home: &Path) -> OpenSsh {
        OpenSsh {
            args: vec!["-F".into(), config_file(home).display().to_string()],
        }
    }

    /// The same with `-o option` added.
    fn with_option(&self, option: &str) -> OpenSsh {
        let mut args = self.args.clone();
        args.extend(["-o".into(), option.to_owned()]);
        OpenSsh { args }
    }

    /// `ssh … box <extra…>`.
    fn cmd(&self, extra: &[&str]) -> Command {
        let mut cmd = Command::new("ssh");
        cmd.args(&self.args).args(extra);
        cmd
    }

    /// `ssh … box true`, timed (starting the ssh process included: that is
    /// what the user pays); fails unless it succeeds.
    pub fn command(&self) -> anyhow::Result<Duration> {
        let mut cmd = self.cmd(&[ALIAS, COMMAND]);
        let start = Instant::now();
        cmd::run(&mut cmd)?;
        Ok(start.elapsed())
    }

    /// `count` commands one after another.
    pub fn commands(&self, count: usize) -> anyhow::Result<Vec<Duration>> {
        (0..count).map(|_| self.command()).collect()
    }
}

/// The ControlMaster way: the opening command and the ones through the master.
#[derive(Debug)]
pub struct Multiplexed {
    pub open: Duration,
    pub commands: Vec<Duration>,
}

/// An OpenSSH ControlMaster (`ControlMaster=auto`, `ControlPersist=60`);
/// asked to exit when closed or dropped.
#[derive(Debug)]
pub struct Master {
    ssh: OpenSsh,
    /// Whether a master may be running.
    open: bool,
}

impl Master {
    /// Nothing runs yet: the first command opens the master.
    pub fn new(ssh: &OpenSsh, control_path: &Path) -> Master {
        let ssh = ssh
            .with_option("ControlMaster=auto")
            .with_option(&format!("ControlPath={}", control_path.display()))
            .with_option("ControlPersist=60");
        Master { ssh, open: false }
    }

    /// The opening command (which starts the master), then `count` through it.
    pub fn commands(&mut self, count: usize) -> anyhow::Result<Multiplexed> {
        self.open = true;
        let open = self.ssh.command()?;
        let commands = self.ssh.commands(count)?;
        Ok(Multiplexed { open, commands })
    }

    /// `ssh -O exit`: the master closes its connection and exits.
    pub fn close(&mut self) -> anyhow::Result<()> {
        if self.open {
            self.open = false;
            cmd::run(&mut self.ssh.cmd(&["-O", "exit", ALIAS]))?;
        }
        Ok(())
    }
}

impl Drop for Master {
    fn drop(&mut self) {
        let _ = self.close();
    }
}
