//! Behaviour of the public API, one case per test.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use semel_log::{Error, FlushPolicy, Log, LogConfig, LogReader, SealedCorruption};

use crate::{payload, small_config};

fn segment_files(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".log"))
        .collect();
    names.sort();
    names
}

#[test]
fn log_and_reader_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Log>();
    check::<LogReader>();
}

#[test]
fn append_assigns_contiguous_offsets_and_reads_them_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), small_config(4096)).unwrap();
    let a = log.append(b"first", 2, 10).unwrap();
    let b = log.append(b"second", 5, 20).unwrap();
    assert_eq!((a.base_offset, a.next_offset), (0, 2));
    assert_eq!((b.base_offset, b.next_offset), (2, 7));
    assert_eq!(b.position, 28 + 5);
    assert_eq!(log.next_offset(), 7);
    let all = log.read(0, usize::MAX).unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(&all[0].payload[..], b"first");
    assert_eq!(
        (
            all[1].base_offset,
            all[1].record_count,
            all[1].max_timestamp
        ),
        (2, 5, 20)
    );
    // An offset inside an entry reads from that entry.
    assert_eq!(log.read(4, usize::MAX).unwrap()[0].base_offset, 2);
    assert!(log.read(7, usize::MAX).unwrap().is_empty());
}

#[test]
fn read_beyond_end_or_below_start_is_out_of_range() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), small_config(4096)).unwrap();
    log.append(b"x", 1, 0).unwrap();
    assert!(matches!(
        log.read(2, 10),
        Err(Error::OffsetOutOfRange {
            offset: 2,
            log_start_offset: 0,
            next_offset: 1
        })
    ));
}

#[test]
fn delete_before_moves_the_start_durably_and_removes_whole_segments_below_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), small_config(200)).unwrap();
    for i in 0..10 {
        log.append(&payload(i, 60), 2, 0).unwrap();
    }
    let segments_before = segment_files(dir.path()).len();
    assert!(segments_before > 3, "the test needs several segments");
    // Offset 11 lies inside the entry [10, 12).
    assert_eq!(log.delete_before(11).unwrap(), 11);
    assert_eq!(log.log_start_offset(), 11);
    assert!(segment_files(dir.path()).len() < segments_before);
    assert!(matches!(
        log.read(10, 1),
        Err(Error::OffsetOutOfRange {
            log_start_offset: 11,
            ..
        })
    ));
    // The entry holding the start is returned whole, as for any offset inside an entry.
    assert_eq!(log.read(11, 1).unwrap()[0].base_offset, 10);
    // Not above the start: nothing changes; beyond the end: refused.
    assert_eq!(log.delete_before(5).unwrap(), 11);
    assert!(matches!(
        log.delete_before(21),
        Err(Error::OffsetOutOfRange { .. })
    ));
    drop(log);
    let mut log = Log::open(dir.path(), small_config(200)).unwrap();
    assert_eq!(log.log_start_offset(), 11);
    // Everything: the log is empty but keeps its end offset, and appends stay visible.
    assert_eq!(log.delete_before(20).unwrap(), 20);
    assert!(log.read(20, 100).unwrap().is_empty());
    log.append(b"after", 1, 0).unwrap();
    assert_eq!(log.read(20, 100).unwrap()[0].base_offset, 20);
}

#[test]
fn a_reader_deletes_records_while_the_writer_appends_and_rolls() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), small_config(200)).unwrap();
    log.append(&payload(0, 60), 1, 0).unwrap();
    let reader = log.reader();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer_done = std::sync::Arc::clone(&done);
    let deleter = std::thread::spawn(move || {
        let mut last = 0;
        let mut rounds = 0;
        // Bounded: the writer finishes within 400 appends; at least 20 rounds run.
        while rounds < 20 || !done.load(std::sync::atomic::Ordering::Acquire) {
            rounds += 1;
            let target = reader.next_offset().saturating_sub(1);
            let start = reader.delete_before(target).unwrap();
            assert!(start >= last, "the start never moves back");
            assert_eq!(reader.log_start_offset(), start);
            last = start;
        }
        last
    });
    for i in 1..400 {
        log.append(&payload(i, 60), 1, 0).unwrap();
        if i % 10 == 0 {
            // A flush now and then keeps the writer on the deleter's time scale (each of its
            // rounds writes and flushes a file), so the two really overlap.
            log.sync().unwrap();
        }
    }
    writer_done.store(true, std::sync::atomic::Ordering::Release);
    let start = deleter.join().unwrap();
    assert!(start > 0);
    // Reads from the start work and the rest of the log is intact.
    let read = log.read(log.log_start_offset(), usize::MAX).unwrap();
    assert_eq!(read.last().unwrap().base_offset, 399);
    let first = read[0].base_offset;
    for (i, entry) in read.iter().enumerate() {
        let offset = first + i as u64;
        assert_eq!(entry.base_offset, offset);
        assert_eq!(&entry.payload[..], &payload(offset, 60)[..]);
    }
    let start = log.log_start_offset();
    drop(log);
    let log = Log::open(dir.path(), small_config(200)).unwrap();
    assert_eq!(log.log_start_offset(), start, "the start survives a reopen");
    assert_eq!(log.next_offset(), 400);
}

#[test]
fn a_damaged_start_offset_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), small_config(4096)).unwrap();
    log.append(b"x", 1, 0).unwrap();
    log.delete_before(1).unwrap();
    drop(log);
    std::fs::write(dir.path().join("log-start-offset"), b"12\x00junk").unwrap();
    assert!(matches!(
        Log::open(dir.path(), small_config(4096)),
        Err(Error::Corrupt { .. })
    ));
    // A valid offset followed by more bytes than an offset can take is refused too.
    let mut padded = b"5\n".to_vec();
    padded.extend_from_slice(&[b' '; 100]);
    std::fs::write(dir.path().join("log-start-offset"), padded).unwrap();
    assert!(matches!(
        Log::open(dir.path(), small_config(4096)),
        Err(Error::Corrupt { .. })
    ));
    // A huge file is refused from its first bytes, not read whole.
    std::fs::write(dir.path().join("log-start-offset"), vec![b'1'; 1 << 20]).unwrap();
    assert!(matches!(
        Log::open(dir.path(), small_config(4096)),
        Err(Error::Corrupt { .. })
    ));
}

#[test]
fn truncating_below_a_start_inside_an_entry_lowers_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), small_config(4096)).unwrap();
    log.append(b"a", 10, 0).unwrap();
    log.delete_before(5).unwrap();
    assert_eq!(log.truncate_to(7).unwrap(), 0);
    assert_eq!(log.log_start_offset(), 0);
    log.append(b"b", 3, 0).unwrap();
    assert_eq!(log.read(0, 100).unwrap().len(), 1);
    drop(log);
    let log = Log::open(dir.path(), small_config(4096)).unwrap();
    assert_eq!((log.log_start_offset(), log.next_offset()), (0, 3));
}

#[test]
fn max_bytes_limits_entries_but_always_returns_the_first() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), small_config(1 << 16)).unwrap();
    for i in 0..5 {
        log.append(&payload(i, 100), 1, 0).unwrap();
    }
    assert_eq!(log.read(0, 10).unwrap().len(), 1);
    assert_eq!(log.read(0, 200).unwrap().len(), 2);
    assert_eq!(log.read(0, 250).unwrap().len(), 2);
    assert_eq!(log.read(1, 10_000).unwrap().len(), 4);
}

#[test]
fn reserve_lets_the_caller_patch_bytes_in_place_before_commit() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), small_config(4096)).unwrap();
    log.append(b"abc", 3, 0).unwrap();
    let mut slot = log.reserve(8).unwrap();
    assert_eq!((slot.base_offset(), slot.len()), (3, 8));
    let base = slot.base_offset();
    slot.bytes_mut().copy_from_slice(&base.to_be_bytes());
    let appended = slot.commit(1, 0).unwrap();
    assert_eq!(appended.base_offset, 3);
    let read = log.read(3, 100).unwrap();
    assert_eq!(&read[0].payload[..], &3u64.to_be_bytes());
    // The CRC was computed over the patched bytes: a reopen keeps the entry.
    drop(read);
    drop(log);
    let log = Log::open(dir.path(), small_config(4096)).unwrap();
    assert_eq!(log.next_offset(), 4);
}

#[test]
fn dropped_reservation_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), small_config(4096)).unwrap();
    log.append(b"keep", 1, 0).unwrap();
    {
        let mut slot = log.reserve(64).unwrap();
        slot.bytes_mut().fill(0xAB);
    }
    assert_eq!(log.next_offset(), 1);
    let small = log.append(b"s", 1, 0).unwrap();
    assert_eq!(small.base_offset, 1);
    drop(log);
    // The abandoned bytes were zeroed: recovery finds a clean tail and both entries.
    let log = Log::open(dir.path(), small_config(4096)).unwrap();
    assert_eq!(log.next_offset(), 2);
    assert_eq!(log.read(0, 1000).unwrap().len(), 2);
}

#[test]
fn zero_record_entries_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), small_config(4096)).unwrap();
    assert!(matches!(log.append(b"x", 0, 0), Err(Error::ZeroRecords)));
    assert_eq!(log.next_offset(), 0);
    log.append(b"y", 1, 0).unwrap();
    assert_eq!(log.read(0, 100).unwrap().len(), 1);
}

#[test]
fn segments_roll_when_full_and_are_named_by_base_offset() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), small_config(256)).unwrap();
    for i in 0..10 {
        log.append(&payload(i, 70), 1, i as i64).unwrap();
    }
    let files = segment_files(dir.path());
    assert_eq!(
        files.len(),
        5,
        "two 98-byte entries per 256-byte segment: {files:?}"
    );
    assert_eq!(files[0], "00000000000000000000.log");
    assert_eq!(files[1], "00000000000000000002.log");
    // Reads cross segment boundaries.
    let all = log.read(0, usize::MAX).unwrap();
    assert_eq!(all.len(), 10);
    for (i, e) in all.iter().enumerate() {
        assert_eq!(&e.payload[..], &payload(i as u64, 70)[..]);
    }
    // Sealed segments were flushed when rolled.
    assert_eq!(log.durable_offset(), 8);
}

#[test]
fn an_entry_larger_than_a_segment_gets_a_segment_of_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), small_config(256)).unwrap();
    log.append(b"small", 1, 0).unwrap();
    let big = log.append(&payload(1, 1000), 1, 0).unwrap();
    assert_eq!(big.segment_base_offset, 1);
    let also_big_first = log.append(&payload(2, 2000), 1, 0).unwrap();
    assert_eq!(
        (also_big_first.segment_base_offset, also_big_first.position),
        (2, 0)
    );
    log.append(b"after", 1, 0).unwrap();
    drop(log);
    let log = Log::open(dir.path(), small_config(256)).unwrap();
    let all = log.read(0, usize::MAX).unwrap();
    assert_eq!(all.len(), 4);
    assert_eq!(&all[2].payload[..], &payload(2, 2000)[..]);
}

#[test]
fn an_empty_active_segment_grows_for_a_large_first_entry() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), small_config(256)).unwrap();
    log.append(&payload(0, 5000), 1, 0).unwrap();
    assert_eq!(segment_files(dir.path()).len(), 1);
    drop(log);
    let log = Log::open(dir.path(), small_config(256)).unwrap();
    assert_eq!(
        &log.read(0, 10).unwrap()[0].payload[..],
        &payload(0, 5000)[..]
    );
}

#[test]
fn a_second_open_of_the_same_directory_is_locked() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), small_config(4096)).unwrap();
    assert!(matches!(
        Log::open(dir.path(), small_config(4096)),
        Err(Error::Locked { .. })
    ));
    drop(log);
    Log::open(dir.path(), small_config(4096)).unwrap();
}

#[test]
fn a_foreign_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    drop(Log::open(dir.path(), small_config(4096)).unwrap());
    std::fs::write(dir.path().join("notes.txt"), b"hi").unwrap();
    match Log::open(dir.path(), small_config(4096)) {
        Err(Error::ForeignFile { path }) => assert!(path.ends_with("notes.txt")),
        other => panic!("expected ForeignFile, got {other:?}"),
    }
}

#[test]
fn invalid_configuration_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        Log::open(dir.path(), small_config(10)),
        Err(Error::InvalidConfig { .. })
    ));
}

#[test]
fn offset_for_timestamp_finds_the_first_entry_at_or_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), small_config(512)).unwrap();
    // Not monotonic on purpose.
    let stamps = [10, 30, 20, 50, 40, 60, 55, 70, 65, 80];
    for (i, ts) in stamps.iter().enumerate() {
        log.append(&payload(i as u64, 40), 2, *ts).unwrap();
    }
    for target in [i64::MIN, 0, 10, 11, 25, 30, 31, 45, 56, 61, 75, 80] {
        let expected = stamps
            .iter()
            .position(|&t| t >= target)
            .map(|i| 2 * i as u64);
        assert_eq!(
            log.offset_for_timestamp(target).unwrap(),
            expected,
            "target {target}"
        );
    }
    assert_eq!(log.offset_for_timestamp(81).unwrap(), None);
}

#[test]
fn sync_and_flush_policies_advance_the_durable_offset() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = small_config(1 << 16);
    config.flush = FlushPolicy::Always;
    let mut log = Log::open(dir.path(), config.clone()).unwrap();
    log.append(b"a", 1, 0).unwrap();
    assert_eq!(log.durable_offset(), 1);
    drop(log);

    config.flush = FlushPolicy::EveryBytes(100);
    let mut log = Log::open(dir.path(), config.clone()).unwrap();
    log.append(&payload(0, 40), 1, 0).unwrap();
    assert_eq!(log.durable_offset(), 1);
    log.append(&payload(0, 40), 1, 0).unwrap();
    assert_eq!(log.durable_offset(), 3);
    drop(log);

    config.flush = FlushPolicy::EveryMillis(100);
    let mut log = Log::open(dir.path(), config.clone()).unwrap();
    log.append(b"b", 1, 0).unwrap();
    assert!(
        !log.maybe_flush(1_000).unwrap(),
        "the first call starts the interval"
    );
    assert!(!log.maybe_flush(1_050).unwrap());
    assert_eq!(log.durable_offset(), 3);
    assert!(log.maybe_flush(1_100).unwrap());
    assert_eq!(log.durable_offset(), 4);
    assert!(!log.maybe_flush(1_300).unwrap(), "nothing pending");
    drop(log);

    config.flush = FlushPolicy::Os;
    let mut log = Log::open(dir.path(), config).unwrap();
    log.append(b"c", 1, 0).unwrap();
    assert!(!log.maybe_flush(i64::MAX).unwrap());
    assert_eq!(log.durable_offset(), 4);
    log.reader().sync().unwrap();
    assert_eq!(log.durable_offset(), 5);
}

#[test]
fn truncate_removes_the_entry_holding_the_offset_and_everything_after() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), small_config(256)).unwrap();
    for i in 0..8 {
        log.append(&payload(i, 60), 3, i as i64).unwrap();
    }
    assert_eq!(
        log.truncate_to(100).unwrap(),
        24,
        "beyond the end is a no-op"
    );
    assert_eq!(
        log.truncate_to(10).unwrap(),
        9,
        "the entry 9..12 holds offset 10"
    );
    assert_eq!(log.next_offset(), 9);
    assert_eq!(log.read(0, usize::MAX).unwrap().len(), 3);
    assert_eq!(log.offset_for_timestamp(3).unwrap(), None);
    let again = log.append(b"new", 1, 100).unwrap();
    assert_eq!(again.base_offset, 9);
    drop(log);
    let log = Log::open(dir.path(), small_config(256)).unwrap();
    assert_eq!(log.next_offset(), 10);
    let all = log.read(0, usize::MAX).unwrap();
    assert_eq!(&all[3].payload[..], b"new");
    assert_eq!(log.offset_for_timestamp(100).unwrap(), Some(9));
}

#[test]
fn truncate_never_changes_bytes_a_reader_still_holds() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), small_config(4096)).unwrap();
    for i in 0..4 {
        log.append(&payload(i, 50), 1, 0).unwrap();
    }
    let held = log.read(2, usize::MAX).unwrap();
    assert_eq!(log.truncate_to(1).unwrap(), 1);
    log.append(&payload(99, 50), 1, 0).unwrap();
    // The held slices still show the old entries: the segment was rewritten, not overwritten.
    assert_eq!(&held[0].payload[..], &payload(2, 50)[..]);
    assert_eq!(&held[1].payload[..], &payload(3, 50)[..]);
    let now = log.read(0, usize::MAX).unwrap();
    assert_eq!(now.len(), 2);
    assert_eq!(&now[1].payload[..], &payload(99, 50)[..]);
    drop((held, now, log));
    let log = Log::open(dir.path(), small_config(4096)).unwrap();
    assert_eq!(log.next_offset(), 2);
    assert_eq!(
        &log.read(1, 100).unwrap()[0].payload[..],
        &payload(99, 50)[..]
    );
}

#[test]
fn truncate_below_the_log_start_is_out_of_range() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = small_config(256);
    config.retention_bytes = Some(1);
    let mut log = Log::open(dir.path(), config).unwrap();
    for i in 0..6 {
        log.append(&payload(i, 70), 1, 0).unwrap();
    }
    log.retain(0).unwrap();
    assert_eq!(log.log_start_offset(), 4);
    assert!(matches!(
        log.truncate_to(3),
        Err(Error::OffsetOutOfRange { .. })
    ));
    assert_eq!(log.truncate_to(4).unwrap(), 4);
    assert_eq!(log.next_offset(), 4);
    assert!(log.read(4, 100).unwrap().is_empty());
}

#[test]
fn retention_by_bytes_keeps_at_least_the_limit_and_never_the_active_segment() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = small_config(256);
    config.retention_bytes = Some(300);
    let mut log = Log::open(dir.path(), config).unwrap();
    for i in 0..10 {
        log.append(&payload(i, 70), 1, 0).unwrap();
    }
    // Five segments of 196 bytes each.
    let held = log.read(0, usize::MAX).unwrap();
    let r = log.retain(0).unwrap();
    assert_eq!((r.segments_deleted, r.log_start_offset), (3, 6));
    assert_eq!(segment_files(dir.path()).len(), 2);
    assert!(matches!(
        log.read(0, 10),
        Err(Error::OffsetOutOfRange { .. })
    ));
    // Slices read before the deletion stay valid: they hold the unlinked mapping.
    assert_eq!(&held[0].payload[..], &payload(0, 70)[..]);
    assert_eq!(log.read(6, usize::MAX).unwrap().len(), 4);
}

#[test]
fn retention_by_age_deletes_segments_whose_newest_entry_is_too_old() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = small_config(256);
    config.retention_ms = Some(1000);
    let mut log = Log::open(dir.path(), config.clone()).unwrap();
    for i in 0..6 {
        log.append(&payload(i, 70), 1, 100 * i as i64).unwrap();
    }
    // Segments hold timestamps {0,100}, {200,300}, {400,500}(active).
    assert_eq!(log.retain(1200).unwrap().segments_deleted, 1);
    assert_eq!(log.retain(1300).unwrap().segments_deleted, 0);
    assert_eq!(log.retain(1_000_000).unwrap().segments_deleted, 1);
    assert_eq!(log.log_start_offset(), 4);
    drop(log);
    let log = Log::open(dir.path(), config).unwrap();
    assert_eq!((log.log_start_offset(), log.next_offset()), (4, 6));
}

#[test]
fn a_damaged_sealed_segment_is_an_error_naming_file_and_position() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), small_config(256)).unwrap();
    for i in 0..6 {
        log.append(&payload(i, 70), 1, 0).unwrap();
    }
    drop(log);
    let sealed = dir.path().join("00000000000000000002.log");
    let mut bytes = std::fs::read(&sealed).unwrap();
    bytes[98 + 40] ^= 1;
    std::fs::write(&sealed, &bytes).unwrap();
    match Log::open(dir.path(), small_config(256)) {
        Err(Error::Corrupt {
            path,
            position,
            offset,
            reason,
        }) => {
            assert_eq!(path, sealed);
            assert_eq!((position, offset, reason), (98, 3, "CRC mismatch"));
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    // The option to truncate instead keeps everything before the damage.
    let mut config = small_config(256);
    config.sealed_corruption = SealedCorruption::Truncate;
    let mut log = Log::open(dir.path(), config).unwrap();
    assert_eq!(log.next_offset(), 3);
    assert_eq!(segment_files(dir.path()).len(), 2);
    assert_eq!(log.append(b"next", 1, 0).unwrap().base_offset, 3);
}

#[test]
fn a_missing_middle_segment_is_a_gap_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), small_config(256)).unwrap();
    for i in 0..6 {
        log.append(&payload(i, 70), 1, 0).unwrap();
    }
    drop(log);
    std::fs::remove_file(dir.path().join("00000000000000000002.log")).unwrap();
    assert!(matches!(
        Log::open(dir.path(), small_config(256)),
        Err(Error::SegmentGap {
            base_offset: 4,
            expected: 2,
            ..
        })
    ));
}

#[test]
fn stray_temporary_files_from_an_interrupted_truncation_are_removed() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), small_config(256)).unwrap();
    log.append(b"a", 1, 0).unwrap();
    drop(log);
    let tmp = dir.path().join("00000000000000000000.log.tmp");
    std::fs::write(&tmp, b"partial").unwrap();
    let log = Log::open(dir.path(), small_config(256)).unwrap();
    assert!(!tmp.exists());
    assert_eq!(log.next_offset(), 1);
}

#[test]
fn concurrent_readers_only_ever_see_whole_committed_entries() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), small_config(8192)).unwrap();
    let reader = log.reader();
    let done = Arc::new(AtomicBool::new(false));
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let reader = reader.clone();
            let done = Arc::clone(&done);
            std::thread::spawn(move || {
                let mut checked = 0u64;
                while !done.load(Ordering::Acquire) {
                    let start = reader.log_start_offset();
                    let entries = reader.read(start, usize::MAX).unwrap();
                    for e in &entries {
                        let len = (e.base_offset % 300) as usize + 1;
                        assert_eq!(&e.payload[..], &payload(e.base_offset, len)[..]);
                        checked += 1;
                    }
                }
                checked
            })
        })
        .collect();
    for i in 0..3000u64 {
        let len = (i % 300) as usize + 1;
        let mut slot = log.reserve(len).unwrap();
        // Write the payload in two steps, so a reader seeing a half entry would notice.
        let bytes = payload(i, len);
        slot.bytes_mut()[..len / 2].copy_from_slice(&bytes[..len / 2]);
        slot.bytes_mut()[len / 2..].copy_from_slice(&bytes[len / 2..]);
        slot.commit(1, 0).unwrap();
    }
    done.store(true, Ordering::Release);
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(log.next_offset(), 3000);
}

#[test]
fn a_flusher_thread_syncs_while_the_writer_appends() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), small_config(1 << 18)).unwrap();
    let reader = log.reader();
    let flusher = std::thread::spawn(move || {
        let mut last = 0;
        while last < 500 {
            reader.sync().unwrap();
            let durable = reader.durable_offset();
            assert!(durable >= last && durable <= reader.next_offset());
            last = durable;
        }
    });
    for i in 0..500u64 {
        log.append(&payload(i, 100), 1, 0).unwrap();
    }
    flusher.join().unwrap();
    assert_eq!(log.durable_offset(), 500);
}

#[test]
fn the_committed_fuzz_corpus_replays_cleanly() {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/log_recovery");
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let data = std::fs::read(entry.unwrap().path()).unwrap();
        semel_log::fuzzing::log_recovery(&data);
        count += 1;
    }
    assert!(count >= 5, "corpus has {count} files");
}

#[test]
fn default_config_is_durable_and_kafka_sized() {
    let c = LogConfig::default();
    assert_eq!(c.flush, FlushPolicy::Always);
    assert_eq!(c.segment_bytes, 1 << 30);
    assert_eq!(c.sealed_corruption, SealedCorruption::Fail);
}

#[test]
fn a_failed_flush_poisons_writes_until_reopen_and_keeps_durable_data_readable() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), small_config(4096)).unwrap();
    log.append(b"durable", 1, 0).unwrap();
    log.sync().unwrap();
    log.append(b"pending", 1, 0).unwrap();
    log.fail_next_flush();
    assert!(matches!(log.sync(), Err(Error::Io { op: "msync", .. })));
    assert_eq!(
        log.durable_offset(),
        1,
        "nothing beyond the last good flush is durable"
    );
    assert!(matches!(
        log.append(b"x", 1, 0),
        Err(Error::Poisoned { durable_offset: 1 })
    ));
    assert!(matches!(log.reserve(1), Err(Error::Poisoned { .. })));
    assert!(matches!(log.sync(), Err(Error::Poisoned { .. })));
    assert!(matches!(log.truncate_to(0), Err(Error::Poisoned { .. })));
    assert!(matches!(log.retain(0), Err(Error::Poisoned { .. })));
    assert_eq!(log.read(0, 100).unwrap().len(), 2, "reads keep working");
    drop(log);
    let mut log = Log::open(dir.path(), small_config(4096)).unwrap();
    assert_eq!(&log.read(0, 100).unwrap()[0].payload[..], b"durable");
    log.append(b"again", 1, 0).unwrap();
}

#[test]
fn with_always_policy_a_failed_flush_fails_the_append() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = small_config(4096);
    config.flush = FlushPolicy::Always;
    let mut log = Log::open(dir.path(), config).unwrap();
    log.fail_next_flush();
    assert!(matches!(log.append(b"a", 1, 0), Err(Error::Io { .. })));
    assert_eq!(log.durable_offset(), 0);
    assert!(matches!(
        log.append(b"b", 1, 0),
        Err(Error::Poisoned { .. })
    ));
}

#[test]
fn a_forgotten_reservation_does_not_corrupt_the_sealed_segment() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), small_config(256)).unwrap();
    log.append(&payload(0, 20), 1, 0).unwrap();
    let mut slot = log.reserve(150).unwrap();
    slot.bytes_mut().fill(0xEE);
    std::mem::forget(slot);
    log.append(&payload(1, 10), 1, 0).unwrap();
    // Does not fit: rolls, sealing the first segment.
    log.append(&payload(2, 150), 1, 0).unwrap();
    drop(log);
    let log = Log::open(dir.path(), small_config(256)).unwrap();
    assert_eq!(log.next_offset(), 3);
}

#[test]
fn large_copy_in_appends_are_read_back_and_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), small_config(1 << 18)).unwrap();
    let reader = log.reader();
    for i in 0..6 {
        log.append(&payload(i, 40_000), 2, i as i64).unwrap();
        let got = reader.read(2 * i, 1).unwrap();
        assert_eq!(&got[0].payload[..], &payload(i, 40_000)[..]);
    }
    log.sync().unwrap();
    drop((reader, log));
    let log = Log::open(dir.path(), small_config(1 << 18)).unwrap();
    let all = log.read(0, usize::MAX).unwrap();
    assert_eq!(all.len(), 6);
    assert_eq!(&all[5].payload[..], &payload(5, 40_000)[..]);
}

#[test]
fn large_reservations_are_staged_and_patched_before_commit() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), small_config(1 << 16)).unwrap();
    log.append(b"head", 1, 0).unwrap();
    {
        let mut abandoned = log.reserve(40_000).unwrap();
        abandoned.bytes_mut().fill(0x77);
    }
    let mut slot = log.reserve(40_000).unwrap();
    assert!(
        slot.bytes_mut().iter().all(|&b| b == 0),
        "staged bytes start zeroed"
    );
    slot.bytes_mut().copy_from_slice(&payload(7, 40_000));
    let base = slot.base_offset();
    slot.bytes_mut()[..8].copy_from_slice(&base.to_be_bytes());
    let appended = slot.commit(3, 9).unwrap();
    assert_eq!((appended.base_offset, appended.position), (1, 32));
    let mut want = payload(7, 40_000);
    want[..8].copy_from_slice(&1u64.to_be_bytes());
    assert_eq!(&log.read(1, 1).unwrap()[0].payload[..], &want[..]);
    drop(log);
    let log = Log::open(dir.path(), small_config(1 << 16)).unwrap();
    assert_eq!(log.next_offset(), 4);
    assert_eq!(&log.read(1, 1).unwrap()[0].payload[..], &want[..]);
}

#[test]
fn replay_visits_every_entry_from_the_one_holding_the_offset_and_stops_at_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), small_config(300)).unwrap();
    for i in 0..30 {
        log.append(&payload(i, 50), 2, 0).unwrap();
    }
    let reader = log.reader();
    let mut seen = Vec::new();
    reader
        .replay(5, |e| {
            seen.push((e.base_offset, e.payload.to_vec()));
            Ok::<(), Error>(())
        })
        .unwrap();
    let want: Vec<(u64, Vec<u8>)> = (2..30).map(|i| (i * 2, payload(i, 50))).collect();
    assert_eq!(
        seen, want,
        "from the entry holding offset 5, in order, to the end"
    );
    let mut count = 0;
    let stopped = reader.replay(0, |e| {
        count += 1;
        if e.base_offset == 6 {
            return Err(Error::ZeroRecords);
        }
        Ok(())
    });
    assert!(matches!(stopped, Err(Error::ZeroRecords)));
    assert_eq!(count, 4, "stops at the first error");
    // At or past the end there is nothing to replay; below the start is out of range.
    assert!(reader.replay(60, |_| Err(Error::ZeroRecords)).is_ok());
    log.delete_before(10).unwrap();
    assert!(matches!(
        reader.replay(0, |_| Ok::<(), Error>(())),
        Err(Error::OffsetOutOfRange { .. })
    ));
}
