//! Model-based test (firezone style): a reference model in plain collections, the log as the
//! system under test, random transitions (append, in-place append, abandoned reservation,
//! read, timestamp lookup, sync, timed flush, truncate, retain, delete before an offset,
//! reopen, crash), and invariants checked after every step.
//!
//! A crash drops the `Log` without flushing and then damages the only region that is not yet
//! flushed (the active segment between its flushed end and its committed end): everything
//! from a random byte is zeroed ("the rest never reached the disk"), or only a random hole is
//! zeroed and later bytes are kept ("a later page reached the disk, an earlier one did not").
//! After reopening, the log must hold exactly the model's entries up to the first entry the
//! damage changed, and every entry below the durable offset the log reported must survive.

use bytes::Bytes;
use proptest::prelude::*;
use proptest::sample::Index;
use semel_log::{Entry, Error, FlushPolicy, Log, LogConfig, SealedCorruption};

const HEADER: u64 = 28;

#[derive(Debug, Clone)]
struct ModelEntry {
    base: u64,
    count: u32,
    ts: i64,
    payload: Vec<u8>,
    segment: u64,
    position: u64,
}

impl ModelEntry {
    fn next(&self) -> u64 {
        self.base + u64::from(self.count)
    }
    fn frame(&self) -> u64 {
        HEADER + self.payload.len() as u64
    }
}

#[derive(Debug, Clone, Copy)]
struct ModelSegment {
    base: u64,
    capacity: u64,
}

/// The reference: the entries the log must hold, and where they must land.
#[derive(Debug)]
struct Model {
    config: LogConfig,
    entries: Vec<ModelEntry>,
    segments: Vec<ModelSegment>,
    now_ms: i64,
    /// The start offset set by `delete_before` (records below it are gone).
    floor: u64,
}

impl Model {
    fn next(&self) -> u64 {
        self.entries
            .last()
            .map_or(self.active().base, ModelEntry::next)
            .max(self.active().base)
    }

    fn start(&self) -> u64 {
        self.segments[0].base.max(self.floor).min(self.next())
    }

    fn active(&self) -> ModelSegment {
        *self.segments.last().unwrap()
    }

    fn used(&self, base: u64) -> u64 {
        self.entries
            .iter()
            .filter(|e| e.segment == base)
            .map(ModelEntry::frame)
            .sum()
    }

    /// Where a frame of `frame` bytes lands, rolling or growing the active segment like the
    /// log does (at reservation time, so also for abandoned reservations).
    fn place(&mut self, frame: u64) -> (u64, u64) {
        let active = self.active();
        let used = self.used(active.base);
        if used + frame > active.capacity {
            let capacity = self.config.segment_bytes.max(frame);
            if used == 0 {
                self.segments.last_mut().unwrap().capacity = capacity;
            } else {
                let base = self.next();
                self.segments.push(ModelSegment { base, capacity });
            }
        }
        let active = self.active();
        (active.base, self.used(active.base))
    }

    fn expected_read(&self, offset: u64, max_bytes: usize) -> Vec<&ModelEntry> {
        let mut out = Vec::new();
        let mut used = 0usize;
        for e in self.entries.iter().filter(|e| e.next() > offset) {
            if !out.is_empty() && used + e.payload.len() > max_bytes {
                break;
            }
            used += e.payload.len();
            out.push(e);
            if used >= max_bytes {
                break;
            }
        }
        out
    }

    fn truncate(&mut self, offset: u64) -> u64 {
        if offset >= self.next() {
            return self.next();
        }
        self.entries.retain(|e| e.next() <= offset);
        let new_next = self
            .entries
            .last()
            .map_or(self.segments[0].base, ModelEntry::next);
        self.floor = self.floor.min(new_next);
        let keep = self.segments.iter().filter(|s| s.base <= new_next).count();
        self.segments.truncate(keep);
        let active = self.active().base;
        self.entries
            .retain(|e| e.segment < active || e.base < new_next);
        new_next
    }

    fn retain(&mut self) -> usize {
        let mut total: u64 = self.segments.iter().map(|s| self.used(s.base)).sum();
        let mut n = 0;
        while n + 1 < self.segments.len() {
            let s = self.segments[n];
            let used = self.used(s.base);
            let max_ts = self
                .entries
                .iter()
                .filter(|e| e.segment == s.base)
                .map(|e| e.ts)
                .max()
                .unwrap_or(i64::MIN);
            let by_bytes = self
                .config
                .retention_bytes
                .is_some_and(|b| total - used >= b);
            let by_age = self
                .config
                .retention_ms
                .is_some_and(|ms| max_ts < self.now_ms.saturating_sub(ms));
            if !(by_bytes || by_age) {
                break;
            }
            total -= used;
            n += 1;
        }
        let gone: Vec<u64> = self.segments.drain(..n).map(|s| s.base).collect();
        self.entries.retain(|e| !gone.contains(&e.segment));
        n
    }

    /// Opening grows the active segment to the configured segment size.
    fn reopened(&mut self) {
        let segment_bytes = self.config.segment_bytes;
        let active = self.segments.last_mut().unwrap();
        active.capacity = active.capacity.max(segment_bytes);
    }

    fn delete_before(&mut self, offset: u64) -> u64 {
        if offset <= self.start() {
            return self.start();
        }
        self.floor = offset;
        let n = self
            .segments
            .iter()
            .skip(1)
            .take_while(|s| s.base <= offset)
            .count();
        let gone: Vec<u64> = self.segments.drain(..n).map(|s| s.base).collect();
        self.entries.retain(|e| !gone.contains(&e.segment));
        offset
    }
}

#[derive(Debug, Clone)]
enum Op {
    Append {
        len: usize,
        count: u32,
        ts: i64,
        in_place: bool,
    },
    Abandon {
        len: usize,
    },
    Read {
        at: Index,
        max_bytes: usize,
        hold: bool,
    },
    Timestamp {
        ts: i64,
    },
    /// A flush by the writer, or by a reader (a group-commit flusher) followed by its
    /// page-cache trim.
    Sync {
        via_reader: bool,
    },
    MaybeFlush {
        advance_ms: i64,
    },
    Truncate {
        at: Index,
    },
    Retain {
        advance_ms: i64,
    },
    DeleteBefore {
        at: Index,
        /// Through a `LogReader` instead of the writer.
        via_reader: bool,
    },
    /// New segment size and retention limits while open (the flush policy stays).
    Reconfigure {
        segment_bytes: u64,
        retention_bytes: Option<u64>,
        retention_ms: Option<i64>,
    },
    Reopen,
    Crash {
        cut: Index,
        hole: Option<usize>,
    },
}

fn op() -> impl Strategy<Value = Op> {
    // Payloads of 32 KiB and more take the `pwrite` path (staged for `reserve`).
    let len = prop_oneof![8 => 0usize..120, 2 => 120usize..1500, 1 => 8000usize..9000, 1 => 33_000usize..34_000];
    prop_oneof![
        12 => (len.clone(), 1u32..5, 0i64..2000, any::<bool>())
            .prop_map(|(len, count, ts, in_place)| Op::Append { len, count, ts, in_place }),
        1 => len.prop_map(|len| Op::Abandon { len }),
        3 => (any::<Index>(), prop_oneof![Just(0usize), 1usize..400, Just(usize::MAX)], any::<bool>())
            .prop_map(|(at, max_bytes, hold)| Op::Read { at, max_bytes, hold }),
        1 => (-10i64..2100).prop_map(|ts| Op::Timestamp { ts }),
        2 => any::<bool>().prop_map(|via_reader| Op::Sync { via_reader }),
        2 => (0i64..120).prop_map(|advance_ms| Op::MaybeFlush { advance_ms }),
        2 => any::<Index>().prop_map(|at| Op::Truncate { at }),
        1 => (0i64..600).prop_map(|advance_ms| Op::Retain { advance_ms }),
        1 => (any::<Index>(), any::<bool>())
            .prop_map(|(at, via_reader)| Op::DeleteBefore { at, via_reader }),
        1 => (prop_oneof![Just(200u64), Just(512), Just(2048)], prop::option::of(300u64..3000), prop::option::of(200i64..1500))
            .prop_map(|(segment_bytes, retention_bytes, retention_ms)| Op::Reconfigure { segment_bytes, retention_bytes, retention_ms }),
        1 => Just(Op::Reopen),
        2 => (any::<Index>(), prop::option::of(1usize..64)).prop_map(|(cut, hole)| Op::Crash { cut, hole }),
    ]
}

fn config() -> impl Strategy<Value = LogConfig> {
    (
        // 16 KiB segments hold whole pages, which the cache window can drop.
        prop_oneof![Just(200u64), Just(512), Just(2048), Just(16384)],
        prop_oneof![Just(0u64), Just(64), Just(1024)],
        prop_oneof![
            Just(FlushPolicy::Always),
            Just(FlushPolicy::EveryBytes(300)),
            Just(FlushPolicy::EveryMillis(50)),
            Just(FlushPolicy::Os),
        ],
        prop::option::of(300u64..3000),
        prop::option::of(200i64..1500),
        prop::option::of(prop_oneof![Just(0u64), Just(100), Just(4096)]),
        prop::option::of(prop_oneof![Just(0u64), Just(4096)]),
    )
        .prop_map(
            |(
                segment_bytes,
                index_interval_bytes,
                flush,
                retention_bytes,
                retention_ms,
                writeback_bytes,
                cache_window_bytes,
            )| {
                LogConfig {
                    segment_bytes,
                    index_interval_bytes,
                    flush,
                    retention_bytes,
                    retention_ms,
                    sealed_corruption: SealedCorruption::Fail,
                    preallocate: true,
                    writeback_bytes,
                    cache_window_bytes,
                }
            },
        )
}

fn payload_for(base: u64, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (base as usize * 7 + i * 13) as u8)
        .collect()
}

fn assert_entry(got: &Entry, want: &ModelEntry) {
    assert_eq!(
        (
            got.base_offset,
            got.record_count,
            got.max_timestamp,
            &got.payload[..]
        ),
        (want.base, want.count, want.ts, &want.payload[..])
    );
}

/// Invariants after every step.
fn check(log: &Log, model: &Model, held: &[(Vec<u8>, Bytes)]) {
    assert_eq!(log.next_offset(), model.next(), "next offset");
    assert_eq!(log.log_start_offset(), model.start(), "log start offset");
    assert!(
        log.durable_offset() <= log.next_offset(),
        "durable offset beyond the end"
    );
    let all = log.read(model.start(), usize::MAX).unwrap();
    let want = model.expected_read(model.start(), usize::MAX);
    assert_eq!(all.len(), want.len(), "entry count");
    for (got, want) in all.iter().zip(want) {
        assert_entry(got, want);
    }
    for (want, bytes) in held {
        assert_eq!(&bytes[..], &want[..], "a held slice changed");
    }
}

fn crash(log: Log, model: &mut Model, cut: Index, hole: Option<usize>) {
    let durable = log.durable_offset();
    let state = log.flush_state();
    drop(log);
    // The newest segment with unflushed bytes gets the tear; any older one loses all of its
    // unflushed bytes (there should be none: sealing flushes).
    let torn = state
        .iter()
        .rposition(|(_, synced, committed)| synced < committed);
    let mut lost_from: Option<usize> = None;
    for (i, (path, synced_end, committed_end)) in state.iter().enumerate() {
        let (synced_end, committed_end) = (*synced_end, *committed_end);
        if synced_end >= committed_end {
            continue;
        }
        let original = std::fs::read(path).unwrap();
        let mut damaged = original.clone();
        let (from, to) = if Some(i) == torn {
            let span = committed_end - synced_end;
            let cut = synced_end + cut.index(span as usize + 1) as u64;
            (
                cut,
                hole.map_or(committed_end, |h| (cut + h as u64).min(committed_end)),
            )
        } else {
            (synced_end, committed_end)
        };
        damaged[from as usize..to as usize].fill(0);
        std::fs::write(path, &damaged).unwrap();
        let base: u64 = path.file_name().unwrap().to_str().unwrap()[..20]
            .parse()
            .unwrap();
        let first_changed = model.entries.iter().position(|e| {
            e.segment == base
                && (e.position..e.position + e.frame())
                    .any(|p| original[p as usize] != damaged[p as usize])
        });
        if let Some(lost) = first_changed {
            lost_from = Some(lost_from.map_or(lost, |l| l.min(lost)));
        }
    }
    if let Some(lost) = lost_from {
        assert!(
            model.entries[lost].next() > durable,
            "the crash damaged entry {} below the durable offset {durable}: a flushed end was wrong",
            model.entries[lost].base
        );
        model.entries.truncate(lost);
        // The start offset file is written durably; only a log end that fell below it moves it.
        model.floor = model.floor.min(model.next());
    }
}

fn run(config: LogConfig, ops: Vec<Op>) {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), config.clone()).unwrap();
    let mut model = Model {
        config: config.clone(),
        entries: Vec::new(),
        segments: vec![ModelSegment {
            base: 0,
            capacity: config.segment_bytes,
        }],
        now_ms: 0,
        floor: 0,
    };
    let mut held: Vec<(Vec<u8>, Bytes)> = Vec::new();
    for op in ops {
        match op {
            Op::Append {
                len,
                count,
                ts,
                in_place,
            } => {
                let (segment, position) = model.place(HEADER + len as u64);
                let base = model.next();
                let payload = payload_for(base, len);
                let appended = if in_place && len % 2 == 1 {
                    // Start from a copy, then patch the first bytes knowing the offset (as
                    // the broker patches a batch's baseOffset).
                    let mut wrong = payload.clone();
                    wrong.iter_mut().take(8).for_each(|b| *b = !*b);
                    let mut slot = log.reserve_copy(&wrong).unwrap();
                    assert_eq!(slot.base_offset(), base);
                    assert_eq!(slot.bytes_mut(), &wrong[..]);
                    let head = payload.len().min(8);
                    slot.bytes_mut()[..head].copy_from_slice(&payload[..head]);
                    slot.commit(count, ts).unwrap()
                } else if in_place {
                    let mut slot = log.reserve(len).unwrap();
                    assert_eq!(slot.base_offset(), base);
                    assert!(slot.bytes_mut().iter().all(|&b| b == 0), "zeroed at first");
                    // Write, then patch the first bytes knowing the offset (as the broker
                    // patches a batch's baseOffset).
                    slot.bytes_mut().fill(0xFF);
                    slot.bytes_mut().copy_from_slice(&payload);
                    slot.commit(count, ts).unwrap()
                } else {
                    log.append(&payload, count, ts).unwrap()
                };
                assert_eq!(
                    (
                        appended.base_offset,
                        appended.segment_base_offset,
                        appended.position
                    ),
                    (base, segment, position),
                    "placement"
                );
                model.entries.push(ModelEntry {
                    base,
                    count,
                    ts,
                    payload,
                    segment,
                    position,
                });
                if config.flush == FlushPolicy::Always {
                    assert_eq!(log.durable_offset(), log.next_offset());
                }
            }
            Op::Abandon { len } => {
                model.place(HEADER + len as u64);
                let mut slot = log.reserve(len).unwrap();
                slot.bytes_mut().fill(0x5A);
            }
            Op::Read {
                at,
                max_bytes,
                hold,
            } => {
                let span = model.next() - model.start();
                let offset = model.start() + at.index(span as usize + 1) as u64;
                let got = log.read(offset, max_bytes).unwrap();
                let want = model.expected_read(offset, max_bytes);
                assert_eq!(got.len(), want.len(), "read({offset}, {max_bytes})");
                for (g, w) in got.iter().zip(&want) {
                    assert_entry(g, w);
                }
                if hold {
                    held.extend(got.into_iter().map(|e| (e.payload.to_vec(), e.payload)));
                }
                if offset < model.next() && model.start() > 0 {
                    assert!(matches!(
                        log.read(model.start() - 1, 1),
                        Err(Error::OffsetOutOfRange { .. })
                    ));
                }
                assert!(matches!(
                    log.read(model.next() + 1, 1),
                    Err(Error::OffsetOutOfRange { .. })
                ));
            }
            Op::Timestamp { ts } => {
                let start = model.start();
                let want = model
                    .entries
                    .iter()
                    .find(|e| e.ts >= ts && e.next() > start)
                    .map(|e| e.base.max(start));
                assert_eq!(
                    log.offset_for_timestamp(ts).unwrap(),
                    want,
                    "timestamp {ts}"
                );
            }
            Op::Sync { via_reader } => {
                if via_reader {
                    let reader = log.reader();
                    reader.sync().unwrap();
                    reader.trim_cache();
                } else {
                    log.sync().unwrap();
                }
                assert_eq!(log.durable_offset(), log.next_offset());
            }
            Op::MaybeFlush { advance_ms } => {
                model.now_ms += advance_ms;
                let before = log.durable_offset();
                let flushed = log.maybe_flush(model.now_ms).unwrap();
                if flushed {
                    assert_eq!(log.durable_offset(), log.next_offset());
                } else {
                    assert_eq!(log.durable_offset(), before);
                }
            }
            Op::Truncate { at } => {
                let lo = model.start().saturating_sub(1);
                let offset = lo + at.index((model.next() + 2 - lo) as usize) as u64;
                if offset < model.start() {
                    assert!(matches!(
                        log.truncate_to(offset),
                        Err(Error::OffsetOutOfRange { .. })
                    ));
                } else {
                    let want = model.truncate(offset);
                    assert_eq!(
                        log.truncate_to(offset).unwrap(),
                        want,
                        "truncate_to({offset})"
                    );
                    assert!(log.durable_offset() <= want);
                }
            }
            Op::Retain { advance_ms } => {
                model.now_ms += advance_ms;
                let want = model.retain();
                let got = log.retain(model.now_ms).unwrap();
                assert_eq!(
                    (got.segments_deleted, got.log_start_offset),
                    (want, model.start())
                );
            }
            Op::DeleteBefore { at, via_reader } => {
                let lo = model.start().saturating_sub(1);
                let offset = lo + at.index((model.next() + 2 - lo) as usize) as u64;
                let got = if via_reader {
                    log.reader().delete_before(offset)
                } else {
                    log.delete_before(offset)
                };
                if offset > model.next() {
                    assert!(matches!(got, Err(Error::OffsetOutOfRange { .. })));
                } else {
                    let want = model.delete_before(offset);
                    assert_eq!(got.unwrap(), want, "delete_before({offset})");
                }
            }
            Op::Reconfigure {
                segment_bytes,
                retention_bytes,
                retention_ms,
            } => {
                model.config = LogConfig {
                    segment_bytes,
                    retention_bytes,
                    retention_ms,
                    ..model.config.clone()
                };
                log.reconfigure(model.config.clone()).unwrap();
            }
            Op::Reopen => {
                // Slices from the old instance must not outlive a reopen that may truncate
                // in place (documented on `Log::truncate_to`).
                held.clear();
                drop(log);
                log = Log::open(dir.path(), model.config.clone()).unwrap();
                model.reopened();
                assert_eq!(log.durable_offset(), log.next_offset());
            }
            Op::Crash { cut, hole } => {
                held.clear();
                crash(log, &mut model, cut, hole);
                log = Log::open(dir.path(), model.config.clone()).unwrap();
                model.reopened();
            }
        }
        check(&log, &model, &held);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn log_matches_the_model_through_crashes_and_reopens(
        config in config(),
        ops in prop::collection::vec(op(), 1..60),
    ) {
        run(config, ops);
    }
}
