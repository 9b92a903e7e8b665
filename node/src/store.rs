//! Durable workspace records in sled. Every write is flushed before it is
//! acknowledged (sled 0.34 does not flush on its own schedule in time for a
//! kill -9).

use roam_actors::model::WorkspaceRecord;
use roam_actors::persist::{BoxFuture, Persist};

use crate::codec;

const WORKSPACES: &str = "workspaces";
const ROSTER: &str = "roster";
const HOSTS: &str = "hosts";

pub struct Store {
    workspaces: sled::Tree,
    roster: sled::Tree,
    hosts: sled::Tree,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open store {path}: {message}")]
    Open { path: String, message: String },
    #[error("store error: {0}")]
    Sled(#[from] sled::Error),
    #[error("cannot encode a record: {0}")]
    Encode(String),
}

impl Store {
    pub fn open(path: &std::path::Path) -> Result<Store, StoreError> {
        let db = sled::open(path).map_err(|e| StoreError::Open {
            path: path.display().to_string(),
            message: match e {
                sled::Error::Io(io) if io.kind() == std::io::ErrorKind::WouldBlock => {
                    "another node is using it".to_string()
                }
                other => other.to_string(),
            },
        })?;
        Ok(Store {
            workspaces: db.open_tree(WORKSPACES)?,
            roster: db.open_tree(ROSTER)?,
            hosts: db.open_tree(HOSTS)?,
        })
    }

    /// Every saved record. A record that does not decode is reported and
    /// skipped (left in place), never fatal: one bad entry must not keep
    /// the other workspaces from coming back.
    pub fn all(&self) -> Vec<WorkspaceRecord> {
        decode_all(&self.workspaces, "workspace")
    }

    pub async fn flush(&self) -> Result<(), StoreError> {
        self.workspaces.flush_async().await?;
        self.roster.flush_async().await?;
        self.hosts.flush_async().await?;
        Ok(())
    }

    /// The saved roster; unreadable entries are skipped and logged.
    pub fn roster(&self) -> Vec<roam_mesh::roster::Member> {
        decode_all(&self.roster, "roster member")
    }

    /// Saves roster members durably before returning.
    pub async fn save_roster(
        &self,
        members: &[roam_mesh::roster::Member],
    ) -> Result<(), StoreError> {
        for m in members {
            insert(&self.roster, &m.peer, m)?;
        }
        self.roster.flush_async().await?;
        Ok(())
    }

    /// Added SSH hosts; unreadable entries are skipped and logged.
    pub fn hosts(&self) -> Vec<crate::hosts::HostRecord> {
        decode_all(&self.hosts, "host")
    }

    pub async fn save_host(&self, host: &crate::hosts::HostRecord) -> Result<(), StoreError> {
        insert(&self.hosts, &host.alias, host)?;
        self.hosts.flush_async().await?;
        Ok(())
    }

    pub async fn remove_host(&self, alias: &str) -> Result<(), StoreError> {
        self.hosts.remove(alias.as_bytes())?;
        self.hosts.flush_async().await?;
        Ok(())
    }
}

/// Every value of `tree` that decodes; the others are logged and left.
fn decode_all<T: bincode::Decode<()>>(tree: &sled::Tree, what: &str) -> Vec<T> {
    tree.iter()
        .filter_map(|entry| {
            let (key, value) = entry.ok()?;
            codec::decode(&value)
                .map_err(|e| {
                    tracing::error!(key = %String::from_utf8_lossy(&key), error = %e, "skipping unreadable {what}")
                })
                .ok()
        })
        .collect()
}

fn insert<T: bincode::Encode>(tree: &sled::Tree, key: &str, value: &T) -> Result<(), StoreError> {
    let bytes = codec::encode(value).map_err(|e| StoreError::Encode(e.to_string()))?;
    tree.insert(key.as_bytes(), bytes)?;
    Ok(())
}

impl Persist for Store {
    fn save<'a>(&'a self, record: &'a WorkspaceRecord) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            insert(&self.workspaces, &record.name, record).map_err(|e| e.to_string())?;
            self.workspaces
                .flush_async()
                .await
                .map_err(|e| e.to_string())?;
            Ok(())
        })
    }

    fn remove<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            self.workspaces
                .remove(name.as_bytes())
                .map_err(|e| e.to_string())?;
            self.workspaces
                .flush_async()
                .await
                .map_err(|e| e.to_string())?;
            Ok(())
        })
    }

    fn load(&self, name: &str) -> Result<Option<WorkspaceRecord>, String> {
        match self
            .workspaces
            .get(name.as_bytes())
            .map_err(|e| e.to_string())?
        {
            Some(bytes) => codec::decode(&bytes).map(Some).map_err(|e| e.to_string()),
            None => Ok(None),
        }
    }
}
