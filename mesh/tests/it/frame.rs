use proptest::prelude::*;
use roam_mesh::{FrameError, MAX_FRAME_LEN, read_frame, write_frame};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

#[test]
fn oversized_length_is_refused_before_allocating() {
    rt().block_on(async {
        let bytes = u32::MAX.to_be_bytes();
        let err = read_frame(&mut &bytes[..], MAX_FRAME_LEN)
            .await
            .unwrap_err();
        assert!(matches!(err, FrameError::TooLarge { .. }), "{err}");
    });
}

#[test]
fn truncated_body_is_an_error_not_a_frame() {
    rt().block_on(async {
        let mut bytes = 10u32.to_be_bytes().to_vec();
        bytes.extend_from_slice(b"abc");
        let err = read_frame(&mut &bytes[..], MAX_FRAME_LEN)
            .await
            .unwrap_err();
        assert!(matches!(err, FrameError::Truncated), "{err}");
    });
}

proptest! {
    #[test]
    fn frames_round_trip(bodies in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..8)) {
        rt().block_on(async {
            let mut wire = Vec::new();
            for b in &bodies {
                write_frame(&mut wire, b).await.unwrap();
            }
            let mut reader = &wire[..];
            for b in &bodies {
                let got = read_frame(&mut reader, MAX_FRAME_LEN).await.unwrap().unwrap();
                prop_assert_eq!(&got, b);
            }
            prop_assert!(read_frame(&mut reader, MAX_FRAME_LEN).await.unwrap().is_none());
            Ok(())
        })?;
    }

    #[test]
    fn garbage_never_panics(garbage in proptest::collection::vec(any::<u8>(), 0..64)) {
        rt().block_on(async {
            let mut reader = &garbage[..];
            // Any outcome is fine except a panic or an allocation over the bound.
            while let Ok(Some(_)) = read_frame(&mut reader, 1024).await {}
        });
    }
}

/// Found by the `mesh_frames` fuzz target: a stream cut inside the 4-byte
/// length was reported as a clean close between frames, hiding that the
/// peer broke off mid-message.
#[test]
fn a_stream_cut_inside_the_length_prefix_is_truncated_not_closed() {
    rt().block_on(async {
        for cut in 1..4 {
            let bytes = 5u32.to_be_bytes();
            let err = read_frame(&mut &bytes[..cut], MAX_FRAME_LEN)
                .await
                .unwrap_err();
            assert!(matches!(err, FrameError::Truncated), "cut at {cut}: {err}");
        }
        assert!(
            read_frame(&mut &[][..], MAX_FRAME_LEN)
                .await
                .unwrap()
                .is_none()
        );
    });
}
