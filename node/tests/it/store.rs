//! Records survive a reopen, and one bad record does not hide the others.

use roam_actors::model::{AgentRecord, WorkspaceRecord};
use roam_actors::persist::Persist;
use roam_node::store::Store;

fn record(name: &str) -> WorkspaceRecord {
    WorkspaceRecord {
        name: name.into(),
        repo: "/repo".into(),
        base: "main".into(),
        branch: format!("roam/{name}"),
        path: format!("/w/{name}"),
        owner: "n".into(),
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
    }
}

#[tokio::test]
async fn saved_records_survive_reopen_and_removal_is_durable() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        store.save(&record("a")).await.unwrap();
        store.save(&record("b")).await.unwrap();
        store.remove("a").await.unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.all(), vec![record("b")]);
    assert_eq!(store.load("b").unwrap(), Some(record("b")));
}

#[tokio::test]
async fn an_unreadable_record_is_skipped_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        store.save(&record("good")).await.unwrap();
    }
    {
        let db = sled::open(dir.path()).unwrap();
        db.open_tree("workspaces")
            .unwrap()
            .insert("bad", &b"\xff\xff garbage"[..])
            .unwrap();
        db.flush().unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.all(), vec![record("good")]);
}

#[test]
fn a_second_opener_gets_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let _first = Store::open(dir.path()).unwrap();
    let err = Store::open(dir.path()).err().unwrap().to_string();
    assert!(err.contains("cannot open store"), "{err}");
}
