//! Agent profiles: how to start an agent, hand it a prompt, resume its
//! conversation, find its session files and read its status.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// How the first prompt reaches the agent.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PromptMode {
    /// Appended as the last argument (`claude "fix the bug"`).
    #[default]
    Arg,
    /// Typed into the terminal, followed by Enter, once the agent first
    /// shows its input prompt (a `waiting` pattern, no `questions` one).
    Type,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Program and arguments; the program is looked up in PATH.
    pub command: Vec<String>,
    #[serde(default)]
    pub prompt: PromptMode,
    /// Command that continues a conversation; `{session}` is replaced by the
    /// session id. Without it, a restart runs `command` again.
    #[serde(default)]
    pub resume: Option<Vec<String>>,
    /// Resume command used when no session id is known yet.
    #[serde(default)]
    pub resume_last: Option<Vec<String>>,
    /// Directory of the agent's session files; `{home}` and `{cwd_encoded}`
    /// are expanded. The newest `*.jsonl` file's stem is the session id.
    #[serde(default)]
    pub session_dir: Option<String>,
    /// Regexes matched against the line the cursor is on (and the last
    /// non-empty line); a match means the agent waits for input.
    #[serde(default)]
    pub waiting: Vec<String>,
    /// Regexes, matched the same way, for a question the agent asks (yes or
    /// no, a permission): the agent is waiting, but for the user's answer,
    /// so a prompt to type waits until the question is answered.
    #[serde(default)]
    pub questions: Vec<String>,
    /// Gitignore patterns for the files the agent writes in its worktree
    /// (history, caches): listed in the repository's `info/exclude`, so
    /// they are not uncommitted work.
    #[serde(default)]
    pub owns: Vec<String>,
    /// Extra environment for the agent.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
}

impl Profile {
    fn simple(command: &[&str]) -> Profile {
        Profile {
            command: command.iter().map(|s| s.to_string()).collect(),
            prompt: PromptMode::Arg,
            resume: None,
            resume_last: None,
            session_dir: None,
            waiting: Vec::new(),
            questions: Vec::new(),
            owns: Vec::new(),
            env: BTreeMap::new(),
        }
    }

    /// The built-in profiles; user profiles of the same name replace them.
    pub fn builtins() -> BTreeMap<String, Profile> {
        let mut m = BTreeMap::new();
        let mut claude = Profile::simple(&["claude"]);
        claude.resume = Some(vec!["claude".into(), "--resume".into(), "{session}".into()]);
        claude.resume_last = Some(vec!["claude".into(), "--continue".into()]);
        claude.session_dir = Some("{home}/.claude/projects/{cwd_encoded}".into());
        claude.waiting = vec![r"^\s*>\s*$".into()];
        claude.questions = vec![r"Do you want to".into(), r"\(y/n\)".into()];
        m.insert("claude".into(), claude);

        let mut codex = Profile::simple(&["codex"]);
        codex.resume_last = Some(vec!["codex".into(), "resume".into(), "--last".into()]);
        codex.waiting = vec![r"^\s*▌".into()];
        codex.questions = vec![r"Allow command\?".into()];
        m.insert("codex".into(), codex);

        let mut aider = Profile::simple(&["aider"]);
        aider.prompt = PromptMode::Type;
        aider.resume_last = Some(vec!["aider".into(), "--restore-chat-history".into()]);
        aider.waiting = vec![r"^\S*>\s*$".into()];
        aider.questions = vec![r"\(Y\)es/\(N\)o".into()];
        // Chat and input history, the repo map's cache.
        aider.owns = vec![".aider*".into()];
        m.insert("aider".into(), aider);

        // Roam's own scripted agent (behaves like Claude Code); used by the
        // demo and the tests.
        let mut test = Profile::simple(&["roam-test-agent"]);
        test.resume = Some(vec![
            "roam-test-agent".into(),
            "--resume".into(),
            "{session}".into(),
        ]);
        test.session_dir = Some("{home}/.claude/projects/{cwd_encoded}".into());
        test.waiting = vec![r"^> $".into()];
        test.questions = vec![r"\(Y\)es/\(N\)o".into()];
        test.owns = vec![".roam-test-agent/".into()];
        m.insert("test-agent".into(), test);

        let shell = std::env::var("SHELL").unwrap_or_else(|_| "/bin/sh".into());
        let mut sh = Profile::simple(&[shell.as_str()]);
        sh.prompt = PromptMode::Type;
        sh.waiting = vec![r"[$#%>]\s*$".into()];
        m.insert("shell".into(), sh);
        m
    }

    pub fn program(&self) -> &str {
        self.command.first().map(String::as_str).unwrap_or("")
    }
}

/// Claude Code's directory name for a working directory: every character
/// outside `[A-Za-z0-9-]` becomes `-`.
pub fn encode_cwd(cwd: &Path) -> String {
    cwd.to_string_lossy()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// Expands `{home}` and `{cwd_encoded}` in a profile path template.
pub fn expand_session_dir(template: &str, home: &Path, cwd: &Path) -> PathBuf {
    PathBuf::from(
        template
            .replace("{home}", &home.to_string_lossy())
            .replace("{cwd_encoded}", &encode_cwd(cwd)),
    )
}

/// Finds `program` the way a shell would: a path with a slash is taken as
/// is, anything else is searched in `PATH`.
/// [`find_program`] on a blocking thread: it reads every `PATH` folder.
pub async fn find_program_off_thread(program: &str) -> Option<PathBuf> {
    let program = program.to_owned();
    tokio::task::spawn_blocking(move || find_program(&program))
        .await
        .ok()
        .flatten()
}

pub fn find_program(program: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let is_exec = |p: &Path| {
        p.metadata()
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    };
    if program.contains('/') {
        let p = PathBuf::from(program);
        return is_exec(&p).then_some(p);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| is_exec(p))
}

/// [`newest_session`] on a blocking thread: it reads a folder.
pub async fn newest_session_off_thread(
    dir: PathBuf,
    since: std::time::SystemTime,
) -> Option<String> {
    tokio::task::spawn_blocking(move || newest_session(&dir, since))
        .await
        .ok()
        .flatten()
}

/// The newest session file (`*.jsonl`) created at or after `since`.
pub fn newest_session(dir: &Path, since: std::time::SystemTime) -> Option<String> {
    let entries = std::fs::read_dir(dir).ok()?;
    entries
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "jsonl"))
        .filter_map(|e| {
            // Creation time, where the filesystem keeps it: another agent's
            // older session that is still being appended to is not ours.
            let meta = e.metadata().ok()?;
            let born = meta.created().or_else(|_| meta.modified()).ok()?;
            (born >= since).then_some((born, e.path()))
        })
        .max_by_key(|(m, _)| *m)
        .and_then(|(_, p)| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cwd_encoding_matches_claude_code() {
        assert_eq!(encode_cwd(Path::new("/tmp/a.b/c_d")), "-tmp-a-b-c-d");
    }
}
