//! The two-node mesh on loopback: nodes `alpha` (A, which hosts the
//! workspaces) and `bravo` (B, which attaches to them over the mesh), paired
//! through the CLI, with a `cat` workspace and a test-agent workspace on A.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::Context;
use roam_bench::cmd::{self, git};
use roam_bench::node::{self, Bins, Node};
use roam_bench::wait;
use serde_json::Value;

/// The workspace running `cat`, for keystroke echo.
pub const ECHO_WS: &str = "echo";
/// The workspace running the test agent, for output floods.
pub const FLOOD_WS: &str = "flood";
/// What is typed into `cat` once so every viewer's repaint has a marker.
pub const READY: &str = "ready";

#[derive(Debug)]
pub struct Mesh {
    /// Dropped first (fields drop in order): B only views A's workspaces.
    pub b: Node,
    pub a: Node,
    pub repo: PathBuf,
}

/// Starts both nodes under `root`, pairs them, and makes the workspaces on A.
pub fn start(bins: &Bins, root: &Path) -> anyhow::Result<Mesh> {
    let repo = root.join("repo");
    make_repo(&repo)?;
    let cat = node::profile_config("cat", &["cat"]);
    let a = Node::start_with(
        bins.clone(),
        &root.join("a"),
        &format!("{}{cat}", node::mesh_config("alpha")),
    )?;
    let b = Node::start_with(
        bins.clone(),
        &root.join("b"),
        &format!("{}{cat}", node::mesh_config("bravo")),
    )?;
    let mesh = Mesh { b, a, repo };
    node::pair(&mesh.a, &mesh.b)?;

    let repo_path = mesh.repo.to_str().context("repo path is not UTF-8")?;
    for (ws, agent) in [(ECHO_WS, "cat"), (FLOOD_WS, "test")] {
        mesh.a
            .roam(&["new", ws, "--repo", repo_path, "--agent", agent])?;
    }
    mesh.a.roam(&["send", ECHO_WS, READY])?;
    wait::poll(
        "cat to echo the ready line",
        Duration::from_millis(50),
        || {
            Ok(mesh
                .a
                .roam(&["logs", ECHO_WS])?
                .contains(READY)
                .then_some(()))
        },
    )?;
    wait::poll(
        "node bravo to list alpha's workspaces",
        Duration::from_millis(100),
        || {
            let names: Vec<String> = mesh
                .b
                .list()?
                .iter()
                .filter_map(|ws| ws.get("name").and_then(Value::as_str).map(String::from))
                .collect();
            let both = [ECHO_WS, FLOOD_WS]
                .iter()
                .all(|ws| names.iter().any(|n| n == ws));
            Ok(both.then_some(()))
        },
    )?;
    Ok(mesh)
}

/// A repository with one commit for the workspaces.
fn make_repo(repo: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(repo)?;
    git(repo, &["init", "-q", "-b", "main"])?;
    std::fs::write(repo.join("README.md"), "mesh benchmark\n")?;
    git(repo, &["add", "-A"])?;
    cmd::run(
        Command::new("git")
            .args([
                "-c",
                "user.name=roam-bench",
                "-c",
                "user.email=bench@localhost",
            ])
            .args(["commit", "-q", "-m", "init"])
            .current_dir(repo),
    )?;
    Ok(())
}
