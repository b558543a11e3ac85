//! Model-based property test: random applies, batches (committed or
//! dropped), expiry, reopen and crash (a batch in flight when the process
//! lets go of the database) against a reference model in plain collections.
//! Every step checks the store's keys and the caller's ledger against the
//! model, and that no key was applied twice within its dedup window.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use semel_dedup::rusqlite::{self, Transaction, params};
use semel_dedup::{Applied, Config, DedupStore, Durability, Error};

const TTL_MS: i64 = 1_000;
/// Few keys, so duplicates are common.
const KEY_SPACE: u8 = 12;

fn key_bytes(key: u8) -> Vec<u8> {
    vec![b'k', key]
}

/// One apply: which key, and whether its effect fails.
#[derive(Debug, Clone, Copy)]
struct ApplyStep {
    key: u8,
    fail: bool,
}

#[derive(Debug, Clone)]
enum Op {
    /// `DedupStore::apply_once`, after the clock moves by `advance`.
    Apply { step: ApplyStep, advance: i64 },
    /// A batch of applies, then commit or drop.
    Batch {
        steps: Vec<ApplyStep>,
        advance: i64,
        commit: bool,
    },
    /// `expire(now)` after the clock moves by `advance`.
    Expire { advance: i64 },
    /// Close the store and open the same file again.
    Reopen,
    /// A batch in flight when the store goes away without rollback or
    /// commit (the batch is leaked, the connection closed), then reopen.
    Crash { steps: Vec<ApplyStep> },
}

fn apply_step() -> impl Strategy<Value = ApplyStep> {
    // One effect in eight fails.
    (0..KEY_SPACE, prop::bool::weighted(0.125)).prop_map(|(key, fail)| ApplyStep { key, fail })
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (apply_step(), 0..300i64).prop_map(|(step, advance)| Op::Apply { step, advance }),
        3 => (prop::collection::vec(apply_step(), 0..8), 0..300i64, prop::bool::weighted(0.7))
            .prop_map(|(steps, advance, commit)| Op::Batch { steps, advance, commit }),
        2 => (0..1_500i64).prop_map(|advance| Op::Expire { advance }),
        1 => Just(Op::Reopen),
        1 => prop::collection::vec(apply_step(), 1..8).prop_map(|steps| Op::Crash { steps }),
    ]
}

/// The reference: what is committed.
#[derive(Debug, Clone, Default)]
struct Model {
    now: i64,
    /// key -> expires_at.
    keys: BTreeMap<Vec<u8>, i64>,
    /// Every committed effect: (key, amount); amounts are unique.
    ledger: Vec<(Vec<u8>, i64)>,
    /// How many times each key was pruned (each prune opens a new window
    /// in which the key may be applied once more).
    prunes: BTreeMap<Vec<u8>, u64>,
    /// The `now_ms` of the latest expire.
    last_expire: Option<i64>,
}

/// What the model predicts for one apply.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Applied(i64),
    Duplicate,
    EffectFailed,
}

impl Model {
    fn apply(&mut self, key: &[u8], fail: bool, amount: i64) -> Outcome {
        if self.keys.contains_key(key) {
            return Outcome::Duplicate;
        }
        if fail {
            return Outcome::EffectFailed;
        }
        self.keys.insert(key.to_vec(), self.now + TTL_MS);
        self.ledger.push((key.to_vec(), amount));
        Outcome::Applied(amount)
    }

    fn expire(&mut self) -> u64 {
        let now = self.now;
        let expired: Vec<Vec<u8>> = self
            .keys
            .iter()
            .filter(|(_, expires_at)| **expires_at <= now)
            .map(|(key, _)| key.clone())
            .collect();
        for key in &expired {
            self.keys.remove(key);
            *self.prunes.entry(key.clone()).or_default() += 1;
        }
        self.last_expire = Some(now);
        expired.len() as u64
    }
}

/// The effect: one ledger row; a failing effect writes its row first and
/// then hits a real SQLite error, so a rollback that missed the row shows.
fn effect(
    key: Vec<u8>,
    amount: i64,
    fail: bool,
) -> impl FnOnce(&Transaction<'_>) -> rusqlite::Result<i64> {
    move |tx| {
        tx.prepare_cached("INSERT INTO ledger (key, amount) VALUES (?1, ?2)")?
            .execute(params![key, amount])?;
        if fail {
            tx.execute("INSERT INTO no_such_table VALUES (1)", [])?;
        }
        Ok(amount)
    }
}

fn outcome(result: Result<Applied<i64>, Error>) -> Outcome {
    match result {
        Ok(Applied::Applied(amount)) => Outcome::Applied(amount),
        Ok(Applied::Duplicate) => Outcome::Duplicate,
        Err(Error::Effect(_)) => Outcome::EffectFailed,
        Err(other) => panic!("unexpected store error: {other:?}"),
    }
}

fn open(path: &Path, durability: Durability) -> DedupStore {
    let store = DedupStore::open(
        path,
        Config {
            ttl_ms: TTL_MS,
            durability,
        },
    )
    .unwrap();
    store
        .connection()
        .execute_batch(
            "CREATE TABLE IF NOT EXISTS ledger (key BLOB NOT NULL, amount INTEGER NOT NULL)",
        )
        .unwrap();
    store
}

fn sut_ledger(store: &DedupStore) -> Vec<(Vec<u8>, i64)> {
    let mut stmt = store
        .connection()
        .prepare("SELECT key, amount FROM ledger ORDER BY amount")
        .unwrap();
    stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn sut_keys(store: &DedupStore) -> BTreeMap<Vec<u8>, i64> {
    let mut stmt = store
        .connection()
        .prepare("SELECT key, expires_at FROM semel_dedup_keys")
        .unwrap();
    stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn check_invariants(store: &DedupStore, model: &Model) -> Result<(), TestCaseError> {
    let ledger = sut_ledger(store);
    let mut expected = model.ledger.clone();
    expected.sort_by_key(|(_, amount)| *amount);
    prop_assert_eq!(&ledger, &expected, "ledger differs from the model");

    let keys = sut_keys(store);
    prop_assert_eq!(&keys, &model.keys, "keys differ from the model");
    prop_assert_eq!(store.key_count().unwrap(), model.keys.len() as u64);

    // No key applied twice: a key has at most one effect per dedup window
    // (its first, plus one more after every prune).
    let mut rows_per_key: BTreeMap<&[u8], u64> = BTreeMap::new();
    for (key, _) in &ledger {
        *rows_per_key.entry(key.as_slice()).or_default() += 1;
    }
    for (key, rows) in rows_per_key {
        let windows = model.prunes.get(key).copied().unwrap_or(0) + 1;
        prop_assert!(
            rows <= windows,
            "key {key:?} applied {rows} times in {windows} windows"
        );
        // A recorded key's latest window holds an effect.
        if keys.contains_key(key) {
            prop_assert_eq!(rows, windows);
        }
    }

    // Expired keys are pruned: nothing left expired as of the last expire.
    if let Some(last) = model.last_expire {
        for (key, expires_at) in &keys {
            prop_assert!(
                *expires_at > last,
                "key {key:?} expired at {expires_at} survived expire({last})"
            );
        }
    }

    for key in 0..KEY_SPACE {
        let key = key_bytes(key);
        prop_assert_eq!(store.contains(&key).unwrap(), model.keys.contains_key(&key));
    }
    Ok(())
}

/// Applies `steps` in `batch` and to the in-flight model, checking each outcome.
fn apply_steps(
    batch: &mut semel_dedup::Batch<'_>,
    in_flight: &mut Model,
    steps: Vec<ApplyStep>,
    amount: &mut impl FnMut() -> i64,
) -> Result<(), TestCaseError> {
    for step in steps {
        let key = key_bytes(step.key);
        let amount = amount();
        let got =
            outcome(batch.apply_once(&key, in_flight.now, effect(key.clone(), amount, step.fail)));
        let want = in_flight.apply(&key, step.fail, amount);
        prop_assert_eq!(got, want, "batch apply_once of {:?}", key);
    }
    Ok(())
}

fn run(ops: Vec<Op>, durability: Durability) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let path: PathBuf = dir.path().join("dedup.sqlite");
    let mut store = open(&path, durability);
    let mut model = Model::default();
    let mut next_amount = 0i64;
    let mut amount = || {
        next_amount += 1;
        next_amount
    };

    for op in ops {
        match op {
            Op::Apply { step, advance } => {
                model.now += advance;
                let key = key_bytes(step.key);
                let amount = amount();
                let got = outcome(store.apply_once(
                    &key,
                    model.now,
                    effect(key.clone(), amount, step.fail),
                ));
                let want = model.apply(&key, step.fail, amount);
                prop_assert_eq!(got, want, "apply_once of {:?}", key);
            }
            Op::Batch {
                steps,
                advance,
                commit,
            } => {
                model.now += advance;
                let mut in_flight = model.clone();
                let mut batch = store.batch().unwrap();
                apply_steps(&mut batch, &mut in_flight, steps, &mut amount)?;
                if commit {
                    batch.commit().unwrap();
                    model = in_flight;
                } else {
                    drop(batch);
                }
            }
            Op::Expire { advance } => {
                model.now += advance;
                let got = store.expire(model.now).unwrap();
                let want = model.expire();
                prop_assert_eq!(got, want, "expire({})", model.now);
            }
            Op::Reopen => {
                drop(store);
                store = open(&path, durability);
            }
            Op::Crash { steps } => {
                let mut in_flight = model.clone();
                let mut batch = store.batch().unwrap();
                apply_steps(&mut batch, &mut in_flight, steps, &mut amount)?;
                // Neither commit nor rollback: the transaction is abandoned
                // and the connection closed under it, as a dying process
                // would; SQLite must discard it.
                std::mem::forget(batch);
                drop(store);
                store = open(&path, durability);
            }
        }
        check_invariants(&store, &model)?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn no_key_applied_twice_across_reopen_and_crash(
        ops in prop::collection::vec(op(), 1..40),
        full in any::<bool>(),
    ) {
        let durability = if full { Durability::Full } else { Durability::Normal };
        run(ops, durability)?;
    }
}
