//! apply_once throughput on a file in a temporary directory, with durable
//! commits (`Durability::Full`: an fsync per commit) one per apply (the
//! reference) and batched (100 and 1000 applies per commit: the group
//! commit a consumer uses). The goal: at least 50,000 apply_once/s
//! with durable commits batched. Each apply's effect inserts one ledger row.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::path::Path;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use semel_dedup::rusqlite::{self, Transaction, params};
use semel_dedup::{Applied, Config, DedupStore, Durability};

fn open(path: &Path, durability: Durability) -> DedupStore {
    let store = DedupStore::open(
        path,
        Config {
            durability,
            ..Config::default()
        },
    )
    .unwrap();
    store
        .connection()
        .execute_batch("CREATE TABLE ledger (seq INTEGER NOT NULL, amount INTEGER NOT NULL)")
        .unwrap();
    store
}

/// A 16-byte key like a consumer's: a topic-partition tag and an offset.
fn key(seq: u64) -> [u8; 16] {
    let mut key = [0u8; 16];
    key[..8].copy_from_slice(b"pay-0000");
    key[8..].copy_from_slice(&seq.to_be_bytes());
    key
}

fn charge(seq: u64) -> impl FnOnce(&Transaction<'_>) -> rusqlite::Result<()> {
    move |tx| {
        tx.prepare_cached("INSERT INTO ledger (seq, amount) VALUES (?1, ?2)")?
            .execute(params![seq as i64, 30])?;
        Ok(())
    }
}

/// Applies `count` new keys from `*seq` on, `per_commit` per transaction.
fn apply_new(store: &mut DedupStore, seq: &mut u64, per_commit: u64) {
    if per_commit == 1 {
        let outcome = store.apply_once(&key(*seq), 0, charge(*seq)).unwrap();
        assert!(matches!(outcome, Applied::Applied(())));
        *seq += 1;
        return;
    }
    let mut batch = store.batch().unwrap();
    for _ in 0..per_commit {
        let outcome = batch.apply_once(&key(*seq), 0, charge(*seq)).unwrap();
        assert!(matches!(outcome, Applied::Applied(())));
        *seq += 1;
    }
    batch.commit().unwrap();
}

fn bench_apply_once(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let mut group = c.benchmark_group("apply_once");
    group.sample_size(20);
    for (durability, per_commit) in [
        (Durability::Full, 1u64),
        (Durability::Full, 100),
        (Durability::Full, 1000),
        (Durability::Normal, 1),
        (Durability::Normal, 1000),
    ] {
        let name = format!("{durability:?}").to_lowercase();
        let mut store = open(
            &dir.path().join(format!("{name}-{per_commit}.sqlite")),
            durability,
        );
        let mut seq = 0u64;
        group.throughput(Throughput::Elements(per_commit));
        group.bench_function(
            BenchmarkId::new(format!("{name}/per_commit"), per_commit),
            |b| {
                b.iter(|| apply_new(&mut store, &mut seq, per_commit));
            },
        );
    }

    // Redelivery: a batch of 1000 keys that are all duplicates (the path a
    // consumer takes after a crash before its offset commit).
    let mut store = open(&dir.path().join("duplicates.sqlite"), Durability::Full);
    let mut seq = 0u64;
    apply_new(&mut store, &mut seq, 1000);
    group.throughput(Throughput::Elements(1000));
    group.bench_function("full/duplicates_per_commit/1000", |b| {
        b.iter(|| {
            let mut batch = store.batch().unwrap();
            for seq in 0..1000 {
                let outcome = batch.apply_once(&key(seq), 0, charge(seq)).unwrap();
                assert!(black_box(outcome).is_duplicate());
            }
            batch.commit().unwrap();
        });
    });
    group.finish();
}

criterion_group!(benches, bench_apply_once);
criterion_main!(benches);
