//! One isolated roam node: its binaries, data dir and environment; started
//! with `roam up`, stopped with `roam down` when dropped.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use anyhow::{Context, bail};
use serde_json::Value;

/// Where `roam` and `roam-test-agent` live.
#[derive(Debug, Clone)]
pub struct Bins {
    pub roam: PathBuf,
    pub agent: PathBuf,
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
        };
        for bin in [&bins.roam, &bins.agent] {
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
    pid: Option<u32>,
}

impl Node {
    /// Writes the config with the `test` profile under `root` and runs `roam up`.
    pub fn start(bins: Bins, root: &Path) -> anyhow::Result<Node> {
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
             waiting = ['^> $']\n"
        );
        std::fs::write(home.join("config.toml"), config)?;
        let mut node = Node {
            bins,
            home,
            user_home,
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
        vec![
            ("ROAM_HOME", self.home.clone().into_os_string()),
            ("HOME", self.user_home.clone().into_os_string()),
            ("ROAM_NO_AUTOSTART", "1".into()),
        ]
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

    /// Runs `roam ARGS`, fails unless it succeeds, returns its stdout.
    pub fn roam(&self, args: &[&str]) -> anyhow::Result<String> {
        let output = self
            .command(args)
            .output()
            .with_context(|| format!("cannot run roam {}", args.join(" ")))?;
        checked(&output, args)
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
        let stopped = self
            .roam(&["down"])
            .map_err(|e| eprintln!("roam-bench: roam down failed: {e:#}"))
            .is_ok();
        if !stopped && let Some(pid) = self.pid {
            let pid = nix::unistd::Pid::from_raw(pid as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
        }
    }
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
