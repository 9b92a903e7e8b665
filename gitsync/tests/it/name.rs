use proptest::prelude::*;
use roam_gitsync::{GitError, validate_workspace_name};

use crate::common::git;

fn reason(name: &str) -> String {
    match validate_workspace_name(name) {
        Err(GitError::InvalidName { name: n, reason }) => {
            assert_eq!(n, name);
            reason
        }
        other => panic!("{name:?} should be rejected, got {other:?}"),
    }
}

#[test]
fn rejects_path_traversal_and_separators() {
    for name in ["../x", "..", "a/b", "/x", "x/", "a\\b"] {
        reason(name);
    }
}

#[test]
fn rejects_names_git_or_shells_would_mangle() {
    for name in [
        "a b", "x.lock", "a..b", "-x", ".x", "x.", "a~1", "a^", "a:b", "a@{1}", "ü", "a\nb", "a\0b",
    ] {
        reason(name);
    }
}

#[test]
fn rejects_empty_and_overlong_names() {
    assert!(reason("").contains("empty"));
    assert!(reason(&"a".repeat(65)).contains("at most 64"));
    assert!(validate_workspace_name(&"a".repeat(64)).is_ok());
}

#[test]
fn error_message_names_the_offender() {
    let msg = validate_workspace_name("a b").unwrap_err().to_string();
    assert_eq!(
        msg,
        "invalid workspace name 'a b': contains ' '; only letters, digits, '.', '_' and '-' are allowed"
    );
}

#[test]
fn accepts_ordinary_names() {
    for name in [
        "x",
        "fix-login",
        "feature_2",
        "v1.2.3",
        "A-b_c.d",
        "HEAD",
        "0",
        "x.lockfile",
        "a.b",
    ] {
        validate_workspace_name(name).unwrap();
    }
}

/// Independent restatement of the documented rules.
fn satisfies_rules(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-')
        && !name.starts_with('.')
        && !name.starts_with('-')
        && !name.ends_with(".lock")
        && !name.ends_with('.')
        && !name.contains("..")
}

proptest! {
    #[test]
    fn accepted_arbitrary_strings_satisfy_rules(name in any::<String>()) {
        if validate_workspace_name(&name).is_ok() {
            prop_assert!(satisfies_rules(&name), "{name:?} accepted");
        }
    }

    #[test]
    fn charset_strings_accepted_iff_rules_hold(name in "[A-Za-z0-9._-]{0,70}") {
        prop_assert_eq!(validate_workspace_name(&name).is_ok(), satisfies_rules(&name), "{:?}", name);
    }
}

proptest! {
    // Each case spawns git, so keep the count low.
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn accepted_names_are_valid_git_branches(name in "[A-Za-z0-9][A-Za-z0-9._-]{0,63}") {
        if validate_workspace_name(&name).is_ok() {
            let dir = std::env::temp_dir();
            let branch = format!("roam/{name}");
            let normalized = git(&dir, &["check-ref-format", "--branch", &branch]);
            prop_assert_eq!(normalized, branch);
        }
    }
}
