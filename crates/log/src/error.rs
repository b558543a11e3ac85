//! The crate's one error type.

use std::io;
use std::path::PathBuf;

/// Everything that can go wrong in a [`Log`](crate::Log). Each variant names the file, the
/// byte position or the offset it concerns.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An I/O call failed. `op` says which (`"open"`, `"msync"`, `"fallocate"`, …).
    #[error("{op} {path}: {source}")]
    Io {
        /// The operation that failed.
        op: &'static str,
        /// The file or directory it was applied to.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// Another process (or another `Log` in this process) holds the directory's lock.
    #[error("log directory {dir} is locked by another process or handle")]
    Locked {
        /// The log directory.
        dir: PathBuf,
    },
    /// The directory holds a file that is not a segment of this log.
    #[error("foreign file in log directory: {path}")]
    ForeignFile {
        /// The unexpected file.
        path: PathBuf,
    },
    /// A sealed (non-active) segment holds a damaged entry, or a committed entry no longer
    /// decodes.
    #[error("corrupt entry in {path} at byte {position} (expected offset {offset}): {reason}")]
    Corrupt {
        /// The segment file.
        path: PathBuf,
        /// Byte position of the damaged entry inside the file.
        position: u64,
        /// The offset the damaged entry should have started at.
        offset: u64,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Segments do not follow each other: a segment's base offset is not where the previous
    /// one ends (a segment file is missing or stray).
    #[error(
        "segment {path} starts at offset {base_offset}, but the previous segment ends at {expected}"
    )]
    SegmentGap {
        /// The segment file whose name does not fit.
        path: PathBuf,
        /// Its base offset (from the file name).
        base_offset: u64,
        /// Where the previous segment ends.
        expected: u64,
    },
    /// The offset is below the log start or beyond the log end.
    #[error("offset {offset} out of range [{log_start_offset}, {next_offset}]")]
    OffsetOutOfRange {
        /// The offset asked for.
        offset: u64,
        /// The first offset still in the log.
        log_start_offset: u64,
        /// The offset the next append gets.
        next_offset: u64,
    },
    /// The entry does not fit the framing's 32-bit length.
    #[error("entry of {len} bytes is larger than the maximum {max}")]
    EntryTooLarge {
        /// Payload length asked for.
        len: u64,
        /// The largest payload the log accepts.
        max: u64,
    },
    /// An entry must hold at least one record.
    #[error("an entry must hold at least one record")]
    ZeroRecords,
    /// A write or fsync failed earlier; the log refuses further writes and syncs until it is
    /// reopened, so that nothing beyond the last good durable offset is ever acknowledged.
    #[error(
        "an earlier write or sync failed; reopen the log (durable up to offset {durable_offset})"
    )]
    Poisoned {
        /// The durable offset when the failure happened.
        durable_offset: u64,
    },
    /// The configuration is unusable.
    #[error("invalid configuration: {what}")]
    InvalidConfig {
        /// What is wrong.
        what: &'static str,
    },
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) fn io_err(
    op: &'static str,
    path: impl Into<PathBuf>,
) -> impl FnOnce(io::Error) -> Error {
    let path = path.into();
    move |source| Error::Io { op, path, source }
}
