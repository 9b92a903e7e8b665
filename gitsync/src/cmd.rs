//! Running the `git` executable and turning its exit status into [`GitError`]s.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Instant;

use crate::{GitError, Result};

/// Environment variables that make git look at a different repository than the
/// one we point it at. They leak in when the daemon is itself started from a git
/// hook or an IDE terminal, so they are always cleared.
pub(crate) const LOCATION_ENV: &[&str] = &[
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_COMMON_DIR",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_NAMESPACE",
    "GIT_PREFIX",
];

/// One git invocation, built up argument by argument.
pub(crate) struct Git {
    cmd: Command,
    /// Human-readable `git <args>` (without `-C <dir>`) for error messages.
    display: String,
}

impl Git {
    /// Starts a `git -C <dir>` command.
    pub(crate) fn new(dir: &Path) -> Git {
        let mut cmd = Command::new("git");
        cmd.arg("-C").arg(dir);
        for var in LOCATION_ENV {
            cmd.env_remove(var);
        }
        cmd.env("LC_ALL", "C") // error text we match on must not be translated
            .env("GIT_TERMINAL_PROMPT", "0") // never block a daemon on a credential prompt
            .env("GIT_OPTIONAL_LOCKS", "0") // `status` must not rewrite the user's index
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        Git {
            cmd,
            display: "git".to_owned(),
        }
    }

    pub(crate) fn arg(mut self, arg: impl AsRef<OsStr>) -> Git {
        let arg = arg.as_ref();
        let shown = arg.to_string_lossy();
        self.display.push(' ');
        if shown.is_empty() || shown.contains(char::is_whitespace) {
            self.display.push_str(&format!("{shown:?}"));
        } else {
            self.display.push_str(&shown);
        }
        self.cmd.arg(arg);
        self
    }

    pub(crate) fn args<I, S>(mut self, args: I) -> Git
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        for a in args {
            self = self.arg(a);
        }
        self
    }

    pub(crate) fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Git {
        self.cmd.env(key, value);
        self
    }

    pub(crate) fn envs(mut self, vars: &[(OsString, OsString)]) -> Git {
        self.cmd.envs(vars.iter().map(|(k, v)| (k, v)));
        self
    }

    /// The command line as shown in errors.
    pub(crate) fn display(&self) -> &str {
        &self.display
    }

    /// Runs git and returns its output whatever the exit status; for callers
    /// that give meaning to specific non-zero exit codes.
    pub(crate) fn output(mut self) -> Result<(Output, String)> {
        let started = Instant::now();
        let out = self
            .cmd
            .output()
            .map_err(|source| GitError::Spawn { source })?;
        tracing::debug!(
            command = %self.display,
            status = ?out.status.code(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "git"
        );
        Ok((out, self.display))
    }

    /// Runs git, requiring success, and returns raw stdout.
    pub(crate) fn run_bytes(self) -> Result<Vec<u8>> {
        let (out, display) = self.output()?;
        if out.status.success() {
            Ok(out.stdout)
        } else {
            Err(failed(display, &out))
        }
    }

    /// Runs git, requiring success, and returns stdout with surrounding whitespace trimmed.
    pub(crate) fn run(self) -> Result<String> {
        let bytes = self.run_bytes()?;
        Ok(String::from_utf8_lossy(&bytes).trim().to_owned())
    }
}

/// Builds the error for a git run that exited unsuccessfully.
pub(crate) fn failed(command: String, out: &Output) -> GitError {
    let mut stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
    if stderr.is_empty() {
        stderr = match out.status.code() {
            Some(code) => format!("exited with status {code}"),
            None => "killed by a signal".to_owned(),
        };
    }
    GitError::GitFailed { command, stderr }
}

/// Turns bytes git printed for a path back into a path without lossy UTF-8
/// conversion, so repositories under non-UTF-8 directories still work.
#[cfg(unix)]
pub(crate) fn bytes_to_path(bytes: &[u8]) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    PathBuf::from(OsStr::from_bytes(bytes))
}

#[cfg(not(unix))]
pub(crate) fn bytes_to_path(bytes: &[u8]) -> PathBuf {
    PathBuf::from(String::from_utf8_lossy(bytes).into_owned())
}

/// Canonicalizes a path git reported, mapping failure to [`GitError::Io`].
pub(crate) fn canonical(path: &Path) -> Result<PathBuf> {
    std::fs::canonicalize(path).map_err(|source| GitError::Io {
        path: path.to_owned(),
        source,
    })
}
