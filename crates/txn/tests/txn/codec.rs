//! Round trips of the persisted records over arbitrary values.

use proptest::prelude::*;
use semel_txn::{AbortedTxn, TopicPartition, TxnLogRecord, TxnLogValue, TxnState};

fn state() -> impl Strategy<Value = TxnState> {
    prop_oneof![
        Just(TxnState::Empty),
        Just(TxnState::Ongoing),
        Just(TxnState::PrepareCommit),
        Just(TxnState::PrepareAbort),
        Just(TxnState::CompleteCommit),
        Just(TxnState::CompleteAbort),
    ]
}

fn record() -> impl Strategy<Value = TxnLogRecord> {
    let value = (
        any::<i64>(),
        any::<i64>(),
        any::<i16>(),
        any::<i16>(),
        any::<i32>(),
        state(),
        any::<u64>(),
        any::<i64>(),
        any::<i64>(),
        proptest::collection::btree_set(
            ("[a-zé_]{0,8}", any::<i32>()).prop_map(|(t, p)| TopicPartition::new(t, p)),
            0..6,
        ),
    )
        .prop_map(
            |(pid, prev, epoch, last, timeout, state, seq, start, update, partitions)| {
                TxnLogValue {
                    producer_id: pid,
                    previous_producer_id: prev,
                    producer_epoch: epoch,
                    last_producer_epoch: last,
                    transaction_timeout_ms: timeout,
                    state,
                    txn_sequence: seq,
                    txn_start_timestamp_ms: start,
                    txn_last_update_timestamp_ms: update,
                    partitions: partitions.into_iter().collect(),
                }
            },
        );
    ("[a-zA-Z0-9.\\-ü]{1,20}", proptest::option::of(value)).prop_map(|(id, value)| TxnLogRecord {
        transactional_id: id.into(),
        value,
    })
}

proptest! {
    #[test]
    fn log_record_round_trips_with_predicted_length(r in record()) {
        let bytes = r.to_bytes();
        prop_assert_eq!(bytes.len(), r.encoded_len());
        prop_assert_eq!(TxnLogRecord::decode(&bytes), Ok(r));
        semel_txn::fuzzing::txn_records(&bytes);
    }

    #[test]
    fn aborted_txn_round_trips(pid in any::<i64>(), first in 0..i64::MAX / 2, len in 0..1000i64, lso in 0..i64::MAX) {
        let a = AbortedTxn { producer_id: pid, first_offset: first, last_offset: first + len, last_stable_offset: lso };
        prop_assert_eq!(AbortedTxn::decode(&a.to_bytes()), Ok(a));
    }

    /// Valid records with a few bytes overwritten, cut or grown: gets past the version and
    /// kind checks far more often than random bytes do.
    #[test]
    fn mutated_records_satisfy_the_fuzz_property(
        r in record(),
        edits in proptest::collection::vec((any::<proptest::sample::Index>(), any::<u8>()), 1..4),
        cut in proptest::option::of(any::<proptest::sample::Index>()),
        extra in proptest::collection::vec(any::<u8>(), 0..3),
    ) {
        let mut bytes = r.to_bytes();
        for (at, value) in edits {
            let i = at.index(bytes.len());
            bytes[i] = value;
        }
        if let Some(cut) = cut {
            bytes.truncate(cut.index(bytes.len() + 1));
        }
        bytes.extend_from_slice(&extra);
        semel_txn::fuzzing::txn_records(&bytes);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
        semel_txn::fuzzing::txn_records(&bytes);
    }
}
