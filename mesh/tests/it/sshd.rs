//! A private OpenSSH server on a random loopback port, with a home of its own
//! (`.ssh/config`, keys, known_hosts) so the tests never touch the real `~/.ssh`.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use roam_mesh::ssh::SshSettings;

pub struct Sshd {
    pub tmp: tempfile::TempDir,
    child: Child,
    agent: Option<Child>,
    pub port: u16,
    /// A port nothing listens on.
    pub closed_port: u16,
    pub user: String,
}

impl Drop for Sshd {
    fn drop(&mut self) {
        self.kill_sessions();
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(agent) = &mut self.agent {
            let _ = agent.kill();
            let _ = agent.wait();
        }
    }
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn sshd_binary() -> Option<PathBuf> {
    let found = || {
        ["/usr/sbin/sshd", "/usr/bin/sshd"]
            .into_iter()
            .map(PathBuf::from)
            .find(|p| p.exists())
    };
    if let Some(p) = found() {
        return Some(p);
    }
    eprintln!("sshd missing: installing openssh-server");
    let _ = Command::new("apt-get")
        .args(["install", "-y", "-q", "openssh-server"])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status();
    found()
}

fn keygen(path: &Path, passphrase: &str) {
    keygen_typed(path, "ed25519", passphrase);
}

/// A key of `kind` (`ed25519`, `ecdsa`, `rsa`) at `path` and `path.pub`.
fn keygen_typed(path: &Path, kind: &str, passphrase: &str) {
    run(Command::new("ssh-keygen")
        .args(["-q", "-t", kind, "-C", "roam-test", "-N", passphrase, "-f"])
        .arg(path));
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Sshd {
    /// Starts sshd, or returns `None` (with the reason printed) when no sshd
    /// can be had on this machine.
    pub fn start() -> Option<Sshd> {
        let Some(sshd) = sshd_binary() else {
            eprintln!("SKIPPED: no sshd and openssh-server could not be installed");
            return None;
        };
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        let ssh = d.join("home/.ssh");
        std::fs::create_dir_all(&ssh).unwrap();
        keygen(&d.join("host_key"), "");
        // A second host key of another type: the server offers ed25519 unless
        // the client asks for ECDSA first.
        keygen_typed(&d.join("host_key_ecdsa"), "ecdsa", "");
        keygen(&d.join("other_host_key"), "");
        keygen(&ssh.join("id_ed25519"), "");
        keygen(&ssh.join("wrong"), "");
        keygen(&ssh.join("locked"), "secret passphrase");
        let authorized = [ssh.join("id_ed25519.pub"), ssh.join("locked.pub")]
            .iter()
            .map(|p| std::fs::read_to_string(p).unwrap())
            .collect::<String>();
        std::fs::write(d.join("authorized_keys"), authorized).unwrap();

        let port = free_port();
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\nHostKey {d}/host_key_ecdsa\n\
             AuthorizedKeysFile {d}/authorized_keys\nStrictModes no\nPidFile none\nUsePAM no\n\
             PasswordAuthentication no\nKbdInteractiveAuthentication no\n\
             PermitRootLogin prohibit-password\nAllowTcpForwarding yes\nMaxStartups 50\n",
            d = d.display()
        );
        std::fs::write(d.join("sshd_config"), config).unwrap();
        let _ = std::fs::create_dir_all("/run/sshd");
        let child = Command::new(sshd)
            .args(["-D", "-e", "-f"])
            .arg(d.join("sshd_config"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(d.join("sshd.log")).unwrap())
            .spawn()
            .unwrap();
        let user = String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout)
            .unwrap()
            .trim()
            .to_owned();
        let mut me = Sshd {
            tmp,
            child,
            agent: None,
            port,
            closed_port: free_port(),
            user,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = me.child.try_wait() {
                panic!("sshd exited with {status}: {}", me.log());
            }
            assert!(
                Instant::now() < deadline,
                "sshd never listened: {}",
                me.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        me.write_client_config();
        me.trust_host_key();
        Some(me)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.tmp.path().join("sshd.log")).unwrap_or_default()
    }

    pub fn home(&self) -> PathBuf {
        self.tmp.path().join("home")
    }

    pub fn ssh_dir(&self) -> PathBuf {
        self.home().join(".ssh")
    }

    pub fn known_hosts(&self) -> PathBuf {
        self.ssh_dir().join("known_hosts")
    }

    /// A new key of `kind` named `name` in the server's folder, not used by
    /// the server: for `known_hosts_line`.
    pub fn make_key(&self, name: &str, kind: &str) {
        keygen_typed(&self.tmp.path().join(name), kind, "");
    }

    /// `host_key`, `host_key_ecdsa`, `other_host_key` (or a key from
    /// `make_key`) as one `known_hosts` line for this server.
    pub fn known_hosts_line(&self, key: &str) -> String {
        let public = std::fs::read_to_string(self.tmp.path().join(format!("{key}.pub"))).unwrap();
        let mut parts = public.split_whitespace();
        format!(
            "[127.0.0.1]:{} {} {}\n",
            self.port,
            parts.next().unwrap(),
            parts.next().unwrap()
        )
    }

    /// The server key's fingerprint as `ssh-keygen -l` prints it.
    pub fn host_fingerprint(&self) -> String {
        let out = Command::new("ssh-keygen")
            .arg("-lf")
            .arg(self.tmp.path().join("host_key.pub"))
            .output()
            .unwrap();
        String::from_utf8(out.stdout)
            .unwrap()
            .split_whitespace()
            .nth(1)
            .unwrap()
            .to_owned()
    }

    pub fn trust_host_key(&self) {
        std::fs::write(self.known_hosts(), self.known_hosts_line("host_key")).unwrap();
    }

    fn write_client_config(&self) {
        let (port, user, closed) = (self.port, &self.user, self.closed_port);
        let host = |name: &str, extra: &str| {
            format!(
                "Host {name}\n  HostName 127.0.0.1\n  Port {port}\n  User {user}\n  IdentitiesOnly yes\n{extra}"
            )
        };
        let config = [
            host("box", "  IdentityFile ~/.ssh/id_ed25519\n"),
            host("wrongkey", "  IdentityFile ~/.ssh/wrong\n"),
            host("locked", "  IdentityFile ~/.ssh/locked\n"),
            host(
                "viajump",
                "  IdentityFile ~/.ssh/id_ed25519\n  ProxyJump box\n",
            ),
            format!("Host down\n  HostName 127.0.0.1\n  Port {closed}\n  User {user}\n"),
        ]
        .concat();
        std::fs::write(self.ssh_dir().join("config"), config).unwrap();
    }

    /// Settings pointing at this server's home; no agent, no global files.
    pub fn settings(&self) -> SshSettings {
        let mut s = SshSettings::in_home(&self.home(), self.user.clone(), None);
        s.global_known_hosts = Vec::new();
        s.connect_timeout = Duration::from_secs(10);
        s
    }

    /// Starts an ssh-agent holding the passphrase-protected `locked` key
    /// (added through SSH_ASKPASS) and returns its socket.
    pub fn start_agent(&mut self) -> PathBuf {
        let d = self.tmp.path();
        let sock = d.join("agent.sock");
        let agent = Command::new("ssh-agent")
            .arg("-D")
            .arg("-a")
            .arg(&sock)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.agent = Some(agent);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !sock.exists() {
            assert!(Instant::now() < deadline, "ssh-agent never made its socket");
            std::thread::sleep(Duration::from_millis(20));
        }
        let askpass = d.join("askpass");
        std::fs::write(&askpass, "#!/bin/sh\necho 'secret passphrase'\n").unwrap();
        run(Command::new("chmod").arg("755").arg(&askpass));
        run(Command::new("ssh-add")
            .arg(self.ssh_dir().join("locked"))
            .env("SSH_AUTH_SOCK", &sock)
            .env("SSH_ASKPASS", &askpass)
            .env("SSH_ASKPASS_REQUIRE", "force")
            .env("DISPLAY", ":0")
            .stdin(Stdio::null()));
        sock
    }

    /// Kills every per-connection sshd process (the listener stays): the
    /// server side of every open connection drops at once.
    pub fn kill_sessions(&self) {
        let mut pids = Vec::new();
        let mut queue = vec![self.child.id()];
        while let Some(pid) = queue.pop() {
            let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
                .unwrap_or_default();
            for c in children
                .split_whitespace()
                .filter_map(|c| c.parse::<u32>().ok())
            {
                pids.push(c);
                queue.push(c);
            }
        }
        if !pids.is_empty() {
            let _ = Command::new("kill")
                .arg("-9")
                .args(pids.iter().map(u32::to_string))
                .stderr(Stdio::null())
                .status();
        }
    }
}
