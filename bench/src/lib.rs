//! What Roam's benchmarks share (binaries: `roam-bench`, the foundation
//! benchmark; `gitsync`; `mesh`; `ssh`): isolated roam nodes, processes in
//! PTYs and agents in holders of their own, watched for markers, a private
//! OpenSSH server to compare against, byte-counting relays, bounded waits
//! and commands, and statistics.

pub mod cmd;
pub mod drain;
pub mod flood;
pub mod held;
pub mod node;
pub mod pty;
pub mod relay;
pub mod report;
pub mod sshd;
pub mod wait;
