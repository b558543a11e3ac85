//! Model-based test of the coordinator (firezone style): random interleavings of clients of
//! two transactional ids (some fenced by newer epochs), persistence confirmed in any order or
//! failed, marker reports delivered partially, late or twice, time passing (timeouts,
//! expiry) and restarts by replay. Invariants are checked after every step:
//!
//! - replaying the persisted log gives exactly the coordinator's state;
//! - every persisted record is a transition Kafka allows from the id's previous state;
//! - a fenced producer never gets NONE for AddPartitions/AddOffsets/EndTxn(commit);
//! - a transaction reaches Complete* only after every partition of it got its marker, and
//!   its Prepare record holds every partition successfully added;
//! - each transaction completes at most once, and (checked at the end, after driving the
//!   system to quiescence) exactly once.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use semel_txn::{
    Completion, CoordinatorConfig, Effect, ErrorCode, InitProducerIdResponse, Reply,
    TopicPartition, TransactionCoordinator, TransitionId, TxnLogRecord, TxnResult, TxnState,
    WriteMarkers,
};

const IDS: [&str; 2] = ["t0", "t1"];
const CLIENTS: usize = 3;
const TIMEOUT_MS: i32 = 10_000;
const EXPIRATION_MS: i64 = 50_000;

fn config() -> CoordinatorConfig {
    CoordinatorConfig {
        transaction_max_timeout_ms: 900_000,
        transactional_id_expiration_ms: EXPIRATION_MS,
    }
}

fn partition(i: usize) -> TopicPartition {
    if i == 3 {
        TopicPartition::new("__consumer_offsets", 7)
    } else {
        TopicPartition::new("topic", i as i32)
    }
}

#[derive(Debug, Clone)]
enum Op {
    Init { client: usize, with_expected: bool },
    Add { client: usize, mask: u8 },
    AddOffsets { client: usize },
    End { client: usize, commit: bool },
    Persist { pick: usize, fail: bool },
    PersistAll,
    Markers { pick: usize, mask: u8 },
    Advance { ms: i64 },
    Restart,
}

fn op() -> impl Strategy<Value = Op> {
    let client = 0..CLIENTS;
    prop_oneof![
        2 => (client.clone(), any::<bool>()).prop_map(|(client, with_expected)| Op::Init { client, with_expected }),
        5 => (client.clone(), 1u8..8).prop_map(|(client, mask)| Op::Add { client, mask }),
        2 => client.clone().prop_map(|client| Op::AddOffsets { client }),
        3 => (client, proptest::bool::weighted(0.7)).prop_map(|(client, commit)| Op::End { client, commit }),
        6 => (any::<usize>(), proptest::bool::weighted(0.1)).prop_map(|(pick, fail)| Op::Persist { pick, fail }),
        4 => Just(Op::PersistAll),
        5 => (any::<usize>(), prop_oneof![1u8..16, Just(15u8)]).prop_map(|(pick, mask)| Op::Markers { pick, mask }),
        2 => prop_oneof![4 => Just(1i64), 4 => Just(4_000), 2 => Just(11_000), 1 => Just(60_000)].prop_map(|ms| Op::Advance { ms }),
        1 => Just(Op::Restart),
    ]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Init,
    Add,
    AddOffsets,
    End,
}

/// What a client asked, kept until its transition is persisted.
#[derive(Debug, Clone)]
struct Waiting {
    client: usize,
    kind: Kind,
    /// The (pid, epoch) the request carried and whether it was fenced when sent.
    fenced: bool,
    partitions: Vec<TopicPartition>,
}

/// Identity of one transaction: (transactional id, producer id, txn_sequence).
type TxnKey = (String, i64, u64);

#[derive(Default)]
struct Reference {
    /// Producer id and epoch each client holds.
    clients: [Option<(i64, i16)>; CLIENTS],
    /// Latest persisted record per id (`None` after a tombstone).
    latest: BTreeMap<String, Option<semel_txn::TxnLogValue>>,
    /// Partitions that got NONE from AddPartitions/AddOffsets, per transaction.
    added: BTreeMap<TxnKey, BTreeSet<TopicPartition>>,
    /// Partitions of each prepared transaction and its result.
    prepared: BTreeMap<TxnKey, (TxnResult, BTreeSet<TopicPartition>)>,
    /// Partitions reported written, per transaction.
    acked: BTreeMap<TxnKey, BTreeSet<TopicPartition>>,
    /// Transactions that went Ongoing, and how they ended.
    started: BTreeSet<TxnKey>,
    completed: BTreeMap<TxnKey, TxnState>,
}

impl Reference {
    fn current(&self, id: &str) -> Option<(i64, i16)> {
        self.latest
            .get(id)
            .and_then(|v| v.as_ref())
            .map(|v| (v.producer_id, v.producer_epoch))
    }

    fn is_fenced(&self, client: usize) -> bool {
        let id = IDS[client % IDS.len()];
        self.clients[client] != self.current(id)
    }

    fn txn_key(&self, id: &str) -> Option<TxnKey> {
        let v = self.latest.get(id)?.as_ref()?;
        Some((id.to_owned(), v.producer_id, v.txn_sequence))
    }

    /// Checks a persisted record against the previous state of its id and folds it in.
    fn on_record(&mut self, record: &TxnLogRecord) {
        let id = record.transactional_id.to_string();
        let previous = self.latest.get(&id).cloned().flatten();
        let prev_state = previous.as_ref().map(|v| v.state);
        let Some(v) = &record.value else {
            assert!(
                matches!(
                    prev_state,
                    Some(TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort)
                ),
                "tombstone of {id} from {prev_state:?}"
            );
            self.latest.insert(id, None);
            return;
        };
        use TxnState::*;
        let allowed = match v.state {
            Empty => matches!(
                prev_state,
                None | Some(Empty | CompleteCommit | CompleteAbort)
            ),
            Ongoing => matches!(
                prev_state,
                Some(Empty | Ongoing | CompleteCommit | CompleteAbort)
            ),
            PrepareCommit | PrepareAbort => prev_state == Some(Ongoing),
            CompleteCommit => prev_state == Some(PrepareCommit),
            CompleteAbort => prev_state == Some(PrepareAbort),
            Dead | PrepareEpochFence => false,
        };
        assert!(allowed, "{id}: {prev_state:?} -> {:?}", v.state);
        if let Some(p) = &previous {
            if p.producer_id == v.producer_id {
                assert!(
                    v.producer_epoch >= p.producer_epoch,
                    "{id}: epoch went back"
                );
            } else {
                assert_eq!(
                    v.producer_epoch, 0,
                    "{id}: a new producer id starts at epoch 0"
                );
            }
        }
        let key = (id.clone(), v.producer_id, v.txn_sequence);
        match v.state {
            Ongoing if prev_state != Some(Ongoing) => {
                assert!(
                    self.started.insert(key.clone()),
                    "transaction {key:?} started twice"
                );
            }
            PrepareCommit | PrepareAbort => {
                let result = if v.state == PrepareCommit {
                    TxnResult::Commit
                } else {
                    TxnResult::Abort
                };
                if let Some(added) = self.added.get(&key) {
                    assert!(
                        added.iter().all(|p| v.partitions.contains(p)),
                        "{key:?}: prepared without an added partition"
                    );
                }
                self.prepared.insert(
                    key.clone(),
                    (result, v.partitions.iter().cloned().collect()),
                );
            }
            CompleteCommit | CompleteAbort => {
                let (result, partitions) = self
                    .prepared
                    .get(&key)
                    .cloned()
                    .expect("completed after a prepare");
                assert_eq!(
                    v.state == CompleteCommit,
                    result == TxnResult::Commit,
                    "{key:?}: result changed"
                );
                let acked = self.acked.get(&key).cloned().unwrap_or_default();
                assert!(
                    partitions.is_subset(&acked),
                    "{key:?} completed before all markers were written"
                );
                assert!(
                    self.completed.insert(key.clone(), v.state).is_none(),
                    "{key:?} completed twice"
                );
            }
            _ => {}
        }
        self.latest
            .insert(id, Some(semel_txn::TxnLogValue::clone(v)));
    }
}

struct System {
    c: TransactionCoordinator,
    next_pid: i64,
    now: i64,
    /// Durable log.
    log: Vec<TxnLogRecord>,
    /// Records emitted, waiting for the caller to persist them.
    unpersisted: Vec<(TransitionId, TxnLogRecord)>,
    /// Every markers effect ever emitted (kept for late and duplicate reports).
    markers: Vec<WriteMarkers>,
    waiting: BTreeMap<TransitionId, Waiting>,
    reference: Reference,
}

impl System {
    fn new() -> Self {
        Self {
            c: TransactionCoordinator::new(config()),
            next_pid: 1000,
            now: 0,
            log: Vec::new(),
            unpersisted: Vec::new(),
            markers: Vec::new(),
            waiting: BTreeMap::new(),
            reference: Reference::default(),
        }
    }

    fn drain_effects(&mut self) {
        while let Some(e) = self.c.poll_effect() {
            match e {
                Effect::Persist { id, record } => self.unpersisted.push((id, record)),
                Effect::WriteMarkers(m) => {
                    let key = (
                        m.transactional_id.to_string(),
                        m.producer_id,
                        m.txn_sequence,
                    );
                    let (result, partitions) = self
                        .reference
                        .prepared
                        .get(&key)
                        .cloned()
                        .expect("markers of a prepared txn");
                    assert_eq!(m.result, result);
                    assert_eq!(
                        m.partitions.iter().cloned().collect::<BTreeSet<_>>(),
                        partitions
                    );
                    self.markers.push(m);
                }
            }
        }
    }

    fn client_request(
        &mut self,
        client: usize,
        kind: Kind,
        partitions: Vec<TopicPartition>,
        reply: Reply<ErrorCode>,
    ) {
        let fenced = self.reference.is_fenced(client);
        match reply {
            Reply::Ready(code) => self.answer(
                &Waiting {
                    client,
                    kind,
                    fenced,
                    partitions,
                },
                code,
            ),
            Reply::AfterPersist(id) => {
                self.waiting.insert(
                    id,
                    Waiting {
                        client,
                        kind,
                        fenced,
                        partitions,
                    },
                );
            }
        }
    }

    fn answer(&mut self, w: &Waiting, code: ErrorCode) {
        let id = IDS[w.client % IDS.len()];
        if code == ErrorCode::None {
            assert!(
                !w.fenced,
                "fenced client {} got NONE for {:?}",
                w.client, w.kind
            );
            if matches!(w.kind, Kind::Add | Kind::AddOffsets) {
                let key = self.reference.txn_key(id).expect("added to a known id");
                self.reference
                    .added
                    .entry(key)
                    .or_default()
                    .extend(w.partitions.iter().cloned());
            }
        }
    }

    fn step(&mut self, op: &Op) {
        match *op {
            Op::Init {
                client,
                with_expected,
            } => {
                let id = IDS[client % IDS.len()];
                let (pid, epoch) = match self.reference.clients[client] {
                    Some(p) if with_expected => p,
                    _ => (-1, -1),
                };
                let next = &mut self.next_pid;
                let mut ids = || {
                    *next += 1;
                    Some(*next)
                };
                match self
                    .c
                    .handle_init_producer_id(self.now, id, TIMEOUT_MS, pid, epoch, &mut ids)
                {
                    Reply::Ready(r) => assert_ne!(
                        r.error,
                        ErrorCode::None,
                        "init answers NONE only after a persist"
                    ),
                    Reply::AfterPersist(t) => {
                        let fenced = self.reference.is_fenced(client);
                        self.waiting.insert(
                            t,
                            Waiting {
                                client,
                                kind: Kind::Init,
                                fenced,
                                partitions: Vec::new(),
                            },
                        );
                    }
                }
            }
            Op::Add { client, .. } | Op::AddOffsets { client } | Op::End { client, .. }
                if self.reference.clients[client].is_none() =>
            {
                // A client's first call is InitProducerId.
                self.step(&Op::Init {
                    client,
                    with_expected: false,
                });
                return;
            }
            Op::Add { client, mask } => {
                let id = IDS[client % IDS.len()];
                let Some((pid, epoch)) = self.reference.clients[client] else {
                    return;
                };
                let parts: Vec<_> = (0..3)
                    .filter(|i| mask & (1 << i) != 0)
                    .map(partition)
                    .collect();
                let reply = self
                    .c
                    .handle_add_partitions(self.now, id, pid, epoch, &parts);
                self.client_request(client, Kind::Add, parts, reply);
            }
            Op::AddOffsets { client } => {
                let id = IDS[client % IDS.len()];
                let Some((pid, epoch)) = self.reference.clients[client] else {
                    return;
                };
                let reply = self
                    .c
                    .handle_add_offsets(self.now, id, pid, epoch, partition(3));
                self.client_request(client, Kind::AddOffsets, vec![partition(3)], reply);
            }
            Op::End { client, commit } => {
                let id = IDS[client % IDS.len()];
                let Some((pid, epoch)) = self.reference.clients[client] else {
                    return;
                };
                let result = if commit {
                    TxnResult::Commit
                } else {
                    TxnResult::Abort
                };
                let fenced = self.reference.is_fenced(client);
                let reply = self.c.handle_end_txn(self.now, id, pid, epoch, result);
                match reply {
                    Reply::Ready(code) => {
                        if code == ErrorCode::None && commit {
                            assert!(!fenced, "fenced client {client} committed");
                        }
                    }
                    Reply::AfterPersist(t) => {
                        assert!(!fenced, "fenced client {client} started an EndTxn");
                        self.waiting.insert(
                            t,
                            Waiting {
                                client,
                                kind: Kind::End,
                                fenced,
                                partitions: Vec::new(),
                            },
                        );
                    }
                }
            }
            Op::Persist { pick, fail } => {
                if self.unpersisted.is_empty() {
                    return;
                }
                let (id, record) = self.unpersisted.remove(pick % self.unpersisted.len());
                let completion = if fail {
                    self.c.persist_failed(id).unwrap()
                } else {
                    self.log.push(record.clone());
                    self.reference.on_record(&record);
                    self.c.persisted(id).unwrap()
                };
                let waiting = self.waiting.remove(&id);
                match (completion, waiting) {
                    (Completion::Internal, None) => {}
                    (Completion::InitProducerId(r), Some(w)) => self.on_init(w.client, r),
                    (
                        Completion::AddPartitions(code)
                        | Completion::AddOffsets(code)
                        | Completion::EndTxn(code),
                        Some(w),
                    ) => {
                        self.answer(&w, code);
                    }
                    (c, w) => panic!("completion {c:?} for {w:?}"),
                }
            }
            Op::PersistAll => {
                while !self.unpersisted.is_empty() {
                    self.step(&Op::Persist {
                        pick: 0,
                        fail: false,
                    });
                }
            }
            Op::Markers { pick, mask } => {
                // Mostly the newest effects, sometimes an old one (late or duplicate).
                if self.markers.is_empty() {
                    return;
                }
                let n = self.markers.len();
                let m = if pick % 4 == 0 {
                    self.markers[pick / 4 % n].clone()
                } else {
                    self.markers[n - 1 - pick / 4 % n.min(2)].clone()
                };
                let written: Vec<_> = (0..4)
                    .filter(|i| mask & (1 << i) != 0)
                    .map(partition)
                    .filter(|p| m.partitions.contains(p))
                    .collect();
                let key = (
                    m.transactional_id.to_string(),
                    m.producer_id,
                    m.txn_sequence,
                );
                self.reference
                    .acked
                    .entry(key)
                    .or_default()
                    .extend(written.iter().cloned());
                self.c.markers_written(self.now, &m, &written);
            }
            Op::Advance { ms } => {
                self.now += ms;
                self.c.tick(self.now);
            }
            Op::Restart => {
                self.c = TransactionCoordinator::replay(config(), &self.log);
                self.unpersisted.clear();
                self.waiting.clear();
            }
        }
        self.drain_effects();
    }

    fn on_init(&mut self, client: usize, r: InitProducerIdResponse) {
        if r.error == ErrorCode::None {
            let id = IDS[client % IDS.len()];
            assert_eq!(
                Some((r.producer_id, r.producer_epoch)),
                self.reference.current(id),
                "init answers the persisted pid/epoch"
            );
            self.reference.clients[client] = Some((r.producer_id, r.producer_epoch));
        }
    }

    fn check_invariants(&self) {
        let replayed = TransactionCoordinator::replay(config(), &self.log);
        assert_eq!(
            replayed.snapshot(),
            self.c.snapshot(),
            "replay gives the same state"
        );
        for (id, latest) in &self.reference.latest {
            let d = self.c.describe(id);
            match latest {
                Some(v) => assert_eq!(
                    (d.state, d.producer_id, d.producer_epoch),
                    (v.state, v.producer_id, v.producer_epoch)
                ),
                None => assert!(
                    d.error == ErrorCode::TransactionalIdNotFound || d.producer_epoch == -1,
                    "expired id {id} is gone (or re-created, not yet persisted)"
                ),
            }
        }
    }

    /// Persists everything, writes every marker, lets every transaction time out; repeats
    /// until nothing is left to do.
    fn quiesce(&mut self) {
        for _ in 0..20 {
            while !self.unpersisted.is_empty() {
                self.step(&Op::Persist {
                    pick: 0,
                    fail: false,
                });
            }
            let pending: Vec<WriteMarkers> = self.markers.clone();
            for m in &pending {
                let key = (
                    m.transactional_id.to_string(),
                    m.producer_id,
                    m.txn_sequence,
                );
                self.reference
                    .acked
                    .entry(key)
                    .or_default()
                    .extend(m.partitions.iter().cloned());
                self.c.markers_written(self.now, m, m.partitions.iter());
            }
            self.drain_effects();
            if self.unpersisted.is_empty() {
                self.step(&Op::Advance {
                    ms: i64::from(TIMEOUT_MS) + 1,
                });
                if self.unpersisted.is_empty() {
                    return;
                }
            }
        }
        panic!("did not quiesce");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn coordinator_matches_the_reference(ops in proptest::collection::vec(op(), 1..160)) {
        let mut s = System::new();
        for op in &ops {
            s.step(op);
            s.check_invariants();
        }
        s.quiesce();
        s.check_invariants();
        for key in &s.reference.started {
            prop_assert!(s.reference.completed.contains_key(key), "transaction {:?} never ended", key);
        }
    }
}
