//! Roam's way: commands through `SshPool`, one connection per host.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::bail;
use roam_bench::sshd::user;
use roam_mesh::ssh::{SshPool, SshSettings, StrictHostKeyChecking};

use crate::{ALIAS, COMMAND, COMMANDS};

/// The first dial of a pool, then the commands through that one connection.
#[derive(Debug)]
pub struct Pooled {
    pub dial: Duration,
    pub commands: Vec<Duration>,
}

/// A pool reading the ssh setup in `home`; no agent, no system files.
fn pool(home: &Path) -> SshPool {
    let mut settings = SshSettings::in_home(home, user(), None);
    settings.global_known_hosts = Vec::new();
    SshPool::new(settings)
}

/// Dials once (timed on its own), then runs [`COMMANDS`] commands one after
/// another; checks the pool never dialled again.
pub async fn commands(home: &Path) -> anyhow::Result<Pooled> {
    let pool = pool(home);
    let start = Instant::now();
    pool.get_with(ALIAS, Some(StrictHostKeyChecking::AcceptNew))
        .await?;
    let dial = start.elapsed();
    let mut commands = Vec::with_capacity(COMMANDS);
    for _ in 0..COMMANDS {
        commands.push(exec(&pool).await?);
    }
    let dials = pool.dials();
    pool.disconnect(ALIAS).await;
    if dials != 1 {
        bail!("the pool dialled {dials} times for one host, expected once");
    }
    Ok(Pooled { dial, commands })
}

/// A new pool's first command: dial + [`COMMAND`].
pub async fn fresh_dial(home: &Path) -> anyhow::Result<Duration> {
    let start = Instant::now();
    let pool = pool(home);
    pool.get_with(ALIAS, Some(StrictHostKeyChecking::AcceptNew))
        .await?;
    exec(&pool).await?;
    let took = start.elapsed();
    pool.disconnect(ALIAS).await;
    Ok(took)
}

/// One [`COMMAND`] through the pool, timed; fails unless it succeeds.
async fn exec(pool: &SshPool) -> anyhow::Result<Duration> {
    let start = Instant::now();
    let out = pool.exec(ALIAS, COMMAND).await?;
    let took = start.elapsed();
    if !out.status.success() {
        bail!(
            "`{COMMAND}` through the pool failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(took)
}
