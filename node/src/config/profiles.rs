//! Profiles as the user writes them in `config.toml`: a whole profile of
//! their own, or one that extends a built-in and changes only what it
//! names. `args` are appended to the command and to both resume commands,
//! so a model flag added once is kept when the agent is resumed.

use std::collections::BTreeMap;

use roam_actors::profile::{Profile, PromptMode};
use serde::Deserialize;

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProfileConfig {
    /// The built-in this profile starts from.
    pub extends: Option<String>,
    /// Appended to `command`, `resume` and `resume_last`.
    pub args: Vec<String>,
    pub command: Option<Vec<String>>,
    pub prompt: Option<PromptMode>,
    pub resume: Option<Vec<String>>,
    pub resume_last: Option<Vec<String>>,
    pub session_dir: Option<String>,
    pub waiting: Option<Vec<String>>,
    pub questions: Option<Vec<String>>,
    /// Gitignore patterns for the files the agent writes in its worktree.
    pub owns: Option<Vec<String>>,
    /// Merged over the built-in's environment (these win).
    pub env: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProfileError {
    #[error("profile '{name}' extends '{base}', which is not a built-in (built-ins: {known})")]
    UnknownBase {
        name: String,
        base: String,
        known: String,
    },
    #[error("profile '{name}' has no command (give `command`, or `extends` a built-in)")]
    NoCommand { name: String },
    #[error("profile '{name}' has an empty command")]
    EmptyCommand { name: String },
    #[error("profile '{name}' owns {pattern:?}, which {reason}")]
    BadOwned {
        name: String,
        pattern: String,
        reason: &'static str,
    },
}

/// Bounds on `owns`: each pattern becomes a line of `info/exclude`.
const MAX_OWNED: usize = 32;
const MAX_PATTERN: usize = 256;

fn check_owned(name: &str, owns: &[String]) -> Result<(), ProfileError> {
    let bad = |pattern: &str, reason| ProfileError::BadOwned {
        name: name.into(),
        pattern: pattern.chars().take(MAX_PATTERN).collect(),
        reason,
    };
    if owns.len() > MAX_OWNED {
        return Err(bad(
            &owns[MAX_OWNED],
            "is past the 32 patterns a profile may own",
        ));
    }
    for p in owns {
        if p.trim().is_empty() || p.starts_with('#') || p.starts_with('!') {
            return Err(bad(
                p,
                "is not a pattern of files (empty, a comment or a negation)",
            ));
        }
        if p.len() > MAX_PATTERN || p.chars().any(char::is_control) {
            return Err(bad(
                p,
                "is longer than 256 bytes or holds a control character",
            ));
        }
    }
    Ok(())
}

impl ProfileConfig {
    /// The profile this describes, named `name`, over the built-ins.
    pub fn resolve(
        &self,
        name: &str,
        builtins: &BTreeMap<String, Profile>,
    ) -> Result<Profile, ProfileError> {
        let base = match &self.extends {
            Some(base) => {
                Some(
                    builtins
                        .get(base)
                        .cloned()
                        .ok_or_else(|| ProfileError::UnknownBase {
                            name: name.into(),
                            base: base.clone(),
                            known: builtins.keys().cloned().collect::<Vec<_>>().join(", "),
                        })?,
                )
            }
            None => None,
        };
        let command = match (&self.command, &base) {
            (Some(c), _) => c.clone(),
            (None, Some(b)) => b.command.clone(),
            (None, None) => return Err(ProfileError::NoCommand { name: name.into() }),
        };
        if command.is_empty() {
            return Err(ProfileError::EmptyCommand { name: name.into() });
        }
        let pick =
            |mine: &Option<Vec<String>>, theirs: Option<Vec<String>>| mine.clone().or(theirs);
        let owns = pick(&self.owns, base.as_ref().map(|b| b.owns.clone())).unwrap_or_default();
        check_owned(name, &owns)?;
        let mut env = base.as_ref().map(|b| b.env.clone()).unwrap_or_default();
        env.extend(self.env.clone());
        let with_args = |argv: Vec<String>| argv.into_iter().chain(self.args.clone()).collect();
        Ok(Profile {
            command: with_args(command),
            prompt: self
                .prompt
                .clone()
                .or_else(|| base.as_ref().map(|b| b.prompt.clone()))
                .unwrap_or_default(),
            resume: pick(&self.resume, base.as_ref().and_then(|b| b.resume.clone())).map(with_args),
            resume_last: pick(
                &self.resume_last,
                base.as_ref().and_then(|b| b.resume_last.clone()),
            )
            .map(with_args),
            session_dir: self
                .session_dir
                .clone()
                .or_else(|| base.as_ref().and_then(|b| b.session_dir.clone())),
            waiting: pick(&self.waiting, base.as_ref().map(|b| b.waiting.clone()))
                .unwrap_or_default(),
            questions: pick(&self.questions, base.as_ref().map(|b| b.questions.clone()))
                .unwrap_or_default(),
            owns,
            env,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn parse(text: &str) -> ProfileConfig {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn a_profile_extending_aider_keeps_its_resume_with_the_added_args() {
        let p = parse(
            "extends = \"aider\"\nargs = [\"--model\", \"openai/m\"]\nenv = { OPENAI_API_BASE = \"http://127.0.0.1:9\" }\n",
        )
        .resolve("aider-local", &Profile::builtins())
        .unwrap();
        assert_eq!(p.command, ["aider", "--model", "openai/m"]);
        assert_eq!(
            p.resume_last.unwrap(),
            ["aider", "--restore-chat-history", "--model", "openai/m"]
        );
        assert_eq!(p.prompt, PromptMode::Type);
        assert_eq!(p.waiting, Profile::builtins()["aider"].waiting);
        assert_eq!(p.env["OPENAI_API_BASE"], "http://127.0.0.1:9");
        assert_eq!(p.owns, [".aider*"]);
    }

    #[test]
    fn a_profile_of_its_own_needs_a_command_and_a_known_base() {
        let builtins = Profile::builtins();
        assert_eq!(
            parse("args = [\"-v\"]\n").resolve("x", &builtins),
            Err(ProfileError::NoCommand { name: "x".into() })
        );
        assert!(matches!(
            parse("extends = \"vim\"\n").resolve("x", &builtins),
            Err(ProfileError::UnknownBase { .. })
        ));
        assert_eq!(
            parse("command = []\n").resolve("x", &builtins),
            Err(ProfileError::EmptyCommand { name: "x".into() })
        );
        let own =
            parse("command = [\"agent\"]\nresume = [\"agent\", \"--resume\", \"{session}\"]\n")
                .resolve("x", &builtins)
                .unwrap();
        assert_eq!(own.prompt, PromptMode::Arg);
        assert!(own.owns.is_empty());
        assert!(matches!(
            parse("command = [\"a\"]\nowns = [\"x\\ny\"]\n").resolve("x", &builtins),
            Err(ProfileError::BadOwned { .. })
        ));
        assert!(matches!(
            parse("extends = \"aider\"\nowns = [\"!keep\"]\n").resolve("x", &builtins),
            Err(ProfileError::BadOwned { .. })
        ));
        assert_eq!(own.resume.unwrap(), ["agent", "--resume", "{session}"]);
    }
}
