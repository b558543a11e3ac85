//! The crate's error type (damaged records) and the Kafka error codes it answers with.

/// A group-metadata record that could not be decoded.
///
/// Protocol outcomes (an unknown member, a stale generation) are not errors: they are
/// [`ErrorCode`]s inside the responses. This type only describes bytes that do not hold a
/// well-formed record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GroupError {
    /// The record ended before a field could be read.
    #[error(
        "group record truncated: {field} at byte {offset} needs {needed} bytes, {remaining} remain"
    )]
    Truncated {
        /// The field being read.
        field: &'static str,
        /// Byte offset of the field in the record.
        offset: usize,
        /// Bytes the field needs.
        needed: usize,
        /// Bytes that remained.
        remaining: usize,
    },
    /// The checksum stored at the end of the record does not match its contents.
    #[error("group record checksum mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    ChecksumMismatch {
        /// The CRC-32 stored in the record.
        stored: u32,
        /// The CRC-32 computed over the record.
        computed: u32,
    },
    /// The record's format version is not one this crate reads.
    #[error(
        "group record version {version} is not supported (this build reads version {supported})"
    )]
    UnsupportedVersion {
        /// The version found.
        version: u16,
        /// The version this build reads.
        supported: u16,
    },
    /// A field holds a value outside its domain (an unknown tag, a negative length, …).
    #[error("group record field {field} at byte {offset} holds invalid value {value}")]
    InvalidValue {
        /// The field.
        field: &'static str,
        /// Byte offset of the field in the record.
        offset: usize,
        /// The value read, widened to `i64`.
        value: i64,
    },
    /// A string field is not valid UTF-8.
    #[error("group record field {field} at byte {offset} is not valid UTF-8")]
    InvalidUtf8 {
        /// The field.
        field: &'static str,
        /// Byte offset of the string's bytes in the record.
        offset: usize,
    },
    /// Bytes remain after the record's last field.
    #[error("group record has {extra} trailing bytes after its last field")]
    TrailingBytes {
        /// How many bytes were left over.
        extra: usize,
    },
    /// The record decodes but describes an impossible group (duplicate member, leader that is
    /// not a member, …).
    #[error("group record for group {group_id:?} is inconsistent: {reason}")]
    Inconsistent {
        /// The group the record is about.
        group_id: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// One record of a replayed stream is damaged.
    #[error("group record #{index} of the replayed stream is damaged: {source}")]
    Replay {
        /// Position of the record in the stream, from 0.
        index: usize,
        /// What is wrong with it.
        #[source]
        source: Box<GroupError>,
    },
}

/// A Kafka error code as the group coordinator answers it (`NONE` is success).
///
/// The numbers are Kafka's (`org.apache.kafka.common.protocol.Errors`); [`ErrorCode::code`]
/// gives the `i16` to put on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ErrorCode {
    /// 0: success.
    None,
    /// 22: the request's generation is not the group's current one.
    IllegalGeneration,
    /// 23: the protocol type differs, or no protocol is supported by every member.
    InconsistentGroupProtocol,
    /// 24: empty group id where the API requires one.
    InvalidGroupId,
    /// 25: the member (or the group) is not known.
    UnknownMemberId,
    /// 26: the session timeout is outside the broker's bounds.
    InvalidSessionTimeout,
    /// 27: the group is rebalancing; the member must rejoin.
    RebalanceInProgress,
    /// 68: DeleteGroups on a group that still has members.
    NonEmptyGroup,
    /// 69: DeleteGroups on an unknown group.
    GroupIdNotFound,
    /// 79: a new dynamic member (JoinGroup v4+) must rejoin with the member id it was given.
    MemberIdRequired,
    /// 81: the group has `group.max.size` members already.
    GroupMaxSizeReached,
    /// 82: the member id of a static member has been replaced by a newer one.
    FencedInstanceId,
}

impl ErrorCode {
    /// The Kafka wire value of this error code.
    #[must_use]
    pub const fn code(self) -> i16 {
        match self {
            Self::None => 0,
            Self::IllegalGeneration => 22,
            Self::InconsistentGroupProtocol => 23,
            Self::InvalidGroupId => 24,
            Self::UnknownMemberId => 25,
            Self::InvalidSessionTimeout => 26,
            Self::RebalanceInProgress => 27,
            Self::NonEmptyGroup => 68,
            Self::GroupIdNotFound => 69,
            Self::MemberIdRequired => 79,
            Self::GroupMaxSizeReached => 81,
            Self::FencedInstanceId => 82,
        }
    }

    /// `true` for [`ErrorCode::None`].
    #[must_use]
    pub const fn is_ok(self) -> bool {
        matches!(self, Self::None)
    }
}
