//! Producer id allocation in persisted blocks (NOTES.md C.1).

use crate::SequencerError;
use crate::codec::{Reader, begin, seal};

pub(crate) const MAGIC: [u8; 4] = *b"SQPI";
pub(crate) const VERSION: u16 = 1;
const WHAT: &str = "producer id block";
/// Encoded size of a [`ProducerIdBlock`].
const BLOCK_RECORD_LEN: usize = crate::codec::HEADER_LEN + 16;

/// A reserved range of producer ids, `first_producer_id..end_producer_id`: the record the
/// allocator asks the caller to persist before it hands out any id of the range. Its
/// `end_producer_id` is the new high-water mark: after a restart, no id below it is handed out
/// again.
///
/// ```text
/// offset  size  field (big-endian)
///      0     4  magic "SQPI"
///      4     2  version = 1
///      6     4  CRC-32 (IEEE) of bytes 10..26
///     10     8  first_producer_id: i64 >= 0
///     18     8  end_producer_id: i64 > first_producer_id
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProducerIdBlock {
    /// First id of the block.
    pub first_producer_id: i64,
    /// One past the last id of the block; the high-water mark once persisted.
    pub end_producer_id: i64,
}

impl ProducerIdBlock {
    /// The record's bytes (26 bytes, layout above).
    #[must_use]
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(BLOCK_RECORD_LEN);
        let start = begin(&mut out, MAGIC, VERSION);
        out.extend_from_slice(&self.first_producer_id.to_be_bytes());
        out.extend_from_slice(&self.end_producer_id.to_be_bytes());
        seal(&mut out, start);
        out
    }

    /// Reads a record written by [`encode`](Self::encode).
    ///
    /// # Errors
    ///
    /// [`SequencerError::BadMagic`], [`UnsupportedVersion`](SequencerError::UnsupportedVersion),
    /// [`ChecksumMismatch`](SequencerError::ChecksumMismatch),
    /// [`Truncated`](SequencerError::Truncated), [`TrailingBytes`](SequencerError::TrailingBytes),
    /// or [`InvalidField`](SequencerError::InvalidField) when the first id is negative or the
    /// range is empty.
    pub fn decode(bytes: &[u8]) -> Result<Self, SequencerError> {
        let mut r = Reader::new(WHAT, bytes);
        r.header(MAGIC, VERSION)?;
        let at = r.offset();
        let first_producer_id = r.i64()?;
        if first_producer_id < 0 {
            return Err(r.invalid(at, "negative first_producer_id"));
        }
        let at = r.offset();
        let end_producer_id = r.i64()?;
        if end_producer_id <= first_producer_id {
            return Err(r.invalid(at, "empty block: end_producer_id <= first_producer_id"));
        }
        r.finish()?;
        Ok(ProducerIdBlock {
            first_producer_id,
            end_producer_id,
        })
    }
}

/// What [`ProducerIdAllocator::allocate`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Allocation {
    /// A fresh producer id, never handed out before (answer InitProducerId with it and epoch 0).
    ProducerId(i64),
    /// The current block is used up: persist this record durably, call
    /// [`ProducerIdAllocator::block_persisted`], then allocate again. Until then every call
    /// returns the same record.
    PersistBlock(ProducerIdBlock),
}

/// Hands out monotonically increasing producer ids from blocks whose high-water mark is
/// persisted before any id of the block is used, so no id is ever reused across restarts.
///
/// The allocator is sans-IO: it asks for a block record to be persisted
/// ([`Allocation::PersistBlock`]) and is told when that happened
/// ([`block_persisted`](Self::block_persisted)). On restart, [`replay`](Self::replay) the
/// persisted records (the last one is enough); the ids left in the last block are skipped, since
/// some of them may have been handed out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerIdAllocator {
    block_size: i64,
    next_producer_id: i64,
    block_end: i64,
    high_water_mark: i64,
    pending: Option<ProducerIdBlock>,
}

impl ProducerIdAllocator {
    /// A fresh allocator (no block persisted yet) reserving `block_size` ids at a time.
    ///
    /// # Errors
    ///
    /// [`SequencerError::BlockMismatch`] if `block_size` is not positive.
    pub fn new(block_size: i64) -> Result<Self, SequencerError> {
        if block_size <= 0 {
            return Err(SequencerError::BlockMismatch {
                first_producer_id: 0,
                end_producer_id: block_size,
                reason: "block size must be positive",
            });
        }
        Ok(ProducerIdAllocator {
            block_size,
            next_producer_id: 0,
            block_end: 0,
            high_water_mark: 0,
            pending: None,
        })
    }

    /// Replays a persisted block record (recovery): the high-water mark becomes at least the
    /// block's end, and no id below it will be handed out. Any unpersisted pending block is
    /// dropped.
    pub fn replay(&mut self, block: &ProducerIdBlock) {
        self.high_water_mark = self.high_water_mark.max(block.end_producer_id);
        self.next_producer_id = self.high_water_mark;
        self.block_end = self.high_water_mark;
        self.pending = None;
    }

    /// The next producer id, or the block record to persist first.
    ///
    /// # Errors
    ///
    /// [`SequencerError::ProducerIdsExhausted`] when the high-water mark reached `i64::MAX`.
    pub fn allocate(&mut self) -> Result<Allocation, SequencerError> {
        if self.next_producer_id < self.block_end {
            let id = self.next_producer_id;
            self.next_producer_id += 1;
            return Ok(Allocation::ProducerId(id));
        }
        if let Some(pending) = self.pending {
            return Ok(Allocation::PersistBlock(pending));
        }
        if self.high_water_mark == i64::MAX {
            return Err(SequencerError::ProducerIdsExhausted {
                high_water_mark: self.high_water_mark,
            });
        }
        let block = ProducerIdBlock {
            first_producer_id: self.high_water_mark,
            end_producer_id: self.high_water_mark.saturating_add(self.block_size),
        };
        self.pending = Some(block);
        Ok(Allocation::PersistBlock(block))
    }

    /// The caller persisted `block` (from [`Allocation::PersistBlock`]): its ids become
    /// available.
    ///
    /// # Errors
    ///
    /// [`SequencerError::BlockMismatch`], with the allocator unchanged, if `block` is not the
    /// pending one.
    pub fn block_persisted(&mut self, block: &ProducerIdBlock) -> Result<(), SequencerError> {
        if self.pending != Some(*block) {
            return Err(SequencerError::BlockMismatch {
                first_producer_id: block.first_producer_id,
                end_producer_id: block.end_producer_id,
                reason: "not the block the allocator asked to persist",
            });
        }
        self.pending = None;
        self.next_producer_id = block.first_producer_id;
        self.block_end = block.end_producer_id;
        self.high_water_mark = block.end_producer_id;
        Ok(())
    }

    /// One past the highest id that may have been handed out (the end of the last persisted or
    /// replayed block).
    #[must_use]
    pub fn high_water_mark(&self) -> i64 {
        self.high_water_mark
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn take_id(a: &mut ProducerIdAllocator) -> i64 {
        loop {
            match a.allocate().unwrap() {
                Allocation::ProducerId(id) => return id,
                Allocation::PersistBlock(block) => a.block_persisted(&block).unwrap(),
            }
        }
    }

    #[test]
    fn fresh_allocator_asks_to_persist_before_the_first_id() {
        let mut a = ProducerIdAllocator::new(10).unwrap();
        let block = ProducerIdBlock {
            first_producer_id: 0,
            end_producer_id: 10,
        };
        assert_eq!(a.allocate().unwrap(), Allocation::PersistBlock(block));
        // Asking again before persisting gives the same record, no id.
        assert_eq!(a.allocate().unwrap(), Allocation::PersistBlock(block));
        a.block_persisted(&block).unwrap();
        assert_eq!(a.high_water_mark(), 10);
        assert_eq!(a.allocate().unwrap(), Allocation::ProducerId(0));
        assert_eq!(a.allocate().unwrap(), Allocation::ProducerId(1));
    }

    #[test]
    fn ids_are_monotonic_across_blocks() {
        let mut a = ProducerIdAllocator::new(3).unwrap();
        let ids: Vec<i64> = (0..10).map(|_| take_id(&mut a)).collect();
        assert_eq!(ids, (0..10).collect::<Vec<_>>());
        assert_eq!(a.high_water_mark(), 12);
    }

    #[test]
    fn restart_never_reuses_an_id_of_the_last_block() {
        let mut a = ProducerIdAllocator::new(100).unwrap();
        let mut persisted = Vec::new();
        let mut handed_out = Vec::new();
        for _ in 0..150 {
            loop {
                match a.allocate().unwrap() {
                    Allocation::ProducerId(id) => {
                        handed_out.push(id);
                        break;
                    }
                    Allocation::PersistBlock(block) => {
                        persisted.push(block.encode());
                        a.block_persisted(&block).unwrap();
                    }
                }
            }
        }
        let mut restarted = ProducerIdAllocator::new(100).unwrap();
        for record in &persisted {
            restarted.replay(&ProducerIdBlock::decode(record).unwrap());
        }
        let next = take_id(&mut restarted);
        assert_eq!(next, 200);
        assert!(handed_out.iter().all(|&id| id < next));
    }

    #[test]
    fn persisting_a_block_that_was_not_asked_for_is_refused() {
        let mut a = ProducerIdAllocator::new(10).unwrap();
        let bogus = ProducerIdBlock {
            first_producer_id: 5,
            end_producer_id: 15,
        };
        assert!(matches!(
            a.block_persisted(&bogus),
            Err(SequencerError::BlockMismatch { .. })
        ));
        let Allocation::PersistBlock(block) = a.allocate().unwrap() else {
            panic!()
        };
        assert!(a.block_persisted(&bogus).is_err());
        a.block_persisted(&block).unwrap();
        // The same block cannot be applied twice.
        assert!(a.block_persisted(&block).is_err());
    }

    #[test]
    fn exhaustion_at_i64_max_is_an_error() {
        let mut a = ProducerIdAllocator::new(10).unwrap();
        a.replay(&ProducerIdBlock {
            first_producer_id: i64::MAX - 12,
            end_producer_id: i64::MAX - 4,
        });
        let ids: Vec<i64> = (0..4).map(|_| take_id(&mut a)).collect();
        assert_eq!(
            ids,
            vec![i64::MAX - 4, i64::MAX - 3, i64::MAX - 2, i64::MAX - 1]
        );
        assert_eq!(a.high_water_mark(), i64::MAX);
        assert_eq!(
            a.allocate(),
            Err(SequencerError::ProducerIdsExhausted {
                high_water_mark: i64::MAX
            })
        );
    }

    #[test]
    fn non_positive_block_size_is_refused() {
        assert!(ProducerIdAllocator::new(0).is_err());
        assert!(ProducerIdAllocator::new(-1).is_err());
    }

    #[test]
    fn block_record_round_trips_and_rejects_damage() {
        let block = ProducerIdBlock {
            first_producer_id: 1000,
            end_producer_id: 2000,
        };
        let bytes = block.encode();
        assert_eq!(bytes.len(), BLOCK_RECORD_LEN);
        assert_eq!(ProducerIdBlock::decode(&bytes), Ok(block));
        for i in 0..bytes.len() {
            let mut damaged = bytes.clone();
            damaged[i] ^= 0x40;
            assert!(
                ProducerIdBlock::decode(&damaged).is_err(),
                "flip at byte {i} accepted"
            );
        }
        for len in 0..bytes.len() {
            assert!(matches!(
                ProducerIdBlock::decode(&bytes[..len]),
                Err(SequencerError::Truncated { .. } | SequencerError::ChecksumMismatch { .. })
            ));
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(ProducerIdBlock::decode(&longer).is_err());
    }

    #[test]
    fn block_record_with_empty_range_is_refused() {
        let bytes = ProducerIdBlock {
            first_producer_id: 7,
            end_producer_id: 7,
        }
        .encode();
        assert!(matches!(
            ProducerIdBlock::decode(&bytes),
            Err(SequencerError::InvalidField { offset: 18, .. })
        ));
    }
}
