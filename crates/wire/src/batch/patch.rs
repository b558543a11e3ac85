//! In-place changes a broker makes to a stored batch, over `&mut [u8]` (a log segment's mapping).
//!
//! Each function takes exactly one batch (`batch.len() == batch_length + 12`, magic 2) and
//! touches only the fields it names.

use super::{CRC_START, TIMESTAMP_TYPE_BIT, sniff};
use crate::error::{DecodeError, DecodeErrorKind};

/// End of the CRC-covered fields `patch_log_append_time` changes (attributes .. maxTimestamp).
const MAX_TIMESTAMP_END: usize = 43;

fn check_whole_batch(batch: &[u8]) -> Result<(), DecodeError> {
    let total = sniff(batch)?;
    if total != batch.len() {
        return Err(DecodeError::new(
            total,
            DecodeErrorKind::TrailingBytes {
                len: batch.len() - total,
            },
        ));
    }
    Ok(())
}

fn write(batch: &mut [u8], at: usize, bytes: &[u8]) -> Result<(), DecodeError> {
    let len = batch.len();
    let field = batch.get_mut(at..at + bytes.len()).ok_or(DecodeError::new(
        at,
        DecodeErrorKind::Truncated {
            needed: at + bytes.len(),
            remaining: len,
        },
    ))?;
    field.copy_from_slice(bytes);
    Ok(())
}

/// Sets `baseOffset` (bytes 0..8). It is outside the CRC, which stays as it is.
///
/// # Errors
/// `batch` is not exactly one magic-2 batch (see [`crate::RecordBatch::parse`]).
pub fn patch_base_offset(batch: &mut [u8], base_offset: i64) -> Result<(), DecodeError> {
    check_whole_batch(batch)?;
    write(batch, 0, &base_offset.to_be_bytes())
}

/// Sets `partitionLeaderEpoch` (bytes 12..16). It is outside the CRC, which stays as it is.
///
/// # Errors
/// `batch` is not exactly one magic-2 batch (see [`crate::RecordBatch::parse`]).
pub fn patch_partition_leader_epoch(batch: &mut [u8], epoch: i32) -> Result<(), DecodeError> {
    check_whole_batch(batch)?;
    write(batch, 12, &epoch.to_be_bytes())
}

/// Stamps the broker's append time: sets the `LogAppendTime` attribute and `maxTimestamp`, and
/// updates the CRC-32C, which covers both.
///
/// The CRC is updated, not recomputed: the change is folded into the stored value with
/// CRC-32C's linearity (cost independent of the batch size), so a batch whose CRC held still
/// holds and a corrupt batch stays detectably corrupt instead of being blessed.
///
/// # Errors
/// `batch` is not exactly one magic-2 batch (see [`crate::RecordBatch::parse`]).
pub fn patch_log_append_time(batch: &mut [u8], max_timestamp_ms: i64) -> Result<(), DecodeError> {
    check_whole_batch(batch)?;
    let old_prefix: [u8; MAX_TIMESTAMP_END - CRC_START] = batch
        .get(CRC_START..MAX_TIMESTAMP_END)
        .and_then(|s| s.try_into().ok())
        .ok_or(DecodeError::new(
            CRC_START,
            DecodeErrorKind::Truncated {
                needed: MAX_TIMESTAMP_END,
                remaining: batch.len(),
            },
        ))?;
    let attributes = i16::from_be_bytes([old_prefix[0], old_prefix[1]]) | TIMESTAMP_TYPE_BIT;
    write(batch, CRC_START, &attributes.to_be_bytes())?;
    write(batch, 35, &max_timestamp_ms.to_be_bytes())?;
    let mut new_prefix = old_prefix;
    new_prefix[..2].copy_from_slice(&attributes.to_be_bytes());
    new_prefix[14..].copy_from_slice(&max_timestamp_ms.to_be_bytes());
    // crc(P ‖ R) = shift(crc(P), |R|) ^ crc(R), so for two prefixes of equal length before the
    // same rest R: crc(P' ‖ R) = crc(P ‖ R) ^ shift(crc(P) ^ crc(P'), |R|).
    let rest = batch.len() - MAX_TIMESTAMP_END;
    let delta = crc32c::crc32c(&old_prefix) ^ crc32c::crc32c(&new_prefix);
    let stored = u32::from_be_bytes([batch[17], batch[18], batch[19], batch[20]]);
    let updated = stored ^ crc32c::crc32c_combine(delta, 0, rest);
    write(batch, 17, &updated.to_be_bytes())
}
