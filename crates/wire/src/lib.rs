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

#[doc(hidden)]
pub mod fuzzing;

pub use codec::{Decoder, Encoder, UnknownTags, Uuid, uvarint_len};
pub use error::{DecodeError, DecodeErrorKind, EncodeError};
