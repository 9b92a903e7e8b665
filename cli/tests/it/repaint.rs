//! A full-screen program seen through `roam attach` against the same
//! program run directly, both in tmux (an emulator that is not Roam's):
//! a viewer that attaches late, or reattaches, is painted from the node's
//! screen model, and must then show and hold what the direct run does —
//! the live output after it lands on that state.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::harness::{ROAM, TestNode, WAIT, stderr};

/// Three phases, each waiting for a line: the state a repaint must carry
/// (custom tab stops, a wrap pending at the last column, margins, origin
/// mode, both screens, saved cursors, charsets, insert and input modes),
/// then output that depends on all of it. Only what xterm and tmux read
/// alike: no DECRC on a screen that has not saved a cursor since the
/// other one did (xterm keeps a saved cursor per screen, tmux one), and
/// origin mode off when leaving the alternate screen (xterm restores it
/// with the cursor, tmux does not).
const PROGRAM: &str = r#"stty -echo
printf '\033[1;31mred\033[0m plain \033[4munder\033[24m 漢字 end\r\n'
printf '\033[3g\033[1;5H\033H\033[1;13H\033H\033[1;30H\033H'
printf '\033[2;1Ha\tb\tc\td'
printf '\033[3;80HW'
printf '\033[4;7H\033[32mgreen\033[0m\033[4;7H'
printf '\033[?1049h\033[2J\033[H\033[7malt screen\033[0m'
printf '\033[2;3H\033[33m\0337\033[0m'
printf '\033[5;12r\033[?6h'
printf '\033[1;1Hregion top\033[8;1Hregion bottom\n\nscrolled twice'
printf '\033(0lqqk\033(B \033)0\016xx\017 \033(0'
printf '\033[?1h\033=\033[?1002h\033[?1006h\033[4h'
printf '\033[3;80HZ'
read line
printf 'Qqqq\tT\n\n\n\n\n\nlow\033[1;1Horigin\0338R'
printf '\033[?6l\033(B\033[?1049lM\tN\033[r\033[20;1Hphase two'
printf '\033[6;2H\033[35m\0337\033[0m\033)0\016qq\033[24;80HE'
read line
printf 'X\017\tP\0338S\033[22;1Hphase three'
read line
"#;

/// Ends the tmux server when the test does, however it ends.
struct Tmux {
    socket: String,
    conf: std::path::PathBuf,
}

impl Tmux {
    fn start(dir: &Path) -> Tmux {
        let conf = dir.join("tmux.conf");
        std::fs::write(&conf, "set -g status off\nset -g remain-on-exit on\n").unwrap();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        Tmux {
            socket: format!("roam-repaint-{}-{nanos}", std::process::id()),
            conf,
        }
    }

    fn run(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .arg("-f")
            .arg(&self.conf)
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "tmux {args:?}: {}", stderr(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn window(&self, name: &str, command: &str) {
        self.run(&[
            "new-session",
            "-d",
            "-s",
            name,
            "-x",
            "80",
            "-y",
            "24",
            command,
        ]);
    }

    /// Both screens with their colours, the cursor and every mode tmux
    /// tracks for a pane.
    fn seen(&self, name: &str) -> Seen {
        let state = self.run(&[
            "display-message",
            "-p",
            "-t",
            name,
            // (tmux keeps the cursor saved on entering the alternate screen
            // after leaving it, where it means nothing.)
            "alt=#{alternate_on} #{?alternate_on,saved=#{alternate_saved_x}#,#{alternate_saved_y},} \
             cursor=#{cursor_flag}@#{cursor_x},#{cursor_y} insert=#{insert_flag} \
             keys=#{keypad_cursor_flag} keypad=#{keypad_flag} \
             mouse=#{mouse_standard_flag}#{mouse_button_flag}#{mouse_any_flag}#{mouse_sgr_flag} \
             origin=#{origin_flag} wrap=#{wrap_flag} \
             region=#{scroll_region_upper}-#{scroll_region_lower} tabs=#{pane_tabs}",
        ]);
        let shown = self.run(&["capture-pane", "-p", "-e", "-t", name]);
        let other = self.run(&["capture-pane", "-p", "-e", "-a", "-q", "-t", name]);
        Seen {
            same: format!("{state}{}{}", cells(&shown), cells(&other)),
            shown: format!("{state}--- shown\n{shown}--- other screen\n{other}"),
        }
    }

    /// Waits for `name` to show what `reference` does; then they must be
    /// the same.
    fn matches(&self, name: &str, reference: &str) {
        let deadline = Instant::now() + WAIT;
        while self.seen(name).same != self.seen(reference).same && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let (viewer, direct) = (self.seen(name), self.seen(reference));
        assert!(
            viewer.same == direct.same,
            "through roam attach:\n{}\n\nrun directly:\n{}",
            viewer.shown.escape_debug(),
            direct.shown.escape_debug()
        );
    }

    fn keys(&self, name: &str, keys: &str) {
        self.run(&["send-keys", "-t", name, keys]);
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .output();
    }
}

struct Seen {
    /// What must be equal: tmux's modes and every cell with its colours.
    same: String,
    /// What a person reads when it is not.
    shown: String,
}

/// Every cell of a captured screen with its colours and attributes, the
/// same however tmux chose to spell them (a blank written or never
/// touched, where an attribute is reset, line drawing as SO and SI).
fn cells(capture: &str) -> String {
    let mut canvas = avt::Terminal::new(80, 25).unwrap();
    canvas.feed("\x1b)0");
    canvas.feed(capture.replace('\n', "\r\n").as_str());
    canvas
        .screen()
        .visible_lines()
        .map(|line| format!("{:?}\n", line.cells()))
        .collect()
}

#[test]
fn a_repaint_shows_and_holds_what_a_direct_run_does() {
    let node = TestNode::new();
    let script = node.user_home.join("paint.sh");
    std::fs::write(&script, PROGRAM).unwrap();
    let mut config = std::fs::read_to_string(node.home.join("config.toml")).unwrap();
    config.push_str(&format!(
        "[profiles.painter]\ncommand = [\"sh\", \"{}\"]\n",
        script.display()
    ));
    std::fs::write(node.home.join("config.toml"), config).unwrap();
    let node = TestNode::start(node);
    node.ok(&["new", "paint", "--agent", "painter"]);
    let deadline = Instant::now() + WAIT;
    while !node.logs("paint").ends_with("\x1b[3;80HZ") {
        assert!(
            Instant::now() < deadline,
            "the program's first phase never ended"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    let tmux = Tmux::start(&node.user_home);
    tmux.window("direct", &format!("sh {}", script.display()));
    let attach = format!(
        "env ROAM_HOME={} HOME={} ROAM_NO_AUTOSTART=1 {ROAM} attach paint; \
         echo detached; exec sleep 3600",
        node.home.display(),
        node.user_home.display()
    );
    // A late viewer: painted from the model, in the alternate screen.
    tmux.window("late", &attach);
    tmux.matches("late", "direct");

    // Output that lands on the painted state.
    tmux.keys("direct", "Enter");
    tmux.keys("late", "Enter");
    tmux.matches("late", "direct");

    // Detaching leaves the viewer's terminal as it found it.
    tmux.keys("late", "C-]");
    let deadline = Instant::now() + WAIT;
    // (The pane lives on: tmux hides a dead pane's cursor.)
    let detached = || {
        tmux.run(&["capture-pane", "-p", "-t", "late"])
            .contains("detached")
    };
    while !detached() {
        assert!(
            Instant::now() < deadline,
            "roam attach did not end on its detach key"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let after = tmux.run(&[
        "display-message",
        "-p",
        "-t",
        "late",
        "#{alternate_on} #{cursor_flag} #{insert_flag} #{keypad_cursor_flag} #{keypad_flag} \
         #{mouse_any_flag}#{mouse_button_flag}#{mouse_sgr_flag} #{origin_flag} \
         #{scroll_region_upper}-#{scroll_region_lower} #{pane_tabs}",
    ]);
    assert_eq!(
        after.trim(),
        "0 1 0 0 0 000 0 0-23 8,16,24,32,40,48,56,64,72",
        "the terminal roam attach leaves"
    );

    // A viewer that reattaches: painted again, now in the main screen.
    tmux.window("again", &attach);
    tmux.matches("again", "direct");
    tmux.keys("direct", "Enter");
    tmux.keys("again", "Enter");
    tmux.matches("again", "direct");
}
