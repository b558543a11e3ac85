//! Offset commit + fetch throughput (issue goal: ≥ 5 M ops/s). One op is one partition
//! committed (commit, then the write handed back as persisted) or one partition fetched.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use semel_offsets::{OffsetRecord, OffsetStore, OffsetsConfig, PartitionOffset};

const GROUPS: usize = 100;
const TOPICS: usize = 10;
const PARTITIONS: i32 = 10;

fn names() -> (Vec<String>, Vec<String>) {
    let groups = (0..GROUPS).map(|g| format!("consumer-group-{g}")).collect();
    let topics = (0..TOPICS).map(|t| format!("events.topic-{t}")).collect();
    (groups, topics)
}

/// A store holding 10 000 committed partitions, as after a while in production.
fn populated(groups: &[String], topics: &[String]) -> OffsetStore {
    let mut store = OffsetStore::new(OffsetsConfig::default());
    for group in groups {
        let offsets = topics.iter().flat_map(|topic| {
            (0..PARTITIONS).map(move |partition| PartitionOffset {
                topic: topic.clone(),
                partition,
                offset: 0,
                leader_epoch: 0,
                metadata: String::new(),
            })
        });
        let write = store.commit(group, offsets, 0).write.unwrap();
        store.persisted(write).unwrap();
    }
    store
}

fn commit_fetch(c: &mut Criterion) {
    let (groups, topics) = names();
    let mut bench = c.benchmark_group("offset_commit_fetch");

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
            black_box(store.fetch(group, topic, partition, true).offset())
        });
    });

    // A consumer's periodic commit: 100 partitions in one request, then fetch them back.
    let batch = TOPICS * PARTITIONS as usize;
    bench.throughput(Throughput::Elements(2 * batch as u64));
    bench.bench_function("batch_of_100_partitions", |b| {
        let mut store = populated(&groups, &topics);
        let mut i = 0usize;
        b.iter(|| {
            i = i.wrapping_add(1);
            let group = &groups[i % GROUPS];
            let offsets = topics.iter().flat_map(|topic| {
                (0..PARTITIONS).map(move |partition| PartitionOffset {
                    topic: topic.clone(),
                    partition,
                    offset: i as i64,
                    leader_epoch: 3,
                    metadata: String::new(),
                })
            });
            let outcome = store.commit(group, offsets, i as i64);
            store.persisted(outcome.write.unwrap()).unwrap();
            let mut sum = 0i64;
            for topic in &topics {
                for partition in 0..PARTITIONS {
                    sum += store.fetch(group, topic, partition, true).offset();
                }
            }
            black_box(sum)
        });
    });

    // The records of that commit, encoded as the broker writes them.
    bench.throughput(Throughput::Elements(batch as u64));
    bench.bench_function("encode_batch_of_100_records", |b| {
        let mut store = populated(&groups, &topics);
        let offsets: Vec<PartitionOffset> = topics
            .iter()
            .flat_map(|topic| {
                (0..PARTITIONS).map(move |partition| PartitionOffset {
                    topic: topic.clone(),
                    partition,
                    offset: 1,
                    leader_epoch: 3,
                    metadata: String::new(),
                })
            })
            .collect();
        let write = store.commit(&groups[0], offsets, 1).write.unwrap();
        let mut out = Vec::with_capacity(64 * 1024);
        b.iter(|| {
            out.clear();
            black_box(write.encode_into(&mut out).unwrap());
        });
        let decoded: Vec<OffsetRecord> = write.records().to_vec();
        assert_eq!(decoded.len(), batch);
    });
    bench.finish();
}

criterion_group!(benches, commit_fetch);
criterion_main!(benches);
