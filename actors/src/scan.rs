//! Finds fixed escape sequences in a terminal's output, which arrives in
//! reads of any size: a sequence cut between two reads is held until the
//! rest comes, and every other byte passes through in order.
//!
//! Hand-written: vte and avt parse whole streams into actions, but
//! neither hands back the bytes around a sequence untouched, which is what
//! the scrollback and the viewers must get.

/// A piece of the stream: bytes to pass on, or a sequence from the table.
#[derive(Debug, PartialEq, Eq)]
pub enum Piece<T> {
    Bytes(Vec<u8>),
    Found(T),
}

pub struct Scanner<T: Copy + 'static> {
    table: &'static [(&'static [u8], T)],
    held: Vec<u8>,
}

impl<T: Copy + 'static> Scanner<T> {
    /// Every sequence of `table` starts with ESC.
    pub fn new(table: &'static [(&'static [u8], T)]) -> Scanner<T> {
        Scanner {
            table,
            held: Vec::new(),
        }
    }

    pub fn split(&mut self, bytes: &[u8]) -> Vec<Piece<T>> {
        // Most output holds no escape at all: one copy, no scan.
        if self.held.is_empty() && !bytes.contains(&0x1b) {
            return vec![Piece::Bytes(bytes.to_vec())];
        }
        let mut data = std::mem::take(&mut self.held);
        data.extend_from_slice(bytes);
        let mut pieces = Vec::new();
        let mut plain = 0; // start of the bytes not yet handed out
        let mut i = 0;
        while let Some(at) = data[i..].iter().position(|&b| b == 0x1b) {
            let at = i + at;
            let rest = &data[at..];
            if let Some((seq, found)) = self.table.iter().find(|(seq, _)| rest.starts_with(seq)) {
                if plain < at {
                    pieces.push(Piece::Bytes(data[plain..at].to_vec()));
                }
                pieces.push(Piece::Found(*found));
                i = at + seq.len();
                plain = i;
                continue;
            }
            if self.table.iter().any(|(seq, _)| seq.starts_with(rest)) {
                // The end of this read may be the start of a sequence.
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

    /// What is held back, waiting for the rest of a sequence.
    pub fn held(&self) -> &[u8] {
        &self.held
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &[(&[u8], u8)] = &[(b"\x1b]9;one\x07", 1), (b"\x1b[6n", 2)];

    fn joined(pieces: Vec<Piece<u8>>) -> (Vec<u8>, Vec<u8>) {
        let mut bytes = Vec::new();
        let mut found = Vec::new();
        for p in pieces {
            match p {
                Piece::Bytes(b) => bytes.extend(b),
                Piece::Found(f) => found.push(f),
            }
        }
        (bytes, found)
    }

    #[test]
    fn a_sequence_split_across_reads_is_found_and_other_escapes_pass() {
        let stream = b"a\x1b[1mb\x1b]9;one\x07screen\x1b]0;title\x07\x1b[6n\x1b";
        for cut in 1..stream.len() {
            let mut s = Scanner::new(TABLE);
            let mut pieces = s.split(&stream[..cut]);
            pieces.extend(s.split(&stream[cut..]));
            let (bytes, found) = joined(pieces);
            assert_eq!(found, [1, 2], "cut at {cut}");
            assert_eq!(bytes, b"a\x1b[1mbscreen\x1b]0;title\x07", "cut at {cut}");
            // A lone escape at the end may start a sequence: held.
            assert_eq!(s.held(), b"\x1b");
        }
    }

    #[test]
    fn garbage_never_panics_and_loses_no_byte() {
        let mut s = Scanner::new(TABLE);
        let junk: Vec<u8> = (0..4096u32)
            .map(|i| (i.wrapping_mul(2654435761) % 251) as u8)
            .collect();
        let mut out = Vec::new();
        for chunk in junk.chunks(7) {
            out.extend(joined(s.split(chunk)).0);
        }
        out.extend_from_slice(s.held());
        assert_eq!(out, junk);
    }
}
