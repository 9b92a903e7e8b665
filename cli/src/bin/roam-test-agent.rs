//! `roam-test-agent`: a small scripted stand-in for Claude Code, used by Roam's tests.
//!
//! ```text
//! roam-test-agent [--resume ID] [--ask-gitignore] [--ask-cursor] [PROMPT]
//! roam-test-agent --version
//! ```
//!
//! Sessions are stored where Claude Code keeps them:
//! `$HOME/.claude/projects/<encoded cwd>/<ID>.jsonl`, one JSON object per line
//! (`session`, then `user` / `assistant` per turn).
//!
//! Each turn (the PROMPT argument, then every non-empty stdin line after the
//! `> ` marker) is split on `;` into instructions, whose first word is the verb:
//! `write PATH TEXT`, `append PATH TEXT`, `rm PATH`, `commit MSG`, `sleep MS`,
//! `spam N [WIDTH]`, `drip N MS [TAG]`, `cursor`, `size`, `recall`, `echo TEXT`, `exit CODE`, `env NAME`.
//! Anything else is a free-text task noted in `.roam-test-agent/notes.md`.
//!
//! `--ask-gitignore` asks first, as aider does on a fresh repository,
//! whether to add `.roam-test-agent*` to `.gitignore`; an answer that is not
//! yes or no is refused and asked again, so a prompt typed into the
//! question is lost, as it is with aider. `--ask-cursor` asks the terminal
//! where the cursor is (`ESC [ 6 n`) at start, as aider's prompt library
//! does, and warns as it does when no answer comes.

// This binary exists to talk to a terminal like an interactive agent: printing
// to stdout is its whole job.
#![allow(clippy::print_stdout)]

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow, bail};
use clap::Parser;
use serde_json::Value;

/// Scripted stand-in for Claude Code used by Roam's tests.
#[derive(Parser, Debug)]
#[command(name = "roam-test-agent", version)]
struct Args {
    /// Resume an existing session (appends to its session file).
    #[arg(long, value_name = "ID")]
    resume: Option<String>,
    /// Ask to add `.roam-test-agent*` to `.gitignore` before anything else,
    /// unless it is there already.
    #[arg(long)]
    ask_gitignore: bool,
    /// Ask the terminal for the cursor position at start.
    #[arg(long)]
    ask_cursor: bool,
    /// First turn to run before reading stdin (several words are joined by spaces).
    #[arg(value_name = "PROMPT")]
    prompt: Vec<String>,
}

fn main() {
    let args = Args::parse();
    match run(&args) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(1);
        }
    }
}

fn run(args: &Args) -> Result<i32> {
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let (session, banner) = match &args.resume {
        Some(id) => {
            let session = Session::resume(&cwd, id)?;
            let turns = session.user_turns()?.len();
            let banner = format!("test-agent: resumed session {id} ({turns} turns)");
            (session, banner)
        }
        None => {
            let session = Session::create(&cwd)?;
            let banner = format!("test-agent: session {}", session.id);
            (session, banner)
        }
    };
    let mut agent = Agent {
        session,
        cwd,
        out: io::stdout().lock(),
    };
    writeln!(agent.out, "{banner}")?;
    agent.out.flush()?;
    if args.ask_cursor {
        let said = cursor_report();
        agent.say(said)?;
    }
    let mut input = io::stdin().lock();
    if args.ask_gitignore && !agent.ask_gitignore(&mut input)? {
        return Ok(0);
    }

    let prompt = args.prompt.join(" ");
    let prompt = prompt.trim();
    if !prompt.is_empty()
        && let Some(code) = agent.turn(prompt)?
    {
        return Ok(code);
    }

    let mut buf = Vec::new();
    loop {
        write!(agent.out, "> ")?;
        agent.out.flush()?;
        buf.clear();
        if input.read_until(b'\n', &mut buf)? == 0 {
            writeln!(agent.out, "bye")?;
            agent.out.flush()?;
            return Ok(0);
        }
        let line = String::from_utf8_lossy(&buf);
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if let Some(code) = agent.turn(line)? {
            return Ok(code);
        }
    }
}

/// An open session file (`<ID>.jsonl`), appended to line by line.
struct Session {
    id: String,
    path: PathBuf,
    file: File,
}

impl Session {
    fn create(cwd: &Path) -> Result<Self> {
        let dir = session_dir(cwd)?;
        fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        for salt in 0..16 {
            let id = new_session_id(salt);
            let path = dir.join(format!("{id}.jsonl"));
            match OpenOptions::new().append(true).create_new(true).open(&path) {
                Ok(file) => {
                    let mut session = Session { id, path, file };
                    let id = session.id.clone();
                    let cwd = cwd.to_string_lossy();
                    session.record(&[("type", "session"), ("id", &id), ("cwd", &cwd)])?;
                    return Ok(session);
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => {
                    return Err(e).with_context(|| format!("cannot create {}", path.display()));
                }
            }
        }
        bail!("could not pick an unused session ID in {}", dir.display())
    }

    fn resume(cwd: &Path, id: &str) -> Result<Self> {
        let not_found = || anyhow!("no conversation found with session ID: {id}");
        let plausible = !id.is_empty()
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !plausible {
            return Err(not_found());
        }
        let path = session_dir(cwd)?.join(format!("{id}.jsonl"));
        if !path.is_file() {
            return Err(not_found());
        }
        let file = OpenOptions::new()
            .append(true)
            .open(&path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        Ok(Session {
            id: id.to_owned(),
            path,
            file,
        })
    }

    /// Appends one JSON object (string fields, kept in the given order) as a line and
    /// flushes it. Built by hand because serde_json's `Map` would sort the keys.
    fn record(&mut self, fields: &[(&str, &str)]) -> Result<()> {
        let mut line = String::from("{");
        for (i, (key, value)) in fields.iter().enumerate() {
            if i > 0 {
                line.push(',');
            }
            line.push_str(&Value::from(*key).to_string());
            line.push(':');
            line.push_str(&Value::from(*value).to_string());
        }
        line.push_str("}\n");
        self.file
            .write_all(line.as_bytes())
            .and_then(|()| self.file.flush())
            .with_context(|| format!("cannot write {}", self.path.display()))
    }

    /// Every user turn recorded in the file, oldest first (unparsable lines are skipped).
    fn user_turns(&self) -> Result<Vec<String>> {
        let text = fs::read_to_string(&self.path)
            .with_context(|| format!("cannot read {}", self.path.display()))?;
        Ok(text
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter(|v| v.get("type").and_then(Value::as_str) == Some("user"))
            .map(|v| {
                v.get("text")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned()
            })
            .collect())
    }
}

/// `$HOME/.claude/projects/<cwd with every char outside [A-Za-z0-9-] replaced by '-'>`.
fn session_dir(cwd: &Path) -> Result<PathBuf> {
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .context("HOME is not set")?;
    let encoded: String = cwd
        .to_string_lossy()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    Ok(PathBuf::from(home)
        .join(".claude")
        .join("projects")
        .join(encoded))
}

/// A v4-UUID-shaped ID derived from the clock, the pid and a retry salt.
fn new_session_id(salt: u64) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let pid = u64::from(std::process::id());
    let hi = splitmix64((nanos as u64) ^ (pid << 32) ^ salt);
    let lo = splitmix64(((nanos >> 64) as u64) ^ hi ^ pid.rotate_left(17) ^ salt.rotate_left(40));
    let hi = (hi & !0xf000) | 0x4000; // version 4
    let lo = (lo & !(0b11 << 62)) | (0b10 << 62); // RFC 4122 variant
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        hi >> 32,
        (hi >> 16) & 0xffff,
        hi & 0xffff,
        lo >> 48,
        lo & 0xffff_ffff_ffff
    )
}

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// What one instruction did: a summary for the session file, or a request to exit.
enum Step {
    Did(String),
    Exit(i32),
}

struct Agent {
    session: Session,
    cwd: PathBuf,
    out: io::StdoutLock<'static>,
}

impl Agent {
    /// Runs one turn; returns `Some(code)` if an `exit` instruction asked to stop.
    fn turn(&mut self, text: &str) -> Result<Option<i32>> {
        self.session.record(&[("type", "user"), ("text", text)])?;
        let mut summary = Vec::new();
        let mut exit = None;
        for instruction in text.split(';').map(str::trim).filter(|s| !s.is_empty()) {
            match self.exec(instruction) {
                Ok(Step::Did(done)) => summary.push(done),
                Ok(Step::Exit(code)) => {
                    summary.push(format!("exit {code}"));
                    exit = Some(code);
                }
                Err(e) => {
                    let message = format!("error: {e:#}");
                    // A failure to report the error (stdout gone) is fatal.
                    writeln!(self.out, "{message}")?;
                    summary.push(message);
                }
            }
            self.out.flush()?;
            if exit.is_some() {
                break;
            }
        }
        let summary = summary.join("; ");
        self.session
            .record(&[("type", "assistant"), ("text", &summary)])?;
        Ok(exit)
    }

    fn exec(&mut self, instruction: &str) -> Result<Step> {
        let (verb, rest) = split_word(instruction);
        let done = match verb {
            "write" | "append" => {
                let (path, text) = split_word(rest);
                if path.is_empty() {
                    bail!("{verb} needs a path");
                }
                let full = self.cwd.join(path);
                if let Some(parent) = full.parent() {
                    fs::create_dir_all(parent)
                        .with_context(|| format!("cannot create {}", parent.display()))?;
                }
                if verb == "write" {
                    fs::write(&full, format!("{text}\n"))
                        .with_context(|| format!("cannot write {path}"))?;
                    self.say(format!("wrote {path}"))?
                } else {
                    append_line(&full, text).with_context(|| format!("cannot append to {path}"))?;
                    self.say(format!("appended {path}"))?
                }
            }
            "rm" => {
                if rest.is_empty() {
                    bail!("rm needs a path");
                }
                let full = self.cwd.join(rest);
                if full.is_dir() {
                    fs::remove_dir_all(&full)
                } else {
                    fs::remove_file(&full)
                }
                .with_context(|| format!("cannot remove {rest}"))?;
                self.say(format!("removed {rest}"))?
            }
            "commit" => {
                if rest.is_empty() {
                    bail!("commit needs a message");
                }
                let line = match self.git_commit(rest) {
                    Ok(oid) => format!("committed {oid}"),
                    Err(why) => format!("commit failed: {why}"),
                };
                self.say(line)?
            }
            "sleep" => {
                let ms: u64 = rest
                    .parse()
                    .map_err(|_| anyhow!("sleep needs milliseconds, got {rest:?}"))?;
                self.sleep(ms)?;
                format!("slept {ms} ms")
            }
            "spam" => {
                let mut words = rest.split_whitespace();
                let n: u64 = parse_arg(words.next(), "spam needs a line count")?;
                let width: usize = match words.next() {
                    Some(w) => parse_arg(Some(w), "spam width must be a number")?,
                    None => 80,
                };
                if width > 1 << 20 {
                    bail!("spam width {width} is too large");
                }
                self.spam(n, width)?;
                format!("printed {n} lines")
            }
            "drip" => {
                let mut words = rest.split_whitespace();
                let n: u64 = parse_arg(words.next(), "drip needs a line count")?;
                let every: u64 = parse_arg(words.next(), "drip needs milliseconds between lines")?;
                let tag = words.next().unwrap_or("drip");
                for i in 1..=n {
                    // `TAG i/n`: no line is a part of another.
                    writeln!(self.out, "{tag} {i}/{n}")?;
                    self.out.flush()?;
                    thread::sleep(Duration::from_millis(every));
                }
                format!("dripped {n} lines")
            }
            "cursor" => self.say(cursor_report())?,
            "size" => {
                let line = match crossterm::terminal::size() {
                    Ok((cols, rows)) => format!("size {rows}x{cols}"),
                    Err(_) => "size unknown".to_owned(),
                };
                self.say(line)?
            }
            "recall" => {
                let mut turns = self.session.user_turns()?;
                turns.pop(); // the current turn, recorded when it started
                self.say(format!("history: {}", turns.join(" | ")))?
            }
            "echo" => self.say(rest.to_owned())?,
            "exit" => {
                let code = parse_arg(Some(rest), "exit needs a numeric code")?;
                return Ok(Step::Exit(code));
            }
            "env" => {
                if rest.is_empty() {
                    bail!("env needs a variable name");
                }
                let value = std::env::var_os(rest)
                    .map(|v| v.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "unset".to_owned());
                self.say(format!("{rest}={value}"))?
            }
            _ => {
                self.say(format!("working on: {instruction}"))?;
                self.out.flush()?;
                let notes = self.cwd.join(".roam-test-agent").join("notes.md");
                if let Some(dir) = notes.parent() {
                    fs::create_dir_all(dir)
                        .with_context(|| format!("cannot create {}", dir.display()))?;
                }
                append_line(&notes, instruction).context("cannot write the notes file")?;
                self.say("done".to_owned())?;
                format!("worked on: {instruction}")
            }
        };
        Ok(Step::Did(done))
    }

    /// Prints one line and returns it (as the instruction's summary).
    fn say(&mut self, line: String) -> Result<String> {
        writeln!(self.out, "{line}")?;
        Ok(line)
    }

    /// `git add -A && git commit -q -m MSG`, then the short oid of HEAD.
    fn git_commit(&self, message: &str) -> Result<String, String> {
        self.git(&["add", "-A"])?;
        self.git(&["commit", "-q", "-m", message])?;
        self.git(&["rev-parse", "--short", "HEAD"])
            .map(|oid| oid.trim().to_owned())
    }

    /// Runs git in the cwd; on failure returns the first line of what it said.
    fn git(&self, args: &[&str]) -> Result<String, String> {
        let output = Command::new("git")
            .args(args)
            .current_dir(&self.cwd)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run git: {e}"))?;
        if output.status.success() {
            return Ok(String::from_utf8_lossy(&output.stdout).into_owned());
        }
        let stderr = String::from_utf8_lossy(&output.stderr);
        let stdout = String::from_utf8_lossy(&output.stdout);
        // Prefer stderr's first line; `nothing to commit` comes last on stdout.
        let said = stderr
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .or_else(|| stdout.lines().map(str::trim).rfind(|l| !l.is_empty()))
            .map(str::to_owned);
        Err(said.unwrap_or_else(|| format!("git {} exited with {}", args[0], output.status)))
    }

    /// `thinking`, a dot per 100 ms, newline once `ms` have elapsed.
    fn sleep(&mut self, ms: u64) -> Result<()> {
        write!(self.out, "thinking")?;
        self.out.flush()?;
        let start = Instant::now();
        let total = Duration::from_millis(ms);
        let mut dots: u64 = 1;
        loop {
            let next = Duration::from_millis(dots.saturating_mul(100));
            if next > total {
                break;
            }
            sleep_until(start, next);
            write!(self.out, ".")?;
            self.out.flush()?;
            dots += 1;
        }
        sleep_until(start, total);
        writeln!(self.out)?;
        Ok(())
    }

    /// Asks, until answered yes or no, whether to ignore the agent's own
    /// files; false when stdin ends first.
    fn ask_gitignore(&mut self, input: &mut impl BufRead) -> Result<bool> {
        const ENTRY: &str = ".roam-test-agent*";
        let path = self.cwd.join(".gitignore");
        let ignored = fs::read_to_string(&path).unwrap_or_default();
        if ignored.lines().any(|l| l.trim() == ENTRY) {
            return Ok(true);
        }
        let mut buf = Vec::new();
        loop {
            write!(
                self.out,
                "Add {ENTRY} to .gitignore (recommended)? (Y)es/(N)o [Yes]: "
            )?;
            self.out.flush()?;
            buf.clear();
            if input.read_until(b'\n', &mut buf)? == 0 {
                return Ok(false);
            }
            match String::from_utf8_lossy(&buf).trim().to_lowercase().as_str() {
                "" | "y" | "yes" => {
                    let mut file = OpenOptions::new().create(true).append(true).open(&path)?;
                    writeln!(file, "{ENTRY}")?;
                    writeln!(self.out, "Added {ENTRY} to .gitignore")?;
                    return Ok(true);
                }
                "n" | "no" => return Ok(true),
                other => writeln!(
                    self.out,
                    "Please answer with one of: yes, no (not {other:?})"
                )?,
            }
        }
    }

    /// `n` lines `line <i> xxx…`, each `width` chars long (unless the prefix is longer).
    fn spam(&mut self, n: u64, width: usize) -> Result<()> {
        let xs = vec![b'x'; width];
        let mut w = BufWriter::with_capacity(1 << 16, &mut self.out);
        for i in 1..=n {
            let prefix = 6 + decimal_digits(i); // "line " + digits + " "
            write!(w, "line {i} ")?;
            w.write_all(&xs[..width.saturating_sub(prefix)])?;
            w.write_all(b"\n")?;
        }
        w.flush()?;
        Ok(())
    }
}

/// Asks the terminal where the cursor is (`ESC [ 6 n`, answered in raw
/// mode, as prompt_toolkit does) and says what came back.
fn cursor_report() -> String {
    match crossterm::cursor::position() {
        Ok((col, row)) => format!("cursor at row {} col {}", row + 1, col + 1),
        Err(_) => "warning: your terminal doesn't support cursor position requests (CPR)".into(),
    }
}

/// Splits off the first whitespace-separated word; the rest keeps its inner spacing.
fn split_word(s: &str) -> (&str, &str) {
    let s = s.trim();
    match s.find(char::is_whitespace) {
        Some(i) => (&s[..i], s[i..].trim_start()),
        None => (s, ""),
    }
}

fn parse_arg<T: std::str::FromStr>(word: Option<&str>, what: &str) -> Result<T> {
    let word = word.unwrap_or("").trim();
    word.parse().map_err(|_| anyhow!("{what}, got {word:?}"))
}

fn append_line(path: &Path, text: &str) -> io::Result<()> {
    let mut file = OpenOptions::new().create(true).append(true).open(path)?;
    file.write_all(format!("{text}\n").as_bytes())
}

fn sleep_until(start: Instant, offset: Duration) {
    let elapsed = start.elapsed();
    if offset > elapsed {
        thread::sleep(offset - elapsed);
    }
}

fn decimal_digits(mut i: u64) -> usize {
    let mut digits = 1;
    while i >= 10 {
        i /= 10;
        digits += 1;
    }
    digits
}
