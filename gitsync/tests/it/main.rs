//! Integration tests for roam-gitsync, run against the real `git` in temporary directories.

#![allow(clippy::unwrap_used)]

mod capture;
mod common;
mod fuzz_corpus;
mod name;
mod receive_bounds;
mod receive_lock;
mod repo;
mod sync;
mod sync_prop;
mod sync_util;
mod worktree;
