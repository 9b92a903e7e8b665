//! capture → send/receive → restore, and every bad input the issue lists.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use roam_gitsync::{
    CaptureOptions, GitError, Mirrors, ReceiveOptions, RepoId, Snapshot, TransferError, Worktree,
    capture, restore,
};

use crate::common::{TestRepo, git};
use crate::sync_util::{Entry, first_pack_byte, record, refs, replay, state, transfer};

pub const REF: &str = "refs/roam/sync/ws";

/// A repo with a mix of everything a snapshot must carry.
pub fn messy_repo() -> TestRepo {
    let r = TestRepo::new();
    r.commit_file("src/lib.rs", "fn a() {}\n", "lib");
    r.commit_file("old.txt", "old\n", "old");
    r.write("src/lib.rs", "fn a() { staged }\n");
    r.git(&["add", "src/lib.rs"]);
    r.write("src/lib.rs", "fn a() { staged then unstaged }\n");
    r.write("new/deep/untracked.txt", "untracked\n");
    r.write("staged-new.txt", "staged new\n");
    r.git(&["add", "staged-new.txt"]);
    r.git(&["mv", "old.txt", "renamed.txt"]);
    std::fs::remove_file(r.dir.join("README")).unwrap();
    r.write("run.sh", "#!/bin/sh\n");
    std::fs::set_permissions(r.dir.join("run.sh"), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::os::unix::fs::symlink("src/lib.rs", r.dir.join("link")).unwrap();
    std::fs::write(
        r.dir.join("blob.bin"),
        (0..=255u8).cycle().take(5000).collect::<Vec<_>>(),
    )
    .unwrap();
    r.write(".gitignore", "*.log\n");
    r.write("debug.log", "ignored\n");
    r
}

pub fn receiver() -> (tempfile::TempDir, Mirrors) {
    let tmp = tempfile::tempdir().unwrap();
    let mirrors = Mirrors::open(&tmp.path().join("mirrors")).unwrap();
    (tmp, mirrors)
}

/// Captures, transfers to `mirrors`, restores at `<tmp>/restored`; returns the restored dir.
fn move_to(src: &Path, mirrors: &Mirrors, dest: &Path) -> Snapshot {
    let snap = capture(
        &Worktree::open(src).unwrap(),
        REF,
        &CaptureOptions::default(),
    )
    .unwrap();
    let (sent, received) = transfer(src, REF, REF, mirrors, &ReceiveOptions::default());
    sent.unwrap();
    let received = received.unwrap();
    assert_eq!(received.tip, snap.commit);
    let loaded = Snapshot::load(received.mirror.path(), REF).unwrap();
    assert_eq!(loaded, snap);
    restore(received.mirror.path(), &loaded, dest).unwrap();
    snap
}

#[test]
fn restore_is_identical_to_the_captured_worktree() {
    let r = messy_repo();
    let before = state(&r.dir);
    let status_before = r.git(&["status", "--porcelain"]);
    let (tmp, mirrors) = receiver();
    let dest = tmp.path().join("restored");
    move_to(&r.dir, &mirrors, &dest);

    // The user's side is untouched.
    assert_eq!(state(&r.dir), before);
    assert_eq!(r.git(&["status", "--porcelain"]), status_before);

    let mut expected = before;
    expected.files.retain(|(p, _)| p != "debug.log"); // ignored by default
    assert_eq!(state(&dest), expected);
    assert_eq!(
        git(&dest, &["status", "--porcelain"]),
        status_before
            .replace("\n?? debug.log", "")
            .replace("?? debug.log\n", "")
    );
    assert_eq!(git(&dest, &["symbolic-ref", "HEAD"]), "refs/heads/main");
}

#[test]
fn small_ignored_files_are_carried_when_asked() {
    let r = messy_repo();
    r.write("big.log", &"x".repeat(10_000));
    let wt = Worktree::open(&r.dir).unwrap();
    let opts = CaptureOptions {
        include_ignored_below: Some(100),
    };
    let snap = capture(&wt, REF, &opts).unwrap();
    let tree = r.git(&["ls-tree", "-r", "--name-only", snap.commit.as_str()]);
    assert!(tree.lines().any(|l| l == "debug.log"), "{tree}");
    assert!(!tree.lines().any(|l| l == "big.log"), "{tree}");
}

#[test]
fn warm_receiver_gets_only_the_missing_objects() {
    let r = messy_repo();
    let (tmp, mirrors) = receiver();
    move_to(&r.dir, &mirrors, &tmp.path().join("first"));

    r.write("src/lib.rs", "fn a() { one more edit }\n");
    capture(
        &Worktree::open(&r.dir).unwrap(),
        REF,
        &CaptureOptions::default(),
    )
    .unwrap();
    let (sent, received) = transfer(&r.dir, REF, REF, &mirrors, &ReceiveOptions::default());
    let sent = sent.unwrap();
    received.unwrap();
    assert!(sent.common > 0, "receiver's tips were used as bases");
    // New: snapshot commit, its index commit, root tree, src/ tree, one blob —
    // nothing of the base. Regression: the previous snapshot is not an
    // ancestor of the new one, so `^have` alone resent every file.
    assert!(sent.objects <= 5, "sent {sent:?}");
}

#[test]
fn second_workspace_of_a_repo_costs_no_objects() {
    let r = messy_repo();
    let (tmp, mirrors) = receiver();
    move_to(&r.dir, &mirrors, &tmp.path().join("one"));
    let (sent, received) = transfer(
        &r.dir,
        REF,
        "refs/roam/sync/two",
        &mirrors,
        &ReceiveOptions::default(),
    );
    assert_eq!(sent.unwrap().objects, 0);
    let received = received.unwrap();
    assert_eq!(received.objects, 0);
    Snapshot::load(received.mirror.path(), "refs/roam/sync/two").unwrap();
}

#[test]
fn empty_repo_is_refused() {
    let r = TestRepo::empty();
    r.write("a.txt", "a\n");
    let err = capture(
        &Worktree::open(&r.dir).unwrap(),
        REF,
        &CaptureOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(err, GitError::NoCommits { .. }), "{err}");
    assert_eq!(refs(&r.dir), "");
    // Still nothing staged or committed for the user.
    assert_eq!(r.git(&["status", "--porcelain"]), "?? a.txt");
}

#[test]
fn detached_head_is_carried() {
    let r = messy_repo();
    let head = r.git(&["rev-parse", "HEAD~1"]);
    r.git(&["stash", "-u"]);
    r.git(&["checkout", "-q", "--detach", &head]);
    r.write("wip.txt", "wip\n");
    let (tmp, mirrors) = receiver();
    let dest = tmp.path().join("restored");
    let snap = move_to(&r.dir, &mirrors, &dest);
    assert_eq!(snap.branch, None);
    assert_eq!(state(&dest), state(&r.dir));
    assert_eq!(state(&dest).branch, "");
}

#[test]
fn merge_in_progress_is_refused_with_a_clear_message() {
    let r = TestRepo::new();
    r.git(&["checkout", "-q", "-b", "other"]);
    r.commit_file("README", "other\n", "other");
    r.git(&["checkout", "-q", "main"]);
    r.commit_file("README", "main\n", "main");
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(&r.dir)
        .args(["merge", "other"])
        .output()
        .unwrap();
    assert!(!out.status.success(), "merge must conflict");
    let err = capture(
        &Worktree::open(&r.dir).unwrap(),
        REF,
        &CaptureOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(err, GitError::OperationInProgress { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("a merge is in progress; finish or abort it first"),
        "{err}"
    );
    assert!(!refs(&r.dir).contains("refs/roam"));
}

#[test]
fn rebase_in_progress_is_refused_with_a_clear_message() {
    let r = TestRepo::new();
    r.git(&["checkout", "-q", "-b", "other"]);
    r.commit_file("README", "other\n", "other");
    r.git(&["checkout", "-q", "main"]);
    r.commit_file("README", "main\n", "main");
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(&r.dir)
        .args(["rebase", "other"])
        .output()
        .unwrap();
    assert!(!out.status.success(), "rebase must conflict");
    let err = capture(
        &Worktree::open(&r.dir).unwrap(),
        REF,
        &CaptureOptions::default(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("rebase"), "{err}");
}

#[test]
fn unreadable_file_fails_capture_and_changes_nothing() {
    let r = TestRepo::new();
    r.commit_file("data", "x\n", "data");
    let index_before = std::fs::read(r.dir.join(".git/index")).unwrap();
    // chmod 000 does not stop root (tests often run as root in containers);
    // a FIFO where a tracked file was cannot be read as a file by anyone.
    std::fs::remove_file(r.dir.join("data")).unwrap();
    let status = std::process::Command::new("mkfifo")
        .arg(r.dir.join("data"))
        .status()
        .unwrap();
    assert!(status.success());
    r.write("secret", "s\n");
    std::fs::set_permissions(r.dir.join("secret"), std::fs::Permissions::from_mode(0o000)).unwrap();

    let err = capture(
        &Worktree::open(&r.dir).unwrap(),
        REF,
        &CaptureOptions::default(),
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("data"),
        "error names the file: {err}"
    );
    assert!(!refs(&r.dir).contains("refs/roam"));
    assert_eq!(
        std::fs::read(r.dir.join(".git/index")).unwrap(),
        index_before
    );
}

/// A receiver that already has a base, and a sender with a big new file.
pub fn warm_pair_with_big_change() -> (TestRepo, tempfile::TempDir, Mirrors, String, String) {
    let r = TestRepo::new();
    let (tmp, mirrors) = receiver();
    let base = capture(
        &Worktree::open(&r.dir).unwrap(),
        REF,
        &CaptureOptions::default(),
    )
    .unwrap();
    let (s, rcv) = transfer(&r.dir, REF, REF, &mirrors, &ReceiveOptions::default());
    s.unwrap();
    let mirror = rcv.unwrap().mirror;
    let refs_before = refs(mirror.path());
    // Incompressible, so the pack is about this big.
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let noise: Vec<u8> = (0..400_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect();
    std::fs::write(r.dir.join("noise.bin"), noise).unwrap();
    capture(
        &Worktree::open(&r.dir).unwrap(),
        REF,
        &CaptureOptions::default(),
    )
    .unwrap();
    (r, tmp, mirrors, refs_before, base.commit.0)
}

/// How many mirrors (`*.git`) the directory holds; lock files do not count.
pub fn mirrors_in(mirrors: &Mirrors) -> usize {
    std::fs::read_dir(mirrors.dir())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".git")
        })
        .count()
}

pub fn quarantines_left(mirrors: &Mirrors, key: &roam_gitsync::Oid) -> usize {
    std::fs::read_dir(mirrors.path_for(key).join("objects"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("roam-incoming")
        })
        .count()
}

#[test]
fn receiver_whose_disk_fills_keeps_its_refs() {
    let (r, _tmp, mirrors, refs_before, _) = warm_pair_with_big_change();
    // RLIMIT_FSIZE on the receiving git only: writing past 64 KiB fails like a
    // full disk (SIGXFSZ/EFBIG), without needing a tmpfs mount.
    let opts = ReceiveOptions {
        index_pack_wrapper: ["prlimit", "--fsize=65536", "--"].map(Into::into).to_vec(),
        ..ReceiveOptions::default()
    };
    let (sent, received) = transfer(&r.dir, REF, REF, &mirrors, &opts);
    let err = received.unwrap_err();
    assert!(matches!(err, TransferError::Storage(_)), "{err}");
    assert!(sent.is_err(), "the sender hears of the failure");
    let id = RepoId::of(&r.dir, "HEAD").unwrap();
    assert_eq!(refs(&mirrors.path_for(&id.key)), refs_before);
    assert_eq!(quarantines_left(&mirrors, &id.key), 0);
}

#[test]
fn truncated_transfer_moves_no_ref() {
    let (r, tmp, mirrors, refs_before, base) = warm_pair_with_big_change();
    // Record an honest transfer to a twin receiver in the same state...
    let twin = Mirrors::open(&tmp.path().join("twin")).unwrap();
    let (s, rcv) = transfer(&r.dir, &base, REF, &twin, &ReceiveOptions::default());
    s.unwrap();
    rcv.unwrap();
    let recording = record(&r.dir, REF, REF, &twin);
    // ...and replay half of it to the real one.
    let half = recording[..recording.len() / 2].to_vec();
    let err = replay(half, &mirrors).unwrap_err();
    assert!(matches!(err, TransferError::Closed { .. }), "{err}");
    let id = RepoId::of(&r.dir, "HEAD").unwrap();
    assert_eq!(refs(&mirrors.path_for(&id.key)), refs_before);
    assert_eq!(quarantines_left(&mirrors, &id.key), 0);
}

#[test]
fn corrupt_pack_is_rejected_and_moves_no_ref() {
    let r = messy_repo();
    let (tmp, mirrors) = receiver();
    capture(
        &Worktree::open(&r.dir).unwrap(),
        REF,
        &CaptureOptions::default(),
    )
    .unwrap();
    let twin = Mirrors::open(&tmp.path().join("twin")).unwrap();
    let mut recording = record(&r.dir, REF, REF, &twin);
    let at = first_pack_byte(&recording) + 200;
    recording[at] ^= 0x55;
    let err = replay(recording, &mirrors).unwrap_err();
    assert!(matches!(err, TransferError::BadPack(_)), "{err}");
    // A cold receiver stays cold: the mirror made for the transfer is gone.
    assert_eq!(mirrors_in(&mirrors), 0);
}

#[test]
fn garbage_from_a_peer_is_a_protocol_error() {
    let (_tmp, mirrors) = receiver();
    let err = replay(b"GET / HTTP/1.1\r\n\r\n".to_vec(), &mirrors).unwrap_err();
    assert!(
        matches!(
            err,
            TransferError::Protocol { .. } | TransferError::Closed { .. }
        ),
        "{err}"
    );
    assert_eq!(mirrors_in(&mirrors), 0);
}

#[test]
fn objects_for_a_different_repo_are_refused() {
    let a = TestRepo::new();
    let b = TestRepo::empty();
    b.commit_file("other", "another project\n", "unrelated root");
    capture(
        &Worktree::open(&b.dir).unwrap(),
        REF,
        &CaptureOptions::default(),
    )
    .unwrap();
    let (_tmp, mirrors) = receiver();
    let opts = ReceiveOptions {
        expect: Some(RepoId::of(&a.dir, "HEAD").unwrap()),
        ..ReceiveOptions::default()
    };
    let (sent, received) = transfer(&b.dir, REF, REF, &mirrors, &opts);
    let err = received.unwrap_err();
    assert!(matches!(err, TransferError::DifferentRepo { .. }), "{err}");
    assert!(
        err.to_string().starts_with("objects for a different repo"),
        "{err}"
    );
    let sent_err = sent.unwrap_err();
    assert!(
        sent_err.to_string().contains("different repo"),
        "{sent_err}"
    );
    assert_eq!(mirrors_in(&mirrors), 0);
}

#[test]
fn refs_outside_refs_roam_are_refused() {
    let r = TestRepo::new();
    let (_tmp, mirrors) = receiver();
    let (_, received) = transfer(
        &r.dir,
        "HEAD",
        "refs/heads/main",
        &mirrors,
        &ReceiveOptions::default(),
    );
    assert!(matches!(received.unwrap_err(), TransferError::BadRef(_)));
}

#[test]
fn restore_refuses_a_branch_that_points_elsewhere() {
    let r = messy_repo();
    let (tmp, mirrors) = receiver();
    let snap = move_to(&r.dir, &mirrors, &tmp.path().join("one"));
    let mirror = mirrors.path_for(&RepoId::of(&r.dir, "HEAD").unwrap().key);
    git(
        &mirror,
        &["update-ref", "refs/heads/main", &format!("{}~1", snap.head)],
    );
    let err = restore(&mirror, &snap, &tmp.path().join("two")).unwrap_err();
    assert!(matches!(err, GitError::BranchExists { .. }), "{err}");
    assert!(!tmp.path().join("two").exists());
}

#[test]
fn executable_bit_and_symlink_survive() {
    let r = messy_repo();
    let (tmp, mirrors) = receiver();
    let dest = tmp.path().join("restored");
    move_to(&r.dir, &mirrors, &dest);
    let files = state(&dest).files;
    let get = |name: &str| files.iter().find(|(p, _)| p == name).unwrap().1.clone();
    assert!(matches!(get("run.sh"), Entry::File { exec: true, .. }));
    assert_eq!(get("link"), Entry::Symlink("src/lib.rs".into()));
}

#[test]
fn a_pack_missing_objects_is_refused_and_moves_no_ref() {
    // The receiver holds the base snapshot; the pack is cut for a twin that
    // also holds the big change, so it lacks the big file the new snapshot
    // still has.
    let (r, tmp, mirrors, refs_before, _) = warm_pair_with_big_change();
    let twin = Mirrors::open(&tmp.path().join("twin")).unwrap();
    let (s, rcv) = transfer(&r.dir, REF, REF, &twin, &ReceiveOptions::default());
    s.unwrap();
    rcv.unwrap();
    r.write("after.txt", "after the big change\n");
    capture(
        &Worktree::open(&r.dir).unwrap(),
        REF,
        &CaptureOptions::default(),
    )
    .unwrap();
    let recording = record(&r.dir, REF, REF, &twin);
    let err = replay(recording, &mirrors).unwrap_err();
    assert!(matches!(err, TransferError::BadPack(_)), "{err}");
    assert!(err.to_string().contains("missing"), "{err}");
    let id = RepoId::of(&r.dir, "HEAD").unwrap();
    assert_eq!(refs(&mirrors.path_for(&id.key)), refs_before);
    assert_eq!(quarantines_left(&mirrors, &id.key), 0);
}
