//! RecordBatch v2 (NOTES.md B).
//!
//! ```text
//! offset  size  field                  covered by the CRC
//!      0     8  baseOffset             no   (the broker patches it in place)
//!      8     4  batchLength            no   (bytes after this field)
//!     12     4  partitionLeaderEpoch   no   (the broker patches it in place)
//!     16     1  magic (2)              no   (byte 16 is the magic in every format)
//!     17     4  crc (CRC-32C)          no
//!     21     2  attributes             yes
//!     23     4  lastOffsetDelta        yes
//!     27     8  baseTimestamp          yes
//!     35     8  maxTimestamp           yes
//!     43     8  producerId             yes
//!     51     2  producerEpoch          yes
//!     53     4  baseSequence           yes
//!     57     4  recordsCount           yes
//!     61     …  records                yes  (plain, or one compressed blob)
//! ```
//!
//! [`RecordBatch`] is a zero-copy view; [`RecordBatch::records`] iterates plain records;
//! [`RecordBatchBuilder`] writes batches; the `patch_*` functions change what the broker must
//! change inside a stored batch.

mod builder;
mod control;
mod patch;
mod records;

pub use builder::RecordBatchBuilder;
pub use control::{ControlRecordType, EndTxnMarker};
pub use patch::{patch_base_offset, patch_log_append_time, patch_partition_leader_epoch};
pub use records::{HeaderRefs, Record, RecordHeader, RecordRef, RecordRefs, Records};
pub(crate) use records::{decode_record, decode_record_full, skip_record};

use crate::codec::Decoder;
use crate::error::{DecodeError, DecodeErrorKind};
use bytes::Bytes;

/// Bytes before the records: the whole fixed header.
pub const RECORD_BATCH_HEADER_BYTES: usize = 61;
/// Offset of the byte every message format keeps its magic in.
const MAGIC_OFFSET: usize = 16;
/// Offset of the first byte the CRC covers (the attributes).
const CRC_START: usize = 21;
/// `batchLength` counts the bytes after itself and the base offset.
const LENGTH_FIELD_END: usize = 12;
/// The CRC is computed in blocks of this size, each followed by the walk over the records that
/// start in it, while they are still in cache (two of the `crc32c` crate's long chunks).
const CRC_BLOCK_BYTES: usize = 48 * 1024;
/// The smallest plain record: seven one-byte varints/fields and nothing else.
const MIN_RECORD_BYTES: usize = 7;

const COMPRESSION_MASK: i16 = 0x07;
const TIMESTAMP_TYPE_BIT: i16 = 0x08;
const TRANSACTIONAL_BIT: i16 = 0x10;
const CONTROL_BIT: i16 = 0x20;
const DELETE_HORIZON_BIT: i16 = 0x40;

/// Compression codec of a batch (attributes bits 0-2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Compression {
    /// Plain records.
    None,
    /// gzip stream.
    Gzip,
    /// snappy (raw block or xerial framing).
    Snappy,
    /// LZ4 frame.
    Lz4,
    /// zstd frame (Produce v7+ / Fetch v10+).
    Zstd,
}

impl Compression {
    /// The codec for attribute bits 0-2, or `None` for the unassigned ids 5-7.
    pub fn from_id(id: u8) -> Option<Self> {
        match id {
            0 => Some(Self::None),
            1 => Some(Self::Gzip),
            2 => Some(Self::Snappy),
            3 => Some(Self::Lz4),
            4 => Some(Self::Zstd),
            _ => None,
        }
    }

    /// The codec id as stored in the attributes.
    pub fn id(self) -> u8 {
        match self {
            Self::None => 0,
            Self::Gzip => 1,
            Self::Snappy => 2,
            Self::Lz4 => 3,
            Self::Zstd => 4,
        }
    }
}

/// What a batch's timestamps mean (attributes bit 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimestampType {
    /// Set by the producer.
    CreateTime,
    /// Set by the broker on append: every record's timestamp is the batch's `max_timestamp`.
    LogAppendTime,
}

/// The fixed 61-byte header of a batch, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RecordBatchHeader {
    /// Offset of the first record (0 from producers; set by the broker).
    pub base_offset: i64,
    /// Bytes after this field: the batch's total size minus 12.
    pub batch_length: i32,
    /// Leader epoch stamped by the broker (-1 or 0 from producers).
    pub partition_leader_epoch: i32,
    /// Format version; always 2 for a parsed batch.
    pub magic: i8,
    /// Stored CRC-32C of bytes 21.. end.
    pub crc: u32,
    /// Raw attributes (see the accessors of [`RecordBatch`]).
    pub attributes: i16,
    /// Offset delta of the last record.
    pub last_offset_delta: i32,
    /// Timestamp of the first record (or the delete horizon, see `has_delete_horizon`).
    pub base_timestamp: i64,
    /// Largest record timestamp, or the append time under `LogAppendTime`.
    pub max_timestamp: i64,
    /// Producer id, -1 if not idempotent.
    pub producer_id: i64,
    /// Producer epoch, -1 if not idempotent.
    pub producer_epoch: i16,
    /// Sequence of the first record, -1 if not idempotent.
    pub base_sequence: i32,
    /// Number of records (stored uncompressed even in compressed batches).
    pub records_count: i32,
}

impl RecordBatchHeader {
    /// Decodes the header fields; `d` must hold at least 61 bytes.
    fn decode(d: &mut Decoder) -> Result<Self, DecodeError> {
        Ok(Self {
            base_offset: d.i64()?,
            batch_length: d.i32()?,
            partition_leader_epoch: d.i32()?,
            magic: d.i8()?,
            crc: d.u32()?,
            attributes: d.i16()?,
            last_offset_delta: d.i32()?,
            base_timestamp: d.i64()?,
            max_timestamp: d.i64()?,
            producer_id: d.i64()?,
            producer_epoch: d.i16()?,
            base_sequence: d.i32()?,
            records_count: d.i32()?,
        })
    }
}

/// A zero-copy view of one magic-2 record batch.
///
/// [`RecordBatch::parse`] checks only the framing (magic, lengths), so that a broker can look at
/// the header cheaply; [`RecordBatch::validate`] checks integrity (CRC-32C and the rest), and
/// [`RecordBatch::validate_produce`] the rules a broker applies to a batch from a producer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordBatch {
    bytes: Bytes,
    header: RecordBatchHeader,
}

/// Checks that `buf` starts with a magic-2 batch header and returns the batch's total size.
/// `buf` may hold more bytes after the batch. Errors count offsets from `buf`'s start.
fn sniff(buf: &[u8]) -> Result<usize, DecodeError> {
    let Some(&magic) = buf.get(MAGIC_OFFSET) else {
        return Err(DecodeError::new(
            0,
            DecodeErrorKind::Truncated {
                needed: MAGIC_OFFSET + 1,
                remaining: buf.len(),
            },
        ));
    };
    if magic != 2 {
        return Err(DecodeError::new(
            MAGIC_OFFSET,
            DecodeErrorKind::UnsupportedMagic { magic: magic as i8 },
        ));
    }
    let batch_length = i32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]);
    let total = usize::try_from(batch_length)
        .ok()
        .and_then(|n| n.checked_add(LENGTH_FIELD_END))
        .filter(|&n| n >= RECORD_BATCH_HEADER_BYTES)
        .ok_or(DecodeError::new(
            8,
            DecodeErrorKind::InvalidLength {
                what: "record batch",
                len: i64::from(batch_length),
            },
        ))?;
    if total > buf.len() {
        return Err(DecodeError::new(
            0,
            DecodeErrorKind::Truncated {
                needed: total,
                remaining: buf.len(),
            },
        ));
    }
    Ok(total)
}

impl RecordBatch {
    /// Views `bytes`, which must hold exactly one magic-2 batch. Checks the magic byte and the
    /// length fields, not the CRC (see [`RecordBatch::validate`]).
    ///
    /// # Errors
    /// [`DecodeErrorKind::UnsupportedMagic`] for magic 0/1 message sets (byte 16), a
    /// `batchLength` below the header size or beyond the input ([`DecodeErrorKind::InvalidLength`],
    /// [`DecodeErrorKind::Truncated`]), or [`DecodeErrorKind::TrailingBytes`] after the batch.
    pub fn parse(bytes: Bytes) -> Result<Self, DecodeError> {
        let total = sniff(&bytes)?;
        if total != bytes.len() {
            return Err(DecodeError::new(
                total,
                DecodeErrorKind::TrailingBytes {
                    len: bytes.len() - total,
                },
            ));
        }
        let header = RecordBatchHeader::decode(&mut Decoder::new(bytes.clone()))?;
        Ok(Self { bytes, header })
    }

    /// Splits a `records` field, which may hold several batches back to back, into views.
    /// Error offsets count from the start of `records`; the iterator ends after an error.
    pub fn split(records: Bytes) -> RecordBatches {
        RecordBatches {
            rest: records,
            offset: 0,
        }
    }

    /// The whole batch.
    pub fn as_bytes(&self) -> &Bytes {
        &self.bytes
    }

    /// The whole batch, consuming the view.
    pub fn into_bytes(self) -> Bytes {
        self.bytes
    }

    /// Size of the whole batch in bytes.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Always false: a batch holds at least its header (kept for the `len`/`is_empty` pair).
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// All header fields.
    pub fn header(&self) -> &RecordBatchHeader {
        &self.header
    }

    /// Offset of the first record.
    pub fn base_offset(&self) -> i64 {
        self.header.base_offset
    }

    /// Offset of the last record: `base_offset + last_offset_delta`.
    pub fn last_offset(&self) -> i64 {
        self.header
            .base_offset
            .wrapping_add(i64::from(self.header.last_offset_delta))
    }

    /// Bytes after the `batchLength` field.
    pub fn batch_length(&self) -> i32 {
        self.header.batch_length
    }

    /// Leader epoch stamped by the broker.
    pub fn partition_leader_epoch(&self) -> i32 {
        self.header.partition_leader_epoch
    }

    /// Format version: 2.
    pub fn magic(&self) -> i8 {
        self.header.magic
    }

    /// The stored CRC-32C.
    pub fn crc(&self) -> u32 {
        self.header.crc
    }

    /// The CRC-32C of bytes 21.. end, as it should be stored.
    pub fn compute_crc(&self) -> u32 {
        crc32c::crc32c(self.bytes.get(CRC_START..).unwrap_or_default())
    }

    /// Raw attributes.
    pub fn attributes(&self) -> i16 {
        self.header.attributes
    }

    /// Compression codec id (attributes bits 0-2; 0 = none).
    pub fn compression_id(&self) -> u8 {
        (self.header.attributes & COMPRESSION_MASK) as u8
    }

    /// Compression codec, `None` for an unassigned id (which [`RecordBatch::validate`] refuses).
    pub fn compression(&self) -> Option<Compression> {
        Compression::from_id(self.compression_id())
    }

    /// Whether the records are compressed (any codec id but 0).
    pub fn is_compressed(&self) -> bool {
        self.compression_id() != 0
    }

    /// Timestamp type (attributes bit 3).
    pub fn timestamp_type(&self) -> TimestampType {
        if self.header.attributes & TIMESTAMP_TYPE_BIT != 0 {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        }
    }

    /// Part of a transaction (attributes bit 4).
    pub fn is_transactional(&self) -> bool {
        self.header.attributes & TRANSACTIONAL_BIT != 0
    }

    /// A control batch: a commit or abort marker (attributes bit 5).
    pub fn is_control(&self) -> bool {
        self.header.attributes & CONTROL_BIT != 0
    }

    /// `base_timestamp` holds the delete horizon set by compaction (attributes bit 6).
    pub fn has_delete_horizon(&self) -> bool {
        self.header.attributes & DELETE_HORIZON_BIT != 0
    }

    /// Offset delta of the last record.
    pub fn last_offset_delta(&self) -> i32 {
        self.header.last_offset_delta
    }

    /// Timestamp of the first record (or the delete horizon).
    pub fn base_timestamp(&self) -> i64 {
        self.header.base_timestamp
    }

    /// Largest record timestamp, or the append time under `LogAppendTime`.
    pub fn max_timestamp(&self) -> i64 {
        self.header.max_timestamp
    }

    /// Producer id, -1 if not idempotent.
    pub fn producer_id(&self) -> i64 {
        self.header.producer_id
    }

    /// Producer epoch, -1 if not idempotent.
    pub fn producer_epoch(&self) -> i16 {
        self.header.producer_epoch
    }

    /// Sequence of the first record, -1 if not idempotent.
    pub fn base_sequence(&self) -> i32 {
        self.header.base_sequence
    }

    /// Sequence of the last record: `base_sequence + last_offset_delta`, wrapping past
    /// `i32::MAX` to 0 as Kafka does (NOTES.md C.3); -1 if not idempotent.
    pub fn last_sequence(&self) -> i32 {
        let base = self.header.base_sequence;
        if base < 0 {
            return -1;
        }
        let last = i64::from(base) + i64::from(self.header.last_offset_delta);
        if last > i64::from(i32::MAX) {
            (last - i64::from(i32::MAX) - 1) as i32
        } else {
            last as i32
        }
    }

    /// Number of records.
    pub fn records_count(&self) -> i32 {
        self.header.records_count
    }

    /// The records region after the header: plain records, or one compressed blob.
    pub fn records_bytes(&self) -> Bytes {
        self.bytes.slice(RECORD_BATCH_HEADER_BYTES..)
    }

    /// Checks the batch's integrity: the CRC-32C over bytes 21.. end, a known compression codec,
    /// a non-negative record count and, for plain records, a count the records region can hold.
    /// Does not walk the records (see [`RecordBatch::validate_produce`]).
    ///
    /// # Errors
    /// [`DecodeErrorKind::CrcMismatch`] (Kafka `CORRUPT_MESSAGE`) at offset 17, or
    /// [`DecodeErrorKind::InvalidRecord`] (`INVALID_RECORD`).
    pub fn validate(&self) -> Result<(), DecodeError> {
        self.check_crc(self.compute_crc())?;
        self.validate_fields()
    }

    fn check_crc(&self, computed: u32) -> Result<(), DecodeError> {
        if computed != self.header.crc {
            return Err(DecodeError::new(
                17,
                DecodeErrorKind::CrcMismatch {
                    stored: self.header.crc,
                    computed,
                },
            ));
        }
        Ok(())
    }

    /// The checks of [`RecordBatch::validate`] after the CRC.
    fn validate_fields(&self) -> Result<(), DecodeError> {
        if self.compression().is_none() {
            return Err(invalid(21, "unknown compression codec"));
        }
        let Ok(count) = usize::try_from(self.header.records_count) else {
            return Err(invalid(57, "negative records count"));
        };
        let region = self.bytes.len() - RECORD_BATCH_HEADER_BYTES;
        if !self.is_compressed() && count > region / MIN_RECORD_BYTES {
            return Err(DecodeError::new(
                57,
                DecodeErrorKind::CorruptBatch {
                    what: "records count larger than the records region can hold",
                },
            ));
        }
        Ok(())
    }

    /// Checks a batch as a broker must before appending it from a Produce request (NOTES.md
    /// B.6 steps 1-3), in Kafka's order: base offset 0, then [`RecordBatch::validate`], then
    /// `last_offset_delta + 1 == records_count > 0`, no control batch, a base sequence with
    /// every producer id, and, for plain records, that every record decodes, their offset
    /// deltas run 0, 1, 2, … and exactly `records_count` records fill the region. The records of
    /// a compressed batch are not looked at (this crate never decompresses); its header is.
    ///
    /// The topic's size limit (`MESSAGE_TOO_LARGE`, checked before the CRC) is the caller's.
    ///
    /// # Errors
    /// As [`RecordBatch::validate`], [`DecodeErrorKind::InvalidRecord`] for a broken rule, and
    /// the record decoding errors of [`Records`].
    pub fn validate_produce(&self) -> Result<(), DecodeError> {
        if self.header.base_offset != 0 {
            return Err(invalid(0, "base offset of a produced batch must be 0"));
        }
        // One pass over the bytes: the CRC in blocks, and the walk over the records whose start
        // the CRC has just streamed through (still in cache). The walk's verdict is reported
        // only after every check that comes before it, so errors come in the documented order.
        let (computed, walk) = self.crc_and_walk();
        self.check_crc(computed)?;
        self.validate_fields()?;
        let count = self.header.records_count;
        if count <= 0 {
            return Err(invalid(
                57,
                "a produced batch must hold at least one record",
            ));
        }
        if i64::from(self.header.last_offset_delta) + 1 != i64::from(count) {
            return Err(invalid(
                23,
                "last offset delta + 1 differs from the records count",
            ));
        }
        if self.is_control() {
            return Err(invalid(21, "producers may not write control batches"));
        }
        if self.header.producer_id >= 0 && self.header.base_sequence < 0 {
            return Err(invalid(53, "an idempotent batch needs a base sequence"));
        }
        walk
    }

    /// The CRC-32C of bytes 21.. end and, for plain records, the verdict of walking them with the
    /// same checks as iterating `records()` (without taking any key or value): every record
    /// decodes, offset deltas run 0, 1, 2, …, and exactly `records_count` of them fill the region.
    fn crc_and_walk(&self) -> (u32, Result<(), DecodeError>) {
        let bytes = &self.bytes;
        let len = bytes.len();
        let walk_records = !self.is_compressed();
        // A negative count is refused by `validate_fields` before the walk's verdict is used.
        let count = if walk_records {
            usize::try_from(self.header.records_count).unwrap_or(0)
        } else {
            0
        };
        let mut walked: usize = 0;
        let mut pos = RECORD_BATCH_HEADER_BYTES;
        let mut walk = Ok(());
        let step = |pos: &mut usize, walked: &mut usize| {
            let at = *pos;
            match skip_record(bytes, pos) {
                Ok(delta) if i64::from(delta) == *walked as i64 => {
                    *walked += 1;
                    Ok(())
                }
                Ok(_) => Err(invalid(at, "record offset deltas must run 0, 1, 2, …")),
                Err(e) => Err(e),
            }
        };
        let mut crc = 0u32;
        let mut done = CRC_START;
        while done < len {
            let next = len.min(done + CRC_BLOCK_BYTES);
            crc = crc32c::crc32c_append(crc, bytes.get(done..next).unwrap_or_default());
            done = next;
            while walk.is_ok() && walked < count && pos < done {
                walk = step(&mut pos, &mut walked);
            }
        }
        // Records announced beyond the region: the next step reports where it runs out. Each
        // successful step consumes at least one byte, so this ends.
        while walk.is_ok() && walked < count {
            walk = step(&mut pos, &mut walked);
        }
        if walk_records && walk.is_ok() && pos != len {
            walk = Err(DecodeError::new(
                pos,
                DecodeErrorKind::CorruptBatch {
                    what: "bytes left after the last record",
                },
            ));
        }
        (crc, walk)
    }

    /// The records of an uncompressed batch. Keys, values and headers share the batch's memory.
    /// Iteration checks every length and yields an error (then stops) on the first bad record,
    /// on fewer records than `records_count`, or on bytes left after them.
    ///
    /// # Errors
    /// [`DecodeErrorKind::CompressedRecords`] for a compressed batch, and
    /// [`DecodeErrorKind::InvalidRecord`] for a negative `records_count`.
    pub fn records(&self) -> Result<Records, DecodeError> {
        let count = self.plain_records_count()?;
        Ok(Records::new(
            self.bytes.clone(),
            RECORD_BATCH_HEADER_BYTES,
            count,
        ))
    }

    /// The records count of a batch whose records are plain (not compressed).
    fn plain_records_count(&self) -> Result<usize, DecodeError> {
        if self.is_compressed() {
            return Err(DecodeError::new(
                21,
                DecodeErrorKind::CompressedRecords {
                    codec: self.compression_id(),
                },
            ));
        }
        let count = usize::try_from(self.header.records_count)
            .map_err(|_| invalid(57, "negative records count"))?;
        Ok(count)
    }

    /// Like [`RecordBatch::records`], borrowing: keys, values and headers are slices of the
    /// batch, so iterating touches no reference count and allocates nothing (the fast way to
    /// read many small records).
    ///
    /// # Errors
    /// As [`RecordBatch::records`].
    pub fn records_ref(&self) -> Result<RecordRefs<'_>, DecodeError> {
        let count = self.plain_records_count()?;
        Ok(RecordRefs::new(
            &self.bytes,
            RECORD_BATCH_HEADER_BYTES,
            count,
        ))
    }

    /// The marker of a control batch holding a commit or abort marker; `None` for a data batch
    /// or a control record of a type other than commit/abort (readers must ignore those).
    ///
    /// # Errors
    /// A control batch whose single record or marker does not decode.
    pub fn end_txn_marker(&self) -> Result<Option<EndTxnMarker>, DecodeError> {
        if !self.is_control() {
            return Ok(None);
        }
        let mut records = self.records()?;
        let Some(record) = records.next().transpose()? else {
            return Err(invalid(57, "a control batch holds no record"));
        };
        EndTxnMarker::from_record(&record, RECORD_BATCH_HEADER_BYTES)
    }
}

/// The crate README's example runs as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

fn invalid(offset: usize, what: &'static str) -> DecodeError {
    DecodeError::new(offset, DecodeErrorKind::InvalidRecord { what })
}

/// Iterator over the batches of a `records` field, from [`RecordBatch::split`].
///
/// Yields each batch as a view (framing checked, CRC not checked); stops after the first error,
/// which reports its offset from the start of the field. A truncated last batch is an error
/// ([`DecodeErrorKind::Truncated`]); fetch readers that tolerate one can stop there.
#[derive(Debug, Clone)]
pub struct RecordBatches {
    rest: Bytes,
    offset: usize,
}

impl RecordBatches {
    /// Offset, from the start of the field, of the next batch.
    pub fn offset(&self) -> usize {
        self.offset
    }
}

impl Iterator for RecordBatches {
    type Item = Result<RecordBatch, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let at = self.offset;
        let result = sniff(&self.rest).and_then(|total| {
            let batch = self.rest.split_to(total);
            self.offset += total;
            RecordBatch::parse(batch)
        });
        match result {
            Ok(batch) => Some(Ok(batch)),
            Err(mut e) => {
                self.rest = Bytes::new();
                e.offset += at;
                Some(Err(e))
            }
        }
    }
}
