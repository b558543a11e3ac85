//! Replays the committed fuzz corpus through the fuzzing entry point, and keeps its seeds
//! current.

use std::path::PathBuf;

use semel_offsets::{OffsetAndMetadata, OffsetKey, OffsetRecord};

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/offsets_records")
}

#[test]
fn fuzz_corpus_replays_through_offsets_records() {
    let dir = corpus_dir();
    let mut files = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        semel_offsets::fuzzing::offsets_records(&data);
        files += 1;
    }
    assert!(files > 0, "no corpus in {}", dir.display());
}

fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    let key = OffsetKey {
        group: "billing".into(),
        topic: "orders".into(),
        partition: 2,
    };
    let value = OffsetAndMetadata {
        offset: 1234,
        leader_epoch: 7,
        metadata: "consumer-1".into(),
        commit_timestamp_ms: 1_700_000_000_000,
    };
    let records = [
        (
            "commit",
            OffsetRecord::Commit {
                key: key.clone(),
                value: Some(value.clone()),
            },
        ),
        (
            "tombstone",
            OffsetRecord::Commit {
                key: key.clone(),
                value: None,
            },
        ),
        (
            "txn_commit",
            OffsetRecord::TxnCommit {
                producer_id: 4000,
                key,
                value,
            },
        ),
        (
            "txn_marker_commit",
            OffsetRecord::TxnMarker {
                producer_id: 4000,
                committed: true,
            },
        ),
        (
            "txn_marker_abort",
            OffsetRecord::TxnMarker {
                producer_id: 4001,
                committed: false,
            },
        ),
    ];
    records
        .into_iter()
        .map(|(name, r)| (name, r.encode().unwrap()))
        .collect()
}

/// The seed files are the encoder's output; this test fails (and rewrites them when
/// `SEMEL_WRITE_CORPUS=1`) if the encoding changes.
#[test]
fn fuzz_corpus_seeds_match_the_encoder() {
    let dir = corpus_dir();
    let write = std::env::var_os("SEMEL_WRITE_CORPUS").is_some();
    for (name, bytes) in seeds() {
        let path = dir.join(format!("seed_{name}"));
        if write {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, &bytes).unwrap();
        }
        assert_eq!(std::fs::read(&path).unwrap(), bytes, "{}", path.display());
    }
}

mod mutations {
    use proptest::prelude::*;
    use semel_offsets::{OffsetAndMetadata, OffsetKey, OffsetRecord};

    fn record() -> impl Strategy<Value = OffsetRecord> {
        let key =
            ("[a-z]{0,6}", "[a-zé]{0,6}", any::<i32>()).prop_map(|(group, topic, partition)| {
                OffsetKey {
                    group,
                    topic,
                    partition,
                }
            });
        let value = (any::<i64>(), any::<i32>(), "\\PC{0,8}", any::<i64>()).prop_map(
            |(offset, leader_epoch, metadata, commit_timestamp_ms)| OffsetAndMetadata {
                offset,
                leader_epoch,
                metadata,
                commit_timestamp_ms,
            },
        );
        prop_oneof![
            (key.clone(), prop::option::of(value.clone()))
                .prop_map(|(key, value)| OffsetRecord::Commit { key, value }),
            (any::<i64>(), key, value).prop_map(|(producer_id, key, value)| {
                OffsetRecord::TxnCommit {
                    producer_id,
                    key,
                    value,
                }
            }),
            (any::<i64>(), any::<bool>()).prop_map(|(producer_id, committed)| {
                OffsetRecord::TxnMarker {
                    producer_id,
                    committed,
                }
            }),
        ]
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_decode_to_an_error_or_a_canonical_record(
            data in prop::collection::vec(any::<u8>(), 0..80)
        ) {
            semel_offsets::fuzzing::offsets_records(&data);
        }

        #[test]
        fn damaged_encodings_decode_to_an_error_or_a_canonical_record(
            record in record(),
            flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
            cut in any::<prop::sample::Index>(),
            truncate in any::<bool>(),
        ) {
            let mut bytes = record.encode().unwrap();
            prop_assert_eq!(bytes.len(), record.encoded_len());
            prop_assert_eq!(&OffsetRecord::decode(&bytes).unwrap(), &record);
            for (at, byte) in flips {
                let i = at.index(bytes.len());
                bytes[i] = byte;
            }
            if truncate {
                bytes.truncate(cut.index(bytes.len() + 1));
            }
            semel_offsets::fuzzing::offsets_records(&bytes);
        }
    }
}
