//! Consumer offset store for a Kafka-compatible broker: commits, fetches, pending transactional offsets, persistence as a compacted record stream, expiry. Sans-IO.
//!
//! Work in progress: see the project's issue for this crate.
