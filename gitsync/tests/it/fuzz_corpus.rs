//! The `gitsync_wire` fuzz corpus replayed as an ordinary test, through the
//! entry the fuzz target calls (`roam_gitsync::fuzzing::wire`).

use std::path::PathBuf;

#[test]
fn gitsync_wire_corpus_replays() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/gitsync_wire");
    let files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("no corpus at {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    assert!(
        !files.is_empty(),
        "the corpus at {} is empty",
        dir.display()
    );
    for path in files {
        roam_gitsync::fuzzing::wire(&std::fs::read(&path).unwrap());
    }
}

/// Found by the `gitsync_wire` fuzz target: a refusal reason over the
/// 4096-byte text bound was cut inside a multi-byte character, so the
/// sender got "text is not utf-8" instead of why it was refused.
#[test]
fn a_long_refusal_reason_cut_inside_a_character_still_arrives() {
    let mut input = vec![0b1011]; // write side, a `Refused`
    input.extend(std::iter::repeat_n(b'a', 4095));
    input.extend("é, and git's stderr after it".as_bytes());
    roam_gitsync::fuzzing::wire(&input);
}

/// Found by the `gitsync_wire` fuzz target: a ref name over the 4096-byte
/// bound was silently cut, so the receiver would have moved another ref
/// than the one offered.
#[test]
fn a_ref_name_over_the_bound_is_refused_not_cut_into_another_ref() {
    let mut input = vec![0b0001]; // write side, an `Offer`
    input.extend(b"refs/roam/sync/");
    input.extend(std::iter::repeat_n(b'x', 5000));
    roam_gitsync::fuzzing::wire(&input);
}
