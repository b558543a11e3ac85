#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]
//! Benchmarks named in the issue: the full transaction cycle through the coordinator, and
//! aborted-range lookups for read_committed fetches.
//!
//! Each case runs twice: `coordinator`/`index` measure wall-clock time, and
//! `coordinator_cpu`/`index_cpu` measure the benchmark thread's CPU time (from
//! `/proc/thread-self/schedstat`), which stays meaningful on a shared, overloaded machine
//! where the thread is runnable but not running much of the time.

use criterion::measurement::Measurement;
use std::hint::black_box;

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use semel_bench_cpu::ThreadCpuTime;
use semel_txn::{
    CoordinatorConfig, Effect, Reply, TopicPartition, TransactionCoordinator, TxnIndex, TxnResult,
};

/// Confirms every pending record at once (the in-memory stand-in for a durable log) and
/// reports every marker written.
fn drive(c: &mut TransactionCoordinator) {
    while let Some(e) = c.poll_effect() {
        match e {
            Effect::Persist { id, record } => {
                // A real caller encodes and appends the record here, then drops it.
                drop(record);
                c.persisted(id).unwrap();
            }
            Effect::WriteMarkers(m) => {
                c.markers_written(0, &m, m.partitions.iter());
            }
        }
    }
}

fn transaction_cycle<M: Measurement>(c: &mut Criterion<M>, name: &str, flat: bool) {
    let mut coordinator = TransactionCoordinator::new(CoordinatorConfig::default());
    let mut ids = || Some(7);
    let Reply::AfterPersist(_) =
        coordinator.handle_init_producer_id(0, "bench-tx", 60_000, -1, -1, &mut ids)
    else {
        panic!("init")
    };
    drive(&mut coordinator);
    let partitions = [
        TopicPartition::new("orders", 0),
        TopicPartition::new("orders", 1),
        TopicPartition::new("payments", 0),
    ];
    let offsets = TopicPartition::new("__consumer_offsets", 17);

    let mut group = c.benchmark_group(name);
    if flat {
        // CPU time advances in scheduler ticks: equal, long samples instead of the
        // default linear ramp that starts with one-iteration samples.
        group.sampling_mode(SamplingMode::Flat);
    }
    group.throughput(Throughput::Elements(1));
    group.bench_function("begin_add3_offsets_commit_markers", |b| {
        b.iter(|| {
            assert!(matches!(
                coordinator.handle_add_partitions(1, "bench-tx", 7, 0, &partitions),
                Reply::AfterPersist(_)
            ));
            drive(&mut coordinator);
            assert!(matches!(
                coordinator.handle_add_offsets(2, "bench-tx", 7, 0, offsets.clone()),
                Reply::AfterPersist(_)
            ));
            drive(&mut coordinator);
            assert!(matches!(
                coordinator.handle_end_txn(3, "bench-tx", 7, 0, TxnResult::Commit),
                Reply::AfterPersist(_)
            ));
            drive(&mut coordinator);
        });
    });
    group.finish();
}

fn aborted_lookups<M: Measurement>(c: &mut Criterion<M>, name: &str, flat: bool) {
    const TXNS: i64 = 100_000;
    // 100,000 aborted transactions of 8 producers, each spanning 10 offsets, interleaved
    // with committed ones: offsets 0..2,000,000.
    let mut index = TxnIndex::new();
    let mut offset = 0i64;
    for i in 0..TXNS {
        let pid = i % 8;
        index.begin(pid, offset);
        index.end(pid, offset + 9, false).unwrap();
        index.begin(pid, offset + 10);
        index.end(pid, offset + 19, true).unwrap();
        offset += 20;
    }
    assert_eq!(index.aborted().count(), TXNS as usize);
    // Fetches of ~1 MiB windows landing anywhere in the log, read from a precomputed table.
    let fetches: Vec<i64> = (0..4096u64)
        .map(|i| (i.wrapping_mul(2_654_435_761) % (offset as u64)) as i64)
        .collect();
    let mut out: Vec<(i64, i64)> = Vec::with_capacity(16);
    let mut next = 0usize;

    let mut group = c.benchmark_group(name);
    if flat {
        group.sampling_mode(SamplingMode::Flat);
    }
    group.throughput(Throughput::Elements(1));
    group.bench_function("aborted_in_range_100k", |b| {
        b.iter(|| {
            let fetch = fetches[next % fetches.len()];
            next += 1;
            out.clear();
            out.extend(
                index
                    .aborted_in_range(black_box(fetch), fetch + 40)
                    .map(|a| (a.producer_id, a.first_offset)),
            );
            black_box(out.len())
        });
    });
    group.bench_function("last_stable_offset", |b| {
        b.iter(|| black_box(index.last_stable_offset(black_box(offset))))
    });
    group.finish();
}

fn wall(c: &mut Criterion) {
    transaction_cycle(c, "coordinator", false);
    aborted_lookups(c, "index", false);
}

fn cpu(c: &mut Criterion<ThreadCpuTime>) {
    transaction_cycle(c, "coordinator_cpu", true);
    aborted_lookups(c, "index_cpu", true);
}

criterion_group!(wall_benches, wall);
criterion_group! {
    name = cpu_benches;
    config = Criterion::default().with_measurement(ThreadCpuTime).sample_size(20);
    targets = cpu
}
criterion_main!(wall_benches, cpu_benches);
