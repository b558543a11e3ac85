//! Offset-store records and their byte encoding.
//!
//! ```text
//! record     := key_len:u32  key  value_len:i32  value      value_len = -1: no value (tombstone)
//! key        := type:u8 fields
//!   type 0   offset commit      group:str  topic:str  partition:i32
//!   type 1   txn offset commit  producer_id:i64  group:str  topic:str  partition:i32
//!   type 2   txn marker         producer_id:i64
//! value      := version:u8 fields
//!   offset value  v0            offset:i64  leader_epoch:i32  metadata:str  commit_timestamp_ms:i64
//!   marker value  v0            result:u8  (0 = abort, 1 = commit)
//! str        := len:u16  UTF-8 bytes
//! ```
//!
//! All integers are big-endian. Only an offset commit may have no value (a tombstone, which
//! deletes the key). Decoding is strict, so every record that decodes re-encodes to the very
//! same bytes.

use crate::error::OffsetsError;

const TYPE_COMMIT: u8 = 0;
const TYPE_TXN_COMMIT: u8 = 1;
const TYPE_TXN_MARKER: u8 = 2;
const OFFSET_VALUE_V0: u8 = 0;
const MARKER_VALUE_V0: u8 = 0;

/// Longest string (group id, topic, metadata) a record can carry.
pub const MAX_STRING_BYTES: usize = u16::MAX as usize;

/// The key every offset is stored under: (group, topic, partition).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OffsetKey {
    /// Consumer group id (`""` is a valid group id for OffsetCommit).
    pub group: String,
    /// Topic name.
    pub topic: String,
    /// Partition index.
    pub partition: i32,
}

/// A committed offset as OffsetFetch returns it, plus the time of its commit.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OffsetAndMetadata {
    /// The committed offset (the next record the group will read).
    pub offset: i64,
    /// The leader epoch of the last consumed record, `-1` if unknown.
    pub leader_epoch: i32,
    /// Client-supplied metadata string.
    pub metadata: String,
    /// When the commit was accepted (milliseconds, the caller's clock); expiry counts from it.
    pub commit_timestamp_ms: i64,
}

/// One entry of the offset store's record stream.
///
/// The stream is replayed in order by [`crate::OffsetStore::replay`]; only the latest
/// [`OffsetRecord::Commit`] per key matters, and [`crate::compact`] keeps just the live ones.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum OffsetRecord {
    /// A plain offset commit, or a tombstone (`value: None`) that deletes the key.
    Commit {
        /// Which offset.
        key: OffsetKey,
        /// The new value; `None` deletes the key (OffsetDelete, group deletion, expiry).
        value: Option<OffsetAndMetadata>,
    },
    /// A transactional offset commit, pending under `producer_id` until its marker.
    TxnCommit {
        /// The transactional producer.
        producer_id: i64,
        /// Which offset.
        key: OffsetKey,
        /// The pending value.
        value: OffsetAndMetadata,
    },
    /// The COMMIT or ABORT marker of `producer_id`'s transaction reaching the offsets.
    TxnMarker {
        /// The transactional producer.
        producer_id: i64,
        /// `true` for COMMIT, `false` for ABORT.
        committed: bool,
    },
}

impl OffsetRecord {
    /// Number of bytes [`OffsetRecord::encode_into`] writes.
    #[must_use]
    pub fn encoded_len(&self) -> usize {
        4 + self.key_len() + 4 + self.value_len()
    }

    fn key_len(&self) -> usize {
        match self {
            Self::Commit { key, .. } => 1 + offset_key_len(key),
            Self::TxnCommit { key, .. } => 1 + 8 + offset_key_len(key),
            Self::TxnMarker { .. } => 1 + 8,
        }
    }

    fn value_len(&self) -> usize {
        match self {
            Self::Commit { value: None, .. } => 0,
            Self::Commit { value: Some(v), .. } | Self::TxnCommit { value: v, .. } => {
                1 + 8 + 4 + 2 + v.metadata.len() + 8
            }
            Self::TxnMarker { .. } => 2,
        }
    }

    /// Encodes the record into a new vector.
    ///
    /// # Errors
    /// [`OffsetsError::FieldTooLong`] if a string is longer than [`MAX_STRING_BYTES`] (records
    /// made by [`crate::OffsetStore`] never are).
    pub fn encode(&self) -> Result<Vec<u8>, OffsetsError> {
        let mut out = Vec::with_capacity(self.encoded_len());
        self.encode_into(&mut out)?;
        Ok(out)
    }

    /// Appends the record's bytes to `out`.
    ///
    /// # Errors
    /// [`OffsetsError::FieldTooLong`] if a string is longer than [`MAX_STRING_BYTES`]; `out`
    /// is then left unchanged.
    pub fn encode_into(&self, out: &mut Vec<u8>) -> Result<(), OffsetsError> {
        self.check_lengths()?;
        out.reserve(self.encoded_len());
        // Lengths are bounded by check_lengths: a key is at most 2 * 65 535 + 17 bytes, a
        // value at most 65 535 + 23, so both fit their prefixes.
        put_u32(out, clamp_u32(self.key_len()));
        match self {
            Self::Commit { key, .. } => {
                out.push(TYPE_COMMIT);
                put_offset_key(out, key);
            }
            Self::TxnCommit {
                producer_id, key, ..
            } => {
                out.push(TYPE_TXN_COMMIT);
                out.extend_from_slice(&producer_id.to_be_bytes());
                put_offset_key(out, key);
            }
            Self::TxnMarker { producer_id, .. } => {
                out.push(TYPE_TXN_MARKER);
                out.extend_from_slice(&producer_id.to_be_bytes());
            }
        }
        match self {
            Self::Commit { value: None, .. } => out.extend_from_slice(&(-1i32).to_be_bytes()),
            Self::Commit { value: Some(v), .. } | Self::TxnCommit { value: v, .. } => {
                put_u32(out, clamp_u32(self.value_len()));
                out.push(OFFSET_VALUE_V0);
                out.extend_from_slice(&v.offset.to_be_bytes());
                out.extend_from_slice(&v.leader_epoch.to_be_bytes());
                put_str(out, &v.metadata);
                out.extend_from_slice(&v.commit_timestamp_ms.to_be_bytes());
            }
            Self::TxnMarker { committed, .. } => {
                put_u32(out, 2);
                out.push(MARKER_VALUE_V0);
                out.push(u8::from(*committed));
            }
        }
        Ok(())
    }

    fn check_lengths(&self) -> Result<(), OffsetsError> {
        let check = |what: &'static str, s: &str| {
            if s.len() > MAX_STRING_BYTES {
                Err(OffsetsError::FieldTooLong {
                    what,
                    len: s.len(),
                    max: MAX_STRING_BYTES,
                })
            } else {
                Ok(())
            }
        };
        let (key, value) = match self {
            Self::Commit { key, value } => (key, value.as_ref()),
            Self::TxnCommit { key, value, .. } => (key, Some(value)),
            Self::TxnMarker { .. } => return Ok(()),
        };
        check("group id", &key.group)?;
        check("topic", &key.topic)?;
        if let Some(v) = value {
            check("metadata", &v.metadata)?;
        }
        Ok(())
    }

    /// Decodes one record that fills `bytes` exactly.
    ///
    /// # Errors
    /// A typed [`OffsetsError`] saying what is wrong and at which byte: truncation, an unknown
    /// record type or value version, invalid UTF-8, a field out of its domain, a missing value,
    /// trailing bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self, OffsetsError> {
        let mut r = Reader::new(bytes, 0);
        let key_len = r.u32("key length")? as usize;
        let key_start = r.pos;
        let key_bytes = r.take("key", key_len)?;
        let mut k = Reader::new(key_bytes, key_start);
        let type_at = k.at();
        let record_type = k.u8("record type")?;
        let key = match record_type {
            TYPE_COMMIT => DecodedKey::Commit(k.offset_key()?),
            TYPE_TXN_COMMIT => {
                let producer_id = k.i64("producer id")?;
                DecodedKey::TxnCommit(producer_id, k.offset_key()?)
            }
            TYPE_TXN_MARKER => DecodedKey::TxnMarker(k.i64("producer id")?),
            other => {
                return Err(OffsetsError::UnknownRecordType {
                    record_type: other,
                    at: type_at,
                });
            }
        };
        k.finish("key")?;

        let value_len_at = r.pos;
        let value_len = r.i32("value length")?;
        let value = match value_len {
            -1 => None,
            n if n < -1 => {
                return Err(OffsetsError::InvalidField {
                    what: "value length",
                    value: i64::from(n),
                    at: value_len_at,
                });
            }
            n => {
                let start = r.pos;
                let len = usize::try_from(n).unwrap_or(usize::MAX);
                Some((start, r.take("value", len)?))
            }
        };
        r.finish("record")?;

        let record_name = match key {
            DecodedKey::Commit(_) => "offset commit",
            DecodedKey::TxnCommit(..) => "txn offset commit",
            DecodedKey::TxnMarker(_) => "txn marker",
        };
        match (key, value) {
            (DecodedKey::Commit(key), None) => Ok(Self::Commit { key, value: None }),
            (_, None) => Err(OffsetsError::MissingValue {
                what: record_name,
                at: value_len_at,
            }),
            (DecodedKey::Commit(key), Some((start, bytes))) => Ok(Self::Commit {
                key,
                value: Some(decode_offset_value(bytes, start)?),
            }),
            (DecodedKey::TxnCommit(producer_id, key), Some((start, bytes))) => {
                Ok(Self::TxnCommit {
                    producer_id,
                    key,
                    value: decode_offset_value(bytes, start)?,
                })
            }
            (DecodedKey::TxnMarker(producer_id), Some((start, bytes))) => {
                let mut v = Reader::new(bytes, start);
                let version = v.u8("marker value version")?;
                if version != MARKER_VALUE_V0 {
                    return Err(OffsetsError::UnsupportedVersion {
                        what: "marker value",
                        version,
                        at: start,
                    });
                }
                let result_at = v.at();
                let committed = match v.u8("marker result")? {
                    0 => false,
                    1 => true,
                    other => {
                        return Err(OffsetsError::InvalidField {
                            what: "marker result",
                            value: i64::from(other),
                            at: result_at,
                        });
                    }
                };
                v.finish("marker value")?;
                Ok(Self::TxnMarker {
                    producer_id,
                    committed,
                })
            }
        }
    }
}

enum DecodedKey {
    Commit(OffsetKey),
    TxnCommit(i64, OffsetKey),
    TxnMarker(i64),
}

fn decode_offset_value(bytes: &[u8], start: usize) -> Result<OffsetAndMetadata, OffsetsError> {
    let mut v = Reader::new(bytes, start);
    let version = v.u8("offset value version")?;
    if version != OFFSET_VALUE_V0 {
        return Err(OffsetsError::UnsupportedVersion {
            what: "offset value",
            version,
            at: start,
        });
    }
    let offset = v.i64("offset")?;
    let leader_epoch = v.i32("leader epoch")?;
    let metadata = v.string("metadata")?;
    let commit_timestamp_ms = v.i64("commit timestamp")?;
    v.finish("offset value")?;
    Ok(OffsetAndMetadata {
        offset,
        leader_epoch,
        metadata,
        commit_timestamp_ms,
    })
}

fn offset_key_len(key: &OffsetKey) -> usize {
    2 + key.group.len() + 2 + key.topic.len() + 4
}

fn put_offset_key(out: &mut Vec<u8>, key: &OffsetKey) {
    put_str(out, &key.group);
    put_str(out, &key.topic);
    out.extend_from_slice(&key.partition.to_be_bytes());
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    let len = u16::try_from(s.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn put_u32(out: &mut Vec<u8>, n: u32) {
    out.extend_from_slice(&n.to_be_bytes());
}

fn clamp_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// A cursor over untrusted bytes; every read checks the remaining length first.
/// `pos` is relative to `buf`, which starts at byte `base` of the record, so every error
/// position is a position in the whole record.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    base: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8], base: usize) -> Self {
        Self { buf, pos: 0, base }
    }

    fn at(&self) -> usize {
        self.base + self.pos
    }

    fn take(&mut self, what: &'static str, n: usize) -> Result<&'a [u8], OffsetsError> {
        let remaining = self.buf.len() - self.pos;
        if n > remaining {
            return Err(OffsetsError::Truncated {
                what,
                at: self.at(),
                needed: n,
                remaining,
            });
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], OffsetsError> {
        let bytes = self.take(what, N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    fn u8(&mut self, what: &'static str) -> Result<u8, OffsetsError> {
        Ok(self.array::<1>(what)?[0])
    }

    fn u16(&mut self, what: &'static str) -> Result<u16, OffsetsError> {
        Ok(u16::from_be_bytes(self.array(what)?))
    }

    fn u32(&mut self, what: &'static str) -> Result<u32, OffsetsError> {
        Ok(u32::from_be_bytes(self.array(what)?))
    }

    fn i32(&mut self, what: &'static str) -> Result<i32, OffsetsError> {
        Ok(i32::from_be_bytes(self.array(what)?))
    }

    fn i64(&mut self, what: &'static str) -> Result<i64, OffsetsError> {
        Ok(i64::from_be_bytes(self.array(what)?))
    }

    fn string(&mut self, what: &'static str) -> Result<String, OffsetsError> {
        let len = usize::from(self.u16(what)?);
        let at = self.at();
        let bytes = self.take(what, len)?;
        match std::str::from_utf8(bytes) {
            Ok(s) => Ok(s.to_owned()),
            Err(_) => Err(OffsetsError::InvalidUtf8 { what, at }),
        }
    }

    fn offset_key(&mut self) -> Result<OffsetKey, OffsetsError> {
        let group = self.string("group id")?;
        let topic = self.string("topic")?;
        let partition = self.i32("partition")?;
        Ok(OffsetKey {
            group,
            topic,
            partition,
        })
    }

    fn finish(&self, what: &'static str) -> Result<(), OffsetsError> {
        let remaining = self.buf.len() - self.pos;
        if remaining == 0 {
            Ok(())
        } else {
            Err(OffsetsError::TrailingBytes {
                what,
                at: self.at(),
                remaining,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> OffsetKey {
        OffsetKey {
            group: "g".into(),
            topic: "t".into(),
            partition: 3,
        }
    }

    fn value() -> OffsetAndMetadata {
        OffsetAndMetadata {
            offset: 42,
            leader_epoch: 5,
            metadata: "meta".into(),
            commit_timestamp_ms: 1_000,
        }
    }

    fn all_kinds() -> Vec<OffsetRecord> {
        vec![
            OffsetRecord::Commit {
                key: key(),
                value: Some(value()),
            },
            OffsetRecord::Commit {
                key: key(),
                value: None,
            },
            OffsetRecord::TxnCommit {
                producer_id: 9,
                key: key(),
                value: value(),
            },
            OffsetRecord::TxnMarker {
                producer_id: 9,
                committed: true,
            },
            OffsetRecord::TxnMarker {
                producer_id: -1,
                committed: false,
            },
        ]
    }

    #[test]
    fn every_record_kind_round_trips_with_predicted_length() {
        for record in all_kinds() {
            let bytes = record.encode().unwrap();
            assert_eq!(bytes.len(), record.encoded_len());
            assert_eq!(OffsetRecord::decode(&bytes).unwrap(), record);
        }
    }

    #[test]
    fn commit_record_layout_is_as_documented() {
        let bytes = OffsetRecord::Commit {
            key: key(),
            value: None,
        }
        .encode()
        .unwrap();
        let expected: Vec<u8> = [
            &[0, 0, 0, 11][..], // key length
            &[0],               // type: offset commit
            &[0, 1, b'g'],
            &[0, 1, b't'],
            &[0, 0, 0, 3],
            &[0xff, 0xff, 0xff, 0xff], // no value
        ]
        .concat();
        assert_eq!(bytes, expected);
    }

    #[test]
    fn decode_empty_input_is_truncated() {
        assert_eq!(
            OffsetRecord::decode(&[]),
            Err(OffsetsError::Truncated {
                what: "key length",
                at: 0,
                needed: 4,
                remaining: 0
            })
        );
    }

    #[test]
    fn decode_key_length_beyond_input_is_truncated_without_allocating() {
        let bytes = [0xff, 0xff, 0xff, 0xff, 0];
        assert_eq!(
            OffsetRecord::decode(&bytes),
            Err(OffsetsError::Truncated {
                what: "key",
                at: 4,
                needed: u32::MAX as usize,
                remaining: 1
            })
        );
    }

    #[test]
    fn decode_every_truncation_is_a_truncated_error() {
        for record in all_kinds() {
            let bytes = record.encode().unwrap();
            for len in 0..bytes.len() {
                let err = OffsetRecord::decode(&bytes[..len]).unwrap_err();
                assert!(
                    matches!(err, OffsetsError::Truncated { .. }),
                    "{record:?} cut at {len}: {err:?}"
                );
            }
        }
    }

    #[test]
    fn decode_unknown_record_type_is_unknown_record_type() {
        let mut bytes = OffsetRecord::TxnMarker {
            producer_id: 1,
            committed: true,
        }
        .encode()
        .unwrap();
        bytes[4] = 7;
        assert_eq!(
            OffsetRecord::decode(&bytes),
            Err(OffsetsError::UnknownRecordType {
                record_type: 7,
                at: 4
            })
        );
    }

    #[test]
    fn decode_unknown_offset_value_version_is_unsupported_version() {
        let record = OffsetRecord::Commit {
            key: key(),
            value: Some(value()),
        };
        let mut bytes = record.encode().unwrap();
        let value_at = 4 + record.key_len() + 4;
        bytes[value_at] = 1;
        assert_eq!(
            OffsetRecord::decode(&bytes),
            Err(OffsetsError::UnsupportedVersion {
                what: "offset value",
                version: 1,
                at: value_at
            })
        );
    }

    #[test]
    fn decode_unknown_marker_value_version_is_unsupported_version() {
        let mut bytes = OffsetRecord::TxnMarker {
            producer_id: 1,
            committed: true,
        }
        .encode()
        .unwrap();
        let value_at = 4 + 9 + 4;
        bytes[value_at] = 3;
        assert_eq!(
            OffsetRecord::decode(&bytes),
            Err(OffsetsError::UnsupportedVersion {
                what: "marker value",
                version: 3,
                at: value_at
            })
        );
    }

    #[test]
    fn decode_marker_result_other_than_0_or_1_is_invalid_field() {
        let mut bytes = OffsetRecord::TxnMarker {
            producer_id: 1,
            committed: true,
        }
        .encode()
        .unwrap();
        let last = bytes.len() - 1;
        bytes[last] = 2;
        assert_eq!(
            OffsetRecord::decode(&bytes),
            Err(OffsetsError::InvalidField {
                what: "marker result",
                value: 2,
                at: last
            })
        );
    }

    #[test]
    fn decode_value_length_below_minus_one_is_invalid_field() {
        let mut bytes = OffsetRecord::Commit {
            key: key(),
            value: None,
        }
        .encode()
        .unwrap();
        let at = bytes.len() - 4;
        bytes[at..].copy_from_slice(&(-2i32).to_be_bytes());
        assert_eq!(
            OffsetRecord::decode(&bytes),
            Err(OffsetsError::InvalidField {
                what: "value length",
                value: -2,
                at
            })
        );
    }

    #[test]
    fn decode_invalid_utf8_group_is_invalid_utf8() {
        let mut bytes = OffsetRecord::Commit {
            key: key(),
            value: None,
        }
        .encode()
        .unwrap();
        bytes[7] = 0xff; // the group's only byte
        assert_eq!(
            OffsetRecord::decode(&bytes),
            Err(OffsetsError::InvalidUtf8 {
                what: "group id",
                at: 7
            })
        );
    }

    #[test]
    fn decode_txn_commit_without_value_is_missing_value() {
        let mut bytes = OffsetRecord::TxnMarker {
            producer_id: 1,
            committed: true,
        }
        .encode()
        .unwrap();
        bytes.truncate(4 + 9);
        bytes.extend_from_slice(&(-1i32).to_be_bytes());
        assert_eq!(
            OffsetRecord::decode(&bytes),
            Err(OffsetsError::MissingValue {
                what: "txn marker",
                at: 13
            })
        );
    }

    #[test]
    fn decode_trailing_bytes_after_record_is_trailing_bytes() {
        let mut bytes = OffsetRecord::TxnMarker {
            producer_id: 1,
            committed: false,
        }
        .encode()
        .unwrap();
        let end = bytes.len();
        bytes.push(0);
        assert_eq!(
            OffsetRecord::decode(&bytes),
            Err(OffsetsError::TrailingBytes {
                what: "record",
                at: end,
                remaining: 1
            })
        );
    }

    #[test]
    fn decode_trailing_bytes_inside_key_is_trailing_bytes() {
        // A marker key of 10 bytes: type, producer id, one extra byte.
        let mut bytes = vec![0, 0, 0, 10, 2];
        bytes.extend_from_slice(&1i64.to_be_bytes());
        bytes.push(0xaa);
        bytes.extend_from_slice(&[0, 0, 0, 2, 0, 1]);
        assert_eq!(
            OffsetRecord::decode(&bytes),
            Err(OffsetsError::TrailingBytes {
                what: "key",
                at: 13,
                remaining: 1
            })
        );
    }

    #[test]
    fn decode_trailing_bytes_inside_value_is_trailing_bytes() {
        let mut bytes = OffsetRecord::TxnMarker {
            producer_id: 1,
            committed: true,
        }
        .encode()
        .unwrap();
        bytes.truncate(13);
        bytes.extend_from_slice(&[0, 0, 0, 3, 0, 1, 9]);
        assert_eq!(
            OffsetRecord::decode(&bytes),
            Err(OffsetsError::TrailingBytes {
                what: "marker value",
                at: 19,
                remaining: 1
            })
        );
    }

    #[test]
    fn encode_group_longer_than_u16_is_field_too_long() {
        let record = OffsetRecord::Commit {
            key: OffsetKey {
                group: "g".repeat(MAX_STRING_BYTES + 1),
                topic: "t".into(),
                partition: 0,
            },
            value: None,
        };
        let mut out = vec![1, 2];
        assert_eq!(
            record.encode_into(&mut out),
            Err(OffsetsError::FieldTooLong {
                what: "group id",
                len: MAX_STRING_BYTES + 1,
                max: MAX_STRING_BYTES
            })
        );
        assert_eq!(out, vec![1, 2], "output untouched on error");
    }

    #[test]
    fn strings_of_the_maximum_length_round_trip() {
        let record = OffsetRecord::TxnCommit {
            producer_id: i64::MAX,
            key: OffsetKey {
                group: "g".repeat(MAX_STRING_BYTES),
                topic: "t".repeat(MAX_STRING_BYTES),
                partition: i32::MIN,
            },
            value: OffsetAndMetadata {
                metadata: "m".repeat(MAX_STRING_BYTES),
                ..value()
            },
        };
        let bytes = record.encode().unwrap();
        assert_eq!(bytes.len(), record.encoded_len());
        assert_eq!(OffsetRecord::decode(&bytes).unwrap(), record);
    }
}
