//! Kafka wire protocol codec: framing, headers, generated request/response messages, RecordBatch v2.
//!
//! Work in progress: see the project's issue for this crate.
