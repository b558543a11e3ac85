//! Model-based test of the whole table API: random batches (any epoch, sequence, transactional
//! or not), markers, clock steps with expiry, and restarts from snapshots, against a reference
//! model in plain collections that keeps every appended batch and derives the 5-batch cache by
//! slicing. Decisions must agree at every step and the state must agree after every step.
//!
//! Also: snapshot → restore → the same decisions and state for any further input.

use std::collections::BTreeMap;

use proptest::prelude::*;
use semel_sequencer::{
    BatchMetadata, CompletedTxn, Decision, MarkerDecision, ProducerBatch, ProducerStateConfig,
    ProducerStateTable, TxnMarker, TxnOpened,
};

const EXPIRATION_MS: i64 = 1_000;

#[derive(Debug, Clone)]
enum Op {
    Produce(ProducerBatch),
    Marker(TxnMarker),
    /// The clock moves on and the broker expires idle producers.
    Expire {
        advance_ms: i64,
    },
    /// The clock moves on without expiry.
    Tick {
        advance_ms: i64,
    },
    Restart,
}

fn sequence() -> impl Strategy<Value = i32> {
    prop_oneof![4 => 0..12i32, 1 => (i32::MAX - 4)..=i32::MAX]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        10 => (0..4i64, 0..3i16, sequence(), 0..3i32, prop::bool::weighted(0.3)).prop_map(
            |(producer_id, producer_epoch, base_sequence, last_offset_delta, is_transactional)| {
                Op::Produce(ProducerBatch {
                    producer_id,
                    producer_epoch,
                    base_sequence,
                    last_offset_delta,
                    is_transactional,
                })
            }
        ),
        2 => (0..4i64, 0..3i16, 0..3i32, any::<bool>()).prop_map(
            |(producer_id, producer_epoch, coordinator_epoch, is_commit)| {
                Op::Marker(TxnMarker { producer_id, producer_epoch, coordinator_epoch, is_commit })
            }
        ),
        1 => (0..1_500i64).prop_map(|advance_ms| Op::Expire { advance_ms }),
        2 => (0..300i64).prop_map(|advance_ms| Op::Tick { advance_ms }),
        1 => Just(Op::Restart),
    ]
}

/// What the reference model keeps per producer.
#[derive(Debug, Clone)]
struct ModelProducer {
    epoch: i16,
    coordinator_epoch: i32,
    /// Every batch appended since the epoch last changed, oldest first.
    appended: Vec<BatchMetadata>,
    last_timestamp_ms: i64,
    txn_first_offset: Option<i64>,
}

impl ModelProducer {
    fn new() -> Self {
        ModelProducer {
            epoch: -1,
            coordinator_epoch: -1,
            appended: Vec::new(),
            last_timestamp_ms: -1,
            txn_first_offset: None,
        }
    }

    fn cached(&self) -> &[BatchMetadata] {
        &self.appended[self.appended.len().saturating_sub(5)..]
    }

    fn set_epoch(&mut self, epoch: i16) {
        if epoch != self.epoch {
            self.epoch = epoch;
            self.appended.clear();
        }
    }
}

#[derive(Debug, Clone, Default)]
struct Model {
    producers: BTreeMap<i64, ModelProducer>,
}

fn follows(last: i32, next: i32) -> bool {
    if last == i32::MAX {
        next == 0
    } else {
        next == last + 1
    }
}

impl Model {
    /// NOTES.md C.4, restated over the model's collections.
    fn decide(&self, b: &ProducerBatch) -> Decision {
        let Some(p) = self.producers.get(&b.producer_id) else {
            return Decision::Append;
        };
        let duplicate = p
            .cached()
            .iter()
            .find(|c| c.base_sequence == b.base_sequence && c.last_sequence() == b.last_sequence());
        if let (true, Some(dup)) = (b.producer_epoch == p.epoch, duplicate) {
            return Decision::Duplicate {
                first_offset: dup.first_offset,
                last_offset: dup.first_offset + i64::from(dup.last_offset_delta),
                timestamp_ms: dup.timestamp_ms,
            };
        }
        if b.producer_epoch < p.epoch {
            return Decision::InvalidProducerEpoch {
                current_epoch: p.epoch,
            };
        }
        let last = p.cached().last().map_or(-1, BatchMetadata::last_sequence);
        if p.epoch != -1 {
            if b.producer_epoch > p.epoch && b.base_sequence != 0 {
                return Decision::OutOfOrderSequence {
                    expected_sequence: 0,
                };
            }
            if b.producer_epoch == p.epoch && !follows(last, b.base_sequence) {
                let expected_sequence = if last == i32::MAX { 0 } else { last + 1 };
                return Decision::OutOfOrderSequence { expected_sequence };
            }
        }
        if let (false, Some(txn_first_offset)) = (b.is_transactional, p.txn_first_offset) {
            return Decision::InvalidTxnState { txn_first_offset };
        }
        Decision::Append
    }

    fn append(&mut self, b: &ProducerBatch, first_offset: i64, now_ms: i64) -> Option<TxnOpened> {
        let p = self
            .producers
            .entry(b.producer_id)
            .or_insert_with(ModelProducer::new);
        p.set_epoch(b.producer_epoch);
        p.appended.push(BatchMetadata {
            base_sequence: b.base_sequence,
            last_offset_delta: b.last_offset_delta,
            first_offset,
            timestamp_ms: now_ms,
        });
        p.last_timestamp_ms = now_ms;
        if b.is_transactional && p.txn_first_offset.is_none() {
            p.txn_first_offset = Some(first_offset);
            return Some(TxnOpened {
                producer_id: b.producer_id,
                first_offset,
            });
        }
        None
    }

    fn decide_marker(&self, m: &TxnMarker) -> MarkerDecision {
        match self.producers.get(&m.producer_id) {
            Some(p) if m.producer_epoch < p.epoch => MarkerDecision::InvalidProducerEpoch {
                current_epoch: p.epoch,
            },
            Some(p) if m.coordinator_epoch < p.coordinator_epoch => {
                MarkerDecision::TransactionCoordinatorFenced {
                    current_coordinator_epoch: p.coordinator_epoch,
                }
            }
            _ => MarkerDecision::Append,
        }
    }

    fn append_marker(&mut self, m: &TxnMarker, offset: i64, now_ms: i64) -> Option<CompletedTxn> {
        let p = self
            .producers
            .entry(m.producer_id)
            .or_insert_with(ModelProducer::new);
        let first = p.txn_first_offset.take();
        p.set_epoch(m.producer_epoch);
        p.coordinator_epoch = m.coordinator_epoch;
        p.last_timestamp_ms = now_ms;
        let first_offset = first?;
        let last_stable_offset = self
            .producers
            .values()
            .filter_map(|p| p.txn_first_offset)
            .min()
            .unwrap_or(offset + 1);
        Some(CompletedTxn {
            producer_id: m.producer_id,
            first_offset,
            last_offset: offset,
            is_commit: m.is_commit,
            last_stable_offset,
        })
    }

    fn expire(&mut self, now_ms: i64) -> Vec<i64> {
        let expired: Vec<i64> = self
            .producers
            .iter()
            .filter(|(_, p)| {
                p.txn_first_offset.is_none() && now_ms - p.last_timestamp_ms >= EXPIRATION_MS
            })
            .map(|(&id, _)| id)
            .collect();
        for id in &expired {
            self.producers.remove(id);
        }
        expired
    }

    fn assert_matches(&self, table: &ProducerStateTable) {
        semel_sequencer::fuzzing::check_table_invariants(table).unwrap();
        assert_eq!(table.len(), self.producers.len());
        for (&id, p) in &self.producers {
            let entry = table
                .producer(id)
                .unwrap_or_else(|| panic!("producer {id} missing"));
            assert_eq!(entry.producer_epoch(), p.epoch, "producer {id} epoch");
            assert_eq!(
                entry.coordinator_epoch(),
                p.coordinator_epoch,
                "producer {id} coordinator epoch"
            );
            assert_eq!(entry.batches(), p.cached(), "producer {id} cached batches");
            assert_eq!(
                entry.last_timestamp_ms(),
                p.last_timestamp_ms,
                "producer {id} last timestamp"
            );
            assert_eq!(
                entry.current_txn_first_offset(),
                p.txn_first_offset,
                "producer {id} txn"
            );
            assert_eq!(
                table.has_ongoing_transaction(id),
                p.txn_first_offset.is_some()
            );
        }
        let first_unstable = self
            .producers
            .values()
            .filter_map(|p| p.txn_first_offset)
            .min();
        assert_eq!(table.first_unstable_offset(), first_unstable);
    }
}

fn config() -> ProducerStateConfig {
    ProducerStateConfig {
        producer_id_expiration_ms: EXPIRATION_MS,
    }
}

/// The system under test plus the partition's log offset and the clock.
struct Harness {
    table: ProducerStateTable,
    next_offset: i64,
    now_ms: i64,
}

impl Harness {
    fn new() -> Self {
        Harness {
            table: ProducerStateTable::new(config()),
            next_offset: 0,
            now_ms: 0,
        }
    }

    /// Applies one operation, returning a description of every observable output.
    fn apply(&mut self, op: &Op) -> String {
        match op {
            Op::Produce(b) => {
                let decision = self.table.check(b);
                let mut out = format!("{decision:?}");
                if decision == Decision::Append {
                    let opened = self.table.record(b, self.next_offset, self.now_ms).unwrap();
                    out += &format!(" {opened:?}");
                    self.next_offset += i64::from(b.last_offset_delta) + 1;
                }
                out
            }
            Op::Marker(m) => {
                let decision = self.table.check_marker(m);
                let mut out = format!("{decision:?}");
                if decision == MarkerDecision::Append {
                    let completed = self
                        .table
                        .record_marker(m, self.next_offset, self.now_ms)
                        .unwrap();
                    out += &format!(" {completed:?}");
                    self.next_offset += 1;
                }
                out
            }
            Op::Expire { advance_ms } => {
                self.now_ms += advance_ms;
                format!("{:?}", self.table.expire(self.now_ms))
            }
            Op::Tick { advance_ms } => {
                self.now_ms += advance_ms;
                String::new()
            }
            Op::Restart => {
                let bytes = self.table.encode_snapshot(self.next_offset);
                let restored = ProducerStateTable::decode_snapshot(&bytes, config()).unwrap();
                assert_eq!(restored.log_end_offset, self.next_offset);
                assert_eq!(restored.table, self.table);
                self.table = restored.table;
                String::new()
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn table_agrees_with_the_reference_model(ops in prop::collection::vec(op(), 1..150)) {
        let mut sut = Harness::new();
        let mut model = Model::default();
        for op in &ops {
            match op {
                Op::Produce(b) => {
                    let expected = model.decide(b);
                    let got = sut.table.check(b);
                    prop_assert_eq!(got, expected, "batch {:?}", b);
                    if expected == Decision::Append {
                        let opened = model.append(b, sut.next_offset, sut.now_ms);
                        prop_assert_eq!(sut.table.record(b, sut.next_offset, sut.now_ms).unwrap(), opened);
                        sut.next_offset += i64::from(b.last_offset_delta) + 1;
                    }
                }
                Op::Marker(m) => {
                    let expected = model.decide_marker(m);
                    prop_assert_eq!(sut.table.check_marker(m), expected, "marker {:?}", m);
                    if expected == MarkerDecision::Append {
                        let completed = model.append_marker(m, sut.next_offset, sut.now_ms);
                        prop_assert_eq!(sut.table.record_marker(m, sut.next_offset, sut.now_ms).unwrap(), completed);
                        sut.next_offset += 1;
                    }
                }
                Op::Expire { advance_ms } => {
                    sut.now_ms += advance_ms;
                    prop_assert_eq!(sut.table.expire(sut.now_ms), model.expire(sut.now_ms));
                }
                Op::Tick { .. } | Op::Restart => {
                    sut.apply(op);
                }
            }
            model.assert_matches(&sut.table);
        }
    }

    #[test]
    fn restored_snapshot_gives_the_same_decisions_for_any_further_input(
        before in prop::collection::vec(op(), 0..80),
        after in prop::collection::vec(op(), 1..80),
    ) {
        let mut live = Harness::new();
        for op in &before {
            live.apply(op);
        }
        let bytes = live.table.encode_snapshot(live.next_offset);
        let restored = ProducerStateTable::decode_snapshot(&bytes, config()).unwrap();
        let mut restarted =
            Harness { table: restored.table, next_offset: restored.log_end_offset, now_ms: live.now_ms };
        for op in &after {
            prop_assert_eq!(live.apply(op), restarted.apply(op), "after {:?}", op);
            prop_assert_eq!(&live.table, &restarted.table);
        }
    }

    #[test]
    fn replay_of_the_log_equals_the_live_table(ops in prop::collection::vec(op(), 1..150)) {
        // The broker's log: every appended batch and marker with its offset and timestamp.
        enum Entry { Batch(ProducerBatch, i64, i64), Marker(TxnMarker, i64, i64) }
        let mut live = Harness::new();
        let mut log = Vec::new();
        for op in ops.iter().filter(|op| !matches!(op, Op::Expire { .. })) {
            let (offset, now_ms) = (live.next_offset, live.now_ms);
            let out = live.apply(op);
            match op {
                Op::Produce(b) if out.starts_with("Append") => log.push(Entry::Batch(*b, offset, now_ms)),
                Op::Marker(m) if out.starts_with("Append") => log.push(Entry::Marker(*m, offset, now_ms)),
                _ => {}
            }
        }
        let mut replayed = ProducerStateTable::new(config());
        for entry in &log {
            match entry {
                Entry::Batch(b, offset, ts) => { replayed.record(b, *offset, *ts).unwrap(); }
                Entry::Marker(m, offset, ts) => { replayed.record_marker(m, *offset, *ts).unwrap(); }
            }
        }
        prop_assert_eq!(replayed, live.table);
    }
}
