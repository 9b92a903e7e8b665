//! `roam attach`: your terminal, raw, wired to an agent's PTY.
//!
//! Keys go to the agent except the detach key; window size changes follow
//! SIGWINCH. On the way out the terminal is put back as it was, whatever
//! the agent left it in (alternate screen, hidden cursor, colours).

use std::io::{Read, Write};

use anyhow::bail;
use roam_node::api::{Down, Request, Response, Target, Up};
use roam_node::client::Client;
use tokio::signal::unix::{SignalKind, signal};

/// Leaves the alternate screen, shows the cursor, resets attributes.
const RESTORE: &[u8] = b"\x1b[?1049l\x1b[?25h\x1b[0m\r\n";

pub async fn run(mut client: Client, target_text: &str, detach: u8) -> anyhow::Result<()> {
    let tty = crossterm::tty::IsTty::is_tty(&std::io::stdin());
    let (cols, rows) = crossterm::terminal::size().unwrap_or((80, 24));
    let target = Target::parse(target_text);
    match client
        .request(Request::Attach {
            target,
            rows,
            cols,
            resume: None,
        })
        .await?
    {
        Response::Streaming => {}
        other => bail!("unexpected answer to attach: {other:?}"),
    }
    let (mut down, mut up) = client.into_stream();
    let _raw = if tty { Some(RawMode::enable()?) } else { None };

    // Reading stdin blocks, so it has its own thread.
    let (keys_tx, mut keys) = tokio::sync::mpsc::channel::<Vec<u8>>(64);
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        let mut buf = [0u8; 4096];
        while let Ok(n) = stdin.read(&mut buf) {
            if n == 0 || keys_tx.blocking_send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let mut winch = signal(SignalKind::window_change())?;
    let mut stdout = std::io::stdout().lock();
    let outcome = loop {
        tokio::select! {
            frame = down.recv() => match frame? {
                Some(Down::Output(bytes)) => {
                    stdout.write_all(&bytes)?;
                    stdout.flush()?;
                }
                Some(Down::Exited { code }) => break format!("agent exited with code {code}"),
                Some(Down::Closed { reason }) => break reason,
                Some(Down::InputAck { .. }) => {}
                None => break "connection to the node lost".to_string(),
            },
            key = keys.recv() => match key {
                Some(bytes) => match bytes.iter().position(|b| *b == detach) {
                    Some(at) => {
                        if at > 0 {
                            up.send(&Up::Input(bytes[..at].to_vec())).await?;
                        }
                        up.send(&Up::Detach).await?;
                        break format!("detached from {target_text}");
                    }
                    None => up.send(&Up::Input(bytes)).await?,
                },
                None => {
                    up.send(&Up::Detach).await?;
                    break format!("detached from {target_text} (end of input)");
                }
            },
            _ = winch.recv() => {
                if let Ok((cols, rows)) = crossterm::terminal::size() {
                    up.send(&Up::Resize { rows, cols }).await?;
                }
            }
        }
    };
    stdout.write_all(RESTORE)?;
    stdout.flush()?;
    drop(_raw);
    eprintln!("[roam] {outcome}");
    Ok(())
}

/// Raw mode for as long as this lives, restored even on error.
struct RawMode;

impl RawMode {
    fn enable() -> anyhow::Result<RawMode> {
        crossterm::terminal::enable_raw_mode()?;
        Ok(RawMode)
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = crossterm::terminal::disable_raw_mode();
    }
}
