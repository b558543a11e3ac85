//! The per-partition producer state table: `check`, `record`, markers, expiry.

use std::collections::{BTreeSet, HashMap};

use crate::SequencerError;
use crate::hash::IdHasherBuilder;

/// How many batches per producer are remembered for duplicate detection (AK's
/// `NUM_BATCHES_TO_RETAIN`, NOTES.md C.2). A client has at most 5 requests in flight per
/// connection when idempotence is on, so any retry it can send is among the last 5 batches.
pub const NUM_BATCHES_TO_RETAIN: usize = 5;

/// Default for [`ProducerStateConfig::producer_id_expiration_ms`]: Kafka's
/// `producer.id.expiration.ms`, one day.
pub const DEFAULT_PRODUCER_ID_EXPIRATION_MS: i64 = 86_400_000;

/// The epoch of a producer the table holds no epoch for (Kafka's `NO_PRODUCER_EPOCH`).
pub const NO_PRODUCER_EPOCH: i16 = -1;

/// The last sequence of a producer the table holds no batch for (Kafka's `NO_SEQUENCE`).
pub const NO_SEQUENCE: i32 = -1;

/// Kafka error codes for the decisions of this crate (numbers from AK `Errors.java`, NOTES.md G).
///
/// The broker puts these into the partition's `ErrorCode` in its Produce or WriteTxnMarkers
/// response; see [`Decision::error_code`] and [`MarkerDecision::error_code`].
pub mod error_code {
    /// `NONE`: success; also the answer to a duplicate (with the original offsets).
    pub const NONE: i16 = 0;
    /// `OUT_OF_ORDER_SEQUENCE_NUMBER`: a sequence gap, a sequence that fell out of the cache, or
    /// a new epoch that does not start at sequence 0.
    pub const OUT_OF_ORDER_SEQUENCE_NUMBER: i16 = 45;
    /// `INVALID_PRODUCER_EPOCH`: the batch's or marker's epoch is lower than the recorded one.
    pub const INVALID_PRODUCER_EPOCH: i16 = 47;
    /// `INVALID_TXN_STATE`: a non-transactional batch while the producer's transaction is open on
    /// the partition.
    pub const INVALID_TXN_STATE: i16 = 48;
    /// `TRANSACTION_COORDINATOR_FENCED`: a marker from a coordinator with an older coordinator
    /// epoch.
    pub const TRANSACTION_COORDINATOR_FENCED: i16 = 52;
    /// `INVALID_RECORD`: a batch or marker whose fields break the protocol's rules (a producer id
    /// without a sequence, a negative record count).
    pub const INVALID_RECORD: i16 = 87;
}

/// The last sequence number of a batch (NOTES.md C.3): `base_sequence + last_offset_delta`,
/// wrapping from `i32::MAX` to 0.
///
/// Defined for `base_sequence >= 0` and `last_offset_delta >= 0` (what [`ProducerStateTable::check`]
/// accepts); other inputs give a value in `0..=i32::MAX` without panicking.
#[must_use]
pub fn last_sequence(base_sequence: i32, last_offset_delta: i32) -> i32 {
    let sum = i64::from(base_sequence) + i64::from(last_offset_delta);
    // rem_euclid by 2^31 lies in 0..=i32::MAX, so the cast is exact.
    sum.rem_euclid(1 << 31) as i32
}

/// Whether `next` directly follows `last` (NOTES.md C.3): `next == last + 1`, or `next == 0`
/// after `i32::MAX`. With `last == NO_SEQUENCE` only 0 follows.
#[must_use]
pub fn in_sequence(last: i32, next: i32) -> bool {
    i64::from(next) == i64::from(last) + 1 || (next == 0 && last == i32::MAX)
}

/// The sequence that must come after `last` (the inverse of [`in_sequence`]).
fn next_sequence(last: i32) -> i32 {
    if last == i32::MAX {
        0
    } else {
        last.saturating_add(1)
    }
}

/// The idempotence fields of a data batch a client produced (from its RecordBatch v2 header).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProducerBatch {
    /// `producerId`; -1 means the batch is not idempotent and is never checked.
    pub producer_id: i64,
    /// `producerEpoch`.
    pub producer_epoch: i16,
    /// `baseSequence`: the sequence number of the first record.
    pub base_sequence: i32,
    /// `lastOffsetDelta`: record count minus one. The batch covers sequences
    /// `base_sequence..=last_sequence()` and offsets `first_offset..=first_offset + last_offset_delta`.
    pub last_offset_delta: i32,
    /// The `isTransactional` attribute.
    pub is_transactional: bool,
}

impl ProducerBatch {
    /// The batch's last sequence number, wrapping at `i32::MAX` (NOTES.md C.3).
    #[must_use]
    pub fn last_sequence(&self) -> i32 {
        last_sequence(self.base_sequence, self.last_offset_delta)
    }
}

/// A transaction marker (COMMIT or ABORT control batch, NOTES.md B.5, D.8) to be written to the
/// partition for one producer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TxnMarker {
    /// The transaction's producer id.
    pub producer_id: i64,
    /// The producer epoch the coordinator writes the marker with.
    pub producer_epoch: i16,
    /// The coordinator epoch of the transaction coordinator that sends the marker.
    pub coordinator_epoch: i32,
    /// `true` for COMMIT, `false` for ABORT.
    pub is_commit: bool,
}

/// What [`ProducerStateTable::check`] says about a data batch before it is written.
///
/// Kafka error codes: see [`Decision::error_code`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Decision {
    /// Write the batch (offsets assigned by the log), then call [`ProducerStateTable::record`].
    /// Answer `NONE` (0) with the assigned base offset.
    Append,
    /// The batch is an exact retry of one of the producer's last 5 batches: write nothing, answer
    /// `NONE` (0) with these original offsets. `timestamp_ms` is the timestamp stored with that
    /// batch (AK answers it as `LogAppendTimeMs`; NOTES.md C.4 step 1 discusses answering -1 on
    /// CreateTime topics instead).
    Duplicate {
        /// Base offset the batch was written at.
        first_offset: i64,
        /// Offset of the batch's last record.
        last_offset: i64,
        /// Timestamp recorded with the batch.
        timestamp_ms: i64,
    },
    /// `OUT_OF_ORDER_SEQUENCE_NUMBER` (45): a gap, an old batch no longer cached, or a new epoch
    /// not starting at 0.
    OutOfOrderSequence {
        /// The only base sequence that would have been in order.
        expected_sequence: i32,
    },
    /// `INVALID_PRODUCER_EPOCH` (47): the batch's epoch is older than the producer's current one.
    InvalidProducerEpoch {
        /// The producer's current epoch on this partition.
        current_epoch: i16,
    },
    /// `INVALID_TXN_STATE` (48): a non-transactional batch while the producer has a transaction
    /// open on this partition.
    InvalidTxnState {
        /// First offset of the open transaction.
        txn_first_offset: i64,
    },
    /// `INVALID_RECORD` (87): a batch with a producer id but a negative base sequence or a
    /// negative `last_offset_delta` (the broker's batch validation, NOTES.md B.6 step 3, normally
    /// answers this before the sequencer is asked).
    InvalidRecord {
        /// What is wrong with the batch.
        reason: &'static str,
    },
}

impl Decision {
    /// The Kafka error code the Produce response carries for this decision:
    ///
    /// | decision | code |
    /// |---|---|
    /// | `Append`, `Duplicate` | 0 `NONE` |
    /// | `OutOfOrderSequence` | 45 `OUT_OF_ORDER_SEQUENCE_NUMBER` |
    /// | `InvalidProducerEpoch` | 47 `INVALID_PRODUCER_EPOCH` |
    /// | `InvalidTxnState` | 48 `INVALID_TXN_STATE` |
    /// | `InvalidRecord` | 87 `INVALID_RECORD` |
    #[must_use]
    pub fn error_code(&self) -> i16 {
        match self {
            Decision::Append | Decision::Duplicate { .. } => error_code::NONE,
            Decision::OutOfOrderSequence { .. } => error_code::OUT_OF_ORDER_SEQUENCE_NUMBER,
            Decision::InvalidProducerEpoch { .. } => error_code::INVALID_PRODUCER_EPOCH,
            Decision::InvalidTxnState { .. } => error_code::INVALID_TXN_STATE,
            Decision::InvalidRecord { .. } => error_code::INVALID_RECORD,
        }
    }
}

/// What [`ProducerStateTable::check_marker`] says about a transaction marker before it is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MarkerDecision {
    /// Write the marker, then call [`ProducerStateTable::record_marker`].
    Append,
    /// `INVALID_PRODUCER_EPOCH` (47): the marker's epoch is older than the producer's.
    InvalidProducerEpoch {
        /// The producer's current epoch on this partition.
        current_epoch: i16,
    },
    /// `TRANSACTION_COORDINATOR_FENCED` (52): the marker's coordinator epoch is older than the
    /// one recorded for the producer.
    TransactionCoordinatorFenced {
        /// The coordinator epoch recorded for the producer.
        current_coordinator_epoch: i32,
    },
    /// `INVALID_RECORD` (87): a marker without a producer id.
    InvalidRecord {
        /// What is wrong with the marker.
        reason: &'static str,
    },
}

impl MarkerDecision {
    /// The Kafka error code for this decision: `Append` 0, `InvalidProducerEpoch` 47,
    /// `TransactionCoordinatorFenced` 52, `InvalidRecord` 87.
    #[must_use]
    pub fn error_code(&self) -> i16 {
        match self {
            MarkerDecision::Append => error_code::NONE,
            MarkerDecision::InvalidProducerEpoch { .. } => error_code::INVALID_PRODUCER_EPOCH,
            MarkerDecision::TransactionCoordinatorFenced { .. } => {
                error_code::TRANSACTION_COORDINATOR_FENCED
            }
            MarkerDecision::InvalidRecord { .. } => error_code::INVALID_RECORD,
        }
    }
}

/// A transactional batch opened a transaction for its producer on the partition (returned by
/// [`ProducerStateTable::record`]); the partition's transaction index adds it to its open set,
/// which pins the last stable offset at `first_offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TxnOpened {
    /// The producer whose transaction opened.
    pub producer_id: i64,
    /// Offset of the transaction's first batch on this partition.
    pub first_offset: i64,
}

/// A marker closed a producer's open transaction on the partition (returned by
/// [`ProducerStateTable::record_marker`]); for an ABORT the transaction index records
/// `AbortedTxn { producer_id, first_offset, last_offset, last_stable_offset }` (NOTES.md D.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CompletedTxn {
    /// The producer whose transaction ended.
    pub producer_id: i64,
    /// Offset of the transaction's first batch on this partition.
    pub first_offset: i64,
    /// Offset of the marker.
    pub last_offset: i64,
    /// `true` for COMMIT, `false` for ABORT.
    pub is_commit: bool,
    /// After this marker: the first offset of the earliest transaction still open on the
    /// partition, or `last_offset + 1` when none is.
    pub last_stable_offset: i64,
}

/// One cached batch of a producer: what a duplicate is answered with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct BatchMetadata {
    /// Sequence of the batch's first record.
    pub base_sequence: i32,
    /// `lastOffsetDelta` of the batch (record count minus one).
    pub last_offset_delta: i32,
    /// Offset the batch was written at.
    pub first_offset: i64,
    /// Timestamp recorded with the batch (its max timestamp after broker stamping).
    pub timestamp_ms: i64,
}

impl BatchMetadata {
    /// Sequence of the batch's last record (wrapping, NOTES.md C.3).
    #[must_use]
    pub fn last_sequence(&self) -> i32 {
        last_sequence(self.base_sequence, self.last_offset_delta)
    }

    /// Offset of the batch's last record.
    #[must_use]
    pub fn last_offset(&self) -> i64 {
        // The table only stores batches whose last offset fits (checked in `record` and `decode`).
        self.first_offset
            .saturating_add(i64::from(self.last_offset_delta))
    }
}

/// The last (at most) [`NUM_BATCHES_TO_RETAIN`] batches of a producer, oldest first, in a fixed
/// array so that recording a batch never allocates.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct BatchCache {
    slots: [BatchMetadata; NUM_BATCHES_TO_RETAIN],
    len: u8,
}

impl BatchCache {
    pub(crate) fn as_slice(&self) -> &[BatchMetadata] {
        self.slots.get(..usize::from(self.len)).unwrap_or(&[])
    }

    /// Appends a batch, evicting the oldest when full.
    pub(crate) fn push(&mut self, batch: BatchMetadata) {
        let len = usize::from(self.len);
        if len < NUM_BATCHES_TO_RETAIN {
            self.slots[len] = batch;
            self.len += 1;
        } else {
            self.slots.copy_within(1.., 0);
            self.slots[NUM_BATCHES_TO_RETAIN - 1] = batch;
        }
    }

    fn clear(&mut self) {
        *self = BatchCache::default();
    }

    fn last(&self) -> Option<&BatchMetadata> {
        self.as_slice().last()
    }
}

impl PartialEq for BatchCache {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for BatchCache {}

/// What a partition knows about one producer (AK's `ProducerStateEntry`, NOTES.md C.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerEntry {
    pub(crate) producer_epoch: i16,
    pub(crate) coordinator_epoch: i32,
    pub(crate) last_timestamp_ms: i64,
    pub(crate) current_txn_first_offset: Option<i64>,
    pub(crate) batches: BatchCache,
}

impl ProducerEntry {
    /// A producer the partition has not seen yet (AK `ProducerStateEntry.empty`).
    pub(crate) fn empty() -> Self {
        ProducerEntry {
            producer_epoch: NO_PRODUCER_EPOCH,
            coordinator_epoch: -1,
            last_timestamp_ms: -1,
            current_txn_first_offset: None,
            batches: BatchCache::default(),
        }
    }

    /// The producer's current epoch on this partition.
    #[must_use]
    pub fn producer_epoch(&self) -> i16 {
        self.producer_epoch
    }

    /// Coordinator epoch of the last marker written for the producer (-1 if none).
    #[must_use]
    pub fn coordinator_epoch(&self) -> i32 {
        self.coordinator_epoch
    }

    /// Timestamp of the producer's last batch or marker (what expiry compares, NOTES.md C.8).
    #[must_use]
    pub fn last_timestamp_ms(&self) -> i64 {
        self.last_timestamp_ms
    }

    /// First offset of the producer's open transaction on this partition, if one is open.
    #[must_use]
    pub fn current_txn_first_offset(&self) -> Option<i64> {
        self.current_txn_first_offset
    }

    /// Last sequence of the newest cached batch, or [`NO_SEQUENCE`] when no batch is cached (for
    /// instance when only a marker is known for the producer, or after an epoch change).
    #[must_use]
    pub fn last_sequence(&self) -> i32 {
        self.batches
            .last()
            .map_or(NO_SEQUENCE, BatchMetadata::last_sequence)
    }

    /// The cached batches, oldest first (at most [`NUM_BATCHES_TO_RETAIN`]).
    #[must_use]
    pub fn batches(&self) -> &[BatchMetadata] {
        self.batches.as_slice()
    }

    fn find_duplicate(&self, base_sequence: i32, last_sequence: i32) -> Option<&BatchMetadata> {
        self.batches
            .as_slice()
            .iter()
            .find(|b| b.base_sequence == base_sequence && b.last_sequence() == last_sequence)
    }

    /// Sets the epoch; any change of epoch (up, or down when replaying) forgets the cached batches
    /// (AK `maybeUpdateProducerEpoch`).
    fn update_epoch(&mut self, producer_epoch: i16) {
        if self.producer_epoch != producer_epoch {
            self.batches.clear();
            self.producer_epoch = producer_epoch;
        }
    }
}

/// Settings of a [`ProducerStateTable`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerStateConfig {
    /// A producer with no open transaction whose last timestamp is at least this old is forgotten
    /// by [`ProducerStateTable::expire`] (Kafka's `producer.id.expiration.ms`).
    pub producer_id_expiration_ms: i64,
}

impl Default for ProducerStateConfig {
    fn default() -> Self {
        ProducerStateConfig {
            producer_id_expiration_ms: DEFAULT_PRODUCER_ID_EXPIRATION_MS,
        }
    }
}

/// The idempotent-producer state of one partition (AK's `ProducerStateManager`).
///
/// Produce path: [`check`](Self::check) a batch, write it if the decision is
/// [`Decision::Append`], then [`record`](Self::record) it with the offsets the log assigned.
/// Markers: [`check_marker`](Self::check_marker), write, [`record_marker`](Self::record_marker).
/// Recovery: [`decode_snapshot`](Self::decode_snapshot), then `record`/`record_marker` every batch
/// header read back from the log after the snapshot's offset; these two never check sequences or
/// epochs ("replication semantics"), they only keep the books.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerStateTable {
    pub(crate) config: ProducerStateConfig,
    pub(crate) producers: HashMap<i64, ProducerEntry, IdHasherBuilder>,
    /// `(current_txn_first_offset, producer_id)` of every open transaction, derived from
    /// `producers`, so the last stable offset is the first element.
    pub(crate) open_txns: BTreeSet<(i64, i64)>,
}

impl Default for ProducerStateTable {
    fn default() -> Self {
        ProducerStateTable::new(ProducerStateConfig::default())
    }
}

impl ProducerStateTable {
    /// An empty table.
    #[must_use]
    pub fn new(config: ProducerStateConfig) -> Self {
        ProducerStateTable {
            config,
            producers: HashMap::with_hasher(IdHasherBuilder::default()),
            open_txns: BTreeSet::new(),
        }
    }

    /// The table's settings.
    #[must_use]
    pub fn config(&self) -> &ProducerStateConfig {
        &self.config
    }

    /// Decides what to do with a client's data batch before it is written (NOTES.md C.4, in AK's
    /// order):
    ///
    /// 1. same epoch and exactly the (base, last) sequences of a cached batch → `Duplicate`;
    /// 2. (D.7 verification of a transactional batch that opens a transaction is the broker's:
    ///    ask the coordinator first when [`has_ongoing_transaction`](Self::has_ongoing_transaction)
    ///    is false, and answer its error without calling `check`);
    /// 3. epoch lower than the producer's → `InvalidProducerEpoch`;
    /// 4. higher epoch with base sequence ≠ 0 (unless the producer has no epoch) → out of order;
    ///    same epoch and not directly after the last cached sequence → out of order; an unknown
    ///    producer is accepted with any epoch and sequence;
    /// 5. non-transactional batch during the producer's open transaction → `InvalidTxnState`.
    ///
    /// A batch with `producer_id < 0` is not idempotent and is always `Append`.
    #[must_use]
    pub fn check(&self, batch: &ProducerBatch) -> Decision {
        if batch.producer_id < 0 {
            return Decision::Append;
        }
        if batch.base_sequence < 0 {
            return Decision::InvalidRecord {
                reason: "negative base_sequence with a producer id",
            };
        }
        if batch.last_offset_delta < 0 {
            return Decision::InvalidRecord {
                reason: "negative last_offset_delta",
            };
        }
        let entry = self.producers.get(&batch.producer_id);
        let entry_epoch = entry.map_or(NO_PRODUCER_EPOCH, |e| e.producer_epoch);

        // 1. Duplicate of a cached batch.
        if let Some(e) = entry
            && e.producer_epoch == batch.producer_epoch
            && let Some(dup) = e.find_duplicate(batch.base_sequence, batch.last_sequence())
        {
            return Decision::Duplicate {
                first_offset: dup.first_offset,
                last_offset: dup.last_offset(),
                timestamp_ms: dup.timestamp_ms,
            };
        }

        // 3. Epoch fencing.
        if batch.producer_epoch < entry_epoch {
            return Decision::InvalidProducerEpoch {
                current_epoch: entry_epoch,
            };
        }

        // 4. Sequence.
        if batch.producer_epoch != entry_epoch {
            if batch.base_sequence != 0 && entry_epoch != NO_PRODUCER_EPOCH {
                return Decision::OutOfOrderSequence {
                    expected_sequence: 0,
                };
            }
        } else {
            let last = entry.map_or(NO_SEQUENCE, ProducerEntry::last_sequence);
            if entry_epoch != NO_PRODUCER_EPOCH && !in_sequence(last, batch.base_sequence) {
                return Decision::OutOfOrderSequence {
                    expected_sequence: next_sequence(last),
                };
            }
        }

        // 5. Non-transactional write inside an open transaction.
        if !batch.is_transactional
            && let Some(txn_first_offset) = entry.and_then(|e| e.current_txn_first_offset)
        {
            return Decision::InvalidTxnState { txn_first_offset };
        }
        Decision::Append
    }

    /// Records a batch written at `first_offset` (its last offset is
    /// `first_offset + last_offset_delta`) with its timestamp, evicting the producer's oldest
    /// cached batch when 5 are cached. A changed epoch first forgets the cached batches. A
    /// transactional batch of a producer with no open transaction opens one, returned as
    /// [`TxnOpened`].
    ///
    /// This is also the replay entry point: no sequence or epoch is checked. A batch with
    /// `producer_id < 0` changes nothing.
    ///
    /// # Errors
    ///
    /// [`SequencerError::InvalidBatch`], with the table unchanged, when the batch has a negative
    /// base sequence or `last_offset_delta`, `first_offset` is negative or its last offset
    /// overflows, or the batch is non-transactional while the producer's transaction is open
    /// (batches [`check`](Self::check) answered `Append` never fail).
    pub fn record(
        &mut self,
        batch: &ProducerBatch,
        first_offset: i64,
        timestamp_ms: i64,
    ) -> Result<Option<TxnOpened>, SequencerError> {
        if batch.producer_id < 0 {
            return Ok(None);
        }
        let invalid = |reason| SequencerError::InvalidBatch {
            producer_id: batch.producer_id,
            first_offset,
            reason,
        };
        if batch.base_sequence < 0 {
            return Err(invalid("negative base_sequence"));
        }
        if batch.last_offset_delta < 0 {
            return Err(invalid("negative last_offset_delta"));
        }
        if first_offset < 0 {
            return Err(invalid("negative offset"));
        }
        if first_offset
            .checked_add(i64::from(batch.last_offset_delta))
            .is_none()
        {
            return Err(invalid("last offset overflows i64"));
        }
        let entry = self
            .producers
            .entry(batch.producer_id)
            .or_insert_with(ProducerEntry::empty);
        if !batch.is_transactional && entry.current_txn_first_offset.is_some() {
            return Err(invalid(
                "non-transactional batch while the producer's transaction is open",
            ));
        }
        entry.update_epoch(batch.producer_epoch);
        entry.batches.push(BatchMetadata {
            base_sequence: batch.base_sequence,
            last_offset_delta: batch.last_offset_delta,
            first_offset,
            timestamp_ms,
        });
        entry.last_timestamp_ms = timestamp_ms;
        if batch.is_transactional && entry.current_txn_first_offset.is_none() {
            entry.current_txn_first_offset = Some(first_offset);
            self.open_txns.insert((first_offset, batch.producer_id));
            return Ok(Some(TxnOpened {
                producer_id: batch.producer_id,
                first_offset,
            }));
        }
        Ok(None)
    }

    /// Decides whether a COMMIT/ABORT marker may be written (NOTES.md D.8): its epoch must not be
    /// lower than the producer's and its coordinator epoch not lower than the recorded one. An
    /// unknown producer is accepted.
    #[must_use]
    pub fn check_marker(&self, marker: &TxnMarker) -> MarkerDecision {
        if marker.producer_id < 0 {
            return MarkerDecision::InvalidRecord {
                reason: "marker without a producer id",
            };
        }
        let Some(entry) = self.producers.get(&marker.producer_id) else {
            return MarkerDecision::Append;
        };
        if marker.producer_epoch < entry.producer_epoch {
            return MarkerDecision::InvalidProducerEpoch {
                current_epoch: entry.producer_epoch,
            };
        }
        if marker.coordinator_epoch < entry.coordinator_epoch {
            return MarkerDecision::TransactionCoordinatorFenced {
                current_coordinator_epoch: entry.coordinator_epoch,
            };
        }
        MarkerDecision::Append
    }

    /// Records a marker written at `offset` (NOTES.md C.2, D.8): it ends the producer's open
    /// transaction on the partition (returned as [`CompletedTxn`], `None` if the producer had no
    /// data in a transaction here), sets its epoch (a different epoch forgets the cached batches;
    /// the same epoch keeps them, so sequences continue across transactions), its coordinator
    /// epoch and its last timestamp.
    ///
    /// Like [`record`](Self::record) this is also the replay entry point and checks no epoch.
    ///
    /// # Errors
    ///
    /// [`SequencerError::InvalidMarker`], with the table unchanged, when the marker's producer id
    /// or `offset` is negative.
    pub fn record_marker(
        &mut self,
        marker: &TxnMarker,
        offset: i64,
        timestamp_ms: i64,
    ) -> Result<Option<CompletedTxn>, SequencerError> {
        let invalid = |reason| SequencerError::InvalidMarker {
            producer_id: marker.producer_id,
            offset,
            reason,
        };
        if marker.producer_id < 0 {
            return Err(invalid("negative producer id"));
        }
        if offset < 0 {
            return Err(invalid("negative offset"));
        }
        let entry = self
            .producers
            .entry(marker.producer_id)
            .or_insert_with(ProducerEntry::empty);
        let first_offset = entry.current_txn_first_offset.take();
        entry.update_epoch(marker.producer_epoch);
        entry.coordinator_epoch = marker.coordinator_epoch;
        entry.last_timestamp_ms = timestamp_ms;
        let Some(first_offset) = first_offset else {
            return Ok(None);
        };
        self.open_txns.remove(&(first_offset, marker.producer_id));
        let last_stable_offset = self
            .open_txns
            .first()
            .map_or(offset.saturating_add(1), |&(first, _)| first);
        Ok(Some(CompletedTxn {
            producer_id: marker.producer_id,
            first_offset,
            last_offset: offset,
            is_commit: marker.is_commit,
            last_stable_offset,
        }))
    }

    /// Forgets every producer with no open transaction whose last timestamp is at least
    /// `producer_id_expiration_ms` before `now_ms` (NOTES.md C.8). Returns the expired producer
    /// ids in ascending order. A later batch from one of them is treated as an unknown producer.
    pub fn expire(&mut self, now_ms: i64) -> Vec<i64> {
        let expiration_ms = self.config.producer_id_expiration_ms;
        let mut expired = Vec::new();
        self.producers.retain(|&producer_id, entry| {
            let idle = entry.current_txn_first_offset.is_none()
                && now_ms.saturating_sub(entry.last_timestamp_ms) >= expiration_ms;
            if idle {
                expired.push(producer_id);
            }
            !idle
        });
        expired.sort_unstable();
        expired
    }

    /// Whether the producer has a transaction open on this partition (a transactional batch of a
    /// producer without one opens a transaction and needs the coordinator's verification first,
    /// NOTES.md D.7).
    #[must_use]
    pub fn has_ongoing_transaction(&self, producer_id: i64) -> bool {
        self.producers
            .get(&producer_id)
            .is_some_and(|e| e.current_txn_first_offset.is_some())
    }

    /// First offset of the earliest transaction open on the partition: the last stable offset is
    /// this, or the high watermark when `None` (NOTES.md D.11).
    #[must_use]
    pub fn first_unstable_offset(&self) -> Option<i64> {
        self.open_txns
            .first()
            .map(|&(first_offset, _)| first_offset)
    }

    /// The state of one producer, if the partition knows it.
    #[must_use]
    pub fn producer(&self, producer_id: i64) -> Option<&ProducerEntry> {
        self.producers.get(&producer_id)
    }

    /// Every known producer, in ascending producer id order (for DescribeProducers).
    #[must_use]
    pub fn producers(&self) -> Vec<(i64, &ProducerEntry)> {
        let mut all: Vec<(i64, &ProducerEntry)> = self
            .producers
            .iter()
            .map(|(&id, entry)| (id, entry))
            .collect();
        all.sort_unstable_by_key(|&(id, _)| id);
        all
    }

    /// Checks the table's structural invariants (used by tests and the fuzzing module): producer
    /// ids and offsets are non-negative, cached batches have non-negative sequences and deltas
    /// and a last offset that fits, and the open-transaction index is exactly the set of open
    /// transactions of the entries.
    pub(crate) fn check_invariants(&self) -> Result<(), String> {
        let mut derived = BTreeSet::new();
        for (&producer_id, entry) in &self.producers {
            if producer_id < 0 {
                return Err(format!("negative producer id {producer_id}"));
            }
            if let Some(first_offset) = entry.current_txn_first_offset {
                if first_offset < 0 {
                    return Err(format!("producer {producer_id}: negative txn first offset"));
                }
                derived.insert((first_offset, producer_id));
            }
            for batch in entry.batches() {
                if batch.base_sequence < 0
                    || batch.last_offset_delta < 0
                    || batch.first_offset < 0
                    || batch
                        .first_offset
                        .checked_add(i64::from(batch.last_offset_delta))
                        .is_none()
                {
                    return Err(format!(
                        "producer {producer_id}: invalid cached batch {batch:?}"
                    ));
                }
            }
        }
        if derived != self.open_txns {
            return Err(format!(
                "open transaction index {:?} differs from the entries' {:?}",
                self.open_txns, derived
            ));
        }
        Ok(())
    }

    /// Number of known producers.
    #[must_use]
    pub fn len(&self) -> usize {
        self.producers.len()
    }

    /// Whether no producer is known.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.producers.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PID: i64 = 42;
    const TS: i64 = 1_000;

    fn batch(epoch: i16, base_sequence: i32, records: i32) -> ProducerBatch {
        ProducerBatch {
            producer_id: PID,
            producer_epoch: epoch,
            base_sequence,
            last_offset_delta: records - 1,
            is_transactional: false,
        }
    }

    fn txn_batch(epoch: i16, base_sequence: i32, records: i32) -> ProducerBatch {
        ProducerBatch {
            is_transactional: true,
            ..batch(epoch, base_sequence, records)
        }
    }

    fn marker(epoch: i16, coordinator_epoch: i32, is_commit: bool) -> TxnMarker {
        TxnMarker {
            producer_id: PID,
            producer_epoch: epoch,
            coordinator_epoch,
            is_commit,
        }
    }

    /// Checks, requires Append, records at `offset`; returns the next free offset.
    fn append(table: &mut ProducerStateTable, b: &ProducerBatch, offset: i64) -> i64 {
        assert_eq!(table.check(b), Decision::Append, "{b:?}");
        table.record(b, offset, TS + offset).unwrap();
        offset + i64::from(b.last_offset_delta) + 1
    }

    #[test]
    fn unknown_producer_is_accepted_with_any_epoch_and_sequence() {
        let table = ProducerStateTable::default();
        assert_eq!(table.check(&batch(0, 0, 1)), Decision::Append);
        assert_eq!(table.check(&batch(7, 12_345, 3)), Decision::Append);
        assert_eq!(table.check(&batch(0, i32::MAX, 5)), Decision::Append);
    }

    #[test]
    fn next_batch_in_sequence_is_appended() {
        let mut table = ProducerStateTable::default();
        let next = append(&mut table, &batch(0, 0, 3), 0);
        let next = append(&mut table, &batch(0, 3, 2), next);
        assert_eq!(next, 5);
        assert_eq!(table.producer(PID).unwrap().last_sequence(), 4);
    }

    #[test]
    fn retry_of_each_of_the_last_five_batches_is_a_duplicate_with_its_original_offsets() {
        let mut table = ProducerStateTable::default();
        let mut offset = 100;
        let mut written = Vec::new();
        for i in 0..7 {
            let b = batch(0, i * 2, 2);
            written.push((b, offset));
            offset = append(&mut table, &b, offset);
        }
        for (b, first_offset) in &written[2..] {
            assert_eq!(
                table.check(b),
                Decision::Duplicate {
                    first_offset: *first_offset,
                    last_offset: first_offset + 1,
                    timestamp_ms: TS + first_offset
                }
            );
        }
        // The two oldest fell out of the 5-batch cache: out of order, not duplicates (C.5).
        for (b, _) in &written[..2] {
            assert_eq!(
                table.check(b),
                Decision::OutOfOrderSequence {
                    expected_sequence: 14
                }
            );
        }
    }

    #[test]
    fn partial_overlap_with_a_cached_batch_is_out_of_order() {
        let mut table = ProducerStateTable::default();
        append(&mut table, &batch(0, 0, 5), 0);
        assert_eq!(
            table.check(&batch(0, 0, 3)),
            Decision::OutOfOrderSequence {
                expected_sequence: 5
            }
        );
        assert_eq!(
            table.check(&batch(0, 2, 3)),
            Decision::OutOfOrderSequence {
                expected_sequence: 5
            }
        );
        assert_eq!(
            table.check(&batch(0, 0, 6)),
            Decision::OutOfOrderSequence {
                expected_sequence: 5
            }
        );
    }

    #[test]
    fn sequence_gap_is_out_of_order() {
        let mut table = ProducerStateTable::default();
        append(&mut table, &batch(0, 0, 5), 0);
        let decision = table.check(&batch(0, 6, 1));
        assert_eq!(
            decision,
            Decision::OutOfOrderSequence {
                expected_sequence: 5
            }
        );
        assert_eq!(
            decision.error_code(),
            error_code::OUT_OF_ORDER_SEQUENCE_NUMBER
        );
    }

    #[test]
    fn lower_epoch_is_invalid_producer_epoch_even_for_a_cached_sequence() {
        let mut table = ProducerStateTable::default();
        append(&mut table, &batch(0, 0, 1), 0);
        append(&mut table, &batch(1, 0, 1), 1);
        let decision = table.check(&batch(0, 1, 1));
        assert_eq!(
            decision,
            Decision::InvalidProducerEpoch { current_epoch: 1 }
        );
        assert_eq!(decision.error_code(), error_code::INVALID_PRODUCER_EPOCH);
        // Same sequence range as the cached batch but an older epoch: not a duplicate.
        assert_eq!(
            table.check(&batch(0, 0, 1)),
            Decision::InvalidProducerEpoch { current_epoch: 1 }
        );
    }

    #[test]
    fn higher_epoch_with_non_zero_base_sequence_is_out_of_order() {
        let mut table = ProducerStateTable::default();
        append(&mut table, &batch(0, 0, 3), 0);
        assert_eq!(
            table.check(&batch(1, 3, 1)),
            Decision::OutOfOrderSequence {
                expected_sequence: 0
            }
        );
        assert_eq!(table.check(&batch(1, 0, 1)), Decision::Append);
    }

    #[test]
    fn epoch_bump_restarts_sequences_at_zero_and_forgets_the_cache() {
        let mut table = ProducerStateTable::default();
        let next = append(&mut table, &batch(0, 0, 3), 0);
        let next = append(&mut table, &batch(1, 0, 2), next);
        let entry = table.producer(PID).unwrap();
        assert_eq!(entry.producer_epoch(), 1);
        assert_eq!(entry.batches().len(), 1);
        assert_eq!(table.check(&batch(1, 2, 1)), Decision::Append);
        append(&mut table, &batch(1, 2, 1), next);
    }

    #[test]
    fn same_epoch_without_cached_batch_accepts_only_sequence_zero() {
        let mut table = ProducerStateTable::default();
        // Only a marker is known for the producer (D.8: no data on this partition).
        assert_eq!(
            table.record_marker(&marker(3, 0, false), 0, TS).unwrap(),
            None
        );
        assert_eq!(table.producer(PID).unwrap().last_sequence(), NO_SEQUENCE);
        assert_eq!(
            table.check(&batch(3, 5, 1)),
            Decision::OutOfOrderSequence {
                expected_sequence: 0
            }
        );
        assert_eq!(table.check(&batch(3, 0, 1)), Decision::Append);
    }

    #[test]
    fn sequence_wraps_from_i32_max_to_zero() {
        assert_eq!(last_sequence(i32::MAX - 1, 3), 1);
        assert_eq!(last_sequence(i32::MAX, 0), i32::MAX);
        assert_eq!(last_sequence(i32::MAX, 1), 0);
        assert!(in_sequence(i32::MAX, 0));
        assert!(!in_sequence(i32::MAX, 1));
        assert!(in_sequence(NO_SEQUENCE, 0));

        let mut table = ProducerStateTable::default();
        let first = batch(0, i32::MAX - 1, 4); // sequences MAX-1, MAX, 0, 1
        let next = append(&mut table, &first, 0);
        assert_eq!(table.producer(PID).unwrap().last_sequence(), 1);
        assert_eq!(
            table.check(&batch(0, i32::MAX, 1)),
            Decision::OutOfOrderSequence {
                expected_sequence: 2
            }
        );
        // The wrapped batch is still recognised as a duplicate.
        assert!(matches!(
            table.check(&first),
            Decision::Duplicate {
                first_offset: 0,
                last_offset: 3,
                ..
            }
        ));
        append(&mut table, &batch(0, 2, 1), next);
    }

    #[test]
    fn batch_ending_at_i32_max_is_followed_by_zero() {
        let mut table = ProducerStateTable::default();
        let next = append(&mut table, &batch(0, i32::MAX - 2, 3), 0);
        assert_eq!(
            table.check(&batch(0, i32::MAX, 1)),
            Decision::OutOfOrderSequence {
                expected_sequence: 0
            }
        );
        append(&mut table, &batch(0, 0, 1), next);
    }

    #[test]
    fn non_transactional_batch_during_open_transaction_is_invalid_txn_state() {
        let mut table = ProducerStateTable::default();
        let next = append(&mut table, &txn_batch(0, 0, 2), 10);
        let decision = table.check(&batch(0, 2, 1));
        assert_eq!(
            decision,
            Decision::InvalidTxnState {
                txn_first_offset: 10
            }
        );
        assert_eq!(decision.error_code(), error_code::INVALID_TXN_STATE);
        // record refuses it too, and leaves the table as it was.
        let before = table.clone();
        assert!(matches!(
            table.record(&batch(0, 2, 1), next, TS),
            Err(SequencerError::InvalidBatch { .. })
        ));
        assert_eq!(table, before);
    }

    #[test]
    fn transactional_batch_opens_a_transaction_that_the_marker_closes() {
        let mut table = ProducerStateTable::default();
        let b = txn_batch(0, 0, 2);
        assert_eq!(table.check(&b), Decision::Append);
        assert!(!table.has_ongoing_transaction(PID));
        assert_eq!(
            table.record(&b, 10, TS).unwrap(),
            Some(TxnOpened {
                producer_id: PID,
                first_offset: 10
            })
        );
        assert!(table.has_ongoing_transaction(PID));
        assert_eq!(table.first_unstable_offset(), Some(10));
        // A second batch of the same transaction does not open another.
        assert_eq!(table.check(&txn_batch(0, 2, 1)), Decision::Append);
        assert_eq!(table.record(&txn_batch(0, 2, 1), 12, TS).unwrap(), None);
        let m = marker(0, 5, false);
        assert_eq!(table.check_marker(&m), MarkerDecision::Append);
        assert_eq!(
            table.record_marker(&m, 13, TS + 1).unwrap(),
            Some(CompletedTxn {
                producer_id: PID,
                first_offset: 10,
                last_offset: 13,
                is_commit: false,
                last_stable_offset: 14
            })
        );
        assert!(!table.has_ongoing_transaction(PID));
        assert_eq!(table.first_unstable_offset(), None);
        let entry = table.producer(PID).unwrap();
        assert_eq!(entry.coordinator_epoch(), 5);
        assert_eq!(entry.last_timestamp_ms(), TS + 1);
    }

    #[test]
    fn marker_with_same_epoch_keeps_the_cache_so_sequences_continue() {
        let mut table = ProducerStateTable::default();
        let first = txn_batch(0, 0, 2);
        append(&mut table, &first, 0);
        table.record_marker(&marker(0, 0, true), 2, TS).unwrap();
        assert!(matches!(
            table.check(&first),
            Decision::Duplicate {
                first_offset: 0,
                ..
            }
        ));
        assert_eq!(
            table.check(&txn_batch(0, 0, 1)),
            Decision::OutOfOrderSequence {
                expected_sequence: 2
            }
        );
        assert_eq!(table.check(&txn_batch(0, 2, 1)), Decision::Append);
    }

    #[test]
    fn marker_with_higher_epoch_clears_the_cache_and_fences_the_old_epoch() {
        let mut table = ProducerStateTable::default();
        append(&mut table, &txn_batch(0, 0, 2), 0);
        // D.9: timeout abort with a bumped epoch.
        let completed = table.record_marker(&marker(1, 0, false), 2, TS).unwrap();
        assert_eq!(
            completed.map(|c| (c.first_offset, c.is_commit)),
            Some((0, false))
        );
        let entry = table.producer(PID).unwrap();
        assert_eq!(entry.producer_epoch(), 1);
        assert!(entry.batches().is_empty());
        assert_eq!(
            table.check(&txn_batch(0, 2, 1)),
            Decision::InvalidProducerEpoch { current_epoch: 1 }
        );
        assert_eq!(
            table.check(&txn_batch(0, 0, 2)),
            Decision::InvalidProducerEpoch { current_epoch: 1 }
        );
        assert_eq!(table.check(&txn_batch(1, 0, 1)), Decision::Append);
    }

    #[test]
    fn marker_with_lower_epoch_is_invalid_producer_epoch() {
        let mut table = ProducerStateTable::default();
        append(&mut table, &txn_batch(2, 0, 1), 0);
        let decision = table.check_marker(&marker(1, 0, true));
        assert_eq!(
            decision,
            MarkerDecision::InvalidProducerEpoch { current_epoch: 2 }
        );
        assert_eq!(decision.error_code(), error_code::INVALID_PRODUCER_EPOCH);
    }

    #[test]
    fn marker_with_older_coordinator_epoch_is_transaction_coordinator_fenced() {
        let mut table = ProducerStateTable::default();
        append(&mut table, &txn_batch(0, 0, 1), 0);
        table.record_marker(&marker(0, 4, true), 1, TS).unwrap();
        append(&mut table, &txn_batch(0, 1, 1), 2);
        let decision = table.check_marker(&marker(0, 3, true));
        assert_eq!(
            decision,
            MarkerDecision::TransactionCoordinatorFenced {
                current_coordinator_epoch: 4
            }
        );
        assert_eq!(
            decision.error_code(),
            error_code::TRANSACTION_COORDINATOR_FENCED
        );
        assert_eq!(
            table.check_marker(&marker(0, 4, true)),
            MarkerDecision::Append
        );
    }

    #[test]
    fn marker_for_unknown_producer_is_accepted_and_completes_nothing() {
        let mut table = ProducerStateTable::default();
        assert_eq!(
            table.check_marker(&marker(0, 0, true)),
            MarkerDecision::Append
        );
        assert_eq!(
            table.record_marker(&marker(0, 0, true), 5, TS).unwrap(),
            None
        );
        assert_eq!(table.len(), 1);
    }

    #[test]
    fn last_stable_offset_after_a_marker_is_the_earliest_other_open_transaction() {
        let mut table = ProducerStateTable::default();
        let other = ProducerBatch {
            producer_id: 7,
            ..txn_batch(0, 0, 1)
        };
        append(&mut table, &txn_batch(0, 0, 1), 3);
        append(&mut table, &other, 5);
        assert_eq!(table.first_unstable_offset(), Some(3));
        let completed = table
            .record_marker(&marker(0, 0, true), 6, TS)
            .unwrap()
            .unwrap();
        assert_eq!(completed.last_stable_offset, 5);
        assert_eq!(table.first_unstable_offset(), Some(5));
    }

    #[test]
    fn batch_without_producer_id_is_never_checked_nor_recorded() {
        let mut table = ProducerStateTable::default();
        let b = ProducerBatch {
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
            last_offset_delta: 0,
            is_transactional: false,
        };
        assert_eq!(table.check(&b), Decision::Append);
        assert_eq!(table.record(&b, 0, TS).unwrap(), None);
        assert!(table.is_empty());
    }

    #[test]
    fn producer_id_without_sequence_or_with_negative_delta_is_invalid_record() {
        let mut table = ProducerStateTable::default();
        let decision = table.check(&batch(0, -1, 1));
        assert!(matches!(decision, Decision::InvalidRecord { .. }));
        assert_eq!(decision.error_code(), error_code::INVALID_RECORD);
        assert!(matches!(
            table.check(&batch(0, 0, 0)),
            Decision::InvalidRecord { .. }
        ));
        assert!(table.record(&batch(0, -1, 1), 0, TS).is_err());
        assert!(table.record(&batch(0, 0, 0), 0, TS).is_err());
        assert!(table.record(&batch(0, 0, 1), -1, TS).is_err());
        assert!(table.record(&batch(0, 0, 2), i64::MAX, TS).is_err());
        assert!(table.record_marker(&marker(0, 0, true), -1, TS).is_err());
        let bad_marker = TxnMarker {
            producer_id: -1,
            ..marker(0, 0, true)
        };
        assert!(matches!(
            table.check_marker(&bad_marker),
            MarkerDecision::InvalidRecord { .. }
        ));
        assert!(table.record_marker(&bad_marker, 0, TS).is_err());
        assert!(table.is_empty());
    }

    #[test]
    fn expiry_forgets_idle_producers_but_never_an_open_transaction() {
        let config = ProducerStateConfig {
            producer_id_expiration_ms: 1_000,
        };
        let mut table = ProducerStateTable::new(config);
        table.record(&batch(0, 0, 1), 0, 10_000).unwrap();
        let txn = ProducerBatch {
            producer_id: 9,
            ..txn_batch(0, 0, 1)
        };
        table.record(&txn, 1, 10_000).unwrap();
        let late = ProducerBatch {
            producer_id: 5,
            ..batch(0, 0, 1)
        };
        table.record(&late, 2, 10_500).unwrap();
        assert_eq!(table.expire(10_999), Vec::<i64>::new());
        assert_eq!(table.expire(11_000), vec![PID]);
        assert_eq!(table.expire(20_000), vec![5]);
        assert!(table.has_ongoing_transaction(9));
        table
            .record_marker(
                &TxnMarker {
                    producer_id: 9,
                    ..marker(0, 0, true)
                },
                3,
                20_000,
            )
            .unwrap();
        assert_eq!(table.expire(21_000), vec![9]);
        assert!(table.is_empty());
    }

    #[test]
    fn expired_producer_is_treated_as_unknown() {
        let mut table = ProducerStateTable::default();
        table.record(&batch(0, 0, 1), 0, 0).unwrap();
        assert_eq!(
            table.check(&batch(0, 9, 1)),
            Decision::OutOfOrderSequence {
                expected_sequence: 1
            }
        );
        table.expire(DEFAULT_PRODUCER_ID_EXPIRATION_MS);
        assert!(table.producer(PID).is_none());
        assert_eq!(table.check(&batch(0, 9, 1)), Decision::Append);
        assert_eq!(table.check(&batch(0, 0, 1)), Decision::Append);
    }

    #[test]
    fn record_replays_without_checks_like_replication() {
        // An epoch going down during replay is taken as is and forgets the cache (AK replication).
        let mut table = ProducerStateTable::default();
        table.record(&batch(3, 0, 1), 0, TS).unwrap();
        table.record(&batch(1, 7, 1), 1, TS).unwrap();
        let entry = table.producer(PID).unwrap();
        assert_eq!(entry.producer_epoch(), 1);
        assert_eq!(entry.batches().len(), 1);
        table.record_marker(&marker(0, 0, true), 2, TS).unwrap();
        assert_eq!(table.producer(PID).unwrap().producer_epoch(), 0);
    }

    #[test]
    fn decisions_map_to_kafka_error_codes() {
        assert_eq!(Decision::Append.error_code(), 0);
        assert_eq!(
            Decision::Duplicate {
                first_offset: 0,
                last_offset: 0,
                timestamp_ms: 0
            }
            .error_code(),
            0
        );
        assert_eq!(
            Decision::OutOfOrderSequence {
                expected_sequence: 0
            }
            .error_code(),
            45
        );
        assert_eq!(
            Decision::InvalidProducerEpoch { current_epoch: 0 }.error_code(),
            47
        );
        assert_eq!(
            Decision::InvalidTxnState {
                txn_first_offset: 0
            }
            .error_code(),
            48
        );
        assert_eq!(Decision::InvalidRecord { reason: "" }.error_code(), 87);
        assert_eq!(MarkerDecision::Append.error_code(), 0);
        assert_eq!(
            MarkerDecision::InvalidProducerEpoch { current_epoch: 0 }.error_code(),
            47
        );
        assert_eq!(
            MarkerDecision::TransactionCoordinatorFenced {
                current_coordinator_epoch: 0
            }
            .error_code(),
            52
        );
        assert_eq!(
            MarkerDecision::InvalidRecord { reason: "" }.error_code(),
            87
        );
    }

    #[test]
    fn producers_are_listed_in_id_order() {
        let mut table = ProducerStateTable::default();
        for id in [9, 3, 27, 1] {
            table
                .record(
                    &ProducerBatch {
                        producer_id: id,
                        ..batch(0, 0, 1)
                    },
                    id,
                    TS,
                )
                .unwrap();
        }
        let ids: Vec<i64> = table.producers().iter().map(|(id, _)| *id).collect();
        assert_eq!(ids, vec![1, 3, 9, 27]);
        assert!(table.check_invariants().is_ok());
    }
}
