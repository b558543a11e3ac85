//! The ledger: a SQLite database (through `semel-dedup`) where the consumer records every
//! charge it applies. Every figure the lab reports is counted from here.

use std::collections::BTreeMap;
use std::path::Path;

use semel_dedup::rusqlite::{self, params};
use semel_dedup::{Applied, Config, DedupStore, Durability};

use crate::Error;

/// One message as the consumer received it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Charge {
    /// The message id (0..N), unique per message the workload sends.
    pub message_id: u64,
    /// Amount charged, in cents.
    pub amount: i64,
    /// When the producer handed the message to its client (µs since the Unix epoch).
    pub produced_us: i64,
}

impl Charge {
    /// The message payload: `id:amount:produced_us`.
    pub fn encode(&self) -> String {
        format!("{}:{}:{}", self.message_id, self.amount, self.produced_us)
    }

    /// Parses a payload written by [`Charge::encode`]; `None` if it is not one.
    pub fn decode(payload: &[u8]) -> Option<Self> {
        let text = std::str::from_utf8(payload).ok()?;
        let mut parts = text.split(':');
        let message_id = parts.next()?.parse().ok()?;
        let amount = parts.next()?.parse().ok()?;
        let produced_us = parts.next()?.parse().ok()?;
        if parts.next().is_some() {
            return None;
        }
        Some(Self {
            message_id,
            amount,
            produced_us,
        })
    }
}

/// The amount message `id` charges (cents): varied, so a wrong total shows.
pub fn amount_of(message_id: u64) -> i64 {
    // 1.00 to 9.99, deterministic per id.
    100 + i64::try_from(message_id.wrapping_mul(7919) % 900).unwrap_or(0)
}

/// What the ledger holds, counted from its rows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LedgerCounts {
    /// Charge rows in the ledger (applications).
    pub rows: u64,
    /// Distinct message ids in `0..messages` with at least one row.
    pub distinct: u64,
    /// Rows beyond the first for a message id (double charges).
    pub duplicates: u64,
    /// Message ids in `0..messages` without any row (never charged).
    pub lost: u64,
    /// Rows whose message id is outside `0..messages` (must be 0).
    pub foreign: u64,
    /// Sum of every row's amount.
    pub total: i64,
    /// Per-row latency produce → apply, in milliseconds, sorted.
    pub latencies_ms: Vec<f64>,
    /// First produce time and last apply time over all rows (µs), when there are rows.
    pub span_us: Option<(i64, i64)>,
}

/// The consumer's ledger database.
pub struct Ledger {
    store: DedupStore,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger").finish_non_exhaustive()
    }
}

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS charges (
    row_id INTEGER PRIMARY KEY,
    message_id INTEGER NOT NULL,
    amount INTEGER NOT NULL,
    produced_us INTEGER NOT NULL,
    applied_us INTEGER NOT NULL
)";

fn insert(
    conn: &rusqlite::Connection,
    charge: &Charge,
    applied_us: i64,
) -> rusqlite::Result<usize> {
    let id = i64::try_from(charge.message_id).unwrap_or(i64::MAX);
    conn.prepare_cached(
        "INSERT INTO charges (message_id, amount, produced_us, applied_us) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![id, charge.amount, charge.produced_us, applied_us])
}

impl Ledger {
    /// Opens (or creates) the ledger at `path`, with durable commits.
    ///
    /// # Errors
    /// The database cannot be opened or its table created.
    pub fn open(path: &Path) -> Result<Self, Error> {
        let config = Config {
            // Keys live as long as the topic's retention (the broker's default, 7 days).
            ttl_ms: 7 * 24 * 3600 * 1000,
            durability: Durability::Full,
        };
        let store = DedupStore::open(path, config)
            .map_err(|e| Error::Ledger(format!("open {}: {e}", path.display())))?;
        store
            .connection()
            .execute_batch(SCHEMA)
            .map_err(|e| Error::Ledger(format!("create table: {e}")))?;
        Ok(Self { store })
    }

    /// Applies every charge as a new row, all in one database transaction (at-most-once and
    /// at-least-once consumers: no idempotency check, a redelivery charges again).
    ///
    /// # Errors
    /// The database write fails.
    pub fn apply_all(&self, charges: &[Charge], applied_us: i64) -> Result<u64, Error> {
        let conn = self.store.connection();
        let tx = conn
            .unchecked_transaction()
            .map_err(|e| Error::Ledger(format!("begin: {e}")))?;
        for charge in charges {
            insert(&tx, charge, applied_us)
                .map_err(|e| Error::Ledger(format!("insert {}: {e}", charge.message_id)))?;
        }
        tx.commit()
            .map_err(|e| Error::Ledger(format!("commit: {e}")))?;
        Ok(charges.len() as u64)
    }

    /// Applies each charge at most once, keyed by its message id: the charge row and the key
    /// are written in the same database transaction (one durable commit for the whole slice).
    /// Returns `(applied, duplicates skipped)`.
    ///
    /// # Errors
    /// The database write fails.
    pub fn apply_once(&mut self, charges: &[Charge], applied_us: i64) -> Result<(u64, u64), Error> {
        let now_ms = applied_us / 1000;
        let mut batch = self
            .store
            .batch()
            .map_err(|e| Error::Ledger(format!("begin batch: {e}")))?;
        let (mut applied, mut skipped) = (0u64, 0u64);
        for charge in charges {
            let key = format!("charge-{}", charge.message_id);
            let outcome = batch
                .apply_once(key.as_bytes(), now_ms, |tx| insert(tx, charge, applied_us))
                .map_err(|e| Error::Ledger(format!("apply_once {}: {e}", charge.message_id)))?;
            match outcome {
                Applied::Applied(_) => applied += 1,
                Applied::Duplicate => skipped += 1,
            }
        }
        batch
            .commit()
            .map_err(|e| Error::Ledger(format!("commit batch: {e}")))?;
        Ok((applied, skipped))
    }

    /// Counts what the ledger received for a workload of message ids `0..messages`.
    ///
    /// # Errors
    /// The database read fails.
    pub fn counts(&self, messages: u64) -> Result<LedgerCounts, Error> {
        let conn = self.store.connection();
        let read = |e: rusqlite::Error| Error::Ledger(format!("read: {e}"));
        let mut per_id: BTreeMap<i64, u64> = BTreeMap::new();
        let mut counts = LedgerCounts::default();
        let mut statement = conn
            .prepare("SELECT message_id, amount, produced_us, applied_us FROM charges")
            .map_err(read)?;
        let mut rows = statement.query([]).map_err(read)?;
        let (mut first, mut last) = (i64::MAX, i64::MIN);
        while let Some(row) = rows.next().map_err(read)? {
            let id: i64 = row.get(0).map_err(read)?;
            let amount: i64 = row.get(1).map_err(read)?;
            let produced_us: i64 = row.get(2).map_err(read)?;
            let applied_us: i64 = row.get(3).map_err(read)?;
            counts.rows += 1;
            counts.total += amount;
            *per_id.entry(id).or_default() += 1;
            counts
                .latencies_ms
                .push((applied_us - produced_us) as f64 / 1000.0);
            first = first.min(produced_us);
            last = last.max(applied_us);
        }
        counts.latencies_ms.sort_by(f64::total_cmp);
        if counts.rows > 0 {
            counts.span_us = Some((first, last));
        }
        let limit = i64::try_from(messages).unwrap_or(i64::MAX);
        for (&id, &n) in &per_id {
            if (0..limit).contains(&id) {
                counts.distinct += 1;
                counts.duplicates += n - 1;
            } else {
                counts.foreign += n;
            }
        }
        counts.lost = messages - counts.distinct;
        Ok(counts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn charge(id: u64) -> Charge {
        Charge {
            message_id: id,
            amount: amount_of(id),
            produced_us: 1_000,
        }
    }

    #[test]
    fn payload_round_trips_and_rejects_other_bytes() {
        let c = charge(42);
        assert_eq!(Charge::decode(c.encode().as_bytes()), Some(c));
        assert_eq!(Charge::decode(b"1:2"), None);
        assert_eq!(Charge::decode(b"1:2:3:4"), None);
        assert_eq!(Charge::decode(b"x:2:3"), None);
        assert_eq!(Charge::decode(&[0xff, 0xfe]), None);
    }

    #[test]
    fn counts_duplicates_and_losses_from_rows() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::open(&dir.path().join("l.db")).unwrap();
        ledger.apply_all(&[charge(0), charge(1)], 3_000).unwrap();
        ledger.apply_all(&[charge(1), charge(9)], 5_000).unwrap();
        let counts = ledger.counts(4).unwrap();
        assert_eq!(counts.rows, 4);
        assert_eq!(counts.distinct, 2);
        assert_eq!(counts.duplicates, 1);
        assert_eq!(counts.lost, 2, "ids 2 and 3 were never charged");
        assert_eq!(counts.foreign, 1, "id 9 is outside the workload");
        assert_eq!(counts.total, amount_of(0) + 2 * amount_of(1) + amount_of(9));
        assert_eq!(counts.latencies_ms, vec![2.0, 2.0, 4.0, 4.0]);
        assert_eq!(counts.span_us, Some((1_000, 5_000)));
    }

    #[test]
    fn apply_once_skips_a_redelivery_even_after_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.db");
        {
            let mut ledger = Ledger::open(&path).unwrap();
            assert_eq!(
                ledger.apply_once(&[charge(0), charge(1)], 2_000).unwrap(),
                (2, 0)
            );
            assert_eq!(
                ledger.apply_once(&[charge(1), charge(2)], 2_000).unwrap(),
                (1, 1)
            );
        }
        let mut ledger = Ledger::open(&path).unwrap();
        assert_eq!(
            ledger.apply_once(&[charge(0), charge(2)], 2_000).unwrap(),
            (0, 2)
        );
        let counts = ledger.counts(3).unwrap();
        assert_eq!((counts.rows, counts.duplicates, counts.lost), (3, 0, 0));
        assert_eq!(counts.total, amount_of(0) + amount_of(1) + amount_of(2));
    }
}
