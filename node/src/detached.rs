//! Agents on hosts without tmux: detached with standard tools instead.
//!
//! The agent runs under `setsid` (so it outlives the connection) inside
//! `script`, which gives it a terminal and appends everything it prints to
//! a log; a FIFO carries its input. Compared with tmux: the terminal size
//! is fixed at start (no resize), and a terminal that reconnects gets the
//! last 64 KiB of the log replayed rather than the screen repainted (of
//! which the scrollback keeps only what it never had: `markers`).
//! Everything lives in `~/.roam/run/SESSION/` on the host: `pid`, `in`,
//! `out`, and `exit` (the agent's exit code, once it ended).

use roam_actors::markers::Marker;
use roam_mesh::ssh::{SshError, SshPool};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::api::{Down, ErrorKind, HostTerminal, Response, Up};
use crate::conn;
use crate::error::HasKind;
use crate::remote::{HOST_DIR, legacy_session, quote, quote_argv, send_block};

/// Why a viewer could not be given the agent's terminal.
#[derive(Debug, thiserror::Error)]
enum AttachError {
    #[error("{source}")]
    Ssh {
        #[from]
        source: SshError,
    },
    #[error("cannot start the agent on {alias}: {stderr}")]
    Start { alias: String, stderr: String },
}

impl HasKind for AttachError {
    fn kind(&self) -> ErrorKind {
        match self {
            AttachError::Ssh { source } => crate::hosts::ssh_kind(source),
            AttachError::Start { .. } => ErrorKind::Internal,
        }
    }
}

/// How much of the log a (re)attaching viewer is shown first.
const REPLAY_BYTES: u32 = 64 * 1024;

fn run_dir(session: &str) -> String {
    format!("{HOST_DIR}/run/{}", quote(session))
}

/// The agent's directory as it is: under its session name, or (started
/// before the upgrade) under its old name when only that one is there and
/// the agent runs, or ended unwatched.
async fn upgraded(pool: &SshPool, mut spec: HostTerminal) -> HostTerminal {
    let Some(old) = legacy_session(&spec.session) else {
        return spec;
    };
    let probe = format!(
        "n={new}; o={old_dir}\n\
         if [ ! -e \"$n\" ] && [ -f \"$o/pid\" ]; then \
           if kill -0 \"$(cat \"$o/pid\")\" 2>/dev/null || [ {unwatched} = 1 ]; then echo old; fi; \
         fi",
        new = run_dir(&spec.session),
        old_dir = run_dir(&old),
        unwatched = u8::from(!spec.create),
    );
    if let Ok(out) = pool.exec(&spec.alias, &probe).await
        && out.stdout_text().trim() == "old"
    {
        spec.session = old;
    }
    spec
}

/// Starts the agent unless it runs; a dead one's directory is replaced.
fn ensure_script(spec: &HostTerminal) -> String {
    let command = quote_argv(&spec.argv);
    let d = run_dir(&spec.session);
    // The shell opens the FIFO read-write, so the agent never sees the end
    // of its input when a writer (a viewer) goes away.
    let inner =
        r#"exec 3<>"$0/in"; script -qfec "$1" /dev/null <&3 >>"$0/out" 2>&1; echo $? > "$0/exit""#;
    // One step a line: `a && b &` would put the whole chain in the
    // background, racing the pid file.
    format!(
        "d={d}\n\
         if [ -f \"$d/pid\" ] && kill -0 \"$(cat \"$d/pid\")\" 2>/dev/null; then exit 0; fi\n\
         rm -rf \"$d\" && mkdir -p \"$d\" && mkfifo \"$d/in\" && : > \"$d/out\" || exit 1\n\
         cd {cwd} || exit 1\n\
         COLUMNS={cols} LINES={rows} setsid sh -c {inner} \"$d\" {command} </dev/null >/dev/null 2>&1 &\n\
         echo $! > \"$d/pid\"\n",
        cwd = quote(&spec.cwd),
        cols = spec.cols,
        rows = spec.rows,
        inner = quote(inner),
        command = quote(&command),
    )
}

/// `running`, `exit CODE`, or `gone`.
async fn state(pool: &SshPool, spec: &HostTerminal) -> Option<String> {
    let d = run_dir(&spec.session);
    let probe = format!(
        "d={d}; if [ -f \"$d/pid\" ] && kill -0 \"$(cat \"$d/pid\")\" 2>/dev/null; then echo running; \
         elif [ -f \"$d/exit\" ]; then echo \"exit $(cat \"$d/exit\")\"; else echo gone; fi"
    );
    let out = pool.exec(&spec.alias, &probe).await.ok()?;
    Some(out.stdout_text().trim().to_string())
}

fn outcome(state: Option<String>) -> Down {
    match state.as_deref() {
        Some("running") | None => Down::Closed {
            reason: "connection to the host lost".into(),
        },
        Some(s) => Down::Exited {
            code: s
                .strip_prefix("exit ")
                .and_then(|c| c.trim().parse().ok())
                .unwrap_or(-1),
        },
    }
}

/// The log's size and its last `REPLAY_BYTES` up to that size, read at one
/// moment, so the live output can go on from exactly there. None if the
/// answer makes no sense (the output then starts with the plain replay).
async fn log_end(pool: &SshPool, alias: &str, d: &str) -> Result<Option<(u64, Vec<u8>)>, SshError> {
    let n = REPLAY_BYTES;
    let script = format!(
        "d={d}; s=$(wc -c < \"$d/out\") && echo \"$s\" && \
         tail -c +$(( s > {n} ? s - {n} + 1 : 1 )) \"$d/out\" | head -c $(( s > {n} ? {n} : s ))"
    );
    let out = pool.exec(alias, &script).await?;
    let Some(newline) = out.stdout.iter().position(|&b| b == b'\n') else {
        return Ok(None);
    };
    let size = std::str::from_utf8(&out.stdout[..newline])
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok());
    let bytes = out.stdout[newline + 1..].to_vec();
    Ok(size
        .filter(|_| bytes.len() <= REPLAY_BYTES as usize)
        .map(|s| (s, bytes)))
}

/// Like `remote::tmux_attach`, for a host without tmux.
pub async fn attach<R, W>(pool: &SshPool, spec: HostTerminal, reader: R, writer: &mut W)
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin,
{
    let spec = upgraded(pool, spec).await;
    let d = run_dir(&spec.session);
    let opened = async {
        if spec.create {
            let out = pool.exec(&spec.alias, &ensure_script(&spec)).await?;
            if !out.status.success() {
                return Err(AttachError::Start {
                    alias: spec.alias.clone(),
                    stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
                });
            }
        }
        if state(pool, &spec).await.as_deref() != Some("running") {
            return Ok(None);
        }
        // A reattach gets the log's end as one marked block (only what this
        // node never saw of it goes to the scrollback), then what follows.
        let (replay, from) = match spec.create {
            true => (None, format!("-c {REPLAY_BYTES}")),
            false => match log_end(pool, &spec.alias, &d).await? {
                Some((size, bytes)) => (Some(bytes), format!("-c +{}", size + 1)),
                None => (None, format!("-c {REPLAY_BYTES}")),
            },
        };
        let conn = pool.get(&spec.alias).await?;
        let output = conn
            .open_exec(&format!(
                "d={d}; exec tail {from} -f --pid=\"$(cat \"$d/pid\")\" \"$d/out\""
            ))
            .await?;
        let input = conn.open_exec(&format!("exec cat > {d}/in")).await?;
        Ok(Some((output, input, replay)))
    };
    let (mut output, mut input, replay) = match opened.await {
        Ok(Some(streams)) => streams,
        Ok(None) => {
            let last = outcome(state(pool, &spec).await);
            let _ = conn::send(writer, &Response::Streaming).await;
            let _ = conn::send(writer, &last).await;
            return;
        }
        Err(e) => {
            let failure = Response::Error {
                kind: e.kind(),
                message: e.to_string(),
            };
            let _ = conn::send(writer, &failure).await;
            return;
        }
    };
    if conn::send(writer, &Response::Streaming).await.is_err() {
        return;
    }
    if let Some(replay) = replay
        && send_block(writer, Marker::ReplayBegin, &replay, Marker::ReplayEnd)
            .await
            .is_err()
    {
        return;
    }
    let mut ups = conn::FrameReader::<Up>::spawn(reader, 64);
    let mut buf = vec![0u8; 64 * 1024];
    let viewer_left = loop {
        tokio::select! {
            read = output.read(&mut buf) => match read {
                Ok(0) | Err(_) => break false,
                Ok(n) => {
                    if conn::send(writer, &Down::Output(buf[..n].to_vec())).await.is_err() {
                        break true;
                    }
                }
            },
            up = ups.recv() => match up {
                Some(Up::Input(bytes)) => {
                    if input.write_all(&bytes).await.is_err() || input.flush().await.is_err() {
                        break false;
                    }
                }
                // The agent's terminal size was fixed when it started.
                Some(Up::Resize { .. }) => {}
                Some(Up::Detach) | None => break true,
            },
        }
    };
    drop(ups);
    if !viewer_left {
        let _ = conn::send(writer, &outcome(state(pool, &spec).await)).await;
    }
}

/// Ends the detached agent in `$d` (its whole process group) and forgets
/// it: TERM first (script and the agent may clean up), then KILL whatever
/// is left of the group. A loop body (`continue`).
const END_ONE: &str = "[ -f \"$d/pid\" ] || continue; \
    g=\"$(cat \"$d/pid\")\"; \
    kill -TERM -- -\"$g\" 2>/dev/null; sleep 0.3; kill -KILL -- -\"$g\" 2>/dev/null; \
    rm -rf \"$d\";";

/// Ends the detached agent of exactly this session, or, when it has no
/// directory, the one it had under its name from before the upgrade.
pub fn end_script(session: &str) -> String {
    let pick = match legacy_session(session) {
        Some(old) => format!(
            "d={}; [ -e \"$d\" ] || d={};",
            run_dir(session),
            run_dir(&old)
        ),
        None => format!("d={};", run_dir(session)),
    };
    format!("{pick} for d in \"$d\"; do {END_ONE} done; true")
}

/// Ends every detached agent whose session name starts with `prefix`.
pub fn end_prefixed_script(prefix: &str) -> String {
    format!(
        "for d in {HOST_DIR}/run/{}*; do {END_ONE} done; true",
        quote(prefix)
    )
}
