//! The entry the `mesh_frames` fuzz target (`fuzz/`) and its corpus replay
//! test (`tests/it/fuzz_corpus.rs`) both call, so the two cannot drift.
//!
//! A peer's bytes reach this crate only as frames on an admitted stream
//! (libp2p authenticates and multiplexes before that); the bodies are
//! opaque here. So the entry reads a stream of frames the way every
//! reader does, through [`read_frame`], under a bound the first byte picks,
//! and checks that what it read is exactly what was sent: writing the
//! frames back gives a prefix of the input, and no frame is over the bound.

use crate::frame::{FrameError, MAX_FRAME_LEN, read_frame, write_frame};

/// First byte: the bound (0 is [`MAX_FRAME_LEN`], else that many bytes);
/// the rest is the stream.
pub fn frames(data: &[u8]) {
    let Some((&selector, stream)) = data.split_first() else {
        return;
    };
    let max = if selector == 0 {
        MAX_FRAME_LEN
    } else {
        usize::from(selector)
    };
    let mut reader = stream;
    let mut rewritten = Vec::new();
    loop {
        match futures::executor::block_on(read_frame(&mut reader, max)) {
            Ok(Some(body)) => {
                assert!(body.len() <= max, "a frame over the bound was read");
                let wrote = futures::executor::block_on(write_frame(&mut rewritten, &body));
                assert!(wrote.is_ok(), "a frame read could not be written again");
            }
            Ok(None) => {
                assert_eq!(rewritten, stream, "a clean end left bytes unread");
                break;
            }
            Err(FrameError::TooLarge { len, .. }) => {
                assert!(len > max, "a frame within the bound was refused");
                break;
            }
            Err(_) => break,
        }
        assert!(
            stream.starts_with(&rewritten),
            "the frames read are not what was sent"
        );
    }
}
