//! The crate's error type and the Kafka error codes its protocol outcomes map to.

use thiserror::Error;

/// What went wrong in this crate: a damaged or unsupported offset-store record, a record that
/// cannot be encoded, or a [`crate::Write`] handed back that the store did not have in flight.
///
/// Protocol outcomes (a metadata string that is too long, an unstable offset) are not errors:
/// they are [`ErrorCode`]s inside the normal return values.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum OffsetsError {
    /// The bytes end before a field does.
    #[error("truncated {what} at byte {at}: needs {needed} bytes, {remaining} remain")]
    Truncated {
        /// The field being read.
        what: &'static str,
        /// Byte position of the field in the record.
        at: usize,
        /// Bytes the field needs.
        needed: usize,
        /// Bytes that remained.
        remaining: usize,
    },
    /// The key starts with a record type this version of the crate does not know.
    #[error("unknown offset-store record type {record_type} at byte {at}")]
    UnknownRecordType {
        /// The type byte found.
        record_type: u8,
        /// Byte position of the type byte.
        at: usize,
    },
    /// The value starts with a version this version of the crate does not know.
    #[error("unsupported {what} version {version} at byte {at}")]
    UnsupportedVersion {
        /// Which value (offset value, marker value).
        what: &'static str,
        /// The version byte found.
        version: u8,
        /// Byte position of the version byte.
        at: usize,
    },
    /// A string field is not UTF-8.
    #[error("{what} at byte {at} is not valid UTF-8")]
    InvalidUtf8 {
        /// The field (group, topic, metadata).
        what: &'static str,
        /// Byte position of the string's bytes.
        at: usize,
    },
    /// A field holds a value outside its domain (a value length below -1, a marker result
    /// other than 0 or 1).
    #[error("invalid {what} {value} at byte {at}")]
    InvalidField {
        /// The field.
        what: &'static str,
        /// The value found.
        value: i64,
        /// Byte position of the field.
        at: usize,
    },
    /// Bytes remain after a part of the record that has a fixed extent.
    #[error("{remaining} trailing bytes after the {what} at byte {at}")]
    TrailingBytes {
        /// The part that ended (key, value, record).
        what: &'static str,
        /// Byte position where it ended.
        at: usize,
        /// How many bytes were left over.
        remaining: usize,
    },
    /// A record type that always carries a value has none (only offset commits have
    /// tombstones).
    #[error("{what} record at byte {at} has no value")]
    MissingValue {
        /// The record type.
        what: &'static str,
        /// Byte position of the value length.
        at: usize,
    },
    /// A string is longer than the encoding can carry (`u16` length prefix).
    #[error("{what} is {len} bytes, more than the {max} the record encoding allows")]
    FieldTooLong {
        /// The field.
        what: &'static str,
        /// Its length in bytes.
        len: usize,
        /// The maximum.
        max: usize,
    },
    /// [`crate::OffsetStore::persisted`] got a write that this store does not have in flight
    /// (already applied, or made by another store).
    #[error("write {id} is not in flight in this offset store")]
    UnknownWrite {
        /// The write's id.
        id: u64,
    },
}

/// The Kafka error codes this crate's protocol outcomes map to (NOTES G).
///
/// Membership, generation and producer-epoch checks are not this crate's (semel-group and the
/// broker do them), so their codes are not here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// `NONE` (0): success.
    None,
    /// `OFFSET_METADATA_TOO_LARGE` (12): the metadata string is longer than
    /// [`crate::OffsetsConfig::metadata_max_bytes`] (`offset.metadata.max.bytes`).
    OffsetMetadataTooLarge,
    /// `INVALID_GROUP_ID` (24): an empty group id in a TxnOffsetCommit.
    InvalidGroupId,
    /// `INVALID_COMMIT_OFFSET_SIZE` (28): the commit cannot be stored because a name is longer
    /// than the record encoding allows.
    InvalidCommitOffsetSize,
    /// `UNSTABLE_OFFSET_COMMIT` (88): OffsetFetch with RequireStable on a partition that has a
    /// pending transactional offset or a commit still being written.
    UnstableOffsetCommit,
}

impl ErrorCode {
    /// The Kafka wire value.
    #[must_use]
    pub const fn code(self) -> i16 {
        match self {
            Self::None => 0,
            Self::OffsetMetadataTooLarge => 12,
            Self::InvalidGroupId => 24,
            Self::InvalidCommitOffsetSize => 28,
            Self::UnstableOffsetCommit => 88,
        }
    }

    /// True for [`ErrorCode::None`].
    #[must_use]
    pub const fn is_none(self) -> bool {
        matches!(self, Self::None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_match_kafka_numbers() {
        assert_eq!(ErrorCode::None.code(), 0);
        assert_eq!(ErrorCode::OffsetMetadataTooLarge.code(), 12);
        assert_eq!(ErrorCode::InvalidGroupId.code(), 24);
        assert_eq!(ErrorCode::InvalidCommitOffsetSize.code(), 28);
        assert_eq!(ErrorCode::UnstableOffsetCommit.code(), 88);
    }
}
