//! The crate's one error type.

/// Everything that can go wrong in `semel-sequencer`.
///
/// Protocol outcomes (a duplicate batch, a fenced epoch, an out-of-order sequence) are not errors:
/// they are [`Decision`](crate::Decision)s. Errors are damaged persisted bytes, calls whose
/// arguments break the table's domain (which would be a bug in the caller), and exhaustion.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SequencerError {
    /// The bytes end before a field of the named record could be read.
    #[error("{what}: truncated at byte {offset}: needed {needed} more bytes, had {had}")]
    Truncated {
        /// Which record (and field) was being read.
        what: &'static str,
        /// Byte offset in the input where the field starts.
        offset: usize,
        /// Bytes the field needs.
        needed: usize,
        /// Bytes that remained.
        had: usize,
    },
    /// The input does not start with the record's magic bytes.
    #[error("{what}: bad magic {found:02x?}")]
    BadMagic {
        /// Which record was being read.
        what: &'static str,
        /// The four bytes found instead.
        found: [u8; 4],
    },
    /// The record's format version is not one this build reads.
    #[error("{what}: unsupported version {version}")]
    UnsupportedVersion {
        /// Which record was being read.
        what: &'static str,
        /// The version found.
        version: u16,
    },
    /// The stored CRC-32 does not match the bytes it covers.
    #[error("{what}: checksum mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    ChecksumMismatch {
        /// Which record was being read.
        what: &'static str,
        /// CRC-32 read from the input.
        stored: u32,
        /// CRC-32 computed over the covered bytes.
        computed: u32,
    },
    /// A field holds a value the format does not allow.
    #[error("{what}: invalid value at byte {offset}: {reason}")]
    InvalidField {
        /// Which record (and field) was being read.
        what: &'static str,
        /// Byte offset in the input where the field starts.
        offset: usize,
        /// Why the value is refused.
        reason: &'static str,
    },
    /// Bytes remain after the record's last field.
    #[error("{what}: {count} trailing bytes after byte {offset}")]
    TrailingBytes {
        /// Which record was being read.
        what: &'static str,
        /// Byte offset where the record ended.
        offset: usize,
        /// How many bytes follow it.
        count: usize,
    },
    /// A batch given to [`record`](crate::ProducerStateTable::record) breaks the table's domain
    /// (the broker validates batches before this point, so this is a caller bug).
    #[error("invalid batch for producer {producer_id} at offset {first_offset}: {reason}")]
    InvalidBatch {
        /// The batch's producer id.
        producer_id: i64,
        /// The first offset the caller gave.
        first_offset: i64,
        /// What is wrong.
        reason: &'static str,
    },
    /// A marker given to [`record_marker`](crate::ProducerStateTable::record_marker) has a
    /// negative producer id or offset.
    #[error("invalid transaction marker for producer {producer_id} at offset {offset}: {reason}")]
    InvalidMarker {
        /// The marker's producer id.
        producer_id: i64,
        /// The offset the caller gave.
        offset: i64,
        /// What is wrong.
        reason: &'static str,
    },
    /// A producer-id block does not follow the allocator's current high-water mark.
    #[error(
        "producer id block [{first_producer_id}, {end_producer_id}) does not match the allocator: {reason}"
    )]
    BlockMismatch {
        /// First id of the block.
        first_producer_id: i64,
        /// One past the last id of the block.
        end_producer_id: i64,
        /// Why it was refused.
        reason: &'static str,
    },
    /// Every producer id up to `i64::MAX` has been handed out.
    #[error("producer ids exhausted at high-water mark {high_water_mark}")]
    ProducerIdsExhausted {
        /// The allocator's high-water mark.
        high_water_mark: i64,
    },
}
