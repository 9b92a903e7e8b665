//! A node under test: its own data dir, home and config, started with
//! `roam up` and stopped (or killed) when the test ends.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use portable_pty::{CommandBuilder, PtySize, native_pty_system};
use serde_json::Value;

pub const ROAM: &str = env!("CARGO_BIN_EXE_roam");
pub const AGENT: &str = env!("CARGO_BIN_EXE_roam-test-agent");
pub const WAIT: Duration = Duration::from_secs(30);

/// Polls `cond` until it holds; panics with `what` after `WAIT`.
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub struct TestNode {
    pub dir: tempfile::TempDir,
    pub home: PathBuf,
    pub user_home: PathBuf,
    pub repo: PathBuf,
}

impl TestNode {
    /// A node (not yet started) with the `test` profile and a repo with
    /// one commit on `main`.
    pub fn new() -> TestNode {
        TestNode::named("testnode")
    }

    /// A node with its own name (mesh tests run several).
    pub fn named(name: &str) -> TestNode {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("roam");
        let user_home = dir.path().join("home");
        let repo = dir.path().join("repo");
        std::fs::create_dir_all(&home).unwrap();
        std::fs::create_dir_all(&user_home).unwrap();
        std::fs::write(
            home.join("config.toml"),
            format!(
                r#"[node]
name = "{name}"
[terminal]
scrollback_bytes = 1048576
[mesh]
listen = ["/ip4/127.0.0.1/udp/0/quic-v1", "/ip4/127.0.0.1/tcp/0"]
mdns = false
pairing_window_secs = 20
[profiles.test]
command = ["{AGENT}"]
resume = ["{AGENT}", "--resume", "{{session}}"]
session_dir = "{{home}}/.claude/projects/{{cwd_encoded}}"
waiting = ['^> $']
[profiles.asker]
command = ["{AGENT}", "--ask-gitignore", "--ask-cursor"]
prompt = "type"
waiting = ['^> $']
questions = ['\(Y\)es/\(N\)o']
owns = [".roam-test-agent/"]
[profiles.missing]
command = ["roam-no-such-agent-binary"]
"#
            ),
        )
        .unwrap();
        git(&repo, &["init", "-q", "-b", "main", repo.to_str().unwrap()]);
        git(&repo, &["config", "user.email", "t@example.com"]);
        git(&repo, &["config", "user.name", "Test"]);
        std::fs::write(repo.join("README.md"), "hello\n").unwrap();
        git(&repo, &["add", "."]);
        git(&repo, &["commit", "-q", "-m", "init"]);
        TestNode {
            dir,
            home,
            user_home,
            repo,
        }
    }

    /// Listens on ports fixed for the node's life, so members that restart
    /// find each other again at the addresses they remember.
    pub fn on_fixed_ports(self) -> TestNode {
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let (udp, tcp) = (
            udp.local_addr().unwrap().port(),
            tcp.local_addr().unwrap().port(),
        );
        let config = self.home.join("config.toml");
        let text = std::fs::read_to_string(&config).unwrap().replace(
            r#"listen = ["/ip4/127.0.0.1/udp/0/quic-v1", "/ip4/127.0.0.1/tcp/0"]"#,
            &format!(
                r#"listen = ["/ip4/127.0.0.1/udp/{udp}/quic-v1", "/ip4/127.0.0.1/tcp/{tcp}"]"#
            ),
        );
        std::fs::write(config, text).unwrap();
        self
    }

    /// How many nodes `roam nodes` shows online, this one included.
    pub fn online_nodes(&self) -> usize {
        let v: Value = serde_json::from_str(&self.ok(&["nodes", "--json"])).unwrap();
        v.as_array()
            .unwrap()
            .iter()
            .filter(|n| n["online"] == true)
            .count()
    }

    pub fn peer_id(&self) -> String {
        self.ok(&["node", "id"]).trim().to_string()
    }

    pub fn started() -> TestNode {
        TestNode::start(TestNode::new())
    }

    pub fn start(node: TestNode) -> TestNode {
        let out = node.roam(&["up"]);
        assert!(out.status.success(), "roam up: {}", stderr(&out));
        node
    }

    pub fn command(&self, args: &[&str]) -> Command {
        self.command_of(Path::new(ROAM), args)
    }

    /// The same, run by another `roam` binary (one installed elsewhere).
    pub fn command_of(&self, roam: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::new(roam);
        cmd.args(args)
            .current_dir(&self.repo)
            .env("ROAM_HOME", &self.home)
            .env("HOME", &self.user_home)
            .env("ROAM_NO_AUTOSTART", "1")
            // The node uses the test's ~/.ssh, never the developer's agent.
            .env_remove("SSH_AUTH_SOCK")
            .env_remove("XDG_DATA_HOME");
        cmd
    }

    pub fn roam(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// Runs a command that must succeed; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.roam(args);
        assert!(
            out.status.success(),
            "roam {args:?} failed: {}",
            stderr(&out)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs a command that must fail with one line on stderr; returns it.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.roam(args);
        assert!(!out.status.success(), "roam {args:?} should have failed");
        let err = stderr(&out);
        assert_eq!(
            err.trim_end().lines().count(),
            1,
            "want one line, got: {err}"
        );
        assert!(err.starts_with("roam: "), "{err}");
        err
    }

    pub fn ls(&self) -> Vec<Value> {
        serde_json::from_str::<Value>(&self.ok(&["ls", "--json"]))
            .unwrap()
            .as_array()
            .unwrap()
            .clone()
    }

    pub fn workspace(&self, name: &str) -> Value {
        self.ls()
            .into_iter()
            .find(|w| w["name"] == name)
            .unwrap_or_else(|| panic!("no workspace {name}"))
    }

    pub fn agent_state(&self, ws: &str, agent: usize) -> String {
        self.workspace(ws)["agents"][agent]["status"]["state"]
            .as_str()
            .unwrap()
            .to_string()
    }

    pub fn logs(&self, target: &str) -> String {
        self.ok(&["logs", target])
    }

    pub fn wait_logs(&self, target: &str, needle: &str) {
        let deadline = Instant::now() + WAIT;
        loop {
            let logs = self.logs(target);
            if logs.contains(needle) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for '{needle}' in logs of {target}, which are:\n{logs}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn pid(&self) -> i32 {
        std::fs::read_to_string(self.home.join("node.pid"))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }

    pub fn worktree(&self, name: &str) -> PathBuf {
        self.home.join("worktrees").join(name)
    }

    pub fn branches(&self) -> String {
        git(&self.repo, &["branch", "--list"])
    }
}

impl Drop for TestNode {
    fn drop(&mut self) {
        let _ = self.command(&["down"]).output();
        // A test that killed its node leaves holders running: end them
        // (SIGTERM ends a holder's agent, then the holder).
        let holders = format!("--socket {}/run/holders/", self.home.display());
        let _ = Command::new("pkill")
            .args(["-TERM", "-f", "--", &holders])
            .status();
        // ROAM_TEST_KEEP=1 keeps data dirs (logs!) of failed runs to read.
        if std::env::var_os("ROAM_TEST_KEEP").is_some() {
            let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap());
            eprintln!("kept {}", dir.keep().display());
        }
    }
}

/// Replaces `to` with a copy of the directory `from` (a store, a backup).
pub fn copy_dir(from: &Path, to: &Path) {
    let _ = std::fs::remove_dir_all(to);
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(if dir.exists() { dir } else { Path::new("/") })
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {}", stderr(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A `roam` process in a PTY of our own, as a user's terminal would run it.
pub struct PtyClient {
    pub output: Arc<Mutex<Vec<u8>>>,
    writer: Box<dyn Write + Send>,
    master: Box<dyn portable_pty::MasterPty + Send>,
    child: Box<dyn portable_pty::Child + Send + Sync>,
}

impl PtyClient {
    pub fn spawn(node: &TestNode, args: &[&str], rows: u16, cols: u16) -> PtyClient {
        PtyClient::start(node, args, rows, cols, true)
    }

    /// A terminal that is never read: once its buffer is full the `roam`
    /// process in it blocks on every write, as with a frozen terminal.
    pub fn spawn_stalled(node: &TestNode, args: &[&str], rows: u16, cols: u16) -> PtyClient {
        PtyClient::start(node, args, rows, cols, false)
    }

    fn start(node: &TestNode, args: &[&str], rows: u16, cols: u16, read: bool) -> PtyClient {
        let pair = native_pty_system()
            .openpty(PtySize {
                rows,
                cols,
                pixel_width: 0,
                pixel_height: 0,
            })
            .unwrap();
        let mut cmd = CommandBuilder::new(ROAM);
        cmd.args(args);
        cmd.cwd(&node.repo);
        cmd.env("ROAM_HOME", &node.home);
        cmd.env("HOME", &node.user_home);
        cmd.env("ROAM_NO_AUTOSTART", "1");
        let child = pair.slave.spawn_command(cmd).unwrap();
        drop(pair.slave);
        let mut reader = pair.master.try_clone_reader().unwrap();
        let writer = pair.master.take_writer().unwrap();
        let output = Arc::new(Mutex::new(Vec::new()));
        let sink = output.clone();
        if read {
            std::thread::spawn(move || {
                let mut buf = [0u8; 8192];
                while let Ok(n) = reader.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    sink.lock().unwrap().extend_from_slice(&buf[..n]);
                }
            });
        }
        PtyClient {
            output,
            writer,
            master: pair.master,
            child,
        }
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.output.lock().unwrap()).into_owned()
    }

    /// Forgets what the terminal showed so far.
    pub fn clear(&self) {
        self.output.lock().unwrap().clear();
    }

    /// Whether the client process is still running.
    pub fn running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    pub fn wait_for(&self, needle: &str) {
        let deadline = Instant::now() + WAIT;
        while !self.text().contains(needle) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for '{needle}' on the client terminal, which shows:\n{}",
                self.text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn type_bytes(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).unwrap();
        self.writer.flush().unwrap();
    }

    pub fn resize(&self, rows: u16, cols: u16) {
        self.master
            .resize(PtySize {
                rows,
                cols,
                pixel_width: 0,
                pixel_height: 0,
            })
            .unwrap();
    }

    /// Waits for the client process to end; returns whether it succeeded.
    pub fn wait_exit(&mut self) -> bool {
        let mut status = None;
        wait_until("the client to exit", || {
            status = self.child.try_wait().unwrap();
            status.is_some()
        });
        status.unwrap().success()
    }
}

impl Drop for PtyClient {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

/// Pairs `joiner` into the mesh of `host` through the CLI, as a user would.
pub fn pair(host: &TestNode, joiner: &TestNode) {
    let (code, addr) = pairing_code(host);
    let out = joiner.ok(&["join", &code, &addr]);
    assert!(out.contains("joined the mesh"), "{out}");
}

/// Opens a pairing window on `host`; returns its code and first address.
pub fn pairing_code(host: &TestNode) -> (String, String) {
    let out = host.ok(&["pair"]);
    let code = out
        .lines()
        .find_map(|l| l.strip_prefix("pairing code: "))
        .and_then(|l| l.split_whitespace().next())
        .unwrap()
        .to_string();
    let addr = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("roam join "))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap()
        .to_string();
    (code, addr)
}
