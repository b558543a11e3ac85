//! Consumer offset store for a Kafka-compatible broker: committed offsets per
//! (group, topic, partition), pending transactional offsets, persistence as a compacted
//! record stream, expiry.
//!
//! This crate is sans-IO and synchronous: time comes in as `now_ms`, persistence goes out as
//! [`Write`]s of [`OffsetRecord`]s that the caller stores (semel-broker keeps them in a
//! semel-log) and hands back to [`OffsetStore::persisted`] once they are durable. It does not
//! know group membership, generations or producer epochs (semel-group, semel-txn and the
//! broker check those), nor the wire protocol (the broker converts at the boundary).
//!
//! Main types:
//! - [`OffsetStore`]: commit, transactional commit and its marker, fetch (with
//!   RequireStable), delete, expiry, replay.
//! - [`OffsetRecord`]: the versioned record encoding ([`OffsetRecord::encode`],
//!   [`OffsetRecord::decode`]); [`compact`] keeps the live records of a stream.
//! - [`ErrorCode`]: the Kafka error codes of the protocol outcomes; [`OffsetsError`]: damaged
//!   records and API misuse.
//!
//! # Example
//! ```
//! use semel_offsets::{Fetched, OffsetStore, OffsetsConfig, PartitionOffset};
//!
//! let mut store = OffsetStore::new(OffsetsConfig::default());
//! let mut log: Vec<Vec<u8>> = Vec::new();
//! let offset = |offset| PartitionOffset {
//!     topic: "orders".into(),
//!     partition: 0,
//!     offset,
//!     leader_epoch: -1,
//!     metadata: String::new(),
//! };
//!
//! // A plain OffsetCommit: persist the records, then hand the write back.
//! let outcome = store.commit("billing", [offset(42)], 1_000);
//! assert!(outcome.errors.iter().all(|e| e.is_none()));
//! let write = outcome.write.expect("one partition accepted");
//! assert_eq!(store.fetch("billing", "orders", 0, true), Fetched::Unstable); // being written
//! for record in write.records() {
//!     log.push(record.encode()?);
//! }
//! store.persisted(write)?;
//! assert_eq!(store.fetch("billing", "orders", 0, true).offset(), 42);
//!
//! // A transactional commit stays pending until its producer's COMMIT marker.
//! let write = store.txn_commit(7, "billing", [offset(50)], 2_000).write.expect("accepted");
//! for record in write.records() {
//!     log.push(record.encode()?);
//! }
//! store.persisted(write)?;
//! assert_eq!(store.fetch("billing", "orders", 0, false).offset(), 42);
//! assert_eq!(store.fetch("billing", "orders", 0, true), Fetched::Unstable);
//! let marker = store.complete_txn(7, true).expect("producer 7 has pending offsets");
//! for record in marker.records() {
//!     log.push(record.encode()?);
//! }
//! store.persisted(marker)?;
//! assert_eq!(store.fetch("billing", "orders", 0, true).offset(), 50);
//!
//! // After a restart, replaying the log rebuilds the same store.
//! let records = log
//!     .iter()
//!     .map(|bytes| semel_offsets::OffsetRecord::decode(bytes))
//!     .collect::<Result<Vec<_>, _>>()?;
//! let replayed = OffsetStore::replay(OffsetsConfig::default(), records);
//! assert_eq!(replayed.live_records(), store.live_records());
//! # Ok::<(), semel_offsets::OffsetsError>(())
//! ```

mod error;
mod record;
mod store;

#[doc(hidden)]
pub mod fuzzing;

pub use error::{ErrorCode, OffsetsError};
pub use record::{MAX_STRING_BYTES, OffsetAndMetadata, OffsetKey, OffsetRecord};
pub use store::{
    CommitOutcome, Fetched, GroupActivity, GroupOffset, GroupView, OffsetStore, OffsetsConfig,
    PartitionOffset, Write, WriteId, compact,
};
