//! The crate's one error type.

/// Errors of this crate: malformed persisted records and misuse of the index.
///
/// Protocol outcomes (fenced producers, concurrent transactions, …) are not errors:
/// they are [`crate::ErrorCode`]s inside response values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TxnError {
    /// The input ended before a field could be read.
    #[error("truncated {what} at byte {offset}: needed {needed} bytes, had {had}")]
    Truncated {
        /// Which field was being read.
        what: &'static str,
        /// Byte offset of the field in the input.
        offset: usize,
        /// Bytes the field needs.
        needed: usize,
        /// Bytes that remained.
        had: usize,
    },
    /// A field holds a value the format does not allow.
    #[error("invalid {what} at byte {offset}: {value}")]
    InvalidValue {
        /// Which field.
        what: &'static str,
        /// Byte offset of the field in the input.
        offset: usize,
        /// The offending value, rendered.
        value: i64,
    },
    /// A string field is not valid UTF-8.
    #[error("{what} at byte {offset} is not valid UTF-8")]
    InvalidUtf8 {
        /// Which field.
        what: &'static str,
        /// Byte offset of the string's first byte.
        offset: usize,
    },
    /// The partitions of a record are not in strictly ascending (topic, partition) order,
    /// so the record is not in the canonical form this crate writes.
    #[error("partition list not strictly ascending at byte {offset}")]
    UnsortedPartitions {
        /// Byte offset of the out-of-order entry.
        offset: usize,
    },
    /// Bytes remained after a complete record.
    #[error("{len} trailing bytes after the record at byte {offset}")]
    TrailingBytes {
        /// Where the record ended.
        offset: usize,
        /// How many bytes followed it.
        len: usize,
    },
    /// `persisted`/`persist_failed` was called with an id that is not pending.
    #[error("transition {id} is not pending")]
    UnknownTransition {
        /// The id given.
        id: u64,
    },
    /// A transaction marker was reported at an offset that is not after the previous marker
    /// or not after the transaction's first offset.
    #[error(
        "marker for producer {producer_id} at offset {marker_offset} is not after offset {after}"
    )]
    MarkerOutOfOrder {
        /// Producer id of the marker.
        producer_id: i64,
        /// Offset given for the marker.
        marker_offset: i64,
        /// The offset it must exceed.
        after: i64,
    },
    /// Aborted transactions given to [`crate::TxnIndex::restore`] are not sorted by last offset.
    #[error(
        "aborted transaction of producer {producer_id} ends at {last_offset}, before the previous one"
    )]
    AbortedOutOfOrder {
        /// Producer id of the offending entry.
        producer_id: i64,
        /// Its last offset.
        last_offset: i64,
    },
}
