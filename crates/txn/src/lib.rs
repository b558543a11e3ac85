//! Kafka transactions, sans-IO: the transaction coordinator state machine and the
//! per-partition transaction index.
//!
//! This crate is:
//! - [`TransactionCoordinator`]: one state machine per `transactional.id` serving
//!   InitProducerId, AddPartitionsToTxn (including the verify-only form), AddOffsetsToTxn,
//!   EndTxn, DescribeTransactions and ListTransactions with Kafka's error codes, fencing,
//!   epoch exhaustion, timeouts and id expiry. Every state change is a [`TxnLogRecord`] the
//!   caller persists before the response is released; [`TransactionCoordinator::replay`]
//!   rebuilds the state from those records.
//! - [`TxnIndex`]: per partition, the open transactions, the last stable offset and the
//!   aborted transactions a read_committed fetch reports.
//!
//! It is not: a network server, a log, or a producer-id allocator. It never reads a clock
//! (time comes in as `now_ms`), never does I/O (records and markers go out as [`Effect`]s)
//! and knows nothing of the wire format (the broker converts requests to plain fields).
//!
//! # Example: one committed transaction
//!
//! ```
//! use semel_txn::{
//!     Completion, CoordinatorConfig, Effect, ErrorCode, MarkersOutcome, Reply, TopicPartition,
//!     TransactionCoordinator, TxnResult,
//! };
//!
//! let mut coordinator = TransactionCoordinator::new(CoordinatorConfig::default());
//! let mut next_pid = 1000;
//! let mut ids = || { next_pid += 1; Some(next_pid) };
//! let mut log = Vec::new(); // stands in for the durable transaction log
//!
//! // Persist every pending record, in order, and collect the responses they release.
//! fn drive(c: &mut TransactionCoordinator, log: &mut Vec<semel_txn::TxnLogRecord>) -> Vec<Completion> {
//!     let mut done = Vec::new();
//!     while let Some(effect) = c.poll_effect() {
//!         match effect {
//!             Effect::Persist { id, record } => {
//!                 log.push(record);
//!                 done.push(c.persisted(id).unwrap());
//!             }
//!             Effect::WriteMarkers(markers) => {
//!                 // The broker appends a control batch to each partition here.
//!                 let outcome = c.markers_written(0, &markers, markers.partitions.iter());
//!                 assert!(matches!(outcome, MarkersOutcome::Completing(_)));
//!             }
//!         }
//!     }
//!     done
//! }
//!
//! let Reply::AfterPersist(_) = coordinator.handle_init_producer_id(0, "tx", 60_000, -1, -1, &mut ids)
//! else { unreachable!() };
//! let Completion::InitProducerId(init) = drive(&mut coordinator, &mut log)[0] else { unreachable!() };
//! assert_eq!((init.error, init.producer_id, init.producer_epoch), (ErrorCode::None, 1001, 0));
//!
//! let orders = TopicPartition::new("orders", 0);
//! coordinator.handle_add_partitions(1, "tx", 1001, 0, &[orders.clone()]);
//! drive(&mut coordinator, &mut log);
//! coordinator.handle_end_txn(2, "tx", 1001, 0, TxnResult::Commit);
//! let done = drive(&mut coordinator, &mut log);
//! assert_eq!(done[0], Completion::EndTxn(ErrorCode::None));
//! assert_eq!(coordinator.describe("tx").state.name(), "CompleteCommit");
//!
//! // A restart rebuilds the same state from the log.
//! let restarted = TransactionCoordinator::replay(CoordinatorConfig::default(), &log);
//! assert_eq!(restarted.snapshot(), coordinator.snapshot());
//! ```

mod code;
mod coordinator;
mod error;
mod index;
mod record;

pub use code::{ErrorCode, TxnApi};
pub use coordinator::{
    Completion, CoordinatorConfig, DEFAULT_TRANSACTION_MAX_TIMEOUT_MS,
    DEFAULT_TRANSACTIONAL_ID_EXPIRATION_MS, Effect, InitProducerIdResponse, ListedTransaction,
    MarkersOutcome, ProducerIdSource, Reply, TransactionCoordinator, TransactionDescription,
    TransitionId, TxnResult, WriteMarkers,
};
pub use error::TxnError;
pub use index::{AbortedInRange, AbortedTxn, TxnIndex};
pub use record::{PartitionSet, TopicPartition, TxnLogRecord, TxnLogValue, TxnState};

/// Properties checked by the fuzz targets (and by `cargo test` over the committed corpus).
#[doc(hidden)]
pub mod fuzzing {
    use crate::{AbortedTxn, CoordinatorConfig, TransactionCoordinator, TxnLogRecord};

    /// Arbitrary bytes as a coordinator log record and as an aborted-transaction index entry:
    /// either a typed error, or a value that re-encodes to exactly the same bytes. A decoded
    /// log record is also replayed, which must not panic and must snapshot back to itself.
    pub fn txn_records(data: &[u8]) {
        if let Ok(record) = TxnLogRecord::decode(data) {
            assert_eq!(record.encoded_len(), data.len());
            assert_eq!(record.to_bytes(), data);
            let c = TransactionCoordinator::replay(CoordinatorConfig::default(), [&record]);
            let snapshot = c.snapshot();
            match &record.value {
                Some(_) => assert_eq!(snapshot, vec![record]),
                None => assert!(snapshot.is_empty()),
            }
        }
        if let Ok(entry) = AbortedTxn::decode(data) {
            assert_eq!(entry.to_bytes().as_slice(), data);
        }
    }
}
