//! Receives into one mirror at once, and a receive whose process is killed.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use roam_gitsync::{
    CaptureOptions, Mirrors, Oid, ReceiveOptions, RepoId, Snapshot, Worktree, capture, receive,
    send,
};
use tokio::io::AsyncWriteExt;

use crate::common::git;
use crate::sync::{
    REF, messy_repo, mirrors_in, quarantines_left, receiver, warm_pair_with_big_change,
};
use crate::sync_util::{record, refs, rt, transfer, wait_for};

const CHILD_MIRRORS: &str = "ROAM_GITSYNC_TEST_CHILD_MIRRORS";
const CHILD_SOCKET: &str = "ROAM_GITSYNC_TEST_CHILD_SOCKET";

/// Not a check of its own: the receiving process that
/// `a_killed_receive_leaves_no_quarantine_and_no_lock` starts and kills.
#[test]
#[ignore = "run as a child process by a_killed_receive_leaves_no_quarantine_and_no_lock"]
fn receive_in_a_child_process() {
    let dir = std::env::var_os(CHILD_MIRRORS).expect("started by the kill test");
    let socket = std::env::var_os(CHILD_SOCKET).expect("started by the kill test");
    rt().block_on(async {
        let mirrors = Mirrors::open(Path::new(&dir)).unwrap();
        let mut stream = tokio::net::UnixStream::connect(&socket).await.unwrap();
        let _ = receive(&mirrors, &mut stream, &ReceiveOptions::default(), |_| {}).await;
    });
}

/// Whether a quarantine of the mirror has a pack git is writing into.
fn index_pack_running(mirror: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(mirror.join("objects")) else {
        return false;
    };
    entries.flatten().any(|e| {
        e.file_name().to_string_lossy().starts_with("roam-incoming")
            && std::fs::read_dir(e.path().join("pack")).is_ok_and(|mut p| p.next().is_some())
    })
}

/// Regression: a receive killed mid-pack left its quarantine (every object it
/// had received) in the mirror for good. Now the next open sweeps it, and the
/// mirror's lock died with the process, so the next receive goes ahead.
#[test]
fn a_killed_receive_leaves_no_quarantine_and_no_lock() {
    let (r, tmp, mirrors, refs_before, base) = warm_pair_with_big_change();
    let twin = Mirrors::open(&tmp.path().join("twin")).unwrap();
    let (s, rcv) = transfer(&r.dir, &base, REF, &twin, &ReceiveOptions::default());
    s.unwrap();
    rcv.unwrap();
    let recording = record(&r.dir, REF, REF, &twin);
    let key = RepoId::of(&r.dir, "HEAD").unwrap().key;
    let mirror = mirrors.path_for(&key);

    let socket = tmp.path().join("child.sock");
    let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "receive_lock::receive_in_a_child_process",
            "--ignored",
        ])
        .env(CHILD_MIRRORS, mirrors.dir())
        .env(CHILD_SOCKET, &socket)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let (mut conn, _) = listener.accept().unwrap();
    std::io::Write::write_all(&mut conn, &recording[..recording.len() / 2]).unwrap();
    rt().block_on(wait_for("the child's index-pack", || {
        index_pack_running(&mirror)
    }));
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(quarantines_left(&mirrors, &key), 1, "the kill left it");

    let reopened = Mirrors::open(mirrors.dir()).unwrap();
    assert_eq!(quarantines_left(&reopened, &key), 0);
    assert_eq!(refs(&mirror), refs_before);
    drop(conn);

    // Would wait for the lock forever had it outlived the process.
    let (sent, received) = transfer(&r.dir, REF, REF, &reopened, &ReceiveOptions::default());
    sent.unwrap();
    received.unwrap();
}

/// Whether some process waits for the `flock` on `path` (`/proc/locks` lists
/// a blocked request as `->` with the file's inode).
fn someone_waits_for(path: &Path) -> bool {
    let Ok(ino) = std::fs::metadata(path).map(|m| m.ino()) else {
        return false;
    };
    let suffix = format!(":{ino}");
    std::fs::read_to_string("/proc/locks").is_ok_and(|locks| {
        locks.lines().any(|l| {
            l.contains("->")
                && l.contains("FLOCK")
                && l.split_whitespace().any(|f| f.ends_with(&suffix))
        })
    })
}

fn assert_whole(mirror: &Path, ref_name: &str) {
    git(mirror, &["fsck", "--strict", "--no-dangling"]);
    Snapshot::load(mirror, ref_name).unwrap();
}

/// Regression: two first transfers of one repo raced; when the one that made
/// the mirror failed, it deleted the mirror under the other, taking the
/// other's objects and ref with it. Now the second waits for the first.
#[test]
fn a_failed_first_transfer_does_not_delete_a_concurrent_ones_mirror() {
    let r = messy_repo();
    capture(
        &Worktree::open(&r.dir).unwrap(),
        REF,
        &CaptureOptions::default(),
    )
    .unwrap();
    let (tmp, mirrors) = receiver();
    let twin = Mirrors::open(&tmp.path().join("twin")).unwrap();
    let recording = record(&r.dir, REF, REF, &twin);
    let key: Oid = RepoId::of(&r.dir, "HEAD").unwrap().key;
    let mirror = mirrors.path_for(&key);
    let lock = mirrors.dir().join(format!("{key}.lock"));
    let other = "refs/roam/sync/other";

    rt().block_on(async {
        // The first transfer makes the mirror and stalls mid-pack...
        let (mut feeder, mut rx) = tokio::io::duplex(1 << 20);
        feeder
            .write_all(&recording[..recording.len() / 2])
            .await
            .unwrap();
        let failing = {
            let mirrors = mirrors.clone();
            tokio::spawn(async move {
                receive(&mirrors, &mut rx, &ReceiveOptions::default(), |_| {}).await
            })
        };
        wait_for("the first transfer's index-pack", || {
            index_pack_running(&mirror)
        })
        .await;
        // ...a second, honest one starts...
        let honest = {
            let (mirrors, dir) = (mirrors.clone(), r.dir.clone());
            tokio::spawn(async move {
                let (mut a, mut b) = tokio::io::duplex(64 * 1024);
                let opts = ReceiveOptions::default();
                let (s, rc) = tokio::join!(
                    async {
                        let s = send(&dir, REF, other, &mut a, |_| {}).await;
                        drop(a);
                        s
                    },
                    async {
                        let rc = receive(&mirrors, &mut b, &opts, |_| {}).await;
                        drop(b);
                        rc
                    }
                );
                s.unwrap();
                rc.unwrap()
            })
        };
        wait_for("the second transfer to finish or wait its turn", || {
            honest.is_finished() || someone_waits_for(&lock)
        })
        .await;
        // ...and then the first fails.
        drop(feeder);
        assert!(failing.await.unwrap().is_err());
        honest.await.unwrap();
    });
    assert_eq!(mirrors_in(&mirrors), 1);
    assert!(refs(&mirror).contains(other), "{}", refs(&mirror));
    assert_whole(&mirror, other);
}

/// Both of two honest first transfers at once end in one whole mirror.
#[test]
fn two_first_transfers_of_one_repo_at_once_both_end_with_a_whole_mirror() {
    let r = messy_repo();
    capture(
        &Worktree::open(&r.dir).unwrap(),
        REF,
        &CaptureOptions::default(),
    )
    .unwrap();
    let (_tmp, mirrors) = receiver();
    let refs_to = ["refs/roam/sync/one", "refs/roam/sync/two"];
    std::thread::scope(|s| {
        let runs: Vec<_> = refs_to
            .iter()
            .map(|to| s.spawn(|| transfer(&r.dir, REF, to, &mirrors, &ReceiveOptions::default())))
            .collect();
        for run in runs {
            let (sent, received) = run.join().unwrap();
            sent.unwrap();
            received.unwrap();
        }
    });
    let mirror = mirrors.path_for(&RepoId::of(&r.dir, "HEAD").unwrap().key);
    for to in refs_to {
        assert_whole(&mirror, to);
    }
}
