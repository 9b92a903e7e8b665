//! Multi-node fault tests (partitions, node loss, rolling restarts) live
//! here once the mesh exists; the single-node restart and kill -9 tests are
//! in `cli/tests/it`. This crate has no library code of its own.
