//! The store: one SQLite connection, the keys table, and the apply paths.

use std::path::Path;

use rusqlite::{Connection, Transaction, TransactionBehavior};

use crate::{Config, Error};

/// The schema version this library writes and reads.
const SCHEMA_VERSION: i64 = 1;

/// Creates the store's tables if they are missing; run inside one
/// transaction so that two processes opening a new file do not race.
const CREATE_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS semel_dedup_meta (
    name  TEXT PRIMARY KEY NOT NULL,
    value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT OR IGNORE INTO semel_dedup_meta (name, value) VALUES ('schema_version', 1);
CREATE TABLE IF NOT EXISTS semel_dedup_keys (
    key        BLOB PRIMARY KEY NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS semel_dedup_keys_by_expiry ON semel_dedup_keys (expires_at);
";

const READ_SCHEMA_VERSION: &str =
    "SELECT value FROM semel_dedup_meta WHERE name = 'schema_version'";
/// Records a key unless it is already there; one row changed means "new".
const INSERT_KEY: &str = "INSERT INTO semel_dedup_keys (key, expires_at) VALUES (?1, ?2) \
     ON CONFLICT (key) DO NOTHING";
const SELECT_KEY: &str = "SELECT 1 FROM semel_dedup_keys WHERE key = ?1";
const COUNT_KEYS: &str = "SELECT count(*) FROM semel_dedup_keys";
const DELETE_EXPIRED: &str = "DELETE FROM semel_dedup_keys WHERE expires_at <= ?1";
const SAVEPOINT: &str = "SAVEPOINT semel_dedup_apply";
const RELEASE: &str = "RELEASE semel_dedup_apply";
const ROLLBACK_TO: &str = "ROLLBACK TO semel_dedup_apply";

/// Room in the prepared statement cache for the store's statements and the
/// caller's effects.
const STATEMENT_CACHE_CAPACITY: usize = 64;

/// What became of one `apply_once`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[must_use]
pub enum Applied<T> {
    /// The key was new: the effect ran, and its result is here. The effect
    /// and the key are committed together (for a [`Batch`], when the batch
    /// commits).
    Applied(T),
    /// The key was already recorded (and not yet pruned by
    /// [`DedupStore::expire`]): the effect did not run and nothing changed.
    Duplicate,
}

impl<T> Applied<T> {
    /// `true` for [`Applied::Duplicate`].
    pub fn is_duplicate(&self) -> bool {
        matches!(self, Applied::Duplicate)
    }

    /// The effect's result, or `None` for a duplicate.
    pub fn applied(self) -> Option<T> {
        match self {
            Applied::Applied(value) => Some(value),
            Applied::Duplicate => None,
        }
    }
}

/// A durable store that applies each keyed effect at most once.
///
/// It owns one SQLite connection (WAL mode). The caller's effect runs inside
/// the same transaction that records the idempotency key, so a crash keeps
/// both or neither. Keys live in the table `semel_dedup_keys`; the caller's
/// own tables can live in the same database (create them through
/// [`connection`](DedupStore::connection)), which is what makes the effect
/// and the key commit atomically.
///
/// A key stays a duplicate until [`expire`](DedupStore::expire) deletes it,
/// even after its TTL has passed: pruning happens only when the caller asks.
#[derive(Debug)]
pub struct DedupStore {
    conn: Connection,
    config: Config,
}

impl DedupStore {
    /// Opens (or creates) the store in the SQLite database at `path`,
    /// switches it to WAL mode, sets `synchronous` from
    /// [`Config::durability`] and creates the schema if it is new.
    ///
    /// # Errors
    ///
    /// [`Error::NegativeTtl`] for a negative TTL, [`Error::Open`] if SQLite
    /// cannot open or set up the file, [`Error::NotWal`] if the file cannot
    /// run in WAL mode, and [`Error::UnsupportedSchema`] if a newer version
    /// of this crate wrote it.
    pub fn open(path: &Path, config: Config) -> Result<DedupStore, Error> {
        check_config(config)?;
        let open_err = |what| {
            move |source| Error::Open {
                path: path.to_path_buf(),
                what,
                source,
            }
        };
        let conn = Connection::open(path).map_err(open_err("opening the file"))?;
        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
            .map_err(open_err("setting journal_mode=WAL"))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(Error::NotWal {
                path: path.to_path_buf(),
                mode,
            });
        }
        Self::set_up(conn, config, path)
    }

    /// Opens a store in a private in-memory database, for tests and
    /// examples. Nothing survives the store; [`Config::durability`] has no
    /// effect.
    ///
    /// # Errors
    ///
    /// [`Error::NegativeTtl`] for a negative TTL and [`Error::Open`] if
    /// SQLite fails to set up the database.
    pub fn open_in_memory(config: Config) -> Result<DedupStore, Error> {
        check_config(config)?;
        let conn = Connection::open_in_memory().map_err(|source| Error::Open {
            path: ":memory:".into(),
            what: "opening an in-memory database",
            source,
        })?;
        Self::set_up(conn, config, Path::new(":memory:"))
    }

    fn set_up(mut conn: Connection, config: Config, path: &Path) -> Result<DedupStore, Error> {
        let open_err = |what| {
            move |source| Error::Open {
                path: path.to_path_buf(),
                what,
                source,
            }
        };
        conn.pragma_update(None, "synchronous", config.durability.synchronous_pragma())
            .map_err(open_err("setting synchronous"))?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE_CAPACITY);
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(open_err("beginning the schema transaction"))?;
        tx.execute_batch(CREATE_SCHEMA)
            .map_err(open_err("creating the schema"))?;
        let found: i64 = tx
            .query_row(READ_SCHEMA_VERSION, [], |row| row.get(0))
            .map_err(open_err("reading the schema version"))?;
        if found > SCHEMA_VERSION {
            return Err(Error::UnsupportedSchema {
                found,
                supported: SCHEMA_VERSION,
            });
        }
        tx.commit()
            .map_err(open_err("committing the schema transaction"))?;
        Ok(DedupStore { conn, config })
    }

    /// Applies `effect` once for `key`, in one transaction: if `key` is not
    /// recorded, records it with `expires_at = now_ms + ttl_ms`, runs
    /// `effect` on the same transaction and commits (one durable commit per
    /// call; see [`batch`](DedupStore::batch) for the fast path). If `key`
    /// is recorded, returns [`Applied::Duplicate`] without running `effect`.
    ///
    /// The effect must only write through the transaction it is given and
    /// must not end it (no `COMMIT`, `ROLLBACK` or `RELEASE` statements).
    ///
    /// # Errors
    ///
    /// [`Error::Effect`] if `effect` fails: the transaction is rolled back,
    /// so neither the effect's writes nor the key remain.
    /// [`Error::Sqlite`] if the store's own statements or the commit fail;
    /// then nothing of this apply is kept either.
    pub fn apply_once<T>(
        &mut self,
        key: &[u8],
        now_ms: i64,
        effect: impl FnOnce(&Transaction<'_>) -> rusqlite::Result<T>,
    ) -> Result<Applied<T>, Error> {
        let expires_at = now_ms.saturating_add(self.config.ttl_ms);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(Error::sqlite("beginning the apply transaction"))?;
        // On an error `tx` is dropped here, which rolls back.
        match apply_in(&tx, key, expires_at, effect)? {
            Applied::Applied(value) => {
                tx.commit()
                    .map_err(Error::sqlite("committing the apply transaction"))?;
                Ok(Applied::Applied(value))
            }
            Applied::Duplicate => {
                tx.rollback()
                    .map_err(Error::sqlite("ending the transaction of a duplicate"))?;
                Ok(Applied::Duplicate)
            }
        }
    }

    /// Starts a batch: many applies in one transaction and one durable
    /// commit, which is how a consumer reaches a high rate (group commit).
    /// Dropping the batch without [`Batch::commit`] rolls all of it back.
    ///
    /// # Errors
    ///
    /// [`Error::Sqlite`] if the transaction cannot begin (for example
    /// another connection holds the write lock past the busy timeout).
    pub fn batch(&mut self) -> Result<Batch<'_>, Error> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(Error::sqlite("beginning the batch transaction"))?;
        Ok(Batch {
            tx,
            ttl_ms: self.config.ttl_ms,
            poisoned: false,
        })
    }

    /// Deletes every key with `expires_at <= now_ms` and returns how many
    /// were deleted. A deleted key is new again: a later apply of it runs
    /// its effect. Call this with the current time now and then; keys are
    /// never pruned otherwise.
    ///
    /// # Errors
    ///
    /// [`Error::Sqlite`] if the delete fails (then nothing was deleted).
    pub fn expire(&mut self, now_ms: i64) -> Result<u64, Error> {
        let deleted = self
            .conn
            .prepare_cached(DELETE_EXPIRED)
            .and_then(|mut stmt| stmt.execute([now_ms]))
            .map_err(Error::sqlite("deleting expired keys"))?;
        Ok(deleted as u64)
    }

    /// Whether `key` is recorded (applied and not yet pruned).
    ///
    /// # Errors
    ///
    /// [`Error::Sqlite`] if the lookup fails.
    pub fn contains(&self, key: &[u8]) -> Result<bool, Error> {
        self.conn
            .prepare_cached(SELECT_KEY)
            .and_then(|mut stmt| stmt.exists([key]))
            .map_err(Error::sqlite("looking up a key"))
    }

    /// How many keys are recorded.
    ///
    /// # Errors
    ///
    /// [`Error::Sqlite`] if the count fails.
    pub fn key_count(&self) -> Result<u64, Error> {
        let count: i64 = self
            .conn
            .prepare_cached(COUNT_KEYS)
            .and_then(|mut stmt| stmt.query_row([], |row| row.get(0)))
            .map_err(Error::sqlite("counting keys"))?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    /// The underlying connection, for the caller's own schema and reads
    /// (for example a ledger's totals). Writes made here outside
    /// `apply_once` are not deduplicated.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// The configuration the store was opened with.
    pub fn config(&self) -> Config {
        self.config
    }
}

/// Many applies in one transaction, committed with one durable commit.
///
/// Each apply runs inside its own savepoint, so a failing effect rolls back
/// only its own writes and key; the other applies of the batch stay.
/// Nothing is durable, or visible to other connections, until
/// [`commit`](Batch::commit); dropping the batch rolls everything back.
/// Keys applied earlier in the same batch are already duplicates.
#[derive(Debug)]
pub struct Batch<'a> {
    tx: Transaction<'a>,
    ttl_ms: i64,
    /// Set while an effect runs; still set afterwards only if the effect
    /// panicked (and the panic was caught) or its savepoint could not be
    /// closed.
    poisoned: bool,
}

impl Batch<'_> {
    /// Like [`DedupStore::apply_once`], inside this batch: if `key` is not
    /// recorded, records it with `expires_at = now_ms + ttl_ms` and runs
    /// `effect` on the batch's transaction, all inside a savepoint.
    ///
    /// The effect must only write through the transaction it is given and
    /// must not end it or the savepoint (no `COMMIT`, `ROLLBACK`, `RELEASE`).
    ///
    /// # Errors
    ///
    /// [`Error::Effect`] if `effect` fails: its savepoint is rolled back, so
    /// neither its writes nor its key remain, and the batch goes on.
    /// [`Error::Sqlite`] if a statement of the store fails; the batch should
    /// then be dropped. [`Error::BatchPoisoned`] if an earlier effect of the
    /// batch panicked.
    pub fn apply_once<T>(
        &mut self,
        key: &[u8],
        now_ms: i64,
        effect: impl FnOnce(&Transaction<'_>) -> rusqlite::Result<T>,
    ) -> Result<Applied<T>, Error> {
        if self.poisoned {
            return Err(Error::BatchPoisoned);
        }
        let expires_at = now_ms.saturating_add(self.ttl_ms);
        run_cached(&self.tx, SAVEPOINT).map_err(Error::sqlite("opening the apply savepoint"))?;
        self.poisoned = true;
        let outcome = apply_in(&self.tx, key, expires_at, effect);
        if outcome.is_err() {
            run_cached(&self.tx, ROLLBACK_TO)
                .map_err(Error::sqlite("rolling back a failed apply's savepoint"))?;
        }
        run_cached(&self.tx, RELEASE).map_err(Error::sqlite("releasing the apply savepoint"))?;
        self.poisoned = false;
        outcome
    }

    /// Commits every apply of the batch with one durable commit.
    ///
    /// # Errors
    ///
    /// [`Error::BatchPoisoned`] if an effect panicked (the batch is rolled
    /// back), [`Error::Sqlite`] if the commit fails (then nothing of the
    /// batch is kept).
    pub fn commit(self) -> Result<(), Error> {
        if self.poisoned {
            return Err(Error::BatchPoisoned);
        }
        self.tx
            .commit()
            .map_err(Error::sqlite("committing the batch transaction"))
    }
}

fn check_config(config: Config) -> Result<(), Error> {
    if config.ttl_ms < 0 {
        return Err(Error::NegativeTtl {
            ttl_ms: config.ttl_ms,
        });
    }
    Ok(())
}

/// Runs a cached statement that returns no rows.
fn run_cached(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([])?;
    Ok(())
}

/// Records `key` and runs `effect`, inside a transaction (or savepoint) the
/// caller owns and rolls back on an error.
fn apply_in<T>(
    tx: &Transaction<'_>,
    key: &[u8],
    expires_at: i64,
    effect: impl FnOnce(&Transaction<'_>) -> rusqlite::Result<T>,
) -> Result<Applied<T>, Error> {
    let inserted = tx
        .prepare_cached(INSERT_KEY)
        .and_then(|mut stmt| stmt.execute(rusqlite::params![key, expires_at]))
        .map_err(Error::sqlite("recording the key"))?;
    if inserted == 0 {
        return Ok(Applied::Duplicate);
    }
    effect(tx).map(Applied::Applied).map_err(Error::Effect)
}
