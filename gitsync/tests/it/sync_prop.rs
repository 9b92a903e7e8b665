//! Property: random edit sequences in a real repo survive capture → transfer
//! between two stores → restore exactly (files, modes, symlinks, index, HEAD),
//! and the capture leaves the source untouched.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use proptest::prelude::*;
use roam_gitsync::{CaptureOptions, Mirrors, ReceiveOptions, Snapshot, Worktree, capture, restore};

use crate::common::TestRepo;
use crate::sync_util::{state, transfer};

/// File names used by the edits; directories are never used as file names,
/// so edits cannot collide on a path being both file and directory.
const PATHS: &[&str] = &[
    "a.txt",
    "b.bin",
    "d/c.txt",
    "d/e/f.txt",
    "d2/g.sh",
    "link",
    "d/e/link2",
];

#[derive(Debug, Clone)]
enum Edit {
    Write(usize, String),
    Binary(usize, Vec<u8>),
    Delete(usize),
    Rename(usize, usize),
    ChmodX(usize),
    Symlink(usize, usize),
    Stage(usize),
    StageAll,
    Unstage(usize),
    Commit,
}

fn edit() -> impl Strategy<Value = Edit> {
    let p = 0..PATHS.len();
    prop_oneof![
        (p.clone(), "[a-z\n]{0,40}").prop_map(|(i, s)| Edit::Write(i, s)),
        (p.clone(), proptest::collection::vec(any::<u8>(), 0..300))
            .prop_map(|(i, b)| Edit::Binary(i, b)),
        p.clone().prop_map(Edit::Delete),
        (p.clone(), p.clone()).prop_map(|(a, b)| Edit::Rename(a, b)),
        p.clone().prop_map(Edit::ChmodX),
        (p.clone(), p.clone()).prop_map(|(a, b)| Edit::Symlink(a, b)),
        p.clone().prop_map(Edit::Stage),
        Just(Edit::StageAll),
        p.prop_map(Edit::Unstage),
        Just(Edit::Commit),
    ]
}

fn remove(path: &Path) {
    if path.symlink_metadata().is_ok() {
        std::fs::remove_file(path).unwrap();
    }
}

fn apply(r: &TestRepo, e: &Edit) {
    let at = |i: usize| r.dir.join(PATHS[i]);
    let parent = |i: usize| std::fs::create_dir_all(at(i).parent().unwrap()).unwrap();
    match e {
        Edit::Write(i, s) => {
            parent(*i);
            remove(&at(*i));
            std::fs::write(at(*i), s).unwrap();
        }
        Edit::Binary(i, b) => {
            parent(*i);
            remove(&at(*i));
            std::fs::write(at(*i), b).unwrap();
        }
        Edit::Delete(i) => remove(&at(*i)),
        Edit::Rename(a, b) => {
            if at(*a).symlink_metadata().is_ok() && a != b {
                parent(*b);
                remove(&at(*b));
                std::fs::rename(at(*a), at(*b)).unwrap();
            }
        }
        Edit::ChmodX(i) => {
            let path = at(*i);
            if let Ok(m) = path.symlink_metadata()
                && m.is_file()
            {
                let mode = m.permissions().mode() ^ 0o111;
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            }
        }
        Edit::Symlink(i, target) => {
            parent(*i);
            remove(&at(*i));
            std::os::unix::fs::symlink(PATHS[*target], at(*i)).unwrap();
        }
        // Staging or unstaging a path git has never seen fails; that is
        // fine for a random edit, so the exit status is ignored.
        Edit::Stage(i) => try_git(&r.dir, &["add", "-A", "--", PATHS[*i]]),
        Edit::StageAll => {
            r.git(&["add", "-A"]);
        }
        Edit::Unstage(i) => try_git(&r.dir, &["reset", "-q", "--", PATHS[*i]]),
        Edit::Commit => {
            r.git(&["commit", "-q", "--allow-empty", "-m", "step"]);
        }
    }
}

fn try_git(dir: &Path, args: &[&str]) {
    let _ = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .unwrap();
}

proptest! {
    // Each case runs dozens of git processes; a few cases with long edit
    // sequences cover more interleavings than many short ones.
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn random_edits_survive_capture_transfer_restore(
        edits in proptest::collection::vec(edit(), 1..25),
        warm in any::<bool>(),
    ) {
        let r = TestRepo::new();
        let tmp = tempfile::tempdir().unwrap();
        let mirrors = Mirrors::open(&tmp.path().join("mirrors")).unwrap();
        let reference = "refs/roam/sync/prop";
        if warm {
            // The receiver already has the first commit, so the pack is thin.
            capture(&Worktree::open(&r.dir).unwrap(), reference, &CaptureOptions::default()).unwrap();
            let (s, rc) = transfer(&r.dir, reference, reference, &mirrors, &ReceiveOptions::default());
            s.unwrap();
            rc.unwrap();
        }
        for e in &edits {
            apply(&r, e);
        }
        let before = state(&r.dir);
        let snap = capture(&Worktree::open(&r.dir).unwrap(), reference, &CaptureOptions::default()).unwrap();
        prop_assert_eq!(&state(&r.dir), &before, "capture changed the source");

        let (sent, received) = transfer(&r.dir, reference, reference, &mirrors, &ReceiveOptions::default());
        sent.unwrap();
        let received = received.unwrap();
        let loaded = Snapshot::load(received.mirror.path(), reference).unwrap();
        prop_assert_eq!(&loaded, &snap);
        let dest = tmp.path().join("restored");
        restore(received.mirror.path(), &loaded, &dest).unwrap();
        prop_assert_eq!(state(&dest), before);
    }
}
