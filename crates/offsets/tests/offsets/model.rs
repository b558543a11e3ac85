//! Model-based property test (firezone style): random operations drive the real
//! [`OffsetStore`] and a reference model, with writes handed back out of order, restarts
//! (replay of the persisted bytes) and compactions, and the invariants are checked after
//! every step.
//!
//! The model is declarative: it keeps the persisted record stream as a plain `Vec` and answers
//! every question by scanning it, using the rules of NOTES D.6/E.7/E.8 as stated there, not
//! the store's incremental bookkeeping.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use semel_offsets::{
    ErrorCode, Fetched, GroupActivity, OffsetAndMetadata, OffsetKey, OffsetRecord, OffsetStore,
    OffsetsConfig, PartitionOffset, Write, compact,
};

const GROUPS: [&str; 3] = ["", "g1", "g2"];
const TOPICS: [&str; 2] = ["a", "b"];
const PARTITIONS: i32 = 2;
const METADATA_MAX: usize = 8;
const RETENTION_MS: i64 = 1_000;

fn config() -> OffsetsConfig {
    OffsetsConfig {
        metadata_max_bytes: METADATA_MAX,
        retention_ms: RETENTION_MS,
    }
}

fn all_keys() -> Vec<OffsetKey> {
    let mut keys = Vec::new();
    for group in GROUPS {
        for topic in TOPICS {
            for partition in 0..PARTITIONS {
                keys.push(key(group, topic, partition));
            }
        }
    }
    keys
}

fn key(group: &str, topic: &str, partition: i32) -> OffsetKey {
    OffsetKey {
        group: group.into(),
        topic: topic.into(),
        partition,
    }
}

#[derive(Debug, Clone)]
struct Part {
    topic: usize,
    partition: i32,
    offset: i64,
    leader_epoch: i32,
    metadata_len: usize,
}

#[derive(Debug, Clone)]
enum Op {
    Commit {
        group: usize,
        parts: Vec<Part>,
    },
    TxnCommit {
        pid: i64,
        group: usize,
        parts: Vec<Part>,
    },
    CompleteTxn {
        pid: i64,
        committed: bool,
    },
    DeleteOffsets {
        group: usize,
        parts: Vec<(usize, i32)>,
    },
    DeleteGroup {
        group: usize,
    },
    SetActivity {
        group: usize,
        activity: u8,
    },
    Advance {
        ms: i64,
    },
    Expire,
    Persist {
        pick: usize,
    },
    PersistAll,
    Restart,
    Compact,
}

fn part() -> impl Strategy<Value = Part> + Clone {
    (
        0..TOPICS.len(),
        0..PARTITIONS,
        0i64..1_000,
        -1i32..3,
        0..=METADATA_MAX + 2,
    )
        .prop_map(
            |(topic, partition, offset, leader_epoch, metadata_len)| Part {
                topic,
                partition,
                offset,
                leader_epoch,
                metadata_len,
            },
        )
}

fn op() -> impl Strategy<Value = Op> {
    let group = 0..GROUPS.len();
    let parts = prop::collection::vec(part(), 1..4);
    prop_oneof![
        6 => (group.clone(), parts.clone()).prop_map(|(group, parts)| Op::Commit { group, parts }),
        5 => (1i64..4, group.clone(), parts)
            .prop_map(|(pid, group, parts)| Op::TxnCommit { pid, group, parts }),
        3 => (1i64..4, any::<bool>()).prop_map(|(pid, committed)| Op::CompleteTxn { pid, committed }),
        1 => (group.clone(), prop::collection::vec((0..TOPICS.len(), 0..PARTITIONS), 1..3))
            .prop_map(|(group, parts)| Op::DeleteOffsets { group, parts }),
        1 => group.clone().prop_map(|group| Op::DeleteGroup { group }),
        2 => (group, 0u8..4).prop_map(|(group, activity)| Op::SetActivity { group, activity }),
        3 => (0i64..700).prop_map(|ms| Op::Advance { ms }),
        2 => Just(Op::Expire),
        8 => any::<usize>().prop_map(|pick| Op::Persist { pick }),
        2 => Just(Op::PersistAll),
        2 => Just(Op::Restart),
        3 => Just(Op::Compact),
    ]
}

/// A write of the store, with what the model expects it to hold.
struct InFlight {
    write: Option<Write>,
    records: Vec<OffsetRecord>,
    bytes: Vec<Vec<u8>>,
    handed_back: bool,
}

#[derive(Default)]
struct Model {
    /// The persisted record stream, in order (never compacted: it is the truth).
    log: Vec<OffsetRecord>,
    in_flight: Vec<InFlight>,
    activity: BTreeMap<String, GroupActivity>,
}

impl Model {
    /// The committed value of `k`: among plain commits and transactional commits whose
    /// producer's next marker is a COMMIT (and not superseded by a later record of the same
    /// transaction), the one written last, if no tombstone came after it.
    fn committed(&self, k: &OffsetKey) -> Option<&OffsetAndMetadata> {
        let last_delete = self
            .log
            .iter()
            .rposition(|r| matches!(r, OffsetRecord::Commit { key, value: None } if key == k));
        let mut best = None;
        for (i, r) in self.log.iter().enumerate() {
            if last_delete.is_some_and(|d| i < d) {
                continue;
            }
            match r {
                OffsetRecord::Commit {
                    key,
                    value: Some(v),
                } if key == k => best = Some(v),
                OffsetRecord::TxnCommit {
                    producer_id,
                    key,
                    value,
                } if key == k && self.txn_outcome(i, *producer_id, k) == Some(true) => {
                    best = Some(value);
                }
                _ => {}
            }
        }
        best
    }

    /// How the transactional record at `i` ended: `Some(committed)` from its producer's next
    /// marker, `None` while it waits (or when a later record of its transaction replaced it).
    fn txn_outcome(&self, i: usize, pid: i64, k: &OffsetKey) -> Option<bool> {
        for r in &self.log[i + 1..] {
            match r {
                OffsetRecord::TxnMarker {
                    producer_id,
                    committed,
                } if *producer_id == pid => return Some(*committed),
                OffsetRecord::TxnCommit {
                    producer_id, key, ..
                } if *producer_id == pid && key == k => return None,
                _ => {}
            }
        }
        None
    }

    /// Durable pending offsets of `pid`: its transactional records with no marker after them,
    /// latest per key, not deleted by a later tombstone.
    fn pending(&self, pid: i64) -> BTreeMap<OffsetKey, OffsetAndMetadata> {
        let mut out = BTreeMap::new();
        for r in &self.log {
            match r {
                OffsetRecord::TxnCommit {
                    producer_id,
                    key,
                    value,
                } if *producer_id == pid => {
                    out.insert(key.clone(), value.clone());
                }
                OffsetRecord::TxnMarker { producer_id, .. } if *producer_id == pid => out.clear(),
                OffsetRecord::Commit { key, value: None } => {
                    out.remove(key);
                }
                _ => {}
            }
        }
        out
    }

    fn has_pending(&self, k: &OffsetKey) -> bool {
        (1..4).any(|pid| self.pending(pid).contains_key(k))
    }

    fn touched_in_flight(&self, k: &OffsetKey) -> bool {
        self.in_flight
            .iter()
            .flat_map(|w| &w.records)
            .any(|r| match r {
                OffsetRecord::Commit { key, .. } | OffsetRecord::TxnCommit { key, .. } => key == k,
                OffsetRecord::TxnMarker { .. } => false,
            })
    }

    fn unstable(&self, k: &OffsetKey) -> bool {
        self.has_pending(k) || self.touched_in_flight(k)
    }

    /// Partitions the store knows (committed, pending or in flight).
    fn known(&self, k: &OffsetKey) -> bool {
        self.committed(k).is_some() || self.unstable(k)
    }

    fn expected_fetch(&self, k: &OffsetKey, require_stable: bool) -> Fetched<'_> {
        if require_stable && self.unstable(k) {
            return Fetched::Unstable;
        }
        match self.committed(k) {
            Some(v) => Fetched::Committed(v),
            None => Fetched::NoOffset,
        }
    }

    fn expired(&self, now_ms: i64) -> Vec<OffsetRecord> {
        let mut out = Vec::new();
        for k in all_keys() {
            let Some(v) = self.committed(&k) else {
                continue;
            };
            if self.unstable(&k) {
                continue;
            }
            let base = match self.activity.get(&k.group) {
                None | Some(GroupActivity::Standalone) => Some(v.commit_timestamp_ms),
                Some(GroupActivity::Empty { since_ms }) => Some(*since_ms),
                Some(GroupActivity::Active {
                    subscribed_topics: Some(topics),
                }) if !topics.contains(&k.topic) => Some(v.commit_timestamp_ms),
                Some(GroupActivity::Active { .. }) => None,
            };
            if base.is_some_and(|b| now_ms - b >= RETENTION_MS) {
                out.push(OffsetRecord::Commit {
                    key: k,
                    value: None,
                });
            }
        }
        out
    }
}

struct Harness {
    store: OffsetStore,
    model: Model,
    /// The persisted bytes, as a log would hold them.
    disk: Vec<Vec<u8>>,
    now_ms: i64,
}

impl Harness {
    fn new() -> Self {
        Self {
            store: OffsetStore::new(config()),
            model: Model::default(),
            disk: Vec::new(),
            now_ms: 0,
        }
    }

    /// Checks the write the store made against the records the model expects, and tracks it.
    fn track(&mut self, write: Option<Write>, expected: Vec<OffsetRecord>) {
        match write {
            None => assert!(expected.is_empty(), "expected a write of {expected:?}"),
            Some(write) => {
                assert_eq!(write.records(), expected.as_slice());
                let bytes = write
                    .records()
                    .iter()
                    .map(|r| {
                        let b = r.encode().unwrap();
                        assert_eq!(b.len(), r.encoded_len());
                        b
                    })
                    .collect();
                self.model.in_flight.push(InFlight {
                    write: Some(write),
                    records: expected,
                    bytes,
                    handed_back: false,
                });
            }
        }
    }

    fn commit(&mut self, pid: Option<i64>, group: usize, parts: &[Part]) {
        let group = GROUPS[group];
        let offsets: Vec<PartitionOffset> = parts
            .iter()
            .map(|p| PartitionOffset {
                topic: TOPICS[p.topic].into(),
                partition: p.partition,
                offset: p.offset,
                leader_epoch: p.leader_epoch,
                metadata: "m".repeat(p.metadata_len),
            })
            .collect();
        let mut errors = Vec::new();
        let mut expected = Vec::new();
        for p in &offsets {
            let error = if pid.is_some() && group.is_empty() {
                ErrorCode::InvalidGroupId
            } else if p.metadata.len() > METADATA_MAX {
                ErrorCode::OffsetMetadataTooLarge
            } else {
                ErrorCode::None
            };
            errors.push(error);
            if error != ErrorCode::None {
                continue;
            }
            let key = key(group, &p.topic, p.partition);
            let value = OffsetAndMetadata {
                offset: p.offset,
                leader_epoch: p.leader_epoch,
                metadata: p.metadata.clone(),
                commit_timestamp_ms: self.now_ms,
            };
            expected.push(match pid {
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
        let outcome = match pid {
            None => self.store.commit(group, offsets, self.now_ms),
            Some(pid) => self.store.txn_commit(pid, group, offsets, self.now_ms),
        };
        assert_eq!(outcome.errors, errors);
        self.track(outcome.write, expected);
    }

    fn apply(&mut self, op: &Op) {
        match op {
            Op::Commit { group, parts } => self.commit(None, *group, parts),
            Op::TxnCommit { pid, group, parts } => self.commit(Some(*pid), *group, parts),
            Op::CompleteTxn { pid, committed } => {
                let needed = !self.model.pending(*pid).is_empty()
                    || self.model.in_flight.iter().flat_map(|w| &w.records).any(|r| {
                        matches!(r, OffsetRecord::TxnCommit { producer_id, .. } if producer_id == pid)
                    });
                let expected = if needed {
                    vec![OffsetRecord::TxnMarker {
                        producer_id: *pid,
                        committed: *committed,
                    }]
                } else {
                    Vec::new()
                };
                let write = self.store.complete_txn(*pid, *committed);
                self.track(write, expected);
            }
            Op::DeleteOffsets { group, parts } => {
                let group = GROUPS[*group];
                let expected = parts
                    .iter()
                    .map(|(t, p)| key(group, TOPICS[*t], *p))
                    .filter(|k| self.model.known(k))
                    .map(|key| OffsetRecord::Commit { key, value: None })
                    .collect();
                let write = self
                    .store
                    .delete_offsets(group, parts.iter().map(|(t, p)| (TOPICS[*t], *p)));
                self.track(write, expected);
            }
            Op::DeleteGroup { group } => {
                let group = GROUPS[*group];
                let expected = all_keys()
                    .into_iter()
                    .filter(|k| k.group == group && self.model.known(k))
                    .map(|key| OffsetRecord::Commit { key, value: None })
                    .collect();
                self.model.activity.remove(group);
                let write = self.store.delete_group(group);
                self.track(write, expected);
            }
            Op::SetActivity { group, activity } => {
                let activity = match activity {
                    0 => GroupActivity::Standalone,
                    1 => GroupActivity::Empty {
                        since_ms: self.now_ms,
                    },
                    2 => GroupActivity::Active {
                        subscribed_topics: None,
                    },
                    _ => GroupActivity::Active {
                        subscribed_topics: Some(BTreeSet::from([TOPICS[0].to_string()])),
                    },
                };
                self.model
                    .activity
                    .insert(GROUPS[*group].into(), activity.clone());
                self.store.set_group_activity(GROUPS[*group], activity);
            }
            Op::Advance { ms } => self.now_ms += ms,
            Op::Expire => {
                let expected = self.model.expired(self.now_ms);
                let write = self.store.expire(self.now_ms);
                self.track(write, expected);
            }
            Op::Persist { pick } => {
                if !self.model.in_flight.is_empty() {
                    let n = self.model.in_flight.len();
                    self.hand_back(pick % n);
                }
            }
            Op::PersistAll => {
                // Newest first: the store must hold them until the oldest arrives.
                for i in (0..self.model.in_flight.len()).rev() {
                    self.hand_back(i);
                }
            }
            Op::Restart => self.restart(false),
            Op::Compact => self.restart(true),
        }
    }

    fn hand_back(&mut self, i: usize) {
        let entry = &mut self.model.in_flight[i];
        if entry.handed_back {
            return;
        }
        entry.handed_back = true;
        let write = entry.write.take().unwrap();
        self.store.persisted(write).unwrap();
        // The model applies writes in order once every earlier one is back.
        while self.model.in_flight.first().is_some_and(|w| w.handed_back) {
            let w = self.model.in_flight.remove(0);
            self.model.log.extend(w.records);
            self.disk.extend(w.bytes);
        }
    }

    /// A crash: writes not yet applied are lost; the store is rebuilt from the disk bytes
    /// (compacted first if `compact_first`); the broker tells it the group activity again.
    fn restart(&mut self, compact_first: bool) {
        self.model.in_flight.clear();
        let records: Vec<OffsetRecord> = self
            .disk
            .iter()
            .map(|b| OffsetRecord::decode(b).unwrap())
            .collect();
        let records = if compact_first {
            let live = compact(records);
            self.disk = live.iter().map(|r| r.encode().unwrap()).collect();
            live
        } else {
            records
        };
        self.store = OffsetStore::replay(config(), records);
        for (group, activity) in &self.model.activity {
            self.store.set_group_activity(group, activity.clone());
        }
    }

    fn check_invariants(&self) {
        let (store, model) = (&self.store, &self.model);
        // Fetch always returns the latest committed value; pending transactional offsets are
        // invisible until their marker; RequireStable sees them (and writes in flight).
        for k in all_keys() {
            for require_stable in [false, true] {
                let want = model.expected_fetch(&k, require_stable);
                assert_eq!(
                    store.fetch(&k.group, &k.topic, k.partition, require_stable),
                    want,
                    "fetch {k:?} require_stable={require_stable}"
                );
                assert_eq!(
                    store
                        .group(&k.group)
                        .fetch(&k.topic, k.partition, require_stable),
                    want
                );
            }
        }
        for group in GROUPS {
            for require_stable in [false, true] {
                let got: Vec<_> = store
                    .fetch_all(group, require_stable)
                    .into_iter()
                    .map(|o| (key(group, o.topic, o.partition), o.fetched))
                    .collect();
                let want: Vec<_> = all_keys()
                    .into_iter()
                    .filter(|k| k.group == group)
                    .map(|k| {
                        let f = model.expected_fetch(&k, require_stable);
                        (k, f)
                    })
                    .filter(|(_, f)| *f != Fetched::NoOffset)
                    .collect();
                assert_eq!(got, want, "fetch_all {group:?}");
            }
        }
        // Pending offsets are exactly the unresolved ones; an abort leaves none behind.
        for pid in 1..4 {
            let got: BTreeMap<OffsetKey, OffsetAndMetadata> = store
                .pending_offsets(pid)
                .into_iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            assert_eq!(got, model.pending(pid), "pending of producer {pid}");
        }
        let groups: Vec<&str> = GROUPS
            .into_iter()
            .filter(|g| {
                all_keys().iter().any(|k| {
                    k.group == *g && (model.committed(k).is_some() || model.has_pending(k))
                })
            })
            .collect();
        assert_eq!(store.groups(), groups);
        assert_eq!(store.writes_in_flight(), model.in_flight.len() as u64);
        // Compaction is a fixed point and keeps at most one plain commit per key.
        let live = store.live_records();
        let replayed = OffsetStore::replay(config(), live.clone());
        assert_eq!(replayed.live_records(), live);
        let mut seen = BTreeSet::new();
        for r in &live {
            match r {
                OffsetRecord::Commit { key, value } => {
                    assert!(value.is_some(), "live tombstone");
                    assert!(seen.insert(key.clone()), "two live commits of {key:?}");
                }
                OffsetRecord::TxnCommit { .. } => {}
                OffsetRecord::TxnMarker { .. } => panic!("live marker"),
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn store_matches_model_across_restarts_and_compactions(ops in prop::collection::vec(op(), 1..60)) {
        let mut h = Harness::new();
        h.check_invariants();
        for op in &ops {
            h.apply(op);
            h.check_invariants();
        }
        // Finally: everything persisted, restarted, compacted, must still agree.
        h.apply(&Op::PersistAll);
        h.check_invariants();
        h.apply(&Op::Restart);
        h.check_invariants();
        h.apply(&Op::Compact);
        h.check_invariants();
    }
}
