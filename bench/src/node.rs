//! One isolated roam node: its binaries, data dir and environment; started
//! with `roam up`, stopped with `roam down` when dropped (and killed if that
//! does not stop it). Also pairing two such nodes into a mesh.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::Value;

use crate::pty::{COLS, PtyProcess, ROWS};
use crate::{cmd, wait};

/// How long a node may take to exit after `roam down` before it is killed.
const DOWN_GRACE: Duration = Duration::from_secs(15);

/// Where `roam`, `roam-test-agent` and `roam-holder` live.
#[derive(Debug, Clone)]
pub struct Bins {
    pub roam: PathBuf,
    pub agent: PathBuf,
    pub holder: PathBuf,
}

impl Bins {
    /// `$ROAM_BIN_DIR`, else the directory of this executable.
    pub fn locate() -> anyhow::Result<Bins> {
        let dir = match std::env::var_os("ROAM_BIN_DIR").filter(|d| !d.is_empty()) {
            Some(dir) => PathBuf::from(dir),
            None => std::env::current_exe()
                .context("cannot find this executable")?
                .parent()
                .context("this executable has no parent directory")?
                .to_path_buf(),
        };
        let bins = Bins {
            roam: dir.join("roam"),
            agent: dir.join("roam-test-agent"),
            holder: dir.join("roam-holder"),
        };
        for bin in [&bins.roam, &bins.agent, &bins.holder] {
            if !bin.is_file() {
                bail!(
                    "{} not found (build it with `cargo build -p roam-cli`, or set ROAM_BIN_DIR)",
                    bin.display()
                );
            }
        }
        Ok(bins)
    }
}

/// A running node with its own data dir (`ROAM_HOME`) and `HOME`.
#[derive(Debug)]
pub struct Node {
    pub bins: Bins,
    pub home: PathBuf,
    pub user_home: PathBuf,
    /// On top of `env`, for the node and everything run against it.
    extra_env: Vec<(&'static str, OsString)>,
    pid: Option<u32>,
}

impl Node {
    /// Writes the config with the `test` profile under `root` and runs `roam up`.
    pub fn start(bins: Bins, root: &Path) -> anyhow::Result<Node> {
        Node::start_with(bins, root, "")
    }

    /// `start`, with `extra` TOML appended to the config (see `mesh_config`).
    pub fn start_with(bins: Bins, root: &Path, extra: &str) -> anyhow::Result<Node> {
        Node::start_with_env(bins, root, extra, Vec::new())
    }

    /// `start_with`, the node (and every command run against it) given
    /// `env` as well.
    pub fn start_with_env(
        bins: Bins,
        root: &Path,
        extra: &str,
        env: Vec<(&'static str, OsString)>,
    ) -> anyhow::Result<Node> {
        let home = root.join("roam-home");
        let user_home = root.join("home");
        std::fs::create_dir_all(&home)?;
        std::fs::create_dir_all(&user_home)?;
        std::fs::write(
            user_home.join(".gitconfig"),
            "[user]\n\tname = roam-bench\n\temail = bench@localhost\n",
        )?;
        let agent = toml_string(&bins.agent)?;
        let config = format!(
            "[profiles.test]\n\
             command = [{agent}]\n\
             resume = [{agent}, \"--resume\", \"{{session}}\"]\n\
             session_dir = \"{{home}}/.claude/projects/{{cwd_encoded}}\"\n\
             waiting = ['^> $']\n\
             {extra}"
        );
        std::fs::write(home.join("config.toml"), config)?;
        let mut node = Node {
            bins,
            home,
            user_home,
            extra_env: env,
            pid: None,
        };
        let said = node.roam(&["up"])?;
        if !said.contains("node started") {
            bail!("roam up did not start a fresh node: {said}");
        }
        let status = node.status()?;
        node.pid = Some(json_u64(&status, "pid")? as u32);
        Ok(node)
    }

    /// The node's pid (from `roam node status`).
    pub fn pid(&self) -> Option<u32> {
        self.pid
    }

    /// The environment every process talking to this node gets.
    pub fn env(&self) -> Vec<(&'static str, OsString)> {
        let mut env = vec![
            ("ROAM_HOME", self.home.clone().into_os_string()),
            ("HOME", self.user_home.clone().into_os_string()),
            ("ROAM_NO_AUTOSTART", "1".into()),
        ];
        env.extend(self.extra_env.iter().cloned());
        env
    }

    /// `roam ARGS` as a command, not yet run.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.bins.roam);
        cmd.args(args)
            .envs(self.env())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    /// Runs `roam ARGS` (bounded), fails unless it succeeds, returns its stdout.
    pub fn roam(&self, args: &[&str]) -> anyhow::Result<String> {
        let output = cmd::output(&mut self.command(args))?;
        checked(&output, args)
    }

    /// `roam attach WORKSPACE` in a new PTY (`COLS` x `ROWS`), not yet settled.
    pub fn attach(&self, workspace: &str, cwd: &Path) -> anyhow::Result<PtyProcess> {
        PtyProcess::spawn(
            &self.bins.roam,
            &["attach", workspace],
            &self.env(),
            cwd,
            COLS,
            ROWS,
        )
    }

    /// `roam node status --json`.
    pub fn status(&self) -> anyhow::Result<Value> {
        let text = self.roam(&["node", "status", "--json"])?;
        serde_json::from_str(&text).context("roam node status --json printed bad JSON")
    }

    /// `rss_bytes` of `roam node status --json`.
    pub fn rss_bytes(&self) -> anyhow::Result<u64> {
        json_u64(&self.status()?, "rss_bytes")
    }

    /// `roam ls --json`: the array of workspaces.
    pub fn list(&self) -> anyhow::Result<Vec<Value>> {
        let text = self.roam(&["ls", "--json"])?;
        let value: Value =
            serde_json::from_str(&text).context("roam ls --json printed bad JSON")?;
        match value {
            Value::Array(list) => Ok(list),
            other => bail!("roam ls --json printed {other} instead of an array"),
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Err(e) = self.roam(&["down"]) {
            eprintln!("roam-bench: roam down failed: {e:#}");
        }
        let Some(pid) = self.pid else { return };
        // `roam down` asks; the process may still be saving. Kill it only if it
        // outlives the grace period, so no node is ever left behind.
        let gone = wait::poll_for(
            "the node to exit",
            DOWN_GRACE,
            Duration::from_millis(50),
            || Ok((!alive(pid)).then_some(())),
        );
        if gone.is_err() {
            eprintln!("roam-bench: node {pid} did not stop; killing it");
            cmd::kill(pid);
        }
    }
}

/// Whether a process exists (signal 0 probes without sending anything).
fn alive(pid: u32) -> bool {
    i32::try_from(pid)
        .is_ok_and(|pid| nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok())
}

/// Config for a mesh node: its name, QUIC on loopback only, no mDNS (nodes
/// find each other through the pairing address, not the LAN).
pub fn mesh_config(name: &str) -> String {
    format!(
        "[node]\n\
         name = {name}\n\
         [mesh]\n\
         listen = [\"/ip4/127.0.0.1/udp/0/quic-v1\"]\n\
         mdns = false\n",
        name = Value::from(name)
    )
}

/// A `[profiles.NAME]` table running `command`.
pub fn profile_config(name: &str, command: &[&str]) -> String {
    let words: Vec<String> = command
        .iter()
        .map(|w| Value::from(*w).to_string())
        .collect();
    format!("[profiles.{name}]\ncommand = [{}]\n", words.join(", "))
}

/// Pairs `joiner` into `host`'s mesh as a user would: `roam pair` on the
/// host, `roam join CODE ADDR` on the joiner.
pub fn pair(host: &Node, joiner: &Node) -> anyhow::Result<()> {
    let said = host.roam(&["pair"])?;
    let code = said
        .lines()
        .find_map(|l| l.strip_prefix("pairing code: "))
        .and_then(|l| l.split_whitespace().next())
        .with_context(|| format!("no pairing code in: {said}"))?;
    let addr = said
        .lines()
        .find_map(|l| l.trim().strip_prefix("roam join "))
        .and_then(|l| l.split_whitespace().nth(1))
        .with_context(|| format!("no address to join in: {said}"))?;
    let joined = joiner.roam(&["join", code, addr])?;
    if !joined.contains("joined the mesh") {
        bail!("roam join did not join: {joined}");
    }
    Ok(())
}

/// Stdout of a finished `roam ARGS`, or an error with what it said.
fn checked(output: &Output, args: &[&str]) -> anyhow::Result<String> {
    if !output.status.success() {
        bail!(
            "roam {} failed ({}): {}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

pub fn json_u64(value: &Value, field: &str) -> anyhow::Result<u64> {
    value
        .get(field)
        .and_then(Value::as_u64)
        .with_context(|| format!("no number `{field}` in {value}"))
}

/// A path as a TOML basic string.
fn toml_string(path: &Path) -> anyhow::Result<String> {
    let text = path
        .to_str()
        .with_context(|| format!("{} is not UTF-8", path.display()))?;
    Ok(Value::from(text).to_string())
}
