//! Helpers shared by the generated message code: arrays, nullable structs, tagged sections and
//! encoded lengths. Hand-written; the generated modules call these.

use super::Codec;
use crate::codec::{UnknownTags, Uuid, uvarint_len};
use crate::{DecodeError, DecodeErrorKind, Decoder, EncodeError, Encoder};
use bytes::Bytes;

/// A value that can be an array element.
pub(crate) trait Element: Sized {
    /// Decodes one element.
    fn decode_elem(d: &mut Decoder, version: i16, compact: bool) -> Result<Self, DecodeError>;
    /// Encodes one element.
    fn encode_elem(&self, e: &mut Encoder, version: i16, compact: bool) -> Result<(), EncodeError>;
    /// The encoded length of one element.
    fn elem_len(&self, version: i16, compact: bool) -> usize;
}

macro_rules! fixed_element {
    ($ty:ty, $get:ident, $put:ident, $len:expr) => {
        impl Element for $ty {
            fn decode_elem(d: &mut Decoder, _: i16, _: bool) -> Result<Self, DecodeError> {
                d.$get()
            }
            fn encode_elem(&self, e: &mut Encoder, _: i16, _: bool) -> Result<(), EncodeError> {
                e.$put(*self);
                Ok(())
            }
            fn elem_len(&self, _: i16, _: bool) -> usize {
                $len
            }
        }
    };
}

fixed_element!(bool, bool, put_bool, 1);
fixed_element!(i8, i8, put_i8, 1);
fixed_element!(i16, i16, put_i16, 2);
fixed_element!(i32, i32, put_i32, 4);
fixed_element!(i64, i64, put_i64, 8);
fixed_element!(u16, u16, put_u16, 2);
fixed_element!(u32, u32, put_u32, 4);
fixed_element!(f64, f64, put_f64, 8);

impl Element for Uuid {
    fn decode_elem(d: &mut Decoder, _: i16, _: bool) -> Result<Self, DecodeError> {
        d.uuid()
    }
    fn encode_elem(&self, e: &mut Encoder, _: i16, _: bool) -> Result<(), EncodeError> {
        e.put_uuid(self);
        Ok(())
    }
    fn elem_len(&self, _: i16, _: bool) -> usize {
        16
    }
}

impl Element for String {
    fn decode_elem(d: &mut Decoder, _: i16, compact: bool) -> Result<Self, DecodeError> {
        d.string(compact, "array element")
    }
    fn encode_elem(&self, e: &mut Encoder, _: i16, compact: bool) -> Result<(), EncodeError> {
        e.put_string(self, compact)
    }
    fn elem_len(&self, _: i16, compact: bool) -> usize {
        str_len(self, compact)
    }
}

impl Element for Bytes {
    fn decode_elem(d: &mut Decoder, _: i16, compact: bool) -> Result<Self, DecodeError> {
        d.bytes(compact, "array element")
    }
    fn encode_elem(&self, e: &mut Encoder, _: i16, compact: bool) -> Result<(), EncodeError> {
        e.put_bytes(self, compact)
    }
    fn elem_len(&self, _: i16, compact: bool) -> usize {
        bytes_len(self, compact)
    }
}

/// Most elements reserved up front; a longer array grows as its elements actually decode.
const MAX_RESERVE: usize = 1024;

/// Decodes a nullable array.
pub(crate) fn decode_nullable_vec<T: Element>(
    d: &mut Decoder,
    version: i16,
    compact: bool,
) -> Result<Option<Vec<T>>, DecodeError> {
    let Some(n) = d.array_len(compact)? else {
        return Ok(None);
    };
    let mut out = Vec::with_capacity(n.min(MAX_RESERVE));
    for _ in 0..n {
        out.push(T::decode_elem(d, version, compact)?);
    }
    Ok(Some(out))
}

/// Decodes a non-nullable array.
pub(crate) fn decode_vec<T: Element>(
    d: &mut Decoder,
    version: i16,
    compact: bool,
    field: &'static str,
) -> Result<Vec<T>, DecodeError> {
    let start = d.position();
    decode_nullable_vec(d, version, compact)?
        .ok_or_else(|| DecodeError::new(start, DecodeErrorKind::UnexpectedNull { field }))
}

/// Encodes a nullable array.
pub(crate) fn encode_nullable_vec<T: Element>(
    e: &mut Encoder,
    v: Option<&[T]>,
    version: i16,
    compact: bool,
) -> Result<(), EncodeError> {
    e.put_array_len(v.map(<[T]>::len), compact)?;
    for x in v.unwrap_or_default() {
        x.encode_elem(e, version, compact)?;
    }
    Ok(())
}

/// Encodes a non-nullable array.
pub(crate) fn encode_vec<T: Element>(
    e: &mut Encoder,
    v: &[T],
    version: i16,
    compact: bool,
) -> Result<(), EncodeError> {
    encode_nullable_vec(e, Some(v), version, compact)
}

/// Decodes a nullable struct: int8 -1 = null, anything else = present.
pub(crate) fn decode_nullable_struct<T: Codec>(
    d: &mut Decoder,
    version: i16,
) -> Result<Option<T>, DecodeError> {
    if d.i8()? < 0 {
        Ok(None)
    } else {
        T::decode(d, version).map(Some)
    }
}

/// Encodes a nullable struct with its int8 presence marker.
pub(crate) fn encode_nullable_struct<T: Codec>(
    e: &mut Encoder,
    v: Option<&T>,
    version: i16,
) -> Result<(), EncodeError> {
    match v {
        None => {
            e.put_i8(-1);
            Ok(())
        }
        Some(s) => {
            e.put_i8(1);
            s.encode(e, version)
        }
    }
}

/// The value of a nullable field in a version where it must not be null.
pub(crate) fn non_null<T>(
    v: Option<T>,
    field: &'static str,
    version: i16,
) -> Result<T, EncodeError> {
    v.ok_or(EncodeError::NullNotAllowed { field, version })
}

/// Writes a tagged-field section: `known` (already encoded) plus the unknown tags that are not
/// known tags of this version (those belong to the typed fields).
pub(crate) fn put_tagged(
    e: &mut Encoder,
    known: &[(u32, Bytes)],
    unknown: &UnknownTags,
    is_known: impl Fn(u32) -> bool,
) -> Result<(), EncodeError> {
    if unknown.keys().any(|t| is_known(*t)) {
        let filtered: UnknownTags = unknown
            .iter()
            .filter(|(t, _)| !is_known(**t))
            .map(|(t, b)| (*t, b.clone()))
            .collect();
        e.put_tagged_fields(known, &filtered)
    } else {
        e.put_tagged_fields(known, unknown)
    }
}

/// The encoded length of a tagged-field section (see [`put_tagged`]).
pub(crate) fn tagged_len(
    known: &[(u32, usize)],
    unknown: &UnknownTags,
    is_known: impl Fn(u32) -> bool,
) -> usize {
    let entry =
        |tag: u32, size: usize| uvarint_len(u64::from(tag)) + uvarint_len(size as u64) + size;
    let mut count = known.len();
    let mut n: usize = known.iter().map(|(t, s)| entry(*t, *s)).sum();
    for (t, b) in unknown {
        if !is_known(*t) {
            count += 1;
            n += entry(*t, b.len());
        }
    }
    uvarint_len(count as u64) + n
}

fn prefix_len(len: Option<usize>, compact: bool, wide: bool) -> usize {
    match (len, compact) {
        (None, true) => 1,
        (Some(n), true) => uvarint_len(n as u64 + 1),
        (_, false) if wide => 4,
        (_, false) => 2,
    }
}

/// Encoded length of a string.
pub(crate) fn str_len(s: &str, compact: bool) -> usize {
    prefix_len(Some(s.len()), compact, false) + s.len()
}

/// Encoded length of a nullable string.
pub(crate) fn nullable_str_len(s: Option<&str>, compact: bool) -> usize {
    prefix_len(s.map(str::len), compact, false) + s.map_or(0, str::len)
}

/// Encoded length of bytes.
pub(crate) fn bytes_len(b: &Bytes, compact: bool) -> usize {
    nullable_bytes_len(Some(b), compact)
}

/// Encoded length of nullable bytes.
pub(crate) fn nullable_bytes_len(b: Option<&Bytes>, compact: bool) -> usize {
    prefix_len(b.map(Bytes::len), compact, true) + b.map_or(0, Bytes::len)
}

/// Encoded length of a nullable `records` field.
pub(crate) fn nullable_record_set_len(r: Option<&crate::RecordSet>, compact: bool) -> usize {
    prefix_len(r.map(crate::RecordSet::len), compact, true) + r.map_or(0, crate::RecordSet::len)
}

/// Encoded length of an array.
pub(crate) fn vec_len<T: Element>(v: &[T], version: i16, compact: bool) -> usize {
    nullable_vec_len(Some(v), version, compact)
}

/// Encoded length of a nullable array.
pub(crate) fn nullable_vec_len<T: Element>(v: Option<&[T]>, version: i16, compact: bool) -> usize {
    prefix_len(v.map(<[T]>::len), compact, true)
        + v.unwrap_or_default()
            .iter()
            .map(|x| x.elem_len(version, compact))
            .sum::<usize>()
}

/// Encoded length of a nullable struct, marker included.
pub(crate) fn nullable_struct_len<T: Codec>(v: Option<&T>, version: i16) -> usize {
    1 + v.map_or(0, |s| s.encoded_len(version))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tagged_len_matches_put_tagged() {
        let mut unknown = UnknownTags::new();
        unknown.insert(3, Bytes::from_static(&[1, 2, 3]));
        unknown.insert(200, Bytes::from(vec![9u8; 300]));
        unknown.insert(0, Bytes::from_static(&[7]));
        let known = [(1u32, Bytes::from_static(&[5, 6]))];
        let is_known = |t: u32| t <= 1;
        let mut e = Encoder::new();
        put_tagged(&mut e, &known, &unknown, is_known).unwrap();
        assert_eq!(e.len(), tagged_len(&[(1, 2)], &unknown, is_known));
        // Tag 0 is a known tag of this version: the stale unknown copy is not written.
        let mut d = Decoder::new(e.into_bytes());
        let back = d.tagged_fields(|_, _| Ok(false)).unwrap();
        assert_eq!(back.keys().copied().collect::<Vec<_>>(), vec![1, 3, 200]);
    }

    #[test]
    fn a_null_array_where_none_is_allowed_is_an_error() {
        let mut d = Decoder::new(Bytes::from_static(&[0xff, 0xff, 0xff, 0xff]));
        let err = decode_vec::<i32>(&mut d, 0, false, "Topics").unwrap_err();
        assert_eq!(
            err.kind,
            DecodeErrorKind::UnexpectedNull { field: "Topics" }
        );
    }

    #[test]
    fn a_huge_array_count_does_not_reserve_memory_up_front() {
        // Count 1000 compact (uvarint 1001) with only 3 bytes after it: refused by length check.
        let mut d = Decoder::new(Bytes::from_static(&[0xe9, 0x07, 1, 2, 3]));
        assert!(decode_nullable_vec::<i32>(&mut d, 0, true).is_err());
    }
}
