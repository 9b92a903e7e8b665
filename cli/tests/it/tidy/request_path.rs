//! The node's request path, checked by reading its modules: who may call
//! whom, where the actor tree is asked, what a peer may send.

use std::collections::BTreeMap;

use super::source::*;

/// The request path, top to bottom: a module may call only modules of a
/// higher rank (further down). `relay` and `locate` serve `route`; `create`
/// and `ownership` serve `local`; `names` serves `create`; `tree` is the
/// bottom, where the actor tree is asked.
const REQUEST_PATH: [(&str, u32); 9] = [
    ("control", 0),
    ("route", 1),
    ("relay", 2),
    ("locate", 3),
    ("local", 4),
    ("create", 5),
    ("ownership", 5),
    ("names", 6),
    ("tree", 7),
];

/// Modules above the request path (they start it, or feed it fuzz input):
/// they may use any.
const ENTRY: [&str; 4] = ["lib", "daemon", "startup", "fuzzing"];

/// What the modules the path uses (shared state, peers, terminals, the
/// store...) may take from the path: data types, never a call back up.
const SERVICE_USES: [(&str, &[&str]); 2] = [
    // `Shared` holds the owner cache and the name holds.
    ("shared", &["locate", "names"]),
    // Migrating an old record gives it a fresh id.
    ("store", &["names"]),
];

/// The node modules a file refers to as `crate::X` (`use crate::{a, b}`
/// included), with the line of each.
fn crate_refs(text: &str) -> Vec<(String, usize)> {
    let mut refs = Vec::new();
    for at in word_at(text, "crate") {
        let rest = &text[at + "crate".len()..];
        let Some(rest) = rest.strip_prefix("::") else {
            continue;
        };
        let line = line_of(text, at);
        let rest = rest.trim_start();
        if let Some(group) = rest.strip_prefix('{') {
            let close = matching_brace(rest, 0);
            let mut depth = 0;
            let mut item = String::new();
            for ch in group[..close - 1].chars().chain(std::iter::once(',')) {
                match ch {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        let first: String =
                            item.trim().chars().take_while(|c| is_ident(*c)).collect();
                        if !first.is_empty() {
                            refs.push((first, line));
                        }
                        item.clear();
                        continue;
                    }
                    _ => {}
                }
                item.push(ch);
            }
        } else {
            let name: String = rest.chars().take_while(|c| is_ident(*c)).collect();
            refs.push((name, line));
        }
    }
    refs
}

/// A node module's name: `store/versions.rs` is part of `store`.
fn module_of(file: &str) -> String {
    let rel = file.strip_prefix("node/src/").unwrap();
    let first = rel.split('/').next().unwrap();
    first.trim_end_matches(".rs").to_string()
}

#[test]
fn the_request_path_never_calls_upward() {
    let rank: BTreeMap<&str, u32> = REQUEST_PATH.into_iter().collect();
    let services: BTreeMap<&str, &[&str]> = SERVICE_USES.into_iter().collect();
    for (module, _) in REQUEST_PATH {
        assert!(
            root().join(format!("node/src/{module}.rs")).exists(),
            "node/src/{module}.rs is gone: update REQUEST_PATH and ARCHITECTURE.md"
        );
    }
    let mut upward = Vec::new();
    let mut edges = 0;
    for (file, src) in rust_files("node/src") {
        let from = module_of(&file);
        let text = code(&src);
        for (to, line) in crate_refs(&text) {
            let Some(&to_rank) = rank.get(to.as_str()) else {
                continue;
            };
            if to == from || ENTRY.contains(&from.as_str()) {
                continue;
            }
            edges += 1;
            match rank.get(from.as_str()) {
                Some(&from_rank) if to_rank > from_rank => {}
                Some(_) => upward.push(format!(
                    "{file}:{line}: {from} uses {to}, which is not below it"
                )),
                None if services.get(from.as_str()).is_some_and(|ok| ok.contains(&to.as_str())) => {}
                None => upward.push(format!(
                    "{file}:{line}: {from} (which the request path uses) uses {to}, which is on the path"
                )),
            }
        }
    }
    assert!(edges > 10, "only {edges} uses found between path modules");
    assert!(upward.is_empty(), "{upward:#?}");
}

#[test]
fn the_request_path_asks_the_actor_tree_only_through_tree() {
    let mut found = Vec::new();
    for module in ["control", "route", "relay", "locate", "local"] {
        let file = format!("node/src/{module}.rs");
        let text = code(&read(&file));
        for what in ["ractor::rpc", "RpcReplyPort", "call_t!", "call!", ".call(|"] {
            for at in word_at(&text, what) {
                found.push(format!("{file}:{}: {what}", line_of(&text, at)));
            }
        }
        // `actor.call(SomeMsg::Variant, timeout)`.
        for (at, _) in text.match_indices(".call(") {
            let arg: String = text[at + ".call(".len()..]
                .trim_start()
                .chars()
                .take_while(|c| is_ident(*c) || *c == ':')
                .collect();
            if arg.contains("Msg::") {
                found.push(format!("{file}:{}: .call({arg}", line_of(&text, at)));
            }
        }
    }
    assert!(
        found.is_empty(),
        "ask the actor tree through tree.rs: {found:#?}"
    );
    assert!(!word_at(&code(&read("node/src/tree.rs")), "ractor::rpc").is_empty());
}

#[test]
fn peer_may_send_is_one_match_with_no_wildcard_arm() {
    let text = code(&read("node/src/control.rs"));
    let body = body_of(&text, "fn peer_may_send");
    assert!(body.trim_start().starts_with("match request"), "{body}");
    let arms = body.matches("=>").count();
    assert!(arms >= 2, "{body}");
    for (at, _) in body.match_indices("=>") {
        let before = body[..at].trim_end();
        let last: String = before
            .chars()
            .rev()
            .take_while(|c| is_ident(*c))
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        // A pattern ends in `}`, `)` or a variant's name; `_` or a binding
        // (lowercase) would let any new request through.
        let wildcard = last == "_" || last.chars().next().is_some_and(char::is_lowercase);
        assert!(
            !wildcard,
            "node/src/control.rs:{}: `{last} =>` in peer_may_send is a wildcard arm",
            line_of(&text, text.find(body).unwrap() + at)
        );
    }
    // Every request is named, so each one is a decision someone made.
    let api = code(&read("node/src/api.rs"));
    let requests = body_of(&api, "pub enum Request");
    let mut depth = 0;
    let mut variant_start = true;
    let mut variants = Vec::new();
    for (i, ch) in requests.char_indices() {
        match ch {
            '{' | '(' => depth += 1,
            '}' | ')' => depth -= 1,
            ',' if depth == 0 => variant_start = true,
            c if depth == 0 && variant_start && c.is_uppercase() => {
                variant_start = false;
                let name: String = requests[i..].chars().take_while(|c| is_ident(*c)).collect();
                variants.push(name);
            }
            _ => {}
        }
    }
    assert!(variants.len() > 20, "{variants:?}");
    for v in variants {
        assert!(
            !word_at(body, &format!("Request::{v}")).is_empty(),
            "peer_may_send does not name Request::{v}"
        );
    }
}

#[test]
fn a_request_from_a_peer_is_never_forwarded_again() {
    let file = "node/src/control.rs";
    let text = code(&read(file));
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        flat.contains("let routed = origin == Origin::Local && !envelope.forwarded;"),
        "{file}: only the local CLI's own requests are routed"
    );
    // Every use of `route` in control is behind `routed`: the statement
    // itself, or the `if routed` block around it.
    let mut uses = 0;
    for at in word_at(&text, "route::") {
        let line = line_of(&text, at);
        let line_text = text.lines().nth(line - 1).unwrap();
        if line_text.trim_start().starts_with("use ") {
            continue;
        }
        uses += 1;
        let mut depth = 0i32;
        let mut opener = None;
        for (i, ch) in text[..at].char_indices().rev() {
            match ch {
                '}' => depth += 1,
                '{' if depth == 0 => {
                    opener = Some(i);
                    break;
                }
                '{' => depth -= 1,
                _ => {}
            }
        }
        let opener_line = text[..opener.unwrap()].lines().last().unwrap_or_default();
        assert!(
            word_at(line_text, "routed").len() + word_at(opener_line, "routed").len() > 0,
            "{file}:{line}: route is called without checking `routed`"
        );
    }
    assert!(uses >= 3, "only {uses} uses of route in {file}");
    // From `local` down, nothing forwards a request to another node.
    let mut found = Vec::new();
    for module in ["local", "create", "names", "ownership", "tree"] {
        let file = format!("node/src/{module}.rs");
        let text = code(&read(&file));
        for what in ["call_fenced", "open_call", "relay", "forward"] {
            for at in word_at(&text, what) {
                found.push(format!("{file}:{}: {what}", line_of(&text, at)));
            }
        }
    }
    assert!(found.is_empty(), "{found:#?}");
}
