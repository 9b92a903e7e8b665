//! The actors' view of SSH hosts. The node implements it over its pooled
//! SSH connections; actors never open a connection themselves.

use std::path::Path;

use roam_gitsync::WorktreeStatus;

use crate::model::WorkspaceRecord;
use crate::persist::BoxFuture;

/// Why something on an SSH host failed.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// The host could not be reached (or was never added).
    #[error("{message}")]
    Unreachable { host: String, message: String },
    /// The host was never added (`roam host add`).
    #[error("{message}")]
    NotAdded { host: String, message: String },
    /// The host holds work that must not be lost (rm without --force), or
    /// the worktree is in a state a snapshot cannot carry (a merge).
    #[error("{message}")]
    Refused { host: String, message: String },
    /// Something by that name is already on the host (a restore's path,
    /// or its branch checked out or moved elsewhere).
    #[error("{message}")]
    Conflict { host: String, message: String },
    /// A command on the host failed.
    #[error("{message}")]
    Failed { host: String, message: String },
}

impl RemoteError {
    pub fn kind(&self) -> crate::error::ErrorKind {
        use crate::error::ErrorKind;
        match self {
            RemoteError::Unreachable { .. } => ErrorKind::Unreachable,
            RemoteError::NotAdded { .. } => ErrorKind::NotFound,
            RemoteError::Refused { .. } => ErrorKind::Refused,
            RemoteError::Conflict { .. } => ErrorKind::Conflict,
            RemoteError::Failed { .. } => ErrorKind::Internal,
        }
    }
}

pub trait RemoteOps: Send + Sync + 'static {
    /// Sends the base commit of `repo` to the host (only the objects it
    /// lacks) and makes the workspace's worktree there; returns its path.
    fn create_worktree<'a>(
        &'a self,
        host: &'a str,
        repo: &'a Path,
        name: &'a str,
        base_oid: &'a str,
    ) -> BoxFuture<'a, Result<String, RemoteError>>;
    /// Ahead/behind the base and dirty files, read on the host.
    fn status<'a>(
        &'a self,
        host: &'a str,
        record: &'a WorkspaceRecord,
    ) -> BoxFuture<'a, Result<WorktreeStatus, RemoteError>>;
    /// Refuses unsaved work unless `force`; with it, captures it (gitsync's
    /// snapshot layout) at `snapshot_ref` in the host's repository.
    fn save_work<'a>(
        &'a self,
        host: &'a str,
        record: &'a WorkspaceRecord,
        force: bool,
        snapshot_ref: &'a str,
    ) -> BoxFuture<'a, Result<SavedWork, RemoteError>>;
    /// Captures the worktree's whole state (HEAD branch, index, files,
    /// untracked included; gitsync's snapshot layout) at `snapshot_ref` in
    /// the host's repository, on a copy of the index: the user's branch,
    /// index and files stay as they were. A merge, rebase, cherry-pick,
    /// revert or bisect in progress is refused.
    fn snapshot<'a>(
        &'a self,
        host: &'a str,
        record: &'a WorkspaceRecord,
        snapshot_ref: &'a str,
    ) -> BoxFuture<'a, Result<(), RemoteError>>;
    /// Makes a new worktree at `path` (refused if it exists) of the host's
    /// repository (the one `record.path` is a worktree of) holding exactly
    /// the snapshot at `snapshot_ref`: HEAD on its branch (made at the
    /// snapshot's HEAD if missing; refused if it is elsewhere), its index
    /// and its files. Any failure removes the new worktree again.
    fn restore<'a>(
        &'a self,
        host: &'a str,
        record: &'a WorkspaceRecord,
        snapshot_ref: &'a str,
        path: &'a str,
    ) -> BoxFuture<'a, Result<(), RemoteError>>;
    /// Ends the workspace's agents on the host and removes its worktree and
    /// branch; the work is already safe.
    fn discard<'a>(
        &'a self,
        host: &'a str,
        record: &'a WorkspaceRecord,
    ) -> BoxFuture<'a, Result<(), RemoteError>>;
    /// Lists `patterns` (files an agent owns) in the `info/exclude` of the
    /// repository the worktree at `path` on the host belongs to, once.
    fn exclude<'a>(
        &'a self,
        host: &'a str,
        path: &'a str,
        patterns: &'a [String],
    ) -> BoxFuture<'a, Result<(), RemoteError>>;
    /// Ends an agent's tmux session on the host.
    fn end_agent<'a>(&'a self, host: &'a str, session: &'a str) -> BoxFuture<'a, ()>;
    /// Whether `program` is in PATH on the host.
    fn has_program<'a>(
        &'a self,
        host: &'a str,
        program: &'a str,
    ) -> BoxFuture<'a, Result<bool, RemoteError>>;
}

/// What `save_work` found on the host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SavedWork {
    Clean,
    /// Refused (no `force`): this much would be lost.
    Unsaved {
        dirty: u32,
        unmerged: bool,
    },
    /// Captured at the snapshot ref asked for.
    Snapshot,
}

/// What every agent session's name starts with. The old names all began
/// `roam_`, so no name of the new scheme is one of the old ones.
const SESSION_PREFIX: &str = "roam-";

/// Between the encoded workspace and the encoded agent: never part of an
/// encoded name.
const SEPARATOR: char = '+';

/// The tmux session name of an agent (also its directory name when the
/// host has no tmux): `roam-WORKSPACE+AGENT`, each name encoded by
/// [`encode_name`]. Injective: two (workspace, agent) pairs never share a
/// session, and [`parse_session_name`] gives the pair back. tmux-safe (no
/// `.` or `:`, which tmux rewrites), shell-safe and path-safe.
pub fn session_name(workspace: &str, agent: &str) -> String {
    format!("{}{}", session_prefix(workspace), encode_name(agent))
}

/// What the session name of every agent of `workspace` starts with, and
/// that of no other workspace's agent (the separator ends it and is never
/// inside an encoded name).
pub fn session_prefix(workspace: &str) -> String {
    format!("{SESSION_PREFIX}{}{SEPARATOR}", encode_name(workspace))
}

/// The workspace and agent a [`session_name`] was made of; `None` for any
/// other string.
pub fn parse_session_name(session: &str) -> Option<(String, String)> {
    let (workspace, agent) = session
        .strip_prefix(SESSION_PREFIX)?
        .split_once(SEPARATOR)?;
    Some((decode_name(workspace)?, decode_name(agent)?))
}

/// The session name agents had before names were encoded: lossy (`a.b` and
/// `a_b` shared one), kept only to find sessions started before the upgrade.
pub fn legacy_session_name(workspace: &str, agent: &str) -> String {
    format!("roam_{workspace}_{agent}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Every byte outside `[A-Za-z0-9-]` (`_` included) as `_XX`, upper-case
/// hex: `my_ws.2` is `my_5Fws_2E2`. Each output token is one kept byte or
/// `_` and two hex digits, so no two inputs give one output, and neither the
/// separator nor two `_` in a row ever appear.
fn encode_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("_{b:02X}"));
        }
    }
    out
}

/// The inverse of [`encode_name`]; `None` for what it never produces.
fn decode_name(encoded: &str) -> Option<String> {
    let hex = |b: u8| match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    };
    let bytes = encoded.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'_' => {
                let (hi, lo) = (hex(*bytes.get(i + 1)?)?, hex(*bytes.get(i + 2)?)?);
                let byte = hi << 4 | lo;
                if byte.is_ascii_alphanumeric() || byte == b'-' {
                    return None;
                }
                out.push(byte);
                i += 3;
            }
            b if b.is_ascii_alphanumeric() || b == b'-' => {
                out.push(b);
                i += 1;
            }
            _ => return None,
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn names_that_collided_before_get_sessions_of_their_own() {
        let pairs = [
            (("a.b", "x"), ("a_b", "x")),
            (("foo", "bar_x"), ("foo_bar", "x")),
            (("foo", "bar-x"), ("foo-bar", "x")),
            (("foo", "bar+x"), ("foo+bar", "x")),
            (("a", "b"), ("a_", "b")),
            (("a", "_b"), ("a_", "b")),
            (("claude", "x"), ("claude", "x-2")),
        ];
        for ((w1, a1), (w2, a2)) in pairs {
            assert_ne!(
                session_name(w1, a1),
                session_name(w2, a2),
                "{w1}/{a1} vs {w2}/{a2}"
            );
        }
        assert_eq!(
            legacy_session_name("a.b", "x"),
            legacy_session_name("a_b", "x")
        );
    }

    #[test]
    fn a_session_name_is_readable_and_tmux_safe() {
        assert_eq!(
            session_name("fix-login", "claude-2"),
            "roam-fix-login+claude-2"
        );
        assert_eq!(session_name("my_ws.2", "codex"), "roam-my_5Fws_2E2+codex");
        assert_eq!(session_prefix("foo"), "roam-foo+");
        assert_eq!(legacy_session_name("my.ws", "claude"), "roam_my_ws_claude");
    }

    #[test]
    fn a_workspace_prefix_matches_its_own_agents_only() {
        let prefix = session_prefix("foo");
        assert!(session_name("foo", "test").starts_with(&prefix));
        for other in ["foo_bar", "foo-bar", "foo.bar", "foo+", "fo", "foo_"] {
            assert!(!session_name(other, "test").starts_with(&prefix), "{other}");
        }
    }

    #[test]
    fn only_session_names_parse() {
        for bad in [
            "",
            "roam-",
            "roam-foo",
            "roam_foo_x",
            "roam-foo+x+y",
            "roam-foo_+x",
            "roam-foo_2+x",
            "roam-foo_2e+x",
            "roam-foo_41+x",
            "roam-a.b+x",
            "roam-_FF+x",
        ] {
            assert_eq!(parse_session_name(bad), None, "{bad}");
        }
    }

    proptest! {
        #[test]
        fn session_names_are_injective_and_parse_back(
            w1 in ".{0,12}", a1 in ".{0,12}", w2 in ".{0,12}", a2 in ".{0,12}",
        ) {
            let (s1, s2) = (session_name(&w1, &a1), session_name(&w2, &a2));
            prop_assert_eq!(s1 == s2, (&w1, &a1) == (&w2, &a2));
            prop_assert_eq!(parse_session_name(&s1), Some((w1.clone(), a1.clone())));
            prop_assert!(s1.starts_with(&session_prefix(&w1)));
            prop_assert_eq!(s1.starts_with(&session_prefix(&w2)), w1 == w2);
            prop_assert!(s1.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_+".contains(&b)));
        }

        #[test]
        fn names_of_the_validated_alphabet_are_injective(
            w1 in "[A-Za-z0-9._-]{1,8}", a1 in "[A-Za-z0-9._-]{1,8}",
            w2 in "[A-Za-z0-9._-]{1,8}", a2 in "[A-Za-z0-9._-]{1,8}",
        ) {
            let (s1, s2) = (session_name(&w1, &a1), session_name(&w2, &a2));
            prop_assert_eq!(s1 == s2, (&w1, &a1) == (&w2, &a2));
            prop_assert_eq!(s1.starts_with(&session_prefix(&w2)), w1 == w2);
        }
    }
}
