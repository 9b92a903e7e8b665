//! Taking a std mutex whatever happened to its last holder.
//!
//! A poisoned lock only says a thread panicked while holding it; the maps
//! behind ours (locations, name holds, input ledgers, round-trip times)
//! stay whole, since every change to them is a single insert or remove.
//! Quietly answering "nothing there" instead, as `lock().ok()` did, would
//! make a node forget reservations or type keys twice.

use std::sync::{Mutex, MutexGuard, PoisonError};

pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
