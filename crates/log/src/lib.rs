//! An append-only, segmented log on memory-mapped files: the storage layer of semel, usable
//! on its own.
//!
//! It is **not** a Kafka log: an entry is opaque bytes plus the number of records (offsets) it
//! holds and the largest timestamp among them; the log assigns offsets. It is synchronous and
//! does file and mmap I/O only; it never reads a clock (time comes in as `now_ms`).
//!
//! Main types: [`Log`] (the single writer, opened on a directory), [`LogReader`] (a cloneable,
//! `Send + Sync` read handle that runs concurrently with the writer), [`Reservation`] (room for
//! one entry, written in place before it is committed), [`Entry`] (a read entry whose payload is
//! a zero-copy [`bytes::Bytes`] slice of the mapping), [`LogConfig`] and [`FlushPolicy`].
//!
//! # Layout
//!
//! A directory holds a lock file, segment files named by their base offset
//! (`00000000000000000000.log`, 20 digits), and, once [`Log::delete_before`] was called, a
//! `log-start-offset` file holding the start offset it set (records below it are gone even
//! where their segment still exists). Each segment is sized up front to
//! [`LogConfig::segment_bytes`] and mapped read-write; a new segment is rolled when the next
//! entry does not fit, and an entry larger than a segment gets a segment of its own, sized to
//! fit. Each entry is framed as
//!
//! ```text
//! | len u32 | crc32 u32 | base_offset u64 | record_count u32 | max_timestamp i64 | payload |
//! ```
//!
//! little-endian, `len` counting the whole frame (28-byte header included) and the CRC-32
//! covering every byte after it; a zero `len` marks space never written. The sparse offset and
//! timestamp indexes live in memory and are rebuilt from the segments on every open (so they
//! can never be missing or inconsistent); opening costs one CRC pass over the log.
//!
//! Entries under 32 KiB are written through the mapping, into space the writer first filled
//! with zeros by `pwrite` 64 KiB at a time (the pages are then in the page cache, and their
//! blocks reserved). Larger ones are written with `pwrite` into the same page cache: straight
//! from the caller's slice for [`Log::append`], from a reused staging buffer for
//! [`Log::reserve`]. Readers see committed entries, durable or not; compare with
//! [`Log::durable_offset`] to serve only durable ones.
//!
//! # Guarantees
//!
//! - Readers see only committed entries: the writer publishes a segment's committed end with
//!   a release store after the bytes are in place. A returned `Bytes` keeps its segment's
//!   mapping alive, even after retention deleted the file.
//! - [`Log::sync`] flushes everything appended so far; [`Log::durable_offset`] says how far
//!   that is. A failed write or flush poisons the log until it is reopened.
//! - Sealing a segment (rolling) flushes it, so only the active segment can have a torn tail
//!   after a crash. On open its first entry with a bad length, CRC, record count or offset ends
//!   the log and everything after it is zeroed and flushed. Damage in a sealed segment is
//!   [`Error::Corrupt`] naming file and position (or a truncation, by configuration).
//! - Files are never shrunk while mapped, so no access inside a mapping faults for lack of a
//!   page. A full disk is an error, not a SIGBUS: segment creation checks the free space (or
//!   reserves the blocks, [`LogConfig::preallocate`]), and every byte written through the
//!   mapping was first written with `pwrite`, which reserves its blocks. (On copy-on-write
//!   filesystems an overwrite may need new blocks; there this protection does not hold.)
//! - The directory is locked with `flock`: a second `Log` on it gets [`Error::Locked`].
//!
//! # Example
//!
//! ```
//! use semel_log::{Log, LogConfig};
//!
//! # fn main() -> Result<(), semel_log::Error> {
//! let dir = tempfile::tempdir().map_err(|e| semel_log::Error::Io {
//!     op: "tempdir", path: std::env::temp_dir(), source: e })?;
//! let config = LogConfig { segment_bytes: 1 << 20, ..LogConfig::default() };
//! let mut log = Log::open(dir.path(), config.clone())?;
//!
//! // Copy-in append: 3 records, max timestamp 1_000.
//! let first = log.append(b"three records", 3, 1_000)?;
//! assert_eq!(first.base_offset, 0);
//!
//! // In-place append: write into the mapping, knowing the base offset, then commit.
//! let mut slot = log.reserve(8)?;
//! let base = slot.base_offset();
//! slot.bytes_mut().copy_from_slice(&base.to_be_bytes());
//! let second = slot.commit(1, 2_000)?;
//! assert_eq!(second.base_offset, 3);
//!
//! log.sync()?;
//! assert_eq!(log.durable_offset(), 4);
//!
//! // Zero-copy reads from another handle, from the entry containing offset 1.
//! let reader = log.reader();
//! let entries = reader.read(1, 1 << 20)?;
//! assert_eq!(entries.len(), 2);
//! assert_eq!(&entries[0].payload[..], b"three records");
//! assert_eq!(reader.offset_for_timestamp(1_500)?, Some(3));
//!
//! // Reopening recovers the same entries.
//! drop(log);
//! let log = Log::open(dir.path(), config)?;
//! assert_eq!(log.next_offset(), 4);
//! # Ok(())
//! # }
//! ```

mod error;
mod frame;
mod log;
mod mmap;
mod segment;

pub use crate::error::{Error, Result};
pub use crate::log::{
    Appended, Entry, FlushPolicy, Log, LogConfig, LogReader, Reservation, Retained,
    SealedCorruption,
};

/// Entry points for the fuzz targets in `fuzz/` (not a stable API).
#[doc(hidden)]
pub mod fuzzing {
    use crate::frame::{self, FrameError, HEADER_LEN};

    /// Treats `data` as the bytes of a segment file with base offset 0 and runs the recovery
    /// scan over it. Asserts that it returns only whole entries with a valid CRC, at least one
    /// record and contiguous offsets; that the recovered length ends exactly after the last of
    /// them; that re-encoding those entries reproduces the recovered bytes; and that the scan
    /// stopped for the reason it reports.
    pub fn log_recovery(data: &[u8]) {
        let scan = frame::scan(data, 0);
        let mut pos = 0usize;
        let mut next = 0u64;
        let mut reencoded = Vec::new();
        for &(at, h) in &scan.entries {
            assert_eq!(at, pos, "entries are contiguous");
            let len = h.frame_len as usize;
            assert!(
                len >= HEADER_LEN && at + len <= data.len(),
                "entry is whole"
            );
            let frame = &data[at..at + len];
            assert_eq!(crc32fast::hash(&frame[8..]), h.crc, "entry CRC is valid");
            assert!(h.record_count > 0, "entry holds records");
            assert_eq!(h.base_offset, next, "offsets are contiguous");
            reencoded.extend(frame::encode_frame(
                h.base_offset,
                h.record_count,
                h.max_timestamp,
                &frame[HEADER_LEN..],
            ));
            pos += len;
            next = h.next_offset();
        }
        assert_eq!(
            scan.end, pos,
            "recovered length ends after the last whole entry"
        );
        assert_eq!(scan.next_offset, next);
        assert_eq!(
            &reencoded[..],
            &data[..pos],
            "recovered entries re-encode to the same bytes"
        );
        match frame::decode_verified(data, pos) {
            Ok(h) => {
                assert_eq!(
                    scan.stop,
                    FrameError::WrongOffset,
                    "a valid entry only stops the scan when its offset is wrong"
                );
                assert_ne!(h.base_offset, next);
            }
            Err(e) => assert_eq!(scan.stop, e, "the scan stops for the reason it reports"),
        }
        let tail_zero = data[pos..].iter().all(|&b| b == 0);
        assert_eq!(scan.tail_clean, tail_zero);
    }
}
