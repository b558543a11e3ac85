//! The message traits and the request/response framing around the generated bodies:
//! request header v1/v2 and response header v0/v1 chosen by the API's flexible versions.

use super::{ApiKey, RequestBody, RequestHeader, ResponseBody, ResponseHeader};
use crate::{DecodeError, DecodeErrorKind, Decoder, EncodeError, Encoder};
use bytes::Bytes;

/// A struct of the protocol: decodes, encodes and measures itself at a given version.
///
/// Decoding never panics; `bytes` and `records` fields share the input [`Bytes`].
pub trait Codec: Sized {
    /// Decodes the value as `version` lays it out.
    ///
    /// # Errors
    /// Malformed or truncated input; for a whole message, a version outside its valid versions
    /// ([`DecodeErrorKind::UnsupportedVersion`]).
    fn decode(d: &mut Decoder, version: i16) -> Result<Self, DecodeError>;

    /// Encodes the value as `version` lays it out. Fields the version cannot carry are skipped if
    /// they hold their default or are ignorable; otherwise encoding fails.
    ///
    /// # Errors
    /// [`EncodeError::FieldNotInVersion`], [`EncodeError::NullNotAllowed`],
    /// [`EncodeError::TooLong`], or [`EncodeError::UnsupportedVersion`] for a whole message.
    fn encode(&self, e: &mut Encoder, version: i16) -> Result<(), EncodeError>;

    /// The exact number of bytes [`Codec::encode`] writes at `version` when it succeeds.
    fn encoded_len(&self, version: i16) -> usize;
}

/// A request or response body of one API.
pub trait Message: Codec {
    /// The API key.
    const API_KEY: i16;
    /// The valid versions, inclusive.
    const VERSIONS: (i16, i16);
}

/// The header version of a request frame, from its first four bytes: v2 for a flexible version of
/// a known API, otherwise v1 (the layout every broker can read).
fn request_header_version(api_key: i16, version: i16) -> i16 {
    ApiKey::from_i16(api_key)
        .filter(|api| api.is_valid_version(version))
        .map_or(1, |api| api.request_header_version(version))
}

/// Decodes a request header. For an unknown API or version it reads header v1 (api key, version,
/// correlation id, client id), so a broker can still answer with the right correlation id.
///
/// # Errors
/// Truncated or malformed header bytes.
pub fn decode_request_header(d: &mut Decoder) -> Result<RequestHeader, DecodeError> {
    let mut peek = d.clone();
    let api_key = peek.i16()?;
    let version = peek.i16()?;
    <RequestHeader as super::Codec>::decode(d, request_header_version(api_key, version))
}

/// Decodes a whole request frame body (header and body, without the size prefix). The decoded
/// body shares `frame` for its `bytes` and `records` fields.
///
/// # Errors
/// [`DecodeErrorKind::UnsupportedVersion`] for an unknown API key or version, any malformed
/// input, and [`DecodeErrorKind::TrailingBytes`] if bytes are left after the body.
pub fn decode_request(frame: Bytes) -> Result<(RequestHeader, RequestBody), DecodeError> {
    let mut d = Decoder::new(frame);
    let header = decode_request_header(&mut d)?;
    let api_key = header.request_api_key;
    let version = header.request_api_version;
    let api = ApiKey::from_i16(api_key)
        .ok_or_else(|| d.error(DecodeErrorKind::UnsupportedVersion { api_key, version }))?;
    let body = RequestBody::decode(api, &mut d, version)?;
    d.finish()?;
    Ok((header, body))
}

/// Encodes a request frame body: the header (v1 or v2 as the API version requires; the header's
/// api key and version must match `body`) followed by the body.
///
/// # Errors
/// A body the version cannot carry, or a header whose api key differs from the body's.
pub fn encode_request(header: &RequestHeader, body: &RequestBody) -> Result<Encoder, EncodeError> {
    let api = body.api_key();
    let version = header.request_api_version;
    if header.request_api_key != api.key() {
        return Err(EncodeError::UnsupportedVersion {
            api_key: header.request_api_key,
            version,
        });
    }
    let header_version = api.request_header_version(version);
    let mut e = Encoder::with_capacity(
        header.encoded_len(header_version) + body.encoded_len(version).min(1 << 16),
    );
    header.encode(&mut e, header_version)?;
    body.encode(&mut e, version)?;
    Ok(e)
}

/// Encodes a response frame body: response header v0 or v1 (v0 always for ApiVersions) and the
/// body at `version`. Large `records`/`bytes` blobs are passed through as their own chunks
/// ([`Encoder::into_chunks`]); the caller adds the int32 size prefix ([`Encoder::len`]).
///
/// # Errors
/// A body the version cannot carry.
pub fn encode_response(
    correlation_id: i32,
    version: i16,
    body: &ResponseBody,
) -> Result<Encoder, EncodeError> {
    let header_version = body.api_key().response_header_version(version);
    let header = ResponseHeader {
        correlation_id,
        ..ResponseHeader::default()
    };
    let mut e = Encoder::with_capacity(
        header.encoded_len(header_version) + body.encoded_len(version).min(1 << 16),
    );
    header.encode(&mut e, header_version)?;
    body.encode(&mut e, version)?;
    Ok(e)
}

/// Decodes a response frame body of `api` at `version` (a client needs to know what it asked).
///
/// # Errors
/// Malformed input, an unsupported version, or trailing bytes.
pub fn decode_response(
    frame: Bytes,
    api: ApiKey,
    version: i16,
) -> Result<(ResponseHeader, ResponseBody), DecodeError> {
    let mut d = Decoder::new(frame);
    let header = ResponseHeader::decode(&mut d, api.response_header_version(version))?;
    let body = ResponseBody::decode(api, &mut d, version)?;
    d.finish()?;
    Ok((header, body))
}
