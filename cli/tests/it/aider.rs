//! Real aider (from PyPI, installed by `scripts/aider-venv`) through the
//! built-in `aider` profile, extended with a model served by `fake_llm`.
//! Without PyPI there is no aider, and the test says it skipped; the same
//! behaviours are covered by the test agent in `lifecycle`.

use std::path::PathBuf;

use crate::fake_llm::FakeLlm;
use crate::harness::{TestNode, git, wait_until};

/// aider as `scripts/test` installed it (`ROAM_TEST_AIDER`), or where
/// `scripts/aider-venv` puts it.
fn aider() -> Option<PathBuf> {
    let path = match std::env::var_os("ROAM_TEST_AIDER") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => dirs_home()?.join(".cache/roam-aider/0.86.2/bin/aider"),
    };
    path.is_file().then_some(path)
}

fn dirs_home() -> Option<PathBuf> {
    std::env::var_os("HOME").map(PathBuf::from)
}

fn readme(node: &TestNode, ws: &str) -> String {
    std::fs::read_to_string(node.worktree(ws).join("README.md")).unwrap_or_default()
}

#[test]
fn real_aider_keeps_its_first_prompt_edits_commits_and_resumes_through_the_built_in_profile() {
    let Some(aider) = aider() else {
        eprintln!(
            "SKIPPED real_aider_...: aider is not installed (scripts/aider-venv could not reach PyPI)"
        );
        return;
    };
    let llm = FakeLlm::start();
    let node = TestNode::new();
    let mut config = std::fs::read_to_string(node.home.join("config.toml")).unwrap();
    // Two profiles over the built-in: as it is, and owning no files, so
    // aider asks its .gitignore question on this fresh repository.
    for (name, owns) in [("aider-fake", ""), ("aider-asks", "owns = []\n")] {
        config.push_str(&format!(
            r#"[profiles.{name}]
extends = "aider"
args = ["--model", "openai/roam-fake", "--openai-api-base", "{base}", "--openai-api-key", "roam-test",
        "--no-stream", "--edit-format", "whole", "--no-check-update", "--analytics-disable",
        "--no-show-release-notes", "--no-show-model-warnings", "README.md"]
env = {{ LITELLM_LOCAL_MODEL_COST_MAP = "True" }}
{owns}"#,
            base = llm.base_url()
        ));
    }
    std::fs::write(node.home.join("config.toml"), config).unwrap();
    // The built-in runs `aider` from PATH, as on a user's machine.
    let path = format!(
        "{}:{}",
        aider.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let up = node.command(&["up"]).env("PATH", &path).output().unwrap();
    assert!(
        up.status.success(),
        "{}",
        String::from_utf8_lossy(&up.stderr)
    );
    assert!(!node.repo.join(".gitignore").exists(), "a fresh repository");

    // Owning nothing (and first: `info/exclude` is shared by the
    // repository's worktrees), it asks first; the prompt waits instead of
    // answering.
    node.ok(&[
        "new",
        "asks",
        "--agent",
        "aider-asks",
        "--prompt",
        "make README.md say after the answer",
    ]);
    node.wait_logs("asks", "(Y)es/(N)o [Yes]");
    wait_until("the question to show as waiting", || {
        node.agent_state("asks", 0) == "waiting_for_input"
    });
    let asked = |words: &str| llm.requests().iter().any(|r| r.contains(words));
    assert!(
        !asked("say after the answer"),
        "the prompt went in too early"
    );
    node.ok(&["send", "asks", "n"]);
    wait_until("the edit from the prompt typed after the answer", || {
        readme(&node, "asks") == "after the answer\n"
    });
    assert!(
        !node
            .logs("asks")
            .contains("doesn't support cursor position")
    );

    // The files it owns are excluded before it starts, so it has nothing
    // to ask: the prompt goes in at its prompt.
    node.ok(&[
        "new",
        "ai",
        "--agent",
        "aider-fake",
        "--prompt",
        "make README.md say reply one",
    ]);
    wait_until("aider's edit from the typed prompt", || {
        readme(&node, "ai") == "reply one\n"
    });
    wait_until("aider's commit", || {
        git(&node.repo, &["log", "-1", "--format=%s", "roam/ai"]).trim()
            == "Change the readme as asked"
    });
    wait_until("waiting at aider's prompt, nothing uncommitted", || {
        let ws = node.workspace("ai");
        ws["agents"][0]["status"]["state"] == "waiting_for_input" && ws["dirty_files"] == 0
    });
    assert!(!node.logs("ai").contains("(Y)es/(N)o"));

    // `roam send` reaches it; it works (the model thinks), then waits.
    node.ok(&["send", "ai", "now make it say reply two"]);
    wait_until("working", || node.agent_state("ai", 0) == "working");
    wait_until("the second edit", || readme(&node, "ai") == "reply two\n");
    wait_until("waiting again", || {
        node.agent_state("ai", 0) == "waiting_for_input"
    });

    // Stop and start resume its history (`--restore-chat-history`, with
    // the profile's model flags).
    node.ok(&["stop", "ai"]);
    node.ok(&["start", "ai"]);
    wait_until("aider's prompt after the restart", || {
        node.logs("ai")
            .contains("Restored previous conversation history")
            && node.agent_state("ai", 0) == "waiting_for_input"
    });
    node.ok(&["send", "ai", "and now say reply three"]);
    wait_until("the third edit", || readme(&node, "ai") == "reply three\n");
    let last = llm
        .requests()
        .into_iter()
        .filter(|r| !r.to_lowercase().contains("commit message"))
        .rfind(|r| r.contains("say reply three"))
        .unwrap();
    assert!(
        last.contains("now make it say reply two"),
        "history lost: {last}"
    );

    let logs = node.logs("ai");
    assert!(!logs.contains("doesn't support cursor position"), "{logs}");
    wait_until("nothing uncommitted after its commits", || {
        node.workspace("ai")["dirty_files"] == 0
    });
}
