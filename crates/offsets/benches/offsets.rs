//! Offset commit + fetch throughput (issue goal: ≥ 5 M ops/s). One op is one partition
//! committed (commit, then the write handed back as persisted) or one partition fetched.
//!
//! Each case runs twice: `offset_commit_fetch` measures wall-clock time, and
//! `offset_commit_fetch_cpu` measures the benchmark thread's CPU time (from
//! `/proc/thread-self/schedstat`), which stays meaningful on a shared, overloaded machine
//! where the thread is runnable but not running much of the time.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use criterion::measurement::Measurement;
use std::hint::black_box;

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use semel_bench_cpu::ThreadCpuTime;
use semel_offsets::{OffsetStore, OffsetsConfig, PartitionOffset};

const GROUPS: usize = 100;
const TOPICS: usize = 10;
const PARTITIONS: i32 = 10;

fn names() -> (Vec<String>, Vec<String>) {
    let groups = (0..GROUPS).map(|g| format!("consumer-group-{g}")).collect();
    let topics = (0..TOPICS).map(|t| format!("events.topic-{t}")).collect();
    (groups, topics)
}

fn partition_offsets(topics: &[String], offset: i64) -> impl Iterator<Item = PartitionOffset> {
    topics.iter().flat_map(move |topic| {
        (0..PARTITIONS).map(move |partition| PartitionOffset {
            topic: topic.clone(),
            partition,
            offset,
            leader_epoch: 3,
            metadata: String::new(),
        })
    })
}

/// A store holding 10 000 committed partitions, as after a while in production.
fn populated(groups: &[String], topics: &[String]) -> OffsetStore {
    let mut store = OffsetStore::new(OffsetsConfig::default());
    for group in groups {
        let write = store
            .commit(group, partition_offsets(topics, 0), 0)
            .write
            .unwrap();
        store.persisted(write).unwrap();
    }
    store
}

fn commit_fetch<M: Measurement>(c: &mut Criterion<M>, name: &str, flat: bool) {
    let (groups, topics) = names();
    let mut bench = c.benchmark_group(name);
    if flat {
        // CPU time advances in scheduler ticks: equal, long samples instead of the
        // default linear ramp that starts with one-iteration samples.
        bench.sampling_mode(SamplingMode::Flat);
    }

    // One partition per OffsetCommit, then an OffsetFetch of it (RequireStable).
    bench.throughput(Throughput::Elements(2));
    bench.bench_function("single_partition", |b| {
        let mut store = populated(&groups, &topics);
        let mut i = 0usize;
        b.iter(|| {
            i = i.wrapping_add(1);
            let group = &groups[i % GROUPS];
            let topic = &topics[(i / GROUPS) % TOPICS];
            let partition = (i % 7) as i32;
            let outcome = store.commit(
                group,
                [PartitionOffset {
                    topic: topic.clone(),
                    partition,
                    offset: i as i64,
                    leader_epoch: 3,
                    metadata: String::new(),
                }],
                i as i64,
            );
            store.persisted(outcome.write.unwrap()).unwrap();
            let fetched = store.fetch(group, topic, partition, true).offset();
            assert_eq!(fetched, i as i64);
            black_box(fetched)
        });
    });

    // A consumer's periodic commit: 100 partitions in one request, then an OffsetFetch of
    // them (RequireStable), as a rejoining consumer sends.
    let batch = TOPICS * PARTITIONS as usize;
    bench.throughput(Throughput::Elements(2 * batch as u64));
    bench.bench_function("batch_of_100_partitions", |b| {
        let mut store = populated(&groups, &topics);
        let mut i = 0usize;
        b.iter(|| {
            i = i.wrapping_add(1);
            let group = &groups[i % GROUPS];
            let outcome = store.commit(group, partition_offsets(&topics, i as i64), i as i64);
            store.persisted(outcome.write.unwrap()).unwrap();
            let view = store.group(group);
            let mut sum = 0i64;
            for topic in &topics {
                for partition in 0..PARTITIONS {
                    sum += view.fetch(topic, partition, true).offset();
                }
            }
            assert_eq!(sum, i as i64 * batch as i64);
            black_box(sum)
        });
    });

    // The records of that commit, encoded as the broker writes them.
    bench.throughput(Throughput::Elements(batch as u64));
    bench.bench_function("encode_batch_of_100_records", |b| {
        let mut store = populated(&groups, &topics);
        let write = store
            .commit(&groups[0], partition_offsets(&topics, 1), 1)
            .write
            .unwrap();
        let mut out = Vec::with_capacity(64 * 1024);
        b.iter(|| {
            out.clear();
            black_box(write.encode_into(&mut out).unwrap());
        });
    });
    bench.finish();
}

fn wall(c: &mut Criterion) {
    commit_fetch(c, "offset_commit_fetch", false);
}

fn cpu(c: &mut Criterion<ThreadCpuTime>) {
    commit_fetch(c, "offset_commit_fetch_cpu", true);
}

criterion_group!(wall_benches, wall);
criterion_group! {
    name = cpu_benches;
    config = Criterion::default().with_measurement(ThreadCpuTime).sample_size(20);
    targets = cpu
}
criterion_main!(wall_benches, cpu_benches);
