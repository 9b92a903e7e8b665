//! The entry the `control` fuzz target (`fuzz/`) and its corpus replay test
//! (`tests/it/fuzz_corpus.rs`) both call, so the two cannot drift apart.
//!
//! It reads what a client or peer can put on a control connection the way
//! the node reads it: length-prefixed frames through [`conn::recv`], each
//! decoded by the codec. Random bytes almost never carry a length prefix
//! that matches what follows, so by default the input is the *body* of one
//! frame and the entry writes the prefix; one selector bit instead feeds
//! the raw bytes as a stream of frames, to reach the framing checks too.
//!
//! Whatever decodes must survive a re-encode unchanged (the node answers
//! and forwards what it decoded), and nothing may panic.

use bincode::{Decode, Encode};

use crate::api::{Down, Envelope, Response, Up, bounded_size};
use crate::{codec, conn, control};

/// First input byte: which message a frame carries (bits 0-1) and whether
/// the rest is one frame body (bit 2 clear) or a raw stream (bit 2 set).
pub fn control(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let stream = if selector & 4 == 0 {
        framed(rest)
    } else {
        rest.to_vec()
    };
    match selector & 3 {
        0 => read_all::<Envelope>(&stream, check_envelope),
        1 => read_all::<Response>(&stream, |_| {}),
        2 => read_all::<Up>(&stream, check_up),
        _ => read_all::<Down>(&stream, |_| {}),
    }
}

/// `body` behind a length prefix, as `roam_mesh::write_frame` puts it.
fn framed(body: &[u8]) -> Vec<u8> {
    let len = u32::try_from(body.len()).unwrap_or(u32::MAX);
    let mut out = Vec::with_capacity(body.len() + 4);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// Reads frames off `stream` until it ends or one is refused, as the node's
/// connection loop does, and checks each decoded value.
fn read_all<T>(stream: &[u8], check: impl Fn(&T))
where
    T: Decode<()> + Encode + PartialEq + std::fmt::Debug,
{
    let mut reader = stream;
    while let Ok(Some(value)) = futures::executor::block_on(conn::recv::<T, _>(&mut reader)) {
        let again = codec::encode(&value)
            .and_then(|bytes| codec::decode::<T>(&bytes))
            .map_err(|e| e.to_string());
        assert_eq!(
            again.as_ref(),
            Ok(&value),
            "a decoded message does not survive a re-encode"
        );
        check(&value);
    }
}

/// What the node does with an envelope before it routes it, minus the I/O.
fn check_envelope(envelope: &Envelope) {
    let _ = control::peer_may_send(&envelope.request);
    if let crate::api::Request::Attach { rows, cols, .. } = envelope.request {
        check_size(rows, cols);
    }
}

fn check_up(up: &Up) {
    if let Up::Resize { rows, cols } = *up {
        check_size(rows, cols);
    }
}

/// A terminal size from outside is cut to the bounds before anything
/// allocates a screen of it.
fn check_size(rows: u16, cols: u16) {
    let (r, c) = bounded_size(rows, cols);
    assert!((1..=crate::api::MAX_ROWS).contains(&r) && (1..=crate::api::MAX_COLS).contains(&c));
}

/// The code both sides of a fuzzed pairing hold. Knowing it does not help
/// the fuzzer: the host's and the joiner's SPAKE2 secrets are fresh each
/// run, so a confirmation the input carries can never be the right one.
pub const PAIRING_CODE: &str = "ABCD-EFGH-JKMN";

/// The joiner's and the host's PeerIds of a fuzzed pairing: fixed keys, so
/// captured messages stay valid for them.
pub fn pairing_peers() -> (roam_mesh::PeerId, roam_mesh::PeerId) {
    let peer = |seed: u8| {
        roam_mesh::Keypair::ed25519_from_bytes([seed; 32])
            .map(|k| k.public().to_peer_id())
            .unwrap_or_else(|_| roam_mesh::PeerId::random())
    };
    (peer(1), peer(2))
}

/// What a stranger can send a node during pairing, read as the node reads
/// it (`peers::host_pairing` and `peers::join_inner`): bit 0 of the first
/// byte picks the side. The rest is two frame bodies, the first behind a
/// 2-byte big-endian length: on the host side the joiner's `PairHello` and
/// `PairConfirm` envelopes, on the joiner side the host's `PairChallenge`.
/// A forged confirmation must never be accepted, and nothing may panic.
pub fn pairing(data: &[u8]) {
    use roam_mesh::pairing::{Host, Joiner};

    use crate::api::Request;
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let (first, second) = split_two(rest);
    let (joiner_id, host_id) = pairing_peers();
    if selector & 1 == 0 {
        let Some(Envelope {
            request: Request::PairHello { spake, .. },
            ..
        }) = recv_one::<Envelope>(first)
        else {
            return;
        };
        let Ok((host, _, _)) = Host::respond(PAIRING_CODE, &joiner_id, &host_id, &spake) else {
            return;
        };
        if let Some(Envelope {
            request: Request::PairConfirm { confirm },
            ..
        }) = recv_one::<Envelope>(second)
        {
            assert!(
                host.verify(&confirm).is_err(),
                "the host accepted a forged confirmation"
            );
        }
    } else {
        let (joiner, _) = Joiner::start(PAIRING_CODE, &joiner_id, &host_id);
        if let Some(Response::PairChallenge { spake, confirm, .. }) = recv_one::<Response>(first) {
            assert!(
                joiner.finish(&spake, &confirm).is_err(),
                "the joiner accepted a forged host"
            );
        }
    }
}

/// `[len: u16 BE][first][second]`; a short input is all `first`.
fn split_two(data: &[u8]) -> (&[u8], &[u8]) {
    let Some((len, rest)) = data.split_first_chunk::<2>() else {
        return (data, &[]);
    };
    let len = usize::from(u16::from_be_bytes(*len)).min(rest.len());
    rest.split_at(len)
}

/// One framed message through the node's own reader.
fn recv_one<T: Decode<()>>(body: &[u8]) -> Option<T> {
    let stream = framed(body);
    let mut reader = &stream[..];
    futures::executor::block_on(conn::recv::<T, _>(&mut reader))
        .ok()
        .flatten()
}
