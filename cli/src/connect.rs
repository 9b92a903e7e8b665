//! Reaching the local node, starting it first when needed (as tmux does),
//! unless `ROAM_NO_AUTOSTART=1`.

use std::os::unix::fs::OpenOptionsExt;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use roam_node::client::{Client, ClientError};
use roam_node::paths::Paths;

const START_TIMEOUT: Duration = Duration::from_secs(30);
const STOP_TIMEOUT: Duration = Duration::from_secs(45);
const POLL: Duration = Duration::from_millis(50);

pub fn autostart_enabled() -> bool {
    std::env::var("ROAM_NO_AUTOSTART")
        .map(|v| v != "1")
        .unwrap_or(true)
}

/// A connection to the node, started in the background if none runs.
pub async fn connect(paths: &Paths) -> anyhow::Result<Client> {
    match Client::connect(paths).await {
        Ok(c) => Ok(c),
        Err(ClientError::NotRunning { home }) if !autostart_enabled() => bail!(
            "no node is running with data dir {home}; start one with `roam up` (or `roam node run` in the foreground)"
        ),
        Err(ClientError::NotRunning { .. }) => {
            start_background(paths, None).await?;
            Ok(Client::connect(paths).await?)
        }
        Err(e) => Err(e.into()),
    }
}

/// The pid of the node answering at `paths`, if one does.
pub async fn running_pid(paths: &Paths) -> Option<u32> {
    Client::connect(paths).await.ok()?.ping().await.ok()
}

/// Starts `roam node run` detached from this terminal and waits until it
/// answers. Returns its pid.
pub async fn start_background(paths: &Paths, name: Option<&str>) -> anyhow::Result<u32> {
    roam_node::data_dir::prepare(paths)?;
    let stderr_path = paths.logs().join("node.stderr");
    let stderr = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(&stderr_path)
        .with_context(|| format!("data dir {} is not writable", paths.home.display()))?;
    let exe = std::env::current_exe().context("cannot find the roam binary")?;
    let mut cmd = std::process::Command::new(exe);
    cmd.args(["node", "run"])
        .env("ROAM_HOME", &paths.home)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr);
    if let Some(n) = name {
        cmd.args(["--name", n]);
    }
    // Its own process group: a Ctrl-C in this terminal must not reach it.
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let mut child = cmd.spawn().context("cannot start the node")?;
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if let Some(pid) = running_pid(paths).await {
            return Ok(pid);
        }
        if let Some(status) = child.try_wait()? {
            let why = std::fs::read_to_string(&stderr_path).unwrap_or_default();
            let line = why
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("no message");
            bail!("the node failed to start ({status}): {line}");
        }
        if Instant::now() > deadline {
            bail!(
                "the node did not answer within {}s; see {}",
                START_TIMEOUT.as_secs(),
                paths.logs().display()
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Waits until the node at `paths` no longer answers.
/// Stops the node by signal, whatever protocol it speaks: SIGUSR2 leaves
/// its agents running for the next node, SIGTERM ends them. Returns its pid.
pub fn signal_stop(paths: &Paths, keep_agents: bool) -> anyhow::Result<u32> {
    use nix::sys::signal::{Signal, kill};
    let file = paths.pid_file();
    let pid: u32 = std::fs::read_to_string(&file)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .with_context(|| {
            format!(
                "the node speaks another protocol and {} names no pid",
                file.display()
            )
        })?;
    let signal = match keep_agents {
        true => Signal::SIGUSR2,
        false => Signal::SIGTERM,
    };
    kill(nix::unistd::Pid::from_raw(pid as i32), signal)
        .with_context(|| format!("cannot signal the node (pid {pid})"))?;
    Ok(pid)
}

pub async fn wait_stopped(paths: &Paths, pid: u32) -> anyhow::Result<()> {
    let deadline = Instant::now() + STOP_TIMEOUT;
    let proc_dir = std::path::PathBuf::from(format!("/proc/{pid}"));
    while Client::connect(paths).await.is_ok() || proc_dir.exists() && !is_zombie(&proc_dir) {
        if Instant::now() > deadline {
            bail!(
                "the node (pid {pid}) did not stop within {}s",
                STOP_TIMEOUT.as_secs()
            );
        }
        tokio::time::sleep(POLL).await;
    }
    Ok(())
}

fn is_zombie(proc_dir: &std::path::Path) -> bool {
    std::fs::read_to_string(proc_dir.join("stat"))
        .map(|s| {
            s.rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(true)
}
