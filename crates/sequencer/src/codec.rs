//! Big-endian field reading and writing shared by the snapshot and producer-id block records.

use crate::SequencerError;

/// A cursor over untrusted bytes: every read checks the remaining length first.
pub(crate) struct Reader<'a> {
    what: &'static str,
    bytes: &'a [u8],
    offset: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(what: &'static str, bytes: &'a [u8]) -> Self {
        Reader {
            what,
            bytes,
            offset: 0,
        }
    }

    pub(crate) fn offset(&self) -> usize {
        self.offset
    }

    pub(crate) fn remaining(&self) -> usize {
        self.bytes.len().saturating_sub(self.offset)
    }

    /// The bytes from the current position to the end.
    pub(crate) fn rest(&self) -> &'a [u8] {
        self.bytes.get(self.offset..).unwrap_or(&[])
    }

    pub(crate) fn take<const N: usize>(&mut self) -> Result<[u8; N], SequencerError> {
        let slice = self.bytes.get(self.offset..).and_then(|rest| rest.get(..N));
        match slice.and_then(|s| <[u8; N]>::try_from(s).ok()) {
            Some(array) => {
                self.offset += N;
                Ok(array)
            }
            None => Err(SequencerError::Truncated {
                what: self.what,
                offset: self.offset,
                needed: N,
                had: self.remaining(),
            }),
        }
    }

    pub(crate) fn u8(&mut self) -> Result<u8, SequencerError> {
        Ok(u8::from_be_bytes(self.take()?))
    }

    pub(crate) fn u16(&mut self) -> Result<u16, SequencerError> {
        Ok(u16::from_be_bytes(self.take()?))
    }

    pub(crate) fn i16(&mut self) -> Result<i16, SequencerError> {
        Ok(i16::from_be_bytes(self.take()?))
    }

    pub(crate) fn u32(&mut self) -> Result<u32, SequencerError> {
        Ok(u32::from_be_bytes(self.take()?))
    }

    pub(crate) fn i32(&mut self) -> Result<i32, SequencerError> {
        Ok(i32::from_be_bytes(self.take()?))
    }

    pub(crate) fn i64(&mut self) -> Result<i64, SequencerError> {
        Ok(i64::from_be_bytes(self.take()?))
    }

    /// An error about the field that starts at `offset`.
    pub(crate) fn invalid(&self, offset: usize, reason: &'static str) -> SequencerError {
        SequencerError::InvalidField {
            what: self.what,
            offset,
            reason,
        }
    }

    /// Checks the header shared by every record of this crate: magic, version, CRC-32 of the rest.
    pub(crate) fn header(&mut self, magic: [u8; 4], version: u16) -> Result<(), SequencerError> {
        let found: [u8; 4] = self.take()?;
        if found != magic {
            return Err(SequencerError::BadMagic {
                what: self.what,
                found,
            });
        }
        let found_version = self.u16()?;
        if found_version != version {
            return Err(SequencerError::UnsupportedVersion {
                what: self.what,
                version: found_version,
            });
        }
        let stored = self.u32()?;
        let computed = crc32fast::hash(self.rest());
        if stored != computed {
            return Err(SequencerError::ChecksumMismatch {
                what: self.what,
                stored,
                computed,
            });
        }
        Ok(())
    }

    /// Fails if any byte remains.
    pub(crate) fn finish(&self) -> Result<(), SequencerError> {
        match self.remaining() {
            0 => Ok(()),
            count => Err(SequencerError::TrailingBytes {
                what: self.what,
                offset: self.offset,
                count,
            }),
        }
    }
}

/// Size of the common header: magic (4), version (2), CRC-32 (4).
pub(crate) const HEADER_LEN: usize = 10;

/// Starts a record: magic, version and a CRC placeholder that [`seal`] fills in.
pub(crate) fn begin(out: &mut Vec<u8>, magic: [u8; 4], version: u16) -> usize {
    let start = out.len();
    out.extend_from_slice(&magic);
    out.extend_from_slice(&version.to_be_bytes());
    out.extend_from_slice(&[0; 4]);
    start
}

/// Writes the CRC-32 of everything after the header of the record that starts at `start`.
pub(crate) fn seal(out: &mut [u8], start: usize) {
    let crc = crc32fast::hash(out.get(start + HEADER_LEN..).unwrap_or(&[]));
    if let Some(field) = out.get_mut(start + 6..start + HEADER_LEN) {
        field.copy_from_slice(&crc.to_be_bytes());
    }
}

/// `body` behind a valid header (used by the fuzzing module to get past the checksum).
pub(crate) fn with_header(magic: [u8; 4], version: u16, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + body.len());
    let start = begin(&mut out, magic, version);
    out.extend_from_slice(body);
    seal(&mut out, start);
    out
}
