//! Replays the committed fuzz corpus through the fuzz property, and (re)writes the seeds.

use std::path::PathBuf;

use semel_txn::{AbortedTxn, TopicPartition, TxnLogRecord, TxnLogValue, TxnState};

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/txn_records")
}

fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    let value = TxnLogValue {
        producer_id: 4242,
        previous_producer_id: -1,
        producer_epoch: 3,
        last_producer_epoch: 2,
        transaction_timeout_ms: 60_000,
        state: TxnState::Ongoing,
        txn_sequence: 9,
        txn_start_timestamp_ms: 1_700_000_000_000,
        txn_last_update_timestamp_ms: 1_700_000_000_500,
        partitions: [
            TopicPartition::new("orders", 0),
            TopicPartition::new("orders", 3),
            TopicPartition::new("__consumer_offsets", 17),
        ]
        .into_iter()
        .collect(),
    };
    let ongoing = TxnLogRecord {
        transactional_id: "payments-tx".into(),
        value: Some(value.clone()),
    };
    let complete = TxnLogRecord {
        transactional_id: "payments-tx".into(),
        value: Some(TxnLogValue {
            state: TxnState::CompleteAbort,
            partitions: Default::default(),
            ..value
        }),
    };
    let tombstone = TxnLogRecord {
        transactional_id: "expired".into(),
        value: None,
    };
    let aborted = AbortedTxn {
        producer_id: 4242,
        first_offset: 100,
        last_offset: 180,
        last_stable_offset: 120,
    };
    vec![
        ("ongoing", ongoing.to_bytes()),
        ("complete_abort", complete.to_bytes()),
        ("tombstone", tombstone.to_bytes()),
        ("aborted_txn", aborted.to_bytes().to_vec()),
        ("truncated", ongoing.to_bytes()[..20].to_vec()),
    ]
}

#[test]
fn seeds_satisfy_the_fuzz_property_and_are_in_the_corpus() {
    let dir = corpus_dir();
    for (name, bytes) in seeds() {
        semel_txn::fuzzing::txn_records(&bytes);
        let path = dir.join(name);
        if std::env::var_os("SEMEL_WRITE_CORPUS").is_some() {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, &bytes).unwrap();
        }
        assert_eq!(
            std::fs::read(&path).unwrap(),
            bytes,
            "seed {name} is committed and current"
        );
    }
}

#[test]
fn every_corpus_file_satisfies_the_fuzz_property() {
    let mut n = 0;
    for entry in std::fs::read_dir(corpus_dir()).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        semel_txn::fuzzing::txn_records(&bytes);
        n += 1;
    }
    assert!(n >= 5, "the corpus holds the seeds");
}
