//! The screen model of one agent's terminal: what it shows, and the bytes
//! that paint it, state and all, on a viewer's terminal.
//!
//! The grid of both screens, tab stops, margins, origin, wrap and insert
//! modes, charsets, saved cursors and a wrap still pending come from `avt`
//! (asciinema's emulator core; its `dump` exists for this very job, late
//! viewers of a live stream). What avt does not keep are the modes that
//! change what the viewer's keyboard and mouse send (keypad, mouse
//! reporting, bracketed paste, focus events) and the cursor's shape; a
//! viewer that missed them would send the agent the wrong bytes, so they
//! are followed here with `vte`.
//!
//! A repaint assumes nothing of the viewer's terminal: it first puts it in
//! the state a terminal starts in, then replays the model's state onto it,
//! so a viewer that attaches late, reattaches or lagged behind then takes
//! the live stream exactly as a terminal that saw it all.
//!
//! Where avt itself differs from a VT100 (found with vttest, menus 1, 2,
//! 3 and 8, every screen repainted and compared with a direct run in
//! tmux): reverse index with origin mode on moves the cursor by the top
//! margin; DECRC does not bring back the character sets; DEC line
//! drawing's `~` is U+22C5 where xterm shows U+00B7. The live stream is
//! not touched by any of them, only a repaint.

use unicode_width::UnicodeWidthChar;

use crate::scan::{Piece, Scanner};

/// DEC private modes that only change what the viewer's terminal sends:
/// mouse reporting and its encodings, focus events, alternate scroll,
/// bracketed paste.
const INPUT_MODES: [u16; 10] = [9, 1000, 1002, 1003, 1004, 1005, 1006, 1007, 1015, 2004];

/// Pushes of kitty's keyboard flags an agent may make before its pops
/// (the kitty spec bounds its stack too).
const KEYBOARD_STACK: usize = 16;

/// A viewer's terminal, whatever a previous view left it in, made as a
/// terminal starts (tab stops follow, as they depend on the width).
const BASELINE: &str = concat!(
    "\x1b[?1049l",                                  // the main screen
    "\x1b[r\x1b[?6l\x1b[?7h\x1b[4l\x1b[20l",        // margins, origin, wrap, insert, newline
    "\x1b[?1l\x1b>",                                // cursor keys and keypad
    "\x1b[?9l\x1b[?1000l\x1b[?1002l\x1b[?1003l",    // mouse reports
    "\x1b[?1004l\x1b[?1005l\x1b[?1006l\x1b[?1007l", // focus, encodings, scroll
    "\x1b[?1015l\x1b[?2004l",                       // bracketed paste
    "\x1b[=0u\x1b[>4m",                             // kitty keys, modifyOtherKeys
    "\x1b(B\x1b)B\x0f",                             // charsets
    "\x1b[0m\x1b[?25h\x1b[0 q",                     // pen, cursor shown, its shape
    "\x1b[H\x1b[2J\x1b7",                           // blank, home, saved there
    "\x1b[3g",                                      // no tab stops yet
);

/// DECCOLM, the switch between 80 and 132 columns, which avt ignores. A
/// terminal that does not change its width still does the rest of it
/// (tmux, a VT100): blank screen, margins reset, cursor home.
const COLUMN_MODE: &[(&[u8], ())] = &[(b"\x1b[?3h", ()), (b"\x1b[?3l", ())];
const COLUMN_MODE_EFFECT: &str = "\x1b[r\x1b[H\x1b[2J";

pub struct Screen {
    term: avt::Terminal,
    /// The start of a UTF-8 character that the next read finishes.
    unfinished: Vec<u8>,
    modes: vte::Parser,
    input: InputModes,
    column_mode: Scanner<()>,
}

#[derive(Default)]
struct InputModes {
    /// Which of `INPUT_MODES` are set.
    set: [bool; INPUT_MODES.len()],
    keypad_application: bool,
    cursor_shape: u16,
    /// kitty's keyboard protocol: the flags pushed, the current last.
    keyboard: Vec<u16>,
    /// xterm's modifyOtherKeys level.
    modify_other_keys: u16,
}

impl Screen {
    pub fn new(rows: u16, cols: u16) -> Screen {
        let (cols, rows) = (usize::from(cols.max(1)), usize::from(rows.max(1)));
        Screen {
            term: terminal(cols, rows),
            unfinished: Vec::new(),
            modes: vte::Parser::new(),
            input: InputModes::default(),
            column_mode: Scanner::new(COLUMN_MODE),
        }
    }

    pub fn process(&mut self, bytes: &[u8]) {
        self.modes.advance(&mut self.input, bytes);
        for piece in self.column_mode.split(bytes) {
            match piece {
                Piece::Bytes(bytes) => self.decode(&bytes),
                Piece::Found(()) => self.term.feed(COLUMN_MODE_EFFECT),
            }
        }
    }

    fn decode(&mut self, bytes: &[u8]) {
        let joined;
        let mut rest = if self.unfinished.is_empty() {
            bytes
        } else {
            let mut start = std::mem::take(&mut self.unfinished);
            start.extend_from_slice(bytes);
            joined = start;
            &joined[..]
        };
        // Invalid bytes show as U+FFFD, as on a terminal in UTF-8.
        loop {
            match std::str::from_utf8(rest) {
                Ok(text) => {
                    feed(&mut self.term, text);
                    return;
                }
                Err(e) => {
                    let (valid, bad) = rest.split_at(e.valid_up_to());
                    if let Ok(text) = std::str::from_utf8(valid) {
                        feed(&mut self.term, text);
                    }
                    match e.error_len() {
                        Some(n) => {
                            self.term.feed('\u{fffd}');
                            rest = &bad[n..];
                        }
                        None => {
                            self.unfinished = bad.to_vec();
                            return;
                        }
                    }
                }
            }
        }
    }

    pub fn resize(&mut self, rows: u16, cols: u16) {
        self.term
            .resize(usize::from(cols.max(1)), usize::from(rows.max(1)));
    }

    /// Rows and columns.
    pub fn size(&self) -> (u16, u16) {
        let (cols, rows) = self.term.size();
        (clamp(rows), clamp(cols))
    }

    /// The cursor's row and column from 0, on the screen (a wrap pending
    /// at the last column reports that column, as terminals do).
    pub fn cursor(&self) -> (u16, u16) {
        let cursor = self.term.cursor();
        let (cols, _) = self.term.size();
        let col = cursor.col.min(cols.saturating_sub(1));
        (clamp(cursor.row), clamp(col))
    }

    /// The rows shown, as text without trailing blanks, except on the
    /// cursor's row, which keeps them up to the cursor (a prompt's "> ").
    pub fn rows(&self) -> Vec<String> {
        let (cursor_row, cursor_col) = self.cursor();
        self.term
            .screen()
            .visible_lines()
            .enumerate()
            .map(|(row, line)| {
                let trimmed = line.text().trim_end().to_string();
                if row != usize::from(cursor_row) {
                    return trimmed;
                }
                let cells = line.cells();
                let upto: String = cells[..usize::from(cursor_col).min(cells.len())]
                    .iter()
                    .filter(|cell| cell.width() > 0)
                    .map(avt::Cell::char)
                    .collect();
                if upto.len() > trimmed.len() {
                    upto
                } else {
                    trimmed
                }
            })
            .collect()
    }

    /// Bytes that make any terminal of this size show this screen and
    /// hold its state, so that the output that follows lands as it did.
    pub fn repaint(&self) -> Vec<u8> {
        let (cols, _) = self.term.size();
        let mut out = String::from(BASELINE);
        for col in (8..cols).step_by(8) {
            out.push_str(&format!("\x1b[{}G\x1bH", col + 1));
        }
        out.push_str("\x1b[H");
        for (mode, set) in INPUT_MODES.iter().zip(self.input.set) {
            if set {
                out.push_str(&format!("\x1b[?{mode}h"));
            }
        }
        if self.input.keypad_application {
            out.push_str("\x1b=");
        }
        if self.input.cursor_shape != 0 {
            out.push_str(&format!("\x1b[{} q", self.input.cursor_shape));
        }
        if let Some(&flags) = self.input.keyboard.last().filter(|f| **f != 0) {
            out.push_str(&format!("\x1b[>{flags}u"));
        }
        if self.input.modify_other_keys != 0 {
            out.push_str(&format!("\x1b[>4;{}m", self.input.modify_other_keys));
        }
        // Last: it may end inside a sequence the agent has not finished,
        // or a character.
        out.push_str(&portable(&self.term.dump()));
        let mut out = out.into_bytes();
        out.extend_from_slice(&self.unfinished);
        out.extend_from_slice(self.column_mode.held());
        out
    }
}

/// avt's dump is written for avt (asciinema's player replays it); a few of
/// its choices other terminals read differently, so they are spelled here
/// as xterm, tmux and the rest all read them. Escape sequences never land
/// in a cell, so these patterns only ever match the dump's own sequences.
/// - Tab stops: ECMA-48's CTC (`CSI 5 W`, `CSI 0 W`), which xterm and tmux
///   ignore, becomes TBC and HTS.
/// - Saved cursors: xterm keeps one per screen, tmux one for both. The
///   visit to the alternate screen that sets its saved cursor, while the
///   main one shows, moves to the front, so the screen that shows sets
///   its cursor last and tmux keeps that one.
/// - The alternate screen: avt enters it with mode 1047, which saves no
///   cursor, after DECSC. A program that leaves with 1049 gets back the
///   cursor 1049 saved on entry, which tmux keeps apart from DECSC's, so
///   the repaint enters with 1049 from the saved cursor itself (xterm's
///   1049 saves into the slot DECSC filled, with the same value).
/// - SCORC becomes DECRC (the same thing where both exist).
/// - 8-bit controls (an unfinished sequence, a prompt marker) become their
///   7-bit forms: a terminal reading UTF-8 takes U+009B as a character.
fn portable(dump: &str) -> String {
    const ENTER: &str = "\x1b[?1047h";
    const LEAVE: &str = "\x1b[?1047l";
    let mut dump = dump.to_string();
    if let (Some(start), Some(end)) = (dump.find(ENTER), dump.find(LEAVE))
        && start < end
    {
        let visit: String = dump.drain(start..end + LEAVE.len()).collect();
        dump.insert_str(0, &format!("{visit}\x1b[H"));
    }
    let dump = dump
        .replace("\x1b[5W", "\x1b[3g")
        .replace("\x1b[0W", "\x1bH")
        .replace(ENTER, "\x1b8\x1b[?1049h\x1b[0m\x1b[?6l\x1b[?7h")
        .replace("\x1b[u", "\x1b8");
    dump.chars()
        .flat_map(|c| match u8::try_from(u32::from(c)) {
            Ok(c1 @ 0x80..=0x9f) => ['\x1b', char::from(c1 - 0x40)].into_iter().take(2),
            _ => [c, '\0'].into_iter().take(1),
        })
        .collect()
}

impl vte::Perform for InputModes {
    fn csi_dispatch(&mut self, params: &vte::Params, intermediates: &[u8], _: bool, action: char) {
        match (intermediates, action) {
            (b"?", 'h' | 'l') => {
                for param in params.iter() {
                    let Some(&mode) = param.first() else { continue };
                    if let Some(i) = INPUT_MODES.iter().position(|&m| m == mode) {
                        self.set[i] = action == 'h';
                    }
                }
            }
            (b" ", 'q') => self.cursor_shape = first(params).unwrap_or(0),
            (b">", 'u') => {
                if self.keyboard.len() == KEYBOARD_STACK {
                    self.keyboard.remove(0);
                }
                self.keyboard.push(first(params).unwrap_or(0));
            }
            (b"<", 'u') => {
                let pops = usize::from(first(params).unwrap_or(1).max(1));
                let keep = self.keyboard.len().saturating_sub(pops);
                self.keyboard.truncate(keep);
            }
            (b"=", 'u') => {
                let mut values = params.iter().map(|p| p.first().copied().unwrap_or(0));
                let (flags, how) = (values.next().unwrap_or(0), values.next().unwrap_or(1));
                let current = self.keyboard.last().copied().unwrap_or(0);
                let flags = match how {
                    2 => current | flags,
                    3 => current & !flags,
                    _ => flags,
                };
                match self.keyboard.last_mut() {
                    Some(top) => *top = flags,
                    None => self.keyboard.push(flags),
                }
            }
            (b">", 'm') => {
                let mut values = params.iter().map(|p| p.first().copied().unwrap_or(0));
                if values.next() == Some(4) {
                    self.modify_other_keys = values.next().unwrap_or(0);
                }
            }
            _ => {}
        }
    }

    fn esc_dispatch(&mut self, intermediates: &[u8], _: bool, byte: u8) {
        match (intermediates, byte) {
            (b"", b'=') => self.keypad_application = true,
            (b"", b'>') => self.keypad_application = false,
            (b"", b'c') => *self = InputModes::default(),
            _ => {}
        }
    }
}

/// avt gives every character a cell of its own, a combining mark or a
/// variation selector too, where terminals join it to the cell before;
/// such characters are left out of the model so that its columns, and the
/// cursor it reports, stay the viewer's (the live stream still carries
/// them; a repaint shows the base character).
/// DEL, which terminals ignore wherever it comes, avt would print.
fn feed(term: &mut avt::Terminal, text: &str) {
    if text.is_ascii() && !text.contains('\x7f') {
        term.feed(text);
        return;
    }
    let kept: String = text
        .chars()
        .filter(|&c| c != '\x7f' && c.width() != Some(0))
        .collect();
    term.feed(kept.as_str());
}

fn first(params: &vte::Params) -> Option<u16> {
    params.iter().next().and_then(|p| p.first().copied())
}

fn clamp(n: usize) -> u16 {
    u16::try_from(n).unwrap_or(u16::MAX)
}

/// avt refuses only a size of 0, which `Screen::new` never asks for.
fn terminal(cols: usize, rows: usize) -> avt::Terminal {
    match avt::Terminal::new(cols, rows) {
        Ok(term) => term,
        Err(e) => unreachable!("{e}"),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// What a terminal that saw everything shows and holds, and what one
    /// painted from the model does, after the same further output.
    fn same_after(stream: &[&[u8]], then: &[u8]) {
        let mut model = Screen::new(6, 20);
        for piece in stream {
            model.process(piece);
        }
        let mut painted = Screen::new(6, 20);
        painted.process(b"\x1b[?1049h\x1b[5;6r\x1b[?6h\x1b=\x1b[?2004hjunk");
        painted.process(&model.repaint());
        model.process(then);
        painted.process(then);
        assert_eq!(painted.rows(), model.rows());
        assert_eq!(painted.cursor(), model.cursor());
        assert_eq!(painted.repaint(), model.repaint());
    }

    #[test]
    fn a_repaint_carries_tab_stops_margins_origin_and_a_pending_wrap() {
        same_after(
            &[
                b"\x1b[3g\x1b[1;4H\x1bH\x1b[1;11H\x1bH\x1b[Ha\tb\tc",
                b"\x1b[2;5r\x1b[?6h\x1b[4;20HZ",
            ],
            b"W\tx\ty\n\n\n\nend",
        );
    }

    #[test]
    fn a_repaint_carries_both_screens_saved_cursors_and_charsets() {
        same_after(
            &[
                b"main\x1b[3;4H\x1b7\x1b[?1049h\x1b[2;2Halt\x1b(0lqk",
                b"\x1b[5;1H\x1b7\x1b[H",
            ],
            b"qq\x1b8x\x1b[?1049lback\x1b8y",
        );
    }

    #[test]
    fn a_repaint_carries_input_modes_and_an_unfinished_sequence() {
        let mut model = Screen::new(4, 10);
        model.process(b"\x1b[?1002;1006h\x1b[?2004h\x1b=\x1b[5 q\x1b[3");
        let repaint = String::from_utf8(model.repaint()).unwrap();
        for mode in [
            "\x1b[?1002h",
            "\x1b[?1006h",
            "\x1b[?2004h",
            "\x1b=",
            "\x1b[5 q",
        ] {
            assert!(repaint.contains(mode), "{mode:?} in {repaint:?}");
        }
        assert!(repaint.ends_with("\x1b[3"), "{repaint:?}");
        model.process(b"1mred\x1bc");
        let reset = String::from_utf8(model.repaint()).unwrap();
        assert!(
            !reset.contains("\x1b[?1002h") && !reset.contains("\x1b="),
            "{reset:?}"
        );
    }

    #[test]
    fn utf8_cut_between_reads_and_invalid_bytes_land_as_on_a_terminal() {
        let mut screen = Screen::new(2, 10);
        let text = "é漢".as_bytes();
        for byte in text {
            screen.process(std::slice::from_ref(byte));
        }
        screen.process(b"\xff!");
        assert_eq!(screen.rows()[0], "é漢\u{fffd}!");
        assert_eq!(screen.cursor(), (0, 5));
    }

    #[test]
    fn a_repaint_carries_keyboard_protocols_and_a_character_cut_in_two() {
        let mut model = Screen::new(4, 10);
        model.process(b"\x1b[>1u\x1b[>5u\x1b[=2;2u\x1b[>4;2m\x1b[?1007h");
        model.process(&"漢".as_bytes()[..2]);
        let repaint = model.repaint();
        let text = String::from_utf8_lossy(&repaint);
        for sequence in ["\x1b[>7u", "\x1b[>4;2m", "\x1b[?1007h"] {
            assert!(text.contains(sequence), "{sequence:?} in {text:?}");
        }
        assert!(repaint.ends_with(&"漢".as_bytes()[..2]), "{text:?}");
        let mut painted = Screen::new(4, 10);
        painted.process(&repaint);
        painted.process(&"漢".as_bytes()[2..]);
        model.process(&"漢".as_bytes()[2..]);
        assert_eq!(painted.rows(), model.rows());
        model.process(b"\x1b[<2u\x1b[>4m");
        let popped = String::from_utf8(model.repaint()).unwrap();
        assert!(
            !popped.contains("\x1b[>7u") && !popped.contains("\x1b[>4;"),
            "{popped:?}"
        );
    }

    #[test]
    fn del_is_ignored_and_column_mode_blanks_the_screen_as_on_a_vt100() {
        let mut screen = Screen::new(3, 10);
        screen.process(b"ab\x7fc");
        assert_eq!(screen.rows()[0], "abc");
        screen.process(b"\x1b[2;3r\x1b[3;1Hmore\x1b[?3");
        assert!(screen.repaint().ends_with(b"\x1b[?3"));
        screen.process(b"lhome");
        assert_eq!(screen.rows(), ["home", "", ""]);
        screen.process(b"\n\n\nend");
        assert_eq!(
            screen.rows(),
            ["", "", "    end"],
            "margins reset: the screen scrolls"
        );
    }

    #[test]
    fn a_combining_mark_takes_no_column_of_its_own() {
        let mut screen = Screen::new(2, 10);
        screen.process("e\u{301}\u{2714}\u{fe0f}x".as_bytes());
        assert_eq!(screen.rows()[0], "e\u{2714}x");
        assert_eq!(screen.cursor(), (0, 3));
    }

    #[test]
    fn a_repaint_speaks_only_what_xterm_and_tmux_read() {
        let mut model = Screen::new(4, 20);
        model.process(b"\x1b[3g\x1b[1;6H\x1bH\x1b7\x1b[?1049h\x1b]133;A\x07$ \x1b[3");
        let repaint = String::from_utf8(model.repaint()).unwrap();
        assert!(repaint.contains("\x1b[6G\x1bH"), "{repaint:?}");
        assert!(
            repaint.contains("\x1b[?1049h") && !repaint.contains("\x1b[?1047h"),
            "{repaint:?}"
        );
        assert!(
            !repaint.contains("W") && !repaint.contains("\x1b[u"),
            "{repaint:?}"
        );
        assert!(
            !repaint.chars().any(|c| ('\u{80}'..='\u{9f}').contains(&c)),
            "{repaint:?}"
        );
        assert!(repaint.ends_with("\x1b[3"), "{repaint:?}");
    }

    #[test]
    fn the_cursor_row_keeps_its_blanks_up_to_the_cursor() {
        let mut screen = Screen::new(3, 10);
        screen.process(b"done   \r\n> ");
        assert_eq!(screen.rows(), ["done", "> ", ""]);
        assert_eq!(screen.cursor(), (1, 2));
    }
}
