//! One partition: its log, its idempotent-producer state (behind the same lock, so a batch's
//! check, append and bookkeeping are one step), the high watermark readers may see, and the
//! flush that moves it.
//!
//! The producer state is rebuilt on open from the snapshot written at the last clean stop
//! (`<topic-dir>/<partition>.producers`) plus the batches after it, or from the whole log.

use bytes::Bytes;
use parking_lot::Mutex;
use semel_log::{Entry, Log, LogConfig, LogReader};
use semel_sequencer::{
    Decision, MarkerDecision, ProducerBatch, ProducerStateConfig, ProducerStateTable, TxnMarker,
};
use semel_txn::{AbortedTxn, TxnIndex};
use semel_wire::{ControlRecordType, EndTxnMarker, RecordBatch, RecordBatchBuilder};
use std::path::{Path, PathBuf};
use tokio::sync::watch;
use tracing::warn;

/// What happened to a produced batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Produced {
    /// Written: its first offset, and the offset after its last record.
    Appended {
        /// Offset of its first record.
        base_offset: i64,
        /// Offset after its last record.
        next_offset: u64,
    },
    /// An exact retry of a batch already written: nothing written, answer with the original
    /// offsets (after waiting, like the original, for them to be durable).
    Duplicate {
        /// The original batch's first offset.
        base_offset: i64,
        /// The offset after the original batch's last record.
        next_offset: u64,
    },
    /// Refused by the producer-state rules with this Kafka error code (45, 47, 48, 87).
    Refused(i16),
}

/// Why an append failed.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    /// The log refused the write.
    #[error(transparent)]
    Log(#[from] semel_log::Error),
    /// The batch is not one whole magic-2 batch.
    #[error("malformed batch: {0}")]
    Batch(#[from] semel_wire::DecodeError),
    /// Producer-state bookkeeping failed (a broken invariant, logged).
    #[error("producer state: {0}")]
    Producers(#[from] semel_sequencer::SequencerError),
}

#[derive(Debug)]
struct State {
    log: Log,
    producers: ProducerStateTable,
    /// Open transactions, last stable offset and aborted ranges (read_committed).
    txns: TxnIndex,
}

/// A partition of a topic. Appends are serialised by one lock; reads never take it.
#[derive(Debug)]
pub struct Partition {
    state: Mutex<State>,
    reader: LogReader,
    /// The high watermark: offsets below it may be read and are acknowledged. With
    /// `--flush always` it is the durable offset, else the log end.
    high_watermark: watch::Sender<u64>,
    hw_is_durable: bool,
    snapshot_path: PathBuf,
}

impl Partition {
    /// Opens (recovering) or creates the partition's log in `dir` and rebuilds its producer state.
    ///
    /// # Errors
    /// The log cannot be opened (corruption in a sealed segment, I/O, lock held).
    pub fn open(
        dir: &Path,
        config: LogConfig,
        hw_is_durable: bool,
    ) -> Result<Self, semel_log::Error> {
        let log = Log::open(dir, config)?;
        let reader = log.reader();
        // Recovery left only whole entries; flush them so the high watermark starts at the end.
        reader.sync()?;
        let snapshot_path = dir.with_extension("producers");
        let producers = rebuild_producers(&reader, &snapshot_path)?;
        let txns = rebuild_txn_index(&reader)?;
        let (high_watermark, _) = watch::channel(reader.next_offset());
        Ok(Self {
            state: Mutex::new(State {
                log,
                producers,
                txns,
            }),
            reader,
            high_watermark,
            hw_is_durable,
            snapshot_path,
        })
    }

    /// Checks a validated client batch against the producer state and, unless it is a
    /// duplicate or refused, appends it, patching its base offset in place (one copy: request
    /// buffer → log).
    ///
    /// # Errors
    /// The log refuses the write (I/O error, full disk, poisoned log).
    pub fn produce(&self, batch: &RecordBatch) -> Result<Produced, AppendError> {
        let producer = producer_batch(batch);
        let mut state = self.state.lock();
        match state.producers.check(&producer) {
            Decision::Append => {}
            Decision::Duplicate {
                first_offset,
                last_offset,
                ..
            } => {
                return Ok(Produced::Duplicate {
                    base_offset: first_offset,
                    next_offset: u64::try_from(last_offset.saturating_add(1)).unwrap_or(0),
                });
            }
            refused => return Ok(Produced::Refused(refused.error_code())),
        }
        let record_count = u32::try_from(batch.records_count()).map_err(|_| {
            semel_wire::DecodeError::new(
                57,
                semel_wire::DecodeErrorKind::InvalidValue {
                    what: "records count",
                },
            )
        })?;
        let bytes = batch.as_bytes();
        let mut slot = state.log.reserve_copy(bytes)?;
        let base_offset = i64::try_from(slot.base_offset()).unwrap_or(i64::MAX);
        let target = slot.bytes_mut();
        // Offsets and the leader epoch sit outside the CRC: no recomputation. On error the
        // reservation is dropped uncommitted, which abandons it.
        semel_wire::patch_base_offset(target, base_offset)?;
        semel_wire::patch_partition_leader_epoch(target, 0)?;
        let appended = slot.commit(record_count, batch.max_timestamp())?;
        match state
            .producers
            .record(&producer, base_offset, batch.max_timestamp())
        {
            Ok(Some(opened)) => {
                state.txns.begin(opened.producer_id, opened.first_offset);
            }
            Ok(None) => {}
            // The batch is written; only the dedup cache missed it. Loud, not fatal.
            Err(e) => warn!(error = %e, "producer state did not record an appended batch"),
        }
        drop(state);
        if !self.hw_is_durable {
            self.publish(appended.next_offset);
        }
        Ok(Produced::Appended {
            base_offset,
            next_offset: appended.next_offset,
        })
    }

    /// Whether `producer_id` has an open transaction here (its first transactional batch was
    /// verified with the coordinator already).
    pub fn has_open_transaction(&self, producer_id: i64) -> bool {
        self.state
            .lock()
            .producers
            .has_ongoing_transaction(producer_id)
    }

    /// Appends a COMMIT or ABORT marker (a control batch) for `producer_id` at
    /// `producer_epoch`, closing its transaction here. Returns the offset after the marker,
    /// or `None` if the partition already knows a newer epoch of the producer (the marker is
    /// then moot: the newer epoch fenced that transaction).
    ///
    /// # Errors
    /// The log refuses the write.
    pub fn write_marker(
        &self,
        producer_id: i64,
        producer_epoch: i16,
        commit: bool,
        now_ms: i64,
    ) -> Result<Option<u64>, AppendError> {
        let marker = TxnMarker {
            producer_id,
            producer_epoch,
            coordinator_epoch: 0,
            is_commit: commit,
        };
        let mut state = self.state.lock();
        if state.producers.check_marker(&marker) != MarkerDecision::Append {
            return Ok(None);
        }
        let kind = if commit {
            ControlRecordType::Commit
        } else {
            ControlRecordType::Abort
        };
        let bytes = RecordBatchBuilder::control_batch(
            producer_id,
            producer_epoch,
            EndTxnMarker {
                kind,
                coordinator_epoch: 0,
            },
            now_ms,
        )
        .map_err(|e| {
            semel_wire::DecodeError::new(
                0,
                semel_wire::DecodeErrorKind::InvalidValue {
                    what: if matches!(e, semel_wire::EncodeError::TooLong { .. }) {
                        "marker too long"
                    } else {
                        "marker"
                    },
                },
            )
        })?;
        let mut slot = state.log.reserve_copy(&bytes)?;
        let offset = i64::try_from(slot.base_offset()).unwrap_or(i64::MAX);
        let target = slot.bytes_mut();
        semel_wire::patch_base_offset(target, offset)?;
        let appended = slot.commit(1, now_ms)?;
        match state.producers.record_marker(&marker, offset, now_ms) {
            Ok(Some(done)) => {
                if let Err(e) = state.txns.end(done.producer_id, offset, done.is_commit) {
                    warn!(error = %e, "transaction index refused a marker");
                }
            }
            Ok(None) => {}
            Err(e) => warn!(error = %e, "producer state refused a marker"),
        }
        drop(state);
        if !self.hw_is_durable {
            self.publish(appended.next_offset);
        }
        Ok(Some(appended.next_offset))
    }

    /// The last stable offset: read_committed consumers read below it.
    pub fn last_stable_offset(&self) -> u64 {
        let hw = self.high_watermark();
        let lso = self
            .state
            .lock()
            .txns
            .last_stable_offset(i64::try_from(hw).unwrap_or(i64::MAX));
        u64::try_from(lso).unwrap_or(0).min(hw)
    }

    /// The aborted transactions a read_committed fetch of `[from, to)` must report.
    pub fn aborted_in_range(&self, from: u64, to: u64) -> Vec<AbortedTxn> {
        let state = self.state.lock();
        state
            .txns
            .aborted_in_range(
                i64::try_from(from).unwrap_or(i64::MAX),
                i64::try_from(to).unwrap_or(i64::MAX),
            )
            .copied()
            .collect()
    }

    /// Producers known here: `(producer_id, epoch, last sequence, last timestamp, coordinator
    /// epoch, open transaction's first offset)` for DescribeProducers.
    pub fn producers(&self) -> Vec<(i64, i16, i32, i64, i32, i64)> {
        let state = self.state.lock();
        state
            .producers
            .producers()
            .into_iter()
            .map(|(id, e)| {
                (
                    id,
                    e.producer_epoch(),
                    e.last_sequence(),
                    e.last_timestamp_ms(),
                    e.coordinator_epoch(),
                    e.current_txn_first_offset().unwrap_or(-1),
                )
            })
            .collect()
    }

    /// Flushes everything appended so far and advances the high watermark to it.
    ///
    /// # Errors
    /// The flush failed (the log then refuses further writes until reopened).
    pub fn sync(&self) -> Result<(), semel_log::Error> {
        self.reader.sync()?;
        self.publish(self.reader.durable_offset());
        Ok(())
    }

    /// Drops flushed data behind the page-cache window (`--page-cache-window-bytes`). Called
    /// after [`Partition::sync`] has woken the produces that waited for the flush, so the
    /// advice calls never delay an answer.
    pub fn trim_cache(&self) {
        self.reader.trim_cache();
    }

    /// Writes the producer-state snapshot (clean shutdown), so the next open need not replay
    /// the whole log. Written to a temporary file, flushed, then renamed over the old one.
    ///
    /// # Errors
    /// The file cannot be written.
    pub fn write_snapshot(&self) -> std::io::Result<()> {
        let state = self.state.lock();
        let end = i64::try_from(state.log.next_offset()).unwrap_or(i64::MAX);
        let bytes = state.producers.encode_snapshot(end);
        drop(state);
        let tmp = self.snapshot_path.with_extension("producers.tmp");
        {
            let mut file = std::fs::File::create(&tmp)?;
            std::io::Write::write_all(&mut file, &bytes)?;
            file.sync_data()?;
        }
        std::fs::rename(&tmp, &self.snapshot_path)
    }

    fn publish(&self, offset: u64) {
        self.high_watermark.send_if_modified(|hw| {
            if offset > *hw {
                *hw = offset;
                true
            } else {
                false
            }
        });
    }

    /// The high watermark.
    pub fn high_watermark(&self) -> u64 {
        *self.high_watermark.borrow()
    }

    /// A receiver that changes whenever the high watermark advances.
    pub fn watch_high_watermark(&self) -> watch::Receiver<u64> {
        self.high_watermark.subscribe()
    }

    /// The first offset still stored.
    pub fn log_start_offset(&self) -> u64 {
        self.reader.log_start_offset()
    }

    /// The offset the next append gets.
    pub fn log_end_offset(&self) -> u64 {
        self.reader.next_offset()
    }

    /// Reads whole entries (Kafka batches) from the one containing `offset`, up to about
    /// `max_bytes` (the first entry is returned whole even if larger), never past the high
    /// watermark.
    ///
    /// # Errors
    /// The log could not be read.
    pub fn read(&self, offset: u64, max_bytes: usize) -> Result<Vec<Bytes>, semel_log::Error> {
        Ok(self
            .read_below(offset, max_bytes, self.high_watermark())?
            .into_iter()
            .map(|e| e.payload)
            .collect())
    }

    /// Like [`Partition::read`], never returning an entry that reaches `limit` (the high
    /// watermark, or the last stable offset for read_committed).
    ///
    /// # Errors
    /// The log could not be read.
    pub fn read_below(
        &self,
        offset: u64,
        max_bytes: usize,
        limit: u64,
    ) -> Result<Vec<Entry>, semel_log::Error> {
        let hw = limit.min(self.high_watermark());
        if offset >= hw {
            return Ok(Vec::new());
        }
        let entries = self.reader.read(offset, max_bytes)?;
        Ok(entries
            .into_iter()
            .take_while(|e: &Entry| e.next_offset() <= hw)
            .collect())
    }

    /// The first offset whose entry's max timestamp is at least `timestamp`, if below the high
    /// watermark.
    ///
    /// # Errors
    /// The log could not be read.
    pub fn offset_for_timestamp(&self, timestamp: i64) -> Result<Option<u64>, semel_log::Error> {
        Ok(self
            .reader
            .offset_for_timestamp(timestamp)?
            .filter(|&o| o < self.high_watermark()))
    }

    /// Applies new log settings (segment size, retention) at once; see `Log::reconfigure`.
    ///
    /// # Errors
    /// The settings are invalid (nothing changes then).
    pub fn reconfigure(&self, config: LogConfig) -> Result<(), semel_log::Error> {
        self.state.lock().log.reconfigure(config)
    }

    /// Deletes every record below `offset` (DeleteRecords; -1 means the high watermark) and
    /// returns the new log start offset (Kafka's low watermark). The start is on disk before
    /// this returns. `Ok(None)`: the offset is beyond the high watermark or negative
    /// (OFFSET_OUT_OF_RANGE).
    ///
    /// # Errors
    /// The log could not record the new start (I/O).
    pub fn delete_records(&self, offset: i64) -> Result<Option<u64>, semel_log::Error> {
        let hw = self.high_watermark();
        let offset = match offset {
            -1 => hw,
            o => match u64::try_from(o) {
                Ok(o) if o <= hw => o,
                _ => return Ok(None),
            },
        };
        // Through the read handle: the durable write of the new start offset needs no
        // partition lock, so produce to this partition goes on meanwhile.
        self.reader.delete_before(offset).map(Some)
    }

    /// Deletes whole old segments past the retention limits, and forgets idle producers.
    ///
    /// # Errors
    /// A segment file could not be deleted.
    pub fn housekeeping(&self, now_ms: i64) -> Result<(), semel_log::Error> {
        let mut state = self.state.lock();
        state.producers.expire(now_ms);
        state.log.retain(now_ms).map(|_| ())
    }
}

/// The producer table from the snapshot (if usable) plus every batch after it.
fn rebuild_producers(
    reader: &LogReader,
    snapshot_path: &Path,
) -> Result<ProducerStateTable, semel_log::Error> {
    let config = ProducerStateConfig::default();
    let start = reader.log_start_offset();
    let end = reader.next_offset();
    let (mut table, offset) = match std::fs::read(snapshot_path) {
        Ok(bytes) => match ProducerStateTable::decode_snapshot(&bytes, config) {
            Ok(snapshot) => match u64::try_from(snapshot.log_end_offset) {
                Ok(covered) if covered >= start && covered <= end => (snapshot.table, covered),
                _ => (ProducerStateTable::new(config), start),
            },
            Err(e) => {
                warn!(file = %snapshot_path.display(), error = %e, "damaged producer snapshot; rebuilding from the log");
                (ProducerStateTable::new(config), start)
            }
        },
        Err(_) => (ProducerStateTable::new(config), start),
    };
    // The snapshot describes the log as it was at a clean stop; once we append, it is stale.
    let _ = std::fs::remove_file(snapshot_path);
    reader.replay(offset, |entry| {
        replay(&mut table, &entry);
        Ok::<(), semel_log::Error>(())
    })?;
    Ok(table)
}

/// The transaction index from every batch of the log: transactional data opens a producer's
/// transaction, a marker closes it (and records an abort).
fn rebuild_txn_index(reader: &LogReader) -> Result<TxnIndex, semel_log::Error> {
    let mut index = TxnIndex::new();
    reader.replay(reader.log_start_offset(), |entry| {
        let Ok(batch) = RecordBatch::parse(entry.payload) else {
            return Ok(());
        };
        if !batch.is_transactional() {
            return Ok(());
        }
        match batch.end_txn_marker() {
            Ok(Some(marker)) => {
                let commit = marker.kind == ControlRecordType::Commit;
                if matches!(
                    marker.kind,
                    ControlRecordType::Commit | ControlRecordType::Abort
                ) && let Err(e) = index.end(batch.producer_id(), batch.base_offset(), commit)
                {
                    warn!(error = %e, "transaction index replay refused a marker");
                }
            }
            Ok(None) => {
                index.begin(batch.producer_id(), batch.base_offset());
            }
            Err(_) => {}
        }
        Ok::<(), semel_log::Error>(())
    })?;
    Ok(index)
}

/// Keeps the producer books for one stored batch ("replication semantics": no checks).
fn replay(table: &mut ProducerStateTable, entry: &Entry) {
    let Ok(batch) = RecordBatch::parse(entry.payload.clone()) else {
        warn!(
            offset = entry.base_offset,
            "stored entry is not a record batch; skipped for producer state"
        );
        return;
    };
    if batch.producer_id() < 0 {
        return;
    }
    if batch.is_control() {
        if let Ok(Some(marker)) = batch.end_txn_marker()
            && matches!(
                marker.kind,
                ControlRecordType::Commit | ControlRecordType::Abort
            )
        {
            let marker = TxnMarker {
                producer_id: batch.producer_id(),
                producer_epoch: batch.producer_epoch(),
                coordinator_epoch: marker.coordinator_epoch,
                is_commit: marker.kind == ControlRecordType::Commit,
            };
            if let Err(e) = table.record_marker(&marker, batch.base_offset(), batch.max_timestamp())
            {
                warn!(error = %e, "cannot replay a stored marker into the producer state");
            }
        }
        return;
    }
    let producer = producer_batch(&batch);
    if let Err(e) = table.record(&producer, batch.base_offset(), batch.max_timestamp()) {
        warn!(error = %e, "cannot replay a stored batch into the producer state");
    }
}

/// The idempotence fields of a batch header, as semel-sequencer takes them.
fn producer_batch(batch: &RecordBatch) -> ProducerBatch {
    ProducerBatch {
        producer_id: batch.producer_id(),
        producer_epoch: batch.producer_epoch(),
        base_sequence: batch.base_sequence(),
        last_offset_delta: batch.last_offset_delta(),
        is_transactional: batch.is_transactional(),
    }
}
