//! Criterion benches of semel-sequencer.
//!
//! - `check_record/10000_producers`: `check` + `record` of one batch, round-robin over 10,000
//!   active producers (issue goal: >= 20 M batches/s on one core).
//! - `snapshot/encode` and `snapshot/decode`: the whole table of 1,000,000 producers, each with 5
//!   cached batches (producers/s both ways). Under `cargo test` (no `--bench` flag) the benches
//!   run once on 1,000 producers so CI stays quick.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use semel_sequencer::{Decision, ProducerBatch, ProducerStateConfig, ProducerStateTable};

const ACTIVE_PRODUCERS: usize = 10_000;

fn bench_mode() -> bool {
    std::env::args().any(|arg| arg == "--bench")
}

/// Producer ids spread over the id space as an allocator's blocks would leave them.
fn producer_id(i: usize) -> i64 {
    1_000_003 + (i as i64) * 7_919
}

fn check_record(c: &mut Criterion) {
    let mut table = ProducerStateTable::new(ProducerStateConfig::default());
    let mut next_sequence = vec![0i32; ACTIVE_PRODUCERS];
    let mut next_offset = 0i64;
    let mut group = c.benchmark_group("check_record");
    group.throughput(Throughput::Elements(ACTIVE_PRODUCERS as u64));
    group.bench_function("10000_producers", |b| {
        b.iter(|| {
            for (i, sequence) in next_sequence.iter_mut().enumerate() {
                let batch = ProducerBatch {
                    producer_id: producer_id(i),
                    producer_epoch: 0,
                    base_sequence: *sequence,
                    last_offset_delta: 3,
                    is_transactional: false,
                };
                match table.check(black_box(&batch)) {
                    Decision::Append => {}
                    other => panic!("unexpected {other:?}"),
                }
                table.record(&batch, next_offset, next_offset).unwrap();
                next_offset += 4;
                *sequence = semel_sequencer::last_sequence(*sequence, 4);
            }
        });
    });
    group.finish();
}

fn full_table(producers: usize) -> ProducerStateTable {
    let mut table = ProducerStateTable::new(ProducerStateConfig::default());
    let mut offset = 0;
    for round in 0..5 {
        for i in 0..producers {
            let batch = ProducerBatch {
                producer_id: producer_id(i),
                producer_epoch: 0,
                base_sequence: round * 10,
                last_offset_delta: 9,
                is_transactional: false,
            };
            table
                .record(&batch, offset, 1_700_000_000_000 + offset)
                .unwrap();
            offset += 10;
        }
    }
    table
}

fn snapshot(c: &mut Criterion) {
    let producers = if bench_mode() { 1_000_000 } else { 1_000 };
    let table = full_table(producers);
    let bytes = table.encode_snapshot(i64::MAX);
    let mut group = c.benchmark_group("snapshot");
    group.sample_size(10);
    group.throughput(Throughput::Elements(producers as u64));
    group.bench_function(format!("encode/{producers}_producers"), |b| {
        b.iter(|| black_box(table.encode_snapshot(i64::MAX)));
    });
    group.bench_function(format!("decode/{producers}_producers"), |b| {
        b.iter(|| {
            let restored = ProducerStateTable::decode_snapshot(
                black_box(&bytes),
                ProducerStateConfig::default(),
            )
            .unwrap();
            assert_eq!(restored.table.len(), producers);
            restored
        });
    });
    group.finish();
    println!("snapshot of {producers} producers: {} bytes", bytes.len());
}

criterion_group!(benches, check_record, snapshot);
criterion_main!(benches);
