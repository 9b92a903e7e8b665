//! A private OpenSSH server on a random loopback port: generated host and user
//! keys, key auth only, the current user. The baseline roam is compared with.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result};

use crate::{cmd, wait};

/// How long sshd may take to accept connections.
const START: Duration = Duration::from_secs(10);

pub struct Sshd {
    child: Child,
    dir: PathBuf,
    pub port: u16,
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Sshd {
    /// Generates keys and config in `dir` (which must exist) and starts
    /// `sshd -D -e`; returns once it accepts connections.
    pub fn start(dir: &Path) -> Result<Sshd> {
        Sshd::start_with(dir, "")
    }

    /// Like [`Sshd::start`], with extra `sshd_config` lines (tests use
    /// `SetEnv PATH=...` to make a host without git).
    pub fn start_with(dir: &Path, extra_config: &str) -> Result<Sshd> {
        let sshd = ["/usr/sbin/sshd", "/usr/bin/sshd"]
            .into_iter()
            .map(PathBuf::from)
            .find(|p| p.exists())
            .context("sshd not found: apt-get install openssh-server")?;
        for key in ["host", "user"] {
            cmd::run(
                Command::new("ssh-keygen")
                    .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                    .arg(dir.join(key)),
            )?;
        }
        std::fs::copy(dir.join("user.pub"), dir.join("authorized_keys"))?;
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host\nAuthorizedKeysFile {d}/authorized_keys\n\
             StrictModes no\nPidFile none\nUsePAM no\nPasswordAuthentication no\nPermitRootLogin prohibit-password\n{extra_config}",
            d = dir.display()
        );
        std::fs::write(dir.join("sshd_config"), config)?;
        // Privilege separation directory sshd insists on.
        let _ = std::fs::create_dir_all("/run/sshd");
        let child = Command::new(sshd)
            .args(["-D", "-e", "-f"])
            .arg(dir.join("sshd_config"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("sshd.log"))?)
            .spawn()?;
        // Owned from here: dropped (killed) if it never starts listening.
        let sshd = Sshd {
            child,
            dir: dir.to_owned(),
            port,
        };
        let log = dir.join("sshd.log");
        wait::poll_for(
            &format!("sshd to listen (see {})", log.display()),
            START,
            Duration::from_millis(20),
            || {
                Ok(TcpStream::connect(("127.0.0.1", port))
                    .is_ok()
                    .then_some(()))
            },
        )?;
        Ok(sshd)
    }

    /// The user's private key.
    pub fn key(&self) -> PathBuf {
        self.dir.join("user")
    }

    /// The host's public key line (`ssh-ed25519 AAAA… comment`).
    pub fn host_public_key(&self) -> Result<String> {
        Ok(std::fs::read_to_string(self.dir.join("host.pub"))?)
    }

    /// The listening sshd; the per-connection sshd processes are its children.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Options every ssh client needs here: our key, no host key checks (the
    /// host key is fresh every run), quiet.
    fn client_options(&self) -> Vec<String> {
        vec![
            "-i".into(),
            self.key().display().to_string(),
            "-o".into(),
            "StrictHostKeyChecking=no".into(),
            "-o".into(),
            "UserKnownHostsFile=/dev/null".into(),
            "-o".into(),
            "LogLevel=ERROR".into(),
        ]
    }

    /// The ssh command line (for GIT_SSH_COMMAND / rsync -e) through the
    /// byte-counting relay (`crate::relay`), counting into `count`.
    pub fn ssh_cmd(&self, count: &Path) -> Result<String> {
        let me = std::env::current_exe()?;
        Ok(format!(
            "ssh {} -o ProxyCommand='{} relay 127.0.0.1 {} {}'",
            self.client_options().join(" "),
            me.display(),
            self.port,
            count.display()
        ))
    }

    /// Arguments for an interactive `ssh -tt` running `remote` (a shell
    /// command line) here: a PTY on both ends, no escape character, no user
    /// ssh config, straight to the server (no relay).
    pub fn interactive_args(&self, remote: &str) -> Vec<String> {
        let mut args: Vec<String> = ["-tt", "-e", "none", "-F", "/dev/null", "-p"]
            .map(String::from)
            .into();
        args.push(self.port.to_string());
        args.extend(self.client_options());
        args.push(format!("{}@127.0.0.1", user()));
        args.push(remote.to_owned());
        args
    }
}

/// The account sshd logs us into: whoever runs the bench.
pub fn user() -> String {
    std::env::var("USER")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "root".to_owned())
}

/// A string as one single-quoted POSIX shell word.
pub fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}
