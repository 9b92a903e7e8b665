//! In-band markers on a reattaching terminal's output: a host terminal
//! tells its Pty actor which bytes are tmux's repaint of the screen (for
//! the screen and viewers, not the scrollback, which has them already) and
//! which are the history missed while the link was down (for the
//! scrollback only, once what was seen is cut off).
//!
//! They are private OSC sequences, which a terminal that meets one ignores.
//! Only a Pty actor whose spec says its terminal reattaches looks for them;
//! there, no agent can print one, since tmux passes no unknown OSC on and
//! `capture-pane -e` prints only colours. On a host without tmux the
//! agent's raw output passes: one that prints a marker can keep its own
//! output out of the scrollback for at most a block's bound (`BLOCK_MAX`),
//! never out of the screen, and can reach nothing else.

use crate::scan::Scanner;

/// What a marker says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Marker {
    RepaintBegin,
    RepaintEnd,
    MissedBegin,
    MissedEnd,
    /// A host without tmux replays the end of the agent's log instead:
    /// for the screen and viewers, and what of it is new for the scrollback.
    ReplayBegin,
    ReplayEnd,
}

/// The markers, as the scanner looks for them.
pub const TABLE: &[(&[u8], Marker)] = &[
    (b"\x1b]5379;roam-repaint-begin\x07", Marker::RepaintBegin),
    (b"\x1b]5379;roam-repaint-end\x07", Marker::RepaintEnd),
    (b"\x1b]5379;roam-missed-begin\x07", Marker::MissedBegin),
    (b"\x1b]5379;roam-missed-end\x07", Marker::MissedEnd),
    (b"\x1b]5379;roam-replay-begin\x07", Marker::ReplayBegin),
    (b"\x1b]5379;roam-replay-end\x07", Marker::ReplayEnd),
];

impl Marker {
    pub fn bytes(self) -> &'static [u8] {
        TABLE
            .iter()
            .find(|(_, m)| *m == self)
            .map_or(b"", |(bytes, _)| bytes)
    }
}

/// Finds the markers in a terminal's output.
pub fn scanner() -> Scanner<Marker> {
    Scanner::new(TABLE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_marker_has_its_bytes() {
        for (bytes, marker) in TABLE {
            assert_eq!(marker.bytes(), *bytes);
        }
    }
}
