//! The decoder never panics on garbage and round-trips every message.

use proptest::prelude::*;
use roam_node::api::{Down, Envelope, PROTOCOL_VERSION, Request, Resume, Target, Up};
use roam_node::codec::{decode, encode};

fn target() -> impl Strategy<Value = Target> {
    (".{0,20}", proptest::option::of(".{0,10}"))
        .prop_map(|(workspace, agent)| Target { workspace, agent })
}

fn request() -> impl Strategy<Value = Request> {
    prop_oneof![
        Just(Request::Ping),
        Just(Request::List),
        Just(Request::Nodes),
        (".{0,14}", proptest::option::of(".{0,40}"))
            .prop_map(|(code, addr)| Request::Join { code, addr }),
        (".{0,20}", proptest::collection::vec(any::<u8>(), 0..64)).prop_map(|(name, spake)| {
            Request::PairHello {
                name,
                spake,
                addrs: vec!["/ip4/127.0.0.1/tcp/1".into()],
            }
        }),
        (".{0,30}", ".{0,60}", proptest::option::of(".{0,10}")).prop_map(|(name, repo, base)| {
            Request::New {
                name,
                repo,
                base,
                profile: None,
                prompt: Some("fix it".into()),
                on: Some("homelab".into()),
            }
        }),
        (".{0,30}", any::<bool>()).prop_map(|(name, force)| Request::Remove {
            name,
            force,
            superseded: force
        }),
        (target(), proptest::collection::vec(any::<u8>(), 0..200))
            .prop_map(|(target, data)| Request::Send { target, data }),
        (target(), any::<u16>(), any::<u16>(), any::<u64>()).prop_map(|(target, rows, cols, n)| {
            Request::Attach {
                target,
                rows,
                cols,
                resume: Some(Resume {
                    session: n,
                    input_offset: n / 2,
                }),
            }
        }),
    ]
}

proptest! {
    #[test]
    fn requests_round_trip(request in request()) {
        let envelope = Envelope { version: PROTOCOL_VERSION, forwarded: false, epoch: None, request };
        let bytes = encode(&envelope).unwrap();
        prop_assert_eq!(decode::<Envelope>(&bytes).unwrap(), envelope);
    }

    #[test]
    fn garbage_is_an_error_never_a_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode::<Envelope>(&bytes);
        let _ = decode::<Down>(&bytes);
        let _ = decode::<Up>(&bytes);
    }

    #[test]
    fn truncated_messages_are_rejected(request in request(), cut in 0usize..64) {
        let bytes = encode(&Envelope { version: PROTOCOL_VERSION, forwarded: false, epoch: None, request }).unwrap();
        let cut = cut.min(bytes.len().saturating_sub(1));
        prop_assert!(decode::<Envelope>(&bytes[..cut]).is_err());
    }
}

#[test]
fn a_huge_length_inside_a_message_does_not_allocate_it() {
    // A Send whose byte vector claims u64::MAX entries (varint 0xFF prefix).
    let mut bytes = encode(&Envelope {
        version: PROTOCOL_VERSION,
        forwarded: false,
        epoch: None,
        request: Request::Send {
            target: Target::parse("ws"),
            data: vec![],
        },
    })
    .unwrap();
    bytes.pop();
    bytes.extend_from_slice(&[0xFF; 9]);
    assert!(decode::<Envelope>(&bytes).is_err());
}

#[test]
fn trailing_bytes_are_rejected() {
    let mut bytes = encode(&Up::Detach).unwrap();
    bytes.push(0);
    assert!(decode::<Up>(&bytes).is_err());
}
