//! Unit tests, one per case.

use std::panic::{AssertUnwindSafe, catch_unwind};

use rusqlite::{Transaction, params};

use crate::{Applied, Config, DedupStore, Durability, Error};

const TTL_MS: i64 = 1_000;

fn config() -> Config {
    Config {
        ttl_ms: TTL_MS,
        durability: Durability::Full,
    }
}

fn with_ledger(store: DedupStore) -> DedupStore {
    store
        .connection()
        .execute_batch(
            "CREATE TABLE IF NOT EXISTS ledger (key BLOB NOT NULL, amount INTEGER NOT NULL)",
        )
        .unwrap();
    store
}

fn memory_store() -> DedupStore {
    with_ledger(DedupStore::open_in_memory(config()).unwrap())
}

/// Applies `charge(key, 1)` once at `now_ms`; whether it ran (false: a duplicate).
fn charged_once(store: &mut DedupStore, key: &[u8], now_ms: i64) -> bool {
    !store
        .apply_once(key, now_ms, charge(key, 1))
        .unwrap()
        .is_duplicate()
}

/// The effect every test uses: one ledger row.
fn charge(key: &[u8], amount: i64) -> impl FnOnce(&Transaction<'_>) -> rusqlite::Result<i64> {
    move |tx| {
        tx.execute(
            "INSERT INTO ledger (key, amount) VALUES (?1, ?2)",
            params![key, amount],
        )?;
        Ok(amount)
    }
}

/// An effect that writes a ledger row and then fails with a real SQLite
/// error, so a rollback that misses its write would show.
fn charge_then_fail(key: &[u8]) -> impl FnOnce(&Transaction<'_>) -> rusqlite::Result<i64> {
    move |tx| {
        tx.execute(
            "INSERT INTO ledger (key, amount) VALUES (?1, 999)",
            params![key],
        )?;
        tx.execute("INSERT INTO no_such_table VALUES (1)", [])?;
        Ok(999)
    }
}

/// Every (key, number) row `sql` selects.
fn rows(store: &DedupStore, sql: &str) -> Vec<(Vec<u8>, i64)> {
    let mut stmt = store.connection().prepare(sql).unwrap();
    stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn ledger(store: &DedupStore) -> Vec<(Vec<u8>, i64)> {
    rows(store, "SELECT key, amount FROM ledger ORDER BY key, amount")
}

fn keys(store: &DedupStore) -> Vec<(Vec<u8>, i64)> {
    rows(
        store,
        "SELECT key, expires_at FROM semel_dedup_keys ORDER BY key",
    )
}

#[test]
fn new_key_runs_effect_and_records_key_with_ttl() {
    let mut store = memory_store();
    let outcome = store.apply_once(b"a", 100, charge(b"a", 5)).unwrap();
    assert_eq!(outcome, Applied::Applied(5));
    assert_eq!(ledger(&store), vec![(b"a".to_vec(), 5)]);
    assert_eq!(keys(&store), vec![(b"a".to_vec(), 100 + TTL_MS)]);
    assert!(store.contains(b"a").unwrap());
    assert!(!store.contains(b"b").unwrap());
    assert_eq!(store.key_count().unwrap(), 1);
}

#[test]
fn duplicate_key_is_detected_and_effect_does_not_run() {
    let mut store = memory_store();
    assert!(
        !store
            .apply_once(b"a", 100, charge(b"a", 5))
            .unwrap()
            .is_duplicate()
    );
    let mut ran = false;
    let outcome = store
        .apply_once(b"a", 200, |_tx| {
            ran = true;
            Ok(())
        })
        .unwrap();
    assert_eq!(outcome, Applied::Duplicate);
    assert!(!ran);
    assert_eq!(ledger(&store), vec![(b"a".to_vec(), 5)]);
    // A duplicate does not extend the key's life.
    assert_eq!(keys(&store), vec![(b"a".to_vec(), 100 + TTL_MS)]);
}

#[test]
fn failed_effect_is_rolled_back_and_leaves_no_key() {
    let mut store = memory_store();
    let err = store
        .apply_once(b"a", 100, charge_then_fail(b"a"))
        .unwrap_err();
    assert!(matches!(err, Error::Effect(_)), "{err:?}");
    assert!(ledger(&store).is_empty());
    assert!(!store.contains(b"a").unwrap());
    // The key is still new: a retry applies it.
    assert_eq!(
        store.apply_once(b"a", 101, charge(b"a", 5)).unwrap(),
        Applied::Applied(5)
    );
    assert_eq!(ledger(&store), vec![(b"a".to_vec(), 5)]);
}

#[test]
fn batch_commit_keeps_every_apply() {
    let mut store = memory_store();
    let mut batch = store.batch().unwrap();
    for key in [b"a", b"b", b"c"] {
        assert_eq!(
            batch.apply_once(key, 100, charge(key, 1)).unwrap(),
            Applied::Applied(1)
        );
    }
    batch.commit().unwrap();
    assert_eq!(ledger(&store).len(), 3);
    assert_eq!(store.key_count().unwrap(), 3);
}

#[test]
fn batch_dropped_without_commit_leaves_nothing() {
    let mut store = memory_store();
    let mut batch = store.batch().unwrap();
    for key in [b"a", b"b", b"c"] {
        assert!(
            !batch
                .apply_once(key, 100, charge(key, 1))
                .unwrap()
                .is_duplicate()
        );
    }
    drop(batch);
    assert!(ledger(&store).is_empty());
    assert_eq!(store.key_count().unwrap(), 0);
    // The store is usable afterwards.
    assert!(charged_once(&mut store, b"a", 100));
    assert_eq!(ledger(&store).len(), 1);
}

#[test]
fn batch_failed_effect_rolls_back_only_its_own_savepoint() {
    let mut store = memory_store();
    let mut batch = store.batch().unwrap();
    assert!(
        !batch
            .apply_once(b"a", 100, charge(b"a", 1))
            .unwrap()
            .is_duplicate()
    );
    let err = batch
        .apply_once(b"b", 100, charge_then_fail(b"b"))
        .unwrap_err();
    assert!(matches!(err, Error::Effect(_)), "{err:?}");
    assert!(
        !batch
            .apply_once(b"c", 100, charge(b"c", 3))
            .unwrap()
            .is_duplicate()
    );
    // The failed key is still new inside the batch.
    assert_eq!(
        batch.apply_once(b"b", 100, charge(b"b", 2)).unwrap(),
        Applied::Applied(2)
    );
    batch.commit().unwrap();
    assert_eq!(
        ledger(&store),
        vec![(b"a".to_vec(), 1), (b"b".to_vec(), 2), (b"c".to_vec(), 3)]
    );
    assert_eq!(store.key_count().unwrap(), 3);
}

#[test]
fn batch_sees_its_own_earlier_keys_and_committed_keys_as_duplicates() {
    let mut store = memory_store();
    assert!(charged_once(&mut store, b"old", 100));
    let mut batch = store.batch().unwrap();
    assert_eq!(
        batch.apply_once(b"old", 100, charge(b"old", 1)).unwrap(),
        Applied::Duplicate
    );
    assert!(
        !batch
            .apply_once(b"new", 100, charge(b"new", 2))
            .unwrap()
            .is_duplicate()
    );
    assert_eq!(
        batch.apply_once(b"new", 100, charge(b"new", 2)).unwrap(),
        Applied::Duplicate
    );
    batch.commit().unwrap();
    assert_eq!(
        ledger(&store),
        vec![(b"new".to_vec(), 2), (b"old".to_vec(), 1)]
    );
}

#[test]
fn batch_is_poisoned_after_a_caught_panic_and_rolls_back() {
    let mut store = memory_store();
    let mut batch = store.batch().unwrap();
    assert!(
        !batch
            .apply_once(b"a", 100, charge(b"a", 1))
            .unwrap()
            .is_duplicate()
    );
    let caught = catch_unwind(AssertUnwindSafe(|| {
        let _ = batch.apply_once(b"b", 100, |tx| -> rusqlite::Result<()> {
            tx.execute("INSERT INTO ledger (key, amount) VALUES (x'62', 7)", [])?;
            panic!("effect panicked");
        });
    }));
    assert!(caught.is_err());
    let err = batch.apply_once(b"c", 100, charge(b"c", 1)).unwrap_err();
    assert!(matches!(err, Error::BatchPoisoned), "{err:?}");
    let err = batch.commit().unwrap_err();
    assert!(matches!(err, Error::BatchPoisoned), "{err:?}");
    assert!(ledger(&store).is_empty());
    assert_eq!(store.key_count().unwrap(), 0);
}

#[test]
fn expire_prunes_only_expired_keys_and_returns_the_count() {
    let mut store = memory_store();
    assert!(charged_once(&mut store, b"a", 0)); // expires at 1000
    assert!(charged_once(&mut store, b"b", 500)); // expires at 1500
    assert!(charged_once(&mut store, b"c", 900)); // expires at 1900
    assert_eq!(store.expire(999).unwrap(), 0);
    // `expires_at <= now_ms` is expired: the boundary is inclusive.
    assert_eq!(store.expire(1_000).unwrap(), 1);
    assert_eq!(store.expire(1_000).unwrap(), 0);
    assert_eq!(store.expire(1_900).unwrap(), 2);
    assert_eq!(store.key_count().unwrap(), 0);
    // Expiry prunes keys only, never the caller's effects.
    assert_eq!(ledger(&store).len(), 3);
}

#[test]
fn expired_but_unpruned_key_is_still_a_duplicate_and_pruned_key_is_new() {
    let mut store = memory_store();
    assert!(charged_once(&mut store, b"a", 0));
    let long_after = 10 * TTL_MS;
    assert_eq!(
        store.apply_once(b"a", long_after, charge(b"a", 2)).unwrap(),
        Applied::Duplicate
    );
    assert_eq!(store.expire(long_after).unwrap(), 1);
    assert_eq!(
        store.apply_once(b"a", long_after, charge(b"a", 2)).unwrap(),
        Applied::Applied(2)
    );
    assert_eq!(ledger(&store), vec![(b"a".to_vec(), 1), (b"a".to_vec(), 2)]);
}

#[test]
fn expires_at_saturates_instead_of_overflowing() {
    let mut store = memory_store();
    assert!(charged_once(&mut store, b"a", i64::MAX - 1));
    assert_eq!(keys(&store), vec![(b"a".to_vec(), i64::MAX)]);
    assert_eq!(store.expire(i64::MAX - 1).unwrap(), 0);
    assert_eq!(store.expire(i64::MAX).unwrap(), 1);
}

#[test]
fn empty_and_binary_keys_are_distinct_keys() {
    let mut store = memory_store();
    for key in [&b""[..], &[0][..], &[0, 0][..], &[0xff; 300][..]] {
        assert_eq!(
            store.apply_once(key, 0, charge(key, 1)).unwrap(),
            Applied::Applied(1)
        );
    }
    for key in [&b""[..], &[0][..], &[0, 0][..], &[0xff; 300][..]] {
        assert!(
            store
                .apply_once(key, 0, charge(key, 1))
                .unwrap()
                .is_duplicate()
        );
    }
    assert_eq!(store.key_count().unwrap(), 4);
}

#[test]
fn reopen_keeps_keys_and_effects() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dedup.sqlite");
    {
        let mut store = with_ledger(DedupStore::open(&path, config()).unwrap());
        assert!(charged_once(&mut store, b"a", 100));
        let mut batch = store.batch().unwrap();
        assert!(
            !batch
                .apply_once(b"b", 100, charge(b"b", 2))
                .unwrap()
                .is_duplicate()
        );
        batch.commit().unwrap();
        let mut batch = store.batch().unwrap();
        assert!(
            !batch
                .apply_once(b"c", 100, charge(b"c", 3))
                .unwrap()
                .is_duplicate()
        );
        drop(batch);
    }
    let mut store = with_ledger(DedupStore::open(&path, config()).unwrap());
    assert_eq!(ledger(&store), vec![(b"a".to_vec(), 1), (b"b".to_vec(), 2)]);
    assert_eq!(
        keys(&store),
        vec![(b"a".to_vec(), 100 + TTL_MS), (b"b".to_vec(), 100 + TTL_MS)]
    );
    assert!(!charged_once(&mut store, b"a", 200));
    assert!(
        store
            .apply_once(b"b", 200, charge(b"b", 2))
            .unwrap()
            .is_duplicate()
    );
    assert_eq!(
        store.apply_once(b"c", 200, charge(b"c", 3)).unwrap(),
        Applied::Applied(3)
    );
}

#[test]
fn file_store_runs_in_wal_mode_with_the_configured_synchronous() {
    let dir = tempfile::tempdir().unwrap();
    for (durability, synchronous) in [(Durability::Full, 2), (Durability::Normal, 1)] {
        let path = dir.path().join(format!("{durability:?}.sqlite"));
        let store = DedupStore::open(
            &path,
            Config {
                ttl_ms: TTL_MS,
                durability,
            },
        )
        .unwrap();
        let mode: String = store
            .connection()
            .pragma_query_value(None, "journal_mode", |row| row.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        let sync: i64 = store
            .connection()
            .pragma_query_value(None, "synchronous", |row| row.get(0))
            .unwrap();
        assert_eq!(sync, synchronous, "{durability:?}");
        assert_eq!(store.config().durability, durability);
    }
}

#[test]
fn negative_ttl_is_rejected() {
    let config = Config {
        ttl_ms: -1,
        durability: Durability::Full,
    };
    let err = DedupStore::open_in_memory(config).unwrap_err();
    assert!(matches!(err, Error::NegativeTtl { ttl_ms: -1 }), "{err:?}");
}

#[test]
fn newer_schema_version_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dedup.sqlite");
    {
        let store = DedupStore::open(&path, config()).unwrap();
        store
            .connection()
            .execute(
                "UPDATE semel_dedup_meta SET value = 2 WHERE name = 'schema_version'",
                [],
            )
            .unwrap();
    }
    let err = DedupStore::open(&path, config()).unwrap_err();
    assert!(
        matches!(
            err,
            Error::UnsupportedSchema {
                found: 2,
                supported: 1
            }
        ),
        "{err:?}"
    );
}

#[test]
fn default_config_is_seven_days_and_full_durability() {
    let config = Config::default();
    assert_eq!(config.ttl_ms, 604_800_000);
    assert_eq!(config.durability, Durability::Full);
}

#[test]
fn uncommitted_batch_is_invisible_to_another_connection_until_commit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dedup.sqlite");
    let mut writer = with_ledger(DedupStore::open(&path, config()).unwrap());
    let mut other = with_ledger(DedupStore::open(&path, config()).unwrap());
    let mut batch = writer.batch().unwrap();
    assert!(
        !batch
            .apply_once(b"a", 100, charge(b"a", 1))
            .unwrap()
            .is_duplicate()
    );
    assert!(!other.contains(b"a").unwrap());
    assert!(ledger(&other).is_empty());
    batch.commit().unwrap();
    assert!(other.contains(b"a").unwrap());
    assert_eq!(ledger(&other), vec![(b"a".to_vec(), 1)]);
    // The second connection sees the key as a duplicate.
    assert_eq!(
        other.apply_once(b"a", 200, charge(b"a", 1)).unwrap(),
        Applied::Duplicate
    );
}
