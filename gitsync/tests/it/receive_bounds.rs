//! What a receiver accepts from a peer: how big, how slow, how well formed,
//! and nothing it did not ask for. Every refusal leaves the mirror as it was.

use std::time::Duration;

use roam_gitsync::{
    CaptureOptions, DEFAULT_MAX_PACK_BYTES, Mirrors, ReceiveOptions, RepoId, TransferError,
    Worktree, capture, receive,
};
use tokio::io::AsyncWriteExt;

use crate::common::{TestRepo, git, git_input};
use crate::sync::{REF, mirrors_in, quarantines_left, receiver, warm_pair_with_big_change};
use crate::sync_util::{
    frames, offer_frame, record, refs, replay, replay_then_stall, rt, transfer,
};

/// Regression: the default cap was 64 GiB, so one peer could make a node
/// write that much. The receiver counts the stream itself: a sender that
/// keeps going past 4 GiB is cut off there, whatever its pack says.
#[test]
fn default_receiver_cuts_off_a_pack_past_4_gib() {
    assert_eq!(DEFAULT_MAX_PACK_BYTES, 4 << 30);
    let r = TestRepo::new();
    capture(
        &Worktree::open(&r.dir).unwrap(),
        REF,
        &CaptureOptions::default(),
    )
    .unwrap();
    let (tmp, mirrors) = receiver();
    let twin = Mirrors::open(&tmp.path().join("twin")).unwrap();
    let offer = offer_frame(&record(&r.dir, REF, REF, &twin)).to_vec();
    let err = rt().block_on(async {
        let (mut sender, mut rx) = tokio::io::duplex(256 * 1024);
        let feed = tokio::spawn(async move {
            sender.write_all(&offer).await?;
            let mut frame = vec![0u8; 5 + 64 * 1024];
            frame[0] = 3;
            frame[1..5].copy_from_slice(&(64u32 * 1024).to_be_bytes());
            // One frame past the cap, then an honest-looking end.
            for _ in 0..=(DEFAULT_MAX_PACK_BYTES / (64 * 1024)) {
                sender.write_all(&frame).await?;
            }
            sender.write_all(&[4, 0, 0, 0, 8]).await?;
            let total = (DEFAULT_MAX_PACK_BYTES / (64 * 1024) + 1) * 64 * 1024;
            sender.write_all(&total.to_be_bytes()).await?;
            Ok::<_, std::io::Error>(sender)
        });
        let r = receive(&mirrors, &mut rx, &ReceiveOptions::default(), |_| {}).await;
        drop(rx);
        let _ = feed.await.unwrap();
        r.unwrap_err()
    });
    assert!(
        matches!(err, TransferError::TooLarge { limit } if limit == DEFAULT_MAX_PACK_BYTES),
        "{err}"
    );
    assert_eq!(mirrors_in(&mirrors), 0);
}

/// A caller's smaller cap holds on a real pack: refused while it streams,
/// the sender hears it, refs and quarantines as they were.
#[test]
fn a_pack_past_a_configured_cap_is_cut_off_and_moves_no_ref() {
    let (r, _tmp, mirrors, refs_before, _) = warm_pair_with_big_change();
    let opts = ReceiveOptions {
        max_pack_bytes: 100_000,
        ..ReceiveOptions::default()
    };
    let (sent, received) = transfer(&r.dir, REF, REF, &mirrors, &opts);
    let err = received.unwrap_err();
    assert!(
        matches!(err, TransferError::TooLarge { limit: 100_000 }),
        "{err}"
    );
    assert!(sent.is_err(), "the sender hears of the refusal");
    let id = RepoId::of(&r.dir, "HEAD").unwrap();
    assert_eq!(refs(&mirrors.path_for(&id.key)), refs_before);
    assert_eq!(quarantines_left(&mirrors, &id.key), 0);
}

/// Half of an honest transfer, from a sender that then goes quiet.
fn half_a_transfer() -> (TestRepo, tempfile::TempDir, Mirrors, String, Vec<u8>) {
    let (r, tmp, mirrors, refs_before, base) = warm_pair_with_big_change();
    let twin = Mirrors::open(&tmp.path().join("twin")).unwrap();
    let (s, rcv) = transfer(&r.dir, &base, REF, &twin, &ReceiveOptions::default());
    s.unwrap();
    rcv.unwrap();
    let recording = record(&r.dir, REF, REF, &twin);
    let half = recording[..recording.len() / 2].to_vec();
    (r, tmp, mirrors, refs_before, half)
}

/// Regression: a receive had no timeout, so a peer that stopped mid-pack held
/// the receive (and its git) forever.
#[test]
fn a_sender_that_stalls_mid_pack_is_cut_off_and_moves_no_ref() {
    let (r, _tmp, mirrors, refs_before, half) = half_a_transfer();
    let opts = ReceiveOptions {
        idle_timeout: Duration::from_millis(500),
        ..ReceiveOptions::default()
    };
    let err = replay_then_stall(half, &mirrors, &opts).unwrap_err();
    assert!(matches!(err, TransferError::Stalled { .. }), "{err}");
    assert!(
        err.to_string()
            .starts_with("peer sent nothing for 500ms while receiving the pack"),
        "{err}"
    );
    let id = RepoId::of(&r.dir, "HEAD").unwrap();
    assert_eq!(refs(&mirrors.path_for(&id.key)), refs_before);
    assert_eq!(quarantines_left(&mirrors, &id.key), 0);
}

/// Regression: nothing bounded a whole receive; the deadline ends it even
/// when the idle timeout would wait longer.
#[test]
fn a_receive_past_its_deadline_is_cut_off_and_moves_no_ref() {
    let (r, _tmp, mirrors, refs_before, half) = half_a_transfer();
    let opts = ReceiveOptions {
        idle_timeout: Duration::from_secs(3600),
        deadline: Duration::from_secs(1),
        ..ReceiveOptions::default()
    };
    let err = replay_then_stall(half, &mirrors, &opts).unwrap_err();
    assert!(matches!(err, TransferError::TimedOut { .. }), "{err}");
    assert!(
        err.to_string()
            .starts_with("transfer ran past the receiver's limit of 1s"),
        "{err}"
    );
    let id = RepoId::of(&r.dir, "HEAD").unwrap();
    assert_eq!(refs(&mirrors.path_for(&id.key)), refs_before);
    assert_eq!(quarantines_left(&mirrors, &id.key), 0);
}

/// Raw object id bytes of a hex id.
fn raw(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

/// Regression: `index-pack` ran without `--strict`, so a malformed object (here
/// a tree with a `.git` entry, which git refuses to check out) was stored.
#[test]
fn a_malformed_object_is_refused_by_strict_indexing() {
    let r = TestRepo::new();
    let blob = r.git(&["rev-parse", "HEAD:README"]);
    let mut tree = b"100644 .git\0".to_vec();
    tree.extend(raw(&blob));
    let tree = git_input(
        &r.dir,
        &["hash-object", "-t", "tree", "--literally", "-w", "--stdin"],
        &tree,
    );
    let bad = r.git(&["commit-tree", &tree, "-p", "HEAD", "-m", "bad tree"]);
    let (_tmp, mirrors) = receiver();
    let (sent, received) = transfer(&r.dir, &bad, REF, &mirrors, &ReceiveOptions::default());
    let err = received.unwrap_err();
    assert!(matches!(err, TransferError::BadPack(_)), "{err}");
    assert!(err.to_string().contains("hasDotgit"), "{err}");
    assert!(sent.is_err(), "the sender hears of the refusal");
    assert_eq!(mirrors_in(&mirrors), 0);
}

/// Regression: the whole quarantine was moved in, so a peer could add objects
/// no ref reaches, and mirrors never gc: they stayed forever.
#[test]
fn objects_unreachable_from_the_tip_are_refused_not_planted() {
    let (r, tmp, mirrors, refs_before, _) = warm_pair_with_big_change();
    let twin = Mirrors::open(&tmp.path().join("twin")).unwrap();
    let offer = offer_frame(&record(&r.dir, REF, REF, &twin)).to_vec();
    let planted = git_input(
        &r.dir,
        &["hash-object", "-w", "--stdin"],
        b"planted by a peer\n",
    );
    let mut list = git(&r.dir, &["rev-list", "--objects", "--no-object-names", REF]);
    list.push('\n');
    list.push_str(&planted);
    let pack = pack_of(&r.dir, &list);
    let err = replay(frames(&offer, &pack), &mirrors).unwrap_err();
    assert!(matches!(err, TransferError::BadPack(_)), "{err}");
    assert!(
        err.to_string()
            .contains("1 objects in the pack are not reachable"),
        "{err}"
    );
    let id = RepoId::of(&r.dir, "HEAD").unwrap();
    let mirror = mirrors.path_for(&id.key);
    assert_eq!(refs(&mirror), refs_before);
    assert_eq!(quarantines_left(&mirrors, &id.key), 0);
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(&mirror)
        .args(["cat-file", "-e", &planted])
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "the planted blob is not in the mirror"
    );

    // The same pack without the extra object is accepted: the check counts
    // only what the peer added.
    let honest = git(&r.dir, &["rev-list", "--objects", "--no-object-names", REF]);
    let received = replay(frames(&offer, &pack_of(&r.dir, &honest)), &mirrors).unwrap();
    assert_eq!(received.tip.as_str(), r.git(&["rev-parse", REF]));
}

/// `git pack-objects` of exactly the listed objects.
fn pack_of(dir: &std::path::Path, list: &str) -> Vec<u8> {
    use std::io::Write;
    let mut child = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["pack-objects", "--stdout", "-q"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{list}\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}
