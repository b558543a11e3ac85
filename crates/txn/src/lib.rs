//! Kafka transaction coordinator state machine and per-partition transaction index (open transactions, last stable offset, aborted ranges). Sans-IO.
//!
//! Work in progress: see the project's issue for this crate.
