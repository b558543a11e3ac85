//! The log: open and recover a directory, append (copy-in and in place), read zero-copy,
//! flush, truncate and retain.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use bytes::Bytes;
use parking_lot::{Mutex, RwLock};

use crate::error::{Error, Result, io_err};
use crate::frame::{self, FrameError, HEADER_LEN, Header, MAX_FRAME_LEN};
use crate::segment::{self, Segment, TMP_SUFFIX};

/// Entries of at least this many payload bytes are written with `pwrite` instead of through
/// the mapping: above it, the copy through the mapping plus the zeros written ahead of it
/// (see `ZERO_AHEAD_BYTES`) measured slower than one `pwrite`; below it, far faster.
const PWRITE_MIN_BYTES: usize = 32 * 1024;

/// Space ahead of the writer is filled with zeros by `pwrite` this many bytes at a time
/// before the mapping writes into it: the pages are then already in the page cache (a cheap
/// fault instead of a zero-fill read of a hole), and the filesystem reserves their blocks, so
/// a full disk is an error here rather than a SIGBUS inside the mapping.
const ZERO_AHEAD_BYTES: u64 = 64 * 1024;

static ZEROS: [u8; ZERO_AHEAD_BYTES as usize] = [0; ZERO_AHEAD_BYTES as usize];

/// How a reserved entry reaches the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Via {
    /// Written by the caller into the mapping (space zeroed ahead by `pwrite` first).
    Mapping,
    /// Written by the caller into the staging buffer, then `pwrite` at commit.
    Staged,
    /// `pwrite` straight from the caller's slice (`append` of a large payload).
    CallerPwrite,
}

/// The least a segment's cache is trimmed by at once while the window's edge crosses it, if a
/// quarter of the window is less: each trim's two system calls have a fixed cost, so they come
/// in steps (measured over 3 s of 1 KiB produce: 1263 trims of ~430 KB took 0.40 s in all, 83
/// of 16 MiB 0.12 s).
const TRIM_STEP_BYTES: u64 = 1 << 20;

/// Payload bytes [`LogReader::replay`] reads at a time.
const REPLAY_CHUNK_BYTES: usize = 4 << 20;

/// Name of the lock file inside the log directory.
pub(crate) const LOCK_FILE: &str = "semel-log.lock";

/// Name of the file that keeps a log start offset set by [`Log::delete_before`] (decimal text),
/// and of its temporary twin (written, flushed, then renamed over it).
const START_FILE: &str = "log-start-offset";
const START_TMP: &str = "log-start-offset.tmp";

/// When appended entries are flushed to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlushPolicy {
    /// Flush after every append, before `append`/`commit` returns.
    Always,
    /// Flush when [`Log::maybe_flush`] is called and at least this many milliseconds passed
    /// since the last flush it did (the caller passes the time; the log never reads a clock).
    EveryMillis(u64),
    /// Flush after an append once at least this many committed bytes are not yet flushed.
    EveryBytes(u64),
    /// Never flush on its own; only [`Log::sync`] (and sealing a segment) flushes.
    Os,
}

/// What opening a log does when a sealed (non-active) segment is damaged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SealedCorruption {
    /// Fail with [`Error::Corrupt`] naming the file and byte position.
    Fail,
    /// Truncate the log at the damaged entry: later segments are deleted.
    Truncate,
}

/// Configuration of a [`Log`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// Size each segment file is preallocated to. An entry larger than this gets a segment of
    /// its own, sized to fit it.
    pub segment_bytes: u64,
    /// A sparse index point is kept for the first entry at least this many bytes after the
    /// previous point (0 indexes every entry).
    pub index_interval_bytes: u64,
    /// When appends are flushed.
    pub flush: FlushPolicy,
    /// [`Log::retain`] deletes the oldest sealed segments while the rest still hold at least
    /// this many bytes.
    pub retention_bytes: Option<u64>,
    /// [`Log::retain`] deletes the oldest sealed segments whose largest timestamp is older than
    /// `now_ms - retention_ms`.
    pub retention_ms: Option<i64>,
    /// What to do with a damaged sealed segment on open.
    pub sealed_corruption: SealedCorruption,
    /// Reserve each segment's blocks when it is created (`posix_fallocate` on Linux). Off by
    /// default: on ext4 the first write to each page of a fallocated (unwritten) extent costs a
    /// journal operation, which made appends several times slower in the benchmarks. Without
    /// it segment files are sparse (`set_len`), segment creation checks that the filesystem
    /// has room for the whole segment (`statvfs`), and the writer fills the space just ahead
    /// of it with zeros by `pwrite` before writing there through the mapping, so the
    /// filesystem reserves those blocks and a full disk is an error from `reserve`/`append`.
    pub preallocate: bool,
    /// Start writing committed bytes back to disk, without waiting, once this many have
    /// accumulated since the last start (`sync_file_range(SYNC_FILE_RANGE_WRITE)` on Linux,
    /// nothing elsewhere). The next flush then finds most of its pages already on their way
    /// and returns sooner, which shortens group commit when flushes are driven from outside
    /// ([`FlushPolicy::Os`] with [`Log::sync`] calls). `None` (the default) leaves the pages
    /// to the kernel until a flush. Only a hint: an I/O error is still reported by the flush.
    pub writeback_bytes: Option<u64>,
    /// Keep only the last this-many flushed bytes of the log in the page cache: after each
    /// flush by the writer ([`Log::sync`], the flush policies) and at each
    /// [`LogReader::trim_cache`], older flushed bytes are dropped from it, in steps of a
    /// quarter of the window, at least 1 MiB
    /// (`posix_fadvise(POSIX_FADV_DONTNEED)`
    /// and `madvise(MADV_DONTNEED)` on Linux, nothing elsewhere), so the kernel reuses their
    /// memory for the next appends. On a virtual machine whose host reclaims the guest's free
    /// memory, copying into never-used pages took several times the CPU of copying into
    /// reused ones. Reads of dropped bytes still work: they come from disk. Only flushed bytes
    /// are dropped, so nothing is written back early, and pages of unflushed bytes stay.
    /// `None` (the default) leaves the page cache to the kernel.
    pub cache_window_bytes: Option<u64>,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            segment_bytes: 1 << 30,
            index_interval_bytes: 4096,
            flush: FlushPolicy::Always,
            retention_bytes: None,
            retention_ms: None,
            sealed_corruption: SealedCorruption::Fail,
            preallocate: false,
            writeback_bytes: None,
            cache_window_bytes: None,
        }
    }
}

/// Where an append landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// Offset of the entry's first record.
    pub base_offset: u64,
    /// The offset after the entry's last record (the next append's base offset).
    pub next_offset: u64,
    /// Base offset of the segment holding the entry.
    pub segment_base_offset: u64,
    /// Byte position of the entry's frame inside that segment file.
    pub position: u64,
}

/// One entry read back: its framing fields and a zero-copy slice of its payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Offset of the entry's first record.
    pub base_offset: u64,
    /// Number of records (offsets) it holds.
    pub record_count: u32,
    /// The max timestamp given on append.
    pub max_timestamp: i64,
    /// The payload, a slice of the segment's mapping (keeps it alive).
    pub payload: Bytes,
}

impl Entry {
    /// The offset after the entry's last record.
    pub fn next_offset(&self) -> u64 {
        self.base_offset + u64::from(self.record_count)
    }
}

/// What [`Log::retain`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retained {
    /// Segments deleted.
    pub segments_deleted: usize,
    /// The first offset still in the log.
    pub log_start_offset: u64,
}

/// State shared by the writer and every reader.
#[derive(Debug)]
struct Shared {
    dir: PathBuf,
    segments: RwLock<Vec<Arc<Segment>>>,
    next_offset: AtomicU64,
    durable_offset: AtomicU64,
    /// The log start offset set by [`Log::delete_before`]: records below it are gone even
    /// where their segment is still on disk (0 when never set).
    start_floor: AtomicU64,
    io_failed: AtomicBool,
    /// Test hook: the next flush fails as if the disk had failed.
    fail_next_flush: AtomicBool,
    /// Serializes flushes with each other and with truncation (never taken by readers).
    sync_lock: Mutex<()>,
    /// [`LogConfig::cache_window_bytes`].
    cache_window: Option<u64>,
}

impl Shared {
    fn check_poisoned(&self) -> Result<()> {
        if self.io_failed.load(Ordering::Acquire) {
            return Err(Error::Poisoned {
                durable_offset: self.durable_offset.load(Ordering::Acquire),
            });
        }
        Ok(())
    }

    fn poison(&self) {
        self.io_failed.store(true, Ordering::Release);
    }

    fn log_start_offset(&self) -> u64 {
        self.start_in(&self.segments.read())
    }

    /// The log start offset given the segment list (held locked by the caller): the first
    /// segment's base or the floor set by `delete_before`, never beyond the log end.
    fn start_in(&self, segs: &[Arc<Segment>]) -> u64 {
        let next = self.next_offset.load(Ordering::Acquire);
        segs.first()
            .map_or(next, |s| s.base_offset)
            .max(self.start_floor.load(Ordering::Acquire))
            .min(next)
    }

    /// See [`Log::delete_before`]. Needs no writer: it holds the flush lock (so a truncation
    /// never runs at the same time) and changes the segment list under its lock, as
    /// retention and segment rolls do.
    fn delete_before(&self, offset: u64) -> Result<u64> {
        self.check_poisoned()?;
        let _guard = self.sync_lock.lock();
        let (start, next) = (
            self.log_start_offset(),
            self.next_offset.load(Ordering::Acquire),
        );
        if offset > next {
            return Err(Error::OffsetOutOfRange {
                offset,
                log_start_offset: start,
                next_offset: next,
            });
        }
        if offset <= start {
            return Ok(start);
        }
        write_start_file(&self.dir, offset)?;
        let removed: Vec<Arc<Segment>> = {
            let mut segs = self.segments.write();
            self.start_floor.store(offset, Ordering::Release);
            let n = segs
                .iter()
                .skip(1)
                .take_while(|s| s.base_offset <= offset)
                .count();
            segs.drain(..n).collect()
        };
        for r in &removed {
            fs::remove_file(&r.path).map_err(io_err("remove", &r.path))?;
        }
        if !removed.is_empty() {
            sync_dir(&self.dir)?;
        }
        Ok(offset)
    }

    fn sync(&self) -> Result<()> {
        let _guard = self.sync_lock.lock();
        self.sync_locked()
    }

    fn sync_locked(&self) -> Result<()> {
        self.check_poisoned()?;
        let target = self.next_offset.load(Ordering::Acquire);
        let pending: Vec<Arc<Segment>> = self
            .segments
            .read()
            .iter()
            .filter(|s| s.synced_end.load(Ordering::Acquire) < s.used())
            .cloned()
            .collect();
        for s in &pending {
            let result = if self.fail_next_flush.swap(false, Ordering::AcqRel) {
                Err(std::io::Error::other("injected flush failure"))
            } else {
                s.flush()
            };
            if let Err(source) = result {
                self.poison();
                return Err(Error::Io {
                    op: "msync",
                    path: s.path.clone(),
                    source,
                });
            }
        }
        self.durable_offset.fetch_max(target, Ordering::AcqRel);
        Ok(())
    }

    /// Applies [`LogConfig::cache_window_bytes`], if set: drops from the page cache the flushed
    /// bytes more than the window behind the flushed end of the log (newest segment first),
    /// in steps of a quarter of the window, at least [`TRIM_STEP_BYTES`].
    fn trim_cache(&self) {
        let Some(window) = self.cache_window else {
            return;
        };
        let _guard = self.sync_lock.lock();
        // Usually one or two segments to look at: the walk stops at the first one already
        // dropped whole. The advice calls run after the list's lock is released.
        let work: Vec<(Arc<Segment>, u64)> = {
            let segments = self.segments.read();
            let mut work = Vec::new();
            let mut kept = 0u64;
            for seg in segments.iter().rev() {
                let flushed = seg.synced_end.load(Ordering::Acquire);
                let keep = window.saturating_sub(kept).min(flushed);
                kept += keep;
                if keep == 0 && seg.cache_fully_dropped() {
                    // Older segments were dropped whole before this one.
                    break;
                }
                // A segment wholly behind the window goes at once; one the window's edge
                // crosses, in steps.
                let step = if keep == 0 {
                    1
                } else {
                    TRIM_STEP_BYTES.max(window / 4)
                };
                if flushed - keep >= seg.cache_dropped_end().saturating_add(step) {
                    work.push((Arc::clone(seg), flushed - keep));
                }
            }
            work
        };
        for (seg, end) in work {
            seg.drop_cache_below(end);
        }
    }

    fn read(&self, offset: u64, max_bytes: usize) -> Result<Vec<Entry>> {
        let mut out = Vec::new();
        let mut at = offset;
        let mut used = 0usize;
        let mut found: Vec<(u64, Header)> = Vec::new();
        loop {
            let seg = {
                let segs = self.segments.read();
                let next = self.next_offset.load(Ordering::Acquire);
                let start = self.start_in(&segs);
                if at < start || at > next {
                    if out.is_empty() {
                        return Err(Error::OffsetOutOfRange {
                            offset: at,
                            log_start_offset: start,
                            next_offset: next,
                        });
                    }
                    break;
                }
                if at == next {
                    break;
                }
                let i = segs.partition_point(|s| s.base_offset <= at);
                match i.checked_sub(1).and_then(|i| segs.get(i)) {
                    Some(s) => Arc::clone(s),
                    None => break,
                }
            };
            let end = seg.used();
            let mut pos = seg.position_for_offset(at);
            let mut full = false;
            found.clear();
            // About what this read will touch (entries may overshoot `max_bytes` a little).
            let reach = u64::try_from(max_bytes.saturating_sub(used))
                .unwrap_or(u64::MAX)
                .saturating_add(HEADER_LEN as u64 * 16);
            seg.prefetch_dropped(pos, end.min(pos.saturating_add(reach)));
            while pos < end {
                let h = seg.header_at(pos, end)?;
                if h.next_offset() > at {
                    let payload = h.payload_len();
                    let first = out.is_empty() && found.is_empty();
                    if !first && used.saturating_add(payload) > max_bytes {
                        full = true;
                        break;
                    }
                    found.push((pos + HEADER_LEN as u64, h));
                    used = used.saturating_add(payload);
                    at = h.next_offset();
                    if used >= max_bytes {
                        full = true;
                        break;
                    }
                }
                pos += u64::from(h.frame_len);
            }
            let progressed = !found.is_empty();
            if let (Some(&(first, _)), Some(&(last, last_h))) = (found.first(), found.last()) {
                let span_end = last + last_h.payload_len() as u64;
                let bytes = segment::bytes_of(&seg, first, span_end - first);
                for &(p, h) in &found {
                    let rel = (p - first) as usize;
                    out.push(Entry {
                        base_offset: h.base_offset,
                        record_count: h.record_count,
                        max_timestamp: h.max_timestamp,
                        payload: bytes.slice(rel..rel + h.payload_len()),
                    });
                }
            }
            if full || !progressed {
                break;
            }
        }
        Ok(out)
    }

    fn offset_for_timestamp(&self, timestamp: i64) -> Result<Option<u64>> {
        let (candidates, start) = {
            let segs = self.segments.read();
            let candidates: Vec<Arc<Segment>> = segs
                .iter()
                .filter(|s| s.max_timestamp.load(Ordering::Acquire) >= timestamp)
                .cloned()
                .collect();
            (candidates, self.start_in(&segs))
        };
        // Usually the first candidate answers; a later one only when every matching entry of
        // the earlier ones lies below a start offset set by `delete_before`.
        for seg in candidates {
            let end = seg.used();
            let mut pos = seg.position_for_timestamp(timestamp);
            while pos < end {
                let h = seg.header_at(pos, end)?;
                if h.max_timestamp >= timestamp && h.next_offset() > start {
                    return Ok(Some(h.base_offset.max(start)));
                }
                pos += u64::from(h.frame_len);
            }
        }
        Ok(None)
    }
}

fn validate_config(config: &LogConfig) -> Result<()> {
    if config.segment_bytes <= HEADER_LEN as u64 || config.segment_bytes > MAX_FRAME_LEN {
        return Err(Error::InvalidConfig {
            what: "segment_bytes must be larger than an entry header and below 4 GiB",
        });
    }
    Ok(())
}

/// The start offset kept by [`Log::delete_before`], 0 when none was set.
fn read_start_file(dir: &Path) -> Result<u64> {
    use std::io::Read;
    let path = dir.join(START_FILE);
    let file = match File::open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(source) => {
            return Err(Error::Io {
                op: "open",
                path,
                source,
            });
        }
    };
    // A decimal u64 and a newline fit in 21 bytes: read one byte more than that at most,
    // whatever the file holds, so a longer file is refused without reading it.
    const MAX: usize = 21;
    let mut text = Vec::with_capacity(MAX + 1);
    file.take(MAX as u64 + 1)
        .read_to_end(&mut text)
        .map_err(io_err("read", &path))?;
    Some(&text)
        .filter(|t| t.len() <= MAX)
        .and_then(|t| std::str::from_utf8(t).ok())
        .and_then(|t| t.trim_end().parse::<u64>().ok())
        .ok_or(Error::Corrupt {
            path,
            position: 0,
            offset: 0,
            reason: "the log start offset file does not hold a decimal offset",
        })
}

/// Writes the start offset durably: a temporary file, flushed, renamed over the old one.
fn write_start_file(dir: &Path, offset: u64) -> Result<()> {
    let tmp = dir.join(START_TMP);
    let file = File::create(&tmp).map_err(io_err("create", &tmp))?;
    file.write_all_at(format!("{offset}\n").as_bytes(), 0)
        .map_err(io_err("write", &tmp))?;
    file.sync_all().map_err(io_err("fsync", &tmp))?;
    let path = dir.join(START_FILE);
    fs::rename(&tmp, &path).map_err(io_err("rename", &tmp))?;
    sync_dir(dir)
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("fsync directory", dir))
}

/// A segmented, memory-mapped, append-only log in one directory: the single writer.
///
/// Readers get a [`LogReader`] from [`Log::reader`]; both are `Send + Sync`. See the crate
/// documentation for the guarantees.
#[derive(Debug)]
pub struct Log {
    shared: Arc<Shared>,
    config: LogConfig,
    active: Arc<Segment>,
    /// Highest byte of the active segment ever handed to a reservation.
    written_to: u64,
    /// Bytes of the active segment filled by `pwrite` (zeros ahead of the writer).
    zeroed_to: u64,
    /// Staging buffer of reservations of `PWRITE_MIN_BYTES` and more.
    scratch: Vec<u8>,
    last_flush_ms: Option<i64>,
    _lock: File,
}

/// A cheap, cloneable read handle (`Send + Sync`) that runs concurrently with the writer.
/// It sees only committed entries. It can also flush, so a group-commit flusher thread can
/// sync while the writer keeps appending.
#[derive(Debug, Clone)]
pub struct LogReader {
    shared: Arc<Shared>,
}

impl LogReader {
    /// Reads entries from the one containing `offset`, in order, until their payloads would
    /// exceed `max_bytes`; the first entry is returned even when it alone is larger, so a
    /// reader always makes progress. Reading at the next offset returns no entries.
    ///
    /// # Errors
    /// [`Error::OffsetOutOfRange`] when `offset` is below the log start or beyond the next
    /// offset; [`Error::Corrupt`] if a committed entry no longer decodes.
    pub fn read(&self, offset: u64, max_bytes: usize) -> Result<Vec<Entry>> {
        self.shared.read(offset, max_bytes)
    }

    /// The base offset of the first entry whose max timestamp is at least `timestamp`.
    ///
    /// # Errors
    /// [`Error::Corrupt`] if a committed entry no longer decodes.
    pub fn offset_for_timestamp(&self, timestamp: i64) -> Result<Option<u64>> {
        self.shared.offset_for_timestamp(timestamp)
    }

    /// Calls `each` on every entry from the one holding `from` up to the log end as it is
    /// now, in order, reading a few MiB at a time: the replay loop of a state machine whose
    /// records live in the log.
    ///
    /// # Errors
    /// A read error ([`Error::OffsetOutOfRange`] for `from` below the log start,
    /// [`Error::Corrupt`]),
    /// converted into `E`, or the first error `each` returns (which stops the replay).
    pub fn replay<E: From<Error>>(
        &self,
        from: u64,
        mut each: impl FnMut(Entry) -> std::result::Result<(), E>,
    ) -> std::result::Result<(), E> {
        let end = self.next_offset();
        let mut offset = from;
        while offset < end {
            let entries = self.read(offset, REPLAY_CHUNK_BYTES)?;
            let Some(last) = entries.last() else { break };
            offset = last.next_offset();
            for entry in entries {
                each(entry)?;
            }
        }
        Ok(())
    }

    /// The offset the next append gets (the log end offset).
    pub fn next_offset(&self) -> u64 {
        self.shared.next_offset.load(Ordering::Acquire)
    }

    /// Every entry below this offset is flushed to disk.
    pub fn durable_offset(&self) -> u64 {
        self.shared.durable_offset.load(Ordering::Acquire)
    }

    /// The first offset still in the log.
    pub fn log_start_offset(&self) -> u64 {
        self.shared.log_start_offset()
    }

    /// [`Log::delete_before`] from a read handle, so the durable write of the new start offset
    /// need not wait for (or hold up) the writer's appends.
    ///
    /// # Errors
    /// As [`Log::delete_before`].
    pub fn delete_before(&self, offset: u64) -> Result<u64> {
        self.shared.delete_before(offset)
    }

    /// Flushes everything committed so far; see [`Log::sync`]. Unlike [`Log::sync`] it does
    /// not trim the page cache ([`LogConfig::cache_window_bytes`]): a group-commit flusher
    /// calls [`LogReader::trim_cache`] once it has released the waiters of the flush.
    ///
    /// # Errors
    /// As [`Log::sync`].
    pub fn sync(&self) -> Result<()> {
        self.shared.sync()
    }

    /// Drops from the page cache the flushed bytes more than [`LogConfig::cache_window_bytes`]
    /// behind the flushed end (nothing when it is `None`). Takes the flush lock; a hint, it
    /// cannot fail.
    pub fn trim_cache(&self) {
        self.shared.trim_cache();
    }
}

impl Log {
    /// Opens (creating if needed) the log in `dir`, locks the directory and recovers: every
    /// segment is scanned; the active (last) segment ends at its first damaged entry and what
    /// follows is zeroed and flushed; damage in a sealed segment is an error (or a truncation,
    /// see [`SealedCorruption`]). Stray `*.log.tmp` files from an interrupted truncation are
    /// deleted. Everything recovered is flushed, so `durable_offset() == next_offset()`.
    ///
    /// # Errors
    /// [`Error::Locked`] when another handle holds the directory, [`Error::ForeignFile`] for a
    /// file that is not a segment, [`Error::Corrupt`] / [`Error::SegmentGap`] for damaged
    /// sealed segments, [`Error::InvalidConfig`], and [`Error::Io`] for failed file calls.
    pub fn open(dir: impl AsRef<Path>, config: LogConfig) -> Result<Log> {
        validate_config(&config)?;
        let dir = dir.as_ref().to_path_buf();
        fs::create_dir_all(&dir).map_err(io_err("create directory", &dir))?;
        let lock_path = dir.join(LOCK_FILE);
        let lock = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
            .map_err(io_err("open", &lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Err(Error::Locked { dir }),
            Err(TryLockError::Error(source)) => {
                return Err(Error::Io {
                    op: "flock",
                    path: lock_path,
                    source,
                });
            }
        }
        let mut found = Vec::new();
        for entry in fs::read_dir(&dir).map_err(io_err("read directory", &dir))? {
            let entry = entry.map_err(io_err("read directory", &dir))?;
            let path = entry.path();
            let name = entry.file_name();
            let Some(name) = name.to_str() else {
                return Err(Error::ForeignFile { path });
            };
            if name == LOCK_FILE || name == START_FILE {
                continue;
            }
            if name == START_TMP && path.is_file() {
                fs::remove_file(&path).map_err(io_err("remove", &path))?;
                continue;
            }
            if name.ends_with(TMP_SUFFIX) && path.is_file() {
                fs::remove_file(&path).map_err(io_err("remove", &path))?;
                continue;
            }
            match segment::parse_file_name(name) {
                Some(base) if path.is_file() => found.push((base, path)),
                _ => return Err(Error::ForeignFile { path }),
            }
        }
        found.sort();
        let segments = recover(&dir, &config, found)?;
        let Some(active) = segments.last().cloned() else {
            return Err(Error::InvalidConfig {
                what: "recovery produced no segment",
            });
        };
        let next = active.next_offset.load(Ordering::Acquire);
        let written_to = active.used();
        let mut floor = read_start_file(&dir)?;
        if floor > next {
            // Records up to the floor were deleted, then unflushed ones past the end were lost
            // in a crash: the log restarts at its end, and later appends must stay visible.
            write_start_file(&dir, next)?;
            floor = next;
        }
        let shared = Arc::new(Shared {
            dir,
            segments: RwLock::new(segments),
            next_offset: AtomicU64::new(next),
            durable_offset: AtomicU64::new(0),
            start_floor: AtomicU64::new(floor),
            io_failed: AtomicBool::new(false),
            fail_next_flush: AtomicBool::new(false),
            sync_lock: Mutex::new(()),
            cache_window: config.cache_window_bytes,
        });
        shared.sync()?;
        Ok(Log {
            shared,
            config,
            active,
            written_to,
            zeroed_to: written_to,
            scratch: Vec::new(),
            last_flush_ms: None,
            _lock: lock,
        })
    }

    /// A read handle for other threads.
    pub fn reader(&self) -> LogReader {
        LogReader {
            shared: Arc::clone(&self.shared),
        }
    }

    /// The configuration the log was opened with.
    pub fn config(&self) -> &LogConfig {
        &self.config
    }

    /// Replaces the configuration while the log is open: segment size, index interval and
    /// preallocation apply from the next segment rolled, the flush policy from the next
    /// append, retention from the next [`Log::retain`]. (`sealed_corruption` only matters when
    /// opening.) Segments that exist keep their size.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] as for [`Log::open`]; the configuration is then unchanged.
    pub fn reconfigure(&mut self, config: LogConfig) -> Result<()> {
        validate_config(&config)?;
        self.config = config;
        Ok(())
    }

    /// The log directory.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// The offset the next append gets (the log end offset).
    pub fn next_offset(&self) -> u64 {
        self.shared.next_offset.load(Ordering::Acquire)
    }

    /// Every entry below this offset is flushed to disk.
    pub fn durable_offset(&self) -> u64 {
        self.shared.durable_offset.load(Ordering::Acquire)
    }

    /// The first offset still in the log.
    pub fn log_start_offset(&self) -> u64 {
        self.shared.log_start_offset()
    }

    /// See [`LogReader::read`].
    ///
    /// # Errors
    /// As [`LogReader::read`].
    pub fn read(&self, offset: u64, max_bytes: usize) -> Result<Vec<Entry>> {
        self.shared.read(offset, max_bytes)
    }

    /// See [`LogReader::offset_for_timestamp`].
    ///
    /// # Errors
    /// As [`LogReader::offset_for_timestamp`].
    pub fn offset_for_timestamp(&self, timestamp: i64) -> Result<Option<u64>> {
        self.shared.offset_for_timestamp(timestamp)
    }

    /// Appends a copy of `payload` as one entry of `record_count` records whose largest
    /// timestamp is `max_timestamp`, then applies the flush policy.
    ///
    /// # Errors
    /// As [`Log::reserve`] and [`Reservation::commit`].
    pub fn append(
        &mut self,
        payload: &[u8],
        record_count: u32,
        max_timestamp: i64,
    ) -> Result<Appended> {
        if record_count == 0 {
            return Err(Error::ZeroRecords);
        }
        if payload.len() < PWRITE_MIN_BYTES {
            let mut slot = self.reserve(payload.len())?;
            slot.bytes_mut().copy_from_slice(payload);
            return slot.commit(record_count, max_timestamp);
        }
        // Large payloads go into the page cache with `pwrite` straight from the caller's
        // buffer (see `PWRITE_MIN_BYTES`).
        let slot = self.reserve_inner(payload.len(), Via::CallerPwrite, None)?;
        slot.write_with_pwrite(payload, record_count, max_timestamp)?;
        slot.publish(record_count, max_timestamp, false)
    }

    /// Reserves room for an entry of `len` payload bytes in the active segment, rolling to a
    /// new segment when it does not fit. The caller writes the payload through the reservation
    /// (and may patch it knowing [`Reservation::base_offset`]), then commits. Nothing is
    /// visible to readers before the commit; dropping the reservation abandons it. See
    /// [`Reservation`] for where the bytes live until the commit.
    ///
    /// # Errors
    /// [`Error::Poisoned`] after an earlier write or flush failure, [`Error::EntryTooLarge`]
    /// beyond the 4 GiB frame limit, [`Error::Io`] when a new segment cannot be created (a
    /// full disk, say; the log stays usable and what was durable stays readable).
    pub fn reserve(&mut self, len: usize) -> Result<Reservation<'_>> {
        let via = if len >= PWRITE_MIN_BYTES {
            Via::Staged
        } else {
            Via::Mapping
        };
        self.reserve_inner(len, via, None)
    }

    /// Like [`Log::reserve`], with the entry's bytes starting as a copy of `payload` instead
    /// of zeros (one copy fewer for a caller that patches a few bytes, as the broker patches a
    /// batch's base offset): patch through [`Reservation::bytes_mut`], then commit.
    ///
    /// # Errors
    /// As [`Log::reserve`].
    pub fn reserve_copy(&mut self, payload: &[u8]) -> Result<Reservation<'_>> {
        if payload.len() >= PWRITE_MIN_BYTES {
            return self.reserve_inner(payload.len(), Via::Staged, Some(payload));
        }
        let mut slot = self.reserve_inner(payload.len(), Via::Mapping, None)?;
        slot.bytes_mut().copy_from_slice(payload);
        Ok(slot)
    }

    fn reserve_inner(
        &mut self,
        len: usize,
        via: Via,
        initial: Option<&[u8]>,
    ) -> Result<Reservation<'_>> {
        self.shared.check_poisoned()?;
        let frame_len = HEADER_LEN as u64 + len as u64;
        if frame_len > MAX_FRAME_LEN {
            return Err(Error::EntryTooLarge {
                len: len as u64,
                max: MAX_FRAME_LEN - HEADER_LEN as u64,
            });
        }
        if self.active.used() + frame_len > self.active.capacity() {
            self.make_room(frame_len)?;
        }
        let position = self.active.used();
        let end = position + frame_len;
        // Only the mapping needs zeros ahead of it; a `pwrite` of the entry reserves its own
        // blocks (writing zeros first would write every byte twice).
        if via == Via::Mapping && end > self.zeroed_to {
            self.zero_ahead(position, end)?;
        }
        self.written_to = self.written_to.max(end);
        let base_offset = self.active.next_offset.load(Ordering::Acquire);
        let staged = via == Via::Staged;
        if staged {
            self.scratch.clear();
            match initial {
                Some(payload) => self.scratch.extend_from_slice(payload),
                None => self.scratch.resize(len, 0),
            }
        }
        Ok(Reservation {
            log: self,
            position,
            frame_len,
            base_offset,
            staged,
            committed: false,
        })
    }

    /// Fills the active segment with zeros by `pwrite` from `position` to at least `end` (see
    /// `ZERO_AHEAD_BYTES`). Only bytes the writer owns are touched, and they are zero already.
    fn zero_ahead(&mut self, position: u64, end: u64) -> Result<()> {
        let start = self.zeroed_to.max(position);
        let until = end
            .max(start + ZERO_AHEAD_BYTES)
            .min(self.active.capacity());
        let mut at = start;
        while at < until {
            let len = (until - at).min(ZERO_AHEAD_BYTES) as usize;
            self.active
                .file
                .write_all_at(&ZEROS[..len], at)
                .map_err(io_err("pwrite", &self.active.path))?;
            at += len as u64;
        }
        self.zeroed_to = until;
        Ok(())
    }

    /// Makes the active segment able to hold a frame of `frame_len` bytes.
    fn make_room(&mut self, frame_len: u64) -> Result<()> {
        let new_len = self.config.segment_bytes.max(frame_len);
        let seg = if self.active.used() == 0 {
            // An empty active segment too small for the entry: grow the file (growing a mapped
            // file is safe) and map it again. Readers holding the old mapping see no entries.
            Segment::open(
                self.active.path.clone(),
                self.active.base_offset,
                new_len,
                self.config.preallocate,
            )?
        } else {
            self.seal_active()?;
            let base = self.next_offset();
            match Segment::create(&self.shared.dir, base, new_len, self.config.preallocate) {
                Ok(seg) => seg,
                Err(e) => {
                    // Leave no half-created file behind (a full disk, say); the log stays
                    // usable on its current segments.
                    let _ = fs::remove_file(self.shared.dir.join(segment::file_name(base)));
                    return Err(e);
                }
            }
        };
        let seg = Arc::new(seg);
        {
            let mut segs = self.shared.segments.write();
            if self.active.used() == 0 {
                segs.pop();
            }
            segs.push(Arc::clone(&seg));
        }
        sync_dir(&self.shared.dir)?;
        self.active = seg;
        self.written_to = 0;
        self.zeroed_to = 0;
        Ok(())
    }

    /// Flushes the active segment before a newer one is created, so that every sealed segment
    /// is whole on disk and only the active one can have a torn tail after a crash.
    fn seal_active(&mut self) -> Result<()> {
        let s = &self.active;
        // Bytes of reservations that were never committed nor dropped (`mem::forget`) must not
        // remain after the last entry of a sealed segment.
        let used = s.used();
        if self.written_to > used {
            s.map.zero(used as usize, (self.written_to - used) as usize);
        }
        let start = s.synced_end.load(Ordering::Acquire);
        let end = self.written_to.max(s.used());
        if end > start {
            if let Err(source) = s.map.flush(start as usize, (end - start) as usize) {
                self.shared.poison();
                return Err(Error::Io {
                    op: "msync",
                    path: s.path.clone(),
                    source,
                });
            }
            s.synced_end.fetch_max(s.used(), Ordering::AcqRel);
        }
        self.shared
            .durable_offset
            .fetch_max(s.next_offset.load(Ordering::Acquire), Ordering::AcqRel);
        Ok(())
    }

    fn after_append(&mut self) -> Result<()> {
        if let Some(threshold) = self.config.writeback_bytes {
            self.active.start_writeback(threshold);
        }
        match self.config.flush {
            FlushPolicy::Always => self.sync(),
            FlushPolicy::EveryBytes(n) if self.unsynced_bytes() >= n => self.sync(),
            _ => Ok(()),
        }
    }

    fn unsynced_bytes(&self) -> u64 {
        self.active
            .used()
            .saturating_sub(self.active.synced_end.load(Ordering::Acquire))
    }

    /// Flushes every committed entry to disk (msync) and advances the durable offset. Many
    /// appends, one flush: this is group commit. Then trims the page cache
    /// ([`LogConfig::cache_window_bytes`]), as every flush the log does itself does.
    ///
    /// # Errors
    /// [`Error::Io`] when the flush fails; the log is then poisoned and refuses writes and
    /// flushes ([`Error::Poisoned`]) until reopened.
    pub fn sync(&self) -> Result<()> {
        self.shared.sync()?;
        self.shared.trim_cache();
        Ok(())
    }

    /// Applies the time-based flush policy: with [`FlushPolicy::EveryMillis`] flushes when
    /// that long passed since the last flush done here (the first call only starts the
    /// clock); with [`FlushPolicy::EveryBytes`] flushes when enough bytes are pending.
    /// Returns whether it flushed.
    ///
    /// # Errors
    /// As [`Log::sync`].
    pub fn maybe_flush(&mut self, now_ms: i64) -> Result<bool> {
        let pending = self.durable_offset() < self.next_offset();
        let due = match self.config.flush {
            FlushPolicy::Always => pending,
            FlushPolicy::EveryBytes(n) => pending && self.unsynced_bytes() >= n,
            FlushPolicy::EveryMillis(ms) => match self.last_flush_ms {
                None => {
                    self.last_flush_ms = Some(now_ms);
                    false
                }
                Some(last) => {
                    pending && now_ms.saturating_sub(last) >= i64::try_from(ms).unwrap_or(i64::MAX)
                }
            },
            FlushPolicy::Os => false,
        };
        if due {
            self.sync()?;
            self.last_flush_ms = Some(now_ms);
        }
        Ok(due)
    }

    /// Removes every entry that holds `offset` or a later one: the entry containing `offset`
    /// goes too, so the log ends at an entry boundary. Returns the new next offset. Later
    /// segments are deleted; the segment holding the cut is zeroed from there in place when no
    /// reader of this `Log` holds a slice of it, or else rewritten into a fresh file (so live
    /// `Bytes` never change). The truncation is flushed before it returns.
    ///
    /// Only slices read through this `Log` (or its readers) are counted: slices kept from an
    /// earlier `Log` instance on the same directory in this process must be dropped before
    /// truncating what they cover.
    ///
    /// # Errors
    /// [`Error::OffsetOutOfRange`] below the log start, [`Error::Poisoned`], [`Error::Io`]
    /// (which poisons the log).
    pub fn truncate_to(&mut self, offset: u64) -> Result<u64> {
        self.shared.check_poisoned()?;
        let shared = Arc::clone(&self.shared);
        let _guard = shared.sync_lock.lock();
        let next = self.next_offset();
        let start = self.log_start_offset();
        if offset < start {
            return Err(Error::OffsetOutOfRange {
                offset,
                log_start_offset: start,
                next_offset: next,
            });
        }
        if offset >= next {
            return Ok(next);
        }
        let result = self.truncate_locked(offset).and_then(|new_next| {
            // The cut can land below a start set inside the entry that held `offset`: lower
            // the start with it, or records appended next would be hidden.
            if shared.start_floor.load(Ordering::Acquire) > new_next {
                write_start_file(&shared.dir, new_next)?;
                shared.start_floor.store(new_next, Ordering::Release);
            }
            Ok(new_next)
        });
        if result.is_err() {
            shared.poison();
        }
        result
    }

    fn truncate_locked(&mut self, offset: u64) -> Result<u64> {
        let shared = Arc::clone(&self.shared);
        let (index, seg) = {
            let segs = shared.segments.read();
            let i = segs
                .partition_point(|s| s.base_offset <= offset)
                .saturating_sub(1);
            match segs.get(i) {
                Some(s) => (i, Arc::clone(s)),
                None => return Ok(self.next_offset()),
            }
        };
        let end = seg.used();
        let mut cut = seg.position_for_offset(offset);
        let new_next = loop {
            let h = seg.header_at(cut, end)?;
            if h.next_offset() > offset {
                break h.base_offset;
            }
            cut += u64::from(h.frame_len);
        };
        // Later segments go first, newest first, so a crash part-way leaves a log that ends
        // at a segment boundary.
        let removed: Vec<Arc<Segment>> = {
            let mut segs = shared.segments.write();
            let removed = segs.split_off(index + 1);
            shared
                .next_offset
                .store(seg.next_offset.load(Ordering::Acquire), Ordering::Release);
            removed
        };
        for r in removed.iter().rev() {
            fs::remove_file(&r.path).map_err(io_err("remove", &r.path))?;
        }
        if !removed.is_empty() {
            sync_dir(&shared.dir)?;
        }
        drop(removed);
        let was_active = Arc::ptr_eq(&seg, &self.active);
        // The list, `seg` and possibly `self.active` hold it; any other holder is a reader.
        let baseline = 2 + usize::from(was_active);
        let sole = {
            let segs = shared.segments.write();
            let sole = Arc::strong_count(&seg) == baseline;
            if sole {
                // Lower the committed end under the lock: a reader that finds the segment
                // from now on never looks at the bytes about to be zeroed.
                seg.publish(cut, new_next);
                shared.next_offset.store(new_next, Ordering::Release);
            }
            drop(segs);
            sole
        };
        let new_active = if sole {
            let old_end = if was_active {
                self.written_to.max(end)
            } else {
                end
            };
            let len = (old_end - cut) as usize;
            seg.map.zero(cut as usize, len);
            seg.map
                .flush(cut as usize, len)
                .map_err(io_err("msync", &seg.path))?;
            seg.synced_end.fetch_min(cut, Ordering::AcqRel);
            seg.cache_truncated(cut);
            seg.reindex_below(cut);
            seg
        } else {
            let fresh = Arc::new(self.rewrite_prefix(&seg, cut)?);
            let mut segs = shared.segments.write();
            if let Some(slot) = segs.get_mut(index) {
                *slot = Arc::clone(&fresh);
            }
            shared.next_offset.store(new_next, Ordering::Release);
            drop(segs);
            fresh
        };
        shared.durable_offset.fetch_min(new_next, Ordering::AcqRel);
        self.active = new_active;
        self.written_to = cut;
        self.zeroed_to = cut;
        Ok(new_next)
    }

    /// Writes the first `cut` bytes of `seg` into a fresh file, flushes it and renames it over
    /// the segment; the old inode stays alive for the readers that still map it.
    fn rewrite_prefix(&self, seg: &Segment, cut: u64) -> Result<Segment> {
        let dir = &self.shared.dir;
        let tmp = dir.join(format!("{:020}{TMP_SUFFIX}", seg.base_offset));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)
            .map_err(io_err("create", &tmp))?;
        let prefix = seg.map.read(0, cut as usize).unwrap_or(&[]);
        file.write_all_at(prefix, 0)
            .map_err(io_err("write", &tmp))?;
        let len = seg.capacity();
        if self.config.preallocate {
            crate::mmap::preallocate(&file, len).map_err(io_err("fallocate", &tmp))?;
        } else {
            file.set_len(len).map_err(io_err("set_len", &tmp))?;
        }
        file.sync_all().map_err(io_err("fsync", &tmp))?;
        fs::rename(&tmp, &seg.path).map_err(io_err("rename", &tmp))?;
        sync_dir(dir)?;
        let fresh = Segment::from_file(seg.path.clone(), file, seg.base_offset)?;
        let view = fresh.map.read(0, cut as usize).unwrap_or(&[]);
        let scan = frame::scan(view, seg.base_offset);
        for (pos, h) in &scan.entries {
            fresh.note_entry(*pos as u64, h, self.config.index_interval_bytes);
        }
        fresh.publish(scan.end as u64, scan.next_offset);
        fresh.synced_end.store(scan.end as u64, Ordering::Release);
        Ok(fresh)
    }

    /// Deletes the oldest sealed segments that retention by bytes or by age allows (the
    /// active segment is never deleted). Files are unlinked whole; readers holding slices
    /// keep their mapping until they drop them.
    ///
    /// # Errors
    /// [`Error::Poisoned`]; [`Error::Io`] when a file cannot be removed.
    pub fn retain(&mut self, now_ms: i64) -> Result<Retained> {
        self.shared.check_poisoned()?;
        let (removed, log_start_offset) = {
            let mut segs = self.shared.segments.write();
            let mut total: u64 = segs.iter().map(|s| s.used()).sum();
            let mut n = 0;
            while n + 1 < segs.len() {
                let s = &segs[n];
                let by_bytes = self
                    .config
                    .retention_bytes
                    .is_some_and(|b| total - s.used() >= b);
                let by_age = self.config.retention_ms.is_some_and(|ms| {
                    s.max_timestamp.load(Ordering::Acquire) < now_ms.saturating_sub(ms)
                });
                if !(by_bytes || by_age) {
                    break;
                }
                total -= s.used();
                n += 1;
            }
            let removed: Vec<Arc<Segment>> = segs.drain(..n).collect();
            let start = self.shared.start_in(&segs);
            (removed, start)
        };
        for r in &removed {
            fs::remove_file(&r.path).map_err(io_err("remove", &r.path))?;
        }
        if !removed.is_empty() {
            sync_dir(&self.shared.dir)?;
        }
        Ok(Retained {
            segments_deleted: removed.len(),
            log_start_offset,
        })
    }

    /// Deletes every record below `offset` (Kafka's DeleteRecords): the log start offset
    /// becomes `offset`, kept durably in the directory before this returns, and the sealed
    /// segments that hold only records below it are removed (the active one never is). The
    /// start may fall inside an entry: reads from it return that whole entry, as they do for
    /// any offset. Returns the log start offset, unchanged when `offset` is not above it.
    ///
    /// # Errors
    /// [`Error::OffsetOutOfRange`] beyond the log end, [`Error::Poisoned`], [`Error::Io`]
    /// when the start offset cannot be written (the log is then unchanged) or a segment file
    /// cannot be removed.
    pub fn delete_before(&mut self, offset: u64) -> Result<u64> {
        self.shared.delete_before(offset)
    }

    /// Test hook: makes the next flush fail as a failing disk would, to exercise poisoning.
    #[doc(hidden)]
    pub fn fail_next_flush(&self) {
        self.shared.fail_next_flush.store(true, Ordering::Release);
    }

    /// Test hook for crash simulation: every segment file with its flushed end and its
    /// committed end, oldest first. Only what lies between the two can be lost in a crash.
    #[doc(hidden)]
    pub fn flush_state(&self) -> Vec<(PathBuf, u64, u64)> {
        self.shared
            .segments
            .read()
            .iter()
            .map(|s| {
                (
                    s.path.clone(),
                    s.synced_end.load(Ordering::Acquire),
                    s.used(),
                )
            })
            .collect()
    }
}

/// Room for one entry in the active segment, from [`Log::reserve`].
///
/// Write the payload through [`Reservation::bytes_mut`], then [`Reservation::commit`]; the CRC
/// is computed at commit over the bytes as they are then. Dropping it uncommitted abandons the
/// entry (nothing becomes visible, no junk stays in the segment).
///
/// Payloads under 32 KiB are written directly in the mapping. Larger ones are staged in a
/// buffer the log reuses and written with `pwrite` at commit: one more copy, which measured
/// faster than writing that much through the mapping.
#[derive(Debug)]
pub struct Reservation<'a> {
    log: &'a mut Log,
    position: u64,
    frame_len: u64,
    base_offset: u64,
    /// The payload is staged in the log's scratch buffer and written with `pwrite` at commit.
    staged: bool,
    committed: bool,
}

impl Reservation<'_> {
    /// The offset the entry's first record gets.
    pub fn base_offset(&self) -> u64 {
        self.base_offset
    }

    /// Base offset of the segment the entry lands in.
    pub fn segment_base_offset(&self) -> u64 {
        self.log.active.base_offset
    }

    /// Byte position of the entry's frame in the segment file.
    pub fn position(&self) -> u64 {
        self.position
    }

    /// Payload length in bytes.
    pub fn len(&self) -> usize {
        (self.frame_len - HEADER_LEN as u64) as usize
    }

    /// Whether the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The payload bytes (zeroed at first): in the mapping, or in the staging buffer for
    /// payloads of 32 KiB and more.
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        if self.staged {
            return &mut self.log.scratch[..];
        }
        let start = (self.position + HEADER_LEN as u64) as usize;
        match self.log.active.map.window(start, self.len()) {
            Some(w) => w.into_mut_slice(),
            None => &mut [],
        }
    }

    /// Writes the header and CRC, publishes the entry to readers and applies the flush policy.
    ///
    /// # Errors
    /// [`Error::ZeroRecords`] when `record_count` is zero (the entry is abandoned); a flush
    /// error from the policy (the entry is then committed but not durable, and the log is
    /// poisoned).
    pub fn commit(self, record_count: u32, max_timestamp: i64) -> Result<Appended> {
        if record_count == 0 {
            return Err(Error::ZeroRecords);
        }
        if self.staged {
            let payload = std::mem::take(&mut self.log.scratch);
            let written = self.write_with_pwrite(&payload, record_count, max_timestamp);
            self.log.scratch = payload;
            written?;
            return self.publish(record_count, max_timestamp, false);
        }
        self.publish(record_count, max_timestamp, true)
    }

    /// Writes the whole frame (payload, then header with its CRC) with `pwrite`. A failure
    /// poisons the log.
    fn write_with_pwrite(
        &self,
        payload: &[u8],
        record_count: u32,
        max_timestamp: i64,
    ) -> Result<()> {
        let mut head = [0u8; HEADER_LEN];
        frame::write_fields(&mut head, self.base_offset, record_count, max_timestamp);
        let mut crc = crc32fast::Hasher::new();
        crc.update(&head[8..]);
        crc.update(payload);
        head[4..8].copy_from_slice(&crc.finalize().to_le_bytes());
        head[0..4].copy_from_slice(&(self.frame_len as u32).to_le_bytes());
        let seg = &self.log.active;
        let written = seg
            .file
            .write_all_at(payload, self.position + HEADER_LEN as u64)
            .and_then(|()| seg.file.write_all_at(&head, self.position));
        written.map_err(|source| {
            self.log.shared.poison();
            Error::Io {
                op: "pwrite",
                path: seg.path.clone(),
                source,
            }
        })
    }

    /// Seals the frame in the mapping (unless `seal` is false: the caller wrote header and CRC
    /// already) and publishes it.
    fn publish(mut self, record_count: u32, max_timestamp: i64, seal: bool) -> Result<Appended> {
        let Some(next_offset) = self.base_offset.checked_add(u64::from(record_count)) else {
            return Err(Error::OffsetOutOfRange {
                offset: self.base_offset,
                log_start_offset: self.log.log_start_offset(),
                next_offset: self.base_offset,
            });
        };
        let log = &mut *self.log;
        if seal {
            let Some(window) = log
                .active
                .map
                .window(self.position as usize, self.frame_len as usize)
            else {
                return Err(Error::Corrupt {
                    path: log.active.path.clone(),
                    position: self.position,
                    offset: self.base_offset,
                    reason: "reservation outside the mapping",
                });
            };
            let frame = window.into_mut_slice();
            frame::write_fields(frame, self.base_offset, record_count, max_timestamp);
            frame::seal_frame(frame);
        }
        let header = Header {
            frame_len: self.frame_len as u32,
            crc: 0,
            base_offset: self.base_offset,
            record_count,
            max_timestamp,
        };
        let end = self.position + self.frame_len;
        log.active.publish(end, next_offset);
        log.shared.next_offset.store(next_offset, Ordering::Release);
        log.active
            .note_entry(self.position, &header, log.config.index_interval_bytes);
        self.committed = true;
        let appended = Appended {
            base_offset: self.base_offset,
            next_offset,
            segment_base_offset: log.active.base_offset,
            position: self.position,
        };
        log.after_append()?;
        Ok(appended)
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        // An abandoned entry written through the mapping is zeroed so no junk stays after the
        // last entry. A staged one never reached the file; after a failed `pwrite` the log is
        // poisoned and the next open's recovery zeroes whatever part of it landed.
        let poisoned = self.log.shared.io_failed.load(Ordering::Acquire);
        if !self.committed && !self.staged && !poisoned {
            self.log
                .active
                .map
                .zero(self.position as usize, self.frame_len as usize);
        }
    }
}

/// Scans every segment, cuts the active one at its first bad entry, and builds the indexes.
fn recover(
    dir: &Path,
    config: &LogConfig,
    found: Vec<(u64, PathBuf)>,
) -> Result<Vec<Arc<Segment>>> {
    if found.is_empty() {
        let seg = Segment::create(dir, 0, config.segment_bytes, config.preallocate)?;
        sync_dir(dir)?;
        return Ok(vec![Arc::new(seg)]);
    }
    let count = found.len();
    let mut out: Vec<Arc<Segment>> = Vec::with_capacity(count);
    let mut expected: Option<u64> = None;
    let mut rest = found.into_iter().enumerate();
    let mut cut_short = false;
    while let Some((i, (base, path))) = rest.next() {
        if let Some(expected) = expected
            && base != expected
        {
            return Err(Error::SegmentGap {
                path,
                base_offset: base,
                expected,
            });
        }
        let mut is_last = i + 1 == count;
        let min_len = if is_last {
            config.segment_bytes
        } else {
            HEADER_LEN as u64
        };
        let seg = Segment::open(path, base, min_len, config.preallocate)?;
        let view = seg.map.read(0, seg.map.len()).unwrap_or(&[]);
        let scan = frame::scan(view, base);
        let damaged = scan.stop != FrameError::End || !scan.tail_clean;
        if damaged && !is_last {
            match config.sealed_corruption {
                SealedCorruption::Fail => {
                    return Err(Error::Corrupt {
                        path: seg.path.clone(),
                        position: scan.end as u64,
                        offset: scan.next_offset,
                        reason: if scan.stop == FrameError::End {
                            "non-zero bytes after the last entry"
                        } else {
                            scan.stop.describe()
                        },
                    });
                }
                SealedCorruption::Truncate => {
                    let later: Vec<(usize, (u64, PathBuf))> = rest.by_ref().collect();
                    for (_, (_, p)) in later.iter().rev() {
                        fs::remove_file(p).map_err(io_err("remove", p))?;
                    }
                    sync_dir(dir)?;
                    cut_short = true;
                    is_last = true;
                }
            }
        }
        if damaged && is_last {
            let len = seg.map.len() - scan.end;
            seg.map.zero(scan.end, len);
            seg.map
                .flush(scan.end, len)
                .map_err(io_err("msync", &seg.path))?;
        }
        for (pos, h) in &scan.entries {
            seg.note_entry(*pos as u64, h, config.index_interval_bytes);
        }
        seg.publish(scan.end as u64, scan.next_offset);
        expected = Some(scan.next_offset);
        out.push(Arc::new(seg));
        if cut_short {
            break;
        }
    }
    Ok(out)
}

#[cfg(test)]
#[cfg(target_os = "linux")]
mod tests {
    use super::*;

    /// A directory on the disk of the build (tmpfs, where `/tmp` may live, keeps every page
    /// in memory whatever the advice).
    fn disk_dir() -> tempfile::TempDir {
        let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/log-tests");
        fs::create_dir_all(&base).expect("test dir");
        tempfile::tempdir_in(base).expect("tempdir")
    }

    /// Pages of segment `seg` wholly inside `start..end` that are in the page cache.
    fn resident(log: &Log, seg: usize, start: u64, end: u64) -> usize {
        let segs = log.shared.segments.read();
        segs[seg]
            .map
            .resident_pages(start as usize, end as usize)
            .expect("mincore")
    }

    #[test]
    fn flushed_bytes_behind_the_cache_window_leave_the_page_cache_and_still_read_back() {
        const ENTRY: usize = 64 * 1024;
        let dir = disk_dir();
        let mut log = Log::open(
            dir.path(),
            LogConfig {
                segment_bytes: 4 << 20,
                flush: FlushPolicy::Os,
                cache_window_bytes: Some(1 << 20),
                ..LogConfig::default()
            },
        )
        .expect("open");
        // Ten entries, about 640 KiB: all inside the window, so all stay cached.
        let payload = |i: usize| vec![u8::try_from(i % 251).unwrap_or(0); ENTRY];
        for i in 0..10 {
            log.append(&payload(i), 1, 0).expect("append");
        }
        log.sync().expect("sync");
        let end = log.shared.segments.read()[0].used();
        assert_eq!(resident(&log, 0, 0, end), (end / 4096) as usize);
        // 100 entries over two segments (about 6.4 MiB): only the last MiB stays cached.
        for i in 10..100 {
            log.append(&payload(i), 1, 0).expect("append");
        }
        log.sync().expect("sync");
        let segments = log.shared.segments.read().len();
        assert!(segments >= 2, "the log rolled ({segments} segments)");
        let last = segments - 1;
        for seg in 0..last {
            let used = log.shared.segments.read()[seg].used();
            assert_eq!(
                resident(&log, seg, 0, used),
                0,
                "segment {seg} left the cache"
            );
        }
        let tail_end = log.shared.segments.read()[last].used();
        let tail_start = tail_end.saturating_sub(1 << 20);
        let tail_pages = ((tail_end - tail_start) / 4096) as usize;
        let tail_resident = resident(&log, last, tail_start + 4096, tail_end);
        assert!(
            tail_resident + 2 >= tail_pages,
            "the last MiB stays cached: {tail_resident} of {tail_pages} pages"
        );
        // Dropped bytes read back from disk, unchanged.
        for (i, entry) in log.read(0, usize::MAX).expect("read").iter().enumerate() {
            assert_eq!(entry.payload.as_ref(), payload(i).as_slice(), "entry {i}");
        }
        let reopened = {
            drop(log);
            Log::open(dir.path(), LogConfig::default()).expect("reopen")
        };
        assert_eq!(reopened.next_offset(), 100);
    }
}
