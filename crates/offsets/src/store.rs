//! The offset store: committed offsets, pending transactional offsets, writes in flight.

use std::collections::hash_map::RandomState;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use crate::error::{ErrorCode, OffsetsError};
use crate::record::{MAX_STRING_BYTES, OffsetAndMetadata, OffsetKey, OffsetRecord};

/// Settings of an [`OffsetStore`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetsConfig {
    /// Longest metadata string a commit may carry (`offset.metadata.max.bytes`, 4096). Like
    /// Kafka, the length is counted in UTF-16 code units (Java `String.length()`).
    pub metadata_max_bytes: usize,
    /// How long offsets outlive their group's activity (`offsets.retention.minutes`, 7 days),
    /// in milliseconds. See [`OffsetStore::expire`].
    pub retention_ms: i64,
}

impl Default for OffsetsConfig {
    fn default() -> Self {
        Self {
            metadata_max_bytes: 4096,
            retention_ms: 604_800_000,
        }
    }
}

/// One partition of an OffsetCommit or TxnOffsetCommit request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionOffset {
    /// Topic name.
    pub topic: String,
    /// Partition index.
    pub partition: i32,
    /// The offset to commit.
    pub offset: i64,
    /// Leader epoch of the last consumed record, `-1` if unknown.
    pub leader_epoch: i32,
    /// Client metadata string (`""` when the request carries null).
    pub metadata: String,
}

/// What the caller knows of a group's membership, which decides how its offsets expire
/// (NOTES E.7, Kafka's `GroupMetadata.removeExpiredOffsets`).
///
/// Group state belongs to semel-group; the broker tells the store with
/// [`OffsetStore::set_group_activity`]. It is not persisted: after a replay the broker sets it
/// again before calling [`OffsetStore::expire`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum GroupActivity {
    /// A group used only for standalone commits (no protocol type): each offset expires
    /// `retention_ms` after its own commit. The default for groups the store was not told of.
    #[default]
    Standalone,
    /// A consumer group with no members since `since_ms`: all its offsets expire once it has
    /// been empty for `retention_ms`.
    Empty {
        /// When the group became empty.
        since_ms: i64,
    },
    /// A group with members. If its subscription is known (a Stable `consumer` group), offsets
    /// of topics it no longer subscribes to expire `retention_ms` after their commit; otherwise
    /// nothing expires.
    Active {
        /// The topics the group subscribes to, if known.
        subscribed_topics: Option<BTreeSet<String>>,
    },
}

/// Identifies a [`Write`] of one [`OffsetStore`]; ids increase in the order writes are made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WriteId(u64);

impl WriteId {
    /// The id as a number.
    #[must_use]
    pub const fn get(self) -> u64 {
        self.0
    }
}

/// Records the caller must persist, in order, after every earlier write's records.
///
/// The store applies a write's effect only when the write is handed back through
/// [`OffsetStore::persisted`]; until then the partitions it touches are *unstable*
/// (OffsetFetch with RequireStable answers `UNSTABLE_OFFSET_COMMIT`) and plain fetches still
/// see the previous durable value.
#[derive(Debug, PartialEq, Eq)]
#[must_use = "a write's records must be persisted and the write handed back to `persisted`"]
pub struct Write {
    id: WriteId,
    records: Vec<OffsetRecord>,
}

impl Write {
    /// This write's id.
    #[must_use]
    pub fn id(&self) -> WriteId {
        self.id
    }

    /// The records to persist, in order.
    #[must_use]
    pub fn records(&self) -> &[OffsetRecord] {
        &self.records
    }

    /// Appends every record's encoding to `out`, one after the other, and returns each
    /// record's length so the caller can frame them.
    ///
    /// # Errors
    /// Never for a write made by an [`OffsetStore`] (it validates lengths first); see
    /// [`OffsetRecord::encode_into`].
    pub fn encode_into(&self, out: &mut Vec<u8>) -> Result<Vec<usize>, OffsetsError> {
        let mut lens = Vec::with_capacity(self.records.len());
        for record in &self.records {
            let before = out.len();
            record.encode_into(out)?;
            lens.push(out.len() - before);
        }
        Ok(lens)
    }
}

/// The answer to an OffsetCommit or TxnOffsetCommit.
#[derive(Debug, PartialEq, Eq)]
#[must_use]
pub struct CommitOutcome {
    /// One error code per requested partition, in request order ([`ErrorCode::None`] for the
    /// partitions that are in `write`).
    pub errors: Vec<ErrorCode>,
    /// The records to persist for the accepted partitions; `None` if none was accepted.
    /// Answer the request only after handing it back to [`OffsetStore::persisted`].
    pub write: Option<Write>,
}

/// The answer to an OffsetFetch for one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fetched<'a> {
    /// The committed offset.
    Committed(&'a OffsetAndMetadata),
    /// No committed offset: Kafka answers offset -1, leader epoch -1, metadata `""`, NONE.
    NoOffset,
    /// RequireStable was set and the partition has a pending transactional offset or a commit
    /// still being written: `UNSTABLE_OFFSET_COMMIT` with offset -1.
    Unstable,
}

impl<'a> Fetched<'a> {
    /// The committed offset, -1 if none.
    #[must_use]
    pub fn offset(&self) -> i64 {
        match self {
            Self::Committed(v) => v.offset,
            Self::NoOffset | Self::Unstable => -1,
        }
    }

    /// The committed leader epoch, -1 if none.
    #[must_use]
    pub fn leader_epoch(&self) -> i32 {
        match self {
            Self::Committed(v) => v.leader_epoch,
            Self::NoOffset | Self::Unstable => -1,
        }
    }

    /// The committed metadata, `""` if none.
    #[must_use]
    pub fn metadata(&self) -> &'a str {
        match self {
            Self::Committed(v) => &v.metadata,
            Self::NoOffset | Self::Unstable => "",
        }
    }

    /// The partition's error code.
    #[must_use]
    pub fn error_code(&self) -> ErrorCode {
        match self {
            Self::Unstable => ErrorCode::UnstableOffsetCommit,
            Self::Committed(_) | Self::NoOffset => ErrorCode::None,
        }
    }
}

/// One partition of [`OffsetStore::fetch_all`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupOffset<'a> {
    /// Topic name.
    pub topic: &'a str,
    /// Partition index.
    pub partition: i32,
    /// Its offset, or [`Fetched::Unstable`].
    pub fetched: Fetched<'a>,
}

/// One group's offsets (see [`OffsetStore::group`]).
#[derive(Debug, Clone, Copy)]
pub struct GroupView<'a> {
    topics: Option<&'a Topics>,
    slots: &'a [Slot],
}

impl<'a> GroupView<'a> {
    /// Same as [`OffsetStore::fetch`] for this group.
    #[must_use]
    pub fn fetch(&self, topic: &str, partition: i32, require_stable: bool) -> Fetched<'a> {
        match self
            .topics
            .and_then(|topics| topics.get(topic))
            .and_then(|partitions| partitions.get(&partition))
            .and_then(|slot| self.slots.get(*slot))
        {
            None => Fetched::NoOffset,
            Some(slot) => fetched(&slot.state, require_stable),
        }
    }
}

/// A durable committed value and the position of the record that wrote it.
#[derive(Debug, Clone)]
struct Committed {
    value: OffsetAndMetadata,
    seq: u64,
}

/// A durable transactional offset waiting for its producer's marker.
#[derive(Debug, Clone)]
struct Pending {
    value: OffsetAndMetadata,
    seq: u64,
    /// The partition's slot (kept alive by its `pending_txns` count).
    slot: usize,
}

#[derive(Debug, Default)]
struct PartitionState {
    committed: Option<Committed>,
    /// Records of writes not yet persisted that name this partition.
    in_flight: u32,
    /// Producer ids holding a durable pending offset for this partition.
    pending_txns: u32,
}

impl PartitionState {
    fn is_unstable(&self) -> bool {
        self.in_flight > 0 || self.pending_txns > 0
    }

    fn is_vacant(&self) -> bool {
        self.committed.is_none() && !self.is_unstable()
    }
}

/// A partition's state with its key. Slots are reused once vacant; a write in flight or a
/// pending offset refers to its partition's slot, which keeps the slot occupied, so a write is
/// applied without searching the index again.
#[derive(Debug)]
struct Slot {
    key: OffsetKey,
    live: bool,
    state: PartitionState,
}

/// group → topic → partition → slot. Groups, of which a coordinator holds many, are hashed
/// (SipHash with a random key, as group ids come from clients); every listing of groups sorts
/// them, so no output depends on the hash order. A group's topics are few: ordered.
type Topics = BTreeMap<String, BTreeMap<i32, usize>>;
type Index = HashMap<String, Topics, RandomState>;

/// The slot of a record that names no partition (a marker).
const NO_SLOT: usize = usize::MAX;

/// The consumer offset store of a group coordinator: committed offsets per
/// (group, topic, partition), pending transactional offsets per producer id, and the writes
/// in flight.
///
/// # The write protocol
/// Every change comes out as a [`Write`]: records to persist. The store applies a write only
/// when it is handed back to [`OffsetStore::persisted`], so the store's state is always exactly
/// what [`OffsetStore::replay`] of the persisted records gives. The caller persists writes in
/// the order of their ids (one record stream); it may hand them back in any order: a write is
/// applied once every earlier one has been. Until then the partitions it names count as
/// unstable. If persisting fails, the caller drops this store and rebuilds it with
/// [`OffsetStore::replay`] from what its log holds after recovery.
#[derive(Debug)]
pub struct OffsetStore {
    config: OffsetsConfig,
    index: Index,
    slots: Vec<Slot>,
    free_slots: Vec<usize>,
    pending: BTreeMap<i64, BTreeMap<OffsetKey, Pending>>,
    /// Transactional records not yet persisted, per producer id.
    txn_in_flight: BTreeMap<i64, u32>,
    activity: BTreeMap<String, GroupActivity>,
    /// Position of the next record in the stream.
    next_seq: u64,
    next_write_id: u64,
    /// Id of the oldest write not yet applied.
    next_apply_id: u64,
    /// Writes handed back before an earlier one was.
    persisted_early: BTreeMap<u64, Write>,
    /// The slot each record of the writes not yet applied names (`NO_SLOT` for markers), in
    /// write order: writes are applied in that order, so each takes its slots from the front.
    in_flight_slots: VecDeque<usize>,
}

impl OffsetStore {
    /// An empty store.
    #[must_use]
    pub fn new(config: OffsetsConfig) -> Self {
        Self {
            config,
            index: Index::new(),
            slots: Vec::new(),
            free_slots: Vec::new(),
            pending: BTreeMap::new(),
            txn_in_flight: BTreeMap::new(),
            activity: BTreeMap::new(),
            next_seq: 0,
            next_write_id: 0,
            next_apply_id: 0,
            persisted_early: BTreeMap::new(),
            in_flight_slots: VecDeque::new(),
        }
    }

    /// Rebuilds a store from its persisted record stream, in the order it was written
    /// (a compacted stream from [`compact`] gives the same store).
    #[must_use]
    pub fn replay(config: OffsetsConfig, records: impl IntoIterator<Item = OffsetRecord>) -> Self {
        let mut store = Self::new(config);
        for record in records {
            let seq = store.next_seq;
            store.next_seq += 1;
            store.apply(record, seq, None);
        }
        store
    }

    /// The store's settings.
    #[must_use]
    pub fn config(&self) -> &OffsetsConfig {
        &self.config
    }

    /// OffsetCommit: validates each partition and returns the records of the accepted ones.
    ///
    /// Membership and generation checks are the caller's (semel-group); this checks the
    /// metadata size (`OFFSET_METADATA_TOO_LARGE`) and that the names fit a record
    /// (`INVALID_COMMIT_OFFSET_SIZE`). The commit becomes visible when its write is
    /// [`persisted`](OffsetStore::persisted).
    pub fn commit(
        &mut self,
        group: &str,
        offsets: impl IntoIterator<Item = PartitionOffset>,
        now_ms: i64,
    ) -> CommitOutcome {
        self.commit_records(group, offsets, now_ms, None)
    }

    /// TxnOffsetCommit: stores the offsets as pending under `producer_id`, invisible to plain
    /// fetches until [`complete_txn`](OffsetStore::complete_txn) with `committed = true`
    /// (NOTES D.6). An empty group id gives `INVALID_GROUP_ID` for every partition.
    ///
    /// Producer epoch and AddOffsetsToTxn checks are the caller's (semel-txn, the broker).
    pub fn txn_commit(
        &mut self,
        producer_id: i64,
        group: &str,
        offsets: impl IntoIterator<Item = PartitionOffset>,
        now_ms: i64,
    ) -> CommitOutcome {
        self.commit_records(group, offsets, now_ms, Some(producer_id))
    }

    fn commit_records(
        &mut self,
        group: &str,
        offsets: impl IntoIterator<Item = PartitionOffset>,
        now_ms: i64,
        producer_id: Option<i64>,
    ) -> CommitOutcome {
        let offsets = offsets.into_iter();
        let mut errors = Vec::with_capacity(offsets.size_hint().0);
        let mut records = Vec::with_capacity(offsets.size_hint().0);
        for p in offsets {
            let error = if producer_id.is_some() && group.is_empty() {
                ErrorCode::InvalidGroupId
            } else if metadata_too_large(&p.metadata, self.config.metadata_max_bytes) {
                ErrorCode::OffsetMetadataTooLarge
            } else if group.len() > MAX_STRING_BYTES
                || p.topic.len() > MAX_STRING_BYTES
                || p.metadata.len() > MAX_STRING_BYTES
            {
                ErrorCode::InvalidCommitOffsetSize
            } else {
                ErrorCode::None
            };
            errors.push(error);
            if !error.is_none() {
                continue;
            }
            let key = OffsetKey {
                group: group.to_owned(),
                topic: p.topic,
                partition: p.partition,
            };
            let value = OffsetAndMetadata {
                offset: p.offset,
                leader_epoch: p.leader_epoch,
                metadata: p.metadata,
                commit_timestamp_ms: now_ms,
            };
            records.push(match producer_id {
                None => OffsetRecord::Commit {
                    key,
                    value: Some(value),
                },
                Some(producer_id) => OffsetRecord::TxnCommit {
                    producer_id,
                    key,
                    value,
                },
            });
        }
        if records.is_empty() {
            return CommitOutcome {
                errors,
                write: None,
            };
        }
        // Every record names the same group: find it once.
        let topics = match self.index.get_mut(group) {
            Some(topics) => topics,
            None => self.index.entry(group.to_owned()).or_default(),
        };
        for record in &records {
            let slot = match record_key(record) {
                Some(key) => slot_in(topics, &mut self.slots, &mut self.free_slots, key),
                None => NO_SLOT,
            };
            if let Some(s) = self.slots.get_mut(slot) {
                s.state.in_flight += 1;
            }
            self.in_flight_slots.push_back(slot);
        }
        if let Some(producer_id) = producer_id {
            *self.txn_in_flight.entry(producer_id).or_insert(0) += count_u32(records.len());
        }
        CommitOutcome {
            errors,
            write: Some(self.make_write(records)),
        }
    }

    /// The COMMIT (`committed = true`) or ABORT marker of `producer_id`'s transaction reaching
    /// the offsets: returns the marker record to persist, or `None` if the producer has no
    /// pending or in-flight transactional offsets here.
    ///
    /// Once persisted, COMMIT makes each pending offset the committed one unless a commit
    /// written *later* already exists for that partition; ABORT drops them. Either way the
    /// partitions stop being unstable.
    pub fn complete_txn(&mut self, producer_id: i64, committed: bool) -> Option<Write> {
        let in_flight = self.txn_in_flight.get(&producer_id).copied().unwrap_or(0);
        if in_flight == 0 && !self.pending.contains_key(&producer_id) {
            return None;
        }
        self.issue(vec![OffsetRecord::TxnMarker {
            producer_id,
            committed,
        }])
    }

    /// OffsetDelete: tombstones for the listed partitions of `group` that have a committed,
    /// pending or in-flight offset; `None` if there is none. Once persisted, the partitions'
    /// committed and pending transactional offsets are gone.
    ///
    /// Whether the group may delete them (GROUP_SUBSCRIBED_TO_TOPIC, GROUP_ID_NOT_FOUND) is the
    /// caller's decision.
    pub fn delete_offsets<'p>(
        &mut self,
        group: &str,
        partitions: impl IntoIterator<Item = (&'p str, i32)>,
    ) -> Option<Write> {
        let mut records = Vec::new();
        for (topic, partition) in partitions {
            if lookup(&self.index, group, topic, partition).is_some() {
                records.push(tombstone(group, topic, partition));
            }
        }
        self.issue(records)
    }

    /// DeleteGroups: tombstones for every partition of `group` (committed, pending or in
    /// flight); `None` if it has none. Forgets the group's [`GroupActivity`].
    pub fn delete_group(&mut self, group: &str) -> Option<Write> {
        self.activity.remove(group);
        let mut records = Vec::new();
        if let Some(topics) = self.index.get(group) {
            for (topic, partitions) in topics {
                for partition in partitions.keys() {
                    records.push(tombstone(group, topic, *partition));
                }
            }
        }
        self.issue(records)
    }

    /// Tells the store how `group`'s offsets expire (see [`GroupActivity`]).
    pub fn set_group_activity(&mut self, group: &str, activity: GroupActivity) {
        if activity == GroupActivity::Standalone {
            self.activity.remove(group);
        } else {
            self.activity.insert(group.to_owned(), activity);
        }
    }

    /// Offset expiry (NOTES E.7): tombstones for the committed offsets whose retention has
    /// passed at `now_ms`, `None` if none has. Partitions with a pending transactional offset
    /// or a write in flight never expire.
    pub fn expire(&mut self, now_ms: i64) -> Option<Write> {
        let retention_ms = self.config.retention_ms;
        let mut records = Vec::new();
        for (group, topics) in sorted(&self.index) {
            let activity = self.activity.get(group.as_str());
            for (topic, partitions) in topics {
                for (partition, slot) in partitions {
                    let Some(state) = self.slots.get(*slot).map(|s| &s.state) else {
                        continue;
                    };
                    let Some(committed) = &state.committed else {
                        continue;
                    };
                    if state.is_unstable() {
                        continue;
                    }
                    let commit_ms = committed.value.commit_timestamp_ms;
                    let base_ms = match activity {
                        None | Some(GroupActivity::Standalone) => Some(commit_ms),
                        Some(GroupActivity::Empty { since_ms }) => Some(*since_ms),
                        Some(GroupActivity::Active {
                            subscribed_topics: Some(subscribed),
                        }) if !subscribed.contains(topic) => Some(commit_ms),
                        Some(GroupActivity::Active { .. }) => None,
                    };
                    if base_ms.is_some_and(|base| now_ms.saturating_sub(base) >= retention_ms) {
                        records.push(tombstone(group, topic, *partition));
                    }
                }
            }
        }
        self.issue(records)
    }

    /// Hands back a write whose records are persisted. It is applied as soon as every earlier
    /// write has been handed back too.
    ///
    /// A write belongs to the store that made it; after a restart, writes of the old store
    /// are simply dropped (their records are either in the log, and so in the replay, or
    /// lost with the crash).
    ///
    /// # Errors
    /// [`OffsetsError::UnknownWrite`] if this store does not have the write's id in flight (it
    /// was already handed back, or another store made it); nothing changes then.
    pub fn persisted(&mut self, write: Write) -> Result<(), OffsetsError> {
        let id = write.id.0;
        if id < self.next_apply_id
            || id >= self.next_write_id
            || self.persisted_early.contains_key(&id)
        {
            return Err(OffsetsError::UnknownWrite { id });
        }
        if id != self.next_apply_id {
            self.persisted_early.insert(id, write);
            return Ok(());
        }
        self.apply_write(write);
        while let Some(next) = self.persisted_early.remove(&self.next_apply_id) {
            self.apply_write(next);
        }
        Ok(())
    }

    /// Number of writes made but not yet applied.
    #[must_use]
    pub fn writes_in_flight(&self) -> u64 {
        self.next_write_id - self.next_apply_id
    }

    /// OffsetFetch of one partition. With `require_stable`, a partition with a pending
    /// transactional offset or a write in flight is [`Fetched::Unstable`]; without it, the
    /// durable committed value is returned and pending ones are ignored.
    #[must_use]
    pub fn fetch(
        &self,
        group: &str,
        topic: &str,
        partition: i32,
        require_stable: bool,
    ) -> Fetched<'_> {
        self.group(group).fetch(topic, partition, require_stable)
    }

    /// One group's offsets, found once, for an OffsetFetch that lists many partitions.
    #[must_use]
    pub fn group(&self, group: &str) -> GroupView<'_> {
        GroupView {
            topics: self.index.get(group),
            slots: &self.slots,
        }
    }

    /// OffsetFetch with a null topic list: every partition of `group` that has a committed
    /// offset, in (topic, partition) order. With `require_stable`, partitions that are
    /// unstable are listed too (as [`Fetched::Unstable`]), even if nothing is committed yet,
    /// so the client retries.
    #[must_use]
    pub fn fetch_all(&self, group: &str, require_stable: bool) -> Vec<GroupOffset<'_>> {
        let mut out = Vec::new();
        if let Some(topics) = self.index.get(group) {
            for (topic, partitions) in topics {
                for (partition, slot) in partitions {
                    let Some(slot) = self.slots.get(*slot) else {
                        continue;
                    };
                    let fetched = fetched(&slot.state, require_stable);
                    if fetched != Fetched::NoOffset {
                        out.push(GroupOffset {
                            topic,
                            partition: *partition,
                            fetched,
                        });
                    }
                }
            }
        }
        out
    }

    /// The groups that have a committed or pending transactional offset, in order.
    #[must_use]
    pub fn groups(&self) -> Vec<&str> {
        sorted(&self.index)
            .into_iter()
            .filter(|(_, topics)| {
                topics.values().flat_map(|p| p.values()).any(|slot| {
                    self.slots
                        .get(*slot)
                        .is_some_and(|s| s.state.committed.is_some() || s.state.pending_txns > 0)
                })
            })
            .map(|(group, _)| group.as_str())
            .collect()
    }

    /// The durable pending transactional offsets of `producer_id`, in key order.
    #[must_use]
    pub fn pending_offsets(&self, producer_id: i64) -> Vec<(&OffsetKey, &OffsetAndMetadata)> {
        self.pending
            .get(&producer_id)
            .map(|offsets| offsets.iter().map(|(k, p)| (k, &p.value)).collect())
            .unwrap_or_default()
    }

    /// The live records of the durable state, in stream order: the committed offset of every
    /// partition (as a plain commit at the position of the record that wrote it) and every
    /// pending transactional offset still waiting for its marker. Replaying them gives a store
    /// equal to this one, and later records act on it as on this one.
    #[must_use]
    pub fn live_records(&self) -> Vec<OffsetRecord> {
        let mut out: Vec<(u64, OffsetRecord)> = Vec::new();
        for slot in self.slots.iter().filter(|s| s.live) {
            if let Some(c) = &slot.state.committed {
                out.push((
                    c.seq,
                    OffsetRecord::Commit {
                        key: slot.key.clone(),
                        value: Some(c.value.clone()),
                    },
                ));
            }
        }
        for (producer_id, offsets) in &self.pending {
            for (key, p) in offsets {
                out.push((
                    p.seq,
                    OffsetRecord::TxnCommit {
                        producer_id: *producer_id,
                        key: key.clone(),
                        value: p.value.clone(),
                    },
                ));
            }
        }
        // Stream positions are unique, so this order does not depend on the slots' order.
        out.sort_by_key(|(seq, _)| *seq);
        out.into_iter().map(|(_, r)| r).collect()
    }

    /// Makes a write of `records`, marking the partitions they name as in flight.
    fn issue(&mut self, records: Vec<OffsetRecord>) -> Option<Write> {
        if records.is_empty() {
            return None;
        }
        for record in &records {
            let Some(key) = record_key(record) else {
                self.in_flight_slots.push_back(NO_SLOT);
                continue;
            };
            let slot = slot_for(&mut self.index, &mut self.slots, &mut self.free_slots, key);
            if let Some(s) = self.slots.get_mut(slot) {
                s.state.in_flight += 1;
            }
            self.in_flight_slots.push_back(slot);
            if let OffsetRecord::TxnCommit { producer_id, .. } = record {
                *self.txn_in_flight.entry(*producer_id).or_insert(0) += 1;
            }
        }
        Some(self.make_write(records))
    }

    /// Makes the write of `records`, whose slots were just pushed to `in_flight_slots`.
    fn make_write(&mut self, records: Vec<OffsetRecord>) -> Write {
        let write = Write {
            id: WriteId(self.next_write_id),
            records,
        };
        self.next_write_id += 1;
        write
    }

    fn apply_write(&mut self, write: Write) {
        for record in write.records {
            let seq = self.next_seq;
            self.next_seq += 1;
            let slot = self.in_flight_slots.pop_front().unwrap_or(NO_SLOT);
            self.apply(record, seq, Some(slot));
        }
        self.next_apply_id += 1;
    }

    /// The slot of `key`: `hint` if it holds that key, else found (or made) in the index.
    fn resolve(&mut self, key: &OffsetKey, hint: Option<usize>) -> usize {
        let holds_key = |slot: &usize| {
            self.slots
                .get(*slot)
                .is_some_and(|s| s.live && s.key == *key)
        };
        if let Some(slot) = hint.filter(holds_key) {
            return slot;
        }
        slot_for(&mut self.index, &mut self.slots, &mut self.free_slots, key)
    }

    fn release_txn_in_flight(&mut self, producer_id: i64) {
        let Some(n) = self.txn_in_flight.get_mut(&producer_id) else {
            return;
        };
        *n = n.saturating_sub(1);
        if *n == 0 {
            self.txn_in_flight.remove(&producer_id);
        }
    }

    /// Frees `slot` if its partition no longer holds anything.
    fn release_if_vacant(&mut self, slot: usize) {
        let Some(s) = self.slots.get_mut(slot) else {
            return;
        };
        if !s.live || !s.state.is_vacant() {
            return;
        }
        s.live = false;
        let key = &s.key;
        if let Some(topics) = self.index.get_mut(key.group.as_str()) {
            if let Some(partitions) = topics.get_mut(key.topic.as_str()) {
                partitions.remove(&key.partition);
                if partitions.is_empty() {
                    topics.remove(key.topic.as_str());
                }
            }
            if topics.is_empty() {
                self.index.remove(key.group.as_str());
            }
        }
        self.free_slots.push(slot);
    }

    /// Applies one persisted record at stream position `seq`. `write_slot`: the record comes
    /// from a write of this store (with the slot it named), whose in-flight count it releases.
    fn apply(&mut self, record: OffsetRecord, seq: u64, write_slot: Option<usize>) {
        let from_write = write_slot.is_some();
        let release = |s: &mut PartitionState| {
            if from_write {
                debug_assert!(s.in_flight > 0, "in-flight count underflow");
                s.in_flight = s.in_flight.saturating_sub(1);
            }
        };
        match record {
            OffsetRecord::Commit { key, value } => {
                let slot = self.resolve(&key, write_slot);
                let mut dropped = 0u32;
                if value.is_none() {
                    self.pending.retain(|_, offsets| {
                        if offsets.remove(&key).is_some() {
                            dropped += 1;
                        }
                        !offsets.is_empty()
                    });
                }
                if let Some(s) = self.slots.get_mut(slot) {
                    release(&mut s.state);
                    s.state.committed = value.map(|value| Committed { value, seq });
                    debug_assert!(s.state.pending_txns >= dropped, "pending count underflow");
                    s.state.pending_txns = s.state.pending_txns.saturating_sub(dropped);
                }
                self.release_if_vacant(slot);
            }
            OffsetRecord::TxnCommit {
                producer_id,
                key,
                value,
            } => {
                if from_write {
                    self.release_txn_in_flight(producer_id);
                }
                let slot = self.resolve(&key, write_slot);
                let pending = Pending { value, seq, slot };
                let offsets = self.pending.entry(producer_id).or_default();
                let first = match offsets.get_mut(&key) {
                    Some(p) => {
                        *p = pending;
                        false
                    }
                    None => {
                        offsets.insert(key, pending);
                        true
                    }
                };
                if let Some(s) = self.slots.get_mut(slot) {
                    release(&mut s.state);
                    if first {
                        s.state.pending_txns += 1;
                    }
                }
            }
            OffsetRecord::TxnMarker {
                producer_id,
                committed,
            } => {
                let Some(offsets) = self.pending.remove(&producer_id) else {
                    return;
                };
                for (key, p) in offsets {
                    let slot = self.resolve(&key, Some(p.slot));
                    if let Some(s) = self.slots.get_mut(slot) {
                        let state = &mut s.state;
                        debug_assert!(state.pending_txns > 0, "pending count underflow");
                        state.pending_txns = state.pending_txns.saturating_sub(1);
                        // A commit appended after the transactional one wins (NOTES D.6).
                        if committed && state.committed.as_ref().is_none_or(|c| c.seq < p.seq) {
                            state.committed = Some(Committed {
                                value: p.value,
                                seq: p.seq,
                            });
                        }
                    }
                    self.release_if_vacant(slot);
                }
            }
        }
    }
}

/// The hashed level of the index as a list ordered by group, for every output that lists it.
fn sorted<V>(map: &HashMap<String, V, RandomState>) -> Vec<(&String, &V)> {
    let mut entries: Vec<(&String, &V)> = map.iter().collect();
    entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
    entries
}

fn record_key(record: &OffsetRecord) -> Option<&OffsetKey> {
    match record {
        OffsetRecord::Commit { key, .. } | OffsetRecord::TxnCommit { key, .. } => Some(key),
        OffsetRecord::TxnMarker { .. } => None,
    }
}

fn count_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn lookup(index: &Index, group: &str, topic: &str, partition: i32) -> Option<usize> {
    index
        .get(group)
        .and_then(|topics| topics.get(topic))
        .and_then(|partitions| partitions.get(&partition))
        .copied()
}

/// The slot of `key`, made (vacant) if the index has none.
fn slot_for(
    index: &mut Index,
    slots: &mut Vec<Slot>,
    free_slots: &mut Vec<usize>,
    key: &OffsetKey,
) -> usize {
    let topics = match index.get_mut(key.group.as_str()) {
        Some(topics) => topics,
        None => index.entry(key.group.clone()).or_default(),
    };
    slot_in(topics, slots, free_slots, key)
}

/// The slot of `key` within its group's topics, made (vacant) if missing.
fn slot_in(
    topics: &mut Topics,
    slots: &mut Vec<Slot>,
    free_slots: &mut Vec<usize>,
    key: &OffsetKey,
) -> usize {
    let partitions = match topics.get_mut(key.topic.as_str()) {
        Some(partitions) => partitions,
        None => topics.entry(key.topic.clone()).or_default(),
    };
    if let Some(slot) = partitions.get(&key.partition) {
        return *slot;
    }
    let fresh = Slot {
        key: key.clone(),
        live: true,
        state: PartitionState::default(),
    };
    let slot = match free_slots.pop() {
        Some(slot) if slot < slots.len() => {
            slots[slot] = fresh;
            slot
        }
        _ => {
            slots.push(fresh);
            slots.len() - 1
        }
    };
    partitions.insert(key.partition, slot);
    slot
}

fn fetched(state: &PartitionState, require_stable: bool) -> Fetched<'_> {
    if require_stable && state.is_unstable() {
        return Fetched::Unstable;
    }
    match &state.committed {
        Some(c) => Fetched::Committed(&c.value),
        None => Fetched::NoOffset,
    }
}

fn tombstone(group: &str, topic: &str, partition: i32) -> OffsetRecord {
    OffsetRecord::Commit {
        key: OffsetKey {
            group: group.to_owned(),
            topic: topic.to_owned(),
            partition,
        },
        value: None,
    }
}

/// Kafka counts `offset.metadata.max.bytes` in UTF-16 code units; a string of at most `max`
/// bytes has at most `max` code units, so only longer ones are counted.
fn metadata_too_large(metadata: &str, max: usize) -> bool {
    metadata.len() > max && metadata.encode_utf16().count() > max
}

/// The live records of a record stream: replays it and returns
/// [`OffsetStore::live_records`] (latest commit per key, tombstones and finished
/// transactions dropped, pending transactional offsets kept until their marker).
#[must_use]
pub fn compact(records: impl IntoIterator<Item = OffsetRecord>) -> Vec<OffsetRecord> {
    OffsetStore::replay(OffsetsConfig::default(), records).live_records()
}

#[cfg(test)]
mod tests {
    use super::*;

    const G: &str = "group";
    const T: &str = "topic";

    fn po(partition: i32, offset: i64) -> PartitionOffset {
        PartitionOffset {
            topic: T.into(),
            partition,
            offset,
            leader_epoch: 3,
            metadata: format!("m{offset}"),
        }
    }

    fn store() -> OffsetStore {
        OffsetStore::new(OffsetsConfig {
            metadata_max_bytes: 16,
            retention_ms: 1_000,
        })
    }

    /// Commits and persists; asserts every partition was accepted.
    fn commit(store: &mut OffsetStore, group: &str, offsets: Vec<PartitionOffset>, now_ms: i64) {
        let outcome = store.commit(group, offsets, now_ms);
        assert!(outcome.errors.iter().all(|e| e.is_none()), "{outcome:?}");
        store.persisted(outcome.write.unwrap()).unwrap();
    }

    fn txn_commit(store: &mut OffsetStore, pid: i64, offsets: Vec<PartitionOffset>, now_ms: i64) {
        let outcome = store.txn_commit(pid, G, offsets, now_ms);
        assert!(outcome.errors.iter().all(|e| e.is_none()), "{outcome:?}");
        store.persisted(outcome.write.unwrap()).unwrap();
    }

    fn complete(store: &mut OffsetStore, pid: i64, committed: bool) {
        let write = store.complete_txn(pid, committed).unwrap();
        store.persisted(write).unwrap();
    }

    fn persist(store: &mut OffsetStore, write: Option<Write>) {
        store.persisted(write.unwrap()).unwrap();
    }

    #[test]
    fn commit_is_visible_after_persisted_with_metadata_epoch_and_timestamp() {
        let mut s = store();
        commit(&mut s, G, vec![po(0, 10)], 77);
        match s.fetch(G, T, 0, true) {
            Fetched::Committed(v) => assert_eq!(
                v,
                &OffsetAndMetadata {
                    offset: 10,
                    leader_epoch: 3,
                    metadata: "m10".into(),
                    commit_timestamp_ms: 77
                }
            ),
            other => panic!("{other:?}"),
        }
        assert_eq!(s.groups(), vec![G]);
    }

    #[test]
    fn fetch_of_unknown_group_or_partition_is_no_offset() {
        let mut s = store();
        commit(&mut s, G, vec![po(0, 10)], 0);
        for f in [
            s.fetch("other", T, 0, true),
            s.fetch(G, "other", 0, true),
            s.fetch(G, T, 1, true),
        ] {
            assert_eq!(f, Fetched::NoOffset);
            assert_eq!(
                (f.offset(), f.leader_epoch(), f.metadata(), f.error_code()),
                (-1, -1, "", ErrorCode::None)
            );
        }
    }

    #[test]
    fn fetch_require_stable_while_commit_is_being_written_returns_unstable_offset_commit() {
        let mut s = store();
        commit(&mut s, G, vec![po(0, 10)], 0);
        let write = s.commit(G, vec![po(0, 20)], 0).write.unwrap();
        let f = s.fetch(G, T, 0, true);
        assert_eq!(f, Fetched::Unstable);
        assert_eq!(f.error_code(), ErrorCode::UnstableOffsetCommit);
        assert_eq!(f.error_code().code(), 88);
        assert_eq!(f.offset(), -1);
        // Without RequireStable the durable value is still answered.
        assert_eq!(s.fetch(G, T, 0, false).offset(), 10);
        s.persisted(write).unwrap();
        assert_eq!(s.fetch(G, T, 0, true).offset(), 20);
    }

    #[test]
    fn commit_with_metadata_over_limit_returns_offset_metadata_too_large() {
        let mut s = store();
        let mut too_large = po(1, 5);
        too_large.metadata = "x".repeat(17);
        let mut at_limit = po(2, 5);
        at_limit.metadata = "x".repeat(16);
        let outcome = s.commit(G, vec![po(0, 5), too_large, at_limit], 0);
        assert_eq!(
            outcome.errors,
            vec![
                ErrorCode::None,
                ErrorCode::OffsetMetadataTooLarge,
                ErrorCode::None
            ]
        );
        assert_eq!(ErrorCode::OffsetMetadataTooLarge.code(), 12);
        let write = outcome.write.unwrap();
        assert_eq!(write.records().len(), 2);
        s.persisted(write).unwrap();
        assert_eq!(s.fetch(G, T, 1, true), Fetched::NoOffset);
        assert_eq!(s.fetch(G, T, 2, true).offset(), 5);
    }

    #[test]
    fn metadata_limit_counts_utf16_code_units_like_kafka() {
        let mut s = store();
        let mut p = po(0, 5);
        p.metadata = "é".repeat(16); // 32 bytes, 16 UTF-16 units
        let outcome = s.commit(G, vec![p], 0);
        assert_eq!(outcome.errors, vec![ErrorCode::None]);
        let mut p = po(0, 5);
        p.metadata = "é".repeat(17);
        assert_eq!(
            s.commit(G, vec![p], 0).errors,
            vec![ErrorCode::OffsetMetadataTooLarge]
        );
    }

    #[test]
    fn commit_with_topic_longer_than_a_record_allows_returns_invalid_commit_offset_size() {
        let mut s = store();
        let mut p = po(0, 5);
        p.topic = "t".repeat(MAX_STRING_BYTES + 1);
        let outcome = s.commit(G, vec![p], 0);
        assert_eq!(outcome.errors, vec![ErrorCode::InvalidCommitOffsetSize]);
        assert_eq!(ErrorCode::InvalidCommitOffsetSize.code(), 28);
        assert!(outcome.write.is_none());
        let long_group = "g".repeat(MAX_STRING_BYTES + 1);
        let outcome = s.commit(&long_group, vec![po(0, 5)], 0);
        assert_eq!(outcome.errors, vec![ErrorCode::InvalidCommitOffsetSize]);
    }

    #[test]
    fn txn_commit_with_empty_group_id_returns_invalid_group_id() {
        let mut s = store();
        let outcome = s.txn_commit(1, "", vec![po(0, 5), po(1, 6)], 0);
        assert_eq!(outcome.errors, vec![ErrorCode::InvalidGroupId; 2]);
        assert_eq!(ErrorCode::InvalidGroupId.code(), 24);
        assert!(outcome.write.is_none());
        assert!(s.complete_txn(1, true).is_none());
    }

    #[test]
    fn commit_with_empty_group_id_is_accepted() {
        let mut s = store();
        commit(&mut s, "", vec![po(0, 5)], 0);
        assert_eq!(s.fetch("", T, 0, true).offset(), 5);
    }

    #[test]
    fn fetch_require_stable_with_pending_txn_offset_returns_unstable_offset_commit() {
        let mut s = store();
        commit(&mut s, G, vec![po(0, 10)], 0);
        txn_commit(&mut s, 7, vec![po(0, 20), po(1, 30)], 0);
        assert_eq!(s.fetch(G, T, 0, true), Fetched::Unstable);
        assert_eq!(s.fetch(G, T, 1, true), Fetched::Unstable);
        assert_eq!(s.fetch(G, T, 0, false).offset(), 10);
        assert_eq!(s.fetch(G, T, 1, false), Fetched::NoOffset);
        assert_eq!(s.pending_offsets(7).len(), 2);
        // fetch_all lists the unstable partitions only when RequireStable is set.
        assert_eq!(s.fetch_all(G, false).len(), 1);
        let all = s.fetch_all(G, true);
        assert_eq!(all.len(), 2);
        assert!(all.iter().all(|o| o.fetched == Fetched::Unstable));
    }

    #[test]
    fn txn_commit_marker_makes_pending_offsets_visible() {
        let mut s = store();
        txn_commit(&mut s, 7, vec![po(0, 20)], 0);
        let marker = s.complete_txn(7, true).unwrap();
        // The marker is being written: still pending.
        assert_eq!(s.fetch(G, T, 0, true), Fetched::Unstable);
        s.persisted(marker).unwrap();
        assert_eq!(s.fetch(G, T, 0, true).offset(), 20);
        assert!(s.pending_offsets(7).is_empty());
    }

    #[test]
    fn txn_abort_marker_drops_pending_offsets_and_keeps_previous() {
        let mut s = store();
        commit(&mut s, G, vec![po(0, 10)], 0);
        txn_commit(&mut s, 7, vec![po(0, 20), po(1, 30)], 0);
        complete(&mut s, 7, false);
        assert_eq!(s.fetch(G, T, 0, true).offset(), 10);
        assert_eq!(s.fetch(G, T, 1, true), Fetched::NoOffset);
        assert!(s.pending_offsets(7).is_empty());
        assert!(s.complete_txn(7, false).is_none(), "nothing left to mark");
    }

    #[test]
    fn plain_commit_written_after_txn_commit_wins_at_commit_marker() {
        let mut s = store();
        txn_commit(&mut s, 7, vec![po(0, 20)], 0);
        commit(&mut s, G, vec![po(0, 25)], 0);
        complete(&mut s, 7, true);
        assert_eq!(s.fetch(G, T, 0, true).offset(), 25);
    }

    #[test]
    fn txn_commit_written_after_plain_commit_wins_at_commit_marker() {
        let mut s = store();
        commit(&mut s, G, vec![po(0, 25)], 0);
        txn_commit(&mut s, 7, vec![po(0, 20)], 0);
        complete(&mut s, 7, true);
        assert_eq!(s.fetch(G, T, 0, true).offset(), 20);
    }

    #[test]
    fn earlier_txn_commit_loses_to_later_txn_commit_of_another_producer() {
        let mut s = store();
        txn_commit(&mut s, 1, vec![po(0, 10)], 0);
        txn_commit(&mut s, 2, vec![po(0, 20)], 0);
        complete(&mut s, 2, true);
        assert_eq!(s.fetch(G, T, 0, true), Fetched::Unstable, "producer 1 open");
        complete(&mut s, 1, true);
        assert_eq!(s.fetch(G, T, 0, true).offset(), 20);
    }

    #[test]
    fn complete_txn_of_unknown_producer_returns_none() {
        let mut s = store();
        assert!(s.complete_txn(3, true).is_none());
    }

    #[test]
    fn complete_txn_while_txn_records_are_in_flight_applies_after_them() {
        let mut s = store();
        let txn = s.txn_commit(7, G, vec![po(0, 20)], 0).write.unwrap();
        let marker = s.complete_txn(7, true).unwrap();
        // Handed back out of order: the marker waits for the earlier write.
        s.persisted(marker).unwrap();
        assert_eq!(s.writes_in_flight(), 2);
        assert_eq!(s.fetch(G, T, 0, false), Fetched::NoOffset);
        s.persisted(txn).unwrap();
        assert_eq!(s.writes_in_flight(), 0);
        assert_eq!(s.fetch(G, T, 0, true).offset(), 20);
    }

    #[test]
    fn persisted_twice_returns_unknown_write() {
        let mut s = store();
        let a = s.commit(G, vec![po(0, 1)], 0).write.unwrap();
        let mut other = store();
        let b = other.commit(G, vec![po(0, 1)], 0).write.unwrap();
        let id = a.id().get();
        s.persisted(a).unwrap();
        assert_eq!(s.persisted(b), Err(OffsetsError::UnknownWrite { id }));
        let mut fresh = store();
        let c = s.commit(G, vec![po(0, 2)], 0).write.unwrap();
        assert_eq!(
            fresh.persisted(c),
            Err(OffsetsError::UnknownWrite { id: 1 })
        );
    }

    #[test]
    fn persisted_out_of_order_applies_in_write_order() {
        let mut s = store();
        let first = s.commit(G, vec![po(0, 1)], 0).write.unwrap();
        let second = s.commit(G, vec![po(0, 2)], 0).write.unwrap();
        assert!(first.id() < second.id());
        s.persisted(second).unwrap();
        assert_eq!(s.fetch(G, T, 0, false), Fetched::NoOffset);
        s.persisted(first).unwrap();
        assert_eq!(s.fetch(G, T, 0, true).offset(), 2);
    }

    #[test]
    fn delete_offsets_removes_committed_and_pending_offsets() {
        let mut s = store();
        commit(&mut s, G, vec![po(0, 1), po(1, 1)], 0);
        txn_commit(&mut s, 7, vec![po(0, 5)], 0);
        let write = s.delete_offsets(G, [(T, 0), (T, 9), ("nope", 0)]).unwrap();
        assert_eq!(write.records().len(), 1);
        assert_eq!(s.fetch(G, T, 0, true), Fetched::Unstable);
        s.persisted(write).unwrap();
        assert_eq!(s.fetch(G, T, 0, true), Fetched::NoOffset);
        assert!(s.pending_offsets(7).is_empty());
        assert_eq!(s.fetch(G, T, 1, true).offset(), 1);
        // The marker finds nothing left to commit.
        assert!(s.complete_txn(7, true).is_none());
        assert!(s.delete_offsets("unknown", [(T, 0)]).is_none());
    }

    #[test]
    fn delete_group_removes_every_offset_of_the_group() {
        let mut s = store();
        commit(&mut s, G, vec![po(0, 1), po(1, 1)], 0);
        commit(&mut s, "other", vec![po(0, 1)], 0);
        let w = s.delete_group(G);
        persist(&mut s, w);
        assert_eq!(s.groups(), vec!["other"]);
        assert!(s.fetch_all(G, true).is_empty());
        assert!(s.delete_group(G).is_none());
    }

    #[test]
    fn commit_in_flight_before_delete_is_removed_by_the_later_tombstone() {
        let mut s = store();
        let commit_write = s.commit(G, vec![po(0, 1)], 0).write.unwrap();
        let delete = s.delete_offsets(G, [(T, 0)]).unwrap();
        s.persisted(delete).unwrap();
        s.persisted(commit_write).unwrap();
        assert_eq!(s.fetch(G, T, 0, true), Fetched::NoOffset);
    }

    #[test]
    fn standalone_offsets_expire_per_commit_time() {
        let mut s = store();
        commit(&mut s, G, vec![po(0, 1)], 0);
        commit(&mut s, G, vec![po(1, 1)], 500);
        assert!(s.expire(999).is_none());
        let write = s.expire(1_000).unwrap();
        assert_eq!(write.records().len(), 1);
        assert!(s.expire(1_000).is_none(), "being expired already");
        s.persisted(write).unwrap();
        assert_eq!(s.fetch(G, T, 0, true), Fetched::NoOffset);
        assert_eq!(s.fetch(G, T, 1, true).offset(), 1);
        let w = s.expire(1_500);
        persist(&mut s, w);
        assert!(s.groups().is_empty());
    }

    #[test]
    fn empty_group_offsets_expire_retention_after_it_became_empty() {
        let mut s = store();
        commit(&mut s, G, vec![po(0, 1)], 0);
        s.set_group_activity(G, GroupActivity::Empty { since_ms: 5_000 });
        assert!(s.expire(5_999).is_none(), "commit time does not count");
        let w = s.expire(6_000);
        persist(&mut s, w);
        assert_eq!(s.fetch(G, T, 0, false), Fetched::NoOffset);
    }

    #[test]
    fn active_group_offsets_do_not_expire_unless_unsubscribed() {
        let mut s = store();
        let mut other_topic = po(0, 1);
        other_topic.topic = "old".into();
        commit(&mut s, G, vec![po(0, 1), other_topic], 0);
        s.set_group_activity(
            G,
            GroupActivity::Active {
                subscribed_topics: None,
            },
        );
        assert!(s.expire(1_000_000).is_none());
        s.set_group_activity(
            G,
            GroupActivity::Active {
                subscribed_topics: Some([T.to_string()].into()),
            },
        );
        let write = s.expire(1_000).unwrap();
        assert_eq!(write.records().len(), 1);
        s.persisted(write).unwrap();
        assert_eq!(s.fetch(G, "old", 0, false), Fetched::NoOffset);
        assert_eq!(s.fetch(G, T, 0, false).offset(), 1);
    }

    #[test]
    fn pending_and_in_flight_offsets_never_expire() {
        let mut s = store();
        commit(&mut s, G, vec![po(0, 1), po(1, 1)], 0);
        txn_commit(&mut s, 7, vec![po(0, 2)], 0);
        let in_flight = s.commit(G, vec![po(1, 2)], 0).write.unwrap();
        assert!(s.expire(10_000).is_none());
        s.persisted(in_flight).unwrap();
        complete(&mut s, 7, false);
        assert_eq!(s.expire(10_000).unwrap().records().len(), 2);
    }

    #[test]
    fn replay_of_persisted_records_and_of_live_records_rebuild_the_store() {
        let mut s = store();
        let mut log = Vec::new();
        let mut run = |s: &mut OffsetStore, write: Option<Write>| {
            let write = write.unwrap();
            log.extend(write.records().iter().cloned());
            s.persisted(write).unwrap();
        };
        let w = s.commit(G, vec![po(0, 1), po(1, 1)], 0).write;
        run(&mut s, w);
        let w = s.txn_commit(1, G, vec![po(0, 5)], 1).write;
        run(&mut s, w);
        let w = s.txn_commit(2, G, vec![po(0, 6), po(2, 6)], 2).write;
        run(&mut s, w);
        let w = s.complete_txn(2, true);
        run(&mut s, w);
        let w = s.delete_offsets(G, [(T, 1)]);
        run(&mut s, w);
        let w = s.commit("other", vec![po(0, 9)], 3).write;
        run(&mut s, w);

        let replayed = OffsetStore::replay(OffsetsConfig::default(), log.clone());
        assert_eq!(replayed.live_records(), s.live_records());
        let live = compact(log);
        assert_eq!(live, s.live_records());
        // Producer 1's pending offset was written before producer 2's committed one.
        assert!(matches!(
            live[0],
            OffsetRecord::TxnCommit { producer_id: 1, .. }
        ));
        let mut from_live = OffsetStore::replay(OffsetsConfig::default(), live);
        // Later records act the same on both: producer 1's commit loses to the later one.
        let w = s.complete_txn(1, true);
        persist(&mut s, w);
        let w = from_live.complete_txn(1, true);
        persist(&mut from_live, w);
        assert_eq!(from_live.live_records(), s.live_records());
        assert_eq!(s.fetch(G, T, 0, true).offset(), 6);
    }

    #[test]
    fn compaction_keeps_a_pending_txn_offset_after_the_earlier_commit_it_will_replace() {
        let mut s = store();
        commit(&mut s, G, vec![po(0, 1)], 0);
        txn_commit(&mut s, 7, vec![po(0, 2)], 0);
        let mut compacted = OffsetStore::replay(OffsetsConfig::default(), s.live_records());
        complete(&mut s, 7, true);
        complete(&mut compacted, 7, true);
        assert_eq!(s.fetch(G, T, 0, true).offset(), 2);
        assert_eq!(compacted.fetch(G, T, 0, true).offset(), 2);
    }

    #[test]
    fn listings_are_in_group_order_whatever_the_commit_order() {
        let names: Vec<String> = (0..40).map(|g| format!("group-{g:02}")).collect();
        let expired = |order: &mut dyn Iterator<Item = &String>| {
            let mut s = store();
            for group in order {
                commit(&mut s, group, vec![po(1, 1), po(0, 1)], 0);
            }
            assert_eq!(
                s.groups(),
                names.iter().map(String::as_str).collect::<Vec<_>>()
            );
            let write = s.expire(10_000).unwrap();
            let keys: Vec<(String, i32)> = write
                .records()
                .iter()
                .map(|r| match r {
                    OffsetRecord::Commit { key, value: None } => (key.group.clone(), key.partition),
                    other => panic!("not a tombstone: {other:?}"),
                })
                .collect();
            persist(&mut s, Some(write));
            keys
        };
        let forward = expired(&mut names.iter());
        let mut want: Vec<(String, i32)> = Vec::new();
        for group in &names {
            want.push((group.clone(), 0));
            want.push((group.clone(), 1));
        }
        assert_eq!(forward, want);
        assert_eq!(expired(&mut names.iter().rev()), want);
        assert_eq!(
            expired(
                &mut names
                    .iter()
                    .step_by(3)
                    .chain(names.iter().skip(1).step_by(3))
                    .chain(names.iter().skip(2).step_by(3))
            ),
            want
        );
    }
}
