//! Workspaces on SSH hosts: the repository, the worktree, and the agents'
//! terminals, all over the host's one pooled connection, with nothing of
//! Roam installed there.
//!
//! - The repository goes with git's own negotiation, so only missing
//!   objects travel: a local `git push` whose transport (`ext::`) is
//!   `roam host pipe`, which this node relays onto an exec channel running
//!   `git-receive-pack` into a bare repo under `~/.roam/repos/` on the host.
//! - Agents run in tmux sessions on the host, so they outlive the
//!   connection (a closed laptop lid). A terminal here is a PTY channel
//!   running `tmux attach`; when it drops, the agent's terminal reconnects
//!   and tmux repaints. The agent's exit code is written to a file on the
//!   host, since tmux forgets it.
//! - Snapshots have gitsync's layout on a host too: one POSIX-sh capture
//!   (`capture_script`, for `rm --force` and `snapshot`) and its restore
//!   (`restore_script`), every step failing closed.

use std::time::Duration;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use roam_actors::markers::Marker;
use roam_actors::model::WorkspaceRecord;
use roam_actors::persist::BoxFuture;
use roam_actors::remote::{
    RemoteError, RemoteOps, SavedWork, legacy_session_name, parse_session_name, session_prefix,
};
use roam_gitsync::WorktreeStatus;
use roam_mesh::ssh::{PtySize, SshPool, SshStream};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;

use crate::api::{Down, ErrorKind, HostTerminal, Response, Up};
use crate::conn;
use crate::hosts::Hosts;

mod scripts;
use scripts::{restore_script, save_work_script, snapshot_script};

/// How long `roam ls` waits for git status on a host.
const STATUS_TIMEOUT: Duration = Duration::from_secs(5);

/// Where Roam keeps things on a host, in shell syntax: `$HOME` is the
/// host's (which may differ from the login directory).
pub const HOST_DIR: &str = "\"$HOME\"/.roam";

/// A single-quoted POSIX shell word.
pub fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// A command line whose words no shell will split or expand.
pub fn quote_argv(argv: &[String]) -> String {
    argv.iter().map(|a| quote(a)).collect::<Vec<_>>().join(" ")
}

/// Relays raw bytes between `local` and `command` run on the host (the
/// transport under `git push`). Ends when both sides have closed.
pub async fn pipe<S>(pool: &SshPool, alias: &str, command: &str, mut local: S)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let opened = async { pool.get(alias).await?.open_exec(command).await };
    match opened.await {
        Ok(mut remote) => {
            if conn::send(&mut local, &Response::Streaming).await.is_ok() {
                let _ = tokio::io::copy_bidirectional(&mut local, &mut remote).await;
            }
        }
        Err(e) => {
            let _ = conn::send(
                &mut local,
                &Response::Error {
                    kind: ErrorKind::Unreachable,
                    message: e.to_string(),
                },
            )
            .await;
        }
    }
}

/// Where the agent's exit code is written (shell syntax).
fn exit_file(session: &str) -> String {
    format!("{HOST_DIR}/exit/{}", quote(session))
}

/// A `-t` naming exactly this session. A bare name would also match a
/// session it is a prefix of (or as a pattern) when no session has exactly
/// that name: agent `test`'s ended session would be `test-2`'s.
fn session_target(session: &str) -> String {
    quote(&format!("={session}"))
}

/// A `-t` naming exactly this session's current pane: `=NAME` alone, where a
/// pane is asked for, is looked up as a window name first.
fn pane_target(session: &str) -> String {
    quote(&format!("={session}:"))
}

/// The name an agent's session had before session names were encoded
/// (`roam_WORKSPACE_AGENT`), when it differs: sessions started before the
/// upgrade still run under it.
pub(crate) fn legacy_session(session: &str) -> Option<String> {
    let (workspace, agent) = parse_session_name(session)?;
    Some(legacy_session_name(&workspace, &agent)).filter(|old| old != session)
}

/// Ends the agent's tmux session: exactly its own, or, when there is none,
/// the one it had under its name from before the upgrade.
fn kill_session_script(session: &str) -> String {
    let new = format!(
        "tmux kill-session -t {} 2>/dev/null",
        session_target(session)
    );
    match legacy_session(session) {
        Some(old) => format!(
            "{{ {new} || tmux kill-session -t {} 2>/dev/null; }}",
            session_target(&old)
        ),
        None => format!("{{ {new}; }}"),
    }
}

/// The agent's session as it runs: under its name, or (started before the
/// upgrade) under its old name when only that session is there. An agent
/// that ended unwatched under its old name is found by its old exit file.
async fn upgraded(pool: &SshPool, mut spec: HostTerminal) -> HostTerminal {
    let Some(old) = legacy_session(&spec.session) else {
        return spec;
    };
    let probe = format!(
        "if tmux has-session -t {new} 2>/dev/null; then :; \
         elif tmux has-session -t {old_target} 2>/dev/null; then echo old; \
         elif [ {unwatched} = 1 ] && [ ! -e {new_exit} ] && [ -e {old_exit} ]; then echo old; fi",
        new = session_target(&spec.session),
        old_target = session_target(&old),
        unwatched = u8::from(!spec.create),
        new_exit = exit_file(&spec.session),
        old_exit = exit_file(&old),
    );
    if let Ok(out) = pool.exec(&spec.alias, &probe).await
        && out.stdout_text().trim() == "old"
    {
        spec.session = old;
    }
    spec
}

/// Creates the session unless it exists. The agent runs under `sh -c`,
/// which writes its exit code to a file when it ends (tmux itself forgets
/// it); tmux runs a multi-word command directly, so no shell re-parses the
/// agent's arguments. The session shows no status line: this node's
/// terminal is the agent's pane, row for row, which the missed history is
/// matched against.
fn ensure_session_script(spec: &HostTerminal) -> String {
    let argv = quote_argv(&spec.argv);
    let s = quote(&spec.session);
    let target = session_target(&spec.session);
    // `set-option` looks a bare `=NAME` up as a pane and finds none.
    let pane = pane_target(&spec.session);
    let exit = exit_file(&spec.session);
    format!(
        "mkdir -p {HOST_DIR}/exit && \
         if ! tmux has-session -t {target} 2>/dev/null; then \
           rm -f {exit} && \
           tmux new-session -d -s {s} -x {cols} -y {rows} -c {cwd} sh -c {script} {exit} {argv}; \
         fi && \
         {{ tmux set-option -t {pane} status off >/dev/null 2>&1 || true; }}",
        cols = spec.cols,
        rows = spec.rows,
        cwd = quote(&spec.cwd),
        script = quote(r#""$@"; echo $? > "$0""#),
    )
}

/// Serves one agent terminal: makes sure the session runs, attaches, and
/// moves frames until the viewer leaves, the agent exits (`Down::Exited`
/// with its code) or the connection drops (`Down::Closed`, so the caller
/// reconnects).
pub async fn tmux_attach<R, W>(pool: &SshPool, spec: HostTerminal, reader: R, writer: &mut W)
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin,
{
    if !has_tmux(pool, &spec.alias).await {
        return crate::detached::attach(pool, spec, reader, writer).await;
    }
    let spec = upgraded(pool, spec).await;
    if !spec.create && !session_exists(pool, &spec).await {
        let last = session_outcome(pool, &spec).await;
        let _ = conn::send(writer, &Response::Streaming).await;
        let _ = conn::send(writer, &last).await;
        return;
    }
    let attach = async {
        pool.exec(&spec.alias, &ensure_session_script(&spec))
            .await
            .map_err(|e| e.to_string())
            .and_then(|o| match o.status.success() {
                true => Ok(()),
                false => Err(format!(
                    "cannot start the agent on {}: {}",
                    spec.alias,
                    String::from_utf8_lossy(&o.stderr).trim()
                )),
            })?;
        let size = PtySize {
            cols: spec.cols,
            rows: spec.rows,
        };
        let command = format!("tmux attach-session -t {}", session_target(&spec.session));
        pool.get(&spec.alias)
            .await
            .map_err(|e| e.to_string())?
            .open_pty(Some(&command), "xterm-256color", size)
            .await
            .map_err(|e| e.to_string())
    };
    let stream = match attach.await {
        Ok(s) => s,
        Err(message) => {
            let error = Response::Error {
                kind: ErrorKind::Unreachable,
                message,
            };
            let _ = conn::send(writer, &error).await;
            return;
        }
    };
    if conn::send(writer, &Response::Streaming).await.is_err() {
        return;
    }
    let mut ups = conn::FrameReader::<Up>::spawn(reader, 64);
    // Reattaching after a lost link (or a restart of this node): tmux
    // repaints the screen, which the scrollback has, and what scrolled past
    // meanwhile is in none of it.
    let reattach = (!spec.create).then_some((pool, &spec));
    let ended = relay_terminal(stream, &mut ups, writer, reattach).await;
    drop(ups);
    let last = match ended {
        Ended::Viewer => return,
        Ended::Remote => session_outcome(pool, &spec).await,
    };
    let _ = conn::send(writer, &last).await;
}

enum Ended {
    /// The viewer (this node's terminal) left.
    Viewer,
    /// The channel closed: the session ended, or the connection dropped.
    Remote,
}

/// How long tmux's repaint after an attach may go on; it ends sooner, at
/// the first pause in its output.
const REPAINT_MAX: Duration = Duration::from_secs(2);
const REPAINT_PAUSE: Duration = Duration::from_millis(100);

/// Moves output and input until one side ends. On a reattach, tmux's
/// repaint is marked as such and followed by the missed history (see
/// `roam_actors::markers`).
async fn relay_terminal<W: AsyncWrite + Unpin>(
    mut stream: SshStream,
    ups: &mut conn::FrameReader<Up>,
    writer: &mut W,
    reattach: Option<(&SshPool, &HostTerminal)>,
) -> Ended {
    let resizer = stream.resizer();
    let mut buf = vec![0u8; 64 * 1024];
    // While the repaint goes on: when it ends at the latest, and at the
    // pause after the output so far.
    let mut repaint: Option<(Instant, Instant)> = None;
    if reattach.is_some() {
        if send_marker(writer, Marker::RepaintBegin).await.is_err() {
            return Ended::Viewer;
        }
        let now = Instant::now();
        repaint = Some((now + REPAINT_MAX, now + REPAINT_MAX));
    }
    loop {
        let repaint_ends = repaint.map(|(cap, pause)| cap.min(pause));
        tokio::select! {
            read = stream.read(&mut buf) => match read {
                Ok(0) | Err(_) => return Ended::Remote,
                Ok(n) => {
                    if conn::send(writer, &Down::Output(buf[..n].to_vec())).await.is_err() {
                        return Ended::Viewer;
                    }
                    if let Some((_, pause)) = &mut repaint {
                        *pause = Instant::now() + REPAINT_PAUSE;
                    }
                }
            },
            up = ups.recv() => match up {
                Some(Up::Input(bytes)) => {
                    if stream.write_all(&bytes).await.is_err() {
                        return Ended::Remote;
                    }
                }
                Some(Up::Resize { rows, cols }) => {
                    let _ = resizer.resize(cols, rows).await;
                }
                Some(Up::Detach) | None => return Ended::Viewer,
            },
            _ = tokio::time::sleep_until(repaint_ends.unwrap_or_else(Instant::now)), if repaint_ends.is_some() => {
                repaint = None;
                if let Some((pool, spec)) = reattach
                    && send_missed(pool, spec, writer).await.is_err()
                {
                    return Ended::Viewer;
                }
            }
        }
    }
}

async fn send_marker<W: AsyncWrite + Unpin>(writer: &mut W, marker: Marker) -> Result<(), ()> {
    conn::send(writer, &Down::Output(marker.bytes().to_vec()))
        .await
        .map_err(|_| ())
}

/// `bytes` as output between two markers (`roam_actors::markers`).
pub(crate) async fn send_block<W: AsyncWrite + Unpin>(
    writer: &mut W,
    begin: Marker,
    bytes: &[u8],
    end: Marker,
) -> Result<(), ()> {
    send_marker(writer, begin).await?;
    for chunk in bytes.chunks(64 * 1024) {
        conn::send(writer, &Down::Output(chunk.to_vec()))
            .await
            .map_err(|_| ())?;
    }
    send_marker(writer, end).await
}

/// Lines of history captured when reattaching.
const MISSED_LINES: u32 = 500;

/// Ends the repaint and sends the session's recent history with its
/// screen, colours kept, one line per screen row (unjoined, as the node's
/// screen model has them). Taken after the repaint, so nothing written
/// meanwhile falls between; the Pty actor keeps only what it never saw.
async fn send_missed<W: AsyncWrite + Unpin>(
    pool: &SshPool,
    spec: &HostTerminal,
    writer: &mut W,
) -> Result<(), ()> {
    send_marker(writer, Marker::RepaintEnd).await?;
    let capture = format!(
        "tmux capture-pane -p -e -t {} -S -{MISSED_LINES} -E - 2>/dev/null",
        pane_target(&spec.session)
    );
    let history = match pool.exec(&spec.alias, &capture).await {
        Ok(out) => out.stdout,
        Err(e) => {
            tracing::debug!(host = %spec.alias, error = %e, "cannot read the missed history");
            return Ok(());
        }
    };
    send_block(writer, Marker::MissedBegin, &history, Marker::MissedEnd).await
}

/// Lists each pattern in the `info/exclude` of the worktree's repository
/// unless it is there (as `Worktree::exclude` does on this node).
fn exclude_script(path: &str, patterns: &[String]) -> String {
    let adds: String = patterns
        .iter()
        .map(|p| {
            let p = quote(p);
            format!(
                " && {{ grep -qxF -- {p} \"$f\" 2>/dev/null || printf '%s\\n' {p} >> \"$f\"; }}"
            )
        })
        .collect();
    format!(
        "cd {} && f=$(git rev-parse --git-path info/exclude) && \
         mkdir -p \"$(dirname \"$f\")\"{adds}",
        quote(path)
    )
}

/// Whether the host runs tmux (else agents are detached with setsid).
/// Unknown (host unreachable) counts as yes: attaching then fails and the
/// agent's terminal retries.
async fn has_tmux(pool: &SshPool, alias: &str) -> bool {
    match pool
        .exec(alias, "tmux -V >/dev/null 2>&1 && echo yes")
        .await
    {
        Ok(out) => out.stdout_text().trim() == "yes",
        Err(_) => true,
    }
}

async fn session_exists(pool: &SshPool, spec: &HostTerminal) -> bool {
    let probe = format!(
        "tmux has-session -t {} 2>/dev/null && echo yes",
        session_target(&spec.session)
    );
    // Unknown (host unreachable) counts as existing: the caller then fails
    // to attach and retries, rather than declaring the agent dead.
    match pool.exec(&spec.alias, &probe).await {
        Ok(out) => out.stdout_text().trim() == "yes",
        Err(_) => true,
    }
}

/// After the attach ended: the agent's exit code if its session is gone,
/// else the connection was lost.
async fn session_outcome(pool: &SshPool, spec: &HostTerminal) -> Down {
    // The session ends a moment after the code is written; wait for it.
    let probe = format!(
        "for i in 1 2 3 4 5 6 7 8 9 10; do \
           if ! tmux has-session -t {s} 2>/dev/null; then cat {exit} 2>/dev/null || echo gone; exit 0; fi; \
           sleep 0.2; \
         done; echo alive",
        s = session_target(&spec.session),
        exit = exit_file(&spec.session),
    );
    let answer =
        tokio::time::timeout(Duration::from_secs(10), pool.exec(&spec.alias, &probe)).await;
    match answer {
        Ok(Ok(out)) => match out.stdout_text().trim() {
            "alive" => Down::Closed {
                reason: "connection to the host lost".into(),
            },
            "gone" => Down::Exited { code: -1 },
            code => Down::Exited {
                code: code.parse().unwrap_or(-1),
            },
        },
        _ => Down::Closed {
            reason: "connection to the host lost".into(),
        },
    }
}

/// What the actors need of SSH hosts, done over this node's pool.
pub struct HostOps {
    pub hosts: Arc<Hosts>,
    /// `ROAM_HOME` for the `roam host pipe` under `git push`.
    pub data_dir: PathBuf,
    pub roam_exe: PathBuf,
}

impl HostOps {
    async fn run(&self, host: &str, script: &str) -> Result<String, RemoteError> {
        let out =
            self.hosts
                .pool()
                .exec(host, script)
                .await
                .map_err(|e| RemoteError::Unreachable {
                    host: host.to_string(),
                    message: e.to_string(),
                })?;
        if !out.status.success() {
            return Err(failed(
                host,
                format!("on ssh:{host}: {}", last_line(&out.stderr)),
            ));
        }
        Ok(out.stdout_text())
    }

    fn require(&self, host: &str) -> Result<(), RemoteError> {
        self.hosts
            .require(host)
            .map(|_| ())
            .map_err(|e| RemoteError::NotAdded {
                host: host.to_string(),
                message: e.to_string(),
            })
    }

    /// `git push` of `refspec` from `repo` into the host's bare repository,
    /// through `roam host pipe` (so over the pooled connection; git's own
    /// negotiation sends only what the host lacks).
    async fn push(
        &self,
        host: &str,
        repo: &Path,
        repo_dir: &str,
        refspec: &str,
    ) -> Result<(), RemoteError> {
        // `ext::` splits on spaces; `% ` is a literal space.
        let exe = self
            .roam_exe
            .to_string_lossy()
            .replace('%', "%%")
            .replace(' ', "% ");
        let url = format!("ext::{exe} host pipe {host} %S {repo_dir}");
        let mut cmd = std::process::Command::new("git");
        cmd.arg("-C")
            .arg(repo)
            .args([
                "-c",
                "protocol.ext.allow=always",
                "push",
                "--quiet",
                &url,
                refspec,
            ])
            .env("ROAM_HOME", &self.data_dir)
            .env("ROAM_NO_AUTOSTART", "1")
            .env("GIT_TERMINAL_PROMPT", "0");
        let out = tokio::task::spawn_blocking(move || cmd.output())
            .await
            .map_err(|e| failed(host, e.to_string()))?
            .map_err(|e| failed(host, format!("cannot run git: {e}")))?;
        if !out.status.success() {
            return Err(failed(
                host,
                format!(
                    "cannot send the repository to ssh:{host}: {}",
                    last_line(&out.stderr)
                ),
            ));
        }
        Ok(())
    }
}

fn failed(host: &str, message: String) -> RemoteError {
    RemoteError::Failed {
        host: host.to_string(),
        message,
    }
}

/// A capture's `in-progress OPERATION` line, as the refusal it is.
fn refuse_in_progress(host: &str, record: &WorkspaceRecord, out: &str) -> Result<(), RemoteError> {
    match out.lines().find_map(|l| l.strip_prefix("in-progress ")) {
        Some(operation) => Err(RemoteError::Refused {
            host: host.to_string(),
            message: format!(
                "cannot snapshot workspace '{}' on ssh:{host}: a {operation} is in progress; finish or abort it first",
                record.name
            ),
        }),
        None => Ok(()),
    }
}

/// The last non-empty line of a command's stderr: where git and the shell
/// put the reason.
fn last_line(stderr: &[u8]) -> String {
    String::from_utf8_lossy(stderr)
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("failed")
        .to_string()
}

impl RemoteOps for HostOps {
    fn create_worktree<'a>(
        &'a self,
        host: &'a str,
        repo: &'a Path,
        name: &'a str,
        base_oid: &'a str,
    ) -> BoxFuture<'a, Result<String, RemoteError>> {
        Box::pin(async move {
            self.require(host)?;
            let key = {
                let (repo, oid) = (repo.to_path_buf(), base_oid.to_string());
                tokio::task::spawn_blocking(move || roam_gitsync::RepoId::of(&repo, &oid))
                    .await
                    .map_err(|e| failed(host, e.to_string()))?
                    .map_err(|e| failed(host, e.to_string()))?
                    .key
            };
            let repo_dir = format!("{HOST_DIR}/repos/{key}.git");
            let worktree = format!("{HOST_DIR}/worktrees/{name}");
            // Prints the repository's absolute path: git's transport gets it
            // as a plain argument, with no shell to expand `$HOME`.
            let absolute_repo = self
                .run(
                    host,
                    &format!(
                        "mkdir -p {HOST_DIR}/repos {HOST_DIR}/worktrees && \
                         if [ -e {worktree} ]; then echo \"a worktree for {name} is already on the host\" >&2; exit 1; fi && \
                         (test -d {repo_dir} || git init --bare -q {repo_dir}) && cd {repo_dir} && pwd"
                    ),
                )
                .await?;
            self.push(
                host,
                repo,
                absolute_repo.trim(),
                &format!("+{base_oid}:refs/roam/base/{name}"),
            )
            .await?;
            let path = self
                .run(
                    host,
                    &format!(
                        "git -C {repo_dir} worktree add -q -b roam/{name} {worktree} refs/roam/base/{name} && cd {worktree} && pwd"
                    ),
                )
                .await?;
            Ok(path.trim().to_string())
        })
    }

    fn exclude<'a>(
        &'a self,
        host: &'a str,
        path: &'a str,
        patterns: &'a [String],
    ) -> BoxFuture<'a, Result<(), RemoteError>> {
        Box::pin(async move {
            self.require(host)?;
            self.run(host, &exclude_script(path, patterns)).await?;
            Ok(())
        })
    }

    fn status<'a>(
        &'a self,
        host: &'a str,
        record: &'a WorkspaceRecord,
    ) -> BoxFuture<'a, Result<WorktreeStatus, RemoteError>> {
        Box::pin(async move {
            let script = format!(
                "cd {} 2>/dev/null || {{ echo missing; exit 0; }}; \
                 git status --porcelain=v1 --untracked-files=all | wc -l; \
                 git rev-list --left-right --count refs/roam/base/{}...HEAD",
                quote(&record.path),
                record.name
            );
            // A listing must not hang on one unreachable host.
            let out = tokio::time::timeout(STATUS_TIMEOUT, self.run(host, &script))
                .await
                .map_err(|_| RemoteError::Unreachable {
                    host: host.to_string(),
                    message: format!(
                        "ssh:{host} did not answer within {}s",
                        STATUS_TIMEOUT.as_secs()
                    ),
                })??;
            let mut lines = out.lines();
            let first = lines.next().unwrap_or("").trim();
            if first == "missing" {
                return Err(failed(
                    host,
                    format!("worktree {} is missing on ssh:{host}", record.path),
                ));
            }
            let dirty_files = first.parse().unwrap_or(0);
            let mut counts = lines
                .next()
                .unwrap_or("")
                .split_whitespace()
                .map(|n| n.parse().unwrap_or(0));
            let behind = counts.next().unwrap_or(0);
            let ahead = counts.next().unwrap_or(0);
            Ok(WorktreeStatus {
                ahead,
                behind,
                dirty_files,
            })
        })
    }

    fn save_work<'a>(
        &'a self,
        host: &'a str,
        record: &'a WorkspaceRecord,
        force: bool,
        snapshot_ref: &'a str,
    ) -> BoxFuture<'a, Result<SavedWork, RemoteError>> {
        Box::pin(async move {
            let script = save_work_script(record, force, snapshot_ref);
            let out = self.run(host, &script).await?;
            if let Some(rest) = out.lines().find_map(|l| l.strip_prefix("unsaved ")) {
                let mut n = rest
                    .split_whitespace()
                    .map(|v| v.parse::<u32>().unwrap_or(0));
                let (dirty, unmerged) = (n.next().unwrap_or(0), n.next().unwrap_or(0));
                return Ok(SavedWork::Unsaved {
                    dirty,
                    unmerged: unmerged > 0,
                });
            }
            refuse_in_progress(host, record, &out)?;
            Ok(match out.lines().any(|l| l == "snapshot") {
                true => SavedWork::Snapshot,
                false => SavedWork::Clean,
            })
        })
    }

    fn snapshot<'a>(
        &'a self,
        host: &'a str,
        record: &'a WorkspaceRecord,
        snapshot_ref: &'a str,
    ) -> BoxFuture<'a, Result<(), RemoteError>> {
        Box::pin(async move {
            let out = self
                .run(host, &snapshot_script(record, snapshot_ref))
                .await?;
            refuse_in_progress(host, record, &out)?;
            match out.lines().any(|l| l == "snapshot") {
                true => Ok(()),
                false => Err(failed(
                    host,
                    format!(
                        "no snapshot of workspace '{}' was written on ssh:{host}",
                        record.name
                    ),
                )),
            }
        })
    }

    fn restore<'a>(
        &'a self,
        host: &'a str,
        record: &'a WorkspaceRecord,
        snapshot_ref: &'a str,
        path: &'a str,
    ) -> BoxFuture<'a, Result<(), RemoteError>> {
        Box::pin(async move {
            self.require(host)?;
            let out = self
                .run(host, &restore_script(record, snapshot_ref, path))
                .await?;
            let refused = |why: String| RemoteError::Conflict {
                host: host.to_string(),
                message: format!(
                    "cannot restore workspace '{}' on ssh:{host}: {why}",
                    record.name
                ),
            };
            if out.lines().any(|l| l == "exists") {
                return Err(refused(format!("{path} already exists")));
            }
            if let Some(why) = out.lines().find_map(|l| l.strip_prefix("conflict ")) {
                return Err(refused(why.to_string()));
            }
            match out.lines().any(|l| l == "restored") {
                true => Ok(()),
                false => Err(failed(
                    host,
                    format!("workspace '{}' was not restored on ssh:{host}", record.name),
                )),
            }
        })
    }

    fn discard<'a>(
        &'a self,
        host: &'a str,
        record: &'a WorkspaceRecord,
    ) -> BoxFuture<'a, Result<(), RemoteError>> {
        Box::pin(async move {
            let name = &record.name;
            // Each agent's own session first (its old name included, for
            // one started before the upgrade), then any other of exactly
            // this workspace: the prefix ends with a separator no encoded
            // name holds, so `foo`'s never matches `foo_bar`'s.
            let sessions: Vec<String> = record
                .agents
                .iter()
                .map(|a| roam_actors::remote::session_name(name, &a.name))
                .collect();
            let each_agent: String = sessions
                .iter()
                .map(|s| {
                    format!(
                        "{}\n{}\n",
                        kill_session_script(s),
                        crate::detached::end_script(s)
                    )
                })
                .collect();
            let prefix = session_prefix(name);
            let script = format!(
                r#"wt={wt}; common=
if [ -d "$wt" ]; then common=$(cd "$wt" && cd "$(git rev-parse --git-common-dir)" && pwd); fi
{each_agent}prefix={quoted_prefix}
tmux ls -F '#S' 2>/dev/null | while IFS= read -r s; do
  case "$s" in "$prefix"*) tmux kill-session -t "=$s" ;; esac
done
{end_detached}
if [ -n "$common" ]; then
  git -C "$common" worktree remove --force "$wt" || exit 1
  git -C "$common" branch -D roam/{name} >/dev/null 2>&1
  git -C "$common" update-ref -d refs/roam/base/{name} 2>/dev/null
fi
echo removed"#,
                wt = quote(&record.path),
                quoted_prefix = quote(&prefix),
                end_detached = crate::detached::end_prefixed_script(&prefix),
            );
            self.run(host, &script).await.map(|_| ())
        })
    }

    fn end_agent<'a>(&'a self, host: &'a str, session: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let script = format!(
                "{}; {}",
                kill_session_script(session),
                crate::detached::end_script(session)
            );
            let _ = self.run(host, &script).await;
        })
    }

    fn has_program<'a>(
        &'a self,
        host: &'a str,
        program: &'a str,
    ) -> BoxFuture<'a, Result<bool, RemoteError>> {
        Box::pin(async move {
            self.require(host)?;
            let out = self
                .run(
                    host,
                    &format!(
                        "command -v {} >/dev/null 2>&1 && echo yes; true",
                        quote(program)
                    ),
                )
                .await?;
            Ok(out.trim() == "yes")
        })
    }
}
