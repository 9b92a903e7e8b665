//! Statistics and formatting shared by every benchmark's summary.

use std::time::Duration;

pub const MIB: f64 = 1024.0 * 1024.0;

/// The `p`-th percentile (0..=1) by nearest rank.
pub fn percentile(samples: &[Duration], p: f64) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort();
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The median of some numbers (the upper one of an even count); 0 if none.
pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).copied().unwrap_or(0.0)
}

/// `p50 0.12 ms p90 0.34 ms …` for the given (label, percentile) points.
pub fn percentile_list(samples: &[Duration], points: &[(&str, f64)]) -> String {
    points
        .iter()
        .map(|(label, p)| format!("{label} {:.2} ms", ms(percentile(samples, *p))))
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / MIB
}

/// The build profile this binary was compiled with: numbers from a debug
/// build are not comparable with a release build's.
pub fn profile() -> &'static str {
    if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    }
}

/// Durations as whole milliseconds separated by spaces, for the details.
pub fn ms_list(samples: &[Duration]) -> String {
    samples
        .iter()
        .map(|d| format!("{:.0}", ms(*d)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Ends a benchmark: prints its summary, or its error under its name, and
/// says which in the exit code.
#[allow(clippy::print_stdout)] // printing the summary is the point
pub fn finish(name: &str, result: anyhow::Result<String>) -> std::process::ExitCode {
    match result {
        Ok(summary) => {
            print!("{summary}");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{name}: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let d: Vec<Duration> = (1..=10).map(Duration::from_millis).collect();
        assert_eq!(percentile(&d, 0.5), Duration::from_millis(5));
        assert_eq!(percentile(&d, 0.9), Duration::from_millis(9));
        assert_eq!(percentile(&d[..1], 0.9), Duration::from_millis(1));
        assert_eq!(percentile(&[], 0.5), Duration::ZERO);
    }

    #[test]
    fn median_of_odd_even_and_none() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 3.0);
        assert_eq!(median(&[]), 0.0);
    }
}
