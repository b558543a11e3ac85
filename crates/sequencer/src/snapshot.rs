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
use crate::hash::IdHasherBuilder;
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
        let mut entries: Vec<(i64, &ProducerEntry)> = self
            .producers
            .iter()
            .map(|(&id, entry)| (id, entry))
            .collect();
        entries.sort_unstable_by_key(|&(id, _)| id);
        let mut out = Vec::with_capacity(
            22 + entries.len() * (MIN_PRODUCER_LEN + 8 + NUM_BATCHES_TO_RETAIN * BATCH_LEN),
        );
        let start = begin(&mut out, MAGIC, VERSION);
        out.extend_from_slice(&log_end_offset.to_be_bytes());
        // The table never holds more than u32::MAX producers in practice; saturate rather than
        // wrap so a (theoretical) overflow gives a snapshot that fails to decode, never a wrong one.
        let count = u32::try_from(entries.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&count.to_be_bytes());
        for (id, entry) in entries {
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
        let mut producers = HashMap::with_capacity_and_hasher(count, IdHasherBuilder::default());
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::with_header;
    use crate::{ProducerBatch, TxnMarker};

    fn sample_table() -> ProducerStateTable {
        let mut table = ProducerStateTable::default();
        let mut offset = 0;
        // Producer 1: six batches (5 cached), one wrapping past i32::MAX.
        for i in 0..6 {
            let b = ProducerBatch {
                producer_id: 1,
                producer_epoch: 2,
                base_sequence: crate::last_sequence(i32::MAX - 20, i * 5),
                last_offset_delta: 4,
                is_transactional: false,
            };
            table.record(&b, offset, 1_000 + offset).unwrap();
            offset += 5;
        }
        // Producer 3: an open transaction.
        let t = ProducerBatch {
            producer_id: 3,
            producer_epoch: 0,
            base_sequence: 0,
            last_offset_delta: 0,
            is_transactional: true,
        };
        table.record(&t, offset, 5).unwrap();
        // Producer 2: only a marker.
        let m = TxnMarker {
            producer_id: 2,
            producer_epoch: 7,
            coordinator_epoch: 3,
            is_commit: true,
        };
        table.record_marker(&m, offset + 1, -4).unwrap();
        table
    }

    #[test]
    fn snapshot_round_trips_every_kind_of_entry() {
        let table = sample_table();
        let bytes = table.encode_snapshot(40);
        let restored = ProducerStateTable::decode_snapshot(&bytes, *table.config()).unwrap();
        assert_eq!(restored.log_end_offset, 40);
        assert_eq!(restored.table, table);
        assert_eq!(restored.table.encode_snapshot(40), bytes);
        assert_eq!(
            restored.table.producer(1).unwrap().batches().len(),
            NUM_BATCHES_TO_RETAIN
        );
        assert_eq!(restored.table.first_unstable_offset(), Some(30));
    }

    #[test]
    fn empty_table_round_trips() {
        let table = ProducerStateTable::default();
        let bytes = table.encode_snapshot(0);
        assert_eq!(bytes.len(), 22);
        let restored = ProducerStateTable::decode_snapshot(&bytes, *table.config()).unwrap();
        assert_eq!(
            restored,
            Snapshot {
                log_end_offset: 0,
                table
            }
        );
    }

    #[test]
    fn every_flipped_bit_is_detected() {
        let bytes = sample_table().encode_snapshot(40);
        for i in 0..bytes.len() {
            for bit in 0..8 {
                let mut damaged = bytes.clone();
                damaged[i] ^= 1 << bit;
                assert!(
                    ProducerStateTable::decode_snapshot(&damaged, ProducerStateConfig::default())
                        .is_err(),
                    "flip of bit {bit} in byte {i} accepted"
                );
            }
        }
    }

    #[test]
    fn every_truncation_and_trailing_byte_is_an_error() {
        let bytes = sample_table().encode_snapshot(40);
        for len in 0..bytes.len() {
            assert!(
                ProducerStateTable::decode_snapshot(&bytes[..len], ProducerStateConfig::default())
                    .is_err()
            );
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(matches!(
            ProducerStateTable::decode_snapshot(&longer, ProducerStateConfig::default()),
            Err(SequencerError::ChecksumMismatch { .. })
        ));
    }

    #[test]
    fn wrong_magic_and_version_are_named() {
        let mut bytes = ProducerStateTable::default().encode_snapshot(0);
        bytes[4..6].copy_from_slice(&2u16.to_be_bytes());
        assert_eq!(
            ProducerStateTable::decode_snapshot(&bytes, ProducerStateConfig::default()),
            Err(SequencerError::UnsupportedVersion {
                what: WHAT,
                version: 2
            })
        );
        bytes[0] = b'X';
        assert!(matches!(
            ProducerStateTable::decode_snapshot(&bytes, ProducerStateConfig::default()),
            Err(SequencerError::BadMagic { .. })
        ));
    }

    /// Snapshot body fields behind a valid checksum, to reach each field check.
    fn decode_body(body: &[u8]) -> Result<Snapshot, SequencerError> {
        ProducerStateTable::decode_snapshot(
            &with_header(MAGIC, VERSION, body),
            ProducerStateConfig::default(),
        )
    }

    fn producer(id: i64, flags: u8, batch_count: u8) -> Vec<u8> {
        let mut p = Vec::new();
        p.extend_from_slice(&id.to_be_bytes());
        p.extend_from_slice(&0i16.to_be_bytes());
        p.extend_from_slice(&0i32.to_be_bytes());
        p.extend_from_slice(&0i64.to_be_bytes());
        p.push(flags);
        if flags == FLAG_TXN_OPEN {
            p.extend_from_slice(&0i64.to_be_bytes());
        }
        p.push(batch_count);
        p
    }

    fn body(count: u32, producers: &[Vec<u8>]) -> Vec<u8> {
        let mut b = 10i64.to_be_bytes().to_vec();
        b.extend_from_slice(&count.to_be_bytes());
        for p in producers {
            b.extend_from_slice(p);
        }
        b
    }

    #[test]
    fn producer_count_beyond_the_remaining_bytes_is_refused_before_allocating() {
        let err = decode_body(&body(u32::MAX, &[producer(1, 0, 0)])).unwrap_err();
        assert_eq!(
            err,
            SequencerError::InvalidField {
                what: WHAT,
                offset: 18,
                reason: "producer_count exceeds the remaining bytes"
            }
        );
    }

    #[test]
    fn field_values_the_encoder_never_writes_are_refused() {
        assert!(decode_body(&body(2, &[producer(1, 0, 0), producer(2, 0, 0)])).is_ok());
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (
                body(2, &[producer(2, 0, 0), producer(1, 0, 0)]),
                "producer ids not strictly ascending",
            ),
            (
                body(2, &[producer(1, 0, 0), producer(1, 0, 0)]),
                "producer ids not strictly ascending",
            ),
            (body(1, &[producer(-1, 0, 0)]), "negative producer_id"),
            (body(1, &[producer(1, 2, 0)]), "unknown flag bits"),
            (body(1, &[producer(1, 0, 6)]), "more than 5 cached batches"),
        ];
        for (bytes, reason) in cases {
            match decode_body(&bytes) {
                Err(SequencerError::InvalidField { reason: got, .. }) => assert_eq!(got, reason),
                other => panic!("expected {reason}, got {other:?}"),
            }
        }
        let mut negative_leo = body(0, &[]);
        negative_leo[..8].copy_from_slice(&(-1i64).to_be_bytes());
        assert!(matches!(
            decode_body(&negative_leo),
            Err(SequencerError::InvalidField { offset: 10, .. })
        ));

        let batch = |base: i32, delta: i32, first: i64| {
            let mut p = producer(1, 0, 1);
            p.extend_from_slice(&base.to_be_bytes());
            p.extend_from_slice(&delta.to_be_bytes());
            p.extend_from_slice(&first.to_be_bytes());
            p.extend_from_slice(&0i64.to_be_bytes());
            body(1, &[p])
        };
        assert!(decode_body(&batch(0, 0, 0)).is_ok());
        assert!(decode_body(&batch(-1, 0, 0)).is_err());
        assert!(decode_body(&batch(0, -1, 0)).is_err());
        assert!(decode_body(&batch(0, 0, -1)).is_err());
        assert!(decode_body(&batch(0, 1, i64::MAX)).is_err());
        assert!(decode_body(&batch(0, 0, i64::MAX)).is_ok());
    }
}
