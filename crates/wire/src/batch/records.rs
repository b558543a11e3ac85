//! Plain records inside a batch (NOTES.md B.3) and their iterator.

use crate::codec::Encoder;
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

/// A position in a batch, read with the same checks and errors as [`crate::Decoder`] (offsets
/// from the start of `buf`), plus a one-byte fast path for varints: records are full of small
/// varints and this loop is the hot path of every fetch-side consumer of the iterator.
struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    #[inline(always)]
    fn byte(&mut self) -> Result<u8, DecodeError> {
        match self.buf.get(self.pos) {
            Some(&b) => {
                self.pos += 1;
                Ok(b)
            }
            None => Err(DecodeError::new(
                self.pos,
                DecodeErrorKind::Truncated {
                    needed: 1,
                    remaining: 0,
                },
            )),
        }
    }

    #[inline(always)]
    fn i8(&mut self) -> Result<i8, DecodeError> {
        self.byte().map(|b| b as i8)
    }

    /// Unsigned LEB128 of at most `max_bytes` bytes.
    #[inline(always)]
    fn uvarlong(&mut self, max_bytes: usize) -> Result<u64, DecodeError> {
        let start = self.pos;
        let first = self.byte()?;
        if first & 0x80 == 0 {
            return Ok(u64::from(first));
        }
        let mut value = u64::from(first & 0x7f);
        for i in 1..max_bytes {
            let byte = self.byte()?;
            let shift = 7 * i as u32;
            let bits = u64::from(byte & 0x7f);
            if shift == 63 && bits > 1 {
                return Err(DecodeError::new(start, DecodeErrorKind::VarintTooLong));
            }
            value |= bits << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(DecodeError::new(start, DecodeErrorKind::VarintTooLong))
    }

    /// Zigzag `int32` varint.
    #[inline(always)]
    fn varint(&mut self) -> Result<i32, DecodeError> {
        let start = self.pos;
        let raw = self.uvarlong(5)?;
        let raw = u32::try_from(raw)
            .map_err(|_| DecodeError::new(start, DecodeErrorKind::VarintTooLong))?;
        Ok(((raw >> 1) as i32) ^ -((raw & 1) as i32))
    }

    /// Zigzag `int64` varlong.
    #[inline(always)]
    fn varlong(&mut self) -> Result<i64, DecodeError> {
        let raw = self.uvarlong(10)?;
        Ok(((raw >> 1) as i64) ^ -((raw & 1) as i64))
    }

    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }
}

/// Reads a varint-length-prefixed nullable blob (-1 = null), checking the length against the
/// remaining input before taking it. With `KEEP` the blob is a slice of `src` sharing its
/// memory; without, it is skipped (no reference count is touched) and comes back empty.
#[inline(always)]
fn varint_bytes<const KEEP: bool>(
    c: &mut Cursor<'_>,
    src: &Bytes,
    what: &'static str,
) -> Result<Option<Bytes>, DecodeError> {
    let at = c.pos;
    let len = c.varint()?;
    if len == -1 {
        return Ok(None);
    }
    match usize::try_from(len) {
        Ok(n) if n <= c.remaining() => {
            let from = c.pos;
            c.pos += n;
            if KEEP && n > 0 {
                Ok(Some(src.slice(from..from + n)))
            } else {
                Ok(Some(Bytes::new()))
            }
        }
        _ => Err(DecodeError::new(
            at,
            DecodeErrorKind::InvalidLength {
                what,
                len: i64::from(len),
            },
        )),
    }
}

/// Decodes one record of `src` at `*pos`, moving `*pos` past it.
///
/// A lean pass ([`fast_read`]) decodes well-formed records; anything it does not accept goes
/// through the full reader, which either accepts it too or reports the precise error. The fuzz
/// property `wire_records` checks the iterator against the validation walk on every input.
pub(crate) fn decode_record(src: &Bytes, pos: &mut usize) -> Result<Record, DecodeError> {
    if let Some((end, record)) = fast_read(src, *pos) {
        *pos = end;
        return Ok(record);
    }
    read_record::<true>(src, pos)
}

/// [`decode_record`] without the lean pass: the reference the fuzz properties compare it with.
pub(crate) fn decode_record_full(src: &Bytes, pos: &mut usize) -> Result<Record, DecodeError> {
    read_record::<true>(src, pos)
}

/// Checks one record exactly as [`decode_record`] does, without taking its blobs; returns its
/// offset delta. Used by validation walks; the same lean pass ([`fast_ref`]) and fallback as
/// [`decode_record`].
pub(crate) fn skip_record(src: &Bytes, pos: &mut usize) -> Result<i32, DecodeError> {
    if let Some((end, record)) = fast_ref(src, *pos) {
        *pos = end;
        return Ok(record.offset_delta);
    }
    read_record::<false>(src, pos).map(|r| r.offset_delta)
}

/// Unsigned LEB128 of at most `max_bytes` bytes from `buf` at `*p`; `None` where the full reader
/// would fail.
#[inline(always)]
fn fast_uvarlong(buf: &[u8], p: &mut usize, max_bytes: usize) -> Option<u64> {
    let first = *buf.get(*p)?;
    *p += 1;
    if first & 0x80 == 0 {
        return Some(u64::from(first));
    }
    let mut value = u64::from(first & 0x7f);
    for i in 1..max_bytes {
        let byte = *buf.get(*p)?;
        *p += 1;
        let shift = 7 * i as u32;
        let bits = u64::from(byte & 0x7f);
        if shift == 63 && bits > 1 {
            return None;
        }
        value |= bits << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

#[inline(always)]
fn fast_varint(buf: &[u8], p: &mut usize) -> Option<i32> {
    let raw = u32::try_from(fast_uvarlong(buf, p, 5)?).ok()?;
    Some(((raw >> 1) as i32) ^ -((raw & 1) as i32))
}

/// Steps over a nullable blob inside `buf`: `Some(None)` for null, `Some(Some((from, len)))`
/// otherwise; `None` for a length below -1 or past the end.
#[inline(always)]
fn fast_blob(buf: &[u8], p: &mut usize) -> Option<Option<(usize, usize)>> {
    let len = fast_varint(buf, p)?;
    if len == -1 {
        return Some(None);
    }
    let n = usize::try_from(len).ok()?;
    if n > buf.len() - *p {
        return None;
    }
    let from = *p;
    *p += n;
    Some(Some((from, n)))
}

/// [`fast_ref`] with the blobs taken as slices of `src` sharing its memory (an empty one
/// touches no reference count).
#[inline(always)]
fn fast_read(src: &Bytes, start: usize) -> Option<(usize, Record)> {
    let (end, r) = fast_ref(src, start)?;
    let share = |b: &[u8]| src.slice_ref(b);
    Some((
        end,
        Record {
            attributes: r.attributes,
            timestamp_delta: r.timestamp_delta,
            offset_delta: r.offset_delta,
            key: r.key.map(share),
            value: r.value.map(share),
            headers: r
                .headers()
                .map(|(key, value)| RecordHeader {
                    key: share(key),
                    value: value.map(share),
                })
                .collect(),
        },
    ))
}

/// The one record reader behind [`decode_record`] and [`skip_record`]: every check is made in
/// both modes; without `KEEP`, keys and values are empty placeholders and headers are not
/// collected. On error `*pos` is unspecified.
#[inline(always)]
fn read_record<const KEEP: bool>(src: &Bytes, pos: &mut usize) -> Result<Record, DecodeError> {
    let mut c = Cursor {
        buf: src,
        pos: *pos,
    };
    let len_at = c.pos;
    let len = c.varint()?;
    let body_len = match usize::try_from(len) {
        Ok(n) if n <= c.remaining() => n,
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
    let end = c.pos + body_len;
    let attributes = c.i8()?;
    let timestamp_delta = c.varlong()?;
    let offset_delta = c.varint()?;
    let key = varint_bytes::<KEEP>(&mut c, src, "record key")?;
    let value = varint_bytes::<KEEP>(&mut c, src, "record value")?;
    let count_at = c.pos;
    let count = c.varint()?;
    // Each header takes at least two bytes (two length varints): bound the count by what is
    // left of the record before reserving anything.
    let left = end.saturating_sub(c.pos);
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
    let mut headers = if KEEP && count > 0 {
        Vec::with_capacity(count)
    } else {
        Vec::new()
    };
    for _ in 0..count {
        let key_at = c.pos;
        let Some(key) = varint_bytes::<KEEP>(&mut c, src, "header key")? else {
            return Err(DecodeError::new(
                key_at,
                DecodeErrorKind::UnexpectedNull {
                    field: "header key",
                },
            ));
        };
        let value = varint_bytes::<KEEP>(&mut c, src, "header value")?;
        if KEEP {
            headers.push(RecordHeader { key, value });
        }
    }
    if c.pos != end {
        return Err(DecodeError::new(
            len_at,
            DecodeErrorKind::CorruptBatch {
                what: "record length differs from the record's contents",
            },
        ));
    }
    *pos = c.pos;
    Ok(Record {
        attributes,
        timestamp_delta,
        offset_delta,
        key,
        value,
        headers,
    })
}

/// After the announced number of records: `None` when the batch ends there, else the error
/// for the bytes left over.
fn trailing_bytes(pos: usize, len: usize) -> Option<DecodeError> {
    (pos != len).then(|| {
        DecodeError::new(
            pos,
            DecodeErrorKind::CorruptBatch {
                what: "bytes left after the last record",
            },
        )
    })
}

/// Where an iteration over `count` records stands: the shared stepping of [`Records`] and
/// [`RecordRefs`] (count down, then check for trailing bytes; stop after the first error).
#[derive(Debug, Clone)]
struct Countdown {
    pos: usize,
    left: usize,
    done: bool,
}

impl Countdown {
    fn new(pos: usize, count: usize) -> Self {
        Self {
            pos,
            left: count,
            done: false,
        }
    }

    fn remaining(&self) -> usize {
        if self.done { 0 } else { self.left }
    }

    /// The next record read by `read` (which advances the position), or the trailing-bytes
    /// check once `count` records were read; nothing after an error.
    #[inline]
    fn step<T>(
        &mut self,
        src_len: usize,
        read: impl FnOnce(&mut usize) -> Result<T, DecodeError>,
    ) -> Option<Result<T, DecodeError>> {
        if self.done {
            return None;
        }
        if self.left == 0 {
            self.done = true;
            return trailing_bytes(self.pos, src_len).map(Err);
        }
        self.left -= 1;
        let result = read(&mut self.pos);
        if result.is_err() {
            self.done = true;
        }
        Some(result)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.remaining().saturating_add(1)))
    }
}

/// Iterator over the plain records of a batch, from [`crate::RecordBatch::records`].
///
/// Yields exactly `records_count` records, then checks that nothing is left; on any error it
/// yields the error (offset from the start of the batch) and then ends.
#[derive(Debug, Clone)]
pub struct Records {
    src: Bytes,
    countdown: Countdown,
}

impl Records {
    /// Iterates `count` records of `src` from `pos` to its end.
    pub(crate) fn new(src: Bytes, pos: usize, count: usize) -> Self {
        Self {
            src,
            countdown: Countdown::new(pos, count),
        }
    }

    /// Offset, from the start of the batch, of the next record.
    pub fn position(&self) -> usize {
        self.countdown.pos
    }

    /// Records still to come, as announced by the batch header.
    pub fn remaining_count(&self) -> usize {
        self.countdown.remaining()
    }
}

impl Iterator for Records {
    type Item = Result<Record, DecodeError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let src = &self.src;
        self.countdown
            .step(src.len(), |pos| decode_record(src, pos))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.countdown.size_hint()
    }
}

/// One record borrowed from its batch: the same fields as [`Record`], with keys, values and
/// headers as plain slices, so iterating takes no reference count and allocates nothing.
/// From [`crate::RecordBatch::records_ref`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordRef<'a> {
    /// Record attributes (unused by the protocol, 0).
    pub attributes: i8,
    /// Timestamp minus the batch's `base_timestamp`.
    pub timestamp_delta: i64,
    /// Offset minus the batch's `base_offset`.
    pub offset_delta: i32,
    /// Key; `None` is null.
    pub key: Option<&'a [u8]>,
    /// Value; `None` is null (a tombstone).
    pub value: Option<&'a [u8]>,
    /// The record's header region, already checked to hold `header_count` well-formed headers.
    headers: &'a [u8],
    header_count: usize,
}

impl<'a> RecordRef<'a> {
    /// How many headers the record has.
    pub fn header_count(&self) -> usize {
        self.header_count
    }

    /// The headers in order, as `(key, value)` (`None` is a null value).
    pub fn headers(&self) -> HeaderRefs<'a> {
        HeaderRefs {
            buf: self.headers,
            pos: 0,
            left: self.header_count,
        }
    }
}

/// Iterator over a [`RecordRef`]'s headers.
#[derive(Debug, Clone)]
pub struct HeaderRefs<'a> {
    buf: &'a [u8],
    pos: usize,
    left: usize,
}

impl<'a> Iterator for HeaderRefs<'a> {
    type Item = (&'a [u8], Option<&'a [u8]>);

    fn next(&mut self) -> Option<Self::Item> {
        // The region was checked when the record was read; `None` here would mean it was not,
        // and ends the iteration rather than panicking.
        self.left = self.left.checked_sub(1)?;
        let key = fast_blob(self.buf, &mut self.pos)??;
        let value = fast_blob(self.buf, &mut self.pos)?;
        let slice = |(from, len): (usize, usize)| self.buf.get(from..from + len);
        Some((
            slice(key)?,
            match value {
                None => None,
                Some(v) => Some(slice(v)?),
            },
        ))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

/// The well-formed case of [`read_record`], behind all three readers (owned, borrowed, the
/// validation walk): every read is bounded by the record's own end, so when this returns
/// `Some((end, record))` the full reader reads the very same bytes and returns the same record.
/// `None` means "not sure": the full reader then accepts it too or names the error.
#[inline(always)]
fn fast_ref(src: &[u8], start: usize) -> Option<(usize, RecordRef<'_>)> {
    let mut p = start;
    let len = usize::try_from(fast_varint(src, &mut p)?).ok()?;
    let end = p.checked_add(len)?;
    let body = src.get(..end)?;
    let attributes = *body.get(p)? as i8;
    p += 1;
    let raw = fast_uvarlong(body, &mut p, 10)?;
    let timestamp_delta = ((raw >> 1) as i64) ^ -((raw & 1) as i64);
    let offset_delta = fast_varint(body, &mut p)?;
    let key = fast_blob(body, &mut p)?;
    let value = fast_blob(body, &mut p)?;
    let count = usize::try_from(fast_varint(body, &mut p)?).ok()?;
    if count > (end - p) / 2 {
        return None;
    }
    let headers_from = p;
    for _ in 0..count {
        fast_blob(body, &mut p)??; // a null header key goes to the full reader
        fast_blob(body, &mut p)?;
    }
    if p != end {
        return None;
    }
    let slice = |b: Option<(usize, usize)>| match b {
        None => Some(None),
        Some((from, len)) => body.get(from..from + len).map(Some),
    };
    Some((
        end,
        RecordRef {
            attributes,
            timestamp_delta,
            offset_delta,
            key: slice(key)?,
            value: slice(value)?,
            headers: body.get(headers_from..end)?,
            header_count: count,
        },
    ))
}

/// Iterator over the plain records of a batch as borrowed [`RecordRef`]s, from
/// [`crate::RecordBatch::records_ref`]: the same records, checks and errors as [`Records`].
#[derive(Debug, Clone)]
pub struct RecordRefs<'a> {
    src: &'a Bytes,
    countdown: Countdown,
}

impl<'a> RecordRefs<'a> {
    /// Iterates `count` records of `src` from `pos` to its end.
    pub(crate) fn new(src: &'a Bytes, pos: usize, count: usize) -> Self {
        Self {
            src,
            countdown: Countdown::new(pos, count),
        }
    }

    /// Offset, from the start of the batch, of the next record.
    pub fn position(&self) -> usize {
        self.countdown.pos
    }
}

impl<'a> Iterator for RecordRefs<'a> {
    type Item = Result<RecordRef<'a>, DecodeError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let src: &'a Bytes = self.src;
        self.countdown.step(src.len(), |pos| {
            if let Some((end, record)) = fast_ref(src, *pos) {
                *pos = end;
                return Ok(record);
            }
            // The lean reader refuses exactly what the full reader refuses (the
            // `wire_records` fuzz property checks both iterators agree); the full reader names
            // the error.
            let at = *pos;
            Err(match read_record::<false>(src, pos) {
                Err(e) => e,
                Ok(_) => DecodeError::new(
                    at,
                    DecodeErrorKind::CorruptBatch {
                        what: "record not accepted by the borrowing reader",
                    },
                ),
            })
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.countdown.size_hint()
    }
}
