//! Integration tests of semel-log: behaviour, crash and damage recovery, and the model test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod basics;
mod damage;
mod model;

use semel_log::{FlushPolicy, LogConfig};

/// A small-segment configuration so tests roll segments quickly.
pub(crate) fn small_config(segment_bytes: u64) -> LogConfig {
    LogConfig {
        segment_bytes,
        index_interval_bytes: 64,
        flush: FlushPolicy::Os,
        ..LogConfig::default()
    }
}

/// A payload whose bytes depend on `seed`, of `len` bytes.
pub(crate) fn payload(seed: u64, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (seed.wrapping_mul(31).wrapping_add(i as u64 * 7) % 251) as u8)
        .collect()
}
