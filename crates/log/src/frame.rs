//! The on-disk entry framing and the pure recovery scan over a segment's bytes.
//!
//! ```text
//! 0      4      8             16            20               28
//! +------+------+-------------+-------------+----------------+------------------+
//! | len  | crc  | base_offset | record_count| max_timestamp  | payload ...      |
//! | u32  | u32  | u64         | u32         | i64            | len - 28 bytes   |
//! +------+------+-------------+-------------+----------------+------------------+
//! ```
//!
//! All integers are little-endian. `len` is the whole frame length, header included, so a
//! zero `len` marks preallocated space that was never written. `crc` is CRC-32 (crc32fast,
//! IEEE polynomial) over every byte after it: the rest of the header and the payload.

/// Bytes of the frame header.
pub(crate) const HEADER_LEN: usize = 28;

/// The largest frame the format can describe.
pub(crate) const MAX_FRAME_LEN: u64 = u32::MAX as u64;

/// A decoded frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    /// Whole frame length in bytes, header included.
    pub(crate) frame_len: u32,
    /// CRC-32 over the bytes after the CRC field.
    pub(crate) crc: u32,
    /// Offset of the first record of the entry.
    pub(crate) base_offset: u64,
    /// Number of records (offsets) the entry holds; at least one.
    pub(crate) record_count: u32,
    /// The largest timestamp of the entry's records, as given by the appender.
    pub(crate) max_timestamp: i64,
}

impl Header {
    /// The offset after the entry's last record.
    pub(crate) fn next_offset(&self) -> u64 {
        self.base_offset
            .saturating_add(u64::from(self.record_count))
    }

    /// Payload length in bytes.
    pub(crate) fn payload_len(&self) -> usize {
        (self.frame_len as usize).saturating_sub(HEADER_LEN)
    }
}

/// Why a frame did not decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FrameError {
    /// Fewer than [`HEADER_LEN`] bytes remain, or the length field is zero: the end of what was
    /// ever written (not corruption by itself).
    End,
    /// The length field is shorter than a header or runs past the end of the segment.
    BadLength,
    /// The CRC does not match the bytes.
    BadCrc,
    /// The record count is zero.
    ZeroRecords,
    /// The base offset is not the one the previous entry ends at.
    WrongOffset,
}

impl FrameError {
    /// A short human description, used in error messages.
    pub(crate) fn describe(self) -> &'static str {
        match self {
            FrameError::End => "unwritten space",
            FrameError::BadLength => "length field out of bounds",
            FrameError::BadCrc => "CRC mismatch",
            FrameError::ZeroRecords => "record count is zero",
            FrameError::WrongOffset => "base offset does not follow the previous entry",
        }
    }
}

fn u32_at(buf: &[u8], at: usize) -> u32 {
    let mut b = [0u8; 4];
    if let Some(s) = buf.get(at..at + 4) {
        b.copy_from_slice(s);
    }
    u32::from_le_bytes(b)
}

fn u64_at(buf: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    if let Some(s) = buf.get(at..at + 8) {
        b.copy_from_slice(s);
    }
    u64::from_le_bytes(b)
}

/// Decodes the header at `pos` without checking the CRC. Checks the length against `buf`.
pub(crate) fn decode_header(buf: &[u8], pos: usize) -> Result<Header, FrameError> {
    let Some(head) = buf.get(pos..).and_then(|rest| rest.get(..HEADER_LEN)) else {
        return Err(FrameError::End);
    };
    let frame_len = u32_at(head, 0);
    if frame_len == 0 {
        return Err(FrameError::End);
    }
    let remaining = buf.len() - pos;
    if (frame_len as usize) < HEADER_LEN || frame_len as usize > remaining {
        return Err(FrameError::BadLength);
    }
    Ok(Header {
        frame_len,
        crc: u32_at(head, 4),
        base_offset: u64_at(head, 8),
        record_count: u32_at(head, 16),
        max_timestamp: u64_at(head, 20) as i64,
    })
}

/// Decodes and fully verifies the frame at `pos` (length, CRC, record count).
pub(crate) fn decode_verified(buf: &[u8], pos: usize) -> Result<Header, FrameError> {
    let header = decode_header(buf, pos)?;
    let frame = buf
        .get(pos..pos + header.frame_len as usize)
        .ok_or(FrameError::BadLength)?;
    if crc32fast::hash(&frame[8..]) != header.crc {
        return Err(FrameError::BadCrc);
    }
    if header.record_count == 0 {
        return Err(FrameError::ZeroRecords);
    }
    Ok(header)
}

/// Writes the header fields after the CRC (`base_offset`, `record_count`, `max_timestamp`)
/// into `frame[8..28]`. The length and CRC are written by [`seal_frame`].
pub(crate) fn write_fields(frame: &mut [u8], base_offset: u64, record_count: u32, max_ts: i64) {
    if let Some(f) = frame.get_mut(8..HEADER_LEN) {
        f[0..8].copy_from_slice(&base_offset.to_le_bytes());
        f[8..12].copy_from_slice(&record_count.to_le_bytes());
        f[12..20].copy_from_slice(&max_ts.to_le_bytes());
    }
}

/// Computes the CRC over `frame[8..]` and writes it, then the length field. The length is
/// written last so that a frame whose length is visible has all its other bytes in place
/// (for readers inside this process; on disk, the CRC is what detects tearing).
pub(crate) fn seal_frame(frame: &mut [u8]) {
    if frame.len() < HEADER_LEN {
        return;
    }
    let crc = crc32fast::hash(&frame[8..]);
    frame[4..8].copy_from_slice(&crc.to_le_bytes());
    let len = u32::try_from(frame.len()).unwrap_or(0);
    frame[0..4].copy_from_slice(&len.to_le_bytes());
}

/// Encodes one whole frame into a fresh vector (tests, fuzz seeds and the copy path).
pub(crate) fn encode_frame(
    base_offset: u64,
    record_count: u32,
    max_timestamp: i64,
    payload: &[u8],
) -> Vec<u8> {
    let mut frame = vec![0u8; HEADER_LEN + payload.len()];
    write_fields(&mut frame, base_offset, record_count, max_timestamp);
    frame[HEADER_LEN..].copy_from_slice(payload);
    seal_frame(&mut frame);
    frame
}

/// What a recovery scan found in one segment's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Scan {
    /// Every whole, valid entry in order, with its byte position.
    pub(crate) entries: Vec<(usize, Header)>,
    /// Byte position just after the last valid entry (0 when there is none).
    pub(crate) end: usize,
    /// The offset after the last valid entry (the segment's base offset when there is none).
    pub(crate) next_offset: u64,
    /// Why the scan stopped at `end`: `End` when it met unwritten space or the end of the
    /// buffer, anything else is damage.
    pub(crate) stop: FrameError,
    /// Whether every byte from `end` to the end of the buffer is zero.
    pub(crate) tail_clean: bool,
}

/// Scans a segment's bytes from the start: entries must be whole, CRC-valid, hold at least
/// one record and carry contiguous offsets starting at `base_offset`. The first entry that
/// fails ends the scan. Never panics, never allocates more than one index slot per valid
/// entry (each at least [`HEADER_LEN`] bytes of input).
pub(crate) fn scan(buf: &[u8], base_offset: u64) -> Scan {
    let mut entries = Vec::new();
    let mut pos = 0usize;
    let mut next_offset = base_offset;
    let stop = loop {
        match decode_verified(buf, pos) {
            Ok(h) if h.base_offset != next_offset => break FrameError::WrongOffset,
            Ok(h) => {
                entries.push((pos, h));
                pos += h.frame_len as usize;
                next_offset = h.next_offset();
            }
            Err(e) => break e,
        }
    };
    let tail_clean = buf.get(pos..).is_none_or(|t| t.iter().all(|&b| b == 0));
    Scan {
        entries,
        end: pos,
        next_offset,
        stop,
        tail_clean,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_frame_decodes_back() {
        let f = encode_frame(7, 3, -5, b"hello");
        let h = decode_verified(&f, 0).unwrap();
        assert_eq!(h.frame_len as usize, HEADER_LEN + 5);
        assert_eq!((h.base_offset, h.record_count, h.max_timestamp), (7, 3, -5));
        assert_eq!(h.next_offset(), 10);
    }

    #[test]
    fn zero_length_is_end_not_damage() {
        let buf = [0u8; 64];
        assert_eq!(decode_header(&buf, 0), Err(FrameError::End));
        let s = scan(&buf, 9);
        assert_eq!(
            (s.end, s.next_offset, s.stop, s.tail_clean),
            (0, 9, FrameError::End, true)
        );
    }

    #[test]
    fn length_past_buffer_is_bad_length() {
        let mut f = encode_frame(0, 1, 0, b"abc");
        f.truncate(f.len() - 1);
        assert_eq!(decode_header(&f, 0), Err(FrameError::BadLength));
    }

    #[test]
    fn scan_stops_at_offset_gap() {
        let mut buf = encode_frame(0, 2, 0, b"a");
        buf.extend(encode_frame(5, 1, 0, b"b"));
        let s = scan(&buf, 0);
        assert_eq!(s.entries.len(), 1);
        assert_eq!(s.stop, FrameError::WrongOffset);
        assert!(!s.tail_clean);
    }

    #[test]
    fn scan_rejects_zero_record_entries() {
        let buf = encode_frame(0, 0, 0, b"a");
        assert_eq!(scan(&buf, 0).stop, FrameError::ZeroRecords);
    }
}
