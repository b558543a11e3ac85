//! Primitive encodings of the Kafka protocol (NOTES.md A.2): fixed-width integers, varints,
//! UUIDs, classic and compact strings, bytes and arrays, and tagged-field sections.
//!
//! [`Decoder`] reads from a [`Bytes`] without copying blobs: `bytes` and `records` fields come
//! out as slices sharing the input. Every read checks the remaining length first, so a decoder
//! never panics and never allocates more than the input justifies.
//!
//! [`Encoder`] writes into a growable buffer, and hands large blobs (`records`) through as
//! separate chunks so that a response can be written with vectored I/O without copying them.

use crate::error::{DecodeError, DecodeErrorKind, EncodeError};
use bytes::{Buf, BufMut, Bytes, BytesMut};
use std::collections::BTreeMap;

/// A 128-bit UUID as Kafka sends it: 16 raw bytes. The all-zero value means "none".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Uuid(pub [u8; 16]);

impl Uuid {
    /// The all-zero UUID, Kafka's "no id".
    pub const ZERO: Uuid = Uuid([0; 16]);
}

/// Tagged fields this crate does not know, kept so that decode → encode gives back the same bytes.
pub type UnknownTags = BTreeMap<u32, Bytes>;

/// A cursor over untrusted input.
#[derive(Debug, Clone)]
pub struct Decoder {
    buf: Bytes,
    total: usize,
}

impl Decoder {
    /// Starts decoding `buf`; error offsets count from its first byte.
    pub fn new(buf: Bytes) -> Self {
        let total = buf.len();
        Self { buf, total }
    }

    /// Offset of the next byte to read, from the start of the input.
    pub fn position(&self) -> usize {
        self.total - self.buf.len()
    }

    /// Bytes not yet read.
    pub fn remaining(&self) -> usize {
        self.buf.len()
    }

    /// Whether every byte has been read.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// An error of `kind` at the current position.
    pub fn error(&self, kind: DecodeErrorKind) -> DecodeError {
        DecodeError::new(self.position(), kind)
    }

    /// Fails unless every byte has been read.
    ///
    /// # Errors
    /// [`DecodeErrorKind::TrailingBytes`] when input is left.
    pub fn finish(&self) -> Result<(), DecodeError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(self.error(DecodeErrorKind::TrailingBytes {
                len: self.buf.len(),
            }))
        }
    }

    fn need(&self, n: usize) -> Result<(), DecodeError> {
        if self.buf.len() < n {
            Err(self.error(DecodeErrorKind::Truncated {
                needed: n,
                remaining: self.buf.len(),
            }))
        } else {
            Ok(())
        }
    }

    /// Takes the next `n` bytes as a shared slice of the input.
    ///
    /// # Errors
    /// [`DecodeErrorKind::Truncated`] if fewer than `n` bytes are left.
    pub fn take(&mut self, n: usize) -> Result<Bytes, DecodeError> {
        self.need(n)?;
        Ok(self.buf.split_to(n))
    }

    /// Reads a `bool` (one byte; any non-zero value is true, as in Kafka).
    ///
    /// # Errors
    /// [`DecodeErrorKind::Truncated`] at the end of input.
    pub fn bool(&mut self) -> Result<bool, DecodeError> {
        Ok(self.i8()? != 0)
    }

    /// Reads an `int8`.
    ///
    /// # Errors
    /// [`DecodeErrorKind::Truncated`] at the end of input.
    pub fn i8(&mut self) -> Result<i8, DecodeError> {
        self.need(1)?;
        Ok(self.buf.get_i8())
    }

    /// Reads a big-endian `int16`.
    ///
    /// # Errors
    /// [`DecodeErrorKind::Truncated`] at the end of input.
    pub fn i16(&mut self) -> Result<i16, DecodeError> {
        self.need(2)?;
        Ok(self.buf.get_i16())
    }

    /// Reads a big-endian `uint16`.
    ///
    /// # Errors
    /// [`DecodeErrorKind::Truncated`] at the end of input.
    pub fn u16(&mut self) -> Result<u16, DecodeError> {
        self.need(2)?;
        Ok(self.buf.get_u16())
    }

    /// Reads a big-endian `int32`.
    ///
    /// # Errors
    /// [`DecodeErrorKind::Truncated`] at the end of input.
    pub fn i32(&mut self) -> Result<i32, DecodeError> {
        self.need(4)?;
        Ok(self.buf.get_i32())
    }

    /// Reads a big-endian `uint32`.
    ///
    /// # Errors
    /// [`DecodeErrorKind::Truncated`] at the end of input.
    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        self.need(4)?;
        Ok(self.buf.get_u32())
    }

    /// Reads a big-endian `int64`.
    ///
    /// # Errors
    /// [`DecodeErrorKind::Truncated`] at the end of input.
    pub fn i64(&mut self) -> Result<i64, DecodeError> {
        self.need(8)?;
        Ok(self.buf.get_i64())
    }

    /// Reads a big-endian IEEE-754 `float64`.
    ///
    /// # Errors
    /// [`DecodeErrorKind::Truncated`] at the end of input.
    pub fn f64(&mut self) -> Result<f64, DecodeError> {
        self.need(8)?;
        Ok(self.buf.get_f64())
    }

    /// Reads a 16-byte UUID.
    ///
    /// # Errors
    /// [`DecodeErrorKind::Truncated`] at the end of input.
    pub fn uuid(&mut self) -> Result<Uuid, DecodeError> {
        self.need(16)?;
        let mut raw = [0u8; 16];
        self.buf.copy_to_slice(&mut raw);
        Ok(Uuid(raw))
    }

    /// Reads an unsigned LEB128 varint of at most 32 bits.
    ///
    /// # Errors
    /// [`DecodeErrorKind::Truncated`] or [`DecodeErrorKind::VarintTooLong`].
    pub fn uvarint(&mut self) -> Result<u32, DecodeError> {
        let start = self.position();
        let value = self.uvarlong_bits(5)?;
        u32::try_from(value).map_err(|_| DecodeError::new(start, DecodeErrorKind::VarintTooLong))
    }

    /// Reads an unsigned LEB128 varint of at most 64 bits.
    ///
    /// # Errors
    /// [`DecodeErrorKind::Truncated`] or [`DecodeErrorKind::VarintTooLong`].
    pub fn uvarlong(&mut self) -> Result<u64, DecodeError> {
        self.uvarlong_bits(10)
    }

    fn uvarlong_bits(&mut self, max_bytes: usize) -> Result<u64, DecodeError> {
        let start = self.position();
        let mut value: u64 = 0;
        for i in 0..max_bytes {
            let byte = self.i8()? as u8;
            let shift = 7 * i as u32;
            let bits = u64::from(byte & 0x7f);
            // The last allowed byte may only carry the bits that still fit in 64 bits.
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

    /// Reads a zigzag-encoded signed 32-bit varint (used inside records).
    ///
    /// # Errors
    /// [`DecodeErrorKind::Truncated`] or [`DecodeErrorKind::VarintTooLong`].
    pub fn varint(&mut self) -> Result<i32, DecodeError> {
        let raw = self.uvarint()?;
        Ok(((raw >> 1) as i32) ^ -((raw & 1) as i32))
    }

    /// Reads a zigzag-encoded signed 64-bit varint (used inside records).
    ///
    /// # Errors
    /// [`DecodeErrorKind::Truncated`] or [`DecodeErrorKind::VarintTooLong`].
    pub fn varlong(&mut self) -> Result<i64, DecodeError> {
        let raw = self.uvarlong()?;
        Ok(((raw >> 1) as i64) ^ -((raw & 1) as i64))
    }

    /// Reads a length prefix: `int16`/`int32` in classic form (-1 = null), uvarint length + 1
    /// in compact form (0 = null). The length is checked against the remaining input.
    fn length(
        &mut self,
        compact: bool,
        wide: bool,
        what: &'static str,
    ) -> Result<Option<usize>, DecodeError> {
        let start = self.position();
        let len: i64 = if compact {
            i64::from(self.uvarint()?) - 1
        } else if wide {
            i64::from(self.i32()?)
        } else {
            i64::from(self.i16()?)
        };
        if len == -1 {
            return Ok(None);
        }
        match usize::try_from(len) {
            Ok(n) if n <= self.remaining() => Ok(Some(n)),
            _ => Err(DecodeError::new(
                start,
                DecodeErrorKind::InvalidLength { what, len },
            )),
        }
    }

    /// Reads a nullable string: `int16` length (classic) or uvarint length + 1 (compact).
    ///
    /// # Errors
    /// Truncated input, an impossible length, or invalid UTF-8.
    pub fn nullable_string(&mut self, compact: bool) -> Result<Option<String>, DecodeError> {
        let start = self.position();
        let Some(len) = self.length(compact, false, "string")? else {
            return Ok(None);
        };
        let raw = self.take(len)?;
        match std::str::from_utf8(&raw) {
            Ok(s) => Ok(Some(s.to_owned())),
            Err(_) => Err(DecodeError::new(start, DecodeErrorKind::InvalidUtf8)),
        }
    }

    /// Reads a non-nullable string.
    ///
    /// # Errors
    /// As [`Decoder::nullable_string`], and [`DecodeErrorKind::UnexpectedNull`] on null.
    pub fn string(&mut self, compact: bool, field: &'static str) -> Result<String, DecodeError> {
        let start = self.position();
        self.nullable_string(compact)?
            .ok_or_else(|| DecodeError::new(start, DecodeErrorKind::UnexpectedNull { field }))
    }

    /// Reads nullable bytes: `int32` length (classic) or uvarint length + 1 (compact), as a
    /// zero-copy slice of the input.
    ///
    /// # Errors
    /// Truncated input or an impossible length.
    pub fn nullable_bytes(&mut self, compact: bool) -> Result<Option<Bytes>, DecodeError> {
        match self.length(compact, true, "bytes")? {
            None => Ok(None),
            Some(len) => Ok(Some(self.take(len)?)),
        }
    }

    /// Reads non-nullable bytes.
    ///
    /// # Errors
    /// As [`Decoder::nullable_bytes`], and [`DecodeErrorKind::UnexpectedNull`] on null.
    pub fn bytes(&mut self, compact: bool, field: &'static str) -> Result<Bytes, DecodeError> {
        let start = self.position();
        self.nullable_bytes(compact)?
            .ok_or_else(|| DecodeError::new(start, DecodeErrorKind::UnexpectedNull { field }))
    }

    /// Reads an array's element count: `int32` (classic, -1 = null) or uvarint count + 1
    /// (compact, 0 = null). The count is bounded by the remaining bytes (every element takes at
    /// least one byte), so a caller may reserve `count` elements safely.
    ///
    /// # Errors
    /// Truncated input or an impossible count.
    pub fn array_len(&mut self, compact: bool) -> Result<Option<usize>, DecodeError> {
        self.length(compact, true, "array")
    }

    /// Reads a tagged-field section, handing each tag to `known`; tags `known` does not claim
    /// (it returns `Ok(false)`) are kept in the returned map. `known` gets a decoder over
    /// exactly the tag's bytes and must consume all of them.
    ///
    /// # Errors
    /// Truncated input, impossible sizes, tags out of order or repeated, or `known`'s errors.
    pub fn tagged_fields(
        &mut self,
        mut known: impl FnMut(u32, &mut Decoder) -> Result<bool, DecodeError>,
    ) -> Result<UnknownTags, DecodeError> {
        let count_at = self.position();
        let count = self.uvarint()? as usize;
        // Each tag takes at least two bytes (tag, size).
        if count > self.remaining() / 2 {
            return Err(DecodeError::new(
                count_at,
                DecodeErrorKind::InvalidLength {
                    what: "tagged fields",
                    len: count as i64,
                },
            ));
        }
        let mut unknown = UnknownTags::new();
        let mut previous: Option<u32> = None;
        for _ in 0..count {
            let tag_at = self.position();
            let tag = self.uvarint()?;
            if previous.is_some_and(|p| tag <= p) {
                return Err(DecodeError::new(
                    tag_at,
                    DecodeErrorKind::InvalidValue {
                        what: "tagged fields out of order or repeated",
                    },
                ));
            }
            previous = Some(tag);
            let size_at = self.position();
            let size = self.uvarint()? as usize;
            if size > self.remaining() {
                return Err(DecodeError::new(
                    size_at,
                    DecodeErrorKind::InvalidLength {
                        what: "tagged field",
                        len: size as i64,
                    },
                ));
            }
            let body_at = self.position();
            let body = self.take(size)?;
            // Error offsets stay absolute: the inner decoder's position starts at `body_at`.
            let mut inner = Decoder {
                total: body_at + body.len(),
                buf: body.clone(),
            };
            if known(tag, &mut inner)? {
                inner.finish()?;
            } else {
                unknown.insert(tag, body);
            }
        }
        Ok(unknown)
    }
}

/// A growable output buffer that passes large blobs through as separate chunks.
#[derive(Debug, Default)]
pub struct Encoder {
    buf: BytesMut,
    chunks: Vec<Bytes>,
    len: usize,
}

/// Blobs at least this long are passed through as chunks instead of being copied.
const CHUNK_THRESHOLD: usize = 1024;

impl Encoder {
    /// An empty encoder.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty encoder with room for `capacity` bytes before it grows.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            buf: BytesMut::with_capacity(capacity),
            chunks: Vec::new(),
            len: 0,
        }
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing has been written.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The output as chunks in order, for a vectored write. Large blobs are their own chunks and
    /// share memory with the values they came from.
    pub fn into_chunks(mut self) -> Vec<Bytes> {
        if !self.buf.is_empty() {
            self.chunks.push(self.buf.freeze());
        }
        self.chunks
    }

    /// The output as one contiguous buffer (copies only if large blobs were passed through).
    pub fn into_bytes(self) -> Bytes {
        let mut chunks = self.into_chunks();
        if chunks.len() == 1 {
            return chunks.pop().unwrap_or_default();
        }
        let total = chunks.iter().map(Bytes::len).sum();
        let mut out = BytesMut::with_capacity(total);
        for chunk in chunks {
            out.extend_from_slice(&chunk);
        }
        out.freeze()
    }

    /// Writes raw bytes (copied).
    pub fn put_slice(&mut self, bytes: &[u8]) {
        self.buf.put_slice(bytes);
        self.len += bytes.len();
    }

    /// Writes a shared blob; large ones become their own chunk instead of being copied.
    pub fn put_shared(&mut self, bytes: &Bytes) {
        if bytes.len() >= CHUNK_THRESHOLD {
            if !self.buf.is_empty() {
                let head = self.buf.split().freeze();
                self.chunks.push(head);
            }
            self.chunks.push(bytes.clone());
            self.len += bytes.len();
        } else {
            self.put_slice(bytes);
        }
    }

    /// Writes a `bool` as one byte.
    pub fn put_bool(&mut self, v: bool) {
        self.put_i8(i8::from(v));
    }

    /// Writes an `int8`.
    pub fn put_i8(&mut self, v: i8) {
        self.buf.put_i8(v);
        self.len += 1;
    }

    /// Writes a big-endian `int16`.
    pub fn put_i16(&mut self, v: i16) {
        self.buf.put_i16(v);
        self.len += 2;
    }

    /// Writes a big-endian `uint16`.
    pub fn put_u16(&mut self, v: u16) {
        self.buf.put_u16(v);
        self.len += 2;
    }

    /// Writes a big-endian `int32`.
    pub fn put_i32(&mut self, v: i32) {
        self.buf.put_i32(v);
        self.len += 4;
    }

    /// Writes a big-endian `uint32`.
    pub fn put_u32(&mut self, v: u32) {
        self.buf.put_u32(v);
        self.len += 4;
    }

    /// Writes a big-endian `int64`.
    pub fn put_i64(&mut self, v: i64) {
        self.buf.put_i64(v);
        self.len += 8;
    }

    /// Writes a big-endian `float64`.
    pub fn put_f64(&mut self, v: f64) {
        self.buf.put_f64(v);
        self.len += 8;
    }

    /// Writes a UUID's 16 bytes.
    pub fn put_uuid(&mut self, v: &Uuid) {
        self.put_slice(&v.0);
    }

    /// Writes an unsigned LEB128 varint.
    pub fn put_uvarint(&mut self, v: u32) {
        self.put_uvarlong(u64::from(v));
    }

    /// Writes an unsigned LEB128 varlong.
    pub fn put_uvarlong(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.buf.put_u8((v as u8) | 0x80);
            self.len += 1;
            v >>= 7;
        }
        self.buf.put_u8(v as u8);
        self.len += 1;
    }

    /// Writes a zigzag-encoded signed varint.
    pub fn put_varint(&mut self, v: i32) {
        self.put_uvarint(((v << 1) ^ (v >> 31)) as u32);
    }

    /// Writes a zigzag-encoded signed varlong.
    pub fn put_varlong(&mut self, v: i64) {
        self.put_uvarlong(((v << 1) ^ (v >> 63)) as u64);
    }

    /// Writes a length prefix: null as -1 (classic) or 0 (compact).
    fn put_length(
        &mut self,
        len: Option<usize>,
        compact: bool,
        wide: bool,
        what: &'static str,
    ) -> Result<(), EncodeError> {
        let too_long = |len| EncodeError::TooLong { what, len };
        match (len, compact) {
            (None, true) => self.put_uvarint(0),
            (None, false) if wide => self.put_i32(-1),
            (None, false) => self.put_i16(-1),
            (Some(n), true) => {
                let n1 = u32::try_from(n)
                    .ok()
                    .and_then(|n| n.checked_add(1))
                    .ok_or(too_long(n))?;
                self.put_uvarint(n1);
            }
            (Some(n), false) if wide => self.put_i32(i32::try_from(n).map_err(|_| too_long(n))?),
            (Some(n), false) => self.put_i16(i16::try_from(n).map_err(|_| too_long(n))?),
        }
        Ok(())
    }

    /// Writes a nullable string in classic or compact form.
    ///
    /// # Errors
    /// [`EncodeError::TooLong`] if the length does not fit its prefix.
    pub fn put_nullable_string(
        &mut self,
        v: Option<&str>,
        compact: bool,
    ) -> Result<(), EncodeError> {
        self.put_length(v.map(str::len), compact, false, "string")?;
        if let Some(s) = v {
            self.put_slice(s.as_bytes());
        }
        Ok(())
    }

    /// Writes a non-nullable string in classic or compact form.
    ///
    /// # Errors
    /// [`EncodeError::TooLong`] if the length does not fit its prefix.
    pub fn put_string(&mut self, v: &str, compact: bool) -> Result<(), EncodeError> {
        self.put_nullable_string(Some(v), compact)
    }

    /// Writes nullable bytes in classic or compact form; large blobs are not copied.
    ///
    /// # Errors
    /// [`EncodeError::TooLong`] if the length does not fit its prefix.
    pub fn put_nullable_bytes(
        &mut self,
        v: Option<&Bytes>,
        compact: bool,
    ) -> Result<(), EncodeError> {
        self.put_length(v.map(Bytes::len), compact, true, "bytes")?;
        if let Some(b) = v {
            self.put_shared(b);
        }
        Ok(())
    }

    /// Writes non-nullable bytes in classic or compact form; large blobs are not copied.
    ///
    /// # Errors
    /// [`EncodeError::TooLong`] if the length does not fit its prefix.
    pub fn put_bytes(&mut self, v: &Bytes, compact: bool) -> Result<(), EncodeError> {
        self.put_nullable_bytes(Some(v), compact)
    }

    /// Writes a nullable `records` field: its length prefix (as for bytes), then every chunk of
    /// the set, large ones passed through without copying.
    ///
    /// # Errors
    /// [`EncodeError::TooLong`] if the length does not fit its prefix.
    pub fn put_nullable_record_set(
        &mut self,
        v: Option<&crate::RecordSet>,
        compact: bool,
    ) -> Result<(), EncodeError> {
        self.put_length(v.map(crate::RecordSet::len), compact, true, "records")?;
        if let Some(set) = v {
            for chunk in set.chunks() {
                self.put_shared(chunk);
            }
        }
        Ok(())
    }

    /// Writes an array's element count (`None` = null array).
    ///
    /// # Errors
    /// [`EncodeError::TooLong`] if the count does not fit its prefix.
    pub fn put_array_len(&mut self, len: Option<usize>, compact: bool) -> Result<(), EncodeError> {
        self.put_length(len, compact, true, "array")
    }

    /// Writes a tagged-field section: the known fields (already encoded, with their tags) merged
    /// with the unknown ones, in ascending tag order.
    ///
    /// # Errors
    /// [`EncodeError::TooLong`] if a field is larger than a varint can express.
    pub fn put_tagged_fields(
        &mut self,
        known: &[(u32, Bytes)],
        unknown: &UnknownTags,
    ) -> Result<(), EncodeError> {
        let mut all: Vec<(u32, &Bytes)> = known.iter().map(|(t, b)| (*t, b)).collect();
        all.extend(unknown.iter().map(|(t, b)| (*t, b)));
        all.sort_by_key(|(t, _)| *t);
        all.dedup_by_key(|(t, _)| *t);
        let count = u32::try_from(all.len()).map_err(|_| EncodeError::TooLong {
            what: "tagged fields",
            len: all.len(),
        })?;
        self.put_uvarint(count);
        for (tag, body) in all {
            self.put_uvarint(tag);
            let size = u32::try_from(body.len()).map_err(|_| EncodeError::TooLong {
                what: "tagged field",
                len: body.len(),
            })?;
            self.put_uvarint(size);
            self.put_shared(body);
        }
        Ok(())
    }
}

/// The length of `v` as an unsigned varint, in bytes.
pub fn uvarint_len(v: u64) -> usize {
    let bits = 64 - (v | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn uvarlong_round_trips(v in any::<u64>()) {
            let mut e = Encoder::new();
            e.put_uvarlong(v);
            prop_assert_eq!(e.len(), uvarint_len(v));
            let mut d = Decoder::new(e.into_bytes());
            prop_assert_eq!(d.uvarlong().unwrap(), v);
            prop_assert!(d.is_empty());
        }

        #[test]
        fn varint_round_trips(v in any::<i32>()) {
            let mut e = Encoder::new();
            e.put_varint(v);
            let mut d = Decoder::new(e.into_bytes());
            prop_assert_eq!(d.varint().unwrap(), v);
        }

        #[test]
        fn varlong_round_trips(v in any::<i64>()) {
            let mut e = Encoder::new();
            e.put_varlong(v);
            let mut d = Decoder::new(e.into_bytes());
            prop_assert_eq!(d.varlong().unwrap(), v);
        }

        #[test]
        fn strings_round_trip(v in proptest::option::of(".{0,40}"), compact in any::<bool>()) {
            let mut e = Encoder::new();
            e.put_nullable_string(v.as_deref(), compact).unwrap();
            let mut d = Decoder::new(e.into_bytes());
            prop_assert_eq!(d.nullable_string(compact).unwrap(), v);
            prop_assert!(d.is_empty());
        }

        #[test]
        fn decoding_arbitrary_bytes_never_panics(data in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut d = Decoder::new(Bytes::from(data));
            let _ = d.clone().nullable_string(true);
            let _ = d.clone().nullable_bytes(false);
            let _ = d.clone().array_len(true);
            let _ = d.tagged_fields(|_, _| Ok(false));
        }
    }

    #[test]
    fn zigzag_matches_the_spec_examples() {
        for (v, raw) in [
            (0i32, 0u32),
            (-1, 1),
            (1, 2),
            (-2, 3),
            (i32::MAX, u32::MAX - 1),
            (i32::MIN, u32::MAX),
        ] {
            let mut e = Encoder::new();
            e.put_varint(v);
            let mut d = Decoder::new(e.into_bytes());
            assert_eq!(d.clone().uvarint().unwrap(), raw);
            assert_eq!(d.varint().unwrap(), v);
        }
    }

    #[test]
    fn an_overlong_uvarint_is_an_error() {
        let mut d = Decoder::new(Bytes::from_static(&[0xff, 0xff, 0xff, 0xff, 0x7f]));
        assert_eq!(
            d.uvarint().unwrap_err().kind,
            DecodeErrorKind::VarintTooLong
        );
        let mut d = Decoder::new(Bytes::from_static(&[0x80; 11]));
        assert_eq!(
            d.uvarlong().unwrap_err().kind,
            DecodeErrorKind::VarintTooLong
        );
    }

    #[test]
    fn a_length_larger_than_the_input_is_refused_before_allocating() {
        // int32 length 2 GiB with three bytes of payload.
        let mut d = Decoder::new(Bytes::from_static(&[0x7f, 0xff, 0xff, 0xff, 1, 2, 3]));
        let err = d.nullable_bytes(false).unwrap_err();
        assert_eq!(err.offset, 0);
        assert!(matches!(
            err.kind,
            DecodeErrorKind::InvalidLength {
                what: "bytes",
                len: 2147483647
            }
        ));
        let mut d = Decoder::new(Bytes::from_static(&[0x7f, 0xff, 0xff, 0xff]));
        assert!(d.array_len(false).is_err());
    }

    #[test]
    fn null_markers_in_both_forms() {
        let mut d = Decoder::new(Bytes::from_static(&[0xff, 0xff, 0x00]));
        assert_eq!(d.nullable_string(false).unwrap(), None);
        assert_eq!(d.nullable_string(true).unwrap(), None);
        let mut d = Decoder::new(Bytes::from_static(&[0xff, 0xff]));
        assert_eq!(
            d.string(false, "Name").unwrap_err().kind,
            DecodeErrorKind::UnexpectedNull { field: "Name" }
        );
    }

    #[test]
    fn unknown_tags_are_kept_and_written_back_in_order() {
        // Two tags: 1 -> [0xaa], 5 -> [0xbb, 0xcc].
        let input = Bytes::from_static(&[2, 1, 1, 0xaa, 5, 2, 0xbb, 0xcc]);
        let mut d = Decoder::new(input.clone());
        let unknown = d.tagged_fields(|_, _| Ok(false)).unwrap();
        assert!(d.is_empty());
        assert_eq!(unknown.len(), 2);
        let mut e = Encoder::new();
        e.put_tagged_fields(&[], &unknown).unwrap();
        assert_eq!(e.into_bytes(), input);
    }

    #[test]
    fn tags_out_of_order_are_refused() {
        let mut d = Decoder::new(Bytes::from_static(&[2, 5, 0, 1, 0]));
        assert!(matches!(
            d.tagged_fields(|_, _| Ok(false)).unwrap_err().kind,
            DecodeErrorKind::InvalidValue { .. }
        ));
    }

    #[test]
    fn large_blobs_are_passed_through_without_copying() {
        let blob = Bytes::from(vec![7u8; 4096]);
        let mut e = Encoder::new();
        e.put_i32(1);
        e.put_bytes(&blob, false).unwrap();
        e.put_i16(2);
        let chunks = e.into_chunks();
        assert_eq!(chunks.len(), 3);
        assert_eq!(chunks[1].as_ptr(), blob.as_ptr());
    }
}
