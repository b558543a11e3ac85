//! The crate's one error type.

use std::path::PathBuf;

/// Everything that can go wrong in a [`DedupStore`](crate::DedupStore).
///
/// A duplicate key is not an error: it is
/// [`Applied::Duplicate`](crate::Applied::Duplicate).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The database file could not be opened or set up (pragmas, schema).
    #[error("opening the dedup store at {path}: {what}: {source}")]
    Open {
        /// The database file.
        path: PathBuf,
        /// The step that failed.
        what: &'static str,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// A SQLite call made by the store itself failed.
    #[error("dedup store: {what}: {source}")]
    Sqlite {
        /// What the store was doing (for example "inserting the key").
        what: &'static str,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// The caller's effect returned an error. Nothing of that apply was
    /// kept: neither what the effect wrote nor the key. Inside a
    /// [`Batch`](crate::Batch) the earlier applies of the batch are kept.
    #[error("the effect failed and was rolled back together with its key: {0}")]
    Effect(#[source] rusqlite::Error),
    /// [`Config::ttl_ms`](crate::Config::ttl_ms) was negative.
    #[error("invalid config: ttl_ms must not be negative, got {ttl_ms}")]
    NegativeTtl {
        /// The rejected value.
        ttl_ms: i64,
    },
    /// The database file was written by a newer version of this crate.
    #[error("the dedup store schema is version {found}, this library knows up to {supported}")]
    UnsupportedSchema {
        /// The version found in the database.
        found: i64,
        /// The newest version this library reads.
        supported: i64,
    },
    /// SQLite did not switch the file to WAL mode (for example a file
    /// system without shared memory support).
    #[error("the dedup store at {path} runs in journal mode {mode:?}, WAL is required")]
    NotWal {
        /// The database file.
        path: PathBuf,
        /// The journal mode SQLite reported.
        mode: String,
    },
    /// An effect earlier in this batch panicked and the panic was caught;
    /// its savepoint was never closed, so the batch can only be dropped
    /// (which rolls it back).
    #[error("an earlier effect in this batch panicked; drop the batch")]
    BatchPoisoned,
}

impl Error {
    /// Wraps an error from one of the store's own SQLite calls.
    pub(crate) fn sqlite(what: &'static str) -> impl FnOnce(rusqlite::Error) -> Error {
        move |source| Error::Sqlite { what, source }
    }
}
