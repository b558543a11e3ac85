//! semel-broker: the thin composition of the semel crates into a Kafka-compatible broker.
//!
//! It decodes requests (semel-wire), asks the state machines, persists their records in
//! semel-log logs and encodes the answers. No protocol rule lives in socket code:
//!
//! - [`server`]: accept loop; per connection, frames in and responses out in request order.
//! - [`broker`]: decode, dispatch by API key, encode; the advertised API versions.
//! - `handler/`: one module per group of APIs.
//! - [`store`], [`partition`], [`topics`]: topics and partitions on semel-log logs, topic
//!   metadata persisted in an internal log.
//! - [`flusher`]: group commit under `--flush always`, the interval flusher, housekeeping.
//! - [`groups`], [`transactions`], [`producer_ids`]: the group, offset and transaction
//!   coordinators with their internal logs; `deadlines` fires their timers.
//! - [`config`], [`cli`], [`datadir`], [`metrics`]: running it.
//!
//! The APIs served are listed in [`broker::SUPPORTED`].

pub mod broker;
pub mod cli;
pub mod config;
pub mod datadir;
mod deadlines;
pub mod flusher;
pub mod groups;
mod handler;
pub mod metrics;
pub mod partition;
pub mod producer_ids;
pub mod server;
pub mod store;
pub mod topics;
pub mod transactions;

/// Milliseconds since the Unix epoch: the broker is the only place that reads the clock; the
/// state machines get the time as this value.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
