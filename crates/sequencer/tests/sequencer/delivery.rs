//! Simulated idempotent producers with up to 5 batches in flight, whose sends are retried,
//! duplicated, dropped and delivered out of order, against one partition's table.
//!
//! Invariants after every step: each producer's appended batches are exactly its batches, once
//! each, in sequence order (so no out-of-order batch is ever appended); every duplicate is
//! answered with its original offsets; every acknowledged batch is in the log; replaying the log
//! into an empty table, or the suffix after the last snapshot into the restored snapshot, gives
//! the live table. At the end every producer retries what is unacknowledged, in order, and then
//! every batch it sent is in the log.

use std::collections::{BTreeMap, VecDeque};

use proptest::prelude::*;
use semel_sequencer::{Decision, ProducerBatch, ProducerStateConfig, ProducerStateTable};

const MAX_IN_FLIGHT: usize = 5;
const PRODUCERS: usize = 3;

/// One batch a producer created: identified by (producer, index in its list).
#[derive(Debug, Clone, Copy)]
struct SimBatch {
    epoch: i16,
    base_sequence: i32,
    records: i32,
}

#[derive(Debug, Default)]
struct Producer {
    batches: Vec<SimBatch>,
    acked: Vec<bool>,
    /// Indices of unacknowledged batches, oldest first (all within MAX_IN_FLIGHT of the oldest).
    in_flight: VecDeque<usize>,
    epoch: i16,
    next_sequence: i32,
    started: bool,
}

#[derive(Debug, Clone, Copy)]
struct LogEntry {
    producer: usize,
    index: usize,
    first_offset: i64,
}

#[derive(Debug, Clone)]
enum Op {
    /// The producer creates its next batch and sends it.
    Send { producer: usize, records: i32 },
    /// The network delivers one message (chosen by a selector); the response may be lost.
    Deliver { pick: usize, lose_response: bool },
    /// The producer re-sends one of its unacknowledged batches.
    Retry { producer: usize, pick: usize },
    /// The network duplicates a message.
    Duplicate { pick: usize },
    /// The network loses a message.
    Drop { pick: usize },
    /// With nothing in flight, the producer bumps its epoch and restarts sequences at 0.
    BumpEpoch { producer: usize },
    /// The broker restarts from a snapshot.
    Restart,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..PRODUCERS, 1..4i32).prop_map(|(producer, records)| Op::Send { producer, records }),
        6 => (any::<usize>(), prop::bool::weighted(0.2))
            .prop_map(|(pick, lose_response)| Op::Deliver { pick, lose_response }),
        2 => (0..PRODUCERS, any::<usize>()).prop_map(|(producer, pick)| Op::Retry { producer, pick }),
        1 => any::<usize>().prop_map(|pick| Op::Duplicate { pick }),
        1 => any::<usize>().prop_map(|pick| Op::Drop { pick }),
        1 => (0..PRODUCERS).prop_map(|producer| Op::BumpEpoch { producer }),
        1 => Just(Op::Restart),
    ]
}

struct Sim {
    producers: Vec<Producer>,
    /// Messages in the network: (producer, batch index).
    network: Vec<(usize, usize)>,
    table: ProducerStateTable,
    log: Vec<LogEntry>,
    /// Where each appended batch went: (producer, index) → first offset.
    offsets: BTreeMap<(usize, usize), i64>,
    next_offset: i64,
    snapshot: Vec<u8>,
    snapshot_log_len: usize,
}

fn producer_id(producer: usize) -> i64 {
    1_000 + producer as i64
}

impl Sim {
    fn new(start_sequences: [i32; PRODUCERS]) -> Self {
        let table = ProducerStateTable::default();
        let snapshot = table.encode_snapshot(0);
        let producers = start_sequences
            .iter()
            .map(|&next_sequence| Producer {
                next_sequence,
                ..Producer::default()
            })
            .collect();
        Sim {
            producers,
            network: Vec::new(),
            table,
            log: Vec::new(),
            offsets: BTreeMap::new(),
            next_offset: 0,
            snapshot,
            snapshot_log_len: 0,
        }
    }

    fn wire_batch(&self, producer: usize, index: usize) -> ProducerBatch {
        let b = self.producers[producer].batches[index];
        ProducerBatch {
            producer_id: producer_id(producer),
            producer_epoch: b.epoch,
            base_sequence: b.base_sequence,
            last_offset_delta: b.records - 1,
            is_transactional: false,
        }
    }

    fn timestamp(offset: i64) -> i64 {
        10_000 + offset
    }

    /// The broker receives a batch: check, append or answer, and the producer handles the
    /// response unless it is lost.
    fn receive(&mut self, producer: usize, index: usize, lose_response: bool) {
        let batch = self.wire_batch(producer, index);
        let decision = self.table.check(&batch);
        let ok = match decision {
            Decision::Append => {
                let first_offset = self.next_offset;
                self.table
                    .record(&batch, first_offset, Self::timestamp(first_offset))
                    .unwrap();
                self.next_offset += i64::from(batch.last_offset_delta) + 1;
                self.log.push(LogEntry {
                    producer,
                    index,
                    first_offset,
                });
                assert!(
                    self.offsets
                        .insert((producer, index), first_offset)
                        .is_none(),
                    "batch {producer}/{index} appended twice"
                );
                true
            }
            Decision::Duplicate {
                first_offset,
                last_offset,
                timestamp_ms,
            } => {
                let original = self.offsets.get(&(producer, index)).copied();
                assert_eq!(
                    Some(first_offset),
                    original,
                    "duplicate of {producer}/{index} answered with other offsets"
                );
                assert_eq!(
                    last_offset,
                    first_offset + i64::from(batch.last_offset_delta)
                );
                assert_eq!(timestamp_ms, Self::timestamp(first_offset));
                true
            }
            Decision::OutOfOrderSequence { .. } => false,
            Decision::InvalidProducerEpoch { .. } => {
                // Only a stale copy from before an epoch bump, which the producer drained first.
                assert!(
                    self.producers[producer].acked[index],
                    "live batch {producer}/{index} fenced"
                );
                false
            }
            other => panic!("unexpected decision {other:?} for {producer}/{index}"),
        };
        if ok && !lose_response {
            let p = &mut self.producers[producer];
            p.acked[index] = true;
            p.in_flight.retain(|&i| i != index);
        }
    }

    fn create_batch(&mut self, producer: usize, records: i32) -> usize {
        let p = &mut self.producers[producer];
        let index = p.batches.len();
        p.batches.push(SimBatch {
            epoch: p.epoch,
            base_sequence: p.next_sequence,
            records,
        });
        p.acked.push(false);
        p.in_flight.push_back(index);
        p.next_sequence = semel_sequencer::last_sequence(p.next_sequence, records - 1);
        p.next_sequence = if p.next_sequence == i32::MAX {
            0
        } else {
            p.next_sequence + 1
        };
        index
    }

    fn step(&mut self, op: &Op) {
        match *op {
            Op::Send { producer, records } => {
                // At most 5 batches from the oldest unacknowledged one to the newest (a lost
                // response keeps the window from moving on, as in the clients).
                let p = &self.producers[producer];
                if p.in_flight
                    .front()
                    .is_some_and(|&oldest| p.batches.len() >= oldest + MAX_IN_FLIGHT)
                {
                    return;
                }
                let index = self.create_batch(producer, records);
                if !self.producers[producer].started {
                    // A new producer's first batch reaches the broker before any later one (an
                    // unknown producer is accepted at any sequence, so a reordered start would
                    // legitimately begin the partition's history at a later batch).
                    self.producers[producer].started = true;
                    self.receive(producer, index, false);
                } else {
                    self.network.push((producer, index));
                }
            }
            Op::Deliver {
                pick,
                lose_response,
            } => {
                if !self.network.is_empty() {
                    let (producer, index) = self.network.remove(pick % self.network.len());
                    self.receive(producer, index, lose_response);
                }
            }
            Op::Retry { producer, pick } => {
                let p = &self.producers[producer];
                if !p.in_flight.is_empty() {
                    let index = p.in_flight[pick % p.in_flight.len()];
                    self.network.push((producer, index));
                }
            }
            Op::Duplicate { pick } => {
                if !self.network.is_empty() {
                    let message = self.network[pick % self.network.len()];
                    self.network.push(message);
                }
            }
            Op::Drop { pick } => {
                if !self.network.is_empty() {
                    self.network.remove(pick % self.network.len());
                }
            }
            Op::BumpEpoch { producer } => {
                let p = &mut self.producers[producer];
                if p.started && p.in_flight.is_empty() && p.epoch < i16::MAX {
                    p.epoch += 1;
                    p.next_sequence = 0;
                }
            }
            Op::Restart => {
                self.snapshot = self.table.encode_snapshot(self.next_offset);
                self.snapshot_log_len = self.log.len();
                let restored = ProducerStateTable::decode_snapshot(
                    &self.snapshot,
                    ProducerStateConfig::default(),
                )
                .unwrap();
                assert_eq!(restored.table, self.table);
                self.table = restored.table;
            }
        }
    }

    fn replay(&self, mut table: ProducerStateTable, entries: &[LogEntry]) -> ProducerStateTable {
        for e in entries {
            let batch = self.wire_batch(e.producer, e.index);
            table
                .record(&batch, e.first_offset, Self::timestamp(e.first_offset))
                .unwrap();
        }
        table
    }

    fn check_invariants(&self) {
        semel_sequencer::fuzzing::check_table_invariants(&self.table).unwrap();
        for (producer, p) in self.producers.iter().enumerate() {
            // Appended batches of this producer, in log order, are exactly 0, 1, 2, ...
            let appended: Vec<usize> = self
                .log
                .iter()
                .filter(|e| e.producer == producer)
                .map(|e| e.index)
                .collect();
            let expected: Vec<usize> = (0..appended.len()).collect();
            assert_eq!(
                appended, expected,
                "producer {producer}: appended out of order or twice"
            );
            for (index, &acked) in p.acked.iter().enumerate() {
                assert!(
                    !acked || index < appended.len(),
                    "acked batch {producer}/{index} not in the log"
                );
            }
        }
        let replayed = self.replay(ProducerStateTable::default(), &self.log);
        assert_eq!(
            replayed, self.table,
            "replay of the whole log differs from the live table"
        );
        let restored =
            ProducerStateTable::decode_snapshot(&self.snapshot, ProducerStateConfig::default())
                .unwrap();
        let log_after: Vec<LogEntry> = self.log[self.snapshot_log_len..].to_vec();
        assert!(
            log_after
                .iter()
                .all(|e| e.first_offset >= restored.log_end_offset)
        );
        let rebuilt = self.replay(restored.table, &log_after);
        assert_eq!(
            rebuilt, self.table,
            "snapshot + replay differs from the live table"
        );
    }

    /// Every producer retries its unacknowledged batches in order until all are acknowledged.
    fn drain(&mut self) {
        self.network.clear();
        for producer in 0..PRODUCERS {
            // Each pass appends at least the oldest unacknowledged batch, so this ends.
            for _ in 0..=MAX_IN_FLIGHT {
                let pending: Vec<usize> =
                    self.producers[producer].in_flight.iter().copied().collect();
                for index in pending {
                    self.receive(producer, index, false);
                }
            }
            let p = &self.producers[producer];
            assert!(
                p.in_flight.is_empty(),
                "producer {producer} could not drain: {p:?}"
            );
            assert!(p.acked.iter().all(|&a| a));
        }
        self.check_invariants();
        for (producer, p) in self.producers.iter().enumerate() {
            let appended = self.log.iter().filter(|e| e.producer == producer).count();
            assert_eq!(appended, p.batches.len());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn retried_duplicated_and_reordered_sends_are_appended_once_in_order(
        start_sequences in prop::array::uniform3(prop_oneof![Just(0), Just(i32::MAX - 4), 0..100i32]),
        ops in prop::collection::vec(op(), 1..200),
    ) {
        let mut sim = Sim::new(start_sequences);
        for op in &ops {
            sim.step(op);
            sim.check_invariants();
        }
        sim.drain();
    }
}
