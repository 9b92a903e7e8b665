//! Agent status from terminal activity and the profile's patterns.

use std::time::Duration;

use regex::Regex;

use crate::model::AgentStatus;
use crate::pty::Activity;

/// Output within this window means the agent is working.
pub const ACTIVE_WINDOW: Duration = Duration::from_millis(1500);
/// A prompt must be still this long before it counts as waiting.
const SETTLE: Duration = Duration::from_millis(300);

pub fn derive(activity: &Activity, waiting: &[Regex]) -> AgentStatus {
    if let Some(code) = activity.exited {
        return AgentStatus::Exited { code };
    }
    if !activity.produced_output {
        return AgentStatus::Starting;
    }
    let asks = waiting
        .iter()
        .any(|re| re.is_match(&activity.cursor_line) || re.is_match(&activity.last_line));
    if asks && activity.quiet_for >= SETTLE {
        AgentStatus::WaitingForInput
    } else if activity.quiet_for < ACTIVE_WINDOW {
        AgentStatus::Working
    } else {
        AgentStatus::Idle
    }
}

/// Compiles a profile's patterns; a bad pattern is reported, not fatal.
pub fn compile(patterns: &[String]) -> Vec<Regex> {
    patterns
        .iter()
        .filter_map(|p| match Regex::new(p) {
            Ok(re) => Some(re),
            Err(e) => {
                tracing::warn!(pattern = %p, error = %e, "ignoring bad waiting pattern");
                None
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn activity(quiet_ms: u64, line: &str) -> Activity {
        Activity {
            quiet_for: Duration::from_millis(quiet_ms),
            cursor_line: line.into(),
            last_line: line.into(),
            exited: None,
            pid: Some(1),
            produced_output: true,
        }
    }

    #[test]
    fn prompt_after_quiet_is_waiting_and_output_is_working() {
        let pats = compile(&[r"^> $".into()]);
        assert_eq!(
            derive(&activity(1000, "> "), &pats),
            AgentStatus::WaitingForInput
        );
        assert_eq!(
            derive(&activity(10, "thinking..."), &pats),
            AgentStatus::Working
        );
        assert_eq!(derive(&activity(5000, "done"), &pats), AgentStatus::Idle);
    }
}
