//! The coordinator's persisted records and their binary codec.
//!
//! One record is one transition of one transactional id: either its whole new state or a
//! tombstone (the id expired). The layout, all integers big-endian:
//!
//! ```text
//! offset size  field
//! 0      1     format version, 1
//! 1      1     kind: 0 = state, 1 = tombstone
//! 2      2     transactional id length N (u16, 1..)
//! 4      N     transactional id, UTF-8
//! -- kind 0 only --
//!        8     producer_id (i64)
//!        8     previous_producer_id (i64, -1 if none)
//!        2     producer_epoch (i16)
//!        2     last_producer_epoch (i16)
//!        4     transaction_timeout_ms (i32)
//!        1     state (0 Empty, 1 Ongoing, 2 PrepareCommit, 3 PrepareAbort, 4 CompleteCommit, 5 CompleteAbort)
//!        8     txn_sequence (u64): number of transactions this id has started
//!        8     txn_start_timestamp_ms (i64)
//!        8     txn_last_update_timestamp_ms (i64)
//!        4     partition count P (u32)
//!        P ×   topic length (u16), topic (UTF-8), partition (i32);
//!              strictly ascending by (topic, partition)
//! ```
//!
//! Decoding accepts exactly the bytes [`TxnLogRecord::encode`] writes: any other input is a
//! [`TxnError`], so decode → encode gives back the same bytes.

use std::sync::Arc;

use crate::TxnError;

/// Format version written in the first byte of every record.
const FORMAT_VERSION: u8 = 1;
const KIND_STATE: u8 = 0;
const KIND_TOMBSTONE: u8 = 1;

/// A partition of a topic: the unit a transaction adds and a marker is written to.
///
/// Ordered by (topic, partition). Comparisons of clones of the same topic `Arc` skip the
/// string comparison, so sharing one `Arc<str>` per topic makes lookups cheaper.
#[derive(Debug, Clone, Eq)]
pub struct TopicPartition {
    /// Topic name (shared, cheap to clone).
    pub topic: Arc<str>,
    /// Partition index.
    pub partition: i32,
}

impl PartialEq for TopicPartition {
    fn eq(&self, other: &Self) -> bool {
        self.partition == other.partition
            && (Arc::ptr_eq(&self.topic, &other.topic) || self.topic == other.topic)
    }
}

impl std::hash::Hash for TopicPartition {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.topic.hash(state);
        self.partition.hash(state);
    }
}

impl Ord for TopicPartition {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        if Arc::ptr_eq(&self.topic, &other.topic) {
            return self.partition.cmp(&other.partition);
        }
        (&*self.topic, self.partition).cmp(&(&*other.topic, other.partition))
    }
}

impl PartialOrd for TopicPartition {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// A set of partitions, sorted by (topic, partition) without duplicates, shared cheaply
/// (cloning is a reference count increment, and nothing for the empty set; changing a set
/// makes a new one, in one allocation).
#[derive(Clone, Default)]
pub struct PartitionSet(Option<Arc<[TopicPartition]>>);

impl std::fmt::Debug for PartitionSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("PartitionSet")
            .field(&self.as_slice())
            .finish()
    }
}

impl PartialEq for PartitionSet {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for PartitionSet {}

impl PartitionSet {
    /// The set holding exactly `partitions` (sorted, unique); `None` stands for empty.
    fn shared(partitions: Arc<[TopicPartition]>) -> Self {
        Self((!partitions.is_empty()).then_some(partitions))
    }

    /// The partitions, ascending.
    pub fn iter(&self) -> std::slice::Iter<'_, TopicPartition> {
        self.as_slice().iter()
    }

    /// The partitions as an ascending slice.
    pub fn as_slice(&self) -> &[TopicPartition] {
        self.0.as_deref().unwrap_or(&[])
    }

    /// How many partitions.
    pub fn len(&self) -> usize {
        self.as_slice().len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.as_slice().is_empty()
    }

    /// Whether `tp` is in the set (binary search).
    pub fn contains(&self, tp: &TopicPartition) -> bool {
        self.position(tp).is_some()
    }

    /// Rank of `tp` in the set, if present.
    pub fn position(&self, tp: &TopicPartition) -> Option<usize> {
        self.as_slice().binary_search(tp).ok()
    }

    /// Adds `parts` (a new set replaces this one if any is missing).
    pub fn insert_all(&mut self, parts: &[TopicPartition]) {
        if let Some(set) = self.with_inserted(parts, &mut Vec::new()) {
            *self = set;
        }
    }

    /// A new set with `parts` added, or `None` if this one already holds them all.
    /// `scratch` is a reusable buffer (left empty).
    pub(crate) fn with_inserted(
        &self,
        parts: &[TopicPartition],
        scratch: &mut Vec<TopicPartition>,
    ) -> Option<Self> {
        let current = self.as_slice();
        if let [tp] = parts {
            // One partition (AddOffsetsToTxn): build the new set around it directly.
            let at = current.binary_search(tp).err()?;
            let (head, tail) = current.split_at(at);
            // An exact-length iterator: the new set is allocated once.
            return Some(Self::shared(
                head.iter()
                    .cloned()
                    .chain(std::iter::once(tp.clone()))
                    .chain(tail.iter().cloned())
                    .collect(),
            ));
        }
        scratch.clear();
        scratch.extend(current.iter().cloned());
        let mut added = false;
        for tp in parts {
            if let Err(at) = scratch.binary_search(tp) {
                scratch.insert(at, tp.clone());
                added = true;
            }
        }
        if !added {
            scratch.clear();
            return None;
        }
        // Still sorted and free of duplicates: one allocation for the new set.
        Some(Self::shared(scratch.drain(..).collect()))
    }

    /// The set of `parts`, sorted and deduplicated (one allocation when `parts` already is).
    pub(crate) fn from_slice_with(
        parts: &[TopicPartition],
        scratch: &mut Vec<TopicPartition>,
    ) -> Self {
        if parts.windows(2).all(|w| w[0] < w[1]) {
            return Self::shared(Arc::from(parts));
        }
        scratch.clear();
        scratch.extend(parts.iter().cloned());
        Self::from_buffer(scratch)
    }

    /// The set of the partitions in `buffer`, which it sorts, deduplicates and empties.
    fn from_buffer(buffer: &mut Vec<TopicPartition>) -> Self {
        buffer.sort();
        buffer.dedup();
        // `Drain` knows its exact length: the shared slice is allocated once.
        Self::shared(buffer.drain(..).collect())
    }

    /// A set already known to be sorted and free of duplicates (the decoder checks).
    pub(crate) fn from_sorted(partitions: Vec<TopicPartition>) -> Self {
        Self::shared(partitions.into())
    }
}

impl FromIterator<TopicPartition> for PartitionSet {
    fn from_iter<I: IntoIterator<Item = TopicPartition>>(iter: I) -> Self {
        Self::from_buffer(&mut iter.into_iter().collect())
    }
}

impl<'a> IntoIterator for &'a PartitionSet {
    type Item = &'a TopicPartition;
    type IntoIter = std::slice::Iter<'a, TopicPartition>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl TopicPartition {
    /// A topic partition.
    pub fn new(topic: impl Into<Arc<str>>, partition: i32) -> Self {
        Self {
            topic: topic.into(),
            partition,
        }
    }
}

/// The state of a transactional id, with Kafka's ids as stored (NOTES D.2).
///
/// `Dead` and `PrepareEpochFence` are never persisted: they only exist as pending transitions
/// (a tombstone, and the epoch bump folded into `PrepareAbort`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TxnState {
    /// Id known, no transaction open.
    Empty,
    /// Partitions or offsets were added.
    Ongoing,
    /// Commit logged, markers being written.
    PrepareCommit,
    /// Abort logged, markers being written.
    PrepareAbort,
    /// All commit markers written.
    CompleteCommit,
    /// All abort markers written.
    CompleteAbort,
    /// Being expired.
    Dead,
    /// Bumping the epoch before aborting (zombie fencing).
    PrepareEpochFence,
}

impl TxnState {
    /// Kafka's stored id of the state.
    pub fn id(self) -> u8 {
        match self {
            Self::Empty => 0,
            Self::Ongoing => 1,
            Self::PrepareCommit => 2,
            Self::PrepareAbort => 3,
            Self::CompleteCommit => 4,
            Self::CompleteAbort => 5,
            Self::Dead => 6,
            Self::PrepareEpochFence => 7,
        }
    }

    /// The name DescribeTransactions/ListTransactions report.
    pub fn name(self) -> &'static str {
        match self {
            Self::Empty => "Empty",
            Self::Ongoing => "Ongoing",
            Self::PrepareCommit => "PrepareCommit",
            Self::PrepareAbort => "PrepareAbort",
            Self::CompleteCommit => "CompleteCommit",
            Self::CompleteAbort => "CompleteAbort",
            Self::Dead => "Dead",
            Self::PrepareEpochFence => "PrepareEpochFence",
        }
    }

    /// The state whose name is `name` (as ListTransactions' StateFilters carry it).
    pub fn from_name(name: &str) -> Option<Self> {
        [
            Self::Empty,
            Self::Ongoing,
            Self::PrepareCommit,
            Self::PrepareAbort,
            Self::CompleteCommit,
            Self::CompleteAbort,
            Self::Dead,
            Self::PrepareEpochFence,
        ]
        .into_iter()
        .find(|s| s.name() == name)
    }

    fn from_persisted_id(id: u8) -> Option<Self> {
        Some(match id {
            0 => Self::Empty,
            1 => Self::Ongoing,
            2 => Self::PrepareCommit,
            3 => Self::PrepareAbort,
            4 => Self::CompleteCommit,
            5 => Self::CompleteAbort,
            _ => return None,
        })
    }
}

/// The durable state of one transactional id: what a state record holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnLogValue {
    /// Current producer id.
    pub producer_id: i64,
    /// The producer id before the last rotation (epoch exhaustion), -1 if none.
    pub previous_producer_id: i64,
    /// Current producer epoch.
    pub producer_epoch: i16,
    /// The epoch before the last bump when a retried InitProducerId must be recognised, else -1.
    pub last_producer_epoch: i16,
    /// The producer's transaction timeout.
    pub transaction_timeout_ms: i32,
    /// State (never `Dead` or `PrepareEpochFence`).
    pub state: TxnState,
    /// How many transactions this id has started; identifies a transaction's markers.
    pub txn_sequence: u64,
    /// When the current transaction went Ongoing, -1 if none.
    pub txn_start_timestamp_ms: i64,
    /// When the state last changed.
    pub txn_last_update_timestamp_ms: i64,
    /// The partitions in the transaction (offsets partitions included).
    pub partitions: PartitionSet,
}

/// One persisted transition: a transactional id and its new state, or `None` for a tombstone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnLogRecord {
    /// The transactional id.
    pub transactional_id: Arc<str>,
    /// Its new state; `None` when the id expired. Cloning a value allocates nothing (its
    /// partition set is shared).
    pub value: Option<TxnLogValue>,
}

impl TxnLogRecord {
    /// The exact number of bytes [`Self::encode`] writes.
    pub fn encoded_len(&self) -> usize {
        let mut len = 4 + self.transactional_id.len();
        if let Some(v) = &self.value {
            len += 8 + 8 + 2 + 2 + 4 + 1 + 8 + 8 + 8 + 4;
            len += v
                .partitions
                .iter()
                .map(|tp| 2 + tp.topic.len() + 4)
                .sum::<usize>();
        }
        len
    }

    /// Appends the record's bytes to `out`.
    ///
    /// Ids and topics longer than 65535 bytes cannot be represented; the coordinator never
    /// creates them from a valid Kafka request (Kafka limits both to 249/32767 bytes), and
    /// they are truncated to 65535 bytes here rather than panicking.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.reserve(self.encoded_len());
        out.push(FORMAT_VERSION);
        out.push(if self.value.is_some() {
            KIND_STATE
        } else {
            KIND_TOMBSTONE
        });
        put_str(out, &self.transactional_id);
        if let Some(v) = &self.value {
            out.extend_from_slice(&v.producer_id.to_be_bytes());
            out.extend_from_slice(&v.previous_producer_id.to_be_bytes());
            out.extend_from_slice(&v.producer_epoch.to_be_bytes());
            out.extend_from_slice(&v.last_producer_epoch.to_be_bytes());
            out.extend_from_slice(&v.transaction_timeout_ms.to_be_bytes());
            out.push(v.state.id());
            out.extend_from_slice(&v.txn_sequence.to_be_bytes());
            out.extend_from_slice(&v.txn_start_timestamp_ms.to_be_bytes());
            out.extend_from_slice(&v.txn_last_update_timestamp_ms.to_be_bytes());
            let count = u32::try_from(v.partitions.len()).unwrap_or(u32::MAX);
            out.extend_from_slice(&count.to_be_bytes());
            for tp in v.partitions.iter().take(count as usize) {
                put_str(out, &tp.topic);
                out.extend_from_slice(&tp.partition.to_be_bytes());
            }
        }
    }

    /// The record's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        self.encode(&mut out);
        out
    }

    /// Decodes one record that fills `bytes` exactly.
    ///
    /// # Errors
    /// [`TxnError::Truncated`], [`TxnError::InvalidValue`] (version, kind, empty id, state),
    /// [`TxnError::InvalidUtf8`], [`TxnError::UnsortedPartitions`] or
    /// [`TxnError::TrailingBytes`], each with the byte offset where it was found.
    pub fn decode(bytes: &[u8]) -> Result<Self, TxnError> {
        let mut r = Reader { bytes, pos: 0 };
        let version = r.u8("format version")?;
        if version != FORMAT_VERSION {
            return Err(TxnError::InvalidValue {
                what: "format version",
                offset: 0,
                value: i64::from(version),
            });
        }
        let kind = r.u8("record kind")?;
        if kind != KIND_STATE && kind != KIND_TOMBSTONE {
            return Err(TxnError::InvalidValue {
                what: "record kind",
                offset: 1,
                value: i64::from(kind),
            });
        }
        let id_at = r.pos;
        let transactional_id = r.string("transactional id")?;
        if transactional_id.is_empty() {
            return Err(TxnError::InvalidValue {
                what: "transactional id length",
                offset: id_at,
                value: 0,
            });
        }
        let value = if kind == KIND_STATE {
            let producer_id = r.i64("producer id")?;
            let previous_producer_id = r.i64("previous producer id")?;
            let producer_epoch = r.i16("producer epoch")?;
            let last_producer_epoch = r.i16("last producer epoch")?;
            let transaction_timeout_ms = r.i32("transaction timeout")?;
            let state_at = r.pos;
            let state_id = r.u8("state")?;
            let state = TxnState::from_persisted_id(state_id).ok_or(TxnError::InvalidValue {
                what: "state",
                offset: state_at,
                value: i64::from(state_id),
            })?;
            let txn_sequence = r.u64("txn sequence")?;
            let txn_start_timestamp_ms = r.i64("txn start timestamp")?;
            let txn_last_update_timestamp_ms = r.i64("txn last update timestamp")?;
            let count = r.u32("partition count")?;
            let mut partitions = Vec::new();
            let mut previous: Option<TopicPartition> = None;
            for _ in 0..count {
                let at = r.pos;
                let topic = r.string("topic")?;
                let partition = r.i32("partition")?;
                let tp = TopicPartition {
                    topic: topic.into(),
                    partition,
                };
                if previous.as_ref().is_some_and(|p| *p >= tp) {
                    return Err(TxnError::UnsortedPartitions { offset: at });
                }
                previous = Some(tp.clone());
                partitions.push(tp);
            }
            Some(TxnLogValue {
                producer_id,
                previous_producer_id,
                producer_epoch,
                last_producer_epoch,
                transaction_timeout_ms,
                state,
                txn_sequence,
                txn_start_timestamp_ms,
                txn_last_update_timestamp_ms,
                partitions: PartitionSet::from_sorted(partitions),
            })
        } else {
            None
        };
        if r.pos != bytes.len() {
            return Err(TxnError::TrailingBytes {
                offset: r.pos,
                len: bytes.len() - r.pos,
            });
        }
        Ok(Self {
            transactional_id: transactional_id.into(),
            value,
        })
    }
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    let mut end = s.len().min(usize::from(u16::MAX));
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    let len = u16::try_from(end).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&s.as_bytes()[..end]);
}

/// A bounds-checked big-endian reader over untrusted bytes.
pub(crate) struct Reader<'a> {
    pub(crate) bytes: &'a [u8],
    pub(crate) pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn take(&mut self, what: &'static str, n: usize) -> Result<&'a [u8], TxnError> {
        let rest = self.bytes.get(self.pos..).unwrap_or(&[]);
        match rest.get(..n) {
            Some(s) => {
                self.pos += n;
                Ok(s)
            }
            None => Err(TxnError::Truncated {
                what,
                offset: self.pos,
                needed: n,
                had: rest.len(),
            }),
        }
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], TxnError> {
        let s = self.take(what, N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    pub(crate) fn u8(&mut self, what: &'static str) -> Result<u8, TxnError> {
        Ok(self.array::<1>(what)?[0])
    }
    fn u16(&mut self, what: &'static str) -> Result<u16, TxnError> {
        Ok(u16::from_be_bytes(self.array(what)?))
    }
    fn i16(&mut self, what: &'static str) -> Result<i16, TxnError> {
        Ok(i16::from_be_bytes(self.array(what)?))
    }
    fn i32(&mut self, what: &'static str) -> Result<i32, TxnError> {
        Ok(i32::from_be_bytes(self.array(what)?))
    }
    fn u32(&mut self, what: &'static str) -> Result<u32, TxnError> {
        Ok(u32::from_be_bytes(self.array(what)?))
    }
    pub(crate) fn i64(&mut self, what: &'static str) -> Result<i64, TxnError> {
        Ok(i64::from_be_bytes(self.array(what)?))
    }
    fn u64(&mut self, what: &'static str) -> Result<u64, TxnError> {
        Ok(u64::from_be_bytes(self.array(what)?))
    }
    fn string(&mut self, what: &'static str) -> Result<&'a str, TxnError> {
        let len = self.u16(what)?;
        let at = self.pos;
        let raw = self.take(what, usize::from(len))?;
        std::str::from_utf8(raw).map_err(|_| TxnError::InvalidUtf8 { what, offset: at })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> TxnLogRecord {
        TxnLogRecord {
            transactional_id: "tx-1".into(),
            value: Some(TxnLogValue {
                producer_id: 7,
                previous_producer_id: -1,
                producer_epoch: 3,
                last_producer_epoch: 2,
                transaction_timeout_ms: 60_000,
                state: TxnState::Ongoing,
                txn_sequence: 4,
                txn_start_timestamp_ms: 1_000,
                txn_last_update_timestamp_ms: 1_500,
                partitions: [
                    TopicPartition::new("a", 1),
                    TopicPartition::new("a", 0),
                    TopicPartition::new("b", 0),
                ]
                .into_iter()
                .collect(),
            }),
        }
    }

    #[test]
    fn state_record_round_trips_with_predicted_length() {
        let r = sample();
        let bytes = r.to_bytes();
        assert_eq!(bytes.len(), r.encoded_len());
        assert_eq!(TxnLogRecord::decode(&bytes), Ok(r));
    }

    #[test]
    fn tombstone_round_trips() {
        let r = TxnLogRecord {
            transactional_id: "gone".into(),
            value: None,
        };
        let bytes = r.to_bytes();
        assert_eq!(bytes.len(), r.encoded_len());
        assert_eq!(TxnLogRecord::decode(&bytes), Ok(r));
    }

    #[test]
    fn every_truncation_is_a_truncated_error() {
        let bytes = sample().to_bytes();
        for cut in 0..bytes.len() {
            assert!(
                matches!(
                    TxnLogRecord::decode(&bytes[..cut]),
                    Err(TxnError::Truncated { .. })
                ),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn trailing_bytes_are_rejected() {
        let mut bytes = sample().to_bytes();
        let len = bytes.len();
        bytes.push(0);
        assert_eq!(
            TxnLogRecord::decode(&bytes),
            Err(TxnError::TrailingBytes {
                offset: len,
                len: 1
            })
        );
    }

    #[test]
    fn unknown_version_kind_and_state_are_rejected() {
        let bytes = sample().to_bytes();
        let mut v = bytes.clone();
        v[0] = 9;
        assert!(matches!(
            TxnLogRecord::decode(&v),
            Err(TxnError::InvalidValue {
                what: "format version",
                ..
            })
        ));
        let mut k = bytes.clone();
        k[1] = 2;
        assert!(matches!(
            TxnLogRecord::decode(&k),
            Err(TxnError::InvalidValue {
                what: "record kind",
                ..
            })
        ));
        let mut s = bytes;
        let state_at = 4 + 4 + 8 + 8 + 2 + 2 + 4;
        s[state_at] = TxnState::Dead.id();
        assert_eq!(
            TxnLogRecord::decode(&s),
            Err(TxnError::InvalidValue {
                what: "state",
                offset: state_at,
                value: 6
            })
        );
    }

    #[test]
    fn unsorted_partitions_are_rejected() {
        let mut bytes = sample().to_bytes();
        // Partitions are a/0, a/1, b/0: make the second one a/0 again (a duplicate).
        let first = bytes.len() - 3 * 7;
        let second = first + 7;
        bytes[second + 6] = 0;
        assert_eq!(
            TxnLogRecord::decode(&bytes),
            Err(TxnError::UnsortedPartitions { offset: second })
        );
    }

    #[test]
    fn invalid_utf8_and_empty_id_are_rejected() {
        let mut bytes = sample().to_bytes();
        bytes[4] = 0xff;
        assert_eq!(
            TxnLogRecord::decode(&bytes),
            Err(TxnError::InvalidUtf8 {
                what: "transactional id",
                offset: 4
            })
        );
        let empty = [FORMAT_VERSION, KIND_TOMBSTONE, 0, 0];
        assert!(matches!(
            TxnLogRecord::decode(&empty),
            Err(TxnError::InvalidValue { value: 0, .. })
        ));
    }

    #[test]
    fn huge_partition_count_does_not_allocate() {
        let mut bytes = sample().to_bytes();
        let count_at = bytes.len() - 3 * 7 - 4;
        bytes[count_at..count_at + 4].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(
            TxnLogRecord::decode(&bytes),
            Err(TxnError::Truncated { .. })
        ));
    }

    #[test]
    fn topic_partition_order_is_by_content_whether_or_not_the_topic_is_shared() {
        let shared: Arc<str> = "b".into();
        let a0 = TopicPartition::new("a", 5);
        let b1 = TopicPartition {
            topic: shared.clone(),
            partition: 1,
        };
        let b2 = TopicPartition {
            topic: shared,
            partition: 2,
        };
        let b1_other = TopicPartition::new("b", 1);
        assert!(a0 < b1 && b1 < b2);
        assert_eq!(b1, b1_other);
        assert_eq!(b1.cmp(&b1_other), std::cmp::Ordering::Equal);
        assert!(b1_other < b2);
    }

    #[test]
    fn partition_set_stays_sorted_and_unique() {
        let mut set: PartitionSet = [
            TopicPartition::new("b", 0),
            TopicPartition::new("a", 1),
            TopicPartition::new("b", 0),
        ]
        .into_iter()
        .collect();
        assert_eq!(set.len(), 2);
        let shared = set.clone();
        set.insert_all(&[TopicPartition::new("a", 0), TopicPartition::new("b", 0)]);
        assert_eq!(
            set.iter()
                .map(|tp| (&*tp.topic, tp.partition))
                .collect::<Vec<_>>(),
            vec![("a", 0), ("a", 1), ("b", 0)]
        );
        assert_eq!(shared.len(), 2, "a shared set is copied before it changes");
        assert_eq!(set.position(&TopicPartition::new("b", 0)), Some(2));
        assert!(!set.contains(&TopicPartition::new("c", 0)));
    }

    fn names(set: &PartitionSet) -> Vec<(&str, i32)> {
        set.iter().map(|tp| (&*tp.topic, tp.partition)).collect()
    }

    #[test]
    fn inserting_one_partition_keeps_the_set_sorted_at_start_middle_end_and_when_present() {
        let tp = TopicPartition::new;
        let base: PartitionSet = [tp("b", 0), tp("d", 0)].into_iter().collect();
        let mut scratch = Vec::new();
        for (add, want) in [
            (tp("a", 9), vec![("a", 9), ("b", 0), ("d", 0)]),
            (tp("c", 0), vec![("b", 0), ("c", 0), ("d", 0)]),
            (tp("d", 1), vec![("b", 0), ("d", 0), ("d", 1)]),
            (tp("b", 0), vec![("b", 0), ("d", 0)]),
        ] {
            let set = base.with_inserted(&[add], &mut scratch);
            assert_eq!(set.is_none(), want.len() == 2);
            assert_eq!(names(&set.unwrap_or_else(|| base.clone())), want);
            assert!(scratch.is_empty());
        }
        assert_eq!(
            names(&base),
            vec![("b", 0), ("d", 0)],
            "the shared set is unchanged"
        );
    }

    #[test]
    fn a_set_from_a_slice_is_sorted_and_unique_whatever_the_slice_order() {
        let tp = TopicPartition::new;
        let mut scratch = Vec::new();
        let sorted = PartitionSet::from_slice_with(&[tp("a", 0), tp("a", 1)], &mut scratch);
        assert_eq!(names(&sorted), vec![("a", 0), ("a", 1)]);
        let unsorted = PartitionSet::from_slice_with(
            &[tp("b", 0), tp("a", 1), tp("b", 0), tp("a", 0)],
            &mut scratch,
        );
        assert_eq!(names(&unsorted), vec![("a", 0), ("a", 1), ("b", 0)]);
        assert!(scratch.is_empty());
        assert!(PartitionSet::from_slice_with(&[], &mut scratch).is_empty());
    }

    #[test]
    fn state_names_round_trip() {
        for id in 0..=5 {
            let s = TxnState::from_persisted_id(id).unwrap();
            assert_eq!(s.id(), id);
            assert_eq!(TxnState::from_name(s.name()), Some(s));
        }
        assert_eq!(
            TxnState::from_name("PrepareEpochFence"),
            Some(TxnState::PrepareEpochFence)
        );
        assert_eq!(TxnState::from_name("nope"), None);
    }
}
