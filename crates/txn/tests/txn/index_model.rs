//! Model-based test of the partition transaction index: the reference is the partition's
//! log itself (a `Vec` of batches), from which open transactions, the LSO and the aborted
//! ranges are recomputed by brute force after every step.

use proptest::prelude::*;
use semel_txn::{AbortedTxn, TxnIndex};

#[derive(Debug, Clone, Copy)]
enum Batch {
    Data {
        producer_id: i64,
        transactional: bool,
    },
    Marker {
        producer_id: i64,
        commit: bool,
    },
}

#[derive(Debug, Clone)]
enum Op {
    Append(Batch),
    Retain { advance: i64 },
    Query { fetch: i64, width: i64 },
    Restore,
}

fn op() -> impl Strategy<Value = Op> {
    let pid = 0i64..4;
    prop_oneof![
        6 => (pid.clone(), proptest::bool::weighted(0.8))
            .prop_map(|(producer_id, transactional)| Op::Append(Batch::Data { producer_id, transactional })),
        3 => (pid, any::<bool>()).prop_map(|(producer_id, commit)| Op::Append(Batch::Marker { producer_id, commit })),
        1 => (0i64..6).prop_map(|advance| Op::Retain { advance }),
        3 => (0i64..60, 0i64..30).prop_map(|(fetch, width)| Op::Query { fetch, width }),
        1 => Just(Op::Restore),
    ]
}

/// (producer id, first offset) of each open transaction, ascending.
type Open = Vec<(i64, i64)>;
/// (producer id, first offset, marker offset) of each aborted transaction, in marker order.
type Aborted = Vec<(i64, i64, i64)>;

/// What the log says: open transactions and aborted ones.
fn recompute(log: &[Batch]) -> (Open, Aborted) {
    let mut open: Vec<(i64, i64)> = Vec::new();
    let mut aborted = Vec::new();
    for (offset, b) in log.iter().enumerate() {
        let offset = offset as i64;
        match *b {
            Batch::Data {
                producer_id,
                transactional: true,
            } => {
                if !open.iter().any(|&(p, _)| p == producer_id) {
                    open.push((producer_id, offset));
                }
            }
            Batch::Data { .. } => {}
            Batch::Marker {
                producer_id,
                commit,
            } => {
                if let Some(i) = open.iter().position(|&(p, _)| p == producer_id) {
                    let (_, first) = open.remove(i);
                    if !commit {
                        aborted.push((producer_id, first, offset));
                    }
                }
            }
        }
    }
    open.sort();
    (open, aborted)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn index_matches_the_log(ops in proptest::collection::vec(op(), 1..120)) {
        let mut log: Vec<Batch> = Vec::new();
        let mut index = TxnIndex::new();
        let mut log_start = 0i64;
        for op in &ops {
            match op {
                Op::Append(b) => {
                    let offset = log.len() as i64;
                    match *b {
                        Batch::Data { producer_id, transactional: true } => {
                            index.begin(producer_id, offset);
                        }
                        Batch::Data { .. } => {}
                        Batch::Marker { producer_id, commit } => {
                            let recorded = index.end(producer_id, offset, commit).unwrap();
                            prop_assert_eq!(recorded.is_some(), !commit && {
                                let (open, _) = recompute(&log);
                                open.iter().any(|&(p, _)| p == producer_id)
                            });
                        }
                    }
                    log.push(*b);
                }
                Op::Retain { advance } => {
                    log_start = (log_start + advance).min(log.len() as i64);
                    index.truncate_before(log_start);
                }
                Op::Query { fetch, width } => {
                    let upper = fetch + width;
                    let (_, aborted) = recompute(&log);
                    let expected: Vec<(i64, i64)> = aborted
                        .iter()
                        .filter(|&&(_, first, last)| last >= log_start && last >= *fetch && first < upper)
                        .map(|&(p, first, _)| (p, first))
                        .collect();
                    let got: Vec<(i64, i64)> =
                        index.aborted_in_range(*fetch, upper).map(|a| (a.producer_id, a.first_offset)).collect();
                    prop_assert_eq!(got, expected);
                }
                Op::Restore => {
                    let (open, _) = recompute(&log);
                    let restored = TxnIndex::restore(index.aborted().copied(), open.iter().copied()).unwrap();
                    prop_assert_eq!(&restored, &index);
                    let bytes: Vec<_> = index.aborted().map(AbortedTxn::to_bytes).collect();
                    let decoded: Vec<_> = bytes.iter().map(|b| AbortedTxn::decode(b).unwrap()).collect();
                    index = TxnIndex::restore(decoded, open).unwrap();
                }
            }
            // Invariants after every step.
            let (open, aborted) = recompute(&log);
            let high_watermark = log.len() as i64;
            let lso = index.last_stable_offset(high_watermark);
            let expected_lso = open.iter().map(|&(_, first)| first).min().unwrap_or(high_watermark).min(high_watermark);
            prop_assert_eq!(lso, expected_lso);
            for &(p, first) in &open {
                prop_assert!(lso <= first, "LSO {} passed open transaction of {} at {}", lso, p, first);
                prop_assert_eq!(index.open_txn_first_offset(p), Some(first));
            }
            prop_assert_eq!(index.open_count(), open.len());
            let kept: Vec<_> = aborted.iter().filter(|&&(_, _, last)| last >= log_start).copied().collect();
            let got: Vec<_> = index.aborted().map(|a| (a.producer_id, a.first_offset, a.last_offset)).collect();
            prop_assert_eq!(got, kept);
        }
    }
}
