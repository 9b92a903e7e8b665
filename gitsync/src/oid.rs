//! Object ids and turning revisions into them.

use std::fmt;
use std::path::Path;

use crate::cmd::{self, Git};
use crate::{GitError, Result};

/// A full 40/64-hex object id as printed by git.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Oid(pub String);

impl Oid {
    /// Parses a full SHA-1 (40) or SHA-256 (64) hex id; `None` for anything else.
    pub fn parse(s: &str) -> Option<Oid> {
        let s = s.trim();
        let ok = (s.len() == 40 || s.len() == 64) && s.bytes().all(|b| b.is_ascii_hexdigit());
        ok.then(|| Oid(s.to_ascii_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Oid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Parses the single oid a git command printed.
pub(crate) fn parse_output(command: &str, output: &str) -> Result<Oid> {
    Oid::parse(output).ok_or_else(|| GitError::UnexpectedOutput {
        command: command.to_owned(),
        output: output.to_owned(),
    })
}

/// Resolves `rev` to a commit in the repository at `dir`; `Ok(None)` when it names no commit.
pub(crate) fn try_resolve(git: impl Fn() -> Git, rev: &str) -> Result<Option<Oid>> {
    // A leading '-' would be parsed as an option, and no ref can start with one.
    if rev.is_empty() || rev.starts_with('-') {
        return Ok(None);
    }
    let (out, display) = git()
        .args(["rev-parse", "--verify", "--quiet"])
        .arg(format!("{rev}^{{commit}}"))
        .output()?;
    if out.status.success() {
        let text = String::from_utf8_lossy(&out.stdout);
        return parse_output(&display, text.trim()).map(Some);
    }
    // `--verify --quiet` exits 1 for "no such commit"; anything else is a real failure.
    if out.status.code() == Some(1) {
        Ok(None)
    } else {
        Err(cmd::failed(display, &out))
    }
}

/// Resolves `rev` to a commit, telling "empty repository" apart from "unknown ref".
pub(crate) fn resolve(git: impl Fn() -> Git, rev: &str, repo: &Path) -> Result<Oid> {
    if let Some(oid) = try_resolve(&git, rev)? {
        return Ok(oid);
    }
    if has_commits(&git)? {
        Err(GitError::BadRef {
            rev: rev.to_owned(),
            repo: repo.to_owned(),
        })
    } else {
        Err(GitError::NoCommits {
            repo: repo.to_owned(),
        })
    }
}

/// Whether the repository has any commit at all (HEAD or any ref resolves).
fn has_commits(git: impl Fn() -> Git) -> Result<bool> {
    if try_resolve(&git, "HEAD")?.is_some() {
        return Ok(true);
    }
    let refs = git().args(["for-each-ref", "--count=1"]).run()?;
    Ok(!refs.is_empty())
}
