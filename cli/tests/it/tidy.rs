//! ARCHITECTURE.md's structural invariants, checked by reading the source
//! tree: which crate may depend on what, which module may call which, who
//! prints, what the wire types are made of. Each test is named after the
//! invariant it checks, and fails naming the file and line that broke it.
//! No node runs here.

mod request_path;
mod source;

use std::collections::BTreeSet;

use source::*;

// ---- crate boundaries ----

#[test]
fn actors_never_imports_libp2p() {
    let p2p = forbidden_deps("roam-actors", |d| {
        d.starts_with("libp2p") || d == "roam-mesh" || d == "roam-node"
    });
    assert!(p2p.is_empty(), "roam-actors depends on {p2p:?}");
    let named = mentions("actors/src", &["libp2p", "roam_mesh", "roam_node"]);
    assert!(named.is_empty(), "{named:#?}");
}

#[test]
fn gitsync_knows_nothing_of_actors_or_libp2p() {
    let deps = forbidden_deps("roam-gitsync", |d| {
        d.starts_with("libp2p") || d.starts_with("roam-") || d == "ractor"
    });
    assert!(deps.is_empty(), "roam-gitsync depends on {deps:?}");
    let named = mentions(
        "gitsync/src",
        &["libp2p", "ractor", "roam_actors", "roam_node", "roam_mesh"],
    );
    assert!(named.is_empty(), "{named:#?}");
}

#[test]
fn mesh_knows_nothing_of_git_or_workspaces() {
    let deps = forbidden_deps("roam-mesh", |d| {
        d.starts_with("roam-") || d == "git2" || d.starts_with("gix") || d == "libgit2-sys"
    });
    assert!(deps.is_empty(), "roam-mesh depends on {deps:?}");
    let mut found = Vec::new();
    for (file, src) in rust_files("mesh/src") {
        let text = code(&src);
        for (at, token) in text.split(|c: char| !is_ident(c)).scan(0, |pos, t| {
            let at = *pos;
            *pos += t.len() + 1;
            Some((at, t))
        }) {
            let t = token.to_lowercase();
            if t.contains("workspace") || t.contains("worktree") || t == "git" {
                found.push(format!("{file}:{}: {token}", line_of(&text, at)));
            }
        }
        for (line, text) in literals(&src) {
            if text.split_whitespace().next() == Some("git") {
                found.push(format!("{file}:{line}: runs \"{text}\""));
            }
        }
    }
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn only_the_cli_prints() {
    let mut found = Vec::new();
    for krate in LIBRARIES {
        for (file, src) in rust_files(&format!("{krate}/src")) {
            let text = code_without_tests(&src);
            for what in [
                "print!",
                "println!",
                "eprint!",
                "eprintln!",
                "dbg!",
                "io::stdout",
                "io::stderr",
            ] {
                for at in word_at(&text, what) {
                    found.push(format!("{file}:{}: {what}", line_of(&text, at)));
                }
            }
        }
    }
    assert!(found.is_empty(), "{found:#?}");
    // The check reads what it should: the CLI does print.
    assert!(word_at(&code(&read("cli/src/main.rs")), "println!").len() > 1);
}

/// Caught the per-second scrollback persist (a rewrite with `sync_data`),
/// the per-second session-folder scan, `remove_dir_all` and PATH scans
/// running on the async threads that serve every request.
#[test]
fn blocking_filesystem_work_stays_off_the_async_threads() {
    let blocking = [
        "sync_data",
        "remove_dir_all",
        "read_dir",
        "find_program",
        "newest_session",
        "Scrollback::read",
        "end_left_over",
    ];
    let mut found = Vec::new();
    let mut checked = 0;
    for file in [
        "actors/src/agent.rs",
        "actors/src/pty.rs",
        "actors/src/node.rs",
        "actors/src/workspace.rs",
        "actors/src/site/local.rs",
        "actors/src/scrollback.rs",
        "node/src/daemon.rs",
    ] {
        let text = code_without_tests(&read(file));
        for what in blocking {
            for at in word_at(&text, what) {
                checked += 1;
                // Inside the closure of a `spawn_blocking(...)` or a thread,
                // or in the scrollback's writer (`FileSide`, whose `run` is
                // a thread's body: checked below).
                let off_thread = inside_spawn(&text, at)
                    || text[..at].rfind("impl FileSide {").is_some_and(|start| {
                        matching_brace(&text, start + "impl FileSide ".len()) > at
                    });
                if !off_thread {
                    found.push(format!("{file}:{}: {what}", line_of(&text, at)));
                }
            }
        }
    }
    let scrollback = code_without_tests(&read("actors/src/scrollback.rs"));
    let runs = word_at(&scrollback, ".run(");
    assert!(!runs.is_empty(), "the scrollback writer's thread is gone");
    for at in runs {
        if !inside_spawn(&scrollback, at) {
            found.push(format!(
                "actors/src/scrollback.rs:{}: FileSide::run outside its thread",
                line_of(&scrollback, at)
            ));
        }
    }
    assert!(
        found.is_empty(),
        "blocking work on an async thread: {found:#?}"
    );
    assert!(
        checked >= 2,
        "the check found too little to check: {checked}"
    );
}

/// Whether `at` is inside the closure of a `spawn_blocking(...)` or of a
/// thread's `.spawn(...)`.
fn inside_spawn(text: &str, at: usize) -> bool {
    ["spawn_blocking(", ".spawn("].iter().any(|call| {
        text[..at].rfind(call).is_some_and(|start| {
            let open = start + call.len() - 1;
            matching_paren(text, open) > at
        })
    })
}

/// A poisoned std mutex still holds whole data (every change to ours is
/// one insert or remove); reading it as "nothing there" would make a node
/// forget holds, windows or verdicts. Taken with `into_inner`.
#[test]
fn a_poisoned_lock_never_reads_as_empty() {
    let mut found = Vec::new();
    for dir in [
        "node/src",
        "actors/src",
        "mesh/src",
        "gitsync/src",
        "cli/src",
    ] {
        for (file, src) in rust_files(dir) {
            let text = code_without_tests(&src);
            for (n, line) in text.lines().enumerate() {
                let quiet = line.contains(".lock().ok()")
                    || (line.contains("if let Ok(") && line.contains(".lock()"))
                    || line.contains(".lock().map(")
                    || line.contains(".lock().unwrap_or_default()");
                if quiet {
                    found.push(format!("{file}:{}: {}", n + 1, line.trim()));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "a poisoned lock read as empty: {found:#?}"
    );
}

#[test]
fn anyhow_only_in_the_cli() {
    for krate in LIBRARIES {
        assert!(
            !direct_deps(krate).contains("anyhow"),
            "{krate}/Cargo.toml names anyhow"
        );
        let named = mentions(&format!("{krate}/src"), &["anyhow"]);
        assert!(named.is_empty(), "{named:#?}");
    }
    assert!(direct_deps("cli").contains("anyhow"));
}

#[test]
fn only_the_binary_installs_a_tracing_subscriber() {
    let installers = ["tracing-subscriber", "tracing-appender"];
    for krate in LIBRARIES {
        let deps = forbidden_deps(&format!("roam-{krate}"), |d| installers.contains(&d));
        assert!(deps.is_empty(), "roam-{krate} depends on {deps:?}");
        let named = mentions(
            &format!("{krate}/src"),
            &[
                "tracing_subscriber",
                "tracing_appender",
                "set_global_default",
            ],
        );
        assert!(named.is_empty(), "{named:#?}");
    }
    assert!(!mentions("cli/src", &["tracing_subscriber"]).is_empty());
}

// ---- errors ----

/// Messages worded like someone else's on purpose: a changed host key
/// gets OpenSSH's own warning, which users know to stop at.
const ERRORS_WORDED_LIKE_OTHERS: [&str; 1] = ["WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED"];

/// A string literal's text as written (up to its closing quote), with
/// line continuations (`\` at the end of a line) joined as Rust does.
fn literal_text(rest: &str) -> String {
    let mut out = String::new();
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => break,
            '\\' if chars.peek() == Some(&'\n') => {
                while chars.peek().is_some_and(|c| c.is_whitespace()) {
                    chars.next();
                }
            }
            '\\' => {
                out.push(c);
                out.extend(chars.next());
            }
            c => out.push(c),
        }
    }
    out
}

#[test]
fn library_errors_are_lowercase_with_no_trailing_period() {
    let mut checked = 0;
    let mut found = Vec::new();
    for krate in LIBRARIES {
        for (file, src) in rust_files(&format!("{krate}/src")) {
            let text = scrub(&src, true);
            for (at, _) in text.match_indices("#[error(") {
                let rest = text[at + "#[error(".len()..].trim_start();
                if rest.starts_with("transparent") {
                    continue;
                }
                let rest = rest.strip_prefix('"').unwrap_or_else(|| {
                    panic!("{file}:{}: #[error] without a literal", line_of(&text, at))
                });
                let message = literal_text(rest);
                checked += 1;
                let line = line_of(&text, at);
                let like_others = ERRORS_WORDED_LIKE_OTHERS
                    .iter()
                    .any(|m| message.starts_with(m));
                if message.chars().next().is_some_and(char::is_uppercase) && !like_others {
                    found.push(format!("{file}:{line}: starts with a capital: {message:?}"));
                }
                if message.ends_with('.') {
                    found.push(format!("{file}:{line}: ends with a period: {message:?}"));
                }
                if message.contains("\\n") || message.contains('\n') {
                    found.push(format!("{file}:{line}: more than one line: {message:?}"));
                }
            }
        }
    }
    assert!(checked > 50, "only {checked} error messages found");
    assert!(found.is_empty(), "{found:#?}");
}

// ---- hosts ----

#[test]
fn nothing_is_installed_on_a_host() {
    // The only modules that reach an SSH host...
    let mut reaching = BTreeSet::new();
    for dir in ["node/src", "actors/src", "cli/src"] {
        for (file, src) in rust_files(dir) {
            let text = code(&src);
            let reaches = [
                "roam_mesh::ssh",
                "SshPool",
                "open_exec",
                "open_pty",
                "exec_checked",
                "exec_limited",
            ]
            .iter()
            .any(|w| !word_at(&text, w).is_empty());
            if reaches {
                reaching.insert(file);
            }
        }
    }
    let expected: BTreeSet<String> = [
        "node/src/detached.rs",
        "node/src/hosts.rs",
        "node/src/remote.rs",
    ]
    .map(String::from)
    .into();
    assert_eq!(
        reaching, expected,
        "a new module talks to hosts: check it here too"
    );
    // ...send it plain shell commands that install nothing and fetch nothing.
    let installers = [
        "apt", "apt-get", "aptitude", "dpkg", "yum", "dnf", "rpm", "zypper", "apk", "pacman",
        "brew", "snap", "flatpak", "nix-env", "pip", "pip3", "pipx", "npm", "npx", "yarn", "cargo",
        "rustup", "gem", "curl", "wget", "scp", "sftp", "rsync", "sudo", "su", "install",
    ];
    let mut scripts = 0;
    let mut found = Vec::new();
    // The host scripts live beside the modules that send them.
    let mut sent = expected.clone();
    sent.extend(rust_files("node/src/remote").into_iter().map(|(f, _)| f));
    for file in &sent {
        for (line, text) in literals(&read(file)) {
            scripts += 1;
            // A command: a word not part of a longer one (`$snap`,
            // `--install-dir`) and not a variable being set (`snap=`).
            for word in installers {
                for at in word_at(&text, word) {
                    let before = text[..at].chars().next_back();
                    let after = text[at + word.len()..].chars().next();
                    let part = |c: Option<char>| c.is_some_and(|c| "$-_/.=".contains(c));
                    if !part(before) && !part(after) {
                        found.push(format!("{file}:{line}: `{word}` in {text:?}"));
                    }
                }
            }
        }
    }
    assert!(scripts > 30, "only {scripts} literals read");
    assert!(found.is_empty(), "{found:#?}");
    // The SSH side opens exec and PTY channels only: no file transfer.
    let named = mentions("mesh/src", &["request_subsystem", "sftp", "scp"]);
    assert!(named.is_empty(), "{named:#?}");
}

// ---- the wire ----

#[test]
fn wire_types_are_defined_in_api_and_nowhere_else() {
    let text = code(&read("node/src/api.rs"));
    assert!(
        word_at(&text, "pub use").is_empty(),
        "node/src/api.rs re-exports a type"
    );
    // Every type that derives `Encode` here, and the names inside them.
    let mut defined = BTreeSet::new();
    let mut bodies = Vec::new();
    for (at, _) in text.match_indices("#[derive(") {
        let derive = &text[at..at + text[at..].find(")]").unwrap()];
        if word_at(derive, "Encode").is_empty() {
            continue;
        }
        let item = &text[at..];
        let kw = ["pub struct ", "pub enum "]
            .iter()
            .filter_map(|k| item.find(k).map(|i| (i, k.len())))
            .min()
            .unwrap();
        let name: String = item[kw.0 + kw.1..]
            .chars()
            .take_while(|c| is_ident(*c))
            .collect();
        let is_enum = item[kw.0..].starts_with("pub enum");
        let open = at + item.find('{').unwrap();
        let body = text[open + 1..matching_brace(&text, open)].to_string();
        defined.insert(name.clone());
        bodies.push((name, is_enum, body, line_of(&text, at)));
    }
    assert!(defined.contains("Request") && defined.contains("Response") && defined.len() > 15);
    let std_types = ["String", "Vec", "Option", "Box", "Self"];
    let mut foreign = Vec::new();
    for (name, is_enum, body, line) in &bodies {
        if body.contains("::") {
            foreign.push(format!(
                "node/src/api.rs:{line}: {name} names a path (`::`)"
            ));
        }
        let mut depth = 0;
        let mut prev = ',';
        let chars: Vec<char> = body.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let ch = chars[i];
            match ch {
                '{' | '(' | '<' | '[' => depth += 1,
                '}' | ')' | '>' | ']' => depth -= 1,
                _ => {}
            }
            if ch.is_uppercase() && !is_ident(prev) {
                let word: String = chars[i..].iter().take_while(|c| is_ident(**c)).collect();
                i += word.len();
                prev = 'x';
                // An enum's variants sit at its top level; everything else
                // named is a type.
                let variant = *is_enum && depth == 0;
                if !variant && !defined.contains(&word) && !std_types.contains(&word.as_str()) {
                    foreign.push(format!("node/src/api.rs:{line}: {name} carries {word}"));
                }
                continue;
            }
            if !ch.is_whitespace() {
                prev = ch;
            }
            i += 1;
        }
    }
    assert!(foreign.is_empty(), "{foreign:#?}");
}

#[test]
fn all_encoding_goes_through_codec() {
    let mut found = Vec::new();
    for krate in LIBRARIES.iter().chain(&["cli"]) {
        for (file, src) in rust_files(&format!("{krate}/src")) {
            if file == "node/src/codec.rs" {
                continue;
            }
            let text = code(&src);
            for at in word_at(&text, "bincode") {
                let rest = &text[at + "bincode".len()..];
                let Some(rest) = rest.strip_prefix("::") else {
                    continue;
                };
                let names: Vec<String> = match rest.strip_prefix('{') {
                    Some(group) => group[..group.find('}').unwrap()]
                        .split(',')
                        .map(|n| n.trim().to_string())
                        .filter(|n| !n.is_empty())
                        .collect(),
                    None => vec![rest.chars().take_while(|c| is_ident(*c)).collect()],
                };
                for name in names {
                    if !["Encode", "Decode", "BorrowDecode"].contains(&name.as_str()) {
                        found.push(format!("{file}:{}: bincode::{name}", line_of(&text, at)));
                    }
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "encode and decode through roam_node::codec: {found:#?}"
    );
}

// ---- the actor tree ----

/// The actor modules (those with `impl Actor for`), with their text.
fn actor_modules() -> Vec<(String, String)> {
    let actors: Vec<_> = rust_files("actors/src")
        .into_iter()
        .filter(|(_, src)| !word_at(&code(src), "impl Actor for").is_empty())
        .collect();
    assert!(
        actors.len() >= 4,
        "{:?}",
        actors.iter().map(|a| &a.0).collect::<Vec<_>>()
    );
    actors
}

/// The module's leading `//!` lines.
fn module_doc(src: &str) -> String {
    src.lines()
        .take_while(|l| l.starts_with("//!"))
        .map(|l| l.trim_start_matches("//!"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn every_actor_module_starts_with_parent_children_messages_and_invariants() {
    for (file, src) in actor_modules() {
        let doc = module_doc(&src);
        for part in ["- Parent:", "- Children:", "- Messages:", "- Invariants:"] {
            assert!(doc.contains(part), "{file}'s //! header lacks `{part}`");
        }
    }
}

#[test]
fn calls_go_down_the_tree_casts_go_up() {
    let mut casts_up = 0;
    let mut found = Vec::new();
    for (file, src) in actor_modules() {
        let doc = module_doc(&src);
        let parent_line = doc
            .lines()
            .find(|l| l.contains("- Parent:"))
            .unwrap()
            .to_string();
        // "Parent: a Workspace actor" → `WorkspaceMsg`.
        let words: Vec<&str> = parent_line.split_whitespace().collect();
        let Some(i) = words
            .iter()
            .position(|w| w.trim_end_matches([',', '.']) == "actor")
        else {
            assert!(parent_line.contains("none"), "{file}: {parent_line}");
            continue;
        };
        let parent_msg = format!("{}Msg", words[i - 1]);
        let text = code(&src);
        for at in word_at(&text, &format!("{parent_msg}::")) {
            let line = line_of(&text, at);
            if text
                .lines()
                .nth(line - 1)
                .unwrap()
                .trim_start()
                .starts_with("use ")
            {
                continue;
            }
            if text[..at].trim_end().ends_with(".cast(") {
                casts_up += 1;
            } else {
                found.push(format!(
                    "{file}:{line}: {parent_msg} sent other than by a cast: the child would wait on its parent"
                ));
            }
        }
    }
    assert!(casts_up > 0, "no child tells its parent anything");
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn the_actors_never_branch_on_the_site_kind() {
    let mut found = Vec::new();
    for (file, src) in actor_modules() {
        let text = code(&src);
        for what in [
            "LocalSite",
            "HostSite",
            "RemoteOps",
            "site::local",
            "site::host",
            "rt.remote",
        ] {
            for at in word_at(&text, what) {
                found.push(format!("{file}:{}: {what}", line_of(&text, at)));
            }
        }
        // Where it runs (`record.host`) only picks the site, or is copied
        // into the record.
        for at in word_at(&text, "host") {
            let line = line_of(&text, at);
            let l = text.lines().nth(line - 1).unwrap();
            let picks_site = l.contains("site::of(") && l.contains(".host.as_deref()");
            let copied =
                l.trim_start().starts_with("host:") && l.trim_end().ends_with(".host.clone(),");
            if !picks_site && !copied {
                found.push(format!("{file}:{line}: {}", l.trim()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "ask the workspace's Site instead: {found:#?}"
    );
}

// ---- tests ----

#[test]
fn one_integration_test_binary_per_crate() {
    for krate in members() {
        let manifest = read(&format!("{krate}/Cargo.toml"));
        assert!(
            !manifest.contains("[[test]]"),
            "{krate}/Cargo.toml declares a test target"
        );
        let tests = root().join(&krate).join("tests");
        if !tests.exists() {
            continue;
        }
        for entry in std::fs::read_dir(&tests).unwrap() {
            let path = entry.unwrap().path();
            assert!(
                path.extension().is_none_or(|e| e != "rs"),
                "{} is a test binary of its own: make it a module of tests/it",
                path.display()
            );
        }
        assert!(
            tests.join("it/main.rs").exists(),
            "{krate}/tests lacks it/main.rs"
        );
    }
}

#[test]
fn tests_wait_by_polling_never_by_fixed_sleeps() {
    // A block that runs again until something holds.
    let polls = |opener: &str| {
        let t = opener.trim_start();
        t.starts_with("for ")
            || t.starts_with("while ")
            || t.starts_with("loop")
            || [
                "= loop",
                "wait_until(",
                ".any(",
                ".all(",
                "|| loop",
                "async move { loop",
            ]
            .iter()
            .any(|p| t.contains(p))
    };
    let mut sleeps = 0;
    let mut found = Vec::new();
    for krate in members() {
        if !root().join(&krate).join("tests").exists() {
            continue;
        }
        for (file, src) in rust_files(&format!("{krate}/tests")) {
            let text = code(&src);
            for at in word_at(&text, "sleep") {
                if !text[at..].starts_with("sleep(") {
                    continue;
                }
                sleeps += 1;
                // The blocks around the sleep: one of them must be a poll.
                let mut depth = 0i32;
                let mut polled = false;
                for (i, ch) in text[..at].char_indices().rev() {
                    match ch {
                        '}' => depth += 1,
                        '{' if depth == 0 => {
                            let opener = text[..i].lines().last().unwrap_or_default();
                            if polls(opener) {
                                polled = true;
                                break;
                            }
                        }
                        '{' => depth -= 1,
                        _ => {}
                    }
                }
                if !polled {
                    found.push(format!(
                        "{file}:{}: a sleep that waits for nothing",
                        line_of(&text, at)
                    ));
                }
            }
        }
    }
    assert!(sleeps > 0);
    assert!(found.is_empty(), "poll a condition instead: {found:#?}");
}

// ---- the CLI ----

#[test]
fn the_cli_reports_a_failure_on_one_line_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(crate::harness::ROAM)
        .arg("ls")
        .env("ROAM_HOME", dir.path().join("no-node-here"))
        .env("HOME", dir.path())
        .env("ROAM_NO_AUTOSTART", "1")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.starts_with("roam: "), "{err}");
    assert!(out.stdout.is_empty());
}

// ---- the document itself ----

/// Test names are `snake_case` with at least four words; ARCHITECTURE.md
/// quotes them in backticks beside the invariant they check.
fn test_names_in_architecture_md() -> BTreeSet<String> {
    read("ARCHITECTURE.md")
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|t| {
            t.split('_').count() >= 4
                && t.split('_').all(|w| {
                    !w.is_empty()
                        && w.chars()
                            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
                })
        })
        .map(String::from)
        .collect()
}

#[test]
fn every_test_named_in_architecture_md_exists() {
    let names = test_names_in_architecture_md();
    assert!(names.len() > 40, "{names:?}");
    let mut sources = Vec::new();
    for krate in members() {
        for dir in ["src", "tests"] {
            if root().join(&krate).join(dir).exists() {
                sources.extend(rust_files(&format!("{krate}/{dir}")));
            }
        }
    }
    let mut missing = Vec::new();
    for name in &names {
        let is_test = sources.iter().any(|(_, src)| {
            let text = code(src);
            word_at(&text, &format!("fn {name}")).into_iter().any(|at| {
                let before = &text[..at];
                let attrs = &before[before.len().saturating_sub(200)..];
                attrs.contains("#[test]") || attrs.contains("#[tokio::test")
            })
        });
        if !is_test {
            missing.push(name.clone());
        }
    }
    assert!(
        missing.is_empty(),
        "ARCHITECTURE.md names tests that do not exist: {missing:#?}"
    );
}
