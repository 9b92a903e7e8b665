//! The actors' view of durable storage. The node implements it (sled);
//! actors only know that `save` returns once the record is on disk.

use std::future::Future;
use std::pin::Pin;

use crate::model::WorkspaceRecord;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

pub trait Persist: Send + Sync + 'static {
    /// Stores the record durably (flushed) before resolving.
    fn save<'a>(&'a self, record: &'a WorkspaceRecord) -> BoxFuture<'a, Result<(), String>>;
    /// Forgets the workspace durably before resolving.
    fn remove<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<(), String>>;
    fn load(&self, name: &str) -> Result<Option<WorkspaceRecord>, String>;
}
