//! Repository identity: a repo is known by its root commits, not by a path or a URL.
//!
//! Two clones of one project share their root commits wherever they live, so
//! the root commits are what lets two machines agree that they hold "the same
//! repo" without any central registry.

use std::fmt;
use std::path::Path;

use crate::cmd::Git;
use crate::oid::{Oid, parse_output};
use crate::{GitError, Result};

/// The identity of a repository as seen from one commit.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RepoId {
    /// The root reached by following first parents from the commit. It names
    /// the mirror (`<key>.git`): unlike "the smallest root", it does not change
    /// when someone later merges in an unrelated history.
    pub key: Oid,
    /// Every root commit reachable from the commit, sorted, `key` included.
    pub roots: Vec<Oid>,
}

impl RepoId {
    /// The identity of the history behind `rev` in the repository at `dir`.
    pub fn of(dir: &Path, rev: &str) -> Result<RepoId> {
        let roots = root_commits(dir, rev, false)?;
        let key = root_commits(dir, rev, true)?
            .into_iter()
            .next()
            .ok_or_else(|| GitError::UnexpectedOutput {
                command: format!("git rev-list --max-parents=0 --first-parent {rev}"),
                output: String::new(),
            })?;
        Ok(RepoId { key, roots })
    }

    /// Whether the two histories share a root, i.e. belong to the same project.
    pub fn same_repo(&self, other: &RepoId) -> bool {
        self.key == other.key || self.roots.iter().any(|r| other.roots.contains(r))
    }
}

impl fmt::Display for RepoId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "repo {}", self.key)
    }
}

fn root_commits(dir: &Path, rev: &str, first_parent: bool) -> Result<Vec<Oid>> {
    let mut git = Git::new(dir).args(["rev-list", "--max-parents=0"]);
    if first_parent {
        git = git.arg("--first-parent");
    }
    let git = git.arg(rev).arg("--");
    let display = git.display().to_owned();
    let out = git.run()?;
    let mut roots = out
        .lines()
        .map(|l| parse_output(&display, l))
        .collect::<Result<Vec<_>>>()?;
    roots.sort_by(|a, b| a.0.cmp(&b.0));
    roots.dedup();
    Ok(roots)
}
