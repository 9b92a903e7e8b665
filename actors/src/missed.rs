//! What a reattaching terminal missed: the host's recent history (tmux's
//! `capture-pane`, colours kept) cut to the lines that came after the
//! screen this node last saw, so each reconnect adds only what is new to
//! the scrollback, never the whole history again.

/// The lines of `captured` after the rows of `known` (the screen this node
/// last had): the earliest place where all known rows match, the last one
/// possibly only begun (the cursor line, still being written then). When
/// the whole screen matches nowhere, the screen without its last row is
/// tried; when that matches nowhere either, every line counts as new: a
/// line twice in the scrollback is better than a line lost.
pub fn unseen<'a>(known: &[String], captured: &'a [String]) -> &'a [String] {
    let plain: Vec<String> = captured.iter().map(|l| strip_colours(l)).collect();
    let known: Vec<&str> = known.iter().map(|r| r.trim_end()).collect();
    let known = trimmed(&known);
    let from = place(known, &plain)
        .or_else(|| {
            known
                .split_last()
                .and_then(|(_, rest)| place(trimmed(rest), &plain))
        })
        .unwrap_or(0);
    &captured[from.min(captured.len())..]
}

/// The part of `replay` (the end of the agent's raw log on a host) after
/// the last bytes this node had (`seen`, a few hundred): found at
/// the earliest place, so a repeat makes a line twice, never a line lost;
/// all of it when the bytes are not there.
pub fn unseen_bytes<'a>(seen: &[u8], replay: &'a [u8]) -> &'a [u8] {
    if seen.is_empty() {
        return replay;
    }
    match replay.windows(seen.len()).position(|w| w == seen) {
        Some(at) => &replay[at + seen.len()..],
        None => replay,
    }
}

/// The new part of a raw replay as scrollback output, framed by notes;
/// empty when nothing was missed.
pub fn framed_bytes(new: &[u8]) -> Vec<u8> {
    if new.iter().all(u8::is_ascii_whitespace) {
        return Vec::new();
    }
    let mut body = new.to_vec();
    body.extend_from_slice(b"\x1b[0m\r\n");
    frame(body)
}

/// Missed output between Roam's notes, on lines of their own.
fn frame(body: Vec<u8>) -> Vec<u8> {
    let mut bytes =
        b"\x1b[0m\r\n\x1b[7m[roam] output while the connection was lost:\x1b[0m\r\n".to_vec();
    bytes.extend(body);
    bytes.extend_from_slice(b"\x1b[7m[roam] end of what was missed\x1b[0m\r\n");
    bytes
}

/// Rows without the empty ones at either end.
fn trimmed<'a, 'b>(rows: &'b [&'a str]) -> &'b [&'a str] {
    let first = rows.iter().position(|r| !r.is_empty());
    let last = rows.iter().rposition(|r| !r.is_empty());
    match (first, last) {
        (Some(a), Some(b)) => &rows[a..=b],
        _ => &[],
    }
}

/// Where the first unseen line of `lines` is, if `known` is there: after
/// the cursor line if it is as it was, at it if it has grown since.
fn place(known: &[&str], lines: &[String]) -> Option<usize> {
    let (last, whole) = known.split_last()?;
    let p = (0..lines.len()).find(|&p| {
        p + known.len() <= lines.len()
            && whole
                .iter()
                .zip(&lines[p..])
                .all(|(k, l)| l.trim_end() == *k)
            && lines[p + whole.len()].starts_with(last)
    })?;
    let cursor = p + whole.len();
    Some(if lines[cursor].trim_end() == *last {
        cursor + 1
    } else {
        cursor
    })
}

/// A line of `capture-pane -e` without its colour sequences (`ESC [ … m`,
/// the only ones it prints), to compare with the screen model's text.
fn strip_colours(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' && chars.peek() == Some(&'[') {
            chars.next();
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

/// The missed lines as scrollback output, framed by notes; empty when
/// nothing was missed.
pub fn framed(lines: &[String]) -> Vec<u8> {
    let end = lines
        .iter()
        .rposition(|l| !strip_colours(l).trim().is_empty())
        .map_or(0, |i| i + 1);
    if end == 0 {
        return Vec::new();
    }
    let mut body = Vec::new();
    for line in &lines[..end] {
        body.extend_from_slice(line.as_bytes());
        body.extend_from_slice(b"\x1b[0m\r\n");
    }
    frame(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(text: &[&str]) -> Vec<String> {
        text.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn only_lines_after_the_seen_screen_are_new() {
        let known = rows(&["line 3", "line 4", "> ", "", ""]);
        let captured = rows(&[
            "line 1",
            "line 2",
            "\x1b[1mline 3\x1b[0m",
            "line 4",
            "> echo hi",
            "hi",
            "> ",
        ]);
        // The prompt line grew: it is new again, as a whole.
        assert_eq!(unseen(&known, &captured), &captured[4..]);
    }

    #[test]
    fn nothing_new_when_the_screen_is_as_it_was() {
        let known = rows(&["a", "b", "> "]);
        let captured = rows(&["x", "a", "b", "> ", "", ""]);
        assert_eq!(framed(unseen(&known, &captured)), b"");
    }

    #[test]
    fn repeated_lines_match_at_the_earliest_place_so_nothing_is_lost() {
        let known = rows(&["spam", "spam"]);
        let captured = rows(&["spam", "spam", "spam", "spam"]);
        assert_eq!(unseen(&known, &captured).len(), 2);
    }

    #[test]
    fn a_rewritten_cursor_line_still_places_the_screen() {
        let known = rows(&["one", "two", "working..."]);
        let captured = rows(&["one", "two", "done", "three"]);
        assert_eq!(unseen(&known, &captured), &captured[2..]);
    }

    #[test]
    fn a_last_row_the_host_does_not_have_is_left_out() {
        // A status line, say, below blank rows.
        let known = rows(&["one", "two", "", "", "[status]"]);
        let captured = rows(&["one", "two", "three"]);
        assert_eq!(unseen(&known, &captured), &captured[2..]);
    }

    #[test]
    fn a_raw_replay_is_cut_after_the_bytes_already_seen() {
        let seen = b"old output\r\nline 1\r\nline 2\r\n";
        let replay = b"line 1\r\nline 2\r\nline 3\r\n";
        // Bytes the replay lacks (a note of Roam's): all of it is new.
        assert_eq!(unseen_bytes(seen, replay), replay);
        let seen = b"line 1\r\nline 2\r\n";
        assert_eq!(unseen_bytes(seen, replay), b"line 3\r\n");
        assert_eq!(unseen_bytes(b"", replay), replay);
        assert_eq!(framed_bytes(unseen_bytes(replay, replay)), b"");
    }

    #[test]
    fn a_screen_found_nowhere_makes_every_line_new() {
        let known = rows(&["gone", "also gone"]);
        let captured = rows(&["a", "b"]);
        assert_eq!(unseen(&known, &captured), &captured[..]);
        assert_eq!(unseen(&[], &captured), &captured[..]);
    }
}
