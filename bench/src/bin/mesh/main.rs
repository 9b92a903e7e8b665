//! `cargo run -p roam-bench --bin mesh`: what the mesh costs a user at the
//! keyboard. Two roam nodes on loopback (A hosts the workspaces, B attaches
//! over QUIC) against OpenSSH to the same machine:
//!
//! - keystroke round trip: a letter typed into `roam attach` on B (or `ssh
//!   -tt`) until `cat`'s PTY on the far end echoes it back;
//! - bulk output: the test agent's `spam` read through the same terminals.
//!
//! `roam attach` on A itself is measured too, as the baseline without the
//! network; `tmux attach`, here and through `ssh -tt`, as what a user keeps
//! a terminal alive with otherwise; and the layers under roam's path
//! (`floors`), so the keystroke's time is broken down by layer. Everything
//! runs in a temp dir, removed at the end.

mod floors;
mod hops;
mod latency;
mod load;
mod sessions;
mod setup;
mod summary;

use std::time::Duration;

use anyhow::Context;
use roam_bench::flood::{Flood, Run};
use roam_bench::node::Bins;
use roam_bench::sshd::Sshd;

use sessions::{Session, Tmux};
use setup::{ECHO_WS, FLOOD_WS, READY};
use summary::{Anchors, Loaded, Summary, Way};

/// The flood: 100 000 lines of 100 characters (10.1 MB).
const FLOOD: Flood = Flood {
    lines: 100_000,
    width: 100,
};
const FLOOD_RUNS: usize = 3;

fn main() -> std::process::ExitCode {
    roam_bench::report::finish("mesh-bench", run().map(|summary| summary.render()))
}

fn run() -> anyhow::Result<Summary> {
    let bins = Bins::locate()?;
    // Declared first, so dropped last: nodes and sshd stop before it goes.
    let tmp = tempfile::Builder::new()
        .prefix("roam-bench-mesh-")
        .tempdir()
        .context("cannot make a temp dir")?;
    let root = tmp.path();
    let ssh_dir = root.join("ssh");
    let agent_dir = root.join("ssh-agent");
    std::fs::create_dir_all(&ssh_dir)?;
    std::fs::create_dir_all(&agent_dir)?;

    eprintln!("mesh-bench: starting nodes alpha and bravo, pairing");
    let mesh = setup::start(&bins, root)?;
    let sshd = Sshd::start(&ssh_dir)?;

    eprintln!(
        "mesh-bench: keystroke echo x{} (after {} warm-up) each way",
        latency::SAMPLES,
        latency::WARMUP
    );
    let keys_remote = keystrokes(sessions::attach(&mesh.b, ECHO_WS, READY, root)?)?;
    let keys_local = keystrokes(sessions::attach(&mesh.a, ECHO_WS, READY, root)?)?;
    let keys_ssh = keystrokes(sessions::ssh(
        &sshd,
        &sessions::ssh_cat(READY),
        READY,
        root,
    )?)?;
    let tmux = Tmux::start(root, READY)?;
    let keys_tmux = keystrokes(sessions::tmux(&tmux, None, READY, root)?)?;
    let keys_ssh_tmux = keystrokes(sessions::tmux(&tmux, Some(&sshd), READY, root)?)?;
    drop(tmux);
    let keys_pty = latency::keystrokes(&mut floors::pty_cat(READY, root)?)?;
    let keys_holder = latency::keystrokes(&mut floors::held_cat(&bins, READY, root)?)?;
    eprintln!("mesh-bench: keystroke echo hop by hop, on a node of its own");
    let hops = hops::measure(&bins, root, &mesh.repo, READY)?;

    eprintln!(
        "mesh-bench: output flood ({}) x{FLOOD_RUNS} each way",
        FLOOD.instruction()
    );
    let flood_remote = flood(sessions::attach(&mesh.b, FLOOD_WS, "> ", root)?)?;
    let flood_local = flood(sessions::attach(&mesh.a, FLOOD_WS, "> ", root)?)?;
    let remote = sessions::ssh_agent(&bins.agent, &agent_dir)?;
    let flood_ssh = flood(sessions::ssh(&sshd, &remote, "> ", root)?)?;

    eprintln!(
        "mesh-bench: keystroke echo again with {} agents on A printing a line every {} ms each",
        load::LOAD_AGENTS,
        load::LOAD_EVERY_MS
    );
    load::start(&mesh.a, &mesh.repo)?;
    let loaded_local = keystrokes(sessions::attach(&mesh.a, ECHO_WS, READY, root)?)?;
    let loaded_remote = keystrokes(sessions::attach(&mesh.b, ECHO_WS, READY, root)?)?;

    drop(sshd);
    drop(mesh);
    Ok(Summary {
        flood: FLOOD,
        remote: Way {
            keys: keys_remote,
            runs: flood_remote,
        },
        ssh: Way {
            keys: keys_ssh,
            runs: flood_ssh,
        },
        local: Way {
            keys: keys_local,
            runs: flood_local,
        },
        anchors: Anchors {
            tmux: keys_tmux,
            ssh_tmux: keys_ssh_tmux,
            pty: keys_pty,
            holder: keys_holder,
        },
        hops,
        loaded: Loaded {
            local: loaded_local,
            remote: loaded_remote,
        },
    })
}

/// Keystroke samples through a settled session, which is then closed.
fn keystrokes(mut session: Session) -> anyhow::Result<Vec<Duration>> {
    let samples = latency::keystrokes(&mut session.term)?;
    session.close()?;
    Ok(samples)
}

/// Floods typed into a session settled at the agent's prompt, which is then closed.
fn flood(mut session: Session) -> anyhow::Result<Vec<Run>> {
    let runs = FLOOD.measure_typed(&mut session.term, FLOOD_RUNS)?;
    session.close()?;
    Ok(runs)
}
