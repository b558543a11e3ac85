//! The group coordinator: every group of a broker, keyed by group id.

use std::collections::{BTreeMap, VecDeque};

use crate::error::{ErrorCode, GroupError};
use crate::group::{Ctx, Group, IdGen};
use crate::record::GroupRecord;
use crate::types::{
    DescribedGroup, Event, GroupConfig, GroupState, HeartbeatRequest, JoinRequest, JoinResponse,
    LeaveMemberResponse, LeaveResponse, LeavingMember, ListedGroup, OffsetCommitCheck,
    RequestToken, SyncRequest, SyncResponse,
};

/// The classic consumer-group coordinator, sans-IO.
///
/// Drive it with `handle_*` calls and [`GroupCoordinator::tick`], passing the current time
/// in milliseconds; drain [`GroupCoordinator::poll_event`] after every call, and call `tick`
/// again no later than [`GroupCoordinator::poll_timeout`].
///
/// A `handle_*` call that returns `None` has parked its request: the answer comes out of
/// `poll_event` later, tagged with the caller's [`RequestToken`]. Every parked request is
/// answered exactly once.
#[derive(Debug)]
pub struct GroupCoordinator {
    config: GroupConfig,
    groups: BTreeMap<String, Group>,
    events: VecDeque<Event>,
    ids: IdGen,
}

impl GroupCoordinator {
    /// A coordinator with no groups. `seed` feeds the member-id generator: pass fresh
    /// randomness (the crate reads no RNG), or a constant for reproducible tests.
    #[must_use]
    pub fn new(config: GroupConfig, seed: u64) -> Self {
        Self {
            config,
            groups: BTreeMap::new(),
            events: VecDeque::new(),
            ids: IdGen::new(seed),
        }
    }

    /// Rebuilds a coordinator from the group-metadata log after a restart: the latest record
    /// of each group wins, tombstones delete. Members get fresh sessions starting at
    /// `now_ms` and either heartbeat/rejoin or time out, as with Kafka.
    ///
    /// # Errors
    ///
    /// [`GroupError::Replay`] naming the first record that does not decode.
    pub fn replay<'a, I>(
        config: GroupConfig,
        seed: u64,
        now_ms: i64,
        records: I,
    ) -> Result<Self, GroupError>
    where
        I: IntoIterator<Item = &'a [u8]>,
    {
        let mut latest: BTreeMap<String, GroupRecord> = BTreeMap::new();
        for (index, bytes) in records.into_iter().enumerate() {
            let record = GroupRecord::decode(bytes).map_err(|e| GroupError::Replay {
                index,
                source: Box::new(e),
            })?;
            latest.insert(record.group_id().to_owned(), record);
        }
        let mut coordinator = Self::new(config, seed);
        for record in latest.into_values() {
            coordinator.apply_record(now_ms, record);
        }
        Ok(coordinator)
    }

    /// Applies one decoded record as replay does (a tombstone removes the group, metadata
    /// replaces it).
    pub fn apply_record(&mut self, now_ms: i64, record: GroupRecord) {
        match record {
            GroupRecord::Tombstone { group_id } => {
                self.groups.remove(&group_id);
            }
            GroupRecord::Metadata(m) => {
                self.groups
                    .insert(m.group_id.clone(), Group::from_record(now_ms, m));
            }
        }
    }

    /// The latest record of every group: what a compacted group log holds.
    #[must_use]
    pub fn snapshot(&self) -> Vec<GroupRecord> {
        self.groups
            .values()
            .map(|g| GroupRecord::Metadata(g.record()))
            .collect()
    }

    fn ctx(&mut self) -> (Ctx<'_>, &mut BTreeMap<String, Group>) {
        (
            Ctx {
                config: &self.config,
                events: &mut self.events,
                ids: &mut self.ids,
            },
            &mut self.groups,
        )
    }

    /// JoinGroup (NOTES E.3). Returns the answer now, or `None` when the request is parked
    /// until the join phase completes.
    pub fn handle_join(
        &mut self,
        now_ms: i64,
        token: RequestToken,
        req: JoinRequest,
    ) -> Option<JoinResponse> {
        if req.group_id.is_empty() {
            return Some(JoinResponse::error(
                ErrorCode::InvalidGroupId,
                &req.member_id,
            ));
        }
        if req.session_timeout_ms < self.config.min_session_timeout_ms
            || req.session_timeout_ms > self.config.max_session_timeout_ms
        {
            return Some(JoinResponse::error(
                ErrorCode::InvalidSessionTimeout,
                &req.member_id,
            ));
        }
        let created = !self.groups.contains_key(&req.group_id);
        if created && !req.member_id.is_empty() {
            return Some(JoinResponse::error(
                ErrorCode::UnknownMemberId,
                &req.member_id,
            ));
        }
        let group_id = req.group_id.clone();
        let (mut ctx, groups) = self.ctx();
        let group = groups
            .entry(group_id.clone())
            .or_insert_with(|| Group::new(group_id.clone()));
        let out = group.join(&mut ctx, now_ms, token, req);
        if created && group.is_pristine() {
            groups.remove(&group_id);
        }
        out
    }

    /// SyncGroup (NOTES E.4). Returns the answer now, or `None` when the request is parked
    /// until the leader's assignment arrives.
    pub fn handle_sync(
        &mut self,
        now_ms: i64,
        token: RequestToken,
        req: SyncRequest,
    ) -> Option<SyncResponse> {
        if req.group_id.is_empty() {
            return Some(SyncResponse::error(ErrorCode::InvalidGroupId));
        }
        let (mut ctx, groups) = self.ctx();
        match groups.get_mut(&req.group_id) {
            None => Some(SyncResponse::error(ErrorCode::UnknownMemberId)),
            Some(group) => group.sync(&mut ctx, now_ms, token, req),
        }
    }

    /// Heartbeat (NOTES E.5): always answered at once.
    pub fn handle_heartbeat(&mut self, now_ms: i64, req: &HeartbeatRequest) -> ErrorCode {
        if req.group_id.is_empty() {
            return ErrorCode::InvalidGroupId;
        }
        match self.groups.get_mut(&req.group_id) {
            None => ErrorCode::UnknownMemberId,
            Some(group) => group.heartbeat(now_ms, req),
        }
    }

    /// LeaveGroup, batch form (NOTES E.6): always answered at once. Parked requests of the
    /// leaving members are answered through [`GroupCoordinator::poll_event`].
    pub fn handle_leave(
        &mut self,
        now_ms: i64,
        group_id: &str,
        members: &[LeavingMember],
    ) -> LeaveResponse {
        if group_id.is_empty() {
            return LeaveResponse {
                error: ErrorCode::InvalidGroupId,
                members: Vec::new(),
            };
        }
        let (mut ctx, groups) = self.ctx();
        let members = match groups.get_mut(group_id) {
            Some(group) => group.leave(&mut ctx, now_ms, members),
            None => members
                .iter()
                .map(|m| LeaveMemberResponse {
                    member_id: m.member_id.clone(),
                    group_instance_id: m.group_instance_id.clone(),
                    error: ErrorCode::UnknownMemberId,
                })
                .collect(),
        };
        LeaveResponse {
            error: ErrorCode::None,
            members,
        }
    }

    /// Whether an OffsetCommit (or TxnOffsetCommit) may store its offsets, by the group
    /// membership rules of NOTES E.7 and D.6. `ErrorCode::None` means store; an accepted
    /// commit by a member counts as its heartbeat. An unknown group is created (Empty) when
    /// the rules allow the commit, as Kafka does for standalone consumers.
    pub fn validate_offset_commit(
        &mut self,
        now_ms: i64,
        check: &OffsetCommitCheck<'_>,
    ) -> ErrorCode {
        if check.transactional && check.group_id.is_empty() {
            return ErrorCode::InvalidGroupId;
        }
        if !self.groups.contains_key(check.group_id) {
            if !check.transactional {
                if check.generation_id >= 0 {
                    return ErrorCode::IllegalGeneration;
                }
                if !check.member_id.is_empty() || check.group_instance_id.is_some() {
                    return ErrorCode::UnknownMemberId;
                }
            }
            let id = check.group_id.to_owned();
            self.groups.insert(id.clone(), Group::new(id));
        }
        match self.groups.get_mut(check.group_id) {
            Some(group) => group.validate_offset_commit(now_ms, check),
            None => ErrorCode::UnknownMemberId,
        }
    }

    /// DescribeGroups for one group; an unknown group is described as Dead with no error.
    #[must_use]
    pub fn describe_group(&self, group_id: &str) -> DescribedGroup {
        match self.groups.get(group_id) {
            Some(group) => group.describe(),
            None => DescribedGroup {
                error: ErrorCode::None,
                group_id: group_id.to_owned(),
                state: GroupState::Dead,
                protocol_type: String::new(),
                protocol_data: String::new(),
                generation_id: -1,
                leader: None,
                members: Vec::new(),
            },
        }
    }

    /// ListGroups: every group in group-id order, filtered by state when `states` is
    /// non-empty (ListGroups v4+ `StatesFilter`).
    #[must_use]
    pub fn list_groups(&self, states: &[GroupState]) -> Vec<ListedGroup> {
        self.groups
            .values()
            .filter(|g| states.is_empty() || states.contains(&g.state()))
            .map(|g| {
                let d = g.describe();
                ListedGroup {
                    group_id: d.group_id,
                    protocol_type: d.protocol_type,
                    state: d.state,
                }
            })
            .collect()
    }

    /// DeleteGroups: removes each Empty group and emits its tombstone; a group with members
    /// gets `NON_EMPTY_GROUP`, an unknown one `GROUP_ID_NOT_FOUND`. Results in request
    /// order. (The broker deletes the group's offsets too.)
    pub fn delete_groups(&mut self, group_ids: &[&str]) -> Vec<(String, ErrorCode)> {
        group_ids
            .iter()
            .map(|&id| {
                let error = match self.groups.get(id) {
                    None => ErrorCode::GroupIdNotFound,
                    Some(group) if !group.is_empty() => ErrorCode::NonEmptyGroup,
                    Some(_) => {
                        self.groups.remove(id);
                        self.events
                            .push_back(Event::Persist(GroupRecord::Tombstone {
                                group_id: id.to_owned(),
                            }));
                        ErrorCode::None
                    }
                };
                (id.to_owned(), error)
            })
            .collect()
    }

    /// Fires every timer due at `now_ms`: initial-delay and rebalance timeouts (answering
    /// parked joins), pending-sync expiry, session expiry, MEMBER_ID_REQUIRED expiry.
    pub fn tick(&mut self, now_ms: i64) {
        let (mut ctx, groups) = self.ctx();
        for group in groups.values_mut() {
            if group.next_deadline().is_some_and(|d| d <= now_ms) {
                group.tick(&mut ctx, now_ms);
            }
        }
    }

    /// The earliest time at which [`GroupCoordinator::tick`] has work, if any.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<i64> {
        self.groups.values().filter_map(Group::next_deadline).min()
    }

    /// The next output: a record to persist or a parked request's answer, in order.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// A group's state, `None` when unknown.
    #[must_use]
    pub fn group_state(&self, group_id: &str) -> Option<GroupState> {
        self.groups.get(group_id).map(Group::state)
    }

    /// A group's current generation, `None` when unknown.
    #[must_use]
    pub fn generation_id(&self, group_id: &str) -> Option<i32> {
        self.groups.get(group_id).map(Group::generation_id)
    }
}
