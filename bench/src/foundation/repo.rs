//! The benchmark repository: real Rust source copied from the local cargo
//! registry (the biggest pure-Rust crates first, until there are enough
//! files), committed into a fresh git repository. Crates that vendor C are
//! left out: they are few but huge, and would make the repo depend on which
//! `-sys` crate happens to be downloaded.

use anyhow::{Context, bail};
use roam_bench::cmd::git;
use std::path::{Path, PathBuf};

/// Enough files that checking them out is real work.
const TARGET_FILES: usize = 3000;

#[derive(Debug)]
pub struct BenchRepo {
    pub path: PathBuf,
    /// Files tracked at HEAD (what every worktree checks out).
    pub files: usize,
    /// Bytes in those files.
    pub bytes: u64,
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
            if !dir.is_dir() {
                continue;
            }
            let tally = tally(&dir)?;
            if !tally.vendors_c {
                crates.push((tally.files, tally.bytes, dir));
            }
        }
    }
    // Biggest first; ties broken by name so the choice is stable.
    crates.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    let mut picked = Vec::new();
    let mut copied = 0;
    let mut bytes = 0;
    for (count, size, dir) in crates {
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
        bytes += size;
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
        bytes,
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

#[derive(Debug, Default)]
struct Tally {
    files: usize,
    bytes: u64,
    vendors_c: bool,
}

/// Regular files under `dir`, their size, and whether any is C or assembly.
fn tally(dir: &Path) -> anyhow::Result<Tally> {
    let mut total = Tally::default();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            let sub = tally(&entry.path())?;
            total.files += sub.files;
            total.bytes += sub.bytes;
            total.vendors_c |= sub.vendors_c;
        } else if kind.is_file() {
            total.files += 1;
            total.bytes += entry.metadata()?.len();
            let path = entry.path();
            let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
            total.vendors_c |= matches!(ext, "c" | "cc" | "cpp" | "h" | "S" | "s" | "asm");
        }
    }
    Ok(total)
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
