//! `cargo run -p roam-bench --bin gitsync`: bytes and time to ship a small
//! change (and a whole repo, cold) with gitsync vs `git push` over ssh vs
//! `rsync -a` over ssh, against a real OpenSSH server on 127.0.0.1.
//!
//! Bytes are counted the same way for all three: every connection goes
//! through a byte-counting TCP relay (for ssh, this binary run as
//! `ProxyCommand`; for gitsync, a relay thread), so the numbers are the real
//! bytes on the wire in both directions, ssh encryption included.

// Printing the results is this binary's job.
#![allow(clippy::print_stdout)]

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use roam_bench::cmd::{git, run as sh};
use roam_bench::relay::{self, TcpRelay, counted};
use roam_bench::sshd::{Sshd, user};
use roam_gitsync::{CaptureOptions, Mirrors, ReceiveOptions, Worktree, blocking, capture};

const REF: &str = "refs/roam/sync/bench";

fn main() -> std::process::ExitCode {
    if let Some(code) = relay::dispatch() {
        return code;
    }
    // The summary is printed as the run goes.
    roam_bench::report::finish("gitsync-bench", run().map(|()| String::new()))
}

/// Copies a crate's source from the local cargo registry into `dir` and
/// commits it in several steps.
fn bench_repo(dir: &Path) -> Result<String> {
    let home = std::env::var("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|_| std::env::var("HOME").map(|h| PathBuf::from(h).join(".cargo")))?;
    let mut found = None;
    for reg in std::fs::read_dir(home.join("registry/src"))? {
        for e in std::fs::read_dir(reg?.path())? {
            let p = e?.path();
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if name.starts_with("tokio-1.") {
                found = Some(p);
            }
        }
    }
    let src = found.context("no tokio-1.* in the cargo registry")?;
    std::fs::create_dir_all(dir)?;
    git(dir, &["init", "-q", "-b", "main"])?;
    git(dir, &["config", "user.name", "bench"])?;
    git(dir, &["config", "user.email", "bench@localhost"])?;
    sh(Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", src.display()))
        .arg(dir))?;
    let mut entries: Vec<_> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .filter(|n| n != ".git")
        .collect();
    entries.sort();
    // Several commits: each quarter of the top-level entries, then the rest.
    for (i, chunk) in entries.chunks(entries.len().div_ceil(4).max(1)).enumerate() {
        let mut cmd = Command::new("git");
        cmd.arg("-C").arg(dir).args(["add", "-f", "--"]).args(chunk);
        sh(&mut cmd)?;
        git(dir, &["commit", "-q", "-m", &format!("import step {i}")])?;
    }
    Ok(src.display().to_string())
}

/// The small change: two files edited, one new file; left uncommitted.
fn small_change(dir: &Path) -> Result<()> {
    for f in ["src/lib.rs", "src/io/mod.rs"] {
        let path = dir.join(f);
        let mut text = std::fs::read_to_string(&path)?;
        text.push_str("\n// edited by the gitsync benchmark\n");
        std::fs::write(path, text)?;
    }
    std::fs::write(
        dir.join("src/bench_new.rs"),
        "pub fn added() -> u32 { 42 }\n",
    )?;
    Ok(())
}

/// gitsync through a counting TCP relay; returns (bytes, duration).
fn gitsync_ship(src: &Path, mirrors: &Mirrors) -> Result<(u64, Duration)> {
    let started = Instant::now();
    capture(&Worktree::open(src)?, REF, &CaptureOptions::default())?;
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let relay = TcpRelay::start(listener.local_addr()?)?;
    let mirrors2 = mirrors.clone();
    let receiver = std::thread::spawn(move || {
        let (sock, _) = listener.accept()?;
        blocking::receive_tcp(&mirrors2, sock, &ReceiveOptions::default(), |_| {})
            .map_err(anyhow::Error::from)
    });
    let sock = TcpStream::connect(relay.addr)?;
    blocking::send_tcp(src, REF, REF, sock, |_| {})?;
    receiver
        .join()
        .map_err(|_| anyhow::anyhow!("receiver panicked"))??;
    let elapsed = started.elapsed();
    Ok((relay.finish(), elapsed))
}

fn git_push(src: &Path, bare: &Path, sshd: &Sshd, count: &Path) -> Result<(u64, Duration)> {
    let started = Instant::now();
    let url = format!("ssh://{}@127.0.0.1:{}{}", user(), sshd.port, bare.display());
    sh(Command::new("git")
        .arg("-C")
        .arg(src)
        .args(["push", "-q", "--force", &url, "HEAD:refs/heads/main"])
        .env("GIT_SSH_COMMAND", sshd.ssh_cmd(count)?))?;
    Ok((counted(count), started.elapsed()))
}

fn rsync(src: &Path, dest: &Path, sshd: &Sshd, count: &Path) -> Result<(u64, Duration)> {
    let started = Instant::now();
    let ssh = format!("{} -p {}", sshd.ssh_cmd(count)?, sshd.port);
    sh(Command::new("rsync")
        .args(["-a", "--delete", "-e", &ssh])
        .arg(format!("{}/", src.display()))
        .arg(format!("{}@127.0.0.1:{}/", user(), dest.display())))?;
    Ok((counted(count), started.elapsed()))
}

struct Row {
    case: &'static str,
    tool: &'static str,
    bytes: u64,
    time: Duration,
}

fn run() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let t = tmp.path();
    let sshd = Sshd::start(&{
        let d = t.join("ssh");
        std::fs::create_dir_all(&d)?;
        d
    })?;
    let count = t.join("count");
    let src = t.join("src");
    let crate_src = bench_repo(&src)?;
    let files = git(&src, &["ls-files"])?.lines().count();

    let mut rows = Vec::new();
    // Cold: empty receivers.
    let mirrors = Mirrors::open(&t.join("mirrors"))?;
    let (b, d) = gitsync_ship(&src, &mirrors)?;
    rows.push(Row {
        case: "cold",
        tool: "gitsync",
        bytes: b,
        time: d,
    });
    let bare = t.join("bare.git");
    git(
        t,
        &["init", "-q", "--bare", bare.to_str().context("utf-8 path")?],
    )?;
    let (b, d) = git_push(&src, &bare, &sshd, &count)?;
    rows.push(Row {
        case: "cold",
        tool: "git push (ssh)",
        bytes: b,
        time: d,
    });
    let dest = t.join("rsync-dest");
    std::fs::create_dir_all(&dest)?;
    let (b, d) = rsync(&src, &dest, &sshd, &count)?;
    rows.push(Row {
        case: "cold",
        tool: "rsync -a (ssh)",
        bytes: b,
        time: d,
    });

    // Warm: every receiver has the base; ship the small change.
    small_change(&src)?;
    let (b, d) = gitsync_ship(&src, &mirrors)?;
    rows.push(Row {
        case: "warm",
        tool: "gitsync",
        bytes: b,
        time: d,
    });
    // git push can only carry commits, so the same change is committed on a copy.
    let pushed = t.join("push-src");
    sh(Command::new("cp").arg("-a").arg(&src).arg(&pushed))?;
    git(&pushed, &["add", "-A"])?;
    git(&pushed, &["commit", "-q", "-m", "small change"])?;
    let (b, d) = git_push(&pushed, &bare, &sshd, &count)?;
    rows.push(Row {
        case: "warm",
        tool: "git push (ssh)",
        bytes: b,
        time: d,
    });
    let (b, d) = rsync(&src, &dest, &sshd, &count)?;
    rows.push(Row {
        case: "warm",
        tool: "rsync -a (ssh)",
        bytes: b,
        time: d,
    });

    println!(
        "gitsync benchmark: {crate_src} ({files} files, 4 commits); small change = 2 files edited + 1 new, uncommitted"
    );
    println!(
        "bytes = both directions through a counting TCP relay (ssh: ProxyCommand relay, encryption included)"
    );
    println!("rsync copies the worktree including .git; git push carries the change as a commit\n");
    println!(
        "{:<5} {:<15} {:>12} {:>9} {:>12} {:>10}",
        "case", "tool", "bytes", "ms", "bytes/gs", "time/gs"
    );
    for case in ["cold", "warm"] {
        let base = rows.iter().find(|r| r.case == case && r.tool == "gitsync");
        for r in rows.iter().filter(|r| r.case == case) {
            let (rb, rt) = base.map_or((f64::NAN, f64::NAN), |g| {
                (
                    r.bytes as f64 / g.bytes as f64,
                    r.time.as_secs_f64() / g.time.as_secs_f64(),
                )
            });
            println!(
                "{:<5} {:<15} {:>12} {:>9.1} {:>11.2}x {:>9.2}x",
                r.case,
                r.tool,
                r.bytes,
                r.time.as_secs_f64() * 1000.0,
                rb,
                rt
            );
        }
    }
    Ok(())
}
