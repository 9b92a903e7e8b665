//! The actors' view of durable storage. The node implements it (sled);
//! actors only know that `save` returns once the record is on disk.

use std::future::Future;
use std::pin::Pin;

use crate::model::{HolderRecord, WorkspaceRecord};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why the store could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum PersistError {
    #[error("store write failed: {0}")]
    Write(String),
    #[error("store read failed: {0}")]
    Read(String),
    #[error("stored workspace '{name}' is unreadable: {message}")]
    Unreadable { name: String, message: String },
}

pub trait Persist: Send + Sync + 'static {
    /// Stores the record durably (flushed) before resolving.
    fn save<'a>(&'a self, record: &'a WorkspaceRecord) -> BoxFuture<'a, Result<(), PersistError>>;
    /// Forgets the workspace durably before resolving.
    fn remove<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<(), PersistError>>;
    fn load(&self, name: &str) -> Result<Option<WorkspaceRecord>, PersistError>;
    /// Records a holder durably (flushed) before resolving: a node that
    /// dies after this adopts it, one that dies before ends it as unknown.
    fn save_holder<'a>(
        &'a self,
        record: &'a HolderRecord,
    ) -> BoxFuture<'a, Result<(), PersistError>>;
    /// Forgets `record` durably — only if it is still the one stored for
    /// its agent (a newer holder's record stays).
    fn remove_holder<'a>(
        &'a self,
        record: &'a HolderRecord,
    ) -> BoxFuture<'a, Result<(), PersistError>>;
    /// Every recorded holder (unreadable ones are logged and skipped).
    fn holders(&self) -> Vec<HolderRecord>;
}
