//! Time to start a workspace on the SSH host (`roam new --on ssh:box`):
//! the repository sent over the pooled connection, the worktree made there,
//! the agent started in tmux; beside a local `roam new` of the same repo.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::Context;
use roam_bench::cmd;
use roam_bench::node::{Bins, Node, mesh_config, profile_config};
use roam_bench::sshd::Sshd;

/// Workspaces made per way.
pub const STARTS: usize = 5;
/// Files in the repository sent to the host.
const FILES: usize = 200;

#[derive(Debug)]
pub struct Starts {
    pub on_host: Vec<Duration>,
    pub local: Vec<Duration>,
}

/// Starts its own sshd whose sessions get a private `$HOME` and tmux, so
/// nothing touches the real home, and a node that has added it as `box`.
pub fn measure(root: &Path) -> anyhow::Result<Starts> {
    let server = root.join("ws-sshd");
    let host_home = root.join("ws-host-home");
    std::fs::create_dir_all(&server)?;
    std::fs::create_dir_all(host_home.join("tmux"))?;
    let sshd = Sshd::start_with(
        &server,
        &format!(
            "SetEnv HOME={h} TMUX_TMPDIR={h}/tmux\n",
            h = host_home.display()
        ),
    )?;
    let extra = format!(
        "{}{}",
        mesh_config("bench"),
        profile_config("cat", &["cat"])
    );
    let node = Node::start_with(Bins::locate()?, &root.join("ws-node"), &extra)?;
    crate::write_home(&node.user_home, &sshd)?;
    node.roam(&["host", "add", crate::ALIAS, "--accept-new"])
        .context("roam host add")?;
    let repo = root.join("ws-repo");
    make_repo(&repo)?;
    let repo_arg = repo.to_string_lossy().into_owned();
    let on = format!("ssh:{}", crate::ALIAS);
    let mut starts = Starts {
        on_host: Vec::with_capacity(STARTS),
        local: Vec::with_capacity(STARTS),
    };
    for i in 0..STARTS {
        let name = format!("far{i}");
        let t = Instant::now();
        node.roam(&[
            "new", &name, "--on", &on, "--repo", &repo_arg, "--agent", "cat",
        ])?;
        starts.on_host.push(t.elapsed());
        let name = format!("near{i}");
        let t = Instant::now();
        node.roam(&["new", &name, "--repo", &repo_arg, "--agent", "cat"])?;
        starts.local.push(t.elapsed());
    }
    for i in 0..STARTS {
        node.roam(&["rm", "--force", &format!("far{i}")])?;
        node.roam(&["rm", "--force", &format!("near{i}")])?;
    }
    drop(node);
    drop(sshd);
    Ok(starts)
}

/// A repository of `FILES` small files in one commit.
fn make_repo(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir.join("src"))?;
    for i in 0..FILES {
        std::fs::write(
            dir.join("src").join(format!("f{i}.txt")),
            format!("file {i}\n").repeat(20),
        )?;
    }
    let git = |args: &[&str]| -> anyhow::Result<()> {
        cmd::run(Command::new("git").arg("-C").arg(dir).args(args))?;
        Ok(())
    };
    git(&["init", "-q", "-b", "main"])?;
    git(&["add", "."])?;
    git(&[
        "-c",
        "user.name=bench",
        "-c",
        "user.email=bench@localhost",
        "commit",
        "-q",
        "-m",
        "base",
    ])?;
    Ok(())
}
