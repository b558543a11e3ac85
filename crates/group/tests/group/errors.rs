//! One test per error case, named after it.

use semel_group::{
    ErrorCode, Event, GroupConfig, GroupRecord, HeartbeatRequest, LeavingMember, OffsetCommitCheck,
};

use crate::support::{GROUP, Harness, commit, hb, join_req, protocols, sync_req};

fn leaving(member_id: &str, instance: Option<&str>) -> LeavingMember {
    LeavingMember {
        member_id: member_id.to_owned(),
        group_instance_id: instance.map(str::to_owned),
    }
}

#[test]
fn error_codes_have_kafka_numbers() {
    let expected = [
        (ErrorCode::None, 0),
        (ErrorCode::IllegalGeneration, 22),
        (ErrorCode::InconsistentGroupProtocol, 23),
        (ErrorCode::InvalidGroupId, 24),
        (ErrorCode::UnknownMemberId, 25),
        (ErrorCode::InvalidSessionTimeout, 26),
        (ErrorCode::RebalanceInProgress, 27),
        (ErrorCode::NonEmptyGroup, 68),
        (ErrorCode::GroupIdNotFound, 69),
        (ErrorCode::MemberIdRequired, 79),
        (ErrorCode::GroupMaxSizeReached, 81),
        (ErrorCode::FencedInstanceId, 82),
    ];
    for (e, code) in expected {
        assert_eq!(e.code(), code, "{e:?}");
    }
}

// ------------------------------------------------------------------ JoinGroup

#[test]
fn join_with_empty_group_id_is_invalid_group_id() {
    let mut h = Harness::new();
    let mut req = join_req("", None, 9);
    req.group_id.clear();
    assert_eq!(h.join(req).1.unwrap().error, ErrorCode::InvalidGroupId);
    assert!(h.c.list_groups(&[]).is_empty());
}

#[test]
fn join_with_session_timeout_below_min_is_invalid_session_timeout() {
    let mut h = Harness::new();
    let mut req = join_req("", None, 9);
    req.session_timeout_ms = 5_999;
    assert_eq!(
        h.join(req).1.unwrap().error,
        ErrorCode::InvalidSessionTimeout
    );
}

#[test]
fn join_with_session_timeout_above_max_is_invalid_session_timeout() {
    let mut h = Harness::new();
    let mut req = join_req("", None, 9);
    req.session_timeout_ms = 1_800_001;
    assert_eq!(
        h.join(req).1.unwrap().error,
        ErrorCode::InvalidSessionTimeout
    );
}

#[test]
fn join_unknown_group_with_member_id_is_unknown_member_id() {
    let mut h = Harness::new();
    let r = h.join(join_req("someone", None, 9)).1.unwrap();
    assert_eq!(r.error, ErrorCode::UnknownMemberId);
    assert!(h.c.group_state(GROUP).is_none(), "no group is created");
}

#[test]
fn join_v4_new_member_gets_member_id_required() {
    let mut h = Harness::new();
    let r = h.join(join_req("", None, 4)).1.unwrap();
    assert_eq!(r.error, ErrorCode::MemberIdRequired);
    assert!(r.member_id.starts_with("client-"), "{}", r.member_id);
    // The pending id is accepted on the next join.
    assert!(h.join(join_req(&r.member_id, None, 4)).1.is_none());
}

#[test]
fn join_v3_new_member_is_added_without_member_id_required() {
    let mut h = Harness::new();
    let (t, r) = h.join(join_req("", None, 3));
    assert!(r.is_none(), "parked, no MEMBER_ID_REQUIRED");
    h.settle();
    let r = h.answer(t);
    assert_eq!(r.error, ErrorCode::None);
    assert_eq!(r.generation_id, 1);
    assert_eq!(r.leader, r.member_id);
}

#[test]
fn join_empty_group_without_protocols_is_inconsistent_group_protocol() {
    let mut h = Harness::new();
    let mut req = join_req("", None, 9);
    req.protocols.clear();
    assert_eq!(
        h.join(req).1.unwrap().error,
        ErrorCode::InconsistentGroupProtocol
    );
    let mut req = join_req("", None, 9);
    req.protocol_type.clear();
    assert_eq!(
        h.join(req).1.unwrap().error,
        ErrorCode::InconsistentGroupProtocol
    );
}

#[test]
fn join_with_other_protocol_type_is_inconsistent_group_protocol() {
    let mut h = Harness::new();
    h.stable_group(1);
    let mut req = join_req("", None, 9);
    req.protocol_type = "connect".to_owned();
    assert_eq!(
        h.join(req).1.unwrap().error,
        ErrorCode::InconsistentGroupProtocol
    );
}

#[test]
fn join_with_no_common_protocol_is_inconsistent_group_protocol() {
    let mut h = Harness::new();
    h.stable_group(1);
    let mut req = join_req("", None, 9);
    req.protocols = protocols(&["roundrobin"]);
    assert_eq!(
        h.join(req).1.unwrap().error,
        ErrorCode::InconsistentGroupProtocol
    );
}

#[test]
fn join_full_group_is_group_max_size_reached() {
    let mut h = Harness::with_config(GroupConfig {
        max_size: 2,
        ..GroupConfig::default()
    });
    h.stable_group(2);
    let r = h.join(join_req("", None, 3)).1.unwrap();
    assert_eq!(r.error, ErrorCode::GroupMaxSizeReached);
}

#[test]
fn join_unknown_member_in_existing_group_is_unknown_member_id() {
    let mut h = Harness::new();
    h.stable_group(1);
    let r = h.join(join_req("stranger", None, 9)).1.unwrap();
    assert_eq!(r.error, ErrorCode::UnknownMemberId);
}

#[test]
fn join_with_stale_static_member_id_is_fenced_instance_id() {
    let mut h = Harness::new();
    let (t, _) = h.join(join_req("", Some("inst"), 9));
    h.settle();
    let old = h.answer(t);
    // The instance comes back without its id: it is replaced.
    let (t2, _) = h.join(join_req("", Some("inst"), 9));
    let new = h.answer(t2);
    assert_ne!(new.member_id, old.member_id);
    let r = h.join(join_req(&old.member_id, Some("inst"), 9)).1.unwrap();
    assert_eq!(r.error, ErrorCode::FencedInstanceId);
}

// ------------------------------------------------------------------ SyncGroup

#[test]
fn sync_with_empty_group_id_is_invalid_group_id() {
    let mut h = Harness::new();
    let mut req = sync_req("m", 1, Vec::new());
    req.group_id.clear();
    assert_eq!(h.sync(req).1.unwrap().error, ErrorCode::InvalidGroupId);
}

#[test]
fn sync_unknown_group_is_unknown_member_id() {
    let mut h = Harness::new();
    assert_eq!(
        h.sync(sync_req("m", 1, Vec::new())).1.unwrap().error,
        ErrorCode::UnknownMemberId
    );
}

#[test]
fn sync_unknown_member_is_unknown_member_id() {
    let mut h = Harness::new();
    let (_, generation, _) = h.stable_group(1);
    assert_eq!(
        h.sync(sync_req("stranger", generation, Vec::new()))
            .1
            .unwrap()
            .error,
        ErrorCode::UnknownMemberId
    );
}

#[test]
fn sync_old_generation_is_illegal_generation() {
    let mut h = Harness::new();
    let (ids, generation, _) = h.stable_group(1);
    assert_eq!(
        h.sync(sync_req(&ids[0], generation - 1, Vec::new()))
            .1
            .unwrap()
            .error,
        ErrorCode::IllegalGeneration
    );
}

#[test]
fn sync_during_preparing_rebalance_is_rebalance_in_progress() {
    let mut h = Harness::new();
    let (ids, generation, _) = h.stable_group(2);
    // A new member triggers a rebalance.
    let id = h.member_id();
    assert!(h.join(join_req(&id, None, 9)).1.is_none());
    assert_eq!(
        h.sync(sync_req(&ids[1], generation, Vec::new()))
            .1
            .unwrap()
            .error,
        ErrorCode::RebalanceInProgress
    );
}

#[test]
fn sync_with_wrong_protocol_name_is_inconsistent_group_protocol() {
    let mut h = Harness::new();
    let (ids, generation, _) = h.stable_group(1);
    let mut req = sync_req(&ids[0], generation, Vec::new());
    req.protocol_name = Some("roundrobin".to_owned());
    assert_eq!(
        h.sync(req).1.unwrap().error,
        ErrorCode::InconsistentGroupProtocol
    );
    let mut req = sync_req(&ids[0], generation, Vec::new());
    req.protocol_type = Some("connect".to_owned());
    assert_eq!(
        h.sync(req).1.unwrap().error,
        ErrorCode::InconsistentGroupProtocol
    );
}

#[test]
fn sync_in_completing_rebalance_is_answered_rebalance_in_progress_when_a_rebalance_starts() {
    let mut h = Harness::new();
    let a = h.member_id();
    let b = h.member_id();
    let (ta, _) = h.join(join_req(&a, None, 9));
    let (tb, _) = h.join(join_req(&b, None, 9));
    h.settle();
    let ra = h.answer(ta);
    let rb = h.answer(tb);
    let follower = if ra.leader == a { &rb } else { &ra };
    let (ts, r) = h.sync(sync_req(
        &follower.member_id,
        follower.generation_id,
        Vec::new(),
    ));
    assert!(r.is_none(), "a follower waits for the leader");
    // A third member arrives before the leader syncs.
    let c = h.member_id();
    h.join(join_req(&c, None, 9));
    assert_eq!(h.sync_answer(ts).error, ErrorCode::RebalanceInProgress);
}

// ------------------------------------------------------------------ Heartbeat

#[test]
fn heartbeat_with_empty_group_id_is_invalid_group_id() {
    let mut h = Harness::new();
    let mut req = hb("m", 1);
    req.group_id.clear();
    assert_eq!(h.c.handle_heartbeat(h.now, &req), ErrorCode::InvalidGroupId);
}

#[test]
fn heartbeat_unknown_group_is_unknown_member_id() {
    let mut h = Harness::new();
    assert_eq!(
        h.c.handle_heartbeat(h.now, &hb("m", 1)),
        ErrorCode::UnknownMemberId
    );
}

#[test]
fn heartbeat_unknown_member_is_unknown_member_id() {
    let mut h = Harness::new();
    let (_, generation, _) = h.stable_group(1);
    assert_eq!(
        h.c.handle_heartbeat(h.now, &hb("stranger", generation)),
        ErrorCode::UnknownMemberId
    );
}

#[test]
fn heartbeat_old_generation_is_illegal_generation() {
    let mut h = Harness::new();
    let (ids, generation, _) = h.stable_group(1);
    assert_eq!(
        h.c.handle_heartbeat(h.now, &hb(&ids[0], generation - 1)),
        ErrorCode::IllegalGeneration
    );
    assert_eq!(
        h.c.handle_heartbeat(h.now, &hb(&ids[0], generation)),
        ErrorCode::None
    );
}

#[test]
fn heartbeat_during_preparing_rebalance_is_rebalance_in_progress() {
    let mut h = Harness::new();
    let (ids, generation, _) = h.stable_group(1);
    let id = h.member_id();
    h.join(join_req(&id, None, 9));
    assert_eq!(
        h.c.handle_heartbeat(h.now, &hb(&ids[0], generation)),
        ErrorCode::RebalanceInProgress
    );
}

#[test]
fn heartbeat_during_completing_rebalance_is_none() {
    let mut h = Harness::new();
    let id = h.member_id();
    let (t, _) = h.join(join_req(&id, None, 9));
    h.settle();
    let r = h.answer(t);
    assert_eq!(
        h.c.group_state(GROUP),
        Some(semel_group::GroupState::CompletingRebalance)
    );
    assert_eq!(
        h.c.handle_heartbeat(h.now, &hb(&id, r.generation_id)),
        ErrorCode::None
    );
}

#[test]
fn heartbeat_fenced_static_member_is_fenced_instance_id() {
    let mut h = Harness::new();
    let (t, _) = h.join(join_req("", Some("inst"), 9));
    h.settle();
    let old = h.answer(t);
    h.sync(sync_req(&old.member_id, old.generation_id, Vec::new()));
    // Replaced in Stable without a rebalance.
    let (t2, r) = h.join(join_req("", Some("inst"), 9));
    assert!(r.is_none());
    let new = h.answer(t2);
    assert_eq!(new.generation_id, old.generation_id);
    let req = HeartbeatRequest {
        group_instance_id: Some("inst".to_owned()),
        ..hb(&old.member_id, old.generation_id)
    };
    assert_eq!(
        h.c.handle_heartbeat(h.now, &req),
        ErrorCode::FencedInstanceId
    );
    // Without the instance id the old id is simply unknown.
    assert_eq!(
        h.c.handle_heartbeat(h.now, &hb(&old.member_id, old.generation_id)),
        ErrorCode::UnknownMemberId
    );
}

// ------------------------------------------------------------------ LeaveGroup

#[test]
fn leave_with_empty_group_id_is_invalid_group_id() {
    let mut h = Harness::new();
    let r = h.c.handle_leave(h.now, "", &[leaving("m", None)]);
    assert_eq!(r.error, ErrorCode::InvalidGroupId);
}

#[test]
fn leave_unknown_group_is_unknown_member_id_per_member() {
    let mut h = Harness::new();
    let r =
        h.c.handle_leave(h.now, GROUP, &[leaving("m", None), leaving("n", None)]);
    assert_eq!(r.error, ErrorCode::None);
    assert!(
        r.members
            .iter()
            .all(|m| m.error == ErrorCode::UnknownMemberId)
    );
}

#[test]
fn leave_unknown_member_is_unknown_member_id() {
    let mut h = Harness::new();
    let (ids, _, _) = h.stable_group(2);
    let r = h.c.handle_leave(
        h.now,
        GROUP,
        &[leaving("stranger", None), leaving(&ids[0], None)],
    );
    assert_eq!(r.members[0].error, ErrorCode::UnknownMemberId);
    assert_eq!(r.members[1].error, ErrorCode::None);
}

#[test]
fn leave_fenced_static_member_is_fenced_instance_id() {
    let mut h = Harness::new();
    let (t, _) = h.join(join_req("", Some("inst"), 9));
    h.settle();
    let old = h.answer(t);
    h.sync(sync_req(&old.member_id, old.generation_id, Vec::new()));
    let (t2, _) = h.join(join_req("", Some("inst"), 9));
    let new = h.answer(t2);
    let r =
        h.c.handle_leave(h.now, GROUP, &[leaving(&old.member_id, Some("inst"))]);
    assert_eq!(r.members[0].error, ErrorCode::FencedInstanceId);
    // By instance id alone the current member leaves.
    let r = h.c.handle_leave(h.now, GROUP, &[leaving("", Some("inst"))]);
    assert_eq!(r.members[0].error, ErrorCode::None);
    assert!(
        h.c.describe_group(GROUP)
            .members
            .iter()
            .all(|m| m.member_id != new.member_id)
    );
}

// ------------------------------------------------------------------ DeleteGroups

#[test]
fn delete_non_empty_group_is_non_empty_group() {
    let mut h = Harness::new();
    h.stable_group(1);
    assert_eq!(
        h.c.delete_groups(&[GROUP]),
        vec![(GROUP.to_owned(), ErrorCode::NonEmptyGroup)]
    );
}

#[test]
fn delete_unknown_group_is_group_id_not_found() {
    let mut h = Harness::new();
    assert_eq!(
        h.c.delete_groups(&["nope"]),
        vec![("nope".to_owned(), ErrorCode::GroupIdNotFound)]
    );
}

#[test]
fn delete_empty_group_emits_tombstone() {
    let mut h = Harness::new();
    let (ids, _, _) = h.stable_group(1);
    h.c.handle_leave(h.now, GROUP, &[leaving(&ids[0], None)]);
    h.drain();
    assert_eq!(h.c.group_state(GROUP), Some(semel_group::GroupState::Empty));
    assert_eq!(
        h.c.delete_groups(&[GROUP]),
        vec![(GROUP.to_owned(), ErrorCode::None)]
    );
    assert_eq!(
        h.c.poll_event(),
        Some(Event::Persist(GroupRecord::Tombstone {
            group_id: GROUP.to_owned()
        }))
    );
    assert!(h.c.group_state(GROUP).is_none());
}

// ------------------------------------------------------------------ OffsetCommit checks

#[test]
fn offset_commit_old_generation_is_illegal_generation() {
    let mut h = Harness::new();
    let (ids, generation, _) = h.stable_group(1);
    assert_eq!(
        h.c.validate_offset_commit(h.now, &commit(&ids[0], generation - 1)),
        ErrorCode::IllegalGeneration
    );
    assert_eq!(
        h.c.validate_offset_commit(h.now, &commit(&ids[0], generation)),
        ErrorCode::None
    );
}

#[test]
fn offset_commit_unknown_group_with_generation_is_illegal_generation() {
    let mut h = Harness::new();
    assert_eq!(
        h.c.validate_offset_commit(h.now, &commit("", 1)),
        ErrorCode::IllegalGeneration
    );
}

#[test]
fn offset_commit_unknown_group_without_generation_creates_empty_group() {
    let mut h = Harness::new();
    assert_eq!(
        h.c.validate_offset_commit(h.now, &commit("", -1)),
        ErrorCode::None
    );
    assert_eq!(h.c.group_state(GROUP), Some(semel_group::GroupState::Empty));
    // "" is a real group id for OffsetCommit.
    let check = OffsetCommitCheck {
        group_id: "",
        ..commit("", -1)
    };
    assert_eq!(h.c.validate_offset_commit(h.now, &check), ErrorCode::None);
}

#[test]
fn offset_commit_non_member_to_non_empty_group_is_unknown_member_id() {
    let mut h = Harness::new();
    h.stable_group(1);
    assert_eq!(
        h.c.validate_offset_commit(h.now, &commit("", -1)),
        ErrorCode::UnknownMemberId
    );
    assert_eq!(
        h.c.validate_offset_commit(h.now, &commit("stranger", 1)),
        ErrorCode::UnknownMemberId
    );
}

#[test]
fn offset_commit_during_completing_rebalance_is_rebalance_in_progress() {
    let mut h = Harness::new();
    let id = h.member_id();
    let (t, _) = h.join(join_req(&id, None, 9));
    h.settle();
    let r = h.answer(t);
    assert_eq!(
        h.c.validate_offset_commit(h.now, &commit(&id, r.generation_id)),
        ErrorCode::RebalanceInProgress
    );
}

#[test]
fn offset_commit_fenced_static_member_is_fenced_instance_id() {
    let mut h = Harness::new();
    let (t, _) = h.join(join_req("", Some("inst"), 9));
    h.settle();
    let old = h.answer(t);
    h.sync(sync_req(&old.member_id, old.generation_id, Vec::new()));
    h.join(join_req("", Some("inst"), 9));
    let check = OffsetCommitCheck {
        group_instance_id: Some("inst"),
        ..commit(&old.member_id, old.generation_id)
    };
    assert_eq!(
        h.c.validate_offset_commit(h.now, &check),
        ErrorCode::FencedInstanceId
    );
}

#[test]
fn txn_offset_commit_without_member_to_non_empty_group_is_accepted() {
    let mut h = Harness::new();
    h.stable_group(1);
    let check = OffsetCommitCheck {
        transactional: true,
        ..commit("", -1)
    };
    assert_eq!(h.c.validate_offset_commit(h.now, &check), ErrorCode::None);
}

#[test]
fn txn_offset_commit_with_empty_group_id_is_invalid_group_id() {
    let mut h = Harness::new();
    let check = OffsetCommitCheck {
        group_id: "",
        transactional: true,
        ..commit("", -1)
    };
    assert_eq!(
        h.c.validate_offset_commit(h.now, &check),
        ErrorCode::InvalidGroupId
    );
}

#[test]
fn txn_offset_commit_ignores_completing_rebalance() {
    let mut h = Harness::new();
    let id = h.member_id();
    let (t, _) = h.join(join_req(&id, None, 9));
    h.settle();
    let r = h.answer(t);
    let check = OffsetCommitCheck {
        transactional: true,
        ..commit(&id, r.generation_id)
    };
    assert_eq!(h.c.validate_offset_commit(h.now, &check), ErrorCode::None);
}
