//! Where a keystroke's time goes: a timestamp at each hop of the terminal
//! path (the CLI, the node, the holder), so a benchmark can say which hop
//! costs what. The clock is `CLOCK_MONOTONIC`, one clock for every process
//! on the machine, so hops in different processes line up.
//!
//! Off unless `ROAM_HOPS_DIR` names a directory when the process starts
//! (the benchmark sets it for its nodes, whose holders inherit it, and for
//! its `roam attach`): then each process appends `HOP NANOS` lines to
//! `DIR/PID.hops`, one write per hop. Off, a hop costs one load.
//!
//! Hand-written rather than through `tracing`: a span's cost and the
//! subscriber's formatting would be most of what is measured.

use std::fs::File;
use std::io::Write;
use std::sync::{Mutex, OnceLock};

pub const DIR: &str = "ROAM_HOPS_DIR";

/// The hops, in the order a keystroke and its echo pass them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Hop {
    /// `roam attach` read the key from its terminal.
    CliKeyRead = 1,
    /// It wrote the key's frame to the node's socket.
    CliKeySent,
    /// The node read the frame off the connection.
    NodeKeyRead,
    /// The attach task had it and handed it to the terminal's writer.
    NodeKeyTaken,
    /// The node wrote it to the holder's socket.
    NodeKeySent,
    /// The holder read the frame.
    HolderKeyRead,
    /// The holder wrote the key to the agent's terminal.
    HolderKeyWritten,
    /// The holder read the echo from the terminal.
    HolderEchoRead,
    /// The holder wrote the echo's frame to the node.
    HolderEchoSent,
    /// The node read the echo's frame.
    NodeEchoRead,
    /// The Pty actor took it and sent it to the viewers.
    NodeEchoShown,
    /// The attach task wrote it to the viewer's connection.
    NodeEchoSent,
    /// `roam attach` read the echo's frame.
    CliEchoRead,
    /// It wrote the echo to its terminal.
    CliEchoWritten,
}

impl Hop {
    pub const ALL: [Hop; 14] = [
        Hop::CliKeyRead,
        Hop::CliKeySent,
        Hop::NodeKeyRead,
        Hop::NodeKeyTaken,
        Hop::NodeKeySent,
        Hop::HolderKeyRead,
        Hop::HolderKeyWritten,
        Hop::HolderEchoRead,
        Hop::HolderEchoSent,
        Hop::NodeEchoRead,
        Hop::NodeEchoShown,
        Hop::NodeEchoSent,
        Hop::CliEchoRead,
        Hop::CliEchoWritten,
    ];

    pub fn from_id(id: u8) -> Option<Hop> {
        Hop::ALL.iter().copied().find(|h| *h as u8 == id)
    }
}

fn sink() -> Option<&'static Mutex<File>> {
    static SINK: OnceLock<Option<Mutex<File>>> = OnceLock::new();
    SINK.get_or_init(|| {
        let dir = std::env::var_os(DIR).filter(|d| !d.is_empty())?;
        let path = std::path::Path::new(&dir).join(format!("{}.hops", std::process::id()));
        File::options()
            .create(true)
            .append(true)
            .open(path)
            .ok()
            .map(Mutex::new)
    })
    .as_ref()
}

/// Nanoseconds on `CLOCK_MONOTONIC`.
pub fn now_ns() -> u64 {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
        .map(|t| t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64)
        .unwrap_or(0)
}

/// Notes that the terminal path passed `hop` now, if asked to.
pub fn mark(hop: Hop) {
    if let Some(file) = sink() {
        let line = format!("{} {}\n", hop as u8, now_ns());
        let mut file = file
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let _ = file.write_all(line.as_bytes());
    }
}
