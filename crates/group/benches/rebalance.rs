//! Cost of a full rebalance of 100 members (every member joins, the leader syncs with 100
//! assignments, the 99 followers sync), and heartbeat throughput in a Stable group.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use semel_group::{
    ErrorCode, Event, GroupConfig, GroupCoordinator, GroupState, HeartbeatRequest, JoinRequest,
    Protocol, RequestToken, SyncRequest,
};

const MEMBERS: usize = 100;
const GROUP: &str = "bench-group";

fn join(member_id: &str, meta: u8) -> JoinRequest {
    JoinRequest {
        api_version: 9,
        group_id: GROUP.to_owned(),
        client_id: "bench".to_owned(),
        session_timeout_ms: 45_000,
        rebalance_timeout_ms: 300_000,
        member_id: member_id.to_owned(),
        group_instance_id: None,
        protocol_type: "consumer".to_owned(),
        protocols: vec![Protocol {
            name: "range".to_owned(),
            // A realistic subscription blob (~64 bytes); `meta` changes it to force rebalances.
            metadata: vec![meta; 64],
        }],
    }
}

struct Bench {
    c: GroupCoordinator,
    now: i64,
    token: u64,
    ids: Vec<String>,
    generation: i32,
    leader: String,
    meta: u8,
}

impl Bench {
    fn next_token(&mut self) -> RequestToken {
        self.token += 1;
        RequestToken(self.token)
    }

    /// Drains events, returning (generation, leader) from the join answers seen.
    fn drain(&mut self) -> Option<(i32, String)> {
        let mut out = None;
        while let Some(e) = self.c.poll_event() {
            match e {
                Event::Persist(r) => {
                    black_box(r.encode());
                }
                Event::Join { response, .. } => {
                    assert_eq!(response.error, ErrorCode::None);
                    out = Some((response.generation_id, response.leader));
                }
                Event::Sync { response, .. } => {
                    assert_eq!(response.error, ErrorCode::None);
                    black_box(response);
                }
            }
        }
        out
    }

    /// A new group: 100 members through MEMBER_ID_REQUIRED, the initial delay, and sync.
    fn from_empty() -> Self {
        let mut b = Self {
            c: GroupCoordinator::new(GroupConfig::default(), 1),
            now: 0,
            token: 0,
            ids: Vec::new(),
            generation: 0,
            leader: String::new(),
            meta: 0,
        };
        for _ in 0..MEMBERS {
            let t = b.next_token();
            let r = b.c.handle_join(b.now, t, join("", 0)).unwrap();
            assert_eq!(r.error, ErrorCode::MemberIdRequired);
            let t = b.next_token();
            assert!(b.c.handle_join(b.now, t, join(&r.member_id, 0)).is_none());
            b.ids.push(r.member_id);
        }
        let mut joined = None;
        while joined.is_none() {
            b.now = b.c.poll_timeout().unwrap();
            b.c.tick(b.now);
            joined = b.drain();
        }
        let (generation, leader) = joined.unwrap();
        b.generation = generation;
        b.leader = leader;
        b.sync_all();
        b
    }

    fn sync_all(&mut self) {
        let assignments: Vec<(String, Vec<u8>)> = self
            .ids
            .iter()
            .map(|id| (id.clone(), vec![7; 32]))
            .collect();
        let t = self.next_token();
        let leader_sync = SyncRequest {
            group_id: GROUP.to_owned(),
            generation_id: self.generation,
            member_id: self.leader.clone(),
            group_instance_id: None,
            protocol_type: Some("consumer".to_owned()),
            protocol_name: Some("range".to_owned()),
            assignments,
        };
        assert!(self.c.handle_sync(self.now, t, leader_sync).is_none());
        self.drain();
        for i in 0..self.ids.len() {
            if self.ids[i] == self.leader {
                continue;
            }
            let t = self.next_token();
            let req = SyncRequest {
                group_id: GROUP.to_owned(),
                generation_id: self.generation,
                member_id: self.ids[i].clone(),
                group_instance_id: None,
                protocol_type: Some("consumer".to_owned()),
                protocol_name: Some("range".to_owned()),
                assignments: Vec::new(),
            };
            let r = self.c.handle_sync(self.now, t, req).unwrap();
            black_box(r);
        }
        assert_eq!(self.c.group_state(GROUP), Some(GroupState::Stable));
    }

    /// A full rebalance of a Stable group: all members rejoin with new metadata (the first
    /// join starts the rebalance, the last completes it), the leader syncs, followers sync.
    fn rebalance(&mut self) {
        self.meta = self.meta.wrapping_add(1);
        let mut joined = None;
        for i in 0..self.ids.len() {
            let t = self.next_token();
            let req = join(&self.ids[i], self.meta);
            assert!(self.c.handle_join(self.now, t, req).is_none());
            if let Some(j) = self.drain() {
                joined = Some(j);
            }
        }
        let (generation, leader) = joined.unwrap();
        self.generation = generation;
        self.leader = leader;
        self.sync_all();
    }
}

fn rebalance(c: &mut Criterion) {
    let mut g = c.benchmark_group("rebalance_100_members");
    g.throughput(Throughput::Elements(1));
    g.bench_function("rejoin_and_sync", |bench| {
        let mut b = Bench::from_empty();
        bench.iter(|| b.rebalance());
    });
    g.bench_function("from_empty_with_member_id_required", |bench| {
        bench.iter_batched(|| (), |()| Bench::from_empty(), BatchSize::SmallInput);
    });
    g.finish();
}

fn heartbeat(c: &mut Criterion) {
    let mut g = c.benchmark_group("heartbeat");
    g.throughput(Throughput::Elements(1));
    g.bench_function("stable_group_of_100", |bench| {
        let mut b = Bench::from_empty();
        let reqs: Vec<HeartbeatRequest> = b
            .ids
            .iter()
            .map(|id| HeartbeatRequest {
                group_id: GROUP.to_owned(),
                generation_id: b.generation,
                member_id: id.clone(),
                group_instance_id: None,
            })
            .collect();
        let mut i = 0;
        bench.iter(|| {
            i = (i + 1) % reqs.len();
            let e = b.c.handle_heartbeat(b.now, &reqs[i]);
            debug_assert_eq!(e, ErrorCode::None);
            black_box(e)
        });
    });
    g.finish();
}

criterion_group!(benches, rebalance, heartbeat);
criterion_main!(benches);
