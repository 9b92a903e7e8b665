//! `roam attach`: your terminal, raw, wired to an agent's PTY.
//!
//! Keys go to the agent except the detach key; window size changes follow
//! SIGWINCH. On the way out the terminal is put back as it was, whatever
//! the agent left it in (alternate screen, hidden cursor, colours).
//! [`pump`] is shared with `roam host tmux`, the terminal of an agent on an
//! SSH host.

use std::io::Write;

use anyhow::bail;
use roam_hops::Hop;
use roam_node::api::{Down, Request, Response, Target, Up};
use roam_node::client::{Client, DownStream, UpStream};
use tokio::signal::unix::{SignalKind, signal};

/// Undoes what an agent may have set on the terminal: the alternate
/// screen, margins, origin, insert and keypad modes, mouse and focus
/// reports, bracketed paste, kitty's keyboard flags and modifyOtherKeys,
/// tab stops (every 8 columns again), charsets, attributes, a hidden or
/// reshaped cursor. The cursor stays where the main screen had it: saved
/// first, since resetting margins and origin moves it. Restoring it
/// brings back the agent's autowrap, reset after it, and origin mode,
/// which cannot be reset without moving the cursor home; with the margins
/// at the full screen it addresses as if it were off.
fn restore() -> Vec<u8> {
    let (cols, _) = crossterm::terminal::size().unwrap_or((80, 24));
    let mut bytes = String::from(concat!(
        "\x1b[?1049l\x1b7",
        "\x1b[r\x1b[?6l\x1b[4l\x1b[20l\x1b[?1l\x1b>",
        "\x1b[?9l\x1b[?1000l\x1b[?1002l\x1b[?1003l\x1b[?1004l",
        "\x1b[?1005l\x1b[?1006l\x1b[?1007l\x1b[?1015l\x1b[?2004l",
        "\x1b[=0u\x1b[>4m",
        "\x1b[3g",
    ));
    for col in (8..cols).step_by(8) {
        bytes.push_str(&format!("\x1b[{}G\x1bH", col + 1));
    }
    bytes.push_str("\x1b8\x1b[?7h\x1b(B\x1b)B\x0f\x1b[0m\x1b[?25h\x1b[0 q\r\n");
    bytes.into_bytes()
}

pub async fn run(client: Client, target_text: &str, detach: u8) -> anyhow::Result<()> {
    let (cols, rows) = crossterm::terminal::size().unwrap_or((80, 24));
    let request = Request::Attach {
        target: Target::parse(target_text),
        rows,
        cols,
        resume: None,
    };
    let (down, up) = open(client, request).await?;
    let outcome = {
        let _raw = RawMode::enable_if_tty()?;
        let outcome = pump(down, up, Some(detach)).await?;
        let mut stdout = std::io::stdout();
        stdout.write_all(&restore())?;
        stdout.flush()?;
        outcome
    };
    let message = match outcome {
        Outcome::Detached => format!("detached from {target_text}"),
        Outcome::EndOfInput => format!("detached from {target_text} (end of input)"),
        Outcome::Exited(code) => format!("agent exited with code {code}"),
        Outcome::Closed(reason) => reason,
        Outcome::Lost => "connection to the node lost".to_string(),
    };
    eprintln!("[roam] {message}");
    Ok(())
}

/// Sends a terminal request and returns the stream once it is granted.
pub async fn open(mut client: Client, request: Request) -> anyhow::Result<(DownStream, UpStream)> {
    match client.request(request).await? {
        Response::Streaming => Ok(client.into_stream()),
        other => bail!("unexpected answer: {other:?}"),
    }
}

/// How a terminal session ended.
pub enum Outcome {
    Detached,
    EndOfInput,
    Exited(i32),
    Closed(String),
    Lost,
}

/// Moves stdin to the node and the node's output to stdout until one side
/// ends. `detach` is the key that leaves (none for a helper process).
pub async fn pump(
    mut down: DownStream,
    mut up: UpStream,
    detach: Option<u8>,
) -> anyhow::Result<Outcome> {
    let mut keys = crate::keyboard::Keyboard::open();
    let mut winch = signal(SignalKind::window_change())?;
    let mut stdout = std::io::stdout();
    loop {
        tokio::select! {
            frame = down.recv() => match frame? {
                Some(Down::Output(bytes)) => {
                    roam_hops::mark(Hop::CliEchoRead);
                    stdout.write_all(&bytes)?;
                    stdout.flush()?;
                    roam_hops::mark(Hop::CliEchoWritten);
                }
                Some(Down::Exited { code }) => return Ok(Outcome::Exited(code)),
                Some(Down::Closed { reason }) => return Ok(Outcome::Closed(reason)),
                Some(Down::InputAck { .. }) => {}
                None => return Ok(Outcome::Lost),
            },
            key = keys.next() => match key {
                Some(bytes) => match detach.and_then(|d| bytes.iter().position(|b| *b == d)) {
                    Some(at) => {
                        if at > 0 {
                            up.send(&Up::Input(bytes[..at].to_vec())).await?;
                        }
                        up.send(&Up::Detach).await?;
                        return Ok(Outcome::Detached);
                    }
                    None => {
                        up.send(&Up::Input(bytes)).await?;
                        roam_hops::mark(Hop::CliKeySent);
                    }
                },
                None => {
                    up.send(&Up::Detach).await?;
                    return Ok(Outcome::EndOfInput);
                }
            },
            _ = winch.recv() => {
                if let Ok((cols, rows)) = crossterm::terminal::size() {
                    up.send(&Up::Resize { rows, cols }).await?;
                }
            }
        }
    }
}

/// Raw mode for as long as this lives, restored even on error.
pub struct RawMode(bool);

impl RawMode {
    pub fn enable_if_tty() -> anyhow::Result<RawMode> {
        let tty = crossterm::tty::IsTty::is_tty(&std::io::stdin());
        if tty {
            crossterm::terminal::enable_raw_mode()?;
        }
        Ok(RawMode(tty))
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if self.0 {
            let _ = crossterm::terminal::disable_raw_mode();
        }
    }
}
