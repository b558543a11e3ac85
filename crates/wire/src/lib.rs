//! semel-wire: the Kafka wire protocol as bytes in, typed values out, and back.
//!
//! Sans-IO: no sockets, no async runtime. Every decoder returns a `Result` and never panics on
//! any input; a length field is checked against the bytes that remain before anything is
//! allocated. [`DecodeError`] says what failed and at which byte.

mod batch;
mod codec;
mod error;
mod frame;
pub mod messages;
mod record_set;

#[doc(hidden)]
pub mod fuzzing;

pub use codec::{Decoder, Encoder, UnknownTags, Uuid, uvarint_len};
pub use error::{DecodeError, DecodeErrorKind, EncodeError};
pub use messages::{
    ApiKey, Codec, Message, RequestBody, RequestHeader, ResponseBody, ResponseHeader,
    decode_request, decode_request_header, decode_response, encode_request, encode_response,
};

pub use batch::{
    Compression, ControlRecordType, EndTxnMarker, HeaderRefs, RECORD_BATCH_HEADER_BYTES, Record,
    RecordBatch, RecordBatchBuilder, RecordBatchHeader, RecordBatches, RecordHeader, RecordRef,
    RecordRefs, Records, TimestampType, patch_base_offset, patch_log_append_time,
    patch_partition_leader_epoch,
};
pub use frame::{DEFAULT_MAX_FRAME_BYTES, FrameDecoder, encode_frame};
pub use record_set::RecordSet;
