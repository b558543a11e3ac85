//! The only module with `unsafe`: a shared, writable memory map of one segment file.
//!
//! # Safety contract
//!
//! A [`Mapping`] hands out `&[u8]` views of its bytes and writes through a raw pointer. That is
//! sound as long as no byte is written while a shared view of it exists. The crate keeps this
//! with one rule, enforced by the callers in `segment.rs` and `log.rs`:
//!
//! - Bytes below a segment's published `committed_end` are only read (views, `Bytes` slices).
//!   They are written again only by truncation and recovery, and only when the `Log` holds the
//!   segment's only reference (no reader, no live `Bytes` slice can see them).
//! - Bytes at or above `committed_end` are only touched by the single writer (`&mut Log`),
//!   through [`WriteWindow`], [`Mapping::zero`] or `pwrite` on the segment's file (the page
//!   cache is shared with the mapping); nobody reads them until
//!   the writer publishes a larger `committed_end` with a release store.
//! - The file is never shrunk while mapped (segments are retired by unlinking whole files), so
//!   no access inside the mapping can fault with SIGBUS for lack of a page. A full disk could
//!   still fault a write into a sparse page: the writer only writes through the mapping into
//!   space it first filled with zeros by `pwrite` (which reserves the blocks and reports
//!   ENOSPC), or that `posix_fallocate` reserved.
//! - The data directory is locked (`flock`) so no other well-behaved process changes the files.
#![allow(unsafe_code)]

use std::fs::File;
use std::io;
use std::marker::PhantomData;

use memmap2::MmapRaw;

/// A read-write shared mapping of a whole segment file.
#[derive(Debug)]
pub(crate) struct Mapping {
    raw: MmapRaw,
}

impl Mapping {
    /// Maps the whole file read-write and shared.
    pub(crate) fn map(file: &File) -> io::Result<Self> {
        let raw = MmapRaw::map_raw(file)?;
        Ok(Self { raw })
    }

    /// Drops the page-cache pages from the one holding `start` up to the last one wholly below
    /// `end` (every byte below `end` must be flushed): unmaps them from this process
    /// (`madvise(MADV_DONTNEED)`, which for a shared file mapping
    /// keeps the data: the next access faults it back in from the file) and asks the kernel
    /// to drop them from the page cache (`posix_fadvise(POSIX_FADV_DONTNEED)`), so their memory
    /// is reused by the next appends. Callers pass only flushed bytes (see `LogConfig::
    /// cache_window_bytes`), so nothing is written back and no data changes: a view of these
    /// bytes reads the same values after the fault. Linux only (a no-op elsewhere); a hint,
    /// so errors are ignored.
    pub(crate) fn drop_cached(&self, file: &File, start: usize, end: usize) {
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::AsRawFd;
            let Some((first, last)) = self.pages(start / page_size() * page_size(), end) else {
                return;
            };
            // SAFETY: MADV_DONTNEED on a *shared file* mapping only drops this process's page
            // table entries (dirty state goes to the page cache); the bytes stay the file's
            // bytes, so every live view reads the same values after faulting them back in.
            // The range is page-aligned and inside the mapping.
            let _ = unsafe {
                self.raw.unchecked_advise_range(
                    memmap2::UncheckedAdvice::DontNeed,
                    first,
                    last - first,
                )
            };
            let (Ok(offset), Ok(len)) = (
                libc::off_t::try_from(first),
                libc::off_t::try_from(last - first),
            ) else {
                return;
            };
            // SAFETY: plain FFI call on a valid, open file descriptor owned by `file`; it does
            // not touch our memory.
            let _ = unsafe {
                libc::posix_fadvise(file.as_raw_fd(), offset, len, libc::POSIX_FADV_DONTNEED)
            };
        }
        #[cfg(not(target_os = "linux"))]
        let _ = (file, start, end);
    }

    /// Asks the kernel to read `start..end` of this segment into the page cache ahead of use
    /// (`madvise(MADV_WILLNEED)`: asynchronous readahead), for bytes that
    /// [`Mapping::drop_cached`] dropped. A hint; Unix only.
    pub(crate) fn will_need(&self, start: usize, end: usize) {
        let end = end.min(self.raw.len());
        if start < end {
            #[cfg(unix)]
            let _ = self
                .raw
                .advise_range(memmap2::Advice::WillNeed, start, end - start);
        }
    }

    /// How many of the pages wholly inside `start..end` are in the page cache (`mincore`), or
    /// `None` if it cannot tell. For tests of [`Mapping::drop_cached`].
    #[cfg(test)]
    #[cfg(target_os = "linux")]
    pub(crate) fn resident_pages(&self, start: usize, end: usize) -> Option<usize> {
        let page = page_size();
        let Some((first, last)) = self.pages(start.div_ceil(page) * page, end) else {
            return Some(0);
        };
        let mut status = vec![0u8; (last - first) / page];
        // SAFETY: the range is page-aligned and inside the live mapping; `status` holds one
        // byte per page of it, as mincore requires.
        let rc = unsafe {
            libc::mincore(
                self.raw.as_mut_ptr().add(first).cast(),
                last - first,
                status.as_mut_ptr(),
            )
        };
        (rc == 0).then(|| status.iter().filter(|&&s| s & 1 == 1).count())
    }

    /// `first..last`, where `first` is page-aligned and `last` ends the last page wholly below
    /// `end` (and inside the mapping); `None` when that is empty.
    #[cfg(target_os = "linux")]
    fn pages(&self, first: usize, end: usize) -> Option<(usize, usize)> {
        let page = page_size();
        let last = end.min(self.raw.len()) / page * page;
        (first < last).then_some((first, last))
    }

    /// Length of the mapping in bytes.
    pub(crate) fn len(&self) -> usize {
        self.raw.len()
    }

    fn in_bounds(&self, start: usize, len: usize) -> bool {
        start
            .checked_add(len)
            .is_some_and(|end| end <= self.raw.len())
    }

    /// A shared view of `len` bytes at `start`, or `None` when out of bounds. Callers only ask
    /// for bytes below the segment's committed end (see the module contract).
    pub(crate) fn read(&self, start: usize, len: usize) -> Option<&[u8]> {
        if !self.in_bounds(start, len) {
            return None;
        }
        // SAFETY: the range is inside the live mapping (checked above; the mapping lives as
        // long as `self`). By the module contract, nobody writes these bytes while a view of
        // them exists: they are below the published committed end, which only the `Log` can
        // lower, and only when it holds the segment's sole reference.
        Some(unsafe { std::slice::from_raw_parts(self.raw.as_ptr().add(start), len) })
    }

    /// Writes zeros over `len` bytes at `start`, skipping pages that are already zero so that
    /// untouched preallocated space is not faulted in. Writer-only, above the committed
    /// end (or with the sole reference, see the module contract).
    pub(crate) fn zero(&self, start: usize, len: usize) -> bool {
        if !self.in_bounds(start, len) {
            return false;
        }
        let mut at = start;
        let end = start + len;
        while at < end {
            let chunk = (end - at).min(4096 - at % 4096);
            let already_zero = self
                .read(at, chunk)
                .is_some_and(|b| b.iter().all(|&x| x == 0));
            if !already_zero {
                // SAFETY: `at..at + chunk` is inside `start..end`, which is in bounds; by the
                // module contract no view of these bytes exists outside this function, and the
                // view taken just above has ended.
                unsafe { std::ptr::write_bytes(self.raw.as_mut_ptr().add(at), 0, chunk) };
            }
            at += chunk;
        }
        true
    }

    /// An exclusive window of `len` bytes at `start` for in-place writes, or `None` when out of
    /// bounds. Writer-only, above the committed end.
    pub(crate) fn window(&self, start: usize, len: usize) -> Option<WriteWindow<'_>> {
        if !self.in_bounds(start, len) {
            return None;
        }
        // SAFETY: in bounds (checked), so the pointer stays inside the mapping.
        let ptr = unsafe { self.raw.as_mut_ptr().add(start) };
        Some(WriteWindow {
            ptr,
            len,
            _mapping: PhantomData,
        })
    }

    /// Flushes (msync, synchronously) the byte range to disk.
    pub(crate) fn flush(&self, start: usize, len: usize) -> io::Result<()> {
        if len == 0 {
            return Ok(());
        }
        self.raw.flush_range(start, len)
    }
}

/// An exclusive, writable window into a [`Mapping`], borrowed from it.
#[derive(Debug)]
pub(crate) struct WriteWindow<'a> {
    ptr: *mut u8,
    len: usize,
    _mapping: PhantomData<&'a Mapping>,
}

impl<'a> WriteWindow<'a> {
    /// The window's bytes, for as long as the mapping is borrowed.
    pub(crate) fn into_mut_slice(self) -> &'a mut [u8] {
        // SAFETY: `ptr..ptr + len` was checked to be inside the mapping, which outlives `'a`;
        // the window is exclusive by the module contract (the single writer creates at most one
        // window at a time, above the committed end), and consuming the window hands the one slice out once.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.len) }
    }
}

/// Bytes available to this user on the filesystem holding `path` (`statvfs`); `u64::MAX`
/// where that cannot be asked.
pub(crate) fn available_bytes(path: &std::path::Path) -> io::Result<u64> {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::ffi::OsStrExt;
        let Ok(c_path) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
            return Err(io::Error::from(io::ErrorKind::InvalidInput));
        };
        let mut stat = std::mem::MaybeUninit::<libc::statvfs>::uninit();
        // SAFETY: `c_path` is a valid NUL-terminated string and `stat` points to writable
        // memory of the right type; statvfs writes only into it.
        let rc = unsafe { libc::statvfs(c_path.as_ptr(), stat.as_mut_ptr()) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: statvfs returned 0, so it initialised the whole struct.
        let stat = unsafe { stat.assume_init() };
        // The fields are 32-bit on some targets.
        #[allow(clippy::useless_conversion)]
        let (blocks, block_size) = (u64::from(stat.f_bavail), u64::from(stat.f_frsize));
        Ok(blocks.saturating_mul(block_size))
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = path;
        Ok(u64::MAX)
    }
}

/// The size of a memory page.
#[cfg(target_os = "linux")]
fn page_size() -> usize {
    // SAFETY: sysconf reads a constant of the system; it touches no memory of ours.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(size)
        .ok()
        .filter(|&s| s > 0)
        .unwrap_or(4096)
}

/// Starts writeback of `len` bytes at `offset` of `file` and returns without waiting for it
/// (Linux: `sync_file_range(SYNC_FILE_RANGE_WRITE)`; elsewhere nothing). A hint: its result is
/// ignored because a write-back error stays recorded for the next `msync`/`fsync`, which is
/// what reports durability.
pub(crate) fn start_writeback(file: &File, offset: u64, len: u64) {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let (Ok(offset), Ok(len)) = (
            libc::off64_t::try_from(offset),
            libc::off64_t::try_from(len),
        ) else {
            return;
        };
        // SAFETY: plain FFI call on a valid, open file descriptor owned by `file`; it does not
        // touch our memory.
        let _ = unsafe {
            libc::sync_file_range(file.as_raw_fd(), offset, len, libc::SYNC_FILE_RANGE_WRITE)
        };
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (file, offset, len);
}

/// Reserves the file's blocks up to `len` bytes (and sets its length), so writes through the
/// mapping cannot hit a full disk later. Linux: `posix_fallocate`; elsewhere: `set_len` only.
pub(crate) fn preallocate(file: &File, len: u64) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let Ok(len_off) = libc::off_t::try_from(len) else {
            return Err(io::Error::from(io::ErrorKind::InvalidInput));
        };
        // SAFETY: plain FFI call on a valid, open file descriptor owned by `file`; it does not
        // touch our memory.
        let rc = unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, len_off) };
        match rc {
            0 => return Ok(()),
            // Filesystems without fallocate support: fall back to a sparse file.
            libc::EOPNOTSUPP | libc::EINVAL => {}
            errno => return Err(io::Error::from_raw_os_error(errno)),
        }
    }
    file.set_len(len)
}
