//! Replays the committed fuzz corpora of `wire_record_batch` and `wire_records` (seeds and any
//! crash input ever found) through the same properties the fuzz targets check, and keeps the
//! builder-made seeds in those corpora.
//!
//! Regenerate the seeds with `SEMEL_WRITE_CORPUS=1 cargo test -p semel-wire batch_corpus`.

use bytes::Bytes;
use semel_wire::{
    ControlRecordType, EndTxnMarker, RecordBatchBuilder, RecordHeader, patch_base_offset,
    patch_log_append_time,
};
use std::path::PathBuf;

fn corpus_dir(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target)
}

fn replay(target: &str, property: fn(&[u8])) -> usize {
    let dir = corpus_dir(target);
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        let result = std::panic::catch_unwind(|| property(&data));
        assert!(result.is_ok(), "{target} fails on {}", path.display());
        n += 1;
    }
    n
}

fn data_batch(records: usize, with_headers: bool) -> Bytes {
    let mut b = RecordBatchBuilder::new();
    b.producer(1000, 2, 77).transactional(with_headers);
    for i in 0..records {
        let headers = if with_headers {
            vec![
                RecordHeader {
                    key: Bytes::from_static(b"trace"),
                    value: Some(Bytes::from(format!("t{i}"))),
                },
                RecordHeader {
                    key: Bytes::from_static(b"empty"),
                    value: None,
                },
            ]
        } else {
            vec![]
        };
        let key = (i % 3 != 0).then(|| Bytes::from(format!("key-{i}")));
        let value = (i % 5 != 4).then(|| Bytes::from(vec![b'a' + (i % 26) as u8; i * 7]));
        b.append(1_700_000_000_000 + (i as i64) * 3, key, value, headers)
            .unwrap();
    }
    b.build().unwrap()
}

fn marker(kind: ControlRecordType) -> Bytes {
    RecordBatchBuilder::control_batch(
        1000,
        2,
        EndTxnMarker {
            kind,
            coordinator_epoch: 9,
        },
        1_700_000_000_100,
    )
    .unwrap()
}

/// Seeds for `wire_record_batch`: single batches, a stored (patched) batch, and a fetch-like
/// sequence of several batches.
fn record_batch_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let mut stored = data_batch(4, false).to_vec();
    patch_base_offset(&mut stored, 4242).unwrap();
    patch_log_append_time(&mut stored, 1_700_000_009_999).unwrap();
    let mut sequence = data_batch(3, true).to_vec();
    sequence.extend_from_slice(&marker(ControlRecordType::Commit));
    sequence.extend_from_slice(&data_batch(2, false));
    sequence.extend_from_slice(&marker(ControlRecordType::Abort));
    vec![
        ("seed-plain", data_batch(6, false).to_vec()),
        ("seed-headers", data_batch(5, true).to_vec()),
        ("seed-abort", marker(ControlRecordType::Abort).to_vec()),
        ("seed-commit", marker(ControlRecordType::Commit).to_vec()),
        ("seed-stored", stored),
        ("seed-sequence", sequence),
    ]
}

/// Seeds for `wire_records`: a count byte followed by a batch's records region.
fn records_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let region = |count: u8, batch: Bytes| {
        let mut v = vec![count];
        v.extend_from_slice(&batch[61..]);
        v
    };
    vec![
        ("seed-plain", region(6, data_batch(6, false))),
        ("seed-headers", region(5, data_batch(5, true))),
        ("seed-marker", region(1, marker(ControlRecordType::Commit))),
        ("seed-count-too-high", region(9, data_batch(3, true))),
    ]
}

fn check_seeds(target: &str, seeds: Vec<(&'static str, Vec<u8>)>) {
    let dir = corpus_dir(target);
    let write = std::env::var_os("SEMEL_WRITE_CORPUS").is_some();
    if write {
        std::fs::create_dir_all(&dir).unwrap();
    }
    for (name, bytes) in seeds {
        let path = dir.join(name);
        if write {
            std::fs::write(&path, &bytes).unwrap();
        }
        let stored = std::fs::read(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (run with SEMEL_WRITE_CORPUS=1 to write)",
                path.display()
            )
        });
        assert_eq!(stored, bytes, "{} is stale", path.display());
    }
}

#[test]
fn record_batch_seed_corpus_is_current() {
    check_seeds("wire_record_batch", record_batch_seeds());
}

#[test]
fn records_seed_corpus_is_current() {
    check_seeds("wire_records", records_seeds());
}

#[test]
fn record_batch_corpus_replays() {
    let n = replay("wire_record_batch", semel_wire::fuzzing::wire_record_batch);
    assert!(n >= record_batch_seeds().len());
}

#[test]
fn records_corpus_replays() {
    let n = replay("wire_records", semel_wire::fuzzing::wire_records);
    assert!(n >= records_seeds().len());
}
