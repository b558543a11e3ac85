//! The per-partition transaction index (NOTES D.7, D.8, D.11): open transactions, the last
//! stable offset, and aborted transactions for read_committed fetches.

use std::collections::{BTreeMap, BTreeSet};

use crate::TxnError;
use crate::record::Reader;

const ABORTED_TXN_VERSION: u8 = 0;

/// Entries per block of the two-level search over aborted transactions: the sparse level
/// (one `i64` per block) stays in L1 cache even for 100k+ entries, and a block of
/// `last_offsets` is 8 cache lines.
const BLOCK: usize = 64;

/// Retired entries are dropped from memory once there are this many and they are at least
/// half of all entries (amortised O(1) per entry).
const COMPACT_MIN: usize = 4096;

/// An aborted transaction on one partition, as Kafka's `.txnindex` holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AbortedTxn {
    /// The producer whose transaction aborted.
    pub producer_id: i64,
    /// Offset of its first batch on the partition.
    pub first_offset: i64,
    /// Offset of the ABORT marker.
    pub last_offset: i64,
    /// The first offset of the earliest transaction of another producer still open when the
    /// marker was written, else `last_offset + 1`. Every aborted transaction recorded later
    /// starts at or after it, which lets a lookup stop early.
    pub last_stable_offset: i64,
}

impl AbortedTxn {
    /// Size of an encoded entry.
    pub const ENCODED_LEN: usize = 33;

    /// The entry's bytes: version (0), producer id, first, last and last stable offset, all
    /// big-endian — a fixed-size record, so the index can be persisted append-only.
    pub fn to_bytes(&self) -> [u8; Self::ENCODED_LEN] {
        let mut out = [0u8; Self::ENCODED_LEN];
        out[0] = ABORTED_TXN_VERSION;
        out[1..9].copy_from_slice(&self.producer_id.to_be_bytes());
        out[9..17].copy_from_slice(&self.first_offset.to_be_bytes());
        out[17..25].copy_from_slice(&self.last_offset.to_be_bytes());
        out[25..33].copy_from_slice(&self.last_stable_offset.to_be_bytes());
        out
    }

    /// Decodes one entry that fills `bytes` exactly.
    ///
    /// # Errors
    /// [`TxnError::Truncated`], [`TxnError::TrailingBytes`], or [`TxnError::InvalidValue`] for
    /// an unknown version, a first offset after the last, or a negative offset.
    pub fn decode(bytes: &[u8]) -> Result<Self, TxnError> {
        let mut r = Reader { bytes, pos: 0 };
        let version = r.u8("aborted txn version")?;
        if version != ABORTED_TXN_VERSION {
            return Err(TxnError::InvalidValue {
                what: "aborted txn version",
                offset: 0,
                value: i64::from(version),
            });
        }
        let producer_id = r.i64("producer id")?;
        let first_offset = r.i64("first offset")?;
        let last_offset = r.i64("last offset")?;
        let last_stable_offset = r.i64("last stable offset")?;
        if r.pos != bytes.len() {
            return Err(TxnError::TrailingBytes {
                offset: r.pos,
                len: bytes.len() - r.pos,
            });
        }
        if first_offset < 0 {
            return Err(TxnError::InvalidValue {
                what: "first offset",
                offset: 9,
                value: first_offset,
            });
        }
        if last_offset < first_offset {
            return Err(TxnError::InvalidValue {
                what: "last offset",
                offset: 17,
                value: last_offset,
            });
        }
        if last_stable_offset < 0 {
            return Err(TxnError::InvalidValue {
                what: "last stable offset",
                offset: 25,
                value: last_stable_offset,
            });
        }
        Ok(Self {
            producer_id,
            first_offset,
            last_offset,
            last_stable_offset,
        })
    }
}

/// The transaction index of one partition.
///
/// Fed by the partition leader: [`Self::begin`] for the first transactional batch of a producer,
/// [`Self::end`] for each transaction marker. Rebuild it after a restart either by feeding the
/// log's transactional batches and control batches again, or with [`Self::restore`] from the
/// persisted [`AbortedTxn`] entries plus the open transactions of the producer-state snapshot.
///
/// Two indexes hold the same state when their open transactions and live aborted
/// transactions are equal (`==`).
#[derive(Debug, Clone, Default)]
pub struct TxnIndex {
    /// producer id → first offset of its open transaction.
    open: BTreeMap<i64, i64>,
    /// (first offset, producer id) of open transactions: the smallest pins the LSO.
    open_by_offset: BTreeSet<(i64, i64)>,
    /// Aborted transactions, ascending by `last_offset` (marker order); those before `head`
    /// are retired by retention.
    aborted: Vec<AbortedTxn>,
    /// `last_offset` of each entry of `aborted`, densely packed for the search.
    last_offsets: Vec<i64>,
    /// `last_offsets[k * BLOCK]` for every block k.
    sparse: Vec<i64>,
    /// First live entry of `aborted`.
    head: usize,
}

impl PartialEq for TxnIndex {
    fn eq(&self, other: &Self) -> bool {
        self.open == other.open && self.live() == other.live()
    }
}

impl Eq for TxnIndex {}

impl TxnIndex {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    /// An index from persisted aborted entries (in the order they were recorded) and the open
    /// transactions `(producer_id, first_offset)` of the producer-state snapshot.
    ///
    /// # Errors
    /// [`TxnError::AbortedOutOfOrder`] if the entries are not ascending by last offset.
    pub fn restore(
        aborted: impl IntoIterator<Item = AbortedTxn>,
        open: impl IntoIterator<Item = (i64, i64)>,
    ) -> Result<Self, TxnError> {
        let mut index = Self::new();
        for a in aborted {
            if a.last_offset <= index.last_aborted_offset() {
                return Err(TxnError::AbortedOutOfOrder {
                    producer_id: a.producer_id,
                    last_offset: a.last_offset,
                });
            }
            index.push_aborted(a);
        }
        for (producer_id, first_offset) in open {
            index.begin(producer_id, first_offset);
        }
        Ok(index)
    }

    /// Marker offset of the newest recorded abort, -1 if none.
    fn last_aborted_offset(&self) -> i64 {
        self.last_offsets.last().map_or(-1, |&last| last)
    }

    fn live(&self) -> &[AbortedTxn] {
        self.aborted.get(self.head..).unwrap_or(&[])
    }

    fn push_aborted(&mut self, a: AbortedTxn) {
        if self.aborted.len() == self.sparse.len() * BLOCK {
            self.sparse.push(a.last_offset);
        }
        self.aborted.push(a);
        self.last_offsets.push(a.last_offset);
    }

    /// Position of the first entry with `last_offset >= offset` (`aborted.len()` if none):
    /// a binary search over the sparse level, then over one block.
    fn first_ending_at_or_after(&self, offset: i64) -> usize {
        let k = self.sparse.partition_point(|&x| x < offset);
        let lo = k.saturating_sub(1) * BLOCK;
        let hi = (k * BLOCK + 1).min(self.last_offsets.len());
        let block = self.last_offsets.get(lo..hi).unwrap_or(&[]);
        (lo + block.partition_point(|&x| x < offset)).max(self.head)
    }

    /// A transactional batch of `producer_id` at `first_offset`: opens its transaction on the
    /// partition unless one is open already. Returns whether it opened one.
    pub fn begin(&mut self, producer_id: i64, first_offset: i64) -> bool {
        if self.open.contains_key(&producer_id) {
            return false;
        }
        self.open.insert(producer_id, first_offset);
        self.open_by_offset.insert((first_offset, producer_id));
        true
    }

    /// A COMMIT (`committed`) or ABORT marker of `producer_id` appended at `marker_offset`:
    /// closes its open transaction. For an abort of a transaction that had data here, returns
    /// the [`AbortedTxn`] recorded (persist it if the index is persisted). A marker for a
    /// producer with no open transaction changes nothing.
    ///
    /// # Errors
    /// [`TxnError::MarkerOutOfOrder`] if `marker_offset` is not after the transaction's first
    /// offset and the newest recorded abort marker.
    pub fn end(
        &mut self,
        producer_id: i64,
        marker_offset: i64,
        committed: bool,
    ) -> Result<Option<AbortedTxn>, TxnError> {
        let Some(&first_offset) = self.open.get(&producer_id) else {
            return Ok(None);
        };
        let after = first_offset.max(self.last_aborted_offset());
        if marker_offset <= after {
            return Err(TxnError::MarkerOutOfOrder {
                producer_id,
                marker_offset,
                after,
            });
        }
        self.open.remove(&producer_id);
        self.open_by_offset.remove(&(first_offset, producer_id));
        if committed {
            return Ok(None);
        }
        let last_stable_offset = self
            .open_by_offset
            .first()
            .map_or(marker_offset.saturating_add(1), |&(first, _)| first);
        let entry = AbortedTxn {
            producer_id,
            first_offset,
            last_offset: marker_offset,
            last_stable_offset,
        };
        self.push_aborted(entry);
        Ok(Some(entry))
    }

    /// First offset of `producer_id`'s open transaction on the partition, if any.
    pub fn open_txn_first_offset(&self, producer_id: i64) -> Option<i64> {
        self.open.get(&producer_id).copied()
    }

    /// The smallest first offset among open transactions, if any.
    pub fn first_unstable_offset(&self) -> Option<i64> {
        self.open_by_offset.first().map(|&(first, _)| first)
    }

    /// The last stable offset: the first offset of the oldest open transaction, capped by
    /// `high_watermark`.
    pub fn last_stable_offset(&self, high_watermark: i64) -> i64 {
        self.first_unstable_offset()
            .map_or(high_watermark, |first| first.min(high_watermark))
    }

    /// Number of open transactions.
    pub fn open_count(&self) -> usize {
        self.open.len()
    }

    /// All recorded aborted transactions, ascending by last offset (to persist or inspect).
    pub fn aborted(&self) -> impl Iterator<Item = &AbortedTxn> {
        self.live().iter()
    }

    /// The aborted transactions a read_committed fetch of `[fetch_offset, upper_bound_offset)`
    /// must report: those with `last_offset ≥ fetch_offset` and `first_offset <
    /// upper_bound_offset`, ascending by last offset. Binary search for the start, then a scan
    /// that stops at the first entry whose `last_stable_offset ≥ upper_bound_offset`.
    pub fn aborted_in_range(
        &self,
        fetch_offset: i64,
        upper_bound_offset: i64,
    ) -> AbortedInRange<'_> {
        let start = self.first_ending_at_or_after(fetch_offset);
        AbortedInRange {
            index: self,
            next: start,
            upper_bound_offset,
            done: false,
        }
    }

    /// Retention: forgets aborted transactions that end before `log_start_offset`. Open
    /// transactions stay: only their marker closes them (NOTES D.7).
    pub fn truncate_before(&mut self, log_start_offset: i64) {
        self.head = self.first_ending_at_or_after(log_start_offset);
        if self.head >= COMPACT_MIN && self.head * 2 >= self.aborted.len() {
            self.aborted.drain(..self.head);
            self.last_offsets.drain(..self.head);
            self.head = 0;
            self.sparse = self.last_offsets.iter().step_by(BLOCK).copied().collect();
        }
    }
}

/// Iterator returned by [`TxnIndex::aborted_in_range`].
#[derive(Debug, Clone)]
pub struct AbortedInRange<'a> {
    index: &'a TxnIndex,
    next: usize,
    upper_bound_offset: i64,
    done: bool,
}

impl<'a> Iterator for AbortedInRange<'a> {
    type Item = &'a AbortedTxn;

    fn next(&mut self) -> Option<&'a AbortedTxn> {
        while !self.done {
            let Some(a) = self.index.aborted.get(self.next) else {
                self.done = true;
                break;
            };
            self.next += 1;
            if a.last_stable_offset >= self.upper_bound_offset {
                self.done = true;
            }
            if a.first_offset < self.upper_bound_offset {
                return Some(a);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lso_is_high_watermark_without_open_transactions() {
        let index = TxnIndex::new();
        assert_eq!(index.last_stable_offset(42), 42);
    }

    #[test]
    fn lso_stops_at_the_oldest_open_transaction() {
        let mut index = TxnIndex::new();
        assert!(index.begin(1, 10));
        assert!(index.begin(2, 5));
        assert!(
            !index.begin(2, 7),
            "a second batch of an open transaction does not reopen it"
        );
        assert_eq!(index.last_stable_offset(100), 5);
        assert_eq!(index.end(2, 20, true), Ok(None));
        assert_eq!(index.last_stable_offset(100), 10);
        assert_eq!(index.last_stable_offset(8), 8);
    }

    #[test]
    fn abort_records_range_with_lso_of_other_open_transactions() {
        let mut index = TxnIndex::new();
        index.begin(1, 10);
        index.begin(2, 12);
        let a = index.end(1, 20, false).unwrap().unwrap();
        assert_eq!(
            a,
            AbortedTxn {
                producer_id: 1,
                first_offset: 10,
                last_offset: 20,
                last_stable_offset: 12
            }
        );
        let b = index.end(2, 21, false).unwrap().unwrap();
        assert_eq!(b.last_stable_offset, 22);
    }

    #[test]
    fn marker_without_open_transaction_changes_nothing() {
        let mut index = TxnIndex::new();
        assert_eq!(index.end(9, 3, false), Ok(None));
        assert_eq!(index.aborted().count(), 0);
    }

    #[test]
    fn marker_before_first_offset_or_previous_marker_is_rejected() {
        let mut index = TxnIndex::new();
        index.begin(1, 10);
        assert_eq!(
            index.end(1, 10, false),
            Err(TxnError::MarkerOutOfOrder {
                producer_id: 1,
                marker_offset: 10,
                after: 10
            })
        );
        index.end(1, 15, false).unwrap();
        index.begin(2, 11);
        assert!(matches!(
            index.end(2, 14, false),
            Err(TxnError::MarkerOutOfOrder { after: 15, .. })
        ));
        assert!(index.end(2, 16, true).is_ok());
    }

    #[test]
    fn aborted_in_range_reports_overlapping_entries_only() {
        let mut index = TxnIndex::new();
        index.begin(1, 0);
        index.end(1, 5, false).unwrap();
        index.begin(2, 6);
        index.end(2, 9, false).unwrap();
        index.begin(3, 10);
        index.end(3, 12, false).unwrap();
        let pids = |f, u| {
            index
                .aborted_in_range(f, u)
                .map(|a| a.producer_id)
                .collect::<Vec<_>>()
        };
        assert_eq!(pids(0, 100), vec![1, 2, 3]);
        assert_eq!(pids(6, 7), vec![2]);
        assert_eq!(pids(5, 6), vec![1]);
        assert_eq!(pids(13, 100), Vec::<i64>::new());
        assert_eq!(pids(0, 0), Vec::<i64>::new());
    }

    /// Many blocks, overlapping transactions and compaction: the two-level search against a
    /// linear scan of a plain list.
    #[test]
    fn large_index_lookups_match_a_linear_scan_across_blocks_and_compaction() {
        let mut index = TxnIndex::new();
        let mut all: Vec<AbortedTxn> = Vec::new();
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut rand = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let mut offset = 0i64;
        for _ in 0..100_000 {
            let pid = rand(6) as i64;
            if index.open_txn_first_offset(pid).is_some() && rand(2) == 0 {
                if let Some(a) = index.end(pid, offset, rand(3) != 0).unwrap() {
                    all.push(a);
                }
            } else {
                index.begin(pid, offset);
            }
            offset += 1 + rand(3) as i64;
        }
        assert!(all.len() > 3 * BLOCK * 10, "{} aborted", all.len());
        let mut log_start = 0i64;
        for round in 0..4 {
            for _ in 0..500 {
                let fetch = rand(offset as u64 + 10) as i64;
                let upper = fetch + rand(200) as i64;
                let expected: Vec<AbortedTxn> = all
                    .iter()
                    .filter(|a| {
                        a.last_offset >= log_start
                            && a.last_offset >= fetch
                            && a.first_offset < upper
                    })
                    .copied()
                    .collect();
                let got: Vec<AbortedTxn> = index.aborted_in_range(fetch, upper).copied().collect();
                assert_eq!(got, expected, "round {round}, fetch {fetch}, upper {upper}");
            }
            log_start += offset / 5;
            index.truncate_before(log_start);
            let live: Vec<AbortedTxn> = all
                .iter()
                .filter(|a| a.last_offset >= log_start)
                .copied()
                .collect();
            assert_eq!(index.aborted().copied().collect::<Vec<_>>(), live);
        }
        assert!(
            index.aborted.len() < all.len(),
            "retired entries were compacted away"
        );
        assert_eq!(index.sparse.len(), index.aborted.len().div_ceil(BLOCK));
    }

    #[test]
    fn truncate_before_drops_entries_ending_before_log_start() {
        let mut index = TxnIndex::new();
        index.begin(1, 0);
        index.end(1, 5, false).unwrap();
        index.begin(2, 6);
        index.end(2, 9, false).unwrap();
        index.begin(3, 7);
        index.truncate_before(6);
        assert_eq!(
            index.aborted().map(|a| a.producer_id).collect::<Vec<_>>(),
            vec![2]
        );
        assert_eq!(index.first_unstable_offset(), Some(7));
    }

    #[test]
    fn restore_rebuilds_and_rejects_unsorted_entries() {
        let mut index = TxnIndex::new();
        index.begin(1, 0);
        index.begin(2, 3);
        index.end(1, 5, false).unwrap();
        let restored = TxnIndex::restore(index.aborted().copied(), [(2, 3)]).unwrap();
        assert_eq!(restored, index);
        let a = AbortedTxn {
            producer_id: 1,
            first_offset: 0,
            last_offset: 5,
            last_stable_offset: 6,
        };
        assert_eq!(
            TxnIndex::restore([a, a], []),
            Err(TxnError::AbortedOutOfOrder {
                producer_id: 1,
                last_offset: 5
            })
        );
    }

    #[test]
    fn aborted_txn_round_trips_and_rejects_bad_bytes() {
        let a = AbortedTxn {
            producer_id: 7,
            first_offset: 1,
            last_offset: 9,
            last_stable_offset: 2,
        };
        let bytes = a.to_bytes();
        assert_eq!(AbortedTxn::decode(&bytes), Ok(a));
        for cut in 0..bytes.len() {
            assert!(matches!(
                AbortedTxn::decode(&bytes[..cut]),
                Err(TxnError::Truncated { .. })
            ));
        }
        let mut long = bytes.to_vec();
        long.push(1);
        assert!(matches!(
            AbortedTxn::decode(&long),
            Err(TxnError::TrailingBytes { .. })
        ));
        let mut v = bytes;
        v[0] = 1;
        assert!(matches!(
            AbortedTxn::decode(&v),
            Err(TxnError::InvalidValue { .. })
        ));
        let bad = AbortedTxn {
            first_offset: 10,
            ..a
        }
        .to_bytes();
        assert!(matches!(
            AbortedTxn::decode(&bad),
            Err(TxnError::InvalidValue {
                what: "last offset",
                ..
            })
        ));
    }
}
