//! Keystroke round trip: one letter typed into a terminal whose far end runs
//! `cat` in a PTY, timed until the far PTY's echo of it comes back. The
//! terminal (`roam attach` or `ssh -tt`) is in raw mode, so the only echo is
//! the remote one.

use std::time::{Duration, Instant};

use roam_bench::drain::Watched;

/// Untimed keystrokes first, so set-up and first-use costs are not sampled.
pub const WARMUP: usize = 20;
pub const SAMPLES: usize = 200;
/// Pause between keystrokes, so one echo never overlaps the next keystroke
/// (a fast typist is still ~10 ms apart).
pub const GAP: Duration = Duration::from_millis(10);

/// `SAMPLES` round trips after `WARMUP`; `term` must be settled, raw, and
/// echoing through `cat` (which sees no newline, so it prints nothing itself).
pub fn keystrokes(term: &mut impl Watched) -> anyhow::Result<Vec<Duration>> {
    Ok(timed_keystrokes(term)?
        .into_iter()
        .map(|(_, took)| took)
        .collect())
}

/// `keystrokes`, each with when it was typed (`roam_hops::now_ns`, the
/// clock the hops are noted on).
pub fn timed_keystrokes(term: &mut impl Watched) -> anyhow::Result<Vec<(u64, Duration)>> {
    let mut samples = Vec::with_capacity(SAMPLES);
    for i in 0..WARMUP + SAMPLES {
        // Letters cycle so that a late echo of one key never passes for the next.
        let letter = [b'a' + (i % 26) as u8];
        let needle = String::from_utf8_lossy(&letter).into_owned();
        term.drain().arm(&[&needle], false);
        let (typed, start) = (roam_hops::now_ns(), Instant::now());
        term.type_in(&letter)?;
        let hit = term.drain().wait_hit()?;
        if i >= WARMUP {
            samples.push((typed, hit.at - start));
        }
        std::thread::sleep(GAP);
    }
    Ok(samples)
}
