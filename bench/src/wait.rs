//! Bounded waiting: every wait in the benchmarks gives up with a clear error.

use std::time::{Duration, Instant};

use anyhow::bail;

/// How long any single wait may take before the benchmark gives up.
pub const TIMEOUT: Duration = Duration::from_secs(120);

/// Calls `check` every `every` until it returns `Some`, or fails after `TIMEOUT`
/// with an error naming `what`.
pub fn poll<T>(
    what: &str,
    every: Duration,
    check: impl FnMut() -> anyhow::Result<Option<T>>,
) -> anyhow::Result<T> {
    poll_for(what, TIMEOUT, every, check)
}

/// `poll` with its own limit, for waits that should be much shorter than `TIMEOUT`.
pub fn poll_for<T>(
    what: &str,
    limit: Duration,
    every: Duration,
    mut check: impl FnMut() -> anyhow::Result<Option<T>>,
) -> anyhow::Result<T> {
    let start = Instant::now();
    loop {
        if let Some(value) = check()? {
            return Ok(value);
        }
        if start.elapsed() > limit {
            bail!("timed out after {} s waiting for {what}", limit.as_secs());
        }
        std::thread::sleep(every);
    }
}
