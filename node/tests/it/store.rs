//! The store: records survive a reopen; the store of the release before
//! versioned records opens with every record present; a newer store or
//! record is refused by name; garbage never hides the other records.

use std::path::Path;

use roam_actors::model::{AgentRecord, Owner, WorkspaceRecord};
use roam_actors::persist::Persist;
use roam_node::codec::encode_versioned;
use roam_node::store::{Store, versions};

const PEER: &str = "12D3KooWQLYh78NkTxABjk9fBnePTsGYnUFX7Pv7Nw42vNGwvKos";

fn record(name: &str) -> WorkspaceRecord {
    WorkspaceRecord {
        id: format!("id-{name}"),
        name: name.into(),
        repo: "/repo".into(),
        base: "main".into(),
        branch: format!("roam/{name}"),
        path: format!("/w/{name}"),
        owner: Owner {
            peer: PEER.into(),
            node: "n".into(),
        },
        epoch: 1,
        created_unix: 1,
        stopped: false,
        agents: vec![AgentRecord {
            name: "claude".into(),
            profile: "claude".into(),
            prompt: Some("p".into()),
            session: Some("s".into()),
            exited: None,
        }],
        host: Some("box".into()),
        superseded: None,
    }
}

/// Opens the store's sled directly, once the last opener's background
/// flusher has let go of the lock (it outlives the `Store` briefly).
fn open_raw(path: &Path) -> sled::Db {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match sled::open(path) {
            Ok(db) => return db,
            Err(_) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(e) => panic!("cannot open {}: {e}", path.display()),
        }
    }
}

/// `Store::open` once the previous opener has let go of the lock.
fn open_store(path: &Path, peer: &str) -> Result<Store, roam_node::store::StoreError> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match Store::open(path, peer) {
            Err(e)
                if e.to_string().contains("another node is using it")
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => return other,
        }
    }
}

/// A copy of a committed golden store (sled writes to what it opens).
fn golden_copy(name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let from = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    copy_dir(&from, dir.path());
    dir
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[tokio::test]
async fn saved_records_survive_reopen_and_removal_is_durable() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open_store(dir.path(), PEER).unwrap();
        store.save(&record("a")).await.unwrap();
        store.save(&record("b")).await.unwrap();
        store.remove("a").await.unwrap();
    }
    let store = open_store(dir.path(), PEER).unwrap();
    assert_eq!(store.all(), vec![record("b")]);
    assert_eq!(store.load("b").unwrap(), Some(record("b")));
}

/// Caught a node with 100 agents that never stopped: each agent's stop
/// forgets its holder with a flushed write, all at once, and sled's
/// concurrent `flush_async` deadlocked. Whether that deadlock strikes
/// depends on timing, so this can pass on a build that has it; it fails
/// (times out) on the run where it does.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_durable_writes_never_deadlock() {
    let dir = tempfile::tempdir().unwrap();
    let store = std::sync::Arc::new(open_store(dir.path(), PEER).unwrap());
    let writes = (0..200).map(|i| {
        let store = store.clone();
        tokio::spawn(async move {
            let holder = roam_actors::model::HolderRecord {
                workspace_id: format!("id{i}"),
                workspace: format!("ws{i}"),
                agent: "a".into(),
                socket: format!("/nowhere/{i}.sock"),
                holder_pid: i,
                holder_start: 1,
                agent_pid: i,
                agent_start: 1,
                boot: "boot".into(),
            };
            store.save_holder(&holder).await.unwrap();
            store.save(&record(&format!("ws{i}"))).await.unwrap();
            store.remove_holder(&holder).await.unwrap();
        })
    });
    let all = futures::future::join_all(writes);
    let done = tokio::time::timeout(std::time::Duration::from_secs(60), all)
        .await
        .expect("200 concurrent durable writes did not finish within 60 s");
    assert!(done.iter().all(Result::is_ok));
    assert!(store.holders().is_empty());
    assert_eq!(store.all().len(), 200);
}

#[test]
fn the_store_of_the_release_before_versioned_records_opens_with_every_workspace() {
    let dir = golden_copy("store-v1");
    let ids = {
        let store = open_store(dir.path(), PEER).unwrap();
        let all = store.all();
        let names: Vec<&str> = all.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["alpha", "beta", "far"]);
        for r in &all {
            assert_eq!(r.owner.peer, PEER, "{}: owned by this node", r.name);
            assert_eq!(r.owner.node, "testnode");
            assert_eq!(r.epoch, 1);
            assert_eq!(r.id.len(), 32, "{}: a mesh-wide id was given", r.name);
            assert!(r.is_active());
        }
        let (alpha, beta, far) = (&all[0], &all[1], &all[2]);
        assert!(alpha.agents[0].session.is_some(), "alpha's session id kept");
        assert_eq!(alpha.agents[0].prompt.as_deref(), Some("echo hello-alpha"));
        assert!(beta.stopped);
        assert_eq!(beta.agents.len(), 2);
        assert_eq!(far.host.as_deref(), Some("box"));
        let roster: Vec<String> = store.roster().into_iter().map(|m| m.name).collect();
        assert_eq!(roster.len(), 2, "{roster:?}");
        assert!(roster.contains(&"laptop".to_string()));
        let hosts: Vec<String> = store.hosts().into_iter().map(|h| h.alias).collect();
        assert_eq!(hosts, ["box"]);
        all.iter().map(|r| r.id.clone()).collect::<Vec<_>>()
    };
    // Migrated once, durably: the ids given at the first open stay.
    let store = open_store(dir.path(), "some-other-peer").unwrap();
    let again: Vec<String> = store.all().into_iter().map(|r| r.id).collect();
    assert_eq!(again, ids);
}

#[test]
fn a_store_written_by_a_newer_release_is_refused_naming_its_version() {
    let dir = tempfile::tempdir().unwrap();
    drop(open_store(dir.path(), PEER).unwrap());
    {
        let db = open_raw(dir.path());
        db.open_tree("meta")
            .unwrap()
            .insert("format", &99u32.to_le_bytes())
            .unwrap();
        db.flush().unwrap();
    }
    let err = open_store(dir.path(), PEER).err().unwrap().to_string();
    assert!(
        err.contains("newer roam") && err.contains("version 99"),
        "{err}"
    );
}

#[tokio::test]
async fn a_record_written_by_a_newer_release_is_refused_naming_it_and_its_version() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open_store(dir.path(), PEER).unwrap();
        store.save(&record("old")).await.unwrap();
    }
    {
        let db = open_raw(dir.path());
        let bytes = encode_versioned(versions::WORKSPACE + 1, &record("new")).unwrap();
        db.open_tree("workspaces")
            .unwrap()
            .insert("new", bytes)
            .unwrap();
        db.flush().unwrap();
    }
    let err = open_store(dir.path(), PEER).err().unwrap().to_string();
    assert!(
        err.contains("workspace 'new'")
            && err.contains(&format!("version {}", versions::WORKSPACE + 1)),
        "{err}"
    );
}

#[tokio::test]
async fn an_unreadable_record_is_quarantined_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open_store(dir.path(), PEER).unwrap();
        store.save(&record("good")).await.unwrap();
    }
    {
        let db = open_raw(dir.path());
        db.open_tree("workspaces")
            .unwrap()
            .insert("bad", &b"\xff\xff garbage"[..])
            .unwrap();
        db.flush().unwrap();
    }
    let store = open_store(dir.path(), PEER).unwrap();
    assert_eq!(store.all(), vec![record("good")]);
    drop(store);
    // Kept aside, not lost, so a later record of that name cannot overwrite it.
    let db = open_raw(dir.path());
    assert!(
        db.open_tree("workspaces")
            .unwrap()
            .get("bad")
            .unwrap()
            .is_none()
    );
    let kept: Vec<_> = db
        .open_tree("quarantine")
        .unwrap()
        .iter()
        .values()
        .map(|v| v.unwrap())
        .collect();
    assert_eq!(kept.len(), 1);
}

#[test]
fn garbage_in_an_old_store_is_quarantined_not_lost() {
    let dir = golden_copy("store-v1");
    {
        let db = open_raw(dir.path());
        db.open_tree("workspaces")
            .unwrap()
            .insert("junk", &b"\x05\xffnot a record"[..])
            .unwrap();
        db.flush().unwrap();
    }
    let store = open_store(dir.path(), PEER).unwrap();
    assert_eq!(store.all().len(), 3, "the good records all came through");
    drop(store);
    let db = open_raw(dir.path());
    let quarantine = db.open_tree("quarantine").unwrap();
    let kept: Vec<_> = quarantine.iter().values().map(|v| v.unwrap()).collect();
    assert_eq!(kept.len(), 1);
    assert_eq!(&kept[0][..], &b"\x05\xffnot a record"[..]);
}

#[test]
fn a_second_opener_gets_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let _first = Store::open(dir.path(), PEER).unwrap();
    let err = Store::open(dir.path(), PEER).err().unwrap().to_string();
    assert!(err.contains("cannot open store"), "{err}");
}
