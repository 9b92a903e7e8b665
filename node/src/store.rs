//! Durable records in sled: workspaces, the roster, SSH hosts. Every write
//! is flushed before it is acknowledged (sled 0.34 does not flush on its
//! own schedule in time for a kill -9).
//!
//! Records are versioned (`versions`): opening a store migrates older
//! records in place, in one transaction, and refuses a store or a record
//! written by a newer release, naming its version. A workspace record that
//! does not decode at all is moved aside to the `quarantine` tree on open,
//! never deleted and never allowed to keep the other workspaces from coming
//! back.

pub mod versions;

use roam_actors::model::{HolderRecord, WorkspaceRecord};
use roam_actors::persist::{BoxFuture, Persist, PersistError};
use sled::Transactional;
use sled::transaction::ConflictableTransactionError;

use crate::codec;
use versions::{HOLDER, HOST, HostV1, MEMBER, MemberV1, STORE_FORMAT, WORKSPACE, WorkspaceV1};

const WORKSPACES: &str = "workspaces";
const ROSTER: &str = "roster";
const HOSTS: &str = "hosts";
const HOLDERS: &str = "holders";
const META: &str = "meta";
const QUARANTINE: &str = "quarantine";
const FORMAT_KEY: &str = "format";

pub struct Store {
    workspaces: sled::Tree,
    roster: sled::Tree,
    hosts: sled::Tree,
    /// The holders this node started (`roam_holder`), by workspace and agent.
    holders: sled::Tree,
    /// One flush at a time (`durable`).
    flushing: std::sync::Arc<tokio::sync::Mutex<()>>,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open store {path}: {message}")]
    Open { path: String, message: String },
    #[error("store error: {0}")]
    Sled(#[from] sled::Error),
    #[error("cannot encode a record: {0}")]
    Encode(String),
    #[error(
        "{what} in the store was written by a newer roam (version {version}; this roam reads up to {supported}); run the newer roam, or move the data dir aside"
    )]
    Newer {
        what: String,
        version: u32,
        supported: u32,
    },
    #[error("cannot migrate the store: {0}")]
    Migrate(String),
}

/// Why one stored value could not be read.
enum Unreadable {
    Newer(u32),
    Garbage(String),
}

impl Store {
    /// Opens (or makes) the store of the node whose PeerId is `local_peer`
    /// (the owner of every record older than ownership by PeerId).
    pub fn open(path: &std::path::Path, local_peer: &str) -> Result<Store, StoreError> {
        let db = sled::open(path).map_err(|e| StoreError::Open {
            path: path.display().to_string(),
            message: match e {
                sled::Error::Io(io) if io.kind() == std::io::ErrorKind::WouldBlock => {
                    "another node is using it".to_string()
                }
                other => other.to_string(),
            },
        })?;
        let store = Store {
            workspaces: db.open_tree(WORKSPACES)?,
            roster: db.open_tree(ROSTER)?,
            hosts: db.open_tree(HOSTS)?,
            holders: db.open_tree(HOLDERS)?,
            flushing: Default::default(),
        };
        let meta = db.open_tree(META)?;
        let quarantine = db.open_tree(QUARANTINE)?;
        let format = match meta.get(FORMAT_KEY)? {
            Some(bytes) => u32::from_le_bytes(bytes.as_ref().try_into().map_err(|_| {
                StoreError::Migrate(format!("bad store format mark {:?}", bytes.as_ref()))
            })?),
            None if store.is_empty() => STORE_FORMAT,
            None => 1,
        };
        if format > STORE_FORMAT {
            return Err(StoreError::Newer {
                what: "the store".into(),
                version: format,
                supported: STORE_FORMAT,
            });
        }
        if format == 1 {
            store.migrate_format_1(&meta, &quarantine, local_peer)?;
        } else {
            meta.insert(FORMAT_KEY, &STORE_FORMAT.to_le_bytes())?;
        }
        store.upgrade_records(local_peer, &quarantine)?;
        db.flush()?;
        Ok(store)
    }

    fn is_empty(&self) -> bool {
        self.workspaces.is_empty() && self.roster.is_empty() && self.hosts.is_empty()
    }

    /// Format 1 held bare version-1 values. Every value is rewritten with
    /// its version, and the format mark set, in one transaction: a crash
    /// half-way leaves the store as it was.
    fn migrate_format_1(
        &self,
        meta: &sled::Tree,
        quarantine: &sled::Tree,
        local_peer: &str,
    ) -> Result<(), StoreError> {
        let mut rewrites: Vec<(u8, sled::IVec, Result<Vec<u8>, sled::IVec>)> = Vec::new();
        for (slot, tree) in [(0u8, &self.workspaces), (1, &self.roster), (2, &self.hosts)] {
            for entry in tree.iter() {
                let (key, raw) = entry?;
                let upgraded = match slot {
                    0 => codec::decode::<WorkspaceV1>(&raw)
                        .map(|v1| v1.upgrade(local_peer))
                        .and_then(|r| codec::encode_versioned(WORKSPACE, &r)),
                    1 => codec::decode::<MemberV1>(&raw)
                        .and_then(|m| codec::encode_versioned(MEMBER, &m.upgrade())),
                    _ => codec::decode::<HostV1>(&raw)
                        .and_then(|h| codec::encode_versioned(HOST, &h.upgrade())),
                };
                let outcome = match upgraded {
                    Ok(bytes) => Ok(bytes),
                    Err(e) => {
                        tracing::error!(tree = slot, key = %String::from_utf8_lossy(&key), error = %e, "unreadable record moved to quarantine");
                        Err(raw)
                    }
                };
                rewrites.push((slot, key, outcome));
            }
        }
        let trees = (
            &self.workspaces,
            &self.roster,
            &self.hosts,
            meta,
            quarantine,
        );
        trees
            .transaction(|(ws, roster, hosts, meta, quarantine)| {
                for (slot, key, outcome) in &rewrites {
                    let tree = match slot {
                        0 => ws,
                        1 => roster,
                        _ => hosts,
                    };
                    match outcome {
                        Ok(bytes) => {
                            tree.insert(key.as_ref(), bytes.as_slice())?;
                        }
                        Err(raw) => {
                            let mut qkey = vec![*slot];
                            qkey.extend_from_slice(key);
                            quarantine.insert(qkey, raw.as_ref())?;
                            tree.remove(key.as_ref())?;
                        }
                    }
                }
                meta.insert(FORMAT_KEY, &STORE_FORMAT.to_le_bytes())?;
                Ok::<(), ConflictableTransactionError<()>>(())
            })
            .map_err(|e| StoreError::Migrate(format!("{e:?}")))?;
        tracing::info!(
            records = rewrites.len(),
            "store migrated to format {STORE_FORMAT}"
        );
        Ok(())
    }

    /// Rewrites records of an older version as today's; refuses newer ones;
    /// moves values that do not decode to the quarantine.
    fn upgrade_records(&self, local_peer: &str, quarantine: &sled::Tree) -> Result<(), StoreError> {
        for entry in self.workspaces.iter() {
            let (key, bytes) = entry?;
            let name = String::from_utf8_lossy(&key).into_owned();
            match decode_workspace(&bytes, local_peer) {
                Ok((record, version)) if version < WORKSPACE => {
                    insert(&self.workspaces, &name, WORKSPACE, &record)?;
                }
                Ok(_) => {}
                Err(Unreadable::Newer(version)) => {
                    return Err(StoreError::Newer {
                        what: format!("workspace '{name}'"),
                        version,
                        supported: WORKSPACE,
                    });
                }
                Err(Unreadable::Garbage(message)) => {
                    tracing::error!(key = %name, error = %message, "unreadable workspace record moved to quarantine");
                    let mut qkey = vec![0u8];
                    qkey.extend_from_slice(&key);
                    quarantine.insert(qkey, bytes)?;
                    self.workspaces.remove(&key)?;
                }
            }
        }
        for (tree, what, supported) in [
            (&self.roster, "roster member", MEMBER),
            (&self.hosts, "host", HOST),
        ] {
            for entry in tree.iter() {
                let (key, bytes) = entry?;
                if let Ok((version, _)) = codec::split_version(&bytes)
                    && version > supported
                {
                    return Err(StoreError::Newer {
                        what: format!("{what} '{}'", String::from_utf8_lossy(&key)),
                        version,
                        supported,
                    });
                }
            }
        }
        Ok(())
    }

    /// Every saved workspace record. One that does not decode is logged
    /// and skipped (left in place), never fatal.
    pub fn all(&self) -> Vec<WorkspaceRecord> {
        self.workspaces
            .iter()
            .filter_map(|entry| {
                let (key, bytes) = entry.ok()?;
                match decode_workspace(&bytes, "") {
                    Ok((record, _)) => Some(record),
                    Err(e) => {
                        log_unreadable("workspace", &key, e);
                        None
                    }
                }
            })
            .collect()
    }

    pub async fn flush(&self) -> Result<(), StoreError> {
        // One log under every tree: one flush makes them all durable.
        Ok(self.durable(&self.workspaces).await?)
    }

    /// Makes every write so far durable (sled has one log for all trees).
    /// One flush at a time, the blocking one, off the async threads:
    /// sled 0.34.7's `flush_async` deadlocks when called concurrently
    /// (spacejam/sled#1308, fixed after that release), which left a node
    /// with 100 agents unable to stop
    /// (`concurrent_durable_writes_never_deadlock`).
    async fn durable(&self, tree: &sled::Tree) -> Result<(), sled::Error> {
        let _one = self.flushing.lock().await;
        let tree = tree.clone();
        tokio::task::spawn_blocking(move || tree.flush())
            .await
            .map_err(|e| sled::Error::Io(std::io::Error::other(e.to_string())))?
            .map(drop)
    }

    /// The saved roster; unreadable entries are skipped and logged.
    pub fn roster(&self) -> Vec<roam_mesh::roster::Member> {
        decode_all(
            &self.roster,
            "roster member",
            |version, body| match version {
                1 => codec::decode::<MemberV1>(body).map(MemberV1::upgrade),
                MEMBER => codec::decode::<roam_mesh::roster::Member>(body),
                v => Err(codec::CodecError::Decode(format!("record version {v}"))),
            },
        )
    }

    /// Saves roster members durably before returning.
    pub async fn save_roster(
        &self,
        members: &[roam_mesh::roster::Member],
    ) -> Result<(), StoreError> {
        for m in members {
            insert(&self.roster, &m.peer, MEMBER, m)?;
        }
        self.durable(&self.roster).await?;
        Ok(())
    }

    /// Added SSH hosts; unreadable entries are skipped and logged.
    pub fn hosts(&self) -> Vec<crate::hosts::HostRecord> {
        decode_all(&self.hosts, "host", |version, body| match version {
            HOST => codec::decode::<HostV1>(body).map(HostV1::upgrade),
            v => Err(codec::CodecError::Decode(format!("record version {v}"))),
        })
    }

    pub async fn save_host(&self, host: &crate::hosts::HostRecord) -> Result<(), StoreError> {
        insert(&self.hosts, &host.alias, HOST, host)?;
        self.durable(&self.hosts).await?;
        Ok(())
    }

    pub async fn remove_host(&self, alias: &str) -> Result<(), StoreError> {
        self.hosts.remove(alias.as_bytes())?;
        self.durable(&self.hosts).await?;
        Ok(())
    }
}

/// A workspace record of any version this release reads, as today's type,
/// with the version it was stored at.
fn decode_workspace(bytes: &[u8], local_peer: &str) -> Result<(WorkspaceRecord, u32), Unreadable> {
    let garbage = |e: codec::CodecError| Unreadable::Garbage(e.to_string());
    let (version, body) = codec::split_version(bytes).map_err(garbage)?;
    match version {
        1 => codec::decode::<WorkspaceV1>(body)
            .map(|v1| (v1.upgrade(local_peer), 1))
            .map_err(garbage),
        WORKSPACE => codec::decode(body).map(|r| (r, WORKSPACE)).map_err(garbage),
        v if v > WORKSPACE => Err(Unreadable::Newer(v)),
        v => Err(Unreadable::Garbage(format!("unknown record version {v}"))),
    }
}

fn log_unreadable(what: &str, key: &[u8], e: Unreadable) {
    let key = String::from_utf8_lossy(key);
    match e {
        Unreadable::Newer(v) => {
            tracing::error!(key = %key, version = v, "skipping a {what} from a newer roam")
        }
        Unreadable::Garbage(message) => {
            tracing::error!(key = %key, error = %message, "skipping unreadable {what}")
        }
    }
}

/// Every value of `tree` that `decode` (given its version and body) reads;
/// the others are logged and left.
fn decode_all<T>(
    tree: &sled::Tree,
    what: &str,
    decode: impl Fn(u32, &[u8]) -> Result<T, codec::CodecError>,
) -> Vec<T> {
    tree.iter()
        .filter_map(|entry| {
            let (key, bytes) = entry.ok()?;
            codec::split_version(&bytes)
                .and_then(|(v, body)| decode(v, body))
                .map_err(|e| log_unreadable(what, &key, Unreadable::Garbage(e.to_string())))
                .ok()
        })
        .collect()
}

fn insert<T: bincode::Encode>(
    tree: &sled::Tree,
    key: &str,
    version: u32,
    value: &T,
) -> Result<(), StoreError> {
    let bytes =
        codec::encode_versioned(version, value).map_err(|e| StoreError::Encode(e.to_string()))?;
    tree.insert(key.as_bytes(), bytes)?;
    Ok(())
}

/// Names never hold a NUL (`names` refuses control characters).
fn holder_key(workspace: &str, agent: &str) -> String {
    format!("{workspace}\0{agent}")
}

fn write_err(e: impl std::fmt::Display) -> PersistError {
    PersistError::Write(e.to_string())
}

impl Persist for Store {
    fn save<'a>(&'a self, record: &'a WorkspaceRecord) -> BoxFuture<'a, Result<(), PersistError>> {
        Box::pin(async move {
            insert(&self.workspaces, &record.name, WORKSPACE, record).map_err(write_err)?;
            self.durable(&self.workspaces).await.map_err(write_err)?;
            Ok(())
        })
    }

    fn remove<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<(), PersistError>> {
        Box::pin(async move {
            self.workspaces.remove(name.as_bytes()).map_err(write_err)?;
            self.durable(&self.workspaces).await.map_err(write_err)?;
            Ok(())
        })
    }

    fn save_holder<'a>(
        &'a self,
        record: &'a HolderRecord,
    ) -> BoxFuture<'a, Result<(), PersistError>> {
        Box::pin(async move {
            let key = holder_key(&record.workspace, &record.agent);
            insert(&self.holders, &key, HOLDER, record).map_err(write_err)?;
            self.durable(&self.holders).await.map_err(write_err)?;
            Ok(())
        })
    }

    fn remove_holder<'a>(
        &'a self,
        record: &'a HolderRecord,
    ) -> BoxFuture<'a, Result<(), PersistError>> {
        Box::pin(async move {
            let key = holder_key(&record.workspace, &record.agent);
            let expected = codec::encode_versioned(HOLDER, record).map_err(write_err)?;
            // Compare-and-swap: a newer holder's record is not this one.
            let _ = self
                .holders
                .compare_and_swap(key.as_bytes(), Some(expected), None::<Vec<u8>>)
                .map_err(write_err)?;
            self.durable(&self.holders).await.map_err(write_err)?;
            Ok(())
        })
    }

    fn holders(&self) -> Vec<HolderRecord> {
        decode_all(&self.holders, "holder", |version, body| match version {
            HOLDER => codec::decode::<HolderRecord>(body),
            v => Err(codec::CodecError::Decode(format!("record version {v}"))),
        })
    }

    fn load(&self, name: &str) -> Result<Option<WorkspaceRecord>, PersistError> {
        let bytes = self
            .workspaces
            .get(name.as_bytes())
            .map_err(|e| PersistError::Read(e.to_string()))?;
        match bytes {
            None => Ok(None),
            Some(bytes) => match decode_workspace(&bytes, "") {
                Ok((record, _)) => Ok(Some(record)),
                Err(Unreadable::Newer(v)) => Err(PersistError::Unreadable {
                    name: name.into(),
                    message: format!("written by a newer roam (version {v})"),
                }),
                Err(Unreadable::Garbage(message)) => Err(PersistError::Unreadable {
                    name: name.into(),
                    message,
                }),
            },
        }
    }
}
