//! `cargo run -p roam-bench --bin ssh`: what running commands on an SSH host
//! costs through roam's pooled connection (`roam_mesh::ssh::SshPool`) against
//! the OpenSSH client, all against one private sshd on 127.0.0.1 reached
//! through the same `~/.ssh/config` (in a temp home):
//!
//! - 50 short commands one after another: roam's pool (one connection,
//!   dialled once), `ssh box true` (a new connection each time) and `ssh` with
//!   a ControlMaster (one master, opened by the first command);
//! - dial cost: a fresh pool's first command vs `ssh box true`, 10 of each;
//! - the time to start a workspace on the host (`roam new --on ssh:box`),
//!   beside a local `roam new` of the same repository.
//!
//! Everything (sshd, the ControlMaster, the temp dir) is stopped and removed
//! at the end, on errors too.

mod openssh;
mod pooled;
mod summary;
mod workspace;

use std::path::{Path, PathBuf};

use anyhow::Context;
use roam_bench::sshd::{Sshd, user};

use openssh::{Master, OpenSsh};
use summary::Summary;

/// The host alias in the temp home's ssh config.
pub const ALIAS: &str = "box";
/// The remote command every measurement runs.
pub const COMMAND: &str = "true";
/// Commands run one after another, per way.
pub const COMMANDS: usize = 50;
/// Fresh dials per way for the dial cost.
pub const DIALS: usize = 10;

fn main() -> std::process::ExitCode {
    roam_bench::report::finish("ssh-bench", run().map(|summary| summary.render()))
}

fn run() -> anyhow::Result<Summary> {
    // Declared first, so dropped last: sshd and the master stop before it goes.
    let tmp = tempfile::Builder::new()
        .prefix("roam-bench-ssh-")
        .tempdir()
        .context("cannot make a temp dir")?;
    let root = tmp.path();
    let server_dir = root.join("sshd");
    std::fs::create_dir_all(&server_dir)?;
    let sshd = Sshd::start(&server_dir)?;
    let home = root.join("home");
    write_home(&home, &sshd)?;

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    let ssh = OpenSsh::new(&home);

    eprintln!("ssh-bench: roam pooled connection, first dial + {COMMANDS} x `{COMMAND}`");
    let roam = rt.block_on(pooled::commands(&home))?;

    eprintln!("ssh-bench: ssh, a new connection per command, {COMMANDS} x `{COMMAND}`");
    let fresh = ssh.commands(COMMANDS)?;

    eprintln!("ssh-bench: ssh with a ControlMaster, opening + {COMMANDS} x `{COMMAND}`");
    let master = {
        let mut master = Master::new(&ssh, &root.join("cm-%C"));
        let runs = master.commands(COMMANDS)?;
        master.close()?;
        runs
    };

    eprintln!("ssh-bench: dial cost, {DIALS} fresh dials each (alternating)");
    let mut dial_roam = Vec::with_capacity(DIALS);
    let mut dial_ssh = Vec::with_capacity(DIALS);
    for _ in 0..DIALS {
        dial_roam.push(rt.block_on(pooled::fresh_dial(&home))?);
        dial_ssh.push(ssh.command()?);
    }

    drop(rt);
    let port = sshd.port;
    drop(sshd);

    eprintln!(
        "ssh-bench: workspace start on the host x{}",
        workspace::STARTS
    );
    let starts = workspace::measure(root)?;
    Ok(Summary {
        starts,
        port,
        user: user(),
        roam,
        fresh,
        master,
        dial_roam,
        dial_ssh,
    })
}

/// A home with `.ssh/config` naming the server as [`ALIAS`], and an empty
/// `.ssh/known_hosts` (its host key is learnt on first use: accept-new).
pub fn write_home(home: &Path, sshd: &Sshd) -> anyhow::Result<()> {
    let dot_ssh = home.join(".ssh");
    std::fs::create_dir_all(&dot_ssh)?;
    let known_hosts = dot_ssh.join("known_hosts");
    std::fs::write(&known_hosts, "")?;
    let config = format!(
        "Host {ALIAS}\n  HostName 127.0.0.1\n  Port {port}\n  User {user}\n  IdentityFile {key}\n  \
         IdentitiesOnly yes\n  UserKnownHostsFile {known}\n  StrictHostKeyChecking accept-new\n",
        port = sshd.port,
        user = user(),
        key = sshd.key().display(),
        known = known_hosts.display(),
    );
    std::fs::write(config_file(home), config)?;
    Ok(())
}

/// The ssh client config in `home`.
pub fn config_file(home: &Path) -> PathBuf {
    home.join(".ssh").join("config")
}
