//! Validation of workspace names, which become branch names `roam/<name>` and directory names.

use crate::{GitError, Result};

/// Longest accepted workspace name, in characters.
pub const MAX_NAME_LEN: usize = 64;

/// Validates a workspace name.
///
/// Accepted: 1..=64 characters of `[A-Za-z0-9._-]`, not starting with `.` or `-`,
/// not ending with `.lock` or `.`, not containing `..`, and such that
/// `roam/<name>` is a valid branch name for git. `/` is rejected so one
/// workspace maps to exactly one directory and one ref component.
pub fn validate_workspace_name(name: &str) -> Result<()> {
    check(name).map_err(|reason| GitError::InvalidName {
        name: name.to_owned(),
        reason,
    })
}

fn check(name: &str) -> std::result::Result<(), String> {
    if name.is_empty() {
        return Err("must not be empty".to_owned());
    }
    if let Some(bad) = name.chars().find(|c| !is_name_char(*c)) {
        return Err(format!(
            "contains {bad:?}; only letters, digits, '.', '_' and '-' are allowed"
        ));
    }
    // Only ASCII is left, so bytes == chars.
    if name.len() > MAX_NAME_LEN {
        return Err(format!(
            "must be at most {MAX_NAME_LEN} characters (got {})",
            name.len()
        ));
    }
    if name.starts_with('.') || name.starts_with('-') {
        return Err("must not start with '.' or '-'".to_owned());
    }
    if name.ends_with(".lock") {
        return Err("must not end with '.lock'".to_owned());
    }
    if name.ends_with('.') {
        return Err("must not end with '.'".to_owned());
    }
    if name.contains("..") {
        return Err("must not contain '..'".to_owned());
    }
    // The rules above already imply this; checking the real git rules as well
    // keeps us safe if the character set is ever widened.
    check_branch_name(&format!("roam/{name}"))
        .map_err(|why| format!("'roam/{name}' is not a valid git branch name: {why}"))
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
}

/// The rules of `git check-ref-format --branch` (see git-check-ref-format(1)),
/// implemented directly so validation needs no git process.
fn check_branch_name(branch: &str) -> std::result::Result<(), &'static str> {
    if branch.is_empty() {
        return Err("empty");
    }
    if branch.starts_with('-') {
        return Err("starts with '-'");
    }
    if branch == "@" {
        return Err("is '@'");
    }
    if branch.contains("@{") {
        return Err("contains '@{'");
    }
    if branch.contains("..") {
        return Err("contains '..'");
    }
    if branch.ends_with('.') {
        return Err("ends with '.'");
    }
    if branch.chars().any(|c| {
        c.is_ascii_control() || matches!(c, ' ' | '~' | '^' | ':' | '?' | '*' | '[' | '\\')
    }) {
        return Err("contains a control character, space or one of ~^:?*[\\");
    }
    for component in branch.split('/') {
        if component.is_empty() {
            return Err("has an empty path component");
        }
        if component.starts_with('.') {
            return Err("has a path component starting with '.'");
        }
        if component.ends_with(".lock") {
            return Err("has a path component ending with '.lock'");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check_branch_name;

    #[test]
    fn branch_rules_reject_what_git_rejects() {
        for bad in [
            "",
            "-x",
            "@",
            "a@{b",
            "a..b",
            "a.",
            "a b",
            "a~1",
            "a^",
            "a:b",
            "a?",
            "a*",
            "a[",
            "a\\b",
            "a//b",
            "/a",
            "a/",
            "a/.b",
            "a.lock",
            "a/b.lock/c",
            "a\u{7f}",
        ] {
            assert!(
                check_branch_name(bad).is_err(),
                "{bad:?} should be rejected"
            );
        }
        for good in ["roam/x", "roam/a.b-c_d", "roam/HEAD", "a@b"] {
            assert!(
                check_branch_name(good).is_ok(),
                "{good:?} should be accepted"
            );
        }
    }
}
