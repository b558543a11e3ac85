//! Writing record batches.

use super::control::EndTxnMarker;
use super::records::{Record, RecordHeader};
use super::{
    COMPRESSION_MASK, CONTROL_BIT, CRC_START, LENGTH_FIELD_END, RECORD_BATCH_HEADER_BYTES,
    RecordBatchHeader, TIMESTAMP_TYPE_BIT, TRANSACTIONAL_BIT, TimestampType,
};
use crate::codec::Encoder;
use crate::error::EncodeError;
use bytes::{BufMut, Bytes, BytesMut};

/// Writes one uncompressed magic-2 batch with the right lengths and CRC-32C.
///
/// Defaults: base offset 0, partition leader epoch -1, no producer id (-1/-1/-1), CreateTime,
/// not transactional. [`RecordBatchBuilder::append`] numbers records 0, 1, 2, … and takes the
/// first record's timestamp as the base timestamp; `max_timestamp` and `last_offset_delta`
/// follow the records unless set explicitly.
///
/// ```
/// use bytes::Bytes;
/// use semel_wire::{RecordBatch, RecordBatchBuilder};
///
/// let mut b = RecordBatchBuilder::new();
/// b.producer(7, 0, 42);
/// b.append(1_000, None, Some(Bytes::from_static(b"hello")), Vec::new()).unwrap();
/// let batch = RecordBatch::parse(b.build().unwrap()).unwrap();
/// batch.validate_produce().unwrap();
/// assert_eq!(batch.producer_id(), 7);
/// ```
#[derive(Debug)]
pub struct RecordBatchBuilder {
    base_offset: i64,
    partition_leader_epoch: i32,
    attributes: i16,
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    base_timestamp: Option<i64>,
    max_timestamp: Option<i64>,
    last_offset_delta: Option<i32>,
    records: Encoder,
    count: i32,
    next_offset_delta: i32,
    last_pushed_offset_delta: Option<i32>,
    max_timestamp_delta: Option<i64>,
}

impl Default for RecordBatchBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl RecordBatchBuilder {
    /// An empty builder with the defaults above.
    pub fn new() -> Self {
        Self {
            base_offset: 0,
            partition_leader_epoch: -1,
            attributes: 0,
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
            base_timestamp: None,
            max_timestamp: None,
            last_offset_delta: None,
            records: Encoder::new(),
            count: 0,
            next_offset_delta: 0,
            last_pushed_offset_delta: None,
            max_timestamp_delta: None,
        }
    }

    /// A builder that writes `header`'s fields as they are (all but `batch_length`, `magic`,
    /// `crc` and `records_count`, which follow from the records). With [`RecordBatchBuilder::push`]
    /// this rebuilds a parsed batch byte for byte.
    pub fn from_header(header: &RecordBatchHeader) -> Self {
        let mut b = Self::new();
        b.base_offset = header.base_offset;
        b.partition_leader_epoch = header.partition_leader_epoch;
        b.attributes = header.attributes;
        b.producer_id = header.producer_id;
        b.producer_epoch = header.producer_epoch;
        b.base_sequence = header.base_sequence;
        b.base_timestamp = Some(header.base_timestamp);
        b.max_timestamp = Some(header.max_timestamp);
        b.last_offset_delta = Some(header.last_offset_delta);
        b
    }

    /// Sets the base offset (producers send 0).
    pub fn base_offset(&mut self, base_offset: i64) -> &mut Self {
        self.base_offset = base_offset;
        self
    }

    /// Sets the partition leader epoch.
    pub fn partition_leader_epoch(&mut self, epoch: i32) -> &mut Self {
        self.partition_leader_epoch = epoch;
        self
    }

    /// Sets the idempotent producer's id, epoch and the sequence of the first record.
    pub fn producer(
        &mut self,
        producer_id: i64,
        producer_epoch: i16,
        base_sequence: i32,
    ) -> &mut Self {
        self.producer_id = producer_id;
        self.producer_epoch = producer_epoch;
        self.base_sequence = base_sequence;
        self
    }

    /// Marks the batch as part of a transaction.
    pub fn transactional(&mut self, yes: bool) -> &mut Self {
        self.set_bit(TRANSACTIONAL_BIT, yes)
    }

    /// Marks the batch as a control batch (see also [`RecordBatchBuilder::control_batch`]).
    pub fn control(&mut self, yes: bool) -> &mut Self {
        self.set_bit(CONTROL_BIT, yes)
    }

    /// Sets the timestamp type.
    pub fn timestamp_type(&mut self, t: TimestampType) -> &mut Self {
        self.set_bit(TIMESTAMP_TYPE_BIT, t == TimestampType::LogAppendTime)
    }

    /// Sets the raw attributes. The compression bits must stay 0 ([`RecordBatchBuilder::build`]
    /// refuses otherwise): this builder writes plain records.
    pub fn attributes(&mut self, attributes: i16) -> &mut Self {
        self.attributes = attributes;
        self
    }

    fn set_bit(&mut self, bit: i16, yes: bool) -> &mut Self {
        if yes {
            self.attributes |= bit;
        } else {
            self.attributes &= !bit;
        }
        self
    }

    /// Sets the base timestamp; by default the first appended record's timestamp.
    pub fn base_timestamp(&mut self, ts: i64) -> &mut Self {
        self.base_timestamp = Some(ts);
        self
    }

    /// Sets the max timestamp; by default the largest record timestamp.
    pub fn max_timestamp(&mut self, ts: i64) -> &mut Self {
        self.max_timestamp = Some(ts);
        self
    }

    /// Sets the last offset delta; by default the last record's offset delta.
    pub fn last_offset_delta(&mut self, delta: i32) -> &mut Self {
        self.last_offset_delta = Some(delta);
        self
    }

    /// Records written so far.
    pub fn records_count(&self) -> i32 {
        self.count
    }

    /// Appends a record at the next offset delta with an absolute timestamp.
    ///
    /// # Errors
    /// [`EncodeError::TooLong`] for a record beyond `int32` lengths or too many records.
    pub fn append(
        &mut self,
        timestamp_ms: i64,
        key: Option<Bytes>,
        value: Option<Bytes>,
        headers: Vec<RecordHeader>,
    ) -> Result<&mut Self, EncodeError> {
        let base = *self.base_timestamp.get_or_insert(timestamp_ms);
        let record = Record {
            attributes: 0,
            timestamp_delta: timestamp_ms.wrapping_sub(base),
            offset_delta: self.next_offset_delta,
            key,
            value,
            headers,
        };
        self.push(&record)
    }

    /// Appends a record exactly as given (its own offset and timestamp deltas).
    ///
    /// # Errors
    /// [`EncodeError::TooLong`] for a record beyond `int32` lengths or too many records.
    pub fn push(&mut self, record: &Record) -> Result<&mut Self, EncodeError> {
        let count = self.count.checked_add(1).ok_or(EncodeError::TooLong {
            what: "record batch",
            len: self.count as usize,
        })?;
        record.encode(&mut self.records)?;
        self.count = count;
        self.next_offset_delta = record.offset_delta.wrapping_add(1);
        self.last_pushed_offset_delta = Some(record.offset_delta);
        self.max_timestamp_delta = Some(
            self.max_timestamp_delta
                .map_or(record.timestamp_delta, |m| m.max(record.timestamp_delta)),
        );
        Ok(self)
    }

    /// Writes the batch.
    ///
    /// # Errors
    /// [`EncodeError::InvalidValue`] if the attributes claim compression, and
    /// [`EncodeError::TooLong`] if the batch exceeds an `int32` length.
    pub fn build(self) -> Result<Bytes, EncodeError> {
        if self.attributes & COMPRESSION_MASK != 0 {
            return Err(EncodeError::InvalidValue {
                what: "record batch builder writes plain records; compression bits must be 0",
            });
        }
        let records = self.records.into_bytes();
        let total = RECORD_BATCH_HEADER_BYTES + records.len();
        let batch_length =
            i32::try_from(total - LENGTH_FIELD_END).map_err(|_| EncodeError::TooLong {
                what: "record batch",
                len: total,
            })?;
        let base_timestamp = self.base_timestamp.unwrap_or(-1);
        let max_timestamp = self
            .max_timestamp
            .unwrap_or(match self.max_timestamp_delta {
                Some(d) => base_timestamp.wrapping_add(d),
                None => -1,
            });
        let last_offset_delta = self
            .last_offset_delta
            .unwrap_or(self.last_pushed_offset_delta.unwrap_or(-1));
        let mut out = BytesMut::with_capacity(total);
        out.put_i64(self.base_offset);
        out.put_i32(batch_length);
        out.put_i32(self.partition_leader_epoch);
        out.put_i8(2);
        out.put_u32(0); // CRC, filled in below.
        out.put_i16(self.attributes);
        out.put_i32(last_offset_delta);
        out.put_i64(base_timestamp);
        out.put_i64(max_timestamp);
        out.put_i64(self.producer_id);
        out.put_i16(self.producer_epoch);
        out.put_i32(self.base_sequence);
        out.put_i32(self.count);
        out.put_slice(&records);
        let crc = crc32c::crc32c(&out[CRC_START..]);
        out[17..CRC_START].copy_from_slice(&crc.to_be_bytes());
        Ok(out.freeze())
    }

    /// Writes a control batch holding one transaction marker (NOTES.md B.5): control and
    /// transactional, base sequence -1, one record at offset delta 0, CreateTime `timestamp_ms`.
    ///
    /// # Errors
    /// None in practice (the record is 10 bytes); kept for the builder's signature.
    pub fn control_batch(
        producer_id: i64,
        producer_epoch: i16,
        marker: EndTxnMarker,
        timestamp_ms: i64,
    ) -> Result<Bytes, EncodeError> {
        let mut b = Self::new();
        b.producer(producer_id, producer_epoch, -1)
            .transactional(true)
            .control(true)
            .base_timestamp(timestamp_ms);
        b.push(&marker.to_record())?;
        b.build()
    }
}
