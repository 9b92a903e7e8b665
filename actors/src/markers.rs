//! In-band markers on a reattaching terminal's output: a host terminal
//! tells its Pty actor which bytes are tmux's repaint of the screen (for
//! the screen and viewers, not the scrollback, which has them already) and
//! which are the history missed while the link was down (for the
//! scrollback only, once what was seen is cut off).
//!
//! They are private OSC sequences, which a terminal that meets one ignores.
//! Only a Pty actor whose spec says its terminal reattaches looks for them;
//! there, no agent can print one, since tmux passes no unknown OSC on and
//! `capture-pane -e` prints only colours.

use crate::scan::Scanner;

/// What a marker says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Marker {
    RepaintBegin,
    RepaintEnd,
    MissedBegin,
    MissedEnd,
}

/// The markers, as the scanner looks for them.
pub const TABLE: &[(&[u8], Marker)] = &[
    (b"\x1b]5379;roam-repaint-begin\x07", Marker::RepaintBegin),
    (b"\x1b]5379;roam-repaint-end\x07", Marker::RepaintEnd),
    (b"\x1b]5379;roam-missed-begin\x07", Marker::MissedBegin),
    (b"\x1b]5379;roam-missed-end\x07", Marker::MissedEnd),
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
