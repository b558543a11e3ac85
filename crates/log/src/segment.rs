//! One segment: a preallocated, memory-mapped file named by its base offset, with its
//! in-memory sparse index.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use bytes::Bytes;
use parking_lot::RwLock;

use crate::error::{Error, Result, io_err};
use crate::frame::{self, Header};
use crate::mmap::{self, Mapping};

/// Suffix of segment files.
pub(crate) const SEGMENT_SUFFIX: &str = ".log";
/// Suffix of a segment being rewritten (truncation with live readers); deleted on open.
pub(crate) const TMP_SUFFIX: &str = ".log.tmp";

/// `00000000000000000042.log` for base offset 42.
pub(crate) fn file_name(base_offset: u64) -> String {
    format!("{base_offset:020}{SEGMENT_SUFFIX}")
}

/// The base offset of a segment file name, or `None` when the name is not one.
pub(crate) fn parse_file_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(SEGMENT_SUFFIX)?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// One point of the sparse index: the entry at `position` starts at `offset`, and every entry
/// of the segment before it has a max timestamp of at most `max_timestamp_before`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IndexPoint {
    pub(crate) offset: u64,
    pub(crate) position: u64,
    pub(crate) max_timestamp_before: i64,
}

const NO_POINT: u64 = u64::MAX;

/// A segment shared by the writer and the readers.
#[derive(Debug)]
pub(crate) struct Segment {
    pub(crate) base_offset: u64,
    pub(crate) path: PathBuf,
    pub(crate) map: Mapping,
    /// The open file, for positional writes of large copy-in appends.
    pub(crate) file: File,
    /// Bytes of whole, committed entries; readers see nothing at or beyond it.
    pub(crate) committed_end: AtomicU64,
    /// Bytes known flushed to disk.
    pub(crate) synced_end: AtomicU64,
    /// The offset after the last committed entry.
    pub(crate) next_offset: AtomicU64,
    /// The largest max timestamp of the committed entries (`i64::MIN` when empty).
    pub(crate) max_timestamp: AtomicI64,
    /// Sparse offset and timestamp index.
    pub(crate) index: RwLock<Vec<IndexPoint>>,
    /// Position of the last index point (writer-only bookkeeping), `NO_POINT` when none.
    last_point: AtomicU64,
    /// Bytes whose writeback was started (writer-only bookkeeping).
    writeback_end: AtomicU64,
    /// Bytes below this were dropped from the page cache (`LogConfig::cache_window_bytes`).
    cache_dropped_end: AtomicU64,
}

impl Segment {
    /// Creates a new segment file of `len` bytes (blocks reserved), flushes its metadata and
    /// maps it. The caller fsyncs the directory.
    pub(crate) fn create(dir: &Path, base_offset: u64, len: u64, reserve: bool) -> Result<Self> {
        let path = dir.join(file_name(base_offset));
        if !reserve {
            // A sparse segment gets its blocks on first write through the mapping, where a
            // full disk would be a SIGBUS: refuse to create one the disk cannot hold.
            let available = mmap::available_bytes(dir).map_err(io_err("statvfs", dir))?;
            if available < len {
                return Err(Error::Io {
                    op: "reserve space",
                    path,
                    source: std::io::Error::new(
                        std::io::ErrorKind::StorageFull,
                        format!("{available} bytes free, segment needs {len}"),
                    ),
                });
            }
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(io_err("create", &path))?;
        Self::size_file(&file, &path, len, reserve)?;
        file.sync_all().map_err(io_err("fsync", &path))?;
        Self::from_file(path, file, base_offset)
    }

    /// Opens an existing segment file, growing it to at least `min_len` bytes first (growing a
    /// file is always safe; shrinking one is never done).
    pub(crate) fn open(
        path: PathBuf,
        base_offset: u64,
        min_len: u64,
        reserve: bool,
    ) -> Result<Self> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(io_err("open", &path))?;
        let len = file.metadata().map_err(io_err("stat", &path))?.len();
        if len < min_len {
            Self::size_file(&file, &path, min_len, reserve)?;
            file.sync_all().map_err(io_err("fsync", &path))?;
        }
        Self::from_file(path, file, base_offset)
    }

    fn size_file(file: &File, path: &Path, len: u64, reserve: bool) -> Result<()> {
        if reserve {
            mmap::preallocate(file, len).map_err(io_err("fallocate", path))
        } else {
            file.set_len(len).map_err(io_err("set_len", path))
        }
    }

    pub(crate) fn from_file(path: PathBuf, file: File, base_offset: u64) -> Result<Self> {
        let map = Mapping::map(&file).map_err(io_err("mmap", &path))?;
        Ok(Self {
            base_offset,
            path,
            map,
            file,
            committed_end: AtomicU64::new(0),
            synced_end: AtomicU64::new(0),
            next_offset: AtomicU64::new(base_offset),
            max_timestamp: AtomicI64::new(i64::MIN),
            index: RwLock::new(Vec::new()),
            last_point: AtomicU64::new(NO_POINT),
            writeback_end: AtomicU64::new(0),
            cache_dropped_end: AtomicU64::new(0),
        })
    }

    /// Drops the page cache of the flushed bytes below `end` not dropped yet (see
    /// [`mmap::Mapping::drop_cached`]). Under the log's flush lock (`trim_cache`).
    pub(crate) fn drop_cache_below(&self, end: u64) {
        let end = end.min(self.synced_end.load(Ordering::Acquire));
        let from = self.cache_dropped_end.fetch_max(end, Ordering::AcqRel);
        if end > from {
            self.map
                .drop_cached(&self.file, from as usize, end as usize);
        }
    }

    /// Starts reading `start..end` back into the page cache if part of it was dropped from
    /// it, so a reader catching up reads from disk in large asynchronous steps rather than
    /// one page fault at a time.
    pub(crate) fn prefetch_dropped(&self, start: u64, end: u64) {
        let dropped = self.cache_dropped_end.load(Ordering::Acquire);
        if start < dropped {
            self.map.will_need(start as usize, end as usize);
        }
    }

    /// Bytes below this were dropped from the page cache.
    pub(crate) fn cache_dropped_end(&self) -> u64 {
        self.cache_dropped_end.load(Ordering::Acquire)
    }

    /// Whether every flushed byte was dropped from the page cache already.
    pub(crate) fn cache_fully_dropped(&self) -> bool {
        self.cache_dropped_end.load(Ordering::Acquire) >= self.synced_end.load(Ordering::Acquire)
    }

    /// Truncation lowered the end to `cut`: bytes written there later are cached anew.
    pub(crate) fn cache_truncated(&self, cut: u64) {
        self.cache_dropped_end.fetch_min(cut, Ordering::AcqRel);
    }

    /// Mapped length (the file's size when mapped).
    pub(crate) fn capacity(&self) -> u64 {
        self.map.len() as u64
    }

    /// Committed bytes.
    pub(crate) fn used(&self) -> u64 {
        self.committed_end.load(Ordering::Acquire)
    }

    /// Records a committed entry in the index and the max timestamp. Writer only; called after
    /// the entry's bytes are published.
    pub(crate) fn note_entry(&self, position: u64, header: &Header, interval: u64) {
        let last = self.last_point.load(Ordering::Relaxed);
        if last == NO_POINT || position - last >= interval {
            let point = IndexPoint {
                offset: header.base_offset,
                position,
                max_timestamp_before: self.max_timestamp.load(Ordering::Relaxed),
            };
            self.index.write().push(point);
            self.last_point.store(position, Ordering::Relaxed);
        }
        self.max_timestamp
            .fetch_max(header.max_timestamp, Ordering::AcqRel);
    }

    /// Starts writeback of the committed bytes not yet flushed or started, once at least
    /// `threshold` of them accumulated. Writer only.
    pub(crate) fn start_writeback(&self, threshold: u64) {
        let end = self.committed_end.load(Ordering::Acquire);
        let from = self
            .writeback_end
            .load(Ordering::Relaxed)
            .max(self.synced_end.load(Ordering::Acquire))
            .min(end);
        if end - from >= threshold.max(1) {
            mmap::start_writeback(&self.file, from, end - from);
            self.writeback_end.store(end, Ordering::Relaxed);
        }
    }

    /// Publishes a new committed end and next offset (release: the bytes below are written).
    pub(crate) fn publish(&self, end: u64, next_offset: u64) {
        self.committed_end.store(end, Ordering::Release);
        self.next_offset.store(next_offset, Ordering::Release);
    }

    /// Forgets everything at or after byte `position` in the index and recomputes the max
    /// timestamp of what remains. Writer only, after the committed end was lowered.
    pub(crate) fn reindex_below(&self, position: u64) {
        let mut index = self.index.write();
        index.retain(|p| p.position < position);
        self.last_point.store(
            index.last().map_or(NO_POINT, |p| p.position),
            Ordering::Relaxed,
        );
        drop(index);
        let mut max = i64::MIN;
        let view = self.map.read(0, position as usize).unwrap_or(&[]);
        let mut pos = 0usize;
        while let Ok(h) = frame::decode_header(view, pos) {
            max = max.max(h.max_timestamp);
            pos += h.frame_len as usize;
        }
        self.max_timestamp.store(max, Ordering::Release);
    }

    /// Byte position to start scanning from to find `offset`.
    pub(crate) fn position_for_offset(&self, offset: u64) -> u64 {
        let index = self.index.read();
        let k = index.partition_point(|p| p.offset <= offset);
        k.checked_sub(1).map_or(0, |i| index[i].position)
    }

    /// Byte position to start scanning from to find the first entry whose max timestamp is at
    /// least `timestamp`.
    pub(crate) fn position_for_timestamp(&self, timestamp: i64) -> u64 {
        let index = self.index.read();
        let k = index.partition_point(|p| p.max_timestamp_before < timestamp);
        k.checked_sub(1).map_or(0, |i| index[i].position)
    }

    /// Decodes the committed entry header at `position` (below `end`).
    pub(crate) fn header_at(&self, position: u64, end: u64) -> Result<Header> {
        let view = self.map.read(0, end as usize).unwrap_or(&[]);
        frame::decode_header(view, position as usize).map_err(|e| Error::Corrupt {
            path: self.path.clone(),
            position,
            offset: self.base_offset,
            reason: e.describe(),
        })
    }

    /// Flushes the committed bytes not yet known flushed.
    pub(crate) fn flush(&self) -> std::io::Result<()> {
        let end = self.committed_end.load(Ordering::Acquire);
        let start = self.synced_end.load(Ordering::Acquire);
        if end > start {
            self.map.flush(start as usize, (end - start) as usize)?;
            self.synced_end.fetch_max(end, Ordering::AcqRel);
        }
        Ok(())
    }
}

/// Owner of a zero-copy `Bytes` slice: holds the segment (and so its mapping) alive.
struct SegmentBytes {
    segment: Arc<Segment>,
    start: usize,
    len: usize,
}

impl AsRef<[u8]> for SegmentBytes {
    fn as_ref(&self) -> &[u8] {
        self.segment.map.read(self.start, self.len).unwrap_or(&[])
    }
}

/// A `Bytes` over committed bytes `start..start + len` of the segment.
pub(crate) fn bytes_of(segment: &Arc<Segment>, start: u64, len: u64) -> Bytes {
    Bytes::from_owner(SegmentBytes {
        segment: Arc::clone(segment),
        start: start as usize,
        len: len as usize,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_round_trip_and_reject_foreign_names() {
        assert_eq!(file_name(42), "00000000000000000042.log");
        assert_eq!(parse_file_name(&file_name(u64::MAX)), Some(u64::MAX));
        assert_eq!(parse_file_name("42.log"), None);
        assert_eq!(parse_file_name("0000000000000000004x.log"), None);
        assert_eq!(parse_file_name("00000000000000000042.index"), None);
        assert_eq!(parse_file_name("99999999999999999999.log"), None);
    }

    #[test]
    fn writeback_starts_once_the_threshold_accumulated_and_never_behind_the_flush() {
        let dir = tempfile::tempdir().expect("tempdir");
        let seg = Segment::create(dir.path(), 0, 1 << 16, false).expect("segment");
        let started = |s: &Segment| s.writeback_end.load(Ordering::Relaxed);
        seg.publish(1000, 1);
        seg.start_writeback(4096);
        assert_eq!(started(&seg), 0, "below the threshold nothing starts");
        seg.publish(5000, 2);
        seg.start_writeback(4096);
        assert_eq!(started(&seg), 5000);
        seg.publish(6000, 3);
        seg.flush().expect("flush");
        seg.publish(9000, 4);
        seg.start_writeback(4096);
        assert_eq!(
            started(&seg),
            5000,
            "counted from the flushed end: 3000 < 4096"
        );
        seg.publish(10_100, 5);
        seg.start_writeback(4096);
        assert_eq!(started(&seg), 10_100);
    }
}
