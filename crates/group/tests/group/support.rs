//! A small driver around `GroupCoordinator` for the tests.

use std::collections::BTreeMap;

use semel_group::{
    ErrorCode, Event, GroupConfig, GroupCoordinator, GroupRecord, HeartbeatRequest, JoinRequest,
    JoinResponse, OffsetCommitCheck, Protocol, RequestToken, SyncRequest, SyncResponse,
};

pub(crate) const GROUP: &str = "g";

pub(crate) struct Harness {
    pub(crate) c: GroupCoordinator,
    pub(crate) now: i64,
    next_token: u64,
    /// Everything persisted so far, encoded, in order (the group log).
    pub(crate) log: Vec<Vec<u8>>,
    pub(crate) joins: BTreeMap<RequestToken, JoinResponse>,
    pub(crate) syncs: BTreeMap<RequestToken, SyncResponse>,
}

pub(crate) fn protocols(names: &[&str]) -> Vec<Protocol> {
    names
        .iter()
        .map(|n| Protocol {
            name: (*n).to_owned(),
            metadata: format!("meta-{n}").into_bytes(),
        })
        .collect()
}

pub(crate) fn join_req(member_id: &str, instance: Option<&str>, version: i16) -> JoinRequest {
    JoinRequest {
        api_version: version,
        group_id: GROUP.to_owned(),
        client_id: "client".to_owned(),
        session_timeout_ms: 10_000,
        rebalance_timeout_ms: 30_000,
        member_id: member_id.to_owned(),
        group_instance_id: instance.map(str::to_owned),
        protocol_type: "consumer".to_owned(),
        protocols: protocols(&["range"]),
    }
}

pub(crate) fn sync_req(
    member_id: &str,
    generation_id: i32,
    assignments: Vec<(String, Vec<u8>)>,
) -> SyncRequest {
    SyncRequest {
        group_id: GROUP.to_owned(),
        generation_id,
        member_id: member_id.to_owned(),
        group_instance_id: None,
        protocol_type: None,
        protocol_name: None,
        assignments,
    }
}

pub(crate) fn hb(member_id: &str, generation_id: i32) -> HeartbeatRequest {
    HeartbeatRequest {
        group_id: GROUP.to_owned(),
        generation_id,
        member_id: member_id.to_owned(),
        group_instance_id: None,
    }
}

pub(crate) fn commit(member_id: &str, generation_id: i32) -> OffsetCommitCheck<'_> {
    OffsetCommitCheck {
        group_id: GROUP,
        generation_id,
        member_id,
        group_instance_id: None,
        transactional: false,
    }
}

impl Harness {
    pub(crate) fn new() -> Self {
        Self::with_config(GroupConfig::default())
    }

    pub(crate) fn with_config(config: GroupConfig) -> Self {
        Self {
            c: GroupCoordinator::new(config, 7),
            now: 1_000,
            next_token: 0,
            log: Vec::new(),
            joins: BTreeMap::new(),
            syncs: BTreeMap::new(),
        }
    }

    pub(crate) fn token(&mut self) -> RequestToken {
        self.next_token += 1;
        RequestToken(self.next_token)
    }

    /// Drains events: records go to the log, parked answers to `joins`/`syncs`. Each token
    /// must be answered once.
    pub(crate) fn drain(&mut self) {
        while let Some(e) = self.c.poll_event() {
            match e {
                Event::Persist(r) => {
                    let bytes = r.encode();
                    assert_eq!(GroupRecord::decode(&bytes).unwrap(), r);
                    self.log.push(bytes);
                }
                Event::Join { token, response } => {
                    assert!(
                        self.joins.insert(token, response).is_none(),
                        "{token:?} twice"
                    );
                }
                Event::Sync { token, response } => {
                    assert!(
                        self.syncs.insert(token, response).is_none(),
                        "{token:?} twice"
                    );
                }
            }
        }
    }

    /// Sends a JoinGroup; returns its token and the immediate answer, if any.
    pub(crate) fn join(&mut self, req: JoinRequest) -> (RequestToken, Option<JoinResponse>) {
        let t = self.token();
        let r = self.c.handle_join(self.now, t, req);
        self.drain();
        (t, r)
    }

    pub(crate) fn sync(&mut self, req: SyncRequest) -> (RequestToken, Option<SyncResponse>) {
        let t = self.token();
        let r = self.c.handle_sync(self.now, t, req);
        self.drain();
        (t, r)
    }

    pub(crate) fn advance(&mut self, ms: i64) {
        self.now += ms;
        self.c.tick(self.now);
        self.drain();
    }

    /// Ticks at each deadline until the join phase is over (the initial delay may be
    /// prolonged by members that joined during it).
    pub(crate) fn settle(&mut self) {
        for _ in 0..20 {
            if self.c.group_state(GROUP) != Some(semel_group::GroupState::PreparingRebalance) {
                return;
            }
            let Some(d) = self.c.poll_timeout() else {
                return;
            };
            self.now = self.now.max(d);
            self.c.tick(self.now);
            self.drain();
        }
        panic!("join phase never completed");
    }

    /// A new dynamic member's id through the MEMBER_ID_REQUIRED round trip (v9).
    pub(crate) fn member_id(&mut self) -> String {
        let (_, r) = self.join(join_req("", None, 9));
        let r = r.unwrap();
        assert_eq!(r.error, ErrorCode::MemberIdRequired);
        r.member_id
    }

    pub(crate) fn answer(&mut self, t: RequestToken) -> JoinResponse {
        self.joins
            .remove(&t)
            .unwrap_or_else(|| panic!("no answer for {t:?}"))
    }

    pub(crate) fn sync_answer(&mut self, t: RequestToken) -> SyncResponse {
        self.syncs
            .remove(&t)
            .unwrap_or_else(|| panic!("no sync answer for {t:?}"))
    }

    /// Forms a Stable group of `n` dynamic members; returns (member ids, generation, leader).
    /// Each member `m` is assigned `b"a-" + m`.
    pub(crate) fn stable_group(&mut self, n: usize) -> (Vec<String>, i32, String) {
        let ids: Vec<String> = (0..n).map(|_| self.member_id()).collect();
        let tokens: Vec<RequestToken> = ids
            .iter()
            .map(|id| {
                let (t, r) = self.join(join_req(id, None, 9));
                assert!(r.is_none());
                t
            })
            .collect();
        self.settle();
        let answers: Vec<JoinResponse> = tokens.iter().map(|t| self.answer(*t)).collect();
        let generation = answers[0].generation_id;
        let leader = answers[0].leader.clone();
        self.sync_all(&ids, generation, &leader);
        (ids, generation, leader)
    }

    /// Leader syncs with `a-<id>` for every id, then the followers.
    pub(crate) fn sync_all(&mut self, ids: &[String], generation: i32, leader: &str) {
        let assignments = ids
            .iter()
            .map(|id| (id.clone(), format!("a-{id}").into_bytes()))
            .collect();
        let (t, r) = self.sync(sync_req(leader, generation, assignments));
        assert!(r.is_none());
        assert_eq!(self.sync_answer(t).error, ErrorCode::None);
        for id in ids.iter().filter(|id| *id != leader) {
            let (_, r) = self.sync(sync_req(id, generation, Vec::new()));
            assert_eq!(r.unwrap().assignment, format!("a-{id}").into_bytes());
        }
    }
}
