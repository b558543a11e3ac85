//! The protocol's behaviour beyond single error codes: timeouts, elections, votes, static
//! members, restarts.

use semel_group::{
    ErrorCode, GroupConfig, GroupCoordinator, GroupState, LeavingMember, OffsetCommitCheck,
};

use crate::support::{GROUP, Harness, commit, hb, join_req, protocols, sync_req};

#[test]
fn first_generation_is_one_and_leader_is_first_joiner() {
    let mut h = Harness::new();
    let (ids, generation, leader) = h.stable_group(3);
    assert_eq!(generation, 1);
    assert_eq!(leader, ids[0]);
    let d = h.c.describe_group(GROUP);
    assert_eq!(d.state, GroupState::Stable);
    assert_eq!(d.protocol_data, "range");
    for m in &d.members {
        assert_eq!(m.assignment, format!("a-{}", m.member_id).into_bytes());
        assert_eq!(m.metadata, b"meta-range");
    }
}

#[test]
fn initial_rebalance_delay_is_prolonged_by_new_joiners() {
    let mut h = Harness::new();
    let a = h.member_id();
    let (ta, _) = h.join(join_req(&a, None, 9));
    h.advance(2_000);
    let b = h.member_id();
    let (tb, _) = h.join(join_req(&b, None, 9));
    h.advance(1_000); // first delay over, but a member arrived: wait another delay
    assert!(h.joins.is_empty());
    h.advance(2_999);
    assert!(h.joins.is_empty());
    h.advance(1);
    assert_eq!(h.answer(ta).generation_id, 1);
    assert_eq!(h.answer(tb).generation_id, 1);
}

#[test]
fn initial_rebalance_delay_is_configurable() {
    let mut h = Harness::with_config(GroupConfig {
        initial_rebalance_delay_ms: 0,
        ..GroupConfig::default()
    });
    let a = h.member_id();
    let (ta, r) = h.join(join_req(&a, None, 9));
    assert!(r.is_none());
    assert_eq!(h.answer(ta).generation_id, 1, "completes without delay");
}

#[test]
fn rejoin_of_every_member_completes_the_rebalance_at_once() {
    let mut h = Harness::new();
    let (ids, generation, _) = h.stable_group(2);
    let (t0, _) = h.join(join_req(&ids[0], None, 9)); // the leader's rejoin forces a rebalance
    assert!(h.joins.is_empty());
    let (t1, _) = h.join(join_req(&ids[1], None, 9));
    assert_eq!(h.answer(t0).generation_id, generation + 1);
    assert_eq!(h.answer(t1).generation_id, generation + 1);
}

#[test]
fn follower_rejoin_with_same_metadata_in_stable_gets_current_generation() {
    let mut h = Harness::new();
    let (ids, generation, _) = h.stable_group(2);
    let r = h.join(join_req(&ids[1], None, 9)).1.unwrap();
    assert_eq!((r.error, r.generation_id), (ErrorCode::None, generation));
    assert!(r.members.is_empty());
    assert_eq!(h.c.group_state(GROUP), Some(GroupState::Stable));
}

#[test]
fn rebalance_timeout_drops_dynamic_members_that_did_not_rejoin() {
    let mut h = Harness::new();
    let (ids, generation, leader) = h.stable_group(3);
    // New metadata: the follower's rejoin starts a rebalance (deadline now + 30 s).
    let mut req = join_req(&ids[1], None, 9);
    req.protocols = protocols(&["range", "sticky"]);
    let (t, _) = h.join(req);
    // Keep the others' sessions alive; they answer REBALANCE_IN_PROGRESS but never rejoin.
    for _ in 0..3 {
        h.advance(9_000);
        for id in &ids {
            h.c.handle_heartbeat(h.now, &hb(id, generation));
        }
    }
    assert!(h.joins.is_empty());
    h.advance(3_000);
    let r = h.answer(t);
    assert_eq!(r.generation_id, generation + 1);
    assert_eq!(r.leader, ids[1], "the only rejoined member leads");
    assert!(r.members.iter().all(|m| m.member_id == ids[1]));
    let d = h.c.describe_group(GROUP);
    assert_eq!(d.members.len(), 1);
    assert_ne!(leader, ids[1]);
}

#[test]
fn static_member_not_rejoined_stays_until_session_timeout() {
    let mut h = Harness::new();
    let short = |mut r: semel_group::JoinRequest| {
        r.rebalance_timeout_ms = 5_000;
        r
    };
    let (ts, _) = h.join(short(join_req("", Some("s"), 9)));
    let d = h.member_id();
    let (td, _) = h.join(short(join_req(&d, None, 9)));
    h.settle();
    let s = h.answer(ts);
    let dr = h.answer(td);
    h.sync_all(
        &[s.member_id.clone(), d.clone()],
        s.generation_id,
        &s.leader,
    );
    // The dynamic member rejoins with new metadata; the static one is silent but its
    // session (10 s) outlives the rebalance timeout (5 s).
    let mut req = short(join_req(&d, None, 9));
    req.protocols = protocols(&["range", "sticky"]);
    let (t, _) = h.join(req);
    h.advance(5_000);
    let r = h.answer(t);
    assert_eq!(r.generation_id, dr.generation_id + 1);
    assert!(
        h.c.describe_group(GROUP)
            .members
            .iter()
            .any(|m| m.member_id == s.member_id),
        "static member kept through the rebalance"
    );
    h.sync(sync_req(&d, r.generation_id, Vec::new()));
    // Its session (10 s from its last sync) expires: it is removed and a rebalance starts.
    h.advance(5_000);
    assert!(
        h.c.describe_group(GROUP)
            .members
            .iter()
            .all(|m| m.member_id != s.member_id)
    );
    assert_eq!(h.c.group_state(GROUP), Some(GroupState::PreparingRebalance));
}

#[test]
fn session_timeout_removes_member_and_triggers_rebalance() {
    let mut h = Harness::new();
    let (ids, generation, _) = h.stable_group(2);
    h.advance(6_000);
    assert_eq!(
        h.c.handle_heartbeat(h.now, &hb(&ids[0], generation)),
        ErrorCode::None
    );
    h.advance(6_000);
    assert_eq!(h.c.group_state(GROUP), Some(GroupState::PreparingRebalance));
    assert_eq!(h.c.describe_group(GROUP).members.len(), 1);
    assert_eq!(
        h.c.handle_heartbeat(h.now, &hb(&ids[1], generation)),
        ErrorCode::UnknownMemberId
    );
}

#[test]
fn pending_sync_expiry_removes_members_that_never_synced() {
    let mut h = Harness::new();
    let a = h.member_id();
    let b = h.member_id();
    let (ta, _) = h.join(join_req(&a, None, 9));
    let (tb, _) = h.join(join_req(&b, None, 9));
    h.settle();
    let ra = h.answer(ta);
    h.answer(tb);
    // Only the leader syncs; the follower keeps heartbeating but never syncs.
    let leader = ra.leader.clone();
    let follower = if leader == a { b.clone() } else { a.clone() };
    h.sync(sync_req(&leader, ra.generation_id, Vec::new()));
    for _ in 0..5 {
        h.advance(6_000);
        h.c.handle_heartbeat(h.now, &hb(&leader, ra.generation_id));
        h.c.handle_heartbeat(h.now, &hb(&follower, ra.generation_id));
    }
    assert!(
        h.c.describe_group(GROUP)
            .members
            .iter()
            .all(|m| m.member_id != follower)
    );
}

#[test]
fn member_id_required_expires_after_session_timeout() {
    let mut h = Harness::new();
    let id = h.member_id();
    assert_eq!(h.c.group_state(GROUP), Some(GroupState::Empty));
    h.advance(10_000);
    let r = h.join(join_req(&id, None, 9)).1.unwrap();
    assert_eq!(r.error, ErrorCode::UnknownMemberId);
}

#[test]
fn pending_member_holds_the_join_phase_until_it_rejoins() {
    let mut h = Harness::new();
    let (ids, _, _) = h.stable_group(1);
    let newcomer = h.member_id();
    let (t0, _) = h.join(join_req(&ids[0], None, 9));
    assert!(h.joins.is_empty(), "waits for the pending member");
    let (t1, _) = h.join(join_req(&newcomer, None, 9));
    assert_eq!(h.answer(t0).generation_id, 2);
    assert_eq!(h.answer(t1).generation_id, 2);
}

#[test]
fn protocol_selection_by_votes() {
    let mut h = Harness::new();
    let prefs: [&[&str]; 3] = [
        &["range", "sticky"],
        &["sticky", "range"],
        &["sticky", "range", "rr"],
    ];
    let mut tokens = Vec::new();
    for p in prefs {
        let id = h.member_id();
        let mut req = join_req(&id, None, 9);
        req.protocols = protocols(p);
        tokens.push(h.join(req).0);
    }
    h.settle();
    for t in tokens {
        let r = h.answer(t);
        assert_eq!(r.protocol_name.as_deref(), Some("sticky"));
        for m in &r.members {
            assert_eq!(m.metadata, b"meta-sticky");
        }
    }
}

#[test]
fn leader_that_leaves_is_replaced() {
    let mut h = Harness::new();
    let (ids, _, leader) = h.stable_group(2);
    let r = h.c.handle_leave(
        h.now,
        GROUP,
        &[LeavingMember {
            member_id: leader.clone(),
            group_instance_id: None,
        }],
    );
    assert_eq!(r.members[0].error, ErrorCode::None);
    let (t, _) = h.join(join_req(&ids[1], None, 9));
    let r = h.answer(t);
    assert_eq!(r.leader, ids[1]);
    assert_eq!(r.generation_id, 2);
}

#[test]
fn sync_missing_member_gets_empty_assignment() {
    let mut h = Harness::new();
    let a = h.member_id();
    let b = h.member_id();
    let (ta, _) = h.join(join_req(&a, None, 9));
    let (tb, _) = h.join(join_req(&b, None, 9));
    h.settle();
    let ra = h.answer(ta);
    h.answer(tb);
    let follower = if ra.leader == a { b.clone() } else { a.clone() };
    let (tf, _) = h.sync(sync_req(&follower, ra.generation_id, Vec::new()));
    let assignments = vec![
        (ra.leader.clone(), b"mine".to_vec()),
        ("ghost".to_owned(), b"x".to_vec()),
    ];
    let (tl, _) = h.sync(sync_req(&ra.leader, ra.generation_id, assignments));
    assert_eq!(h.sync_answer(tl).assignment, b"mine");
    let f = h.sync_answer(tf);
    assert_eq!((f.error, f.assignment), (ErrorCode::None, Vec::new()));
}

#[test]
fn last_member_leaving_bumps_generation_and_goes_empty() {
    let mut h = Harness::new();
    let (ids, generation, _) = h.stable_group(1);
    h.c.handle_leave(
        h.now,
        GROUP,
        &[LeavingMember {
            member_id: ids[0].clone(),
            group_instance_id: None,
        }],
    );
    h.drain();
    assert_eq!(h.c.group_state(GROUP), Some(GroupState::Empty));
    assert_eq!(h.c.generation_id(GROUP), Some(generation + 1));
}

#[test]
fn static_member_replacement_in_stable_keeps_generation_and_old_leader_before_v9() {
    let mut h = Harness::new();
    let (t, _) = h.join(join_req("", Some("s"), 5));
    h.settle();
    let old = h.answer(t);
    h.sync(sync_req(
        &old.member_id,
        old.generation_id,
        vec![(old.member_id.clone(), b"p".to_vec())],
    ));
    let (t2, _) = h.join(join_req("", Some("s"), 5));
    let new = h.answer(t2);
    assert_eq!(new.generation_id, old.generation_id);
    assert_eq!(
        new.leader, old.member_id,
        "old leader id: the member must not reassign"
    );
    assert!(!new.skip_assignment);
    assert!(new.member_id.starts_with("s-"));
    // The assignment is kept under the new id.
    let r = h
        .sync(sync_req(&new.member_id, new.generation_id, Vec::new()))
        .1
        .unwrap();
    assert_eq!(r.assignment, b"p");
}

#[test]
fn static_leader_replacement_in_stable_skips_assignment_from_v9() {
    let mut h = Harness::new();
    let (t, _) = h.join(join_req("", Some("s"), 9));
    h.settle();
    let old = h.answer(t);
    h.sync(sync_req(&old.member_id, old.generation_id, Vec::new()));
    let (t2, _) = h.join(join_req("", Some("s"), 9));
    let new = h.answer(t2);
    assert_eq!(new.leader, new.member_id);
    assert!(new.skip_assignment);
    assert_eq!(new.members.len(), 1);
}

#[test]
fn static_replacement_fences_parked_join() {
    let mut h = Harness::new();
    let (ids, _, _) = h.stable_group(1);
    let (ts, _) = h.join(join_req("", Some("s"), 9));
    // The instance restarts before the join phase completes and joins again without an id.
    let s_old =
        h.c.describe_group(GROUP)
            .members
            .iter()
            .find(|m| m.group_instance_id.is_some())
            .unwrap()
            .member_id
            .clone();
    let (ts2, _) = h.join(join_req("", Some("s"), 9));
    let fenced = h.answer(ts);
    assert_eq!(fenced.error, ErrorCode::FencedInstanceId);
    assert_eq!(fenced.member_id, s_old);
    let (t0, _) = h.join(join_req(&ids[0], None, 9));
    assert_eq!(h.answer(t0).error, ErrorCode::None);
    assert_eq!(h.answer(ts2).error, ErrorCode::None);
}

#[test]
fn describe_and_list_groups() {
    let mut h = Harness::new();
    h.stable_group(2);
    assert_eq!(
        h.c.validate_offset_commit(
            h.now,
            &OffsetCommitCheck {
                group_id: "standalone",
                ..commit("", -1)
            }
        ),
        ErrorCode::None
    );
    let all = h.c.list_groups(&[]);
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].group_id, GROUP);
    assert_eq!(all[0].protocol_type, "consumer");
    assert_eq!(all[1].protocol_type, "");
    let empty = h.c.list_groups(&[GroupState::Empty]);
    assert_eq!(empty.len(), 1);
    assert_eq!(empty[0].group_id, "standalone");
    let unknown = h.c.describe_group("nope");
    assert_eq!(
        (unknown.error, unknown.state),
        (ErrorCode::None, GroupState::Dead)
    );
}

#[test]
fn replay_restores_generation_and_members() {
    let mut h = Harness::new();
    let (ids, generation, leader) = h.stable_group(3);
    let before = h.c.describe_group(GROUP);
    assert_eq!(before.leader.as_deref(), Some(leader.as_str()));
    let replayed = GroupCoordinator::replay(
        GroupConfig::default(),
        1,
        h.now,
        h.log.iter().map(Vec::as_slice),
    )
    .unwrap();
    assert_eq!(replayed.describe_group(GROUP), before);
    h.c = replayed;
    // Members carry on with their generation, or time out.
    assert_eq!(
        h.c.handle_heartbeat(h.now, &hb(&ids[1], generation)),
        ErrorCode::None
    );
    let r = h.sync(sync_req(&ids[2], generation, Vec::new())).1.unwrap();
    assert_eq!(r.assignment, format!("a-{}", ids[2]).into_bytes());
    h.advance(5_000);
    assert_eq!(
        h.c.handle_heartbeat(h.now, &hb(&ids[1], generation)),
        ErrorCode::None
    );
    assert_eq!(
        h.c.handle_heartbeat(h.now, &hb(&ids[2], generation)),
        ErrorCode::None
    );
    h.advance(5_000);
    // The member that neither heartbeat nor rejoined after the restart timed out.
    assert_eq!(h.c.group_state(GROUP), Some(GroupState::PreparingRebalance));
    assert!(
        h.c.describe_group(GROUP)
            .members
            .iter()
            .all(|m| m.member_id != ids[0])
    );
}

#[test]
fn replay_of_a_deleted_group_forgets_it() {
    let mut h = Harness::new();
    let (ids, _, _) = h.stable_group(1);
    h.c.handle_leave(
        h.now,
        GROUP,
        &[LeavingMember {
            member_id: ids[0].clone(),
            group_instance_id: None,
        }],
    );
    h.drain();
    h.c.delete_groups(&[GROUP]);
    h.drain();
    let replayed = GroupCoordinator::replay(
        GroupConfig::default(),
        1,
        h.now,
        h.log.iter().map(Vec::as_slice),
    )
    .unwrap();
    assert!(replayed.group_state(GROUP).is_none());
}

#[test]
fn replay_mid_rebalance_resumes_with_fresh_deadlines() {
    let mut h = Harness::new();
    let a = h.member_id();
    let (t, _) = h.join(join_req(&a, None, 9));
    h.settle();
    let r = h.answer(t);
    // Crash before the leader's SyncGroup: the generation was persisted at join completion.
    let mut c = GroupCoordinator::replay(
        GroupConfig::default(),
        1,
        h.now,
        h.log.iter().map(Vec::as_slice),
    )
    .unwrap();
    assert_eq!(c.group_state(GROUP), Some(GroupState::CompletingRebalance));
    assert_eq!(c.generation_id(GROUP), Some(r.generation_id));
    let t = semel_group::RequestToken(99);
    assert!(
        c.handle_sync(
            h.now,
            t,
            sync_req(&a, r.generation_id, vec![(a.clone(), b"x".to_vec())])
        )
        .is_none()
    );
    assert_eq!(c.group_state(GROUP), Some(GroupState::Stable));
}

#[test]
fn poll_timeout_reports_the_next_deadline() {
    let mut h = Harness::new();
    assert_eq!(h.c.poll_timeout(), None);
    let a = h.member_id();
    assert_eq!(
        h.c.poll_timeout(),
        Some(h.now + 10_000),
        "pending member expiry"
    );
    h.join(join_req(&a, None, 9));
    assert_eq!(
        h.c.poll_timeout(),
        Some(h.now + 3_000),
        "initial rebalance delay"
    );
}
