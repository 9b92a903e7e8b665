//! The entry the `gitsync_wire` fuzz target (`fuzz/`) and its corpus replay
//! test (`tests/it/fuzz_corpus.rs`) both call, so the two cannot drift.
//!
//! Bit 0 of the first byte picks a direction:
//! - read: the rest is what a peer sends, read message by message through
//!   `wire::read` exactly as `send` and `receive` read it; each message
//!   must survive being written again and read back.
//! - write: the rest builds a message (bit 1-3 pick which) the way this
//!   node's own code could fill it (any ref name, any refusal reason: a
//!   reason is an error's text, git's stderr included); writing it and
//!   reading it back must give it back, or (for text over the bound) a
//!   clean shortening of it, never a frame the peer cannot read.

use crate::oid::Oid;
use crate::wire::{self, MAX_TEXT, Msg};

pub fn wire(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    if selector & 1 == 0 {
        read_side(rest);
    } else {
        write_side(selector >> 1, rest);
    }
}

fn read_side(stream: &[u8]) {
    let mut reader = stream;
    while let Ok(msg) = block_on(wire::read(&mut reader)) {
        let back = roundtrip(&msg);
        assert_eq!(
            back.as_ref(),
            Ok(&msg),
            "a message read does not survive a rewrite"
        );
    }
}

fn write_side(which: u8, rest: &[u8]) {
    let text = String::from_utf8_lossy(rest).into_owned();
    let oids: Vec<Oid> = rest
        .chunks(20)
        .map(|c| {
            let hex: String = c.iter().map(|b| format!("{b:02x}")).collect();
            Oid(format!("{hex:0<40}"))
        })
        .collect();
    let oid = |i: usize| oids.get(i).cloned().unwrap_or(Oid("0".repeat(40)));
    let msg = match which % 6 {
        0 => Msg::Offer {
            key: oid(0),
            roots: oids.iter().take(wire::MAX_ROOTS).cloned().collect(),
            tip: oid(1),
            ref_name: text,
        },
        1 => Msg::Haves(oids.iter().take(wire::MAX_HAVES).cloned().collect()),
        2 => Msg::Data(rest[..rest.len().min(wire::MAX_DATA)].to_vec()),
        3 => Msg::Done {
            bytes: rest.len() as u64,
        },
        4 => Msg::Accepted,
        _ => Msg::Refused(text),
    };
    let back = roundtrip(&msg);
    match (&msg, back) {
        // A reason too long for the frame arrives shortened, still readable.
        (Msg::Refused(sent), Ok(Msg::Refused(got))) if sent.len() > MAX_TEXT => {
            assert!(
                sent.starts_with(&got) && got.len() <= MAX_TEXT,
                "a long reason arrived as something else"
            );
        }
        // A ref name is never shortened into another ref: it is refused
        // before anything goes on the wire.
        (Msg::Offer { ref_name, .. }, Err(_)) if ref_name.len() > MAX_TEXT => {}
        (_, back) => assert_eq!(
            back.as_ref(),
            Ok(&msg),
            "a message written cannot be read back"
        ),
    }
}

/// Writes `msg` and reads it back.
fn roundtrip(msg: &Msg) -> Result<Msg, String> {
    let mut buf = Vec::new();
    block_on(wire::write(&mut buf, msg)).map_err(|e| e.to_string())?;
    let mut reader = &buf[..];
    let back = block_on(wire::read(&mut reader)).map_err(|e| e.to_string())?;
    if !reader.is_empty() {
        return Err(format!("{} bytes left after one message", reader.len()));
    }
    Ok(back)
}

/// Runs a future over in-memory streams, which never wait, to completion.
/// gitsync has no executor of its own to depend on; a current-thread tokio
/// runtime is what the crate already uses.
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    thread_local! {
        static RT: Option<tokio::runtime::Runtime> =
            tokio::runtime::Builder::new_current_thread().build().ok();
    }
    RT.with(|rt| match rt {
        Some(rt) => rt.block_on(f),
        None => panic!("cannot start a tokio runtime"),
    })
}
