//! Append-only segmented log on memory-mapped files: append, zero-copy read, sparse indexes, fsync policy, crash recovery, retention.
//!
//! Work in progress: see the project's issue for this crate.
