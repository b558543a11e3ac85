//! semel-broker: the thin composition of the semel crates into a Kafka-compatible broker.
//!
//! It decodes requests (semel-wire), asks the state machines, persists their records in
//! semel-log logs and encodes the answers. No protocol rule lives in socket code.
//!
//! Work in progress (issue 7): configuration, the data-directory lock, metrics and the
//! connection pipeline are here; the request handlers are being written.

pub mod cli;
pub mod config;
pub mod datadir;
pub mod metrics;
pub mod server;
