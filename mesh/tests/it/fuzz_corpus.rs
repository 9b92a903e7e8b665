//! The `mesh_frames` fuzz corpus replayed as an ordinary test, through the
//! entry the fuzz target calls (`roam_mesh::fuzzing::frames`).

use std::path::PathBuf;

#[test]
fn mesh_frames_corpus_replays() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/mesh_frames");
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
        roam_mesh::fuzzing::frames(&std::fs::read(&path).unwrap());
    }
}
