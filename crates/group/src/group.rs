//! One classic consumer group: the state machine behind [`crate::GroupCoordinator`].
//!
//! Follows AK's `GroupCoordinator`/`GroupMetadata` (NOTES E.2–E.7). Every method takes the
//! current time as a value and writes its parked answers and records into a [`Ctx`].

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crate::error::ErrorCode;
use crate::record::{GroupMetadataRecord, GroupRecord, MemberRecord};
use crate::types::{
    DescribedGroup, DescribedMember, Event, GroupConfig, GroupState, HeartbeatRequest, JoinRequest,
    JoinResponse, JoinedMember, LeaveMemberResponse, LeavingMember, OffsetCommitCheck, Protocol,
    RequestToken, SyncRequest, SyncResponse,
};

/// What a group operation may touch besides the group: configuration, the output queue and
/// the member-id generator.
pub(crate) struct Ctx<'a> {
    pub(crate) config: &'a GroupConfig,
    pub(crate) events: &'a mut VecDeque<Event>,
    pub(crate) ids: &'a mut IdGen,
}

/// Deterministic member-id generator (SplitMix64) seeded by the caller: the crate never
/// reads a global RNG.
#[derive(Debug, Clone)]
pub(crate) struct IdGen {
    state: u64,
}

impl IdGen {
    pub(crate) fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// `prefix + "-" + a UUID-shaped random string`, as AK builds member ids.
    fn member_id(&mut self, prefix: &str) -> String {
        let hi = self.next_u64();
        let lo = self.next_u64();
        format!(
            "{prefix}-{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            hi >> 32,
            (hi >> 16) & 0xffff,
            hi & 0xfff,
            ((lo >> 48) & 0x3fff) | 0x8000,
            lo & 0xffff_ffff_ffff
        )
    }
}

#[derive(Debug, Clone)]
struct Member {
    group_instance_id: Option<String>,
    client_id: String,
    session_timeout_ms: i32,
    rebalance_timeout_ms: i32,
    protocols: Vec<Protocol>,
    assignment: Vec<u8>,
    /// A parked JoinGroup (token, api version).
    awaiting_join: Option<(RequestToken, i16)>,
    /// A parked SyncGroup.
    awaiting_sync: Option<RequestToken>,
    /// When the session expires unless the member is kept alive by a parked request.
    session_deadline_ms: i64,
}

impl Member {
    fn metadata_for(&self, protocol: Option<&str>) -> Vec<u8> {
        protocol
            .and_then(|name| self.protocols.iter().find(|p| p.name == name))
            .map(|p| p.metadata.clone())
            .unwrap_or_default()
    }

    fn touch(&mut self, now_ms: i64) {
        self.session_deadline_ms = now_ms.saturating_add(i64::from(self.session_timeout_ms));
    }
}

/// How the join phase of a PreparingRebalance group ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JoinWait {
    /// Leaving Empty: wait `group.initial.rebalance.delay.ms`, prolonged while new members
    /// arrive, never completing early (AK `InitialDelayedJoin`).
    Initial {
        deadline_ms: i64,
        remaining_ms: i64,
        new_member_added: bool,
    },
    /// Complete when every member rejoined, or at the deadline (AK `DelayedJoin`).
    Normal { deadline_ms: i64 },
}

#[derive(Debug, Clone)]
pub(crate) struct Group {
    group_id: String,
    state: GroupState,
    generation_id: i32,
    protocol_type: Option<String>,
    protocol_name: Option<String>,
    leader: Option<String>,
    members: BTreeMap<String, Member>,
    /// group.instance.id → member id.
    static_members: BTreeMap<String, String>,
    /// How many members support each protocol name (AK `supportedProtocols`), so that the
    /// join-time compatibility check does not scan every member.
    protocol_support: BTreeMap<String, usize>,
    /// Member ids handed out with MEMBER_ID_REQUIRED, with their expiry.
    pending_members: BTreeMap<String, i64>,
    /// Some exactly when the state is PreparingRebalance.
    join_wait: Option<JoinWait>,
    /// Members of the current generation that have not sent SyncGroup yet.
    pending_sync: BTreeSet<String>,
    pending_sync_deadline_ms: Option<i64>,
    /// A member was removed since the last record: persist at the end of the operation.
    dirty: bool,
}

/// Adds (or removes) one member's protocols to the support counts, each name once.
fn count_protocols(support: &mut BTreeMap<String, usize>, protocols: &[Protocol], add: bool) {
    for (i, p) in protocols.iter().enumerate() {
        if protocols[..i].iter().any(|q| q.name == p.name) {
            continue;
        }
        if add {
            *support.entry(p.name.clone()).or_default() += 1;
        } else if let Some(n) = support.get_mut(&p.name) {
            *n -= 1;
            if *n == 0 {
                support.remove(&p.name);
            }
        }
    }
}

fn deadline(now_ms: i64, timeout_ms: i32) -> i64 {
    now_ms.saturating_add(i64::from(timeout_ms))
}

impl Group {
    pub(crate) fn new(group_id: String) -> Self {
        Self {
            group_id,
            state: GroupState::Empty,
            generation_id: 0,
            protocol_type: None,
            protocol_name: None,
            leader: None,
            members: BTreeMap::new(),
            static_members: BTreeMap::new(),
            protocol_support: BTreeMap::new(),
            pending_members: BTreeMap::new(),
            join_wait: None,
            pending_sync: BTreeSet::new(),
            pending_sync_deadline_ms: None,
            dirty: false,
        }
    }

    pub(crate) fn state(&self) -> GroupState {
        self.state
    }

    pub(crate) fn generation_id(&self) -> i32 {
        self.generation_id
    }

    /// `true` for a group with nothing worth keeping: never had a generation, no members,
    /// nobody pending.
    pub(crate) fn is_pristine(&self) -> bool {
        self.state == GroupState::Empty
            && self.generation_id == 0
            && self.members.is_empty()
            && self.pending_members.is_empty()
    }

    pub(crate) fn protocol_type_or_empty(&self) -> String {
        self.protocol_type.clone().unwrap_or_default()
    }

    fn supported_by_all(&self, name: &str) -> bool {
        self.protocol_support.get(name) == Some(&self.members.len())
    }

    fn rebalance_timeout_ms(&self) -> i32 {
        self.members
            .values()
            .map(|m| m.rebalance_timeout_ms)
            .max()
            .unwrap_or(0)
    }

    // ---------------------------------------------------------------- JoinGroup (E.3)

    pub(crate) fn join(
        &mut self,
        ctx: &mut Ctx<'_>,
        now_ms: i64,
        token: RequestToken,
        req: JoinRequest,
    ) -> Option<JoinResponse> {
        let out = self.join_inner(ctx, now_ms, token, req);
        if self.state == GroupState::PreparingRebalance {
            self.try_complete_join(ctx, now_ms);
        }
        self.flush(ctx);
        out
    }

    fn join_inner(
        &mut self,
        ctx: &mut Ctx<'_>,
        now_ms: i64,
        token: RequestToken,
        req: JoinRequest,
    ) -> Option<JoinResponse> {
        if !self.accepts_joining_member(ctx.config, &req.member_id) {
            if self.members.contains_key(&req.member_id) {
                self.remove_member(ctx, now_ms, &req.member_id);
            }
            return Some(JoinResponse::error(
                ErrorCode::GroupMaxSizeReached,
                &req.member_id,
            ));
        }
        if !self.supports_protocols(&req.protocol_type, &req.protocols) {
            return Some(JoinResponse::error(
                ErrorCode::InconsistentGroupProtocol,
                &req.member_id,
            ));
        }
        if req.member_id.is_empty() {
            let prefix = req.group_instance_id.as_deref().unwrap_or(&req.client_id);
            let mut new_id = ctx.ids.member_id(prefix);
            // Bounded: a collision of 122 random bits is already astronomically unlikely.
            for _ in 0..8 {
                if !self.members.contains_key(&new_id)
                    && !self.pending_members.contains_key(&new_id)
                {
                    break;
                }
                new_id = ctx.ids.member_id(prefix);
            }
            if let Some(instance) = req.group_instance_id.clone() {
                if let Some(old_id) = self.static_members.get(&instance).cloned() {
                    return self.replace_static_member(ctx, now_ms, token, req, &old_id, new_id);
                }
                return self.add_member_and_rebalance(ctx, now_ms, token, req, new_id);
            }
            if req.api_version >= 4 {
                self.pending_members
                    .insert(new_id.clone(), deadline(now_ms, req.session_timeout_ms));
                return Some(JoinResponse::error(ErrorCode::MemberIdRequired, &new_id));
            }
            return self.add_member_and_rebalance(ctx, now_ms, token, req, new_id);
        }
        if self.pending_members.contains_key(&req.member_id) {
            if req.group_instance_id.is_some() {
                // A static member is never given a pending id: this request mixes identities.
                return Some(JoinResponse::error(
                    ErrorCode::UnknownMemberId,
                    &req.member_id,
                ));
            }
            let id = req.member_id.clone();
            return self.add_member_and_rebalance(ctx, now_ms, token, req, id);
        }
        if let Some(error) =
            self.validate_current_member(&req.member_id, req.group_instance_id.as_deref())
        {
            return Some(JoinResponse::error(error, &req.member_id));
        }
        let is_leader = self.leader.as_deref() == Some(req.member_id.as_str());
        let matches = self
            .members
            .get(&req.member_id)
            .is_some_and(|m| m.protocols == req.protocols);
        match self.state {
            GroupState::PreparingRebalance => {
                self.update_member_and_rebalance(ctx, now_ms, token, req)
            }
            GroupState::CompletingRebalance if matches => {
                // The member missed its JoinGroup response: hand it the current one again.
                Some(self.current_join_response(now_ms, &req.member_id, is_leader))
            }
            GroupState::Stable if matches && !is_leader => {
                Some(self.current_join_response(now_ms, &req.member_id, false))
            }
            GroupState::CompletingRebalance | GroupState::Stable => {
                self.update_member_and_rebalance(ctx, now_ms, token, req)
            }
            GroupState::Empty | GroupState::Dead => Some(JoinResponse::error(
                ErrorCode::UnknownMemberId,
                &req.member_id,
            )),
        }
    }

    fn current_join_response(
        &mut self,
        now_ms: i64,
        member_id: &str,
        with_members: bool,
    ) -> JoinResponse {
        if let Some(m) = self.members.get_mut(member_id) {
            m.touch(now_ms);
        }
        JoinResponse {
            error: ErrorCode::None,
            generation_id: self.generation_id,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            leader: self.leader.clone().unwrap_or_default(),
            skip_assignment: false,
            member_id: member_id.to_owned(),
            members: if with_members {
                self.joined_members()
            } else {
                Vec::new()
            },
        }
    }

    fn joined_members(&self) -> Vec<JoinedMember> {
        self.members
            .iter()
            .map(|(id, m)| JoinedMember {
                member_id: id.clone(),
                group_instance_id: m.group_instance_id.clone(),
                metadata: m.metadata_for(self.protocol_name.as_deref()),
            })
            .collect()
    }

    fn accepts_joining_member(&self, config: &GroupConfig, member_id: &str) -> bool {
        match self.state {
            GroupState::Empty | GroupState::Dead => true,
            GroupState::PreparingRebalance => {
                let awaiting = self
                    .members
                    .values()
                    .filter(|m| m.awaiting_join.is_some())
                    .count();
                self.members
                    .get(member_id)
                    .is_some_and(|m| m.awaiting_join.is_some())
                    || awaiting < config.max_size
            }
            GroupState::CompletingRebalance | GroupState::Stable => {
                self.members.contains_key(member_id) || self.members.len() < config.max_size
            }
        }
    }

    /// AK `GroupMetadata.supportsProtocols`.
    fn supports_protocols(&self, protocol_type: &str, protocols: &[Protocol]) -> bool {
        if self.members.is_empty() {
            return !protocol_type.is_empty() && !protocols.is_empty();
        }
        self.protocol_type.as_deref() == Some(protocol_type)
            && protocols.iter().any(|p| self.supported_by_all(&p.name))
    }

    /// AK `validateCurrentMember`: the instance id (if any) must map to this member id, and
    /// the member must exist.
    fn validate_current_member(
        &self,
        member_id: &str,
        group_instance_id: Option<&str>,
    ) -> Option<ErrorCode> {
        if let Some(instance) = group_instance_id {
            return match self.static_members.get(instance) {
                Some(current) if current != member_id => Some(ErrorCode::FencedInstanceId),
                Some(_) => None,
                None => Some(ErrorCode::UnknownMemberId),
            };
        }
        if self.members.contains_key(member_id) {
            None
        } else {
            Some(ErrorCode::UnknownMemberId)
        }
    }

    fn add_member_and_rebalance(
        &mut self,
        ctx: &mut Ctx<'_>,
        now_ms: i64,
        token: RequestToken,
        req: JoinRequest,
        member_id: String,
    ) -> Option<JoinResponse> {
        if self.members.is_empty() {
            self.protocol_type = Some(req.protocol_type.clone());
        }
        if self.leader.is_none() {
            self.leader = Some(member_id.clone());
        }
        if let Some(instance) = &req.group_instance_id {
            self.static_members
                .insert(instance.clone(), member_id.clone());
        }
        self.pending_members.remove(&member_id);
        if let Some(JoinWait::Initial {
            new_member_added, ..
        }) = &mut self.join_wait
        {
            *new_member_added = true;
        }
        let member = Member {
            group_instance_id: req.group_instance_id,
            client_id: req.client_id,
            session_timeout_ms: req.session_timeout_ms,
            rebalance_timeout_ms: req.rebalance_timeout_ms,
            protocols: req.protocols,
            assignment: Vec::new(),
            awaiting_join: Some((token, req.api_version)),
            awaiting_sync: None,
            session_deadline_ms: deadline(now_ms, req.session_timeout_ms),
        };
        count_protocols(&mut self.protocol_support, &member.protocols, true);
        self.members.insert(member_id, member);
        self.maybe_prepare_rebalance(ctx, now_ms);
        None
    }

    fn update_member_and_rebalance(
        &mut self,
        ctx: &mut Ctx<'_>,
        now_ms: i64,
        token: RequestToken,
        req: JoinRequest,
    ) -> Option<JoinResponse> {
        let Some(member) = self.members.get_mut(&req.member_id) else {
            return Some(JoinResponse::error(
                ErrorCode::UnknownMemberId,
                &req.member_id,
            ));
        };
        count_protocols(&mut self.protocol_support, &member.protocols, false);
        count_protocols(&mut self.protocol_support, &req.protocols, true);
        member.protocols = req.protocols;
        member.client_id = req.client_id;
        member.session_timeout_ms = req.session_timeout_ms;
        member.rebalance_timeout_ms = req.rebalance_timeout_ms;
        member.touch(now_ms);
        if let Some((old, _)) = member.awaiting_join.replace((token, req.api_version)) {
            // A retried JoinGroup supersedes the parked one; the old one must still be
            // answered so its connection's response queue does not stall.
            ctx.events.push_back(Event::Join {
                token: old,
                response: JoinResponse::error(ErrorCode::RebalanceInProgress, &req.member_id),
            });
        }
        self.maybe_prepare_rebalance(ctx, now_ms);
        None
    }

    /// A known static member rejoined with an empty member id: its old id is fenced and the
    /// new id takes its place (AK `updateStaticMemberAndRebalance`).
    fn replace_static_member(
        &mut self,
        ctx: &mut Ctx<'_>,
        now_ms: i64,
        token: RequestToken,
        req: JoinRequest,
        old_id: &str,
        new_id: String,
    ) -> Option<JoinResponse> {
        let Some(mut member) = self.members.remove(old_id) else {
            return self.add_member_and_rebalance(ctx, now_ms, token, req, new_id);
        };
        let previous_leader = self.leader.clone().unwrap_or_default();
        if let Some((old_token, _)) = member.awaiting_join.take() {
            ctx.events.push_back(Event::Join {
                token: old_token,
                response: JoinResponse::error(ErrorCode::FencedInstanceId, old_id),
            });
        }
        if let Some(old_token) = member.awaiting_sync.take() {
            ctx.events.push_back(Event::Sync {
                token: old_token,
                response: SyncResponse::error(ErrorCode::FencedInstanceId),
            });
        }
        if self.leader.as_deref() == Some(old_id) {
            self.leader = Some(new_id.clone());
        }
        if self.pending_sync.remove(old_id) {
            self.pending_sync.insert(new_id.clone());
        }
        if let Some(instance) = &req.group_instance_id {
            self.static_members.insert(instance.clone(), new_id.clone());
        }
        count_protocols(&mut self.protocol_support, &member.protocols, false);
        count_protocols(&mut self.protocol_support, &req.protocols, true);
        member.protocols = req.protocols;
        member.client_id = req.client_id;
        member.session_timeout_ms = req.session_timeout_ms;
        member.rebalance_timeout_ms = req.rebalance_timeout_ms;
        member.touch(now_ms);
        member.awaiting_join = Some((token, req.api_version));
        self.members.insert(new_id.clone(), member);
        match self.state {
            GroupState::Stable => {
                if self.select_protocol() == self.protocol_name {
                    // The assignment stays valid: keep the generation, persist the new id.
                    if let Some(m) = self.members.get_mut(&new_id) {
                        m.awaiting_join = None;
                    }
                    self.persist(ctx);
                    let returning_leader = self.leader.as_deref() == Some(new_id.as_str());
                    let (leader, skip_assignment, members) =
                        if req.api_version >= 9 && returning_leader {
                            (new_id.clone(), true, self.joined_members())
                        } else {
                            // Before v9 the old leader id is returned so that a returning
                            // leader does not compute an assignment a Stable group would
                            // never distribute.
                            (previous_leader, false, Vec::new())
                        };
                    ctx.events.push_back(Event::Join {
                        token,
                        response: JoinResponse {
                            error: ErrorCode::None,
                            generation_id: self.generation_id,
                            protocol_type: self.protocol_type.clone(),
                            protocol_name: self.protocol_name.clone(),
                            leader,
                            skip_assignment,
                            member_id: new_id,
                            members,
                        },
                    });
                } else {
                    self.maybe_prepare_rebalance(ctx, now_ms);
                }
            }
            GroupState::CompletingRebalance => self.maybe_prepare_rebalance(ctx, now_ms),
            GroupState::PreparingRebalance | GroupState::Empty | GroupState::Dead => {}
        }
        None
    }

    // ---------------------------------------------------------------- rebalance

    fn maybe_prepare_rebalance(&mut self, ctx: &mut Ctx<'_>, now_ms: i64) {
        if matches!(
            self.state,
            GroupState::Empty | GroupState::Stable | GroupState::CompletingRebalance
        ) {
            self.prepare_rebalance(ctx, now_ms);
        }
    }

    fn prepare_rebalance(&mut self, ctx: &mut Ctx<'_>, now_ms: i64) {
        if self.state == GroupState::CompletingRebalance {
            for member in self.members.values_mut() {
                if let Some(token) = member.awaiting_sync.take() {
                    member.touch(now_ms);
                    ctx.events.push_back(Event::Sync {
                        token,
                        response: SyncResponse::error(ErrorCode::RebalanceInProgress),
                    });
                }
            }
        }
        self.pending_sync.clear();
        self.pending_sync_deadline_ms = None;
        let rebalance_timeout_ms = i64::from(self.rebalance_timeout_ms());
        let delay_ms = i64::from(ctx.config.initial_rebalance_delay_ms);
        self.join_wait = Some(if self.state == GroupState::Empty && delay_ms > 0 {
            JoinWait::Initial {
                deadline_ms: now_ms.saturating_add(delay_ms),
                remaining_ms: (rebalance_timeout_ms - delay_ms).max(0),
                new_member_added: false,
            }
        } else {
            JoinWait::Normal {
                deadline_ms: now_ms.saturating_add(rebalance_timeout_ms),
            }
        });
        self.state = GroupState::PreparingRebalance;
        self.try_complete_join(ctx, now_ms);
    }

    fn all_members_joined(&self) -> bool {
        self.pending_members.is_empty() && self.members.values().all(|m| m.awaiting_join.is_some())
    }

    fn try_complete_join(&mut self, ctx: &mut Ctx<'_>, now_ms: i64) {
        if self.state == GroupState::PreparingRebalance
            && matches!(self.join_wait, Some(JoinWait::Normal { .. }))
            && self.all_members_joined()
        {
            self.complete_join(ctx, now_ms);
        }
    }

    /// AK `onCompleteJoin`: drop dynamic members that did not rejoin, elect a leader among
    /// those who did, start the next generation and answer every parked JoinGroup.
    fn complete_join(&mut self, ctx: &mut Ctx<'_>, now_ms: i64) {
        let not_rejoined: Vec<String> = self
            .members
            .iter()
            .filter(|(_, m)| m.awaiting_join.is_none() && m.group_instance_id.is_none())
            .map(|(id, _)| id.clone())
            .collect();
        for id in &not_rejoined {
            self.detach_member(ctx, id);
        }
        let leader_rejoined = self
            .leader
            .as_ref()
            .and_then(|l| self.members.get(l))
            .is_some_and(|m| m.awaiting_join.is_some());
        if !leader_rejoined {
            self.leader = self
                .members
                .iter()
                .find(|(_, m)| m.awaiting_join.is_some())
                .map(|(id, _)| id.clone());
        }
        if self.leader.is_none() && !self.members.is_empty() {
            // Only static members that did not rejoin remain: nobody can lead. Wait another
            // rebalance timeout for them (they leave when their sessions expire).
            self.join_wait = Some(JoinWait::Normal {
                deadline_ms: now_ms.saturating_add(i64::from(self.rebalance_timeout_ms())),
            });
            return;
        }
        self.generation_id = self.generation_id.saturating_add(1);
        self.join_wait = None;
        for member in self.members.values_mut() {
            member.assignment.clear();
        }
        if self.members.is_empty() {
            self.protocol_name = None;
            self.leader = None;
            self.state = GroupState::Empty;
            self.persist(ctx);
            return;
        }
        self.protocol_name = self.select_protocol();
        self.state = GroupState::CompletingRebalance;
        // Persist the new generation before anyone learns it, so a restart never hands the
        // same generation number to a different membership.
        self.persist(ctx);
        let leader = self.leader.clone().unwrap_or_default();
        let all = self.joined_members();
        for (id, member) in &mut self.members {
            if let Some((token, _)) = member.awaiting_join.take() {
                member.touch(now_ms);
                ctx.events.push_back(Event::Join {
                    token,
                    response: JoinResponse {
                        error: ErrorCode::None,
                        generation_id: self.generation_id,
                        protocol_type: self.protocol_type.clone(),
                        protocol_name: self.protocol_name.clone(),
                        leader: leader.clone(),
                        skip_assignment: false,
                        member_id: id.clone(),
                        members: if *id == leader {
                            all.clone()
                        } else {
                            Vec::new()
                        },
                    },
                });
            }
        }
        self.pending_sync = self.members.keys().cloned().collect();
        self.pending_sync_deadline_ms = Some(deadline(now_ms, self.rebalance_timeout_ms()));
    }

    /// Votes: every member votes for its most preferred protocol that all members support;
    /// most votes wins, ties go to the smallest name (AK leaves ties to hash order).
    fn select_protocol(&self) -> Option<String> {
        let first = self.members.values().next()?;
        let candidates: Vec<&str> = first
            .protocols
            .iter()
            .map(|p| p.name.as_str())
            .filter(|name| self.supported_by_all(name))
            .collect();
        let mut votes: BTreeMap<&str, usize> = BTreeMap::new();
        for m in self.members.values() {
            if let Some(p) = m
                .protocols
                .iter()
                .find(|p| candidates.contains(&p.name.as_str()))
            {
                *votes.entry(p.name.as_str()).or_default() += 1;
            }
        }
        let mut best: Option<(&str, usize)> = None;
        for (name, count) in votes {
            if best.is_none_or(|(_, c)| count > c) {
                best = Some((name, count));
            }
        }
        best.map(|(name, _)| name.to_owned())
    }

    /// Removes a member without triggering anything: answers its parked requests with
    /// UNKNOWN_MEMBER_ID and moves the leadership if needed.
    fn detach_member(&mut self, ctx: &mut Ctx<'_>, member_id: &str) {
        let Some(mut member) = self.members.remove(member_id) else {
            return;
        };
        count_protocols(&mut self.protocol_support, &member.protocols, false);
        if let Some((token, _)) = member.awaiting_join.take() {
            ctx.events.push_back(Event::Join {
                token,
                response: JoinResponse::error(ErrorCode::UnknownMemberId, member_id),
            });
        }
        if let Some(token) = member.awaiting_sync.take() {
            ctx.events.push_back(Event::Sync {
                token,
                response: SyncResponse::error(ErrorCode::UnknownMemberId),
            });
        }
        if let Some(instance) = &member.group_instance_id
            && self.static_members.get(instance).map(String::as_str) == Some(member_id)
        {
            self.static_members.remove(instance);
        }
        self.pending_sync.remove(member_id);
        if self.leader.as_deref() == Some(member_id) {
            self.leader = self.members.keys().next().cloned();
        }
        self.dirty = true;
    }

    /// AK `removeMemberAndUpdateGroup`.
    fn remove_member(&mut self, ctx: &mut Ctx<'_>, now_ms: i64, member_id: &str) {
        self.detach_member(ctx, member_id);
        match self.state {
            GroupState::Stable | GroupState::CompletingRebalance => {
                self.prepare_rebalance(ctx, now_ms);
            }
            GroupState::PreparingRebalance => self.try_complete_join(ctx, now_ms),
            GroupState::Empty | GroupState::Dead => {}
        }
    }

    // ---------------------------------------------------------------- SyncGroup (E.4)

    pub(crate) fn sync(
        &mut self,
        ctx: &mut Ctx<'_>,
        now_ms: i64,
        token: RequestToken,
        req: SyncRequest,
    ) -> Option<SyncResponse> {
        if let Some(error) =
            self.validate_current_member(&req.member_id, req.group_instance_id.as_deref())
        {
            return Some(SyncResponse::error(error));
        }
        if req.generation_id != self.generation_id {
            return Some(SyncResponse::error(ErrorCode::IllegalGeneration));
        }
        let type_differs = req
            .protocol_type
            .as_ref()
            .is_some_and(|t| self.protocol_type.as_ref() != Some(t));
        let name_differs = req
            .protocol_name
            .as_ref()
            .is_some_and(|n| self.protocol_name.as_ref() != Some(n));
        if type_differs || name_differs {
            return Some(SyncResponse::error(ErrorCode::InconsistentGroupProtocol));
        }
        match self.state {
            GroupState::Empty | GroupState::Dead => {
                Some(SyncResponse::error(ErrorCode::UnknownMemberId))
            }
            GroupState::PreparingRebalance => {
                Some(SyncResponse::error(ErrorCode::RebalanceInProgress))
            }
            GroupState::Stable => {
                self.synced(&req.member_id);
                let Some(member) = self.members.get_mut(&req.member_id) else {
                    return Some(SyncResponse::error(ErrorCode::UnknownMemberId));
                };
                member.touch(now_ms);
                Some(SyncResponse {
                    error: ErrorCode::None,
                    protocol_type: self.protocol_type.clone(),
                    protocol_name: self.protocol_name.clone(),
                    assignment: member.assignment.clone(),
                })
            }
            GroupState::CompletingRebalance => {
                self.synced(&req.member_id);
                let Some(member) = self.members.get_mut(&req.member_id) else {
                    return Some(SyncResponse::error(ErrorCode::UnknownMemberId));
                };
                member.touch(now_ms);
                if let Some(old) = member.awaiting_sync.replace(token) {
                    ctx.events.push_back(Event::Sync {
                        token: old,
                        response: SyncResponse::error(ErrorCode::RebalanceInProgress),
                    });
                }
                if self.leader.as_deref() == Some(req.member_id.as_str()) {
                    self.complete_sync(ctx, now_ms, req.assignments);
                }
                None
            }
        }
    }

    fn synced(&mut self, member_id: &str) {
        self.pending_sync.remove(member_id);
        if self.pending_sync.is_empty() {
            self.pending_sync_deadline_ms = None;
        }
    }

    /// The leader's assignment arrived: store it (members it omits get empty bytes),
    /// persist, go Stable and answer every parked SyncGroup.
    fn complete_sync(
        &mut self,
        ctx: &mut Ctx<'_>,
        now_ms: i64,
        assignments: Vec<(String, Vec<u8>)>,
    ) {
        let mut by_member: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        for (id, assignment) in assignments {
            by_member.entry(id).or_insert(assignment);
        }
        for (id, member) in &mut self.members {
            member.assignment = by_member.remove(id).unwrap_or_default();
        }
        self.state = GroupState::Stable;
        self.persist(ctx);
        for member in self.members.values_mut() {
            if let Some(token) = member.awaiting_sync.take() {
                member.touch(now_ms);
                ctx.events.push_back(Event::Sync {
                    token,
                    response: SyncResponse {
                        error: ErrorCode::None,
                        protocol_type: self.protocol_type.clone(),
                        protocol_name: self.protocol_name.clone(),
                        assignment: member.assignment.clone(),
                    },
                });
            }
        }
    }

    // ---------------------------------------------------------------- Heartbeat (E.5)

    pub(crate) fn heartbeat(&mut self, now_ms: i64, req: &HeartbeatRequest) -> ErrorCode {
        if let Some(instance) = &req.group_instance_id
            && self
                .static_members
                .get(instance)
                .is_some_and(|id| *id != req.member_id)
        {
            return ErrorCode::FencedInstanceId;
        }
        let state = self.state;
        let generation_id = self.generation_id;
        let Some(member) = self.members.get_mut(&req.member_id) else {
            return ErrorCode::UnknownMemberId;
        };
        if req.generation_id != generation_id {
            return ErrorCode::IllegalGeneration;
        }
        match state {
            GroupState::Empty | GroupState::Dead => ErrorCode::UnknownMemberId,
            GroupState::PreparingRebalance => {
                member.touch(now_ms);
                ErrorCode::RebalanceInProgress
            }
            GroupState::CompletingRebalance | GroupState::Stable => {
                member.touch(now_ms);
                ErrorCode::None
            }
        }
    }

    // ---------------------------------------------------------------- LeaveGroup (E.6)

    pub(crate) fn leave(
        &mut self,
        ctx: &mut Ctx<'_>,
        now_ms: i64,
        leaving: &[LeavingMember],
    ) -> Vec<LeaveMemberResponse> {
        let mut out = Vec::with_capacity(leaving.len());
        for l in leaving {
            let error = self.leave_one(ctx, now_ms, l);
            out.push(LeaveMemberResponse {
                member_id: l.member_id.clone(),
                group_instance_id: l.group_instance_id.clone(),
                error,
            });
        }
        self.flush(ctx);
        out
    }

    fn leave_one(&mut self, ctx: &mut Ctx<'_>, now_ms: i64, l: &LeavingMember) -> ErrorCode {
        if self.pending_members.contains_key(&l.member_id) && l.group_instance_id.is_none() {
            self.pending_members.remove(&l.member_id);
            if self.state == GroupState::PreparingRebalance {
                self.try_complete_join(ctx, now_ms);
            }
            return ErrorCode::None;
        }
        let member_id = match (&l.group_instance_id, l.member_id.is_empty()) {
            (Some(instance), true) => match self.static_members.get(instance) {
                Some(id) => id.clone(),
                None => return ErrorCode::UnknownMemberId,
            },
            _ => l.member_id.clone(),
        };
        if let Some(instance) = &l.group_instance_id
            && self
                .static_members
                .get(instance)
                .is_some_and(|id| *id != member_id)
        {
            return ErrorCode::FencedInstanceId;
        }
        if !self.members.contains_key(&member_id) {
            return ErrorCode::UnknownMemberId;
        }
        self.remove_member(ctx, now_ms, &member_id);
        ErrorCode::None
    }

    // ---------------------------------------------------------------- OffsetCommit (E.7, D.6)

    pub(crate) fn validate_offset_commit(
        &mut self,
        now_ms: i64,
        check: &OffsetCommitCheck<'_>,
    ) -> ErrorCode {
        if check.generation_id >= 0
            || !check.member_id.is_empty()
            || check.group_instance_id.is_some()
        {
            if let Some(error) =
                self.validate_current_member(check.member_id, check.group_instance_id)
            {
                return error;
            }
            if check.generation_id != self.generation_id {
                return ErrorCode::IllegalGeneration;
            }
        } else if !check.transactional && self.state != GroupState::Empty {
            // A non-empty group takes commits from its members only.
            return ErrorCode::UnknownMemberId;
        }
        if !check.transactional && self.state == GroupState::CompletingRebalance {
            return ErrorCode::RebalanceInProgress;
        }
        if let Some(member) = self.members.get_mut(check.member_id) {
            member.touch(now_ms);
        }
        ErrorCode::None
    }

    // ---------------------------------------------------------------- timers

    /// The earliest instant at which [`Group::tick`] has something to do.
    pub(crate) fn next_deadline(&self) -> Option<i64> {
        let join = self.join_wait.map(|w| match w {
            JoinWait::Initial { deadline_ms, .. } | JoinWait::Normal { deadline_ms } => deadline_ms,
        });
        let sessions = self
            .members
            .values()
            .filter(|m| m.awaiting_join.is_none() && m.awaiting_sync.is_none())
            .map(|m| m.session_deadline_ms)
            .min();
        let pending = self.pending_members.values().copied().min();
        [join, sessions, pending, self.pending_sync_deadline_ms]
            .into_iter()
            .flatten()
            .min()
    }

    pub(crate) fn tick(&mut self, ctx: &mut Ctx<'_>, now_ms: i64) {
        // Pending MEMBER_ID_REQUIRED ids that never came back.
        let expired: Vec<String> = self
            .pending_members
            .iter()
            .filter(|(_, d)| **d <= now_ms)
            .map(|(id, _)| id.clone())
            .collect();
        for id in expired {
            self.pending_members.remove(&id);
        }
        if self.state == GroupState::PreparingRebalance {
            self.try_complete_join(ctx, now_ms);
        }
        // Members that joined a generation but never sent SyncGroup in time.
        if let Some(d) = self.pending_sync_deadline_ms
            && d <= now_ms
            && matches!(
                self.state,
                GroupState::CompletingRebalance | GroupState::Stable
            )
        {
            self.pending_sync_deadline_ms = None;
            let missing: Vec<String> = std::mem::take(&mut self.pending_sync).into_iter().collect();
            for id in &missing {
                self.detach_member(ctx, id);
            }
            if !missing.is_empty() {
                self.prepare_rebalance(ctx, now_ms);
            }
        }
        // Session timeouts. A member with a parked request is kept alive (AK shouldKeepAlive).
        let expired: Vec<String> = self
            .members
            .iter()
            .filter(|(_, m)| {
                m.awaiting_join.is_none()
                    && m.awaiting_sync.is_none()
                    && m.session_deadline_ms <= now_ms
            })
            .map(|(id, _)| id.clone())
            .collect();
        for id in &expired {
            if self.members.contains_key(id) {
                self.remove_member(ctx, now_ms, id);
            }
        }
        // The join phase's own deadline.
        if let Some(wait) = self.join_wait {
            match wait {
                JoinWait::Initial {
                    deadline_ms,
                    remaining_ms,
                    new_member_added,
                } if deadline_ms <= now_ms => {
                    if new_member_added && remaining_ms > 0 {
                        let delay_ms =
                            i64::from(ctx.config.initial_rebalance_delay_ms).min(remaining_ms);
                        self.join_wait = Some(JoinWait::Initial {
                            deadline_ms: now_ms.saturating_add(delay_ms),
                            remaining_ms: remaining_ms - delay_ms,
                            new_member_added: false,
                        });
                    } else {
                        self.complete_join(ctx, now_ms);
                    }
                }
                JoinWait::Normal { deadline_ms } if deadline_ms <= now_ms => {
                    self.complete_join(ctx, now_ms);
                }
                JoinWait::Initial { .. } | JoinWait::Normal { .. } => {}
            }
        }
        self.flush(ctx);
    }

    // ---------------------------------------------------------------- persistence

    fn flush(&mut self, ctx: &mut Ctx<'_>) {
        if self.dirty {
            self.persist(ctx);
        }
        debug_assert!(
            self.protocol_support_is_exact(),
            "protocol support counts drifted"
        );
    }

    /// Recomputes the protocol support counts from the members (checked in debug builds).
    fn protocol_support_is_exact(&self) -> bool {
        let mut expected = BTreeMap::new();
        for m in self.members.values() {
            count_protocols(&mut expected, &m.protocols, true);
        }
        expected == self.protocol_support
    }

    fn persist(&mut self, ctx: &mut Ctx<'_>) {
        self.dirty = false;
        ctx.events
            .push_back(Event::Persist(GroupRecord::Metadata(self.record())));
    }

    pub(crate) fn record(&self) -> GroupMetadataRecord {
        GroupMetadataRecord {
            group_id: self.group_id.clone(),
            state: if self.members.is_empty() {
                GroupState::Empty
            } else {
                self.state
            },
            generation_id: self.generation_id,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            leader: self.leader.clone(),
            members: self
                .members
                .iter()
                .map(|(id, m)| MemberRecord {
                    member_id: id.clone(),
                    group_instance_id: m.group_instance_id.clone(),
                    client_id: m.client_id.clone(),
                    session_timeout_ms: m.session_timeout_ms,
                    rebalance_timeout_ms: m.rebalance_timeout_ms,
                    protocols: m.protocols.clone(),
                    assignment: m.assignment.clone(),
                })
                .collect(),
        }
    }

    /// Rebuilds a group from its latest record after a restart. Every member gets a fresh
    /// session; a group caught mid-rebalance resumes it with fresh deadlines.
    pub(crate) fn from_record(now_ms: i64, r: GroupMetadataRecord) -> Self {
        let mut g = Self::new(r.group_id);
        g.generation_id = r.generation_id;
        g.protocol_type = r.protocol_type;
        for m in r.members {
            if let Some(instance) = &m.group_instance_id {
                g.static_members
                    .insert(instance.clone(), m.member_id.clone());
            }
            count_protocols(&mut g.protocol_support, &m.protocols, true);
            g.members.insert(
                m.member_id,
                Member {
                    group_instance_id: m.group_instance_id,
                    client_id: m.client_id,
                    session_timeout_ms: m.session_timeout_ms,
                    rebalance_timeout_ms: m.rebalance_timeout_ms,
                    protocols: m.protocols,
                    assignment: m.assignment,
                    awaiting_join: None,
                    awaiting_sync: None,
                    session_deadline_ms: deadline(now_ms, m.session_timeout_ms),
                },
            );
        }
        if g.members.is_empty() {
            return g;
        }
        g.protocol_name = r.protocol_name;
        g.leader = r
            .leader
            .filter(|l| g.members.contains_key(l))
            .or_else(|| g.members.keys().next().cloned());
        let rebalance_timeout_ms = g.rebalance_timeout_ms();
        g.state = r.state;
        match r.state {
            GroupState::PreparingRebalance => {
                g.join_wait = Some(JoinWait::Normal {
                    deadline_ms: deadline(now_ms, rebalance_timeout_ms),
                });
            }
            GroupState::CompletingRebalance => {
                g.pending_sync = g.members.keys().cloned().collect();
                g.pending_sync_deadline_ms = Some(deadline(now_ms, rebalance_timeout_ms));
            }
            GroupState::Stable => {}
            GroupState::Empty | GroupState::Dead => g.state = GroupState::Stable,
        }
        g
    }

    // ---------------------------------------------------------------- admin

    pub(crate) fn describe(&self) -> DescribedGroup {
        let stable = self.state == GroupState::Stable;
        DescribedGroup {
            error: ErrorCode::None,
            group_id: self.group_id.clone(),
            state: self.state,
            protocol_type: self.protocol_type_or_empty(),
            protocol_data: if stable {
                self.protocol_name.clone().unwrap_or_default()
            } else {
                String::new()
            },
            generation_id: self.generation_id,
            leader: self.leader.clone(),
            members: self
                .members
                .iter()
                .map(|(id, m)| DescribedMember {
                    member_id: id.clone(),
                    group_instance_id: m.group_instance_id.clone(),
                    client_id: m.client_id.clone(),
                    metadata: if stable {
                        m.metadata_for(self.protocol_name.as_deref())
                    } else {
                        Vec::new()
                    },
                    assignment: if stable {
                        m.assignment.clone()
                    } else {
                        Vec::new()
                    },
                })
                .collect(),
        }
    }

    /// `true` when DeleteGroups may remove it.
    pub(crate) fn is_empty(&self) -> bool {
        self.state == GroupState::Empty && self.members.is_empty()
    }
}
