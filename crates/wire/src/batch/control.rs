//! Control records: the commit and abort markers of transactions (NOTES.md B.5, D.8).

use super::records::Record;
use crate::codec::Decoder;
use crate::error::{DecodeError, DecodeErrorKind};
use bytes::Bytes;

/// The type in a control record's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ControlRecordType {
    /// Transaction aborted (type 0).
    Abort,
    /// Transaction committed (type 1).
    Commit,
    /// Any other type (2-6 are KRaft-internal); readers ignore it.
    Unknown(i16),
}

impl ControlRecordType {
    /// The type for its wire id.
    pub fn from_id(id: i16) -> Self {
        match id {
            0 => Self::Abort,
            1 => Self::Commit,
            other => Self::Unknown(other),
        }
    }

    /// The wire id.
    pub fn id(self) -> i16 {
        match self {
            Self::Abort => 0,
            Self::Commit => 1,
            Self::Unknown(id) => id,
        }
    }

    /// The 4-byte control record key: `int16 version (0)`, `int16 type`.
    pub fn encode_key(self) -> Bytes {
        let mut key = [0u8; 4];
        key[2..].copy_from_slice(&self.id().to_be_bytes());
        Bytes::copy_from_slice(&key)
    }

    /// Reads a control record key. A version above 0 is read the same way (its first four bytes
    /// keep their meaning), as Kafka does.
    ///
    /// # Errors
    /// A key shorter than 4 bytes or with a negative version; offsets count from the key.
    pub fn decode_key(key: &Bytes) -> Result<Self, DecodeError> {
        let mut d = Decoder::new(key.clone());
        let version = d.i16()?;
        if version < 0 {
            return Err(DecodeError::new(
                0,
                DecodeErrorKind::InvalidValue {
                    what: "negative control record key version",
                },
            ));
        }
        Ok(Self::from_id(d.i16()?))
    }
}

/// A transaction marker: the single record of a control batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EndTxnMarker {
    /// Commit or abort.
    pub kind: ControlRecordType,
    /// Epoch of the transaction coordinator that wrote the marker.
    pub coordinator_epoch: i32,
}

impl EndTxnMarker {
    /// The 6-byte marker value: `int16 version (0)`, `int32 coordinator_epoch`.
    pub fn encode_value(&self) -> Bytes {
        let mut value = [0u8; 6];
        value[2..].copy_from_slice(&self.coordinator_epoch.to_be_bytes());
        Bytes::copy_from_slice(&value)
    }

    /// The control record carrying this marker, at offset delta 0.
    pub fn to_record(&self) -> Record {
        Record {
            attributes: 0,
            timestamp_delta: 0,
            offset_delta: 0,
            key: Some(self.kind.encode_key()),
            value: Some(self.encode_value()),
            headers: Vec::new(),
        }
    }

    /// Reads the marker from a control record; `None` for a type other than commit/abort.
    /// `at` is the record's offset, used in errors.
    ///
    /// # Errors
    /// A missing or short key or value, or a negative version.
    pub(crate) fn from_record(record: &Record, at: usize) -> Result<Option<Self>, DecodeError> {
        let shift = |mut e: DecodeError| {
            e.offset += at;
            e
        };
        let Some(key) = &record.key else {
            return Err(DecodeError::new(
                at,
                DecodeErrorKind::UnexpectedNull {
                    field: "control record key",
                },
            ));
        };
        let kind = ControlRecordType::decode_key(key).map_err(shift)?;
        if let ControlRecordType::Unknown(_) = kind {
            return Ok(None);
        }
        let Some(value) = &record.value else {
            return Err(DecodeError::new(
                at,
                DecodeErrorKind::UnexpectedNull {
                    field: "end transaction marker",
                },
            ));
        };
        let mut d = Decoder::new(value.clone());
        let version = d.i16().map_err(shift)?;
        if version < 0 {
            return Err(DecodeError::new(
                at,
                DecodeErrorKind::InvalidValue {
                    what: "negative end transaction marker version",
                },
            ));
        }
        let coordinator_epoch = d.i32().map_err(shift)?;
        Ok(Some(Self {
            kind,
            coordinator_epoch,
        }))
    }
}
