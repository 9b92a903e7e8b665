//! Reading the source tree for the tidy checks: files, dependencies from
//! `Cargo.toml` and `Cargo.lock`, and Rust text with comments and string
//! literals told apart from code (no parser: none is a dependency here, and
//! these checks only need to know what is code).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

// ---- the source tree ----

/// The workspace root (this crate is `cli/`).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

pub fn read(rel: &str) -> String {
    let path = root().join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {rel}: {e}"))
}

/// Every `.rs` file under `rel_dir`, as (path relative to the root, text).
pub fn rust_files(rel_dir: &str) -> Vec<(String, String)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut paths = Vec::new();
    walk(&root().join(rel_dir), &mut paths);
    paths.sort();
    assert!(!paths.is_empty(), "no Rust files under {rel_dir}");
    paths
        .into_iter()
        .map(|p| {
            let rel = p.strip_prefix(root()).unwrap().display().to_string();
            let text = std::fs::read_to_string(&p).unwrap();
            (rel, text)
        })
        .collect()
}

/// The workspace's member crates, from the root `Cargo.toml`.
pub fn members() -> Vec<String> {
    let text = read("Cargo.toml");
    let start = text.find("members").expect("workspace members");
    let list = &text[start..];
    let list = &list[list.find('[').unwrap() + 1..list.find(']').unwrap()];
    let members: Vec<String> = list
        .split(',')
        .map(|m| m.trim().trim_matches('"').to_string())
        .filter(|m| !m.is_empty())
        .collect();
    assert!(members.contains(&"cli".to_string()), "{members:?}");
    members
}

// ---- reading Rust without a parser ----

pub fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// `Some(n)` if a raw string (`r"`, `r#"`, `br##"`...) with `n` hashes
/// starts at `i`.
pub fn raw_string_at(c: &[char], i: usize) -> Option<usize> {
    if c[i] != 'r' {
        return None;
    }
    let before = |k: usize| k.checked_sub(1).map(|k| c[k]);
    match before(i) {
        Some('b') if before(i - 1).is_some_and(is_ident) => return None,
        Some('b') => {}
        Some(p) if is_ident(p) => return None,
        _ => {}
    }
    let mut j = i + 1;
    while c.get(j) == Some(&'#') {
        j += 1;
    }
    (c.get(j) == Some(&'"')).then_some(j - i - 1)
}

/// The source with comments blanked (and, unless `keep_literals`, the
/// contents of string and char literals too). Newlines stay, so line
/// numbers hold; the quotes stay, so a literal is still seen as one.
pub fn scrub(src: &str, keep_literals: bool) -> String {
    let c: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    let blank = |ch: char| if ch == '\n' { '\n' } else { ' ' };
    let literal = |out: &mut String, ch: char| {
        out.push(if keep_literals { ch } else { blank(ch) });
    };
    let mut i = 0;
    while i < c.len() {
        let ch = c[i];
        let next = c.get(i + 1).copied();
        if ch == '/' && next == Some('/') {
            while i < c.len() && c[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if ch == '/' && next == Some('*') {
            let mut depth = 0;
            while i < c.len() {
                if c[i] == '/' && c.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if c[i] == '*' && c.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(c[i]));
                    i += 1;
                }
            }
        } else if let Some(hashes) = raw_string_at(&c, i) {
            let open = hashes + 2;
            out.extend(&c[i..i + open]);
            i += open;
            let close: Vec<char> = std::iter::once('"')
                .chain(std::iter::repeat_n('#', hashes))
                .collect();
            while i < c.len() && !c[i..].starts_with(&close) {
                literal(&mut out, c[i]);
                i += 1;
            }
            out.extend(&close);
            i += close.len();
        } else if ch == '"' {
            out.push('"');
            i += 1;
            while i < c.len() && c[i] != '"' {
                if c[i] == '\\' && i + 1 < c.len() {
                    literal(&mut out, c[i]);
                    i += 1;
                }
                literal(&mut out, c[i]);
                i += 1;
            }
            out.push('"');
            i += 1;
        } else if ch == '\'' && (next == Some('\\') || c.get(i + 2) == Some(&'\'')) {
            // A char literal ('x', '\n', '\u{1F600}'); otherwise a lifetime.
            out.push('\'');
            i += 1;
            if c[i] == '\\' {
                literal(&mut out, c[i]);
                i += 1;
            }
            while i < c.len() && c[i] != '\'' {
                literal(&mut out, c[i]);
                i += 1;
            }
            out.push('\'');
            i += 1;
        } else {
            out.push(ch);
            i += 1;
        }
    }
    out
}

/// Code only: no comments, no literal contents.
pub fn code(src: &str) -> String {
    scrub(src, false)
}

/// `code` without `#[cfg(test)]` items (the unit-test modules).
pub fn code_without_tests(src: &str) -> String {
    let mut text = code(src);
    while let Some(at) = text.find("#[cfg(test)]") {
        let rest = &text[at..];
        let end = match (rest.find('{'), rest.find(';')) {
            (Some(b), Some(s)) if s < b => at + s + 1,
            (Some(b), _) => at + matching_brace(rest, b) + 1,
            (None, Some(s)) => at + s + 1,
            (None, None) => text.len(),
        };
        let blanked: String = text[at..end]
            .chars()
            .map(|c| if c == '\n' { '\n' } else { ' ' })
            .collect();
        text.replace_range(at..end, &blanked);
    }
    text
}

/// The index of the `}` closing the `{` at `open` (in scrubbed code).
pub fn matching_brace(text: &str, open: usize) -> usize {
    let mut depth = 0usize;
    for (i, ch) in text[open..].char_indices() {
        match ch {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return open + i;
                }
            }
            _ => {}
        }
    }
    panic!("unbalanced braces");
}

/// The index of the `)` closing the `(` at `open` (in scrubbed code).
pub fn matching_paren(text: &str, open: usize) -> usize {
    let mut depth = 0usize;
    for (i, ch) in text[open..].char_indices() {
        match ch {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return open + i;
                }
            }
            _ => {}
        }
    }
    panic!("unbalanced parentheses");
}

/// The body (between the braces) of the first item that `header` starts.
pub fn body_of<'a>(text: &'a str, header: &str) -> &'a str {
    let at = text.find(header).unwrap_or_else(|| panic!("no `{header}`"));
    let open = at + text[at..].find('{').unwrap();
    &text[open + 1..matching_brace(text, open)]
}

/// The 1-based line of byte offset `at`.
pub fn line_of(text: &str, at: usize) -> usize {
    text[..at].matches('\n').count() + 1
}

/// Offsets of `word` in `text` where it is not part of a longer identifier.
pub fn word_at(text: &str, word: &str) -> Vec<usize> {
    text.match_indices(word)
        .filter(|(at, _)| {
            let before = text[..*at].chars().next_back();
            let after = text[at + word.len()..].chars().next();
            let joins = |inside: Option<char>, outside: Option<char>| {
                inside.is_some_and(is_ident) && outside.is_some_and(is_ident)
            };
            !joins(word.chars().next(), before) && !joins(word.chars().next_back(), after)
        })
        .map(|(at, _)| at)
        .collect()
}

/// The string literals of a source file, with their lines.
pub fn literals(src: &str) -> Vec<(usize, String)> {
    let kept = scrub(src, true);
    let blanked = code(src);
    // Both texts have the same chars at the same places outside literals.
    let (k, b): (Vec<char>, Vec<char>) = (kept.chars().collect(), blanked.chars().collect());
    assert_eq!(k.len(), b.len());
    let mut out = Vec::new();
    let mut line = 1;
    let mut i = 0;
    while i < k.len() {
        if k[i] == '\n' {
            line += 1;
        }
        if b[i] == '"' {
            let start_line = line;
            let mut j = i + 1;
            // Inside a literal the blanked text is all spaces and newlines.
            while j < b.len() && b[j] != '"' {
                if k[j] == '\n' {
                    line += 1;
                }
                j += 1;
            }
            out.push((start_line, k[i + 1..j].iter().collect()));
            i = j + 1;
            continue;
        }
        i += 1;
    }
    out
}

/// Where any of `words` appears in the code (not comments, not literals)
/// of the Rust files under `dir`, as `file:line: word`.
pub fn mentions(dir: &str, words: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for (file, src) in rust_files(dir) {
        let text = code(&src);
        for word in words {
            for at in word_at(&text, word) {
                found.push(format!("{file}:{}: {word}", line_of(&text, at)));
            }
        }
    }
    found
}

// ---- dependencies ----

/// The crates a member names in any dependency table of its `Cargo.toml`.
pub fn direct_deps(krate: &str) -> BTreeSet<String> {
    let text = read(&format!("{krate}/Cargo.toml"));
    let mut deps = BTreeSet::new();
    let mut in_table = false;
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with('[') {
            let header = t.trim_matches(|c| c == '[' || c == ']');
            in_table = header.ends_with("dependencies");
            if let Some((table, name)) = header.rsplit_once('.')
                && table.ends_with("dependencies")
            {
                deps.insert(name.trim_matches('"').to_string());
            }
            continue;
        }
        if in_table && !t.is_empty() && !t.starts_with('#') {
            let key = t.split(['=', '.']).next().unwrap().trim();
            deps.insert(key.trim_matches('"').to_string());
        }
        if let Some(at) = t.find("package = ").filter(|_| in_table) {
            let renamed = t[at..].split('"').nth(1).unwrap_or_default();
            deps.insert(renamed.to_string());
        }
    }
    deps
}

/// Every package `krate` depends on, directly or not, as `Cargo.lock`
/// resolves it (dev-dependencies of `krate` itself included).
pub fn all_deps(krate: &str) -> BTreeSet<String> {
    let lock = read("Cargo.lock");
    let mut packages: Vec<(String, String, Vec<String>)> = Vec::new();
    for block in lock.split("[[package]]").skip(1) {
        let field = |name: &str| {
            block
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{name} = ")))
                .map(|v| v.trim_matches('"').to_string())
                .unwrap_or_default()
        };
        let deps = match block.find("dependencies = [") {
            Some(at) => {
                let list = &block[at + "dependencies = [".len()..];
                list[..list.find(']').unwrap()]
                    .split(',')
                    .map(|d| d.trim().trim_matches('"').to_string())
                    .filter(|d| !d.is_empty())
                    .collect()
            }
            None => Vec::new(),
        };
        packages.push((field("name"), field("version"), deps));
    }
    let resolve = |dep: &str| -> usize {
        let mut words = dep.split_whitespace();
        let (name, version) = (words.next().unwrap(), words.next());
        packages
            .iter()
            .position(|(n, v, _)| n == name && version.is_none_or(|want| want == v))
            .unwrap_or_else(|| panic!("Cargo.lock names {dep} but has no such package"))
    };
    let start = resolve(krate);
    let mut seen = BTreeSet::from([start]);
    let mut todo = vec![start];
    while let Some(i) = todo.pop() {
        for dep in &packages[i].2 {
            let j = resolve(dep);
            if seen.insert(j) {
                todo.push(j);
            }
        }
    }
    seen.remove(&start);
    let all: BTreeSet<String> = seen.into_iter().map(|i| packages[i].0.clone()).collect();
    // A parse that found nothing would pass every check below.
    for dep in direct_deps(krate.strip_prefix("roam-").unwrap()) {
        assert!(
            all.contains(&dep),
            "{krate} names {dep}, which Cargo.lock does not list among its dependencies (is the lock stale?)"
        );
    }
    all
}

/// The packages of `all_deps(krate)` that `forbidden` picks out.
pub fn forbidden_deps(krate: &str, forbidden: impl Fn(&str) -> bool) -> Vec<String> {
    all_deps(krate)
        .into_iter()
        .filter(|d| forbidden(d))
        .collect()
}

/// The library crates the binary is built from.
pub const LIBRARIES: [&str; 4] = ["node", "actors", "mesh", "gitsync"];
