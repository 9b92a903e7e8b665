//! Helpers for building throwaway repositories.

use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

/// Runs git in `dir`, panicking with its stderr on failure; returns trimmed stdout.
pub fn git(dir: &Path, args: &[&str]) -> String {
    String::from_utf8(git_bytes(dir, args))
        .unwrap()
        .trim()
        .to_owned()
}

/// Runs git in `dir`, panicking with its stderr on failure; returns raw stdout.
pub fn git_bytes(dir: &Path, args: &[&str]) -> Vec<u8> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("LC_ALL", "C")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Runs git in `dir` with `input` on stdin, panicking on failure; returns trimmed stdout.
pub fn git_input(dir: &Path, args: &[&str], input: &[u8]) -> String {
    use std::io::Write;
    let mut child = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("LC_ALL", "C")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// A temp dir holding a repository at `<tmp>/repo` on branch `main`.
pub struct TestRepo {
    pub tmp: TempDir,
    pub dir: PathBuf,
}

impl TestRepo {
    /// An initialized repository with no commits.
    pub fn empty() -> TestRepo {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().canonicalize().unwrap().join("repo");
        std::fs::create_dir(&dir).unwrap();
        git(&dir, &["init", "-q", "-b", "main"]);
        git(&dir, &["config", "user.name", "Test"]);
        git(&dir, &["config", "user.email", "test@example.com"]);
        git(&dir, &["config", "commit.gpgsign", "false"]);
        TestRepo { tmp, dir }
    }

    /// A repository with one commit on `main` containing `README` = "hello\n".
    pub fn new() -> TestRepo {
        let repo = TestRepo::empty();
        repo.commit_file("README", "hello\n", "initial");
        repo
    }

    pub fn write(&self, rel: &str, content: &str) {
        let path = self.dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(path, content).unwrap();
    }

    pub fn commit_file(&self, rel: &str, content: &str, msg: &str) -> String {
        commit_file_in(&self.dir, rel, content, msg)
    }

    /// A path inside the temp dir but outside the repository.
    pub fn outside(&self, name: &str) -> PathBuf {
        self.tmp.path().canonicalize().unwrap().join(name)
    }

    pub fn git(&self, args: &[&str]) -> String {
        git(&self.dir, args)
    }
}

/// Writes, stages and commits one file in `dir`; returns the new HEAD id.
pub fn commit_file_in(dir: &Path, rel: &str, content: &str, msg: &str) -> String {
    let path = dir.join(rel);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(path, content).unwrap();
    git(dir, &["add", rel]);
    git(dir, &["commit", "-q", "-m", msg]);
    git(dir, &["rev-parse", "HEAD"])
}
