//! The foundation benchmark's own measurements and summary; what it shares
//! with the other benchmarks is in the `roam_bench` library.

pub mod listing;
pub mod procfs;
pub mod repo;
pub mod report;
pub mod rss;
pub mod throughput;
pub mod worktree;
