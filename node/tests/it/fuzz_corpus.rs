//! The fuzz corpora replayed as ordinary tests, through the very entries
//! the fuzz targets call (`roam_node::fuzzing`), so every committed input
//! (the seeds and each one that once found a bug) is checked on stable.

use std::path::PathBuf;

/// Every file of `fuzz/corpus/<target>/`; a missing or empty corpus fails.
pub fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("no corpus at {}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            (path, bytes)
        })
        .collect();
    assert!(
        !files.is_empty(),
        "the corpus at {} is empty",
        dir.display()
    );
    files.sort();
    files
}

#[test]
fn control_corpus_replays() {
    for (_, bytes) in corpus("control") {
        roam_node::fuzzing::control(&bytes);
    }
}

#[test]
fn pairing_corpus_replays() {
    for (_, bytes) in corpus("pairing") {
        roam_node::fuzzing::pairing(&bytes);
    }
}
