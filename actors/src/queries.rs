//! Terminal queries an agent sends to find out about its terminal —
//! where the cursor is, what kind of terminal it is, whether it is well —
//! answered by the Pty actor from its screen model, as tmux answers its
//! panes. They are answered once whether or not anyone watches, and taken
//! out of what viewers and the scrollback get, so a viewer's terminal (or
//! the one `roam logs` prints to) never answers a second time.
//!
//! Only queries with one right answer are here; others (colours, sizes in
//! pixels) pass through to the viewers as before.

use crate::scan::Scanner;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Query {
    /// DSR 6: where is the cursor?
    CursorPosition,
    /// DSR 5: are you well?
    Status,
    /// DA1: what are you?
    PrimaryAttributes,
    /// DA2: which terminal and version?
    SecondaryAttributes,
}

const TABLE: &[(&[u8], Query)] = &[
    (b"\x1b[6n", Query::CursorPosition),
    (b"\x1b[5n", Query::Status),
    (b"\x1b[c", Query::PrimaryAttributes),
    (b"\x1b[0c", Query::PrimaryAttributes),
    (b"\x1b[>c", Query::SecondaryAttributes),
    (b"\x1b[>0c", Query::SecondaryAttributes),
];

/// Finds the queries in an agent's output.
pub fn scanner() -> Scanner<Query> {
    Scanner::new(TABLE)
}

impl Query {
    /// What a terminal says back, given its cursor (row, column; from 0).
    pub fn answer(self, cursor: (u16, u16)) -> Vec<u8> {
        match self {
            Query::CursorPosition => {
                let (row, col) = cursor;
                format!("\x1b[{};{}R", u32::from(row) + 1, u32::from(col) + 1).into_bytes()
            }
            Query::Status => b"\x1b[0n".to_vec(),
            // A VT100 with advanced video, as tmux says of itself.
            Query::PrimaryAttributes => b"\x1b[?1;2c".to_vec(),
            // A VT220-class terminal; no version to claim.
            Query::SecondaryAttributes => b"\x1b[>1;0;0c".to_vec(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::Piece;

    #[test]
    fn queries_are_taken_out_and_answered_from_the_cursor() {
        let mut s = scanner();
        let pieces = s.split(b"hi\x1b[6n\x1b[1mok\x1b[c");
        assert_eq!(
            pieces,
            [
                Piece::Bytes(b"hi".to_vec()),
                Piece::Found(Query::CursorPosition),
                Piece::Bytes(b"\x1b[1mok".to_vec()),
                Piece::Found(Query::PrimaryAttributes),
            ]
        );
        assert_eq!(Query::CursorPosition.answer((0, 2)), b"\x1b[1;3R");
        assert_eq!(
            Query::CursorPosition.answer((u16::MAX, 0)),
            b"\x1b[65536;1R"
        );
    }
}
