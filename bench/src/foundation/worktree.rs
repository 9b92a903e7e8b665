//! Workspace creation: `roam new` against plain `git worktree add`, on the same
//! repository, interleaved so both see the same page cache.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use roam_bench::cmd::{self, git};
use roam_bench::node::Node;

use super::repo::BenchRepo;

#[derive(Debug)]
pub struct Creation {
    pub roam: Vec<Duration>,
    pub git: Vec<Duration>,
}

/// Times `runs` of each; the roam workspaces are removed afterwards.
pub fn bench(
    node: &Node,
    repo: &BenchRepo,
    plain_dir: &Path,
    runs: usize,
) -> anyhow::Result<Creation> {
    let repo_path = repo.path.to_str().context("repo path is not UTF-8")?;
    // One untimed checkout so the first timed one does not pay for a cold cache.
    git_worktree_add(node, repo, &plain_dir.join("warmup"), "plain-warmup")?;

    let mut result = Creation {
        roam: Vec::with_capacity(runs),
        git: Vec::with_capacity(runs),
    };
    let mut made = Vec::new();
    let outcome = (|| -> anyhow::Result<()> {
        for i in 0..runs {
            let name = format!("create{i}");
            let start = Instant::now();
            node.roam(&["new", &name, "--repo", repo_path, "--agent", "test"])?;
            result.roam.push(start.elapsed());
            made.push(name);

            let dir = plain_dir.join(format!("plain{i}"));
            result
                .git
                .push(git_worktree_add(node, repo, &dir, &format!("plain{i}"))?);
        }
        Ok(())
    })();
    for name in &made {
        if let Err(e) = node.roam(&["rm", name, "--force"]) {
            eprintln!("roam-bench: could not remove workspace {name}: {e:#}");
        }
    }
    outcome?;
    for i in 0..runs {
        let dir = plain_dir.join(format!("plain{i}"));
        if dir.exists() {
            git(
                &repo.path,
                &["worktree", "remove", "--force", path_str(&dir)?],
            )?;
        }
    }
    git(
        &repo.path,
        &[
            "worktree",
            "remove",
            "--force",
            path_str(&plain_dir.join("warmup"))?,
        ],
    )?;
    Ok(result)
}

fn path_str(path: &Path) -> anyhow::Result<&str> {
    path.to_str()
        .with_context(|| format!("{} is not UTF-8", path.display()))
}

/// `git worktree add -b BRANCH DIR HEAD`, with the node's environment, timed.
fn git_worktree_add(
    node: &Node,
    repo: &BenchRepo,
    dir: &Path,
    branch: &str,
) -> anyhow::Result<Duration> {
    let start = Instant::now();
    let output = cmd::output(
        Command::new("git")
            .args(["worktree", "add", "-q", "-b", branch])
            .arg(dir)
            .arg("HEAD")
            .current_dir(&repo.path)
            .envs(node.env()),
    )?;
    let took = start.elapsed();
    if !output.status.success() {
        bail!(
            "git worktree add {} failed: {}",
            dir.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(took)
}
