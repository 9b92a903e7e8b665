//! Integration tests for `roam-mesh`.
#![allow(clippy::unwrap_used)]

mod frame;
mod ssh;
mod sshd;
