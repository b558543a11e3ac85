//! Idempotent-producer state for a Kafka-compatible broker: producer ids, epochs, sequence checks, duplicate detection, snapshots, expiry. Sans-IO.
//!
//! Work in progress: see the project's issue for this crate.
