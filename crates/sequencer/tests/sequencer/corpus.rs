//! The fuzz corpus: seed files made by the encoders (checked to still be what the encoders
//! write, which pins the formats), and a replay of every corpus file through the fuzz property.

use std::path::PathBuf;

use semel_sequencer::{ProducerBatch, ProducerIdBlock, ProducerStateTable, TxnMarker};

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/sequencer_snapshot")
}

/// A table with a wrapped sequence, a full cache, an open transaction and a marker-only producer.
fn sample_table() -> ProducerStateTable {
    let mut table = ProducerStateTable::default();
    let mut offset = 0;
    for i in 0..7 {
        let batch = ProducerBatch {
            producer_id: 1000,
            producer_epoch: 1,
            base_sequence: semel_sequencer::last_sequence(i32::MAX - 10, i * 3),
            last_offset_delta: 2,
            is_transactional: false,
        };
        table
            .record(&batch, offset, 1_700_000_000_000 + offset)
            .unwrap();
        offset += 3;
    }
    let txn = ProducerBatch {
        producer_id: 7,
        producer_epoch: 0,
        base_sequence: 0,
        last_offset_delta: 0,
        is_transactional: true,
    };
    table.record(&txn, offset, 1_700_000_000_100).unwrap();
    let marker = TxnMarker {
        producer_id: 55,
        producer_epoch: 3,
        coordinator_epoch: 9,
        is_commit: false,
    };
    table
        .record_marker(&marker, offset + 1, 1_700_000_000_200)
        .unwrap();
    table
}

/// The seed files: name and bytes.
fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    let snapshot = sample_table().encode_snapshot(23);
    let mut damaged = snapshot.clone();
    damaged[30] ^= 0x10;
    vec![
        (
            "empty-snapshot",
            ProducerStateTable::default().encode_snapshot(0),
        ),
        ("snapshot", snapshot.clone()),
        ("snapshot-damaged", damaged),
        // Without its 10-byte header: the fuzz property also tries input behind a valid header.
        ("snapshot-body", snapshot[10..].to_vec()),
        (
            "producer-id-block",
            ProducerIdBlock {
                first_producer_id: 4000,
                end_producer_id: 5000,
            }
            .encode(),
        ),
    ]
}

#[test]
fn seed_corpus_matches_what_the_encoders_write() {
    let dir = corpus_dir();
    let bless = std::env::var_os("SEMEL_BLESS_CORPUS").is_some();
    for (name, bytes) in seeds() {
        let path = dir.join(name);
        if bless {
            std::fs::write(&path, &bytes).unwrap();
        }
        let stored = std::fs::read(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (write seeds with SEMEL_BLESS_CORPUS=1)",
                path.display()
            )
        });
        assert_eq!(
            stored, bytes,
            "{name}: the encoder's format changed (bump the version?)"
        );
    }
}

#[test]
fn every_corpus_file_satisfies_the_fuzz_property() {
    let mut files = 0;
    for entry in std::fs::read_dir(corpus_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            semel_sequencer::fuzzing::sequencer_snapshot(&std::fs::read(&path).unwrap());
            files += 1;
        }
    }
    assert!(files >= seeds().len(), "corpus has only {files} files");
}

#[test]
fn seeds_exercise_both_decoders() {
    let seeds = seeds();
    let decode = |name: &str| {
        let bytes = &seeds.iter().find(|(n, _)| *n == name).unwrap().1;
        ProducerStateTable::decode_snapshot(bytes, Default::default())
    };
    assert_eq!(decode("snapshot").unwrap().table, sample_table());
    assert!(decode("snapshot-damaged").is_err());
    assert!(decode("empty-snapshot").unwrap().table.is_empty());
    let block = &seeds
        .iter()
        .find(|(n, _)| *n == "producer-id-block")
        .unwrap()
        .1;
    assert!(ProducerIdBlock::decode(block).is_ok());
}

mod damaged {
    use proptest::prelude::*;
    use semel_sequencer::{ProducerBatch, ProducerStateConfig, ProducerStateTable};

    fn table(batches: &[(i64, i16, i32, bool)]) -> ProducerStateTable {
        let mut table = ProducerStateTable::default();
        for (i, &(producer_id, producer_epoch, base_sequence, is_transactional)) in
            batches.iter().enumerate()
        {
            let batch = ProducerBatch {
                producer_id,
                producer_epoch,
                base_sequence,
                last_offset_delta: 1,
                is_transactional,
            };
            // Replay semantics: any order is bookkeeping; a refused non-transactional batch
            // inside an open transaction is simply skipped.
            let _ = table.record(&batch, i as i64 * 2, i as i64);
        }
        table
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        /// Any flip, truncation or extension of a real snapshot satisfies the fuzz property, and
        /// a flip inside the checksummed part is always rejected.
        #[test]
        fn damaged_snapshots_are_rejected_or_round_trip(
            batches in prop::collection::vec((0..20i64, 0..3i16, 0..50i32, any::<bool>()), 0..40),
            position in any::<prop::sample::Index>(),
            flip in 1..=255u8,
            cut in any::<prop::sample::Index>(),
            extra in prop::collection::vec(any::<u8>(), 1..8),
        ) {
            let bytes = table(&batches).encode_snapshot(batches.len() as i64 * 2);
            let i = position.index(bytes.len());
            let mut flipped = bytes.clone();
            flipped[i] ^= flip;
            semel_sequencer::fuzzing::sequencer_snapshot(&flipped);
            prop_assert!(ProducerStateTable::decode_snapshot(&flipped, ProducerStateConfig::default()).is_err());
            let truncated = &bytes[..cut.index(bytes.len())];
            semel_sequencer::fuzzing::sequencer_snapshot(truncated);
            prop_assert!(ProducerStateTable::decode_snapshot(truncated, ProducerStateConfig::default()).is_err());
            let mut longer = bytes.clone();
            longer.extend_from_slice(&extra);
            semel_sequencer::fuzzing::sequencer_snapshot(&longer);
            prop_assert!(ProducerStateTable::decode_snapshot(&longer, ProducerStateConfig::default()).is_err());
            // The body behind a fresh header (what the fuzz property also tries) decodes back.
            semel_sequencer::fuzzing::sequencer_snapshot(&bytes[10..]);
        }
    }
}
