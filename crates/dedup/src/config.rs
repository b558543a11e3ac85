//! How long keys live and how hard each commit is pushed to disk.

/// Seven days in milliseconds: Kafka's default `retention.ms`.
const SEVEN_DAYS_MS: i64 = 7 * 24 * 60 * 60 * 1000;

/// Settings for a [`DedupStore`](crate::DedupStore).
///
/// `ttl_ms` should match the retention of the topic the keys come from: a
/// message cannot be delivered again once the broker has deleted it, so its
/// key is no longer needed after that.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// How long a key is kept after it was applied, in milliseconds: an
    /// applied key gets `expires_at = now_ms + ttl_ms` (saturating) and is
    /// deleted by the first [`expire`](crate::DedupStore::expire) call whose
    /// `now_ms >= expires_at`. Must not be negative.
    pub ttl_ms: i64,
    /// How each commit reaches the disk.
    pub durability: Durability,
}

impl Default for Config {
    /// A TTL of 7 days (Kafka's default retention) and [`Durability::Full`].
    fn default() -> Self {
        Config {
            ttl_ms: SEVEN_DAYS_MS,
            durability: Durability::Full,
        }
    }
}

/// How each commit reaches the disk. Both run SQLite in WAL mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// `synchronous=FULL`: every commit is fsynced before it returns, so a
    /// committed apply survives a power loss as well as a process crash.
    #[default]
    Full,
    /// WAL with `synchronous=NORMAL`: commits are not fsynced (the WAL is
    /// synced at checkpoints). A committed apply survives a process crash
    /// but the last commits may be lost on a power loss or an OS crash; the
    /// effect and its key are still lost or kept together.
    Normal,
}

impl Durability {
    /// The value of SQLite's `synchronous` pragma for this level.
    pub(crate) fn synchronous_pragma(self) -> &'static str {
        match self {
            Durability::Full => "FULL",
            Durability::Normal => "NORMAL",
        }
    }
}
