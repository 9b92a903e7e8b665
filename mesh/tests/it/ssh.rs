//! The SSH transport against a real OpenSSH server on loopback.

use std::sync::Arc;
use std::time::{Duration, Instant};

use roam_mesh::ssh::{ExitStatus, PtySize, SshError, SshPool, SshStream, StrictHostKeyChecking};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::sshd::Sshd;

macro_rules! sshd {
    () => {
        match Sshd::start() {
            Some(s) => s,
            None => return,
        }
    };
}

/// Reads from `stream` until the output contains `needle`; returns it all.
async fn read_until(stream: &mut SshStream, needle: &str) -> String {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let found = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let n = stream.read(&mut buf).await.unwrap();
            assert!(
                n > 0,
                "stream ended before {needle:?}: {:?}",
                String::from_utf8_lossy(&seen)
            );
            seen.extend_from_slice(&buf[..n]);
            if String::from_utf8_lossy(&seen).contains(needle) {
                break;
            }
        }
    })
    .await;
    let text = String::from_utf8_lossy(&seen).into_owned();
    assert!(found.is_ok(), "no {needle:?} in {text:?}");
    text
}

#[tokio::test]
async fn exec_through_an_alias() {
    let sshd = sshd!();
    let pool = SshPool::new(sshd.settings());
    let conn = pool.get("box").await.unwrap();
    let out = conn.exec("echo hi; echo oops >&2; exit 3").await.unwrap();
    assert_eq!(out.stdout_text(), "hi\n");
    assert_eq!(out.stderr, b"oops\n");
    assert_eq!(out.status, ExitStatus::Code(3));
    let err = conn
        .exec_checked("echo broken >&2; false")
        .await
        .unwrap_err();
    assert!(matches!(err, SshError::CommandFailed { .. }), "{err}");
    assert!(err.to_string().contains("(exit code 1): broken"), "{err}");
    assert_eq!(
        pool.exec("box", "echo hi").await.unwrap().stdout_text(),
        "hi\n"
    );
}

#[tokio::test]
async fn one_connection_per_host_shared() {
    let sshd = sshd!();
    let pool = Arc::new(SshPool::new(sshd.settings()));
    // Concurrent first uses wait for one dial.
    let (a, b, c) = tokio::join!(pool.get("box"), pool.get("box"), pool.get("box"));
    let (a, b, c) = (a.unwrap(), b.unwrap(), c.unwrap());
    assert!(Arc::ptr_eq(&a, &b) && Arc::ptr_eq(&b, &c));
    let d = pool.get("box").await.unwrap();
    assert!(Arc::ptr_eq(&a, &d));
    assert_eq!(pool.dials(), 1);
    // Many commands at once multiplex over that one connection.
    let runs = (0..8).map(|i| {
        let pool = pool.clone();
        async move { pool.exec("box", &format!("echo {i}")).await }
    });
    for (i, out) in futures::future::join_all(runs)
        .await
        .into_iter()
        .enumerate()
    {
        assert_eq!(out.unwrap().stdout_text(), format!("{i}\n"));
    }
    assert_eq!(pool.dials(), 1);
}

#[tokio::test]
async fn unknown_host_key_needs_accept_new_then_is_remembered() {
    let sshd = sshd!();
    std::fs::remove_file(sshd.known_hosts()).unwrap();
    let pool = SshPool::new(sshd.settings());
    let err = pool.get("box").await.unwrap_err();
    match &err {
        SshError::UnknownHostKey {
            fingerprint, host, ..
        } => {
            assert_eq!(fingerprint, &sshd.host_fingerprint());
            assert_eq!(host, &format!("[127.0.0.1]:{}", sshd.port));
        }
        other => panic!("expected an unknown host key, got {other}"),
    }
    assert!(err.to_string().contains("--accept-new"), "{err}");
    assert!(!sshd.known_hosts().exists(), "refusing wrote known_hosts");

    pool.get_with("box", Some(StrictHostKeyChecking::AcceptNew))
        .await
        .unwrap();
    let written = std::fs::read_to_string(sshd.known_hosts()).unwrap();
    assert_eq!(written, sshd.known_hosts_line("host_key"));

    // A new pool (a new process) connects without accept-new now.
    let again = SshPool::new(sshd.settings());
    assert_eq!(
        again.exec("box", "echo ok").await.unwrap().stdout_text(),
        "ok\n"
    );
}

#[tokio::test]
async fn changed_host_key_is_refused() {
    let sshd = sshd!();
    let recorded = format!("# mine\n{}", sshd.known_hosts_line("other_host_key"));
    std::fs::write(sshd.known_hosts(), &recorded).unwrap();
    let pool = SshPool::new(sshd.settings());
    for policy in [None, Some(StrictHostKeyChecking::AcceptNew)] {
        let err = pool.get_with("box", policy).await.unwrap_err();
        match &err {
            SshError::HostKeyChanged {
                fingerprint,
                file,
                line,
                ..
            } => {
                assert_eq!(fingerprint, &sshd.host_fingerprint());
                assert_eq!(file, &sshd.known_hosts());
                assert_eq!(*line, 2);
            }
            other => panic!("expected a changed host key, got {other}"),
        }
        let message = err.to_string();
        assert!(
            message.contains("REMOTE HOST IDENTIFICATION HAS CHANGED"),
            "{message}"
        );
        assert!(message.contains("known_hosts:2"), "{message}");
    }
    assert_eq!(
        std::fs::read_to_string(sshd.known_hosts()).unwrap(),
        recorded
    );
}

#[tokio::test]
async fn a_host_offering_another_key_type_than_the_known_one_is_refused_even_with_accept_new() {
    let sshd = sshd!();
    // Only an RSA key is recorded; the server has ed25519 and ECDSA keys, so
    // whatever it offers is of a type nothing records for it.
    sshd.make_key("rsa_key", "rsa");
    let recorded = format!("# mine\n{}", sshd.known_hosts_line("rsa_key"));
    std::fs::write(sshd.known_hosts(), &recorded).unwrap();
    for policy in [Some(StrictHostKeyChecking::AcceptNew), None] {
        // A new pool each time: nothing remembered between attempts.
        let pool = SshPool::new(sshd.settings());
        let err = pool.get_with("box", policy).await.unwrap_err();
        match &err {
            SshError::HostKeyChanged {
                algorithm,
                fingerprint,
                file,
                line,
                recorded_algorithm,
                ..
            } => {
                assert_eq!(algorithm, "ssh-ed25519");
                assert_eq!(fingerprint, &sshd.host_fingerprint());
                assert_eq!(&**recorded_algorithm, "ssh-rsa");
                assert_eq!(file, &sshd.known_hosts());
                assert_eq!(*line, 2);
            }
            other => panic!("expected a changed host key, got {other}"),
        }
        let message = err.to_string();
        for part in [
            "REMOTE HOST IDENTIFICATION HAS CHANGED",
            "offers ssh-ed25519 key",
            &sshd.host_fingerprint(),
            "the ssh-rsa key recorded in",
            "known_hosts:2",
            "no ssh-ed25519 key is recorded",
        ] {
            assert!(message.contains(part), "no {part:?} in {message}");
        }
        assert_eq!(
            std::fs::read_to_string(sshd.known_hosts()).unwrap(),
            recorded,
            "known_hosts changed"
        );
    }
}

#[tokio::test]
async fn a_host_with_several_key_types_is_asked_for_the_recorded_one() {
    let sshd = sshd!();
    // The server would offer ed25519 by default; known_hosts has its ECDSA
    // key only, so the client must ask for ECDSA first (as OpenSSH does).
    let recorded = sshd.known_hosts_line("host_key_ecdsa");
    std::fs::write(sshd.known_hosts(), &recorded).unwrap();
    let pool = SshPool::new(sshd.settings());
    assert_eq!(
        pool.exec("box", "echo ok").await.unwrap().stdout_text(),
        "ok\n"
    );
    assert_eq!(
        std::fs::read_to_string(sshd.known_hosts()).unwrap(),
        recorded
    );
}

#[tokio::test]
async fn wrong_key_is_auth_failed() {
    let sshd = sshd!();
    let pool = SshPool::new(sshd.settings());
    let err = pool.get("wrongkey").await.unwrap_err();
    match &err {
        SshError::AuthFailed { user, tried, .. } => {
            assert_eq!(user, &sshd.user);
            assert_eq!(tried, &[sshd.ssh_dir().join("wrong").display().to_string()]);
        }
        other => panic!("expected auth failure, got {other}"),
    }
    assert!(
        err.to_string().starts_with("permission denied for"),
        "{err}"
    );
}

#[tokio::test]
async fn passphrase_key_needs_the_agent_and_works_through_it() {
    let mut sshd = sshd!();
    let pool = SshPool::new(sshd.settings());
    let err = pool.get("locked").await.unwrap_err();
    match &err {
        SshError::PassphraseNeeded { path, .. } => assert_eq!(path, &sshd.ssh_dir().join("locked")),
        other => panic!("expected a passphrase error, got {other}"),
    }
    assert!(err.to_string().contains("ssh-add"), "{err}");

    let sock = sshd.start_agent();
    let mut settings = sshd.settings();
    settings.agent_socket = Some(sock);
    let pool = SshPool::new(settings);
    assert_eq!(
        pool.exec("locked", "echo agent")
            .await
            .unwrap()
            .stdout_text(),
        "agent\n"
    );
}

#[tokio::test]
async fn host_down_is_unreachable() {
    let sshd = sshd!();
    let pool = SshPool::new(sshd.settings());
    let started = Instant::now();
    let err = pool.get("down").await.unwrap_err();
    assert!(matches!(err, SshError::Unreachable { .. }), "{err}");
    assert!(
        err.to_string()
            .contains(&format!("127.0.0.1:{}", sshd.closed_port)),
        "{err}"
    );
    eprintln!("host down reported after {:?}", started.elapsed());
}

#[tokio::test]
async fn dropped_connection_is_redialled_on_next_command() {
    let sshd = sshd!();
    let pool = SshPool::new(sshd.settings());
    let first = pool.get("box").await.unwrap();
    assert_eq!(
        pool.exec("box", "echo one").await.unwrap().stdout_text(),
        "one\n"
    );

    // The command right after the drop, before anyone noticed it.
    sshd.kill_sessions();
    assert_eq!(
        pool.exec("box", "echo two").await.unwrap().stdout_text(),
        "two\n"
    );
    assert_eq!(pool.dials(), 2);
    assert!(first.is_closed());

    // Again, this time once the drop has been seen.
    let second = pool.get("box").await.unwrap();
    sshd.kill_sessions();
    tokio::time::timeout(Duration::from_secs(20), async {
        while !second.is_closed() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap();
    let err = second.exec("true").await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
    assert!(err.to_string().starts_with("connection to"), "{err}");
    let third = pool.get("box").await.unwrap();
    assert!(!Arc::ptr_eq(&second, &third));
    assert_eq!(
        third.exec("echo three").await.unwrap().stdout_text(),
        "three\n"
    );
    assert_eq!(pool.dials(), 3);
}

#[tokio::test]
async fn pty_channel_echoes_and_resizes() {
    let sshd = sshd!();
    let pool = SshPool::new(sshd.settings());
    let conn = pool.get("box").await.unwrap();
    let mut pty = conn
        .open_pty(Some("sh"), "xterm", PtySize { cols: 80, rows: 24 })
        .await
        .unwrap();
    pty.write_all(b"stty size; echo typed-$((6*7))\n")
        .await
        .unwrap();
    let out = read_until(&mut pty, "typed-42").await;
    assert!(out.contains("24 80"), "{out:?}");
    pty.resize(100, 30).await.unwrap();
    pty.write_all(b"stty size\n").await.unwrap();
    read_until(&mut pty, "30 100").await;
    pty.write_all(b"exit 5\n").await.unwrap();
    let exit = tokio::time::timeout(Duration::from_secs(20), pty.wait())
        .await
        .unwrap();
    assert_eq!(exit.status, ExitStatus::Code(5));
    assert!(exit.closed_cleanly);
}

#[tokio::test]
async fn exec_channel_is_a_byte_stream() {
    let sshd = sshd!();
    let pool = SshPool::new(sshd.settings());
    let conn = pool.get("box").await.unwrap();
    let mut stream = conn.open_exec("cat; echo done >&2").await.unwrap();
    // More than the channel window, so flow control is exercised.
    let sent: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let (mut rd, mut wr) = tokio::io::split(stream);
    let writer = {
        let sent = sent.clone();
        tokio::spawn(async move {
            wr.write_all(&sent).await.unwrap();
            wr.shutdown().await.unwrap();
            wr
        })
    };
    let mut got = Vec::new();
    tokio::time::timeout(Duration::from_secs(60), rd.read_to_end(&mut got))
        .await
        .unwrap()
        .unwrap();
    let wr = writer.await.unwrap();
    assert_eq!(got.len(), sent.len());
    assert!(got == sent);
    stream = rd.unsplit(wr);
    let exit = tokio::time::timeout(Duration::from_secs(20), stream.wait())
        .await
        .unwrap();
    assert_eq!(exit.status, ExitStatus::Code(0));
    assert_eq!(exit.stderr, b"done\n");
}

#[tokio::test]
async fn proxy_jump_through_a_jump_host() {
    let sshd = sshd!();
    let pool = SshPool::new(sshd.settings());
    let conn = pool.get("viajump").await.unwrap();
    assert_eq!(conn.spec().proxy_jump.len(), 1);
    assert_eq!(conn.exec("echo via").await.unwrap().stdout_text(), "via\n");
    // The jump host has its own pooled-independent connection underneath;
    // the target still counts as one dial.
    assert_eq!(pool.dials(), 1);

    // A jump host whose key is unknown fails naming the hop.
    std::fs::write(sshd.known_hosts(), "").unwrap();
    let err = SshPool::new(sshd.settings())
        .get("viajump")
        .await
        .unwrap_err();
    match &err {
        SshError::ProxyJump { jump, source, .. } => {
            assert_eq!(jump, "box");
            assert!(
                matches!(**source, SshError::UnknownHostKey { .. }),
                "{source}"
            );
        }
        other => panic!("expected a jump failure, got {other}"),
    }
}

#[tokio::test]
async fn exec_output_is_bounded() {
    let sshd = sshd!();
    let pool = SshPool::new(sshd.settings());
    let conn = pool.get("box").await.unwrap();
    let err = conn
        .exec_limited("head -c 100000 /dev/zero", 1000)
        .await
        .unwrap_err();
    match &err {
        SshError::OutputTooLarge { stream, limit, .. } => {
            assert_eq!((*stream, *limit), ("stdout", 1000));
        }
        other => panic!("expected output too large, got {other}"),
    }
    let err = conn
        .exec_limited("head -c 5000 /dev/zero >&2", 1000)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            SshError::OutputTooLarge {
                stream: "stderr",
                ..
            }
        ),
        "{err}"
    );
    // The connection is still fine, and a big enough limit keeps it all.
    let out = conn
        .exec_limited("head -c 100000 /dev/zero", 100_000)
        .await
        .unwrap();
    assert_eq!(out.stdout.len(), 100_000);
}
