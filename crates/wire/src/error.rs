//! The crate's error types: what went wrong, and where.

use std::fmt;

/// Why decoding failed. Carried by [`DecodeError`] together with the byte offset.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeErrorKind {
    /// The input ended before the value did.
    Truncated {
        /// Bytes the value needed.
        needed: usize,
        /// Bytes that were left.
        remaining: usize,
    },
    /// A length or count field is negative (other than the null marker) or larger than the input.
    InvalidLength {
        /// What was being read.
        what: &'static str,
        /// The length or count as read from the wire.
        len: i64,
    },
    /// A varint ran past its maximum width.
    VarintTooLong,
    /// A string is not valid UTF-8.
    InvalidUtf8,
    /// A non-nullable field was null.
    UnexpectedNull {
        /// Which field.
        field: &'static str,
    },
    /// A field holds a value the protocol does not allow.
    InvalidValue {
        /// Which field, and what is wrong with it.
        what: &'static str,
    },
    /// A frame's size prefix is larger than the configured maximum.
    FrameTooLarge {
        /// The announced size.
        size: i64,
        /// The maximum accepted.
        max: usize,
    },
    /// The (api key, version) pair is not one this crate knows.
    UnsupportedVersion {
        /// The API key.
        api_key: i16,
        /// The version requested.
        version: i16,
    },
    /// A record batch's stored CRC-32C does not match its contents.
    CrcMismatch {
        /// CRC stored in the batch header.
        stored: u32,
        /// CRC computed over the batch.
        computed: u32,
    },
    /// A record batch uses a magic byte other than 2.
    UnsupportedMagic {
        /// The magic byte found.
        magic: i8,
    },
    /// Bytes were left over after a value that must fill its container.
    TrailingBytes {
        /// How many bytes were left.
        len: usize,
    },
    /// A record batch is well-formed but breaks a rule of the protocol (Kafka's
    /// `INVALID_RECORD`): inconsistent offsets and counts, a control batch from a client, ...
    InvalidRecord {
        /// Which rule is broken.
        what: &'static str,
    },
    /// A record batch's lengths do not hold together (Kafka's `CORRUPT_MESSAGE`).
    CorruptBatch {
        /// What does not hold.
        what: &'static str,
    },
    /// Records were asked of a compressed batch; this crate carries compressed batches as they
    /// are and does not decompress them.
    CompressedRecords {
        /// The compression codec id (NOTES.md B.2).
        codec: u8,
    },
}

/// A decoding failure: what failed and the offset (from the start of the decoded input) where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    /// Byte offset, from the start of the input handed to the decoder, where the bad value starts.
    pub offset: usize,
    /// What is wrong.
    pub kind: DecodeErrorKind,
}

impl DecodeError {
    /// Creates an error at `offset`.
    pub fn new(offset: usize, kind: DecodeErrorKind) -> Self {
        Self { offset, kind }
    }

    /// The Kafka error code a broker answers with when a request fails this way.
    ///
    /// A CRC mismatch or inconsistent batch lengths are `CORRUPT_MESSAGE` (2), a magic other than
    /// 2 or a batch breaking a protocol rule `INVALID_RECORD` (87), an
    /// unknown version `UNSUPPORTED_VERSION` (35), everything else `INVALID_REQUEST` (42).
    pub fn kafka_error_code(&self) -> i16 {
        match self.kind {
            DecodeErrorKind::CrcMismatch { .. } | DecodeErrorKind::CorruptBatch { .. } => 2,
            DecodeErrorKind::UnsupportedMagic { .. } | DecodeErrorKind::InvalidRecord { .. } => 87,
            DecodeErrorKind::UnsupportedVersion { .. } => 35,
            _ => 42,
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = self.offset;
        match &self.kind {
            DecodeErrorKind::Truncated { needed, remaining } => write!(
                f,
                "input truncated at byte {at}: needed {needed} bytes, {remaining} left"
            ),
            DecodeErrorKind::InvalidLength { what, len } => {
                write!(f, "invalid {what} length {len} at byte {at}")
            }
            DecodeErrorKind::VarintTooLong => write!(f, "varint too long at byte {at}"),
            DecodeErrorKind::InvalidUtf8 => write!(f, "string at byte {at} is not valid UTF-8"),
            DecodeErrorKind::UnexpectedNull { field } => {
                write!(f, "non-nullable field {field} is null at byte {at}")
            }
            DecodeErrorKind::InvalidValue { what } => {
                write!(f, "invalid value at byte {at}: {what}")
            }
            DecodeErrorKind::FrameTooLarge { size, max } => write!(
                f,
                "frame of {size} bytes exceeds the maximum of {max} bytes"
            ),
            DecodeErrorKind::UnsupportedVersion { api_key, version } => {
                write!(f, "api key {api_key} version {version} is not supported")
            }
            DecodeErrorKind::CrcMismatch { stored, computed } => write!(
                f,
                "record batch CRC-32C mismatch at byte {at}: stored {stored:#010x}, computed {computed:#010x}"
            ),
            DecodeErrorKind::UnsupportedMagic { magic } => write!(
                f,
                "record batch at byte {at} has magic {magic}; only magic 2 is supported"
            ),
            DecodeErrorKind::TrailingBytes { len } => {
                write!(f, "{len} unexpected trailing bytes at byte {at}")
            }
            DecodeErrorKind::InvalidRecord { what } => {
                write!(f, "invalid record batch at byte {at}: {what}")
            }
            DecodeErrorKind::CorruptBatch { what } => {
                write!(f, "corrupt record batch at byte {at}: {what}")
            }
            DecodeErrorKind::CompressedRecords { codec } => write!(
                f,
                "record batch at byte {at} is compressed (codec {codec}); its records cannot be iterated"
            ),
        }
    }
}

impl std::error::Error for DecodeError {}

/// An encoding failure: the value cannot be represented in the requested version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// A field holds a non-default value that the version cannot carry and that is not ignorable.
    #[error("field {field} cannot be encoded in version {version}")]
    FieldNotInVersion {
        /// Which field.
        field: &'static str,
        /// The version being encoded.
        version: i16,
    },
    /// A null value in a field that is not nullable in this version.
    #[error("field {field} is null but not nullable in version {version}")]
    NullNotAllowed {
        /// Which field.
        field: &'static str,
        /// The version being encoded.
        version: i16,
    },
    /// A string, byte blob or array is longer than its length prefix can express.
    #[error("{what} of length {len} is too long for its length prefix")]
    TooLong {
        /// What was being written.
        what: &'static str,
        /// Its length.
        len: usize,
    },
    /// A value cannot be written as asked (for example a record batch builder told to mark its
    /// plain records as compressed).
    #[error("cannot encode: {what}")]
    InvalidValue {
        /// What is wrong.
        what: &'static str,
    },
    /// The version is outside the message's valid versions.
    #[error("api key {api_key} has no version {version}")]
    UnsupportedVersion {
        /// The API key.
        api_key: i16,
        /// The version requested.
        version: i16,
    },
}
