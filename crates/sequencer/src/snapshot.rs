//! The producer-state snapshot: the whole table as versioned, checksummed bytes.
//!
//! Unlike Kafka's snapshot, which keeps only each producer's last batch (so right after a restart
//! only that batch is recognised as a retry, NOTES.md C.7), this one keeps all cached batches: a
//! table restored from a snapshot gives exactly the decisions the live table would have given.
//!
//! ```text
//! offset  size  field (all integers big-endian)
//!      0     4  magic "SQPS"
//!      4     2  version = 1
//!      6     4  CRC-32 (IEEE, crc32fast) of every byte from offset 10 to the end
//!     10     8  log_end_offset: i64 >= 0, the first offset the snapshot does not cover
//!     18     4  producer_count: u32
//!     22        producer_count producers, in strictly ascending producer_id:
//!                 8  producer_id: i64 >= 0
//!                 2  producer_epoch: i16
//!                 4  coordinator_epoch: i32
//!                 8  last_timestamp_ms: i64
//!                 1  flags: u8, bit 0 = a transaction is open; the other bits are 0
//!                 8  current_txn_first_offset: i64 >= 0 (only when bit 0 is set)
//!                 1  batch_count: u8 in 0..=5
//!                    batch_count batches, oldest first:
//!                      4  base_sequence: i32 >= 0
//!                      4  last_offset_delta: i32 >= 0
//!                      8  first_offset: i64 >= 0, first_offset + last_offset_delta <= i64::MAX
//!                      8  timestamp_ms: i64
//! ```
//!
//! The encoding is canonical: decoding accepts exactly the bytes the encoder can produce, so
//! `encode(decode(bytes)) == bytes` whenever `decode` succeeds (the fuzz target checks this).

use std::collections::{BTreeSet, HashMap};

use crate::SequencerError;
use crate::codec::{Reader, begin, seal};
use crate::table::{
    BatchCache, BatchMetadata, NUM_BATCHES_TO_RETAIN, ProducerEntry, ProducerStateConfig,
    ProducerStateTable,
};

pub(crate) const MAGIC: [u8; 4] = *b"SQPS";
pub(crate) const VERSION: u16 = 1;
const WHAT: &str = "producer state snapshot";
const FLAG_TXN_OPEN: u8 = 1;
/// Smallest encoded producer: no transaction, no batch.
const MIN_PRODUCER_LEN: usize = 8 + 2 + 4 + 8 + 1 + 1;
const BATCH_LEN: usize = 4 + 4 + 8 + 8;

/// A decoded snapshot: the table and the log offset it covers up to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The first log offset the snapshot does not cover: replay the log's batches and markers
    /// from here on with [`ProducerStateTable::record`] and
    /// [`ProducerStateTable::record_marker`].
    pub log_end_offset: i64,
    /// The restored table.
    pub table: ProducerStateTable,
}

impl ProducerStateTable {
    /// The whole table as snapshot bytes (format in the crate docs), covering the log up to
    /// (excluding) `log_end_offset`. Producers are written in ascending id order, so equal tables
    /// give equal bytes.
    #[must_use]
    pub fn encode_snapshot(&self, log_end_offset: i64) -> Vec<u8> {
        let mut ids: Vec<i64> = self.producers.keys().copied().collect();
        ids.sort_unstable();
        let mut out = Vec::with_capacity(
            22 + ids.len() * (MIN_PRODUCER_LEN + 8 + NUM_BATCHES_TO_RETAIN * BATCH_LEN),
        );
        let start = begin(&mut out, MAGIC, VERSION);
        out.extend_from_slice(&log_end_offset.to_be_bytes());
        // The table never holds more than u32::MAX producers in practice; saturate rather than
        // wrap so a (theoretical) overflow gives a snapshot that fails to decode, never a wrong one.
        let count = u32::try_from(ids.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&count.to_be_bytes());
        for id in ids {
            let Some(entry) = self.producers.get(&id) else {
                continue;
            };
            out.extend_from_slice(&id.to_be_bytes());
            out.extend_from_slice(&entry.producer_epoch.to_be_bytes());
            out.extend_from_slice(&entry.coordinator_epoch.to_be_bytes());
            out.extend_from_slice(&entry.last_timestamp_ms.to_be_bytes());
            match entry.current_txn_first_offset {
                Some(first_offset) => {
                    out.push(FLAG_TXN_OPEN);
                    out.extend_from_slice(&first_offset.to_be_bytes());
                }
                None => out.push(0),
            }
            let batches = entry.batches.as_slice();
            // At most NUM_BATCHES_TO_RETAIN (5) batches, so the length fits a u8.
            out.push(batches.len() as u8);
            for batch in batches {
                out.extend_from_slice(&batch.base_sequence.to_be_bytes());
                out.extend_from_slice(&batch.last_offset_delta.to_be_bytes());
                out.extend_from_slice(&batch.first_offset.to_be_bytes());
                out.extend_from_slice(&batch.timestamp_ms.to_be_bytes());
            }
        }
        seal(&mut out, start);
        out
    }

    /// Restores a table from snapshot bytes. This is a total function: damaged bytes of any kind
    /// give an error (and the caller can rebuild the table from the log instead), never a panic
    /// or a wrong table. Producers that have expired by now are still in the table: call
    /// [`expire`](Self::expire) with the current time after replaying.
    ///
    /// # Errors
    ///
    /// [`SequencerError::BadMagic`], [`UnsupportedVersion`](SequencerError::UnsupportedVersion),
    /// [`ChecksumMismatch`](SequencerError::ChecksumMismatch),
    /// [`Truncated`](SequencerError::Truncated), [`TrailingBytes`](SequencerError::TrailingBytes),
    /// or [`InvalidField`](SequencerError::InvalidField) (with the byte offset) for any value the
    /// format does not allow.
    pub fn decode_snapshot(
        bytes: &[u8],
        config: ProducerStateConfig,
    ) -> Result<Snapshot, SequencerError> {
        let mut r = Reader::new(WHAT, bytes);
        r.header(MAGIC, VERSION)?;
        let at = r.offset();
        let log_end_offset = r.i64()?;
        if log_end_offset < 0 {
            return Err(r.invalid(at, "negative log_end_offset"));
        }
        let at = r.offset();
        let count = r.u32()? as usize;
        if count > r.remaining() / MIN_PRODUCER_LEN {
            return Err(r.invalid(at, "producer_count exceeds the remaining bytes"));
        }
        let mut producers = HashMap::with_capacity(count);
        let mut open_txns = BTreeSet::new();
        let mut previous_id: Option<i64> = None;
        for _ in 0..count {
            let at = r.offset();
            let producer_id = r.i64()?;
            if producer_id < 0 {
                return Err(r.invalid(at, "negative producer_id"));
            }
            if previous_id.is_some_and(|previous| previous >= producer_id) {
                return Err(r.invalid(at, "producer ids not strictly ascending"));
            }
            previous_id = Some(producer_id);
            let producer_epoch = r.i16()?;
            let coordinator_epoch = r.i32()?;
            let last_timestamp_ms = r.i64()?;
            let at = r.offset();
            let current_txn_first_offset = match r.u8()? {
                0 => None,
                FLAG_TXN_OPEN => {
                    let at = r.offset();
                    let first_offset = r.i64()?;
                    if first_offset < 0 {
                        return Err(r.invalid(at, "negative current_txn_first_offset"));
                    }
                    Some(first_offset)
                }
                _ => return Err(r.invalid(at, "unknown flag bits")),
            };
            let at = r.offset();
            let batch_count = usize::from(r.u8()?);
            if batch_count > NUM_BATCHES_TO_RETAIN {
                return Err(r.invalid(at, "more than 5 cached batches"));
            }
            let mut batches = BatchCache::default();
            for _ in 0..batch_count {
                let at = r.offset();
                let base_sequence = r.i32()?;
                if base_sequence < 0 {
                    return Err(r.invalid(at, "negative base_sequence"));
                }
                let at = r.offset();
                let last_offset_delta = r.i32()?;
                if last_offset_delta < 0 {
                    return Err(r.invalid(at, "negative last_offset_delta"));
                }
                let at = r.offset();
                let first_offset = r.i64()?;
                if first_offset < 0 {
                    return Err(r.invalid(at, "negative first_offset"));
                }
                if first_offset
                    .checked_add(i64::from(last_offset_delta))
                    .is_none()
                {
                    return Err(r.invalid(at, "last offset overflows i64"));
                }
                let timestamp_ms = r.i64()?;
                batches.push(BatchMetadata {
                    base_sequence,
                    last_offset_delta,
                    first_offset,
                    timestamp_ms,
                });
            }
            if let Some(first_offset) = current_txn_first_offset {
                open_txns.insert((first_offset, producer_id));
            }
            producers.insert(
                producer_id,
                ProducerEntry {
                    producer_epoch,
                    coordinator_epoch,
                    last_timestamp_ms,
                    current_txn_first_offset,
                    batches,
                },
            );
        }
        r.finish()?;
        Ok(Snapshot {
            log_end_offset,
            table: ProducerStateTable {
                config,
                producers,
                open_txns,
            },
        })
    }
}
