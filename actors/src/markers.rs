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

/// What a marker says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Marker {
    RepaintBegin,
    RepaintEnd,
    MissedBegin,
    MissedEnd,
}

const ALL: [Marker; 4] = [
    Marker::RepaintBegin,
    Marker::RepaintEnd,
    Marker::MissedBegin,
    Marker::MissedEnd,
];

impl Marker {
    pub fn bytes(self) -> &'static [u8] {
        match self {
            Marker::RepaintBegin => b"\x1b]5379;roam-repaint-begin\x07",
            Marker::RepaintEnd => b"\x1b]5379;roam-repaint-end\x07",
            Marker::MissedBegin => b"\x1b]5379;roam-missed-begin\x07",
            Marker::MissedEnd => b"\x1b]5379;roam-missed-end\x07",
        }
    }
}

/// A piece of the output stream.
#[derive(Debug, PartialEq, Eq)]
pub enum Piece {
    Bytes(Vec<u8>),
    Marker(Marker),
}

/// Finds markers in a stream that arrives in reads of any size: a marker
/// cut between two reads is held until the rest comes.
#[derive(Default)]
pub struct Splitter {
    held: Vec<u8>,
}

impl Splitter {
    pub fn split(&mut self, bytes: &[u8]) -> Vec<Piece> {
        let mut data = std::mem::take(&mut self.held);
        data.extend_from_slice(bytes);
        let mut pieces = Vec::new();
        let mut plain = 0; // start of the bytes not yet handed out
        let mut i = 0;
        while let Some(at) = data[i..].iter().position(|&b| b == 0x1b) {
            let at = i + at;
            let rest = &data[at..];
            if let Some(marker) = ALL.into_iter().find(|m| rest.starts_with(m.bytes())) {
                let len = marker.bytes().len();
                if plain < at {
                    pieces.push(Piece::Bytes(data[plain..at].to_vec()));
                }
                pieces.push(Piece::Marker(marker));
                i = at + len;
                plain = i;
                continue;
            }
            if ALL.iter().any(|m| m.bytes().starts_with(rest)) {
                // The end of this read may be the start of a marker.
                self.held = rest.to_vec();
                data.truncate(at);
                break;
            }
            i = at + 1;
        }
        if plain < data.len() {
            pieces.push(Piece::Bytes(data[plain..].to_vec()));
        }
        pieces
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn joined(pieces: &[Piece]) -> (Vec<u8>, Vec<Marker>) {
        let mut bytes = Vec::new();
        let mut markers = Vec::new();
        for p in pieces {
            match p {
                Piece::Bytes(b) => bytes.extend_from_slice(b),
                Piece::Marker(m) => markers.push(*m),
            }
        }
        (bytes, markers)
    }

    #[test]
    fn a_marker_split_across_reads_is_found_and_other_escapes_pass() {
        let mut stream = b"a\x1b[1mb".to_vec();
        stream.extend_from_slice(Marker::RepaintBegin.bytes());
        stream.extend_from_slice(b"screen\x1b]0;title\x07");
        stream.extend_from_slice(Marker::RepaintEnd.bytes());
        stream.extend_from_slice(b"\x1b");
        for cut in 1..stream.len() {
            let mut s = Splitter::default();
            let mut pieces = s.split(&stream[..cut]);
            pieces.extend(s.split(&stream[cut..]));
            let (bytes, markers) = joined(&pieces);
            assert_eq!(
                markers,
                [Marker::RepaintBegin, Marker::RepaintEnd],
                "cut at {cut}"
            );
            assert_eq!(bytes, b"a\x1b[1mbscreen\x1b]0;title\x07", "cut at {cut}");
            // A lone escape at the end may start a marker: held for the next read.
            assert_eq!(s.held, b"\x1b");
        }
    }

    #[test]
    fn garbage_never_panics_and_loses_no_byte() {
        let mut s = Splitter::default();
        let junk: Vec<u8> = (0..4096u32)
            .map(|i| (i.wrapping_mul(2654435761) % 251) as u8)
            .collect();
        let mut out = Vec::new();
        for chunk in junk.chunks(7) {
            out.extend(joined(&s.split(chunk)).0);
        }
        out.extend(s.held.clone());
        assert_eq!(out, junk);
    }
}
