//! Size-prefixed frames (NOTES.md A.1).
//!
//! Every request and every response is an `int32` size followed by that many bytes:
//!
//! ```text
//! +-----------------+---------------------------------+
//! | size: int32 BE  | size bytes: header + body       |
//! +-----------------+---------------------------------+
//! ```
//!
//! [`FrameDecoder`] cuts frames out of a receive buffer as bytes arrive; [`encode_frame`]
//! prefixes an encoded message with its size, keeping large blobs as separate chunks.

use crate::codec::Encoder;
use crate::error::{DecodeError, DecodeErrorKind, EncodeError};
use bytes::{Bytes, BytesMut};

/// Kafka's `socket.request.max.bytes` default: 100 MiB.
pub const DEFAULT_MAX_FRAME_BYTES: usize = 100 * 1024 * 1024;

/// The most a decoder reserves at once for a frame still arriving. Growing the buffer in such
/// steps, as bytes come, means an announced size is never trusted for an allocation.
const RESERVE_STEP_BYTES: usize = 64 * 1024;

const SIZE_PREFIX_BYTES: usize = 4;

/// Incremental decoder of size-prefixed frames.
///
/// ```
/// use bytes::{BufMut, BytesMut};
/// use semel_wire::FrameDecoder;
///
/// let decoder = FrameDecoder::default();
/// let mut buf = BytesMut::new();
/// buf.put_i32(3);
/// buf.put_slice(b"ab");
/// assert_eq!(decoder.decode(&mut buf).unwrap(), None); // one byte still missing
/// buf.put_u8(b'c');
/// assert_eq!(&decoder.decode(&mut buf).unwrap().unwrap()[..], b"abc");
/// assert!(buf.is_empty());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameDecoder {
    /// Largest frame accepted (the size prefix excluded). Larger announced sizes are an error
    /// before anything is buffered or allocated.
    pub max_frame_bytes: usize,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        Self {
            max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
        }
    }
}

impl FrameDecoder {
    /// A decoder accepting frames of at most `max_frame_bytes` (size prefix excluded).
    pub fn new(max_frame_bytes: usize) -> Self {
        Self { max_frame_bytes }
    }

    /// Takes the next complete frame (without its size prefix) out of `buf`.
    ///
    /// Returns `Ok(None)` when the frame has not fully arrived; `buf` is then left as it was,
    /// except that up to 64 KiB of spare capacity may be reserved for the bytes still to come
    /// (never the announced size, which is untrusted).
    ///
    /// # Errors
    /// A negative size prefix is [`DecodeErrorKind::InvalidLength`], one above
    /// `max_frame_bytes` is [`DecodeErrorKind::FrameTooLarge`]; both at offset 0 and checked as
    /// soon as the four prefix bytes are there. The connection cannot be resynchronised after
    /// either: close it.
    pub fn decode(&self, buf: &mut BytesMut) -> Result<Option<Bytes>, DecodeError> {
        let Some(prefix) = buf.get(..SIZE_PREFIX_BYTES) else {
            return Ok(None);
        };
        let size = i32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]);
        let Ok(size) = usize::try_from(size) else {
            return Err(DecodeError::new(
                0,
                DecodeErrorKind::InvalidLength {
                    what: "frame",
                    len: i64::from(size),
                },
            ));
        };
        if size > self.max_frame_bytes {
            return Err(DecodeError::new(
                0,
                DecodeErrorKind::FrameTooLarge {
                    size: size as i64,
                    max: self.max_frame_bytes,
                },
            ));
        }
        let arrived = buf.len() - SIZE_PREFIX_BYTES;
        if arrived < size {
            let missing = size - arrived;
            let spare = buf.capacity() - buf.len();
            if spare < missing {
                buf.reserve(missing.min(RESERVE_STEP_BYTES));
            }
            return Ok(None);
        }
        let mut frame = buf.split_to(SIZE_PREFIX_BYTES + size);
        let _prefix = frame.split_to(SIZE_PREFIX_BYTES);
        Ok(Some(frame.freeze()))
    }
}

/// Prefixes an encoded message with its size, for a vectored write.
///
/// The first chunk is the 4-byte size; the encoder's chunks follow unchanged, so large blobs
/// (record batches) still share memory with where they came from.
///
/// # Errors
/// [`EncodeError::TooLong`] if the message is larger than an `int32` size can express.
pub fn encode_frame(body: Encoder) -> Result<Vec<Bytes>, EncodeError> {
    let len = body.len();
    let size = i32::try_from(len).map_err(|_| EncodeError::TooLong { what: "frame", len })?;
    let mut chunks = Vec::with_capacity(4);
    chunks.push(Bytes::copy_from_slice(&size.to_be_bytes()));
    chunks.extend(body.into_chunks());
    Ok(chunks)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BufMut;
    use proptest::prelude::*;

    fn framed(payload: &[u8]) -> Vec<u8> {
        let mut v = (payload.len() as i32).to_be_bytes().to_vec();
        v.extend_from_slice(payload);
        v
    }

    #[test]
    fn a_partial_prefix_waits() {
        let mut buf = BytesMut::from(&[0u8, 0][..]);
        assert_eq!(FrameDecoder::default().decode(&mut buf).unwrap(), None);
        assert_eq!(buf.len(), 2);
    }

    #[test]
    fn an_empty_frame_is_returned_empty() {
        let mut buf = BytesMut::from(&framed(b"")[..]);
        let frame = FrameDecoder::default().decode(&mut buf).unwrap().unwrap();
        assert!(frame.is_empty());
        assert!(buf.is_empty());
    }

    #[test]
    fn a_negative_size_is_an_invalid_length() {
        let mut buf = BytesMut::from(&(-5i32).to_be_bytes()[..]);
        let err = FrameDecoder::default().decode(&mut buf).unwrap_err();
        assert_eq!(err.offset, 0);
        assert_eq!(
            err.kind,
            DecodeErrorKind::InvalidLength {
                what: "frame",
                len: -5
            }
        );
        assert_eq!(err.kafka_error_code(), 42);
    }

    #[test]
    fn an_oversized_frame_is_refused_before_its_bytes_arrive() {
        let mut buf = BytesMut::new();
        buf.put_i32(i32::MAX);
        let before = buf.capacity();
        let err = FrameDecoder::new(1024).decode(&mut buf).unwrap_err();
        assert_eq!(
            err.kind,
            DecodeErrorKind::FrameTooLarge {
                size: i64::from(i32::MAX),
                max: 1024
            }
        );
        assert_eq!(buf.capacity(), before);
    }

    #[test]
    fn the_default_maximum_is_100_mib_inclusive() {
        let mut buf = BytesMut::new();
        buf.put_i32(DEFAULT_MAX_FRAME_BYTES as i32);
        assert_eq!(FrameDecoder::default().decode(&mut buf).unwrap(), None);
        let mut buf = BytesMut::new();
        buf.put_i32(DEFAULT_MAX_FRAME_BYTES as i32 + 1);
        assert!(FrameDecoder::default().decode(&mut buf).is_err());
    }

    #[test]
    fn a_large_announced_size_reserves_at_most_one_step() {
        let mut buf = BytesMut::new();
        buf.put_i32(50 * 1024 * 1024);
        buf.put_slice(&[1, 2, 3]);
        assert_eq!(FrameDecoder::default().decode(&mut buf).unwrap(), None);
        assert!(buf.capacity() <= 7 + RESERVE_STEP_BYTES + 64);
        assert_eq!(&buf[4..], &[1, 2, 3]);
    }

    #[test]
    fn encode_frame_prefixes_the_size_and_keeps_blobs_shared() {
        let blob = Bytes::from(vec![9u8; 2048]);
        let mut e = Encoder::new();
        e.put_i16(7);
        e.put_bytes(&blob, false).unwrap();
        let chunks = encode_frame(e).unwrap();
        assert_eq!(&chunks[0][..], &(2 + 4 + 2048i32).to_be_bytes());
        assert!(chunks.iter().any(|c| c.as_ptr() == blob.as_ptr()));
        let mut buf = BytesMut::new();
        for c in &chunks {
            buf.put_slice(c);
        }
        let frame = FrameDecoder::default().decode(&mut buf).unwrap().unwrap();
        assert_eq!(frame.len(), 2054);
        assert_eq!(&frame[6..], &blob[..]);
    }

    proptest! {
        /// Frames fed in arbitrary pieces come out whole, in order, with nothing left over.
        #[test]
        fn frames_survive_any_split_of_the_stream(
            payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..8),
            cuts in proptest::collection::vec(1usize..200, 1..40),
        ) {
            let stream: Vec<u8> = payloads.iter().flat_map(|p| framed(p)).collect();
            let decoder = FrameDecoder::new(1000);
            let mut buf = BytesMut::new();
            let mut out = Vec::new();
            let mut pos = 0;
            let mut cut = cuts.iter().cycle();
            while pos < stream.len() {
                let n = (*cut.next().unwrap()).min(stream.len() - pos);
                buf.put_slice(&stream[pos..pos + n]);
                pos += n;
                while let Some(frame) = decoder.decode(&mut buf).unwrap() {
                    out.push(frame.to_vec());
                }
            }
            prop_assert_eq!(out, payloads);
            prop_assert!(buf.is_empty());
        }

        /// Arbitrary bytes give frames, a wait or an error; never a panic, never a frame above
        /// the limit.
        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut buf = BytesMut::from(&data[..]);
            let decoder = FrameDecoder::new(16);
            while let Ok(Some(frame)) = decoder.decode(&mut buf) {
                prop_assert!(frame.len() <= 16);
            }
        }
    }
}
