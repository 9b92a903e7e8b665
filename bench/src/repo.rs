//! The benchmark repository: real Rust source copied from the local cargo
//! registry (the biggest crates first, until there are enough files), committed
//! into a fresh git repository.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, bail};

/// Enough files that checking them out is real work.
const TARGET_FILES: usize = 3000;

#[derive(Debug)]
pub struct BenchRepo {
    pub path: PathBuf,
    /// Files tracked at HEAD (what every worktree checks out).
    pub files: usize,
    /// The crates the source came from.
    pub crates: Vec<String>,
}

/// Builds the repository at `path`.
pub fn create(path: &Path) -> anyhow::Result<BenchRepo> {
    let registry = registry_src()?;
    let mut crates = Vec::new();
    for index in std::fs::read_dir(&registry)? {
        for krate in std::fs::read_dir(index?.path())? {
            let dir = krate?.path();
            if dir.is_dir() {
                crates.push((count_files(&dir)?, dir));
            }
        }
    }
    // Biggest first; ties broken by name so the choice is stable.
    crates.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    let mut picked = Vec::new();
    let mut copied = 0;
    for (count, dir) in crates {
        if copied >= TARGET_FILES {
            break;
        }
        let name = dir
            .file_name()
            .context("crate dir without a name")?
            .to_string_lossy()
            .into_owned();
        copy_tree(&dir, &path.join(&name))?;
        copied += count;
        picked.push(name);
    }
    if picked.is_empty() {
        bail!("no crate sources under {}", registry.display());
    }
    git(path, &["init", "-q", "-b", "main"])?;
    git(path, &["add", "-A"])?;
    git(
        path,
        &[
            "-c",
            "user.name=roam-bench",
            "-c",
            "user.email=bench@localhost",
            "commit",
            "-q",
            "-m",
            "benchmark source",
        ],
    )?;
    let files = git(path, &["ls-files"])?.lines().count();
    Ok(BenchRepo {
        path: path.to_path_buf(),
        files,
        crates: picked,
    })
}

/// `$CARGO_HOME/registry/src` (default `~/.cargo`).
fn registry_src() -> anyhow::Result<PathBuf> {
    let cargo_home = match std::env::var_os("CARGO_HOME").filter(|h| !h.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var_os("HOME").context("HOME is not set")?).join(".cargo"),
    };
    let src = cargo_home.join("registry").join("src");
    if !src.is_dir() {
        bail!(
            "no cargo registry sources at {} to build the benchmark repo from",
            src.display()
        );
    }
    Ok(src)
}

fn count_files(dir: &Path) -> anyhow::Result<usize> {
    let mut count = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            count += count_files(&entry.path())?;
        } else if kind.is_file() {
            count += 1;
        }
    }
    Ok(count)
}

/// Copies regular files and directories (symlinks and the rest are skipped).
fn copy_tree(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("cannot create {}", to.display()))?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let target = to.join(entry.file_name());
        if kind.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else if kind.is_file() {
            std::fs::copy(entry.path(), &target)
                .with_context(|| format!("cannot copy {}", entry.path().display()))?;
        }
    }
    Ok(())
}

/// Runs git in `dir`; fails with its stderr unless it succeeds.
pub fn git(dir: &Path, args: &[&str]) -> anyhow::Result<String> {
    let output = Command::new("git")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .context("cannot run git")?;
    if !output.status.success() {
        bail!(
            "git {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}
