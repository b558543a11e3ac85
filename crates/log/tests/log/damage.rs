//! Exhaustive tail damage: for the last entries of the active segment, cut the file or flip a
//! bit at every byte position, reopen, and check the log ends at the last whole entry, returns
//! no damaged bytes, and leaves no junk after its end.

use std::path::Path;

use semel_log::{Appended, Log};

use crate::small_config;

const SEGMENT_BYTES: u64 = 4096;

/// Payload bytes are never zero, so zeroing any of them damages the entry.
fn nonzero_payload(seed: u64, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (seed.wrapping_mul(131).wrapping_add(i as u64 * 17) % 255) as u8 + 1)
        .collect()
}

struct Fixture {
    dir: tempfile::TempDir,
    original: Vec<u8>,
    appended: Vec<(Appended, Vec<u8>)>,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), small_config(SEGMENT_BYTES)).unwrap();
    let mut appended = Vec::new();
    for i in 0..6u64 {
        let p = nonzero_payload(i, 5 + 9 * i as usize);
        let a = log.append(&p, 1 + (i as u32 % 3), 1000 + i as i64).unwrap();
        appended.push((a, p));
    }
    log.sync().unwrap();
    drop(log);
    let original = std::fs::read(segment_path(dir.path())).unwrap();
    Fixture {
        dir,
        original,
        appended,
    }
}

fn segment_path(dir: &Path) -> std::path::PathBuf {
    dir.join("00000000000000000000.log")
}

/// Reopens and checks the log holds exactly the first `keep` entries, then that the bytes after
/// them in the file are all zero (junk never leaks into later appends), and that a new append
/// lands right after them and survives another reopen.
fn check_recovers_to(f: &Fixture, keep: usize, what: &str) {
    let mut log = Log::open(f.dir.path(), small_config(SEGMENT_BYTES)).unwrap();
    let expected_next = f.appended.get(keep).map_or_else(
        || f.appended.last().unwrap().0.next_offset,
        |(a, _)| a.base_offset,
    );
    assert_eq!(log.next_offset(), expected_next, "{what}");
    let entries = log.read(0, usize::MAX).unwrap();
    assert_eq!(entries.len(), keep, "{what}");
    for (e, (a, p)) in entries.iter().zip(&f.appended) {
        assert_eq!(
            (e.base_offset, &e.payload[..]),
            (a.base_offset, &p[..]),
            "{what}"
        );
    }
    drop(entries);
    let end = f
        .appended
        .get(keep)
        .map_or(f.original.len() as u64, |(a, _)| a.position) as usize;
    let bytes = std::fs::read(segment_path(f.dir.path())).unwrap();
    assert_eq!(bytes.len() as u64, SEGMENT_BYTES, "{what}");
    assert!(
        bytes[end..].iter().all(|&b| b == 0),
        "{what}: junk after the recovered end"
    );
    let again = log.append(b"after recovery", 1, 0).unwrap();
    assert_eq!(again.base_offset, expected_next, "{what}");
    log.sync().unwrap();
    drop(log);
    let log = Log::open(f.dir.path(), small_config(SEGMENT_BYTES)).unwrap();
    assert_eq!(log.next_offset(), expected_next + 1, "{what}");
}

/// The index of the entry whose frame holds byte `pos`.
fn entry_at(f: &Fixture, pos: usize) -> usize {
    f.appended
        .iter()
        .rposition(|(a, _)| a.position as usize <= pos)
        .unwrap()
}

fn damage_range(f: &Fixture) -> std::ops::Range<usize> {
    let start = f.appended[f.appended.len() - 3].0.position as usize;
    let (last, p) = f.appended.last().unwrap();
    start..last.position as usize + 28 + p.len()
}

#[test]
fn zeroing_from_every_byte_of_the_last_entries_ends_the_log_at_the_last_whole_entry() {
    let f = fixture();
    for pos in damage_range(&f) {
        let mut bytes = f.original.clone();
        bytes[pos..].fill(0);
        std::fs::write(segment_path(f.dir.path()), &bytes).unwrap();
        check_recovers_to(&f, entry_at(&f, pos), &format!("zeroed from byte {pos}"));
    }
}

#[test]
fn cutting_the_file_at_every_byte_of_the_last_entries_ends_the_log_at_the_last_whole_entry() {
    let f = fixture();
    for pos in damage_range(&f) {
        std::fs::write(segment_path(f.dir.path()), &f.original[..pos]).unwrap();
        check_recovers_to(&f, entry_at(&f, pos), &format!("file cut at byte {pos}"));
    }
}

#[test]
fn flipping_a_bit_at_every_byte_of_the_last_entries_ends_the_log_before_it() {
    let f = fixture();
    for pos in damage_range(&f) {
        let mut bytes = f.original.clone();
        bytes[pos] ^= 1 << (pos % 8);
        std::fs::write(segment_path(f.dir.path()), &bytes).unwrap();
        check_recovers_to(&f, entry_at(&f, pos), &format!("bit flipped at byte {pos}"));
    }
}

#[test]
fn junk_after_the_last_entry_is_zeroed_on_recovery() {
    let f = fixture();
    let end = damage_range(&f).end;
    let mut bytes = f.original.clone();
    bytes[end + 100..end + 110].fill(0xEE);
    std::fs::write(segment_path(f.dir.path()), &bytes).unwrap();
    check_recovers_to(&f, f.appended.len(), "junk after the end");
}

/// Frames as the log writes them, for the scan properties below.
fn encode(base: u64, count: u32, ts: i64, payload: &[u8]) -> Vec<u8> {
    let mut rest = Vec::new();
    rest.extend_from_slice(&base.to_le_bytes());
    rest.extend_from_slice(&count.to_le_bytes());
    rest.extend_from_slice(&ts.to_le_bytes());
    rest.extend_from_slice(payload);
    let mut frame = Vec::new();
    frame.extend_from_slice(&(28 + payload.len() as u32).to_le_bytes());
    frame.extend_from_slice(&crc32fast::hash(&rest).to_le_bytes());
    frame.extend_from_slice(&rest);
    frame
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 512, ..Default::default() })]

    /// The fuzz target's property on arbitrary bytes.
    #[test]
    fn recovery_scan_holds_on_arbitrary_bytes(data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600)) {
        semel_log::fuzzing::log_recovery(&data);
    }

    /// The fuzz target's property on valid segments with random damage: valid frames, then a
    /// random byte overwritten and the buffer cut at a random length.
    #[test]
    fn recovery_scan_holds_on_damaged_segments(
        sizes in proptest::collection::vec((0usize..80, 1u32..4), 0..8),
        flip in proptest::prelude::any::<proptest::sample::Index>(),
        value in proptest::prelude::any::<u8>(),
        cut in proptest::prelude::any::<proptest::sample::Index>(),
    ) {
        let mut data = Vec::new();
        let mut next = 0u64;
        for (len, count) in sizes {
            data.extend(encode(next, count, next as i64, &vec![0xC3; len]));
            next += u64::from(count);
        }
        data.extend([0u8; 40]);
        let at = flip.index(data.len());
        data[at] = value;
        let keep = cut.index(data.len() + 1);
        semel_log::fuzzing::log_recovery(&data[..keep]);
    }
}
