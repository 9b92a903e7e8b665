//! The hidden helpers behind workspaces on SSH hosts. Both talk to the
//! local node, which owns the one pooled SSH connection to each host.
//!
//! - `roam host tmux`: the terminal of an agent on a host. An agent's PTY
//!   on this node runs it; it shows the agent's tmux session and exits with
//!   the agent's exit code, or with [`CONNECTION_LOST`] so the agent
//!   reconnects (the agent keeps running on the host meanwhile).
//! - `roam host pipe`: the transport of `git push` to a host (`ext::`).

use std::io::Write;

use roam_node::api::{Request, Response};
use roam_node::client::Client;
use tokio::io::AsyncWriteExt;

use crate::attach::{self, Outcome, RawMode};

/// Exit code meaning "the connection to the host was lost" (EX_TEMPFAIL):
/// the agent's terminal reconnects instead of reporting an exit.
pub const CONNECTION_LOST: i32 = 75;

pub async fn tmux(client: Client, request: Request) -> i32 {
    let (down, up) = match attach::open(client, request).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("[roam] {e:#}");
            return CONNECTION_LOST;
        }
    };
    let outcome = {
        let _raw = match RawMode::enable_if_tty() {
            Ok(r) => r,
            Err(_) => return CONNECTION_LOST,
        };
        attach::pump(down, up, None).await
    };
    match outcome {
        Ok(Outcome::Exited(code)) => code,
        Ok(Outcome::Detached | Outcome::EndOfInput) => 0,
        Ok(Outcome::Closed(_) | Outcome::Lost) | Err(_) => CONNECTION_LOST,
    }
}

pub async fn pipe(mut client: Client, alias: String, command: String) -> anyhow::Result<()> {
    match client.request(Request::HostPipe { alias, command }).await? {
        Response::Streaming => {}
        other => anyhow::bail!("unexpected answer: {other:?}"),
    }
    let (mut from_node, mut to_node) = client.into_raw();
    let upload = async {
        let mut stdin = tokio::io::stdin();
        tokio::io::copy(&mut stdin, &mut to_node).await?;
        // git closed its end: tell the host the input is over.
        to_node.shutdown().await
    };
    let download = async {
        let mut stdout = tokio::io::stdout();
        tokio::io::copy(&mut from_node, &mut stdout).await?;
        stdout.flush().await
    };
    let (up, down) = tokio::join!(upload, download);
    down?;
    up?;
    std::io::stdout().flush()?;
    Ok(())
}
