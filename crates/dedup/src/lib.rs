//! semel-dedup: a durable store that applies each keyed effect at most once.
//!
//! A Kafka consumer that must not apply a message twice (a payment charged
//! twice, say) cannot rely on offsets alone: it may crash after applying a
//! message and before committing its offset, and then the message comes
//! again. This crate gives such a consumer an idempotency store it can own:
//! [`DedupStore::apply_once`] runs the consumer's effect and records the
//! message's key **in one SQLite transaction**, so after a crash either both
//! are there or neither is, and a key that is there is never applied again.
//!
//! - [`DedupStore`]: one SQLite database (WAL mode) holding the keys table
//!   next to the caller's own tables. [`DedupStore::apply_once`] is one
//!   durable commit per message; [`DedupStore::batch`] gives a [`Batch`]
//!   that applies many messages and commits them with one fsync (group
//!   commit), each inside its own savepoint so one failing effect does not
//!   undo the others.
//! - [`Applied`]: the outcome, `Applied(result)` or `Duplicate`. A duplicate
//!   is a normal outcome, not an error.
//! - [`Config`]: the keys' time-to-live (match it to the topic's retention:
//!   once the broker has deleted a message it cannot come again) and the
//!   [`Durability`] of each commit.
//! - Keys are pruned only by [`DedupStore::expire`]: a key whose TTL has
//!   passed but which has not been pruned is still a duplicate (the safe
//!   side). Time is always passed in (`now_ms`); the store reads no clock.
//!
//! What it is not: a cache or an in-memory set (the database is the only
//! source of truth), nor a way to make effects outside the database
//! idempotent (an HTTP call made inside the effect is not rolled back).
//! The effect must write only through the transaction it is given.
//!
//! ```
//! use semel_dedup::{Applied, Config, DedupStore};
//!
//! # fn main() -> Result<(), semel_dedup::Error> {
//! // `DedupStore::open(path, config)` for a durable file; in memory here.
//! let mut store = DedupStore::open_in_memory(Config::default())?;
//! store
//!     .connection()
//!     .execute_batch("CREATE TABLE ledger (account TEXT, amount INTEGER)")
//!     .map_err(|source| semel_dedup::Error::Sqlite { what: "creating the ledger", source })?;
//!
//! let charge = |tx: &semel_dedup::rusqlite::Transaction<'_>| {
//!     tx.execute("INSERT INTO ledger VALUES ('alice', 30)", [])
//! };
//! // The key identifies the message, for example topic, partition and offset.
//! let key = b"payments/0/42";
//! let now_ms = 1_700_000_000_000;
//! assert_eq!(store.apply_once(key, now_ms, charge)?, Applied::Applied(1));
//! // The same message delivered again is not charged again.
//! assert_eq!(store.apply_once(key, now_ms + 5, charge)?, Applied::Duplicate);
//!
//! // The fast path: many messages, one durable commit.
//! let mut batch = store.batch()?;
//! for offset in 43..=45 {
//!     let key = format!("payments/0/{offset}");
//!     let applied = batch.apply_once(key.as_bytes(), now_ms + 10, charge)?;
//!     assert!(!applied.is_duplicate());
//! }
//! batch.commit()?;
//!
//! let total: i64 = store
//!     .connection()
//!     .query_row("SELECT sum(amount) FROM ledger", [], |row| row.get(0))
//!     .map_err(|source| semel_dedup::Error::Sqlite { what: "summing", source })?;
//! assert_eq!(total, 4 * 30);
//!
//! // Seven days later (the default TTL) the keys can be pruned.
//! let seven_days_ms = 7 * 24 * 60 * 60 * 1000;
//! assert_eq!(store.expire(now_ms + 10 + seven_days_ms)?, 4);
//! # Ok(())
//! # }
//! ```

mod config;
mod error;
mod store;

pub use config::{Config, Durability};
pub use error::Error;
/// The `rusqlite` this crate is built with, so effects use matching types.
pub use rusqlite;
pub use store::{Applied, Batch, DedupStore};

#[cfg(test)]
mod tests;

/// The README's example, compiled and run as a doc test.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
