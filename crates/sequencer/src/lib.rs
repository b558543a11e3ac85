//! Idempotent-producer state for a Kafka-compatible broker: producer ids, epochs, sequence
//! checks, duplicate detection with the original offsets, transaction bookkeeping per partition,
//! snapshots and expiry.
//!
//! This crate is sans-IO and synchronous: plain numbers in (producer id, epoch, base sequence,
//! record count, offsets, timestamps as `i64` milliseconds), decisions and records out. It reads
//! no clock, opens no file and knows nothing of the wire format or the log; the broker converts
//! record batch headers into [`ProducerBatch`] / [`TxnMarker`] and stores the bytes this crate
//! produces. It follows Apache Kafka's partition-leader rules error for error (NOTES.md C, D.7-D.9),
//! because clients react to those exact errors.
//!
//! Main types:
//! - [`ProducerStateTable`]: one per partition. [`check`](ProducerStateTable::check) a batch
//!   ([`Decision`]: append, duplicate with the original offsets, out-of-order sequence, invalid
//!   epoch, invalid transaction state), [`record`](ProducerStateTable::record) it once written;
//!   the same for transaction markers ([`check_marker`](ProducerStateTable::check_marker),
//!   [`record_marker`](ProducerStateTable::record_marker), which return what the transaction
//!   index needs); [`expire`](ProducerStateTable::expire) idle producers; encode and decode
//!   [`Snapshot`]s, then replay the log after them through `record`/`record_marker`.
//! - [`ProducerIdAllocator`]: monotonic producer ids in blocks whose high-water mark
//!   ([`ProducerIdBlock`]) is persisted before any id of the block is handed out.
//! - [`error_code`]: the Kafka error codes the decisions map to.
//!
//! Snapshots keep every producer's 5 cached batches (Kafka's keep only the last one), so a
//! restored table answers retries exactly as the live one did.
//!
//! ```
//! use semel_sequencer::{Decision, ProducerBatch, ProducerStateConfig, ProducerStateTable};
//!
//! # fn main() -> Result<(), semel_sequencer::SequencerError> {
//! let mut table = ProducerStateTable::new(ProducerStateConfig::default());
//! let batch = ProducerBatch {
//!     producer_id: 7,
//!     producer_epoch: 0,
//!     base_sequence: 0,
//!     last_offset_delta: 9, // 10 records
//!     is_transactional: false,
//! };
//! assert_eq!(table.check(&batch), Decision::Append);
//! table.record(&batch, 100, 1_700_000_000_000)?; // the log wrote it at offsets 100..=109
//!
//! // The client did not get the response and sends the batch again: it is a duplicate, answered
//! // with the original offsets, and nothing is written.
//! assert_eq!(
//!     table.check(&batch),
//!     Decision::Duplicate { first_offset: 100, last_offset: 109, timestamp_ms: 1_700_000_000_000 }
//! );
//! // A gap in the sequence is refused with OUT_OF_ORDER_SEQUENCE_NUMBER.
//! let gap = ProducerBatch { base_sequence: 11, ..batch };
//! assert_eq!(table.check(&gap).error_code(), 45);
//!
//! // Snapshot, restart, same decisions.
//! let bytes = table.encode_snapshot(110);
//! let restored = ProducerStateTable::decode_snapshot(&bytes, ProducerStateConfig::default())?;
//! assert_eq!(restored.log_end_offset, 110);
//! assert_eq!(restored.table.check(&batch), table.check(&batch));
//! # Ok(())
//! # }
//! ```

mod allocator;
mod codec;
mod error;
mod hash;
mod snapshot;
mod table;

#[doc(hidden)]
pub mod fuzzing;

pub use allocator::{Allocation, ProducerIdAllocator, ProducerIdBlock};
pub use error::SequencerError;
pub use snapshot::Snapshot;
pub use table::{
    BatchMetadata, CompletedTxn, DEFAULT_PRODUCER_ID_EXPIRATION_MS, Decision, MarkerDecision,
    NO_PRODUCER_EPOCH, NO_SEQUENCE, NUM_BATCHES_TO_RETAIN, ProducerBatch, ProducerEntry,
    ProducerStateConfig, ProducerStateTable, TxnMarker, TxnOpened, error_code, in_sequence,
    last_sequence,
};
