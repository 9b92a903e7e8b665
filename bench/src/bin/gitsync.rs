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

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use roam_gitsync::{CaptureOptions, Mirrors, ReceiveOptions, Worktree, blocking, capture};

const REF: &str = "refs/roam/sync/bench";

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("relay") {
        return match relay_stdio(&args[2..]) {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("relay: {e:#}");
                std::process::ExitCode::FAILURE
            }
        };
    }
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gitsync-bench: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// `relay HOST PORT COUNTFILE`: ssh's ProxyCommand. Copies stdin→socket and
/// socket→stdout. ssh kills its proxy when done, so the running total is
/// rewritten to `COUNTFILE.<pid>` after every chunk rather than at the end.
fn relay_stdio(args: &[String]) -> Result<()> {
    let [host, port, count] = args else {
        bail!("usage: relay HOST PORT COUNTFILE")
    };
    let sock = TcpStream::connect((host.as_str(), port.parse::<u16>()?))?;
    let total = Arc::new(AtomicU64::new(0));
    let file = PathBuf::from(format!("{count}.{}", std::process::id()));
    let mut w = sock.try_clone()?;
    let (t2, f2) = (total.clone(), file.clone());
    let t = std::thread::spawn(move || {
        let _ = copy_reporting(&mut std::io::stdin(), &mut w, &t2, &f2);
        let _ = w.shutdown(Shutdown::Write);
    });
    let mut r = sock;
    let _ = copy_reporting(&mut r, &mut std::io::stdout(), &total, &file);
    let _ = t.join();
    Ok(())
}

fn copy_reporting(
    r: &mut impl Read,
    w: &mut impl Write,
    n: &AtomicU64,
    file: &Path,
) -> std::io::Result<()> {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let k = r.read(&mut buf)?;
        if k == 0 {
            return Ok(());
        }
        // Counted before forwarding: once the peer has the bytes, ssh may kill us.
        let total = n.fetch_add(k as u64, Ordering::SeqCst) + k as u64;
        // Write-then-rename: ssh may kill us mid-write, and a truncated
        // file would lose the whole count instead of at most this chunk.
        // The two directions write their own temp file; a failed count
        // write must never break the connection it is measuring.
        let tmp = PathBuf::from(format!(
            "{}.{:?}.tmp",
            file.display(),
            std::thread::current().id()
        ));
        if std::fs::write(&tmp, total.to_string()).is_ok() {
            let _ = std::fs::rename(&tmp, file);
        }
        w.write_all(&buf[..k])?;
        w.flush()?;
    }
}

fn copy_counting(r: &mut impl Read, w: &mut impl Write, n: &AtomicU64) -> std::io::Result<()> {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let k = r.read(&mut buf)?;
        if k == 0 {
            return Ok(());
        }
        w.write_all(&buf[..k])?;
        w.flush()?;
        n.fetch_add(k as u64, Ordering::Relaxed);
    }
}

struct Sshd {
    child: Child,
    dir: PathBuf,
    port: u16,
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn sh(cmd: &mut Command) -> Result<String> {
    let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    if !out.status.success() {
        bail!("{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn git(dir: &Path, args: &[&str]) -> Result<String> {
    sh(Command::new("git").arg("-C").arg(dir).args(args))
}

fn start_sshd(dir: &Path) -> Result<Sshd> {
    let sshd = ["/usr/sbin/sshd", "/usr/bin/sshd"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .context("sshd not found: apt-get install openssh-server")?;
    for key in ["host", "user"] {
        sh(Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(dir.join(key)))?;
    }
    std::fs::copy(dir.join("user.pub"), dir.join("authorized_keys"))?;
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let config = format!(
        "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host\nAuthorizedKeysFile {d}/authorized_keys\n\
         StrictModes no\nPidFile none\nUsePAM no\nPasswordAuthentication no\nPermitRootLogin prohibit-password\n",
        d = dir.display()
    );
    std::fs::write(dir.join("sshd_config"), config)?;
    // Privilege separation directory sshd insists on.
    let _ = std::fs::create_dir_all("/run/sshd");
    let child = Command::new(sshd)
        .args(["-D", "-e", "-f"])
        .arg(dir.join("sshd_config"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("sshd.log"))?)
        .spawn()?;
    let d = Sshd {
        child,
        dir: dir.to_owned(),
        port,
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            bail!("sshd did not start; see {}", dir.join("sshd.log").display());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(d)
}

impl Sshd {
    /// The ssh command line (for GIT_SSH_COMMAND / rsync -e) counting into `count`.
    fn ssh_cmd(&self, count: &Path) -> Result<String> {
        let me = std::env::current_exe()?;
        Ok(format!(
            "ssh -i {} -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR \
             -o ProxyCommand='{} relay 127.0.0.1 {} {}'",
            self.dir.join("user").display(),
            me.display(),
            self.port,
            count.display()
        ))
    }
}

/// Sums and removes the `<count>.<pid>` files the relays wrote.
fn counted(count: &Path) -> u64 {
    let (Some(dir), Some(prefix)) = (count.parent(), count.file_name()) else {
        return 0;
    };
    let prefix = format!("{}.", prefix.to_string_lossy());
    let mut total = 0;
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.ends_with(".tmp") {
            let _ = std::fs::remove_file(e.path());
        } else if name.starts_with(&prefix) {
            total += std::fs::read_to_string(e.path())
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
                .unwrap_or(0);
            let _ = std::fs::remove_file(e.path());
        }
    }
    total
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
    let addr = listener.local_addr()?;
    let relay_l = TcpListener::bind("127.0.0.1:0")?;
    let relay_addr = relay_l.local_addr()?;
    let bytes = Arc::new(AtomicU64::new(0));
    let b = bytes.clone();
    let relay = std::thread::spawn(move || -> std::io::Result<()> {
        let (client, _) = relay_l.accept()?;
        let server = TcpStream::connect(addr)?;
        let (mut c2, mut s2) = (client.try_clone()?, server.try_clone()?);
        let b2 = b.clone();
        let t = std::thread::spawn(move || {
            let _ = copy_counting(&mut c2, &mut s2, &b2);
            let _ = s2.shutdown(Shutdown::Write);
        });
        let (mut c, mut s) = (client, server);
        let _ = copy_counting(&mut s, &mut c, &b);
        let _ = c.shutdown(Shutdown::Write);
        let _ = t.join();
        Ok(())
    });
    let mirrors2 = mirrors.clone();
    let receiver = std::thread::spawn(move || {
        let (sock, _) = listener.accept()?;
        blocking::receive_tcp(&mirrors2, sock, &ReceiveOptions::default(), |_| {})
            .map_err(anyhow::Error::from)
    });
    let sock = TcpStream::connect(relay_addr)?;
    blocking::send_tcp(src, REF, REF, sock, |_| {})?;
    receiver
        .join()
        .map_err(|_| anyhow::anyhow!("receiver panicked"))??;
    let elapsed = started.elapsed();
    let _ = relay.join();
    Ok((bytes.load(Ordering::Relaxed), elapsed))
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

/// The account sshd logs us into: whoever runs the bench.
fn user() -> String {
    std::env::var("USER")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "root".to_owned())
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
    let sshd = start_sshd(&{
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
