//! semel-log benchmarks, each next to its baseline measured in the same run:
//!
//! - `append/*`: appends without sync of 100 B, 1 KiB and 64 KiB entries into a fresh log
//!   (copy-in `append`, and in place through `reserve`/`commit`) versus `std::fs::File::write_all` of the same payload bytes into a fresh file. Every
//!   sample starts from a new directory, so pages are cold (first touch) for both.
//! - `append_sync_1mib/*`: the same with a flush every 1 MiB (`FlushPolicy::EveryBytes`, msync)
//!   versus `write_all` + `sync_data` every 1 MiB; `semel_log_writeback` also starts writeback
//!   of every 256 KiB as it is appended (`LogConfig::writeback_bytes`), and
//!   `semel_log_writeback_cache_window` also keeps only the last 8 MiB of flushed bytes in the
//!   page cache (`LogConfig::cache_window_bytes`), so later appends reuse the dropped pages.
//!   Each sample deletes its log, so the next one reuses those pages anyway: this variant
//!   shows what the window costs, not what it saves (that needs a log growing by GiBs, see
//!   the end-to-end benchmarks).
//! - `read/*`: sequential zero-copy reads of a prefilled log (warm pages) and random offset
//!   lookups.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::io::Write;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use semel_log::{FlushPolicy, Log, LogConfig};

const MIB: u64 = 1 << 20;

fn config(flush: FlushPolicy) -> LogConfig {
    LogConfig {
        segment_bytes: 1 << 30,
        flush,
        preallocate: std::env::var_os("SEMEL_LOG_BENCH_SPARSE").is_none(),
        ..LogConfig::default()
    }
}

/// Appends `iters` entries of `size` bytes to a fresh log; returns the time spent appending.
fn time_log(iters: u64, size: usize, flush: FlushPolicy) -> Duration {
    time_log_with(iters, size, config(flush))
}

fn time_log_with(iters: u64, size: usize, config: LogConfig) -> Duration {
    let flush = config.flush;
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), config).unwrap();
    let payload = vec![0x5Au8; size];
    let start = Instant::now();
    for _ in 0..iters {
        black_box(log.append(&payload, 1, 0).unwrap());
    }
    if flush != FlushPolicy::Os {
        log.sync().unwrap();
    }
    start.elapsed()
}

/// Appends `iters` entries of `size` bytes in place (reserve, write into the mapping, commit)
/// to a fresh log; returns the time spent appending.
fn time_log_in_place(iters: u64, size: usize) -> Duration {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), config(FlushPolicy::Os)).unwrap();
    let payload = vec![0x5Au8; size];
    let start = Instant::now();
    for _ in 0..iters {
        let mut slot = log.reserve(size).unwrap();
        slot.bytes_mut().copy_from_slice(&payload);
        black_box(slot.commit(1, 0).unwrap());
    }
    start.elapsed()
}

/// Writes `iters` payloads of `size` bytes to a fresh file with `write_all`, with
/// `sync_data` every `sync_every` bytes if given; returns the time spent writing.
fn time_file(iters: u64, size: usize, sync_every: Option<u64>) -> Duration {
    let dir = tempfile::tempdir().unwrap();
    let mut file = std::fs::File::create(dir.path().join("plain")).unwrap();
    let payload = vec![0x5Au8; size];
    let mut unsynced = 0u64;
    let start = Instant::now();
    for _ in 0..iters {
        file.write_all(&payload).unwrap();
        if let Some(every) = sync_every {
            unsynced += size as u64;
            if unsynced >= every {
                file.sync_data().unwrap();
                unsynced = 0;
            }
        }
    }
    if sync_every.is_some() {
        file.sync_data().unwrap();
    }
    start.elapsed()
}

fn append(c: &mut Criterion) {
    let mut group = c.benchmark_group("append");
    group.sample_size(10);
    for size in [100usize, 1024, 64 * 1024] {
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::new("semel_log", size), &size, |b, &size| {
            b.iter_custom(|iters| time_log(iters, size, FlushPolicy::Os));
        });
        group.bench_with_input(
            BenchmarkId::new("semel_log_in_place", size),
            &size,
            |b, &size| {
                b.iter_custom(|iters| time_log_in_place(iters, size));
            },
        );
        group.bench_with_input(
            BenchmarkId::new("file_write_all", size),
            &size,
            |b, &size| {
                b.iter_custom(|iters| time_file(iters, size, None));
            },
        );
    }
    group.finish();
}

fn append_sync(c: &mut Criterion) {
    let mut group = c.benchmark_group("append_sync_1mib");
    group.sample_size(10);
    for size in [1024usize, 64 * 1024] {
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::new("semel_log", size), &size, |b, &size| {
            b.iter_custom(|iters| time_log(iters, size, FlushPolicy::EveryBytes(MIB)));
        });
        group.bench_with_input(
            BenchmarkId::new("semel_log_writeback", size),
            &size,
            |b, &size| {
                let with_writeback = LogConfig {
                    writeback_bytes: Some(MIB / 4),
                    ..config(FlushPolicy::EveryBytes(MIB))
                };
                b.iter_custom(|iters| time_log_with(iters, size, with_writeback.clone()));
            },
        );
        group.bench_with_input(
            BenchmarkId::new("semel_log_writeback_cache_window", size),
            &size,
            |b, &size| {
                let with_window = LogConfig {
                    writeback_bytes: Some(MIB / 4),
                    cache_window_bytes: Some(8 * MIB),
                    ..config(FlushPolicy::EveryBytes(MIB))
                };
                b.iter_custom(|iters| time_log_with(iters, size, with_window.clone()));
            },
        );
        group.bench_with_input(
            BenchmarkId::new("file_write_all_sync_data", size),
            &size,
            |b, &size| {
                b.iter_custom(|iters| time_file(iters, size, Some(MIB)));
            },
        );
    }
    group.finish();
}

fn read(c: &mut Criterion) {
    const ENTRY: usize = 1024;
    const ENTRIES: u64 = 16 * 1024; // 16 MiB of payload
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), config(FlushPolicy::Os)).unwrap();
    let payload = vec![0xA5u8; ENTRY];
    for _ in 0..ENTRIES {
        log.append(&payload, 1, 0).unwrap();
    }
    log.sync().unwrap();
    let reader = log.reader();

    let mut group = c.benchmark_group("read");
    group.throughput(Throughput::Bytes(ENTRIES * ENTRY as u64));
    group.bench_function("sequential_1mib_fetches", |b| {
        b.iter(|| {
            let mut at = 0;
            let mut bytes = 0usize;
            while at < ENTRIES {
                let entries = reader.read(at, MIB as usize).unwrap();
                for e in &entries {
                    bytes += e.payload.len();
                }
                at = entries.last().unwrap().next_offset();
            }
            assert_eq!(bytes, ENTRIES as usize * ENTRY);
        });
    });
    group.throughput(Throughput::Elements(1));
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    group.bench_function("random_offset_lookup", |b| {
        b.iter(|| {
            // xorshift: a cheap deterministic offset sequence.
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let entries = reader.read(state % ENTRIES, 1).unwrap();
            black_box(entries[0].payload.len())
        });
    });
    group.finish();
}

criterion_group!(benches, append, append_sync, read);
criterion_main!(benches);
