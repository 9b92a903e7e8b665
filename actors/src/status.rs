//! Agent status from terminal activity and the profile's patterns.

use std::time::Duration;

use regex::Regex;

use crate::model::AgentStatus;
use crate::pty::Activity;

/// Output within this window means the agent is working.
pub const ACTIVE_WINDOW: Duration = Duration::from_millis(1500);
/// A prompt must be still this long before it counts as waiting.
const SETTLE: Duration = Duration::from_millis(300);

/// The profile's patterns, compiled.
#[derive(Clone, Debug, Default)]
pub struct Patterns {
    /// The agent's input prompt.
    pub waiting: Vec<Regex>,
    /// A question for the user (yes/no, a permission).
    pub questions: Vec<Regex>,
}

impl Patterns {
    pub fn new(waiting: &[String], questions: &[String]) -> Patterns {
        Patterns {
            waiting: compile(waiting),
            questions: compile(questions),
        }
    }
}

fn shows(activity: &Activity, patterns: &[Regex]) -> bool {
    patterns
        .iter()
        .any(|re| re.is_match(&activity.cursor_line) || re.is_match(&activity.last_line))
}

pub fn derive(activity: &Activity, patterns: &Patterns) -> AgentStatus {
    if let Some(code) = activity.exited {
        return AgentStatus::Exited { code };
    }
    if !activity.produced_output {
        return AgentStatus::Starting;
    }
    let asks = shows(activity, &patterns.waiting) || shows(activity, &patterns.questions);
    if asks && activity.quiet_for >= SETTLE {
        AgentStatus::WaitingForInput
    } else if activity.quiet_for < ACTIVE_WINDOW {
        AgentStatus::Working
    } else {
        AgentStatus::Idle
    }
}

/// Whether a prompt waiting to be typed may be typed now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PromptMoment {
    /// The agent shows its input prompt and has settled.
    Now,
    /// The agent asks the user something: the answer is theirs.
    Question,
    /// Not yet (starting, working, or a screen no pattern knows).
    NotYet,
}

pub fn prompt_moment(activity: &Activity, patterns: &Patterns) -> PromptMoment {
    if activity.exited.is_some() || !activity.produced_output || activity.quiet_for < SETTLE {
        return PromptMoment::NotYet;
    }
    if shows(activity, &patterns.questions) {
        PromptMoment::Question
    } else if shows(activity, &patterns.waiting) {
        PromptMoment::Now
    } else {
        PromptMoment::NotYet
    }
}

/// Compiles a profile's patterns; a bad pattern is reported, not fatal.
fn compile(patterns: &[String]) -> Vec<Regex> {
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
        let pats = Patterns::new(&[r"^> $".into()], &[]);
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

    #[test]
    fn a_prompt_is_typed_at_the_input_prompt_never_into_a_question() {
        let pats = Patterns::new(&[r"^> $".into()], &[r"\(Y\)es/\(N\)o".into()]);
        assert_eq!(
            prompt_moment(&activity(500, "> "), &pats),
            PromptMoment::Now
        );
        // Still printing: not yet, even at the prompt.
        assert_eq!(
            prompt_moment(&activity(10, "> "), &pats),
            PromptMoment::NotYet
        );
        let question = "Add .agent* to .gitignore? (Y)es/(N)o [Yes]: ";
        assert_eq!(
            prompt_moment(&activity(500, question), &pats),
            PromptMoment::Question
        );
        // A question counts as waiting for the status.
        assert_eq!(
            derive(&activity(500, question), &pats),
            AgentStatus::WaitingForInput
        );
        assert_eq!(
            prompt_moment(&activity(500, "loading"), &pats),
            PromptMoment::NotYet
        );
    }
}
