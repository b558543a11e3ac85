//! Model-based test (firezone style): simulated clients with their own view of the group
//! (member id, generation, leadership) drive the coordinator with random joins, syncs,
//! heartbeats, leaves, commits, clock advances and restarts (replay of the persisted log).
//! The reference side is plain collections: which (member, generation) pairs were handed
//! out, which assignment the accepted leader proposed for each generation, which requests
//! are outstanding. Invariants are checked after every step.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use semel_group::{
    ErrorCode, Event, GroupConfig, GroupCoordinator, GroupRecord, GroupState, HeartbeatRequest,
    JoinResponse, JoinedMember, LeavingMember, OffsetCommitCheck, RequestToken, SyncRequest,
    SyncResponse,
};

use crate::support::{GROUP, join_req, protocols};

const CLIENTS: usize = 4;

#[derive(Debug, Clone)]
enum Op {
    /// What a well-behaved consumer does next: join, sync or heartbeat.
    Next {
        client: usize,
    },
    Join {
        client: usize,
        new_meta: bool,
        old_version: bool,
    },
    ForgetId {
        client: usize,
    },
    Sync {
        client: usize,
        omit_last: bool,
    },
    Heartbeat {
        client: usize,
    },
    Leave {
        client: usize,
    },
    Commit {
        client: usize,
    },
    Advance {
        ms: i64,
    },
    Restart,
}

fn arb_op() -> impl Strategy<Value = Op> {
    let c = 0..CLIENTS;
    prop_oneof![
        12 => c.clone().prop_map(|client| Op::Next { client }),
        4 => (c.clone(), any::<bool>(), proptest::bool::weighted(0.2))
            .prop_map(|(client, new_meta, old_version)| Op::Join { client, new_meta, old_version }),
        1 => c.clone().prop_map(|client| Op::ForgetId { client }),
        4 => (c.clone(), proptest::bool::weighted(0.2))
            .prop_map(|(client, omit_last)| Op::Sync { client, omit_last }),
        3 => c.clone().prop_map(|client| Op::Heartbeat { client }),
        1 => c.clone().prop_map(|client| Op::Leave { client }),
        2 => c.clone().prop_map(|client| Op::Commit { client }),
        3 => prop_oneof![0i64..4_000, 4_000i64..40_000].prop_map(|ms| Op::Advance { ms }),
        1 => Just(Op::Restart),
    ]
}

#[derive(Debug, Clone, Default)]
struct Client {
    instance: Option<String>,
    member_id: String,
    generation: i32,
    leader: bool,
    members: Vec<JoinedMember>,
    meta: u32,
    /// The generation whose assignment this client received.
    synced: i32,
}

struct World {
    c: GroupCoordinator,
    now: i64,
    next_token: u64,
    clients: Vec<Client>,
    log: Vec<Vec<u8>>,
    /// Outstanding parked requests: token → (client, generation it was sent with).
    joins_out: BTreeMap<RequestToken, usize>,
    syncs_out: BTreeMap<RequestToken, (usize, i32, String)>,
    /// Every (member id, generation) a successful JoinGroup handed out.
    handed_out: BTreeSet<(String, i32)>,
    /// The accepted leader assignment of each generation, keyed by instance id for static
    /// members (their assignment survives an id replacement) and member id otherwise.
    proposals: BTreeMap<i32, BTreeMap<String, Vec<u8>>>,
    max_generation_seen: i32,
}

fn key(m: &JoinedMember) -> String {
    m.group_instance_id
        .clone()
        .unwrap_or_else(|| m.member_id.clone())
}

impl World {
    fn new() -> Self {
        let clients = (0..CLIENTS)
            .map(|i| Client {
                instance: (i >= 2).then(|| format!("static-{i}")),
                generation: -1,
                synced: -1,
                ..Client::default()
            })
            .collect();
        Self {
            c: GroupCoordinator::new(GroupConfig::default(), 3),
            now: 0,
            next_token: 0,
            clients,
            log: Vec::new(),
            joins_out: BTreeMap::new(),
            syncs_out: BTreeMap::new(),
            handed_out: BTreeSet::new(),
            proposals: BTreeMap::new(),
            max_generation_seen: 0,
        }
    }

    fn token(&mut self) -> RequestToken {
        self.next_token += 1;
        RequestToken(self.next_token)
    }

    fn drain(&mut self) {
        while let Some(e) = self.c.poll_event() {
            match e {
                Event::Persist(r) => {
                    let bytes = r.encode();
                    assert_eq!(GroupRecord::decode(&bytes).unwrap(), r);
                    self.log.push(bytes);
                }
                Event::Join { token, response } => {
                    let client = self
                        .joins_out
                        .remove(&token)
                        .unwrap_or_else(|| panic!("join {token:?} answered twice or never sent"));
                    self.apply_join(client, response);
                }
                Event::Sync { token, response } => {
                    let (client, generation, k) = self
                        .syncs_out
                        .remove(&token)
                        .unwrap_or_else(|| panic!("sync {token:?} answered twice or never sent"));
                    self.apply_sync(client, generation, &k, response);
                }
            }
        }
    }

    fn apply_join(&mut self, client: usize, r: JoinResponse) {
        let cl = &mut self.clients[client];
        match r.error {
            ErrorCode::None => {
                assert!(
                    r.generation_id >= self.max_generation_seen,
                    "generation went back: {} after {}",
                    r.generation_id,
                    self.max_generation_seen
                );
                self.max_generation_seen = r.generation_id;
                cl.member_id = r.member_id.clone();
                cl.generation = r.generation_id;
                cl.leader = r.leader == r.member_id;
                cl.members = r.members;
                self.handed_out.insert((r.member_id, r.generation_id));
            }
            ErrorCode::MemberIdRequired => cl.member_id = r.member_id,
            ErrorCode::UnknownMemberId | ErrorCode::FencedInstanceId => {
                cl.member_id.clear();
                cl.generation = -1;
                cl.leader = false;
            }
            _ => {}
        }
    }

    /// `k` is the member's key (instance id, or member id) when it sent the request.
    fn apply_sync(&mut self, client: usize, generation: i32, k: &str, r: SyncResponse) {
        if r.error != ErrorCode::None {
            if r.error != ErrorCode::InconsistentGroupProtocol {
                self.clients[client].generation = -1;
            }
            return;
        }
        // Invariant: a member receives exactly what the accepted leader assigned it.
        let proposal = self.proposals.get(&generation).unwrap_or_else(|| {
            panic!("assignment for generation {generation} without a leader sync")
        });
        let cl = &mut self.clients[client];
        cl.synced = generation;
        assert_eq!(
            r.assignment,
            proposal.get(k).cloned().unwrap_or_default(),
            "client {client} generation {generation}"
        );
    }

    fn step(&mut self, op: &Op) {
        match *op {
            Op::Next { client } => {
                let cl = &self.clients[client];
                let waiting = self.joins_out.values().any(|c| *c == client)
                    || self.syncs_out.values().any(|(c, _, _)| *c == client);
                let next = if waiting {
                    // A parked request: the consumer waits for its answer.
                    Op::Advance { ms: 1_000 }
                } else if cl.generation < 0 {
                    Op::Join {
                        client,
                        new_meta: false,
                        old_version: false,
                    }
                } else if cl.synced != cl.generation {
                    Op::Sync {
                        client,
                        omit_last: false,
                    }
                } else {
                    Op::Heartbeat { client }
                };
                return self.step(&next);
            }
            Op::Join {
                client,
                new_meta,
                old_version,
            } => {
                let cl = &mut self.clients[client];
                if new_meta {
                    cl.meta += 1;
                }
                let version = match (old_version, cl.instance.is_some()) {
                    (false, _) => 9,
                    (true, true) => 5,
                    (true, false) => 3,
                };
                let mut req = join_req(&cl.member_id, cl.instance.as_deref(), version);
                req.protocols = protocols(&["range"]);
                req.protocols[0].metadata = cl.meta.to_be_bytes().to_vec();
                let t = self.token();
                self.joins_out.insert(t, client);
                if let Some(r) = self.c.handle_join(self.now, t, req) {
                    self.joins_out.remove(&t);
                    self.apply_join(client, r);
                }
            }
            Op::ForgetId { client } => {
                let cl = &mut self.clients[client];
                cl.member_id.clear();
                cl.generation = -1;
                cl.leader = false;
            }
            Op::Sync { client, omit_last } => {
                let cl = self.clients[client].clone();
                let mut assignments: Vec<(String, Vec<u8>)> = Vec::new();
                let mut proposal = BTreeMap::new();
                if cl.leader {
                    let n = cl.members.len().saturating_sub(usize::from(omit_last));
                    for m in &cl.members[..n] {
                        let a = format!("{}/{}", cl.generation, key(m)).into_bytes();
                        proposal.insert(key(m), a.clone());
                        assignments.push((m.member_id.clone(), a));
                    }
                }
                let req = SyncRequest {
                    group_id: GROUP.to_owned(),
                    generation_id: cl.generation,
                    member_id: cl.member_id.clone(),
                    group_instance_id: cl.instance.clone(),
                    protocol_type: Some("consumer".to_owned()),
                    protocol_name: Some("range".to_owned()),
                    assignments,
                };
                let t = self.token();
                let was_stable = self.c.group_state(GROUP) == Some(GroupState::Stable);
                let k = cl.instance.clone().unwrap_or_else(|| cl.member_id.clone());
                self.syncs_out.insert(t, (client, cl.generation, k.clone()));
                match self.c.handle_sync(self.now, t, req) {
                    Some(r) => {
                        self.syncs_out.remove(&t);
                        self.apply_sync(client, cl.generation, &k, r);
                    }
                    None => {
                        if !was_stable
                            && self.c.group_state(GROUP) == Some(GroupState::Stable)
                            && self.c.generation_id(GROUP) == Some(cl.generation)
                        {
                            assert!(
                                cl.leader,
                                "only the leader's SyncGroup completes a rebalance"
                            );
                            assert!(
                                self.proposals.insert(cl.generation, proposal).is_none(),
                                "generation {} completed twice",
                                cl.generation
                            );
                        }
                    }
                }
            }
            Op::Heartbeat { client } => {
                let cl = &self.clients[client];
                let req = HeartbeatRequest {
                    group_id: GROUP.to_owned(),
                    generation_id: cl.generation,
                    member_id: cl.member_id.clone(),
                    group_instance_id: cl.instance.clone(),
                };
                let (member_id, generation) = (cl.member_id.clone(), cl.generation);
                let e = self.c.handle_heartbeat(self.now, &req);
                if e == ErrorCode::None {
                    self.assert_current(&member_id, generation);
                }
                let cl = &mut self.clients[client];
                match e {
                    ErrorCode::UnknownMemberId | ErrorCode::FencedInstanceId => {
                        cl.member_id.clear();
                        cl.generation = -1;
                    }
                    // The consumer rejoins (keeping its member id).
                    ErrorCode::RebalanceInProgress | ErrorCode::IllegalGeneration => {
                        cl.generation = -1;
                    }
                    _ => {}
                }
            }
            Op::Leave { client } => {
                let cl = &self.clients[client];
                let leaving = [LeavingMember {
                    member_id: cl.member_id.clone(),
                    group_instance_id: cl.instance.clone(),
                }];
                let r = self.c.handle_leave(self.now, GROUP, &leaving);
                if r.members[0].error == ErrorCode::None {
                    let cl = &mut self.clients[client];
                    cl.member_id.clear();
                    cl.generation = -1;
                    cl.leader = false;
                }
            }
            Op::Commit { client } => {
                let cl = &self.clients[client];
                let (member_id, generation) = (cl.member_id.clone(), cl.generation);
                let check = OffsetCommitCheck {
                    group_id: GROUP,
                    generation_id: generation,
                    member_id: &member_id,
                    group_instance_id: cl.instance.as_deref(),
                    transactional: false,
                };
                if self.c.validate_offset_commit(self.now, &check) == ErrorCode::None
                    && generation >= 0
                {
                    self.assert_current(&member_id, generation);
                }
            }
            Op::Advance { ms } => {
                self.now += ms;
                self.c.tick(self.now);
            }
            Op::Restart => self.restart(),
        }
        self.drain();
    }

    fn restart(&mut self) {
        let before = self
            .c
            .group_state(GROUP)
            .map(|s| (s, self.c.generation_id(GROUP)));
        self.c = GroupCoordinator::replay(
            GroupConfig::default(),
            self.next_token,
            self.now,
            self.log.iter().map(Vec::as_slice),
        )
        .unwrap();
        // Connections drop: parked requests are gone with the old process.
        self.joins_out.clear();
        self.syncs_out.clear();
        let after = self
            .c
            .group_state(GROUP)
            .map(|s| (s, self.c.generation_id(GROUP)));
        match (before, after) {
            (None, None) => {}
            (Some((_, g1)), Some((_, g2))) => assert_eq!(g1, g2, "replay keeps the generation"),
            // A group that never completed a join phase was never persisted: its members'
            // parked joins died with the connections and they join again from scratch.
            (Some((_, Some(0))), None) => {}
            other => panic!("replay changed the group's existence: {other:?}"),
        }
    }

    /// An accepted heartbeat or commit: the member belongs to the current generation.
    fn assert_current(&self, member_id: &str, generation: i32) {
        let d = self.c.describe_group(GROUP);
        assert_eq!(generation, d.generation_id, "accepted a stale generation");
        assert!(
            d.members.iter().any(|m| m.member_id == member_id),
            "accepted a non-member"
        );
    }

    fn check_invariants(&mut self) {
        // A deadline may be due right away (a join phase whose members all left); once tick
        // has run at `now`, the next deadline is in the future.
        if self.c.poll_timeout().is_some_and(|t| t <= self.now) {
            self.c.tick(self.now);
            self.drain();
        }
        assert!(
            self.c.poll_timeout().is_none_or(|p| p > self.now),
            "tick left due work behind"
        );
        let d = self.c.describe_group(GROUP);
        if d.state == GroupState::Stable {
            // Every member of the Stable generation has the assignment its leader made, and
            // no SyncGroup of that generation is still parked.
            let proposal = self.proposals.get(&d.generation_id).unwrap_or_else(|| {
                panic!(
                    "Stable generation {} without an accepted leader sync",
                    d.generation_id
                )
            });
            for m in &d.members {
                let k = m
                    .group_instance_id
                    .clone()
                    .unwrap_or_else(|| m.member_id.clone());
                assert_eq!(m.assignment, proposal.get(&k).cloned().unwrap_or_default());
            }
            assert!(
                self.syncs_out
                    .values()
                    .all(|(_, g, _)| *g != d.generation_id),
                "a SyncGroup of the Stable generation is still parked"
            );
        }
        // Fencing: no pair handed out for an older generation is accepted for a commit.
        let stale: Vec<(String, i32)> = self
            .handed_out
            .iter()
            .filter(|(_, g)| *g < d.generation_id)
            .cloned()
            .collect();
        for (member_id, generation) in stale {
            let check = OffsetCommitCheck {
                group_id: GROUP,
                generation_id: generation,
                member_id: &member_id,
                group_instance_id: None,
                transactional: false,
            };
            assert_ne!(
                self.c.validate_offset_commit(self.now, &check),
                ErrorCode::None,
                "fenced member {member_id} of generation {generation} accepted in {}",
                d.generation_id
            );
        }
        // Replaying the log reproduces the generation at any moment.
        if d.state != GroupState::Dead {
            let replayed = GroupCoordinator::replay(
                GroupConfig::default(),
                0,
                self.now,
                self.log.iter().map(Vec::as_slice),
            )
            .unwrap();
            let expected = if d.generation_id == 0 && replayed.group_state(GROUP).is_none() {
                None
            } else {
                Some(d.generation_id)
            };
            assert_eq!(replayed.generation_id(GROUP), expected);
        }
    }

    /// After the clients go quiet, the timers must answer every parked request.
    fn quiesce(&mut self) {
        for _ in 0..200 {
            let Some(t) = self.c.poll_timeout() else {
                break;
            };
            self.now = self.now.max(t);
            self.c.tick(self.now);
            self.drain();
            self.check_invariants();
        }
        assert!(
            self.joins_out.is_empty(),
            "joins never answered: {:?}",
            self.joins_out
        );
        assert!(
            self.syncs_out.is_empty(),
            "syncs never answered: {:?}",
            self.syncs_out
        );
        assert_eq!(self.c.poll_timeout(), None);
        assert_eq!(
            self.c.group_state(GROUP).unwrap_or(GroupState::Empty),
            GroupState::Empty
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 512,
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::WithSource("proptest-regressions"),
        )),
        ..ProptestConfig::default()
    })]

    #[test]
    fn group_model(ops in proptest::collection::vec(arb_op(), 1..80)) {
        let mut w = World::new();
        for op in &ops {
            w.step(op);
            w.check_invariants();
        }
        if std::env::var_os("SEMEL_MODEL_STATS").is_some() {
            eprintln!("STATS generations={} stable={}", w.max_generation_seen, w.proposals.len());
        }
        w.quiesce();
    }
}

/// A hand-written scenario through the same model: a full rebalance with a static member,
/// a restart in the middle, and a fenced old id.
#[test]
fn group_model_scenario_with_restart() {
    let mut w = World::new();
    let ops = [
        Op::Join {
            client: 0,
            new_meta: false,
            old_version: false,
        },
        Op::Join {
            client: 0,
            new_meta: false,
            old_version: false,
        },
        Op::Join {
            client: 2,
            new_meta: false,
            old_version: false,
        },
        // The initial delay, prolonged once because a second member arrived during it.
        Op::Advance { ms: 3_000 },
        Op::Advance { ms: 3_000 },
        Op::Sync {
            client: 0,
            omit_last: false,
        },
        Op::Sync {
            client: 2,
            omit_last: false,
        },
        Op::Restart,
        Op::Heartbeat { client: 0 },
        Op::ForgetId { client: 2 },
        Op::Join {
            client: 2,
            new_meta: false,
            old_version: false,
        },
        Op::Commit { client: 2 },
        Op::Advance { ms: 40_000 },
    ];
    for op in &ops {
        w.step(op);
        w.check_invariants();
    }
    assert!(w.max_generation_seen >= 1);
    assert!(w.proposals.contains_key(&1));
    w.quiesce();
}
