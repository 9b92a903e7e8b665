//! Integration tests for `roam-node`'s protocol and store.
#![allow(clippy::unwrap_used)]

mod codec;
mod fuzz_corpus;
mod golden;
mod pairing;
mod peer;
mod roster;
mod store;
