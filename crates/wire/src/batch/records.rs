//! Plain records inside a batch (NOTES.md B.3) and their iterator.

use crate::codec::{Decoder, Encoder};
use crate::error::{DecodeError, DecodeErrorKind, EncodeError};
use bytes::Bytes;

/// A record header: a key (UTF-8 by the protocol, kept as raw bytes and not checked, as the
/// broker never reads it) and a nullable value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RecordHeader {
    /// Header key.
    pub key: Bytes,
    /// Header value; `None` is null.
    pub value: Option<Bytes>,
}

/// One record of a batch. Keys, values and header fields share the batch's memory.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Record {
    /// Record attributes (unused by the protocol, 0).
    pub attributes: i8,
    /// Timestamp minus the batch's `base_timestamp`.
    pub timestamp_delta: i64,
    /// Offset minus the batch's `base_offset`.
    pub offset_delta: i32,
    /// Key; `None` is null.
    pub key: Option<Bytes>,
    /// Value; `None` is null (a tombstone).
    pub value: Option<Bytes>,
    /// Headers, in order.
    pub headers: Vec<RecordHeader>,
}

impl Record {
    /// Appends the record in its wire form (length varint first).
    ///
    /// # Errors
    /// [`EncodeError::TooLong`] if the record or one of its parts exceeds an `int32` length.
    pub(crate) fn encode(&self, e: &mut Encoder) -> Result<(), EncodeError> {
        let body = self.body_len()?;
        e.put_varint(body);
        e.put_i8(self.attributes);
        e.put_varlong(self.timestamp_delta);
        e.put_varint(self.offset_delta);
        put_varint_bytes(e, self.key.as_ref())?;
        put_varint_bytes(e, self.value.as_ref())?;
        e.put_varint(len_i32(self.headers.len(), "record headers")?);
        for h in &self.headers {
            put_varint_bytes(e, Some(&h.key))?;
            put_varint_bytes(e, h.value.as_ref())?;
        }
        Ok(())
    }

    /// Bytes after the length varint.
    fn body_len(&self) -> Result<i32, EncodeError> {
        let mut n = 1
            + varlong_len(self.timestamp_delta)
            + varlong_len(i64::from(self.offset_delta))
            + bytes_len(self.key.as_ref())?
            + bytes_len(self.value.as_ref())?
            + varlong_len(i64::from(len_i32(self.headers.len(), "record headers")?));
        for h in &self.headers {
            n += bytes_len(Some(&h.key))? + bytes_len(h.value.as_ref())?;
        }
        len_i32(n, "record")
    }
}

fn len_i32(len: usize, what: &'static str) -> Result<i32, EncodeError> {
    i32::try_from(len).map_err(|_| EncodeError::TooLong { what, len })
}

fn varlong_len(v: i64) -> usize {
    crate::codec::uvarint_len(((v << 1) ^ (v >> 63)) as u64)
}

fn bytes_len(b: Option<&Bytes>) -> Result<usize, EncodeError> {
    Ok(match b {
        None => 1,
        Some(b) => varlong_len(i64::from(len_i32(b.len(), "record field")?)) + b.len(),
    })
}

fn put_varint_bytes(e: &mut Encoder, b: Option<&Bytes>) -> Result<(), EncodeError> {
    match b {
        None => e.put_varint(-1),
        Some(b) => {
            e.put_varint(len_i32(b.len(), "record field")?);
            e.put_slice(b);
        }
    }
    Ok(())
}

/// Reads a varint-length-prefixed nullable blob (-1 = null), checking the length against the
/// remaining input before taking it.
fn varint_bytes(d: &mut Decoder, what: &'static str) -> Result<Option<Bytes>, DecodeError> {
    let at = d.position();
    let len = d.varint()?;
    if len == -1 {
        return Ok(None);
    }
    match usize::try_from(len) {
        Ok(n) if n <= d.remaining() => Ok(Some(d.take(n)?)),
        _ => Err(DecodeError::new(
            at,
            DecodeErrorKind::InvalidLength {
                what,
                len: i64::from(len),
            },
        )),
    }
}

/// Decodes one record at the decoder's position.
pub(crate) fn decode_record(d: &mut Decoder) -> Result<Record, DecodeError> {
    let len_at = d.position();
    let len = d.varint()?;
    let body_len = match usize::try_from(len) {
        Ok(n) if n <= d.remaining() => n,
        _ => {
            return Err(DecodeError::new(
                len_at,
                DecodeErrorKind::InvalidLength {
                    what: "record",
                    len: i64::from(len),
                },
            ));
        }
    };
    let start = d.position();
    let end = start + body_len;
    let attributes = d.i8()?;
    let timestamp_delta = d.varlong()?;
    let offset_delta = d.varint()?;
    let key = varint_bytes(d, "record key")?;
    let value = varint_bytes(d, "record value")?;
    let count_at = d.position();
    let count = d.varint()?;
    // Each header takes at least two bytes (two length varints): bound the count by what is
    // left of the record before reserving anything.
    let left = end.saturating_sub(d.position());
    let count = match usize::try_from(count) {
        Ok(n) if n <= left / 2 => n,
        _ => {
            return Err(DecodeError::new(
                count_at,
                DecodeErrorKind::InvalidLength {
                    what: "record headers",
                    len: i64::from(count),
                },
            ));
        }
    };
    let mut headers = Vec::with_capacity(count);
    for _ in 0..count {
        let key_at = d.position();
        let Some(key) = varint_bytes(d, "header key")? else {
            return Err(DecodeError::new(
                key_at,
                DecodeErrorKind::UnexpectedNull {
                    field: "header key",
                },
            ));
        };
        let value = varint_bytes(d, "header value")?;
        headers.push(RecordHeader { key, value });
    }
    if d.position() != end {
        return Err(DecodeError::new(
            len_at,
            DecodeErrorKind::CorruptBatch {
                what: "record length differs from the record's contents",
            },
        ));
    }
    Ok(Record {
        attributes,
        timestamp_delta,
        offset_delta,
        key,
        value,
        headers,
    })
}

/// Iterator over the plain records of a batch, from [`crate::RecordBatch::records`].
///
/// Yields exactly `records_count` records, then checks that nothing is left; on any error it
/// yields the error (offset from the start of the batch) and then ends.
#[derive(Debug, Clone)]
pub struct Records {
    d: Decoder,
    left: usize,
    done: bool,
}

impl Records {
    /// Iterates `count` records from `d` to its end.
    pub(crate) fn new(d: Decoder, count: usize) -> Self {
        Self {
            d,
            left: count,
            done: false,
        }
    }

    /// Offset, from the start of the batch, of the next record.
    pub fn position(&self) -> usize {
        self.d.position()
    }

    /// Records still to come, as announced by the batch header.
    pub fn remaining_count(&self) -> usize {
        if self.done { 0 } else { self.left }
    }
}

impl Iterator for Records {
    type Item = Result<Record, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if self.left == 0 {
            self.done = true;
            return match self.d.finish() {
                Ok(()) => None,
                Err(_) => Some(Err(DecodeError::new(
                    self.d.position(),
                    DecodeErrorKind::CorruptBatch {
                        what: "bytes left after the last record",
                    },
                ))),
            };
        }
        self.left -= 1;
        let result = decode_record(&mut self.d);
        if result.is_err() {
            self.done = true;
        }
        Some(result)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.remaining_count();
        (0, Some(n.saturating_add(1)))
    }
}
