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
//! Where avt differs from a VT100 and that matters to a repaint, this
//! module does it right (`Fix`: column mode, reverse index in origin
//! mode, the character sets saved with the cursor; DEL). Found with
//! vttest, menus 1, 2, 3 and 8, every screen repainted and compared with
//! a direct run in tmux. Left: avt draws DEC line drawing's `` ` `` and
//! `~` as U+2666 and U+22C5 where xterm and tmux show U+25C6 and U+00B7.

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

/// Sequences avt gets wrong, found before it sees them and done right
/// here (each at its place in the stream):
/// - DECCOLM, the switch between 80 and 132 columns, which avt ignores.
///   A terminal that does not change its width still does the rest of it
///   (tmux, a VT100): blank screen, margins reset, cursor home.
/// - Reverse index, which avt moves by the top margin too in origin mode:
///   up one as CUU does, and only where that is blocked (at the top
///   margin, or the top row) avt's own, which scrolls or stays.
/// - Saving and restoring the cursor (DECSC, DECRC, and entering and
///   leaving the alternate screen with 1049), which in avt leaves the
///   character sets out: they are kept here and designated again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fix {
    ColumnMode,
    ReverseIndex,
    SaveCursor,
    RestoreCursor,
    EnterAlternate,
    LeaveAlternate,
}

const FIXES: &[(&[u8], Fix)] = &[
    (b"\x1b[?3h", Fix::ColumnMode),
    (b"\x1b[?3l", Fix::ColumnMode),
    (b"\x1bM", Fix::ReverseIndex),
    (b"\x1b7", Fix::SaveCursor),
    (b"\x1b8", Fix::RestoreCursor),
    (b"\x1b[?1049h", Fix::EnterAlternate),
    (b"\x1b[?1049l", Fix::LeaveAlternate),
];

/// The character sets: G0 and G1 as line drawing, and G1 shifted in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Charsets {
    g0_drawing: bool,
    g1_drawing: bool,
    shifted_out: bool,
}

impl Charsets {
    fn designate(self) -> String {
        let set = |drawing| if drawing { '0' } else { 'B' };
        let shift = if self.shifted_out { '\x0e' } else { '\x0f' };
        format!(
            "\x1b({}\x1b){}{shift}",
            set(self.g0_drawing),
            set(self.g1_drawing)
        )
    }
}

pub struct Screen {
    term: avt::Terminal,
    /// The start of a UTF-8 character that the next read finishes.
    unfinished: Vec<u8>,
    modes: vte::Parser,
    input: InputModes,
    fixes: Scanner<Fix>,
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
    charsets: Charsets,
    /// Saved with the cursor, on the main screen and the alternate one.
    saved_charsets: [Charsets; 2],
}

impl Screen {
    pub fn new(rows: u16, cols: u16) -> Screen {
        let (cols, rows) = (usize::from(cols.max(1)), usize::from(rows.max(1)));
        Screen {
            term: terminal(cols, rows),
            unfinished: Vec::new(),
            modes: vte::Parser::new(),
            input: InputModes::default(),
            fixes: Scanner::new(FIXES),
        }
    }

    pub fn process(&mut self, bytes: &[u8]) {
        for piece in self.fixes.split(bytes) {
            match piece {
                Piece::Bytes(bytes) => {
                    self.modes.advance(&mut self.input, &bytes);
                    self.decode(&bytes);
                }
                Piece::Found(fix) => self.fix(fix),
            }
        }
    }

    fn fix(&mut self, fix: Fix) {
        let screen = usize::from(self.term.active_screen_kind() == avt::ScreenKind::Alternate);
        match fix {
            Fix::ColumnMode => self.term.feed("\x1b[r\x1b[H\x1b[2J"),
            Fix::ReverseIndex => {
                let row = self.term.cursor().row;
                self.term.feed("\x1b[A");
                if self.term.cursor().row == row {
                    self.term.feed("\x1bM");
                }
            }
            Fix::SaveCursor => {
                self.term.feed("\x1b7");
                self.input.saved_charsets[screen] = self.input.charsets;
            }
            Fix::RestoreCursor => {
                self.term.feed("\x1b8");
                self.input.charsets = self.input.saved_charsets[screen];
                self.term.feed(self.input.charsets.designate().as_str());
            }
            Fix::EnterAlternate => {
                self.term.feed("\x1b[?1049h");
                self.input.saved_charsets[0] = self.input.charsets;
            }
            Fix::LeaveAlternate => {
                self.term.feed("\x1b[?1049l");
                self.input.charsets = self.input.saved_charsets[0];
                self.term.feed(self.input.charsets.designate().as_str());
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
        out.extend_from_slice(self.fixes.held());
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
/// - REP after a character that is not ASCII (a run of line drawing, of
///   wide characters) becomes the run itself: tmux repeats only ASCII.
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
    let mut out = String::with_capacity(dump.len());
    for c in spell_out_repeats(&dump).chars() {
        match u8::try_from(u32::from(c)) {
            Ok(c1 @ 0x80..=0x9f) => {
                out.push('\x1b');
                out.push(char::from(c1 - 0x40));
            }
            _ => out.push(c),
        }
    }
    out
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
            (b"(", set) => self.charsets.g0_drawing = set == b'0',
            (b")", set) => self.charsets.g1_drawing = set == b'0',
            _ => {}
        }
    }

    fn execute(&mut self, byte: u8) {
        match byte {
            0x0e => self.charsets.shifted_out = true,
            0x0f => self.charsets.shifted_out = false,
            _ => {}
        }
    }
}

/// `CSI n b` after a character that is not ASCII, as that character `n`
/// times.
fn spell_out_repeats(dump: &str) -> String {
    let mut out = String::with_capacity(dump.len());
    let mut rest = dump;
    while let Some(at) = rest.find("\x1b[") {
        out.push_str(&rest[..at]);
        let after = &rest[at + 2..];
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        let last = out.chars().next_back().filter(|c| !c.is_ascii());
        if let (true, Some(b'b'), Some(last)) = (digits > 0, after.as_bytes().get(digits), last) {
            let times: usize = after[..digits].parse().unwrap_or(0);
            out.extend(std::iter::repeat_n(last, times.min(usize::from(u16::MAX))));
            rest = &after[digits + 1..];
        } else {
            out.push_str("\x1b[");
            rest = after;
        }
    }
    out.push_str(rest);
    out
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
    fn reverse_index_in_origin_mode_moves_up_one_row() {
        let mut screen = Screen::new(10, 10);
        // Origin row 3 of a region from screen row 3 is screen row 5.
        screen.process(b"\x1b[3;8r\x1b[?6h\x1b[3HX\x1bMY");
        let rows = screen.rows();
        assert_eq!(
            (rows[4].as_str(), rows[3].as_str()),
            ("X", " Y"),
            "{rows:?}"
        );
        // At the region's top, reverse index scrolls the region down.
        screen.process(b"\x1b[HZ\x1bM\x1bMW");
        let rows = screen.rows();
        assert_eq!(rows[2..7], [" W", "", "Z", " Y", "X"], "{rows:?}");
    }

    #[test]
    fn restoring_the_cursor_brings_back_its_character_sets() {
        let mut screen = Screen::new(3, 20);
        screen.process(b"\x1b(0\x1b7\x1b(Bq\x1b8q\x1b[?1049h\x1b(Bq\x1b[?1049lq");
        assert_eq!(screen.rows()[0], "──", "{:?}", screen.rows());
        screen.process(b"\x1b[2H\x1b(Bq");
        assert_eq!(screen.rows()[1], "q");
    }

    #[test]
    fn a_run_of_line_drawing_is_spelled_out_for_tmux() {
        let mut model = Screen::new(2, 20);
        model.process(b"\x1b(0qqqqqqqqqq\x1b(Bxxxxxxxxxx");
        let repaint = String::from_utf8(model.repaint()).unwrap();
        assert!(repaint.contains(&"─".repeat(10)), "{repaint:?}");
        assert_eq!(spell_out_repeats("a\x1b[3b\x1b[1m"), "a\x1b[3b\x1b[1m");
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
