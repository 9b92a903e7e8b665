//! Bounded waiting: every wait in the benchmark gives up with a clear error.

use std::time::{Duration, Instant};

use anyhow::bail;

/// How long any single wait may take before the benchmark gives up.
pub const TIMEOUT: Duration = Duration::from_secs(120);

/// Calls `check` every `every` until it returns `Some`, or fails after `TIMEOUT`
/// with an error naming `what`.
pub fn poll<T>(
    what: &str,
    every: Duration,
    mut check: impl FnMut() -> anyhow::Result<Option<T>>,
) -> anyhow::Result<T> {
    let start = Instant::now();
    loop {
        if let Some(value) = check()? {
            return Ok(value);
        }
        if start.elapsed() > TIMEOUT {
            bail!("timed out after {} s waiting for {what}", TIMEOUT.as_secs());
        }
        std::thread::sleep(every);
    }
}
