//! Consumer groups: FindCoordinator, JoinGroup, SyncGroup, Heartbeat, LeaveGroup,
//! OffsetCommit, OffsetFetch, DescribeGroups, ListGroups, DeleteGroups, OffsetDelete.
//!
//! Each handler converts the wire request into semel-group / semel-offsets values, asks them
//! (through [`Groups`], which persists their records), and converts back. Answers that depend
//! on records come back through a channel once those records are durable.

use super::{BodyFuture, Handled, code};
use crate::broker::{Broker, NODE_ID};
use crate::groups::{AfterDurable, Groups, Parked};
use crate::now_ms;
use bytes::Bytes;
use semel_group::{
    ErrorCode, GroupState, HeartbeatRequest as GHeartbeat, JoinRequest, LeavingMember,
    OffsetCommitCheck, Protocol, SyncRequest,
};
use semel_offsets::{Fetched, PartitionOffset};
use semel_wire::messages::ResponseBody;
use semel_wire::messages::delete_groups_request::DeleteGroupsRequest;
use semel_wire::messages::delete_groups_response::{DeletableGroupResult, DeleteGroupsResponse};
use semel_wire::messages::describe_groups_request::DescribeGroupsRequest;
use semel_wire::messages::describe_groups_response::{
    DescribeGroupsResponse, DescribedGroup, DescribedGroupMember,
};
use semel_wire::messages::find_coordinator_request::FindCoordinatorRequest;
use semel_wire::messages::find_coordinator_response::{Coordinator, FindCoordinatorResponse};
use semel_wire::messages::heartbeat_request::HeartbeatRequest;
use semel_wire::messages::heartbeat_response::HeartbeatResponse;
use semel_wire::messages::join_group_request::JoinGroupRequest;
use semel_wire::messages::join_group_response::{JoinGroupResponse, JoinGroupResponseMember};
use semel_wire::messages::leave_group_request::LeaveGroupRequest;
use semel_wire::messages::leave_group_response::{LeaveGroupResponse, MemberResponse};
use semel_wire::messages::list_groups_request::ListGroupsRequest;
use semel_wire::messages::list_groups_response::{ListGroupsResponse, ListedGroup};
use semel_wire::messages::offset_commit_request::OffsetCommitRequest;
use semel_wire::messages::offset_commit_response::{
    OffsetCommitResponse, OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use semel_wire::messages::offset_delete_request::OffsetDeleteRequest;
use semel_wire::messages::offset_delete_response::{
    OffsetDeleteResponse, OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use semel_wire::messages::offset_fetch_request::OffsetFetchRequest;
use semel_wire::messages::offset_fetch_response::{
    OffsetFetchResponse, OffsetFetchResponseGroup, OffsetFetchResponsePartition,
    OffsetFetchResponsePartitions, OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use std::sync::Arc;
use tokio::sync::oneshot;

const COORDINATOR_NOT_AVAILABLE: i16 = 15;
const INVALID_REQUEST: i16 = 42;
const GROUP_ID_NOT_FOUND: i16 = 69;
const GROUP_SUBSCRIBED_TO_TOPIC: i16 = 86;

/// An answer computed under the lock, released after the records it depends on are durable.
fn after_durable<T: Send + 'static>(value: T) -> (oneshot::Receiver<T>, Vec<AfterDurable>) {
    let (tx, rx) = oneshot::channel();
    let then: AfterDurable = Box::new(move |_| {
        let _ = tx.send(value);
    });
    (rx, vec![then])
}

/// FindCoordinator (v0-3): this broker coordinates every group and transactional id.
pub(super) fn find_coordinator(
    broker: &Broker,
    req: &FindCoordinatorRequest,
    version: i16,
) -> ResponseBody {
    // Key type 0 = group, 1 = transaction (v1+): this broker coordinates both.
    let (error_code, error_message) = match req.key_type {
        0 | 1 => (code::NONE, None),
        other => (INVALID_REQUEST, Some(format!("unknown key type {other}"))),
    };
    let (host, port) = (
        broker.config.advertised_addr.0.clone(),
        i32::from(broker.config.advertised_addr.1),
    );
    let ok = error_code == code::NONE;
    let mut response = FindCoordinatorResponse {
        error_code,
        error_message: if version >= 1 {
            error_message.clone()
        } else {
            None
        },
        node_id: if ok { NODE_ID } else { -1 },
        host: if ok { host.clone() } else { String::new() },
        port: if ok { port } else { -1 },
        ..FindCoordinatorResponse::default()
    };
    if version >= 4 {
        response.coordinators = req
            .coordinator_keys
            .iter()
            .map(|key| Coordinator {
                key: key.clone(),
                node_id: if ok { NODE_ID } else { -1 },
                host: if ok { host.clone() } else { String::new() },
                port: if ok { port } else { -1 },
                error_code,
                error_message: error_message.clone(),
                ..Coordinator::default()
            })
            .collect();
    }
    ResponseBody::FindCoordinator(response)
}

fn join_response(r: semel_group::JoinResponse, version: i16) -> ResponseBody {
    // ProtocolName is nullable only from v7; older versions carry "" for "none".
    let protocol_name = if version >= 7 {
        r.protocol_name
    } else {
        Some(r.protocol_name.unwrap_or_default())
    };
    ResponseBody::JoinGroup(JoinGroupResponse {
        error_code: r.error.code(),
        generation_id: r.generation_id,
        protocol_type: r.protocol_type,
        protocol_name,
        leader: r.leader,
        skip_assignment: r.skip_assignment,
        member_id: r.member_id,
        members: r
            .members
            .into_iter()
            .map(|m| JoinGroupResponseMember {
                member_id: m.member_id,
                group_instance_id: m.group_instance_id,
                metadata: Bytes::from(m.metadata),
                ..JoinGroupResponseMember::default()
            })
            .collect(),
        ..JoinGroupResponse::default()
    })
}

fn sync_response(r: semel_group::SyncResponse) -> ResponseBody {
    ResponseBody::SyncGroup(
        semel_wire::messages::sync_group_response::SyncGroupResponse {
            error_code: r.error.code(),
            protocol_type: r.protocol_type,
            protocol_name: r.protocol_name,
            assignment: Bytes::from(r.assignment),
            ..Default::default()
        },
    )
}

/// Waits for a parked answer; a dropped channel (the broker failed to persist) is
/// COORDINATOR_NOT_AVAILABLE, which clients retry.
fn later(rx: oneshot::Receiver<Parked>, version: i16) -> Handled {
    let future: BodyFuture = Box::pin(async move {
        match rx.await {
            Ok(Parked::Join(r)) => join_response(r, version),
            Ok(Parked::Sync(r)) => sync_response(r),
            Err(_) => ResponseBody::JoinGroup(JoinGroupResponse {
                error_code: COORDINATOR_NOT_AVAILABLE,
                generation_id: -1,
                protocol_name: if version >= 7 {
                    None
                } else {
                    Some(String::new())
                },
                ..JoinGroupResponse::default()
            }),
        }
    });
    Handled::Later(future)
}

/// JoinGroup.
pub(super) fn join_group(
    broker: &Broker,
    client_id: Option<&str>,
    req: JoinGroupRequest,
    version: i16,
) -> Handled {
    let request = JoinRequest {
        api_version: version,
        group_id: req.group_id,
        client_id: client_id.unwrap_or("").to_owned(),
        session_timeout_ms: req.session_timeout_ms,
        // v0 has no rebalance timeout: Kafka uses the session timeout.
        rebalance_timeout_ms: if version >= 1 {
            req.rebalance_timeout_ms
        } else {
            req.session_timeout_ms
        },
        member_id: req.member_id,
        group_instance_id: req.group_instance_id,
        protocol_type: req.protocol_type,
        protocols: req
            .protocols
            .into_iter()
            .map(|p| Protocol {
                name: p.name,
                metadata: p.metadata.to_vec(),
            })
            .collect(),
    };
    let rx = broker.groups.with_state_then(|state| {
        let (token, rx) = Groups::park(state);
        match state.groups.handle_join(now_ms(), token, request) {
            Some(response) => {
                Groups::unpark(state, token);
                let (rx, then) = after_durable(Parked::Join(response));
                (rx, Vec::new(), then)
            }
            None => (rx, Vec::new(), Vec::new()),
        }
    });
    later(rx, version)
}

/// SyncGroup.
pub(super) fn sync_group(
    broker: &Broker,
    req: semel_wire::messages::sync_group_request::SyncGroupRequest,
    version: i16,
) -> Handled {
    let request = SyncRequest {
        group_id: req.group_id,
        generation_id: req.generation_id,
        member_id: req.member_id,
        group_instance_id: req.group_instance_id,
        protocol_type: req.protocol_type,
        protocol_name: req.protocol_name,
        assignments: req
            .assignments
            .into_iter()
            .map(|a| (a.member_id, a.assignment.to_vec()))
            .collect(),
    };
    let rx = broker.groups.with_state_then(|state| {
        let (token, rx) = Groups::park(state);
        match state.groups.handle_sync(now_ms(), token, request) {
            Some(response) => {
                Groups::unpark(state, token);
                let (rx, then) = after_durable(Parked::Sync(response));
                (rx, Vec::new(), then)
            }
            None => (rx, Vec::new(), Vec::new()),
        }
    });
    later(rx, version)
}

/// Heartbeat: answered at once (it changes no persisted state).
pub(super) fn heartbeat(broker: &Broker, req: HeartbeatRequest) -> ResponseBody {
    let request = GHeartbeat {
        group_id: req.group_id,
        generation_id: req.generation_id,
        member_id: req.member_id,
        group_instance_id: req.group_instance_id,
    };
    let error = broker
        .groups
        .with_state(|state| state.groups.handle_heartbeat(now_ms(), &request));
    ResponseBody::Heartbeat(HeartbeatResponse {
        error_code: error.code(),
        ..HeartbeatResponse::default()
    })
}

/// LeaveGroup (v0-2 one member, v3+ a batch), answered after the records it caused.
pub(super) fn leave_group(broker: &Broker, req: LeaveGroupRequest, version: i16) -> Handled {
    let leaving: Vec<LeavingMember> = if version >= 3 {
        req.members
            .into_iter()
            .map(|m| LeavingMember {
                member_id: m.member_id,
                group_instance_id: m.group_instance_id,
            })
            .collect()
    } else {
        vec![LeavingMember {
            member_id: req.member_id,
            group_instance_id: None,
        }]
    };
    let group_id = req.group_id;
    let rx = broker.groups.with_state_then(|state| {
        let response = state.groups.handle_leave(now_ms(), &group_id, &leaving);
        let (rx, then) = after_durable(response);
        (rx, Vec::new(), then)
    });
    Handled::Later(Box::pin(async move {
        let Ok(r) = rx.await else {
            return ResponseBody::LeaveGroup(LeaveGroupResponse {
                error_code: COORDINATOR_NOT_AVAILABLE,
                ..LeaveGroupResponse::default()
            });
        };
        let top = if version >= 3 {
            r.error.code()
        } else {
            // v0-2: the single member's error is the top-level error.
            let member = r.members.first().map_or(ErrorCode::None, |m| m.error);
            if r.error == ErrorCode::None {
                member.code()
            } else {
                r.error.code()
            }
        };
        ResponseBody::LeaveGroup(LeaveGroupResponse {
            error_code: top,
            members: if version >= 3 {
                r.members
                    .into_iter()
                    .map(|m| MemberResponse {
                        member_id: m.member_id,
                        group_instance_id: m.group_instance_id,
                        error_code: m.error.code(),
                        ..MemberResponse::default()
                    })
                    .collect()
            } else {
                Vec::new()
            },
            ..LeaveGroupResponse::default()
        })
    }))
}

/// A topic of an OffsetCommit: each partition with its error if it does not exist.
type PartitionShape = (String, Vec<(i32, Option<i16>)>);

/// OffsetCommit: membership checked by semel-group, offsets stored by semel-offsets, answered
/// once the records are durable.
pub(super) fn offset_commit(broker: &Arc<Broker>, req: OffsetCommitRequest) -> Handled {
    let now = now_ms();
    // Unknown topics or partitions get UNKNOWN_TOPIC_OR_PARTITION, as Kafka answers.
    let exists = |topic: &str, partition: i32| {
        broker
            .store
            .topic(topic)
            .is_some_and(|t| t.partition(partition).is_some())
    };
    // Per topic: each partition and, if it does not exist, its error.
    let mut shape: Vec<PartitionShape> = Vec::new();
    let mut offsets = Vec::new();
    for topic in &req.topics {
        let mut partitions = Vec::new();
        for p in &topic.partitions {
            if exists(&topic.name, p.partition_index) {
                partitions.push((p.partition_index, None));
                offsets.push(PartitionOffset {
                    topic: topic.name.clone(),
                    partition: p.partition_index,
                    offset: p.committed_offset,
                    leader_epoch: p.committed_leader_epoch,
                    metadata: p.committed_metadata.clone().unwrap_or_default(),
                });
            } else {
                partitions.push((p.partition_index, Some(code::UNKNOWN_TOPIC_OR_PARTITION)));
            }
        }
        shape.push((topic.name.clone(), partitions));
    }
    let group_id = req.group_id.clone();
    let rx = broker.groups.with_state_then(|state| {
        let check = OffsetCommitCheck {
            group_id: &group_id,
            generation_id: req.generation_id_or_member_epoch,
            member_id: &req.member_id,
            group_instance_id: req.group_instance_id.as_deref(),
            transactional: false,
        };
        let membership = state.groups.validate_offset_commit(now, &check);
        if membership != ErrorCode::None {
            let (rx, then) = after_durable(Err(membership.code()));
            return (rx, Vec::new(), then);
        }
        let outcome = state.offsets.commit(&group_id, offsets, now);
        let errors: Vec<i16> = outcome.errors.iter().map(|e| e.code()).collect();
        match outcome.write {
            Some(write) => {
                let records = Groups::offset_records(&write);
                let (tx, rx) = oneshot::channel();
                let then: Vec<AfterDurable> = vec![Box::new(move |groups: &Groups| {
                    groups.offsets_persisted(write);
                    let _ = tx.send(Ok(errors));
                })];
                (rx, records, then)
            }
            None => {
                let (rx, then) = after_durable(Ok(errors));
                (rx, Vec::new(), then)
            }
        }
    });
    Handled::Later(Box::pin(async move {
        let outcome = rx.await.unwrap_or(Err(COORDINATOR_NOT_AVAILABLE));
        let mut store_errors = match &outcome {
            Ok(errors) => errors.clone().into_iter(),
            Err(_) => Vec::new().into_iter(),
        };
        let topics = shape
            .into_iter()
            .map(|(name, partitions)| OffsetCommitResponseTopic {
                name,
                partitions: partitions
                    .into_iter()
                    .map(|(partition_index, known)| OffsetCommitResponsePartition {
                        partition_index,
                        error_code: match (known, &outcome) {
                            (Some(error), _) => error,
                            (None, Err(error)) => *error,
                            (None, Ok(_)) => store_errors.next().unwrap_or(code::NONE),
                        },
                        ..OffsetCommitResponsePartition::default()
                    })
                    .collect(),
                ..OffsetCommitResponseTopic::default()
            })
            .collect();
        ResponseBody::OffsetCommit(OffsetCommitResponse {
            topics,
            ..OffsetCommitResponse::default()
        })
    }))
}

/// `(partition, offset, leader epoch, metadata, error)` of one fetched partition.
type FetchedPartition = (i32, i64, i32, String, i16);

fn fetch_group(
    state: &crate::groups::State,
    group: &str,
    topics: Option<Vec<(String, Vec<i32>)>>,
    require_stable: bool,
) -> Vec<(String, Vec<FetchedPartition>)> {
    let convert = |partition: i32, fetched: Fetched<'_>| -> FetchedPartition {
        (
            partition,
            fetched.offset(),
            fetched.leader_epoch(),
            fetched.metadata().to_owned(),
            fetched.error_code().code(),
        )
    };
    match topics {
        Some(topics) => {
            let view = state.offsets.group(group);
            topics
                .into_iter()
                .map(|(topic, partitions)| {
                    let fetched = partitions
                        .into_iter()
                        .map(|p| convert(p, view.fetch(&topic, p, require_stable)))
                        .collect();
                    (topic, fetched)
                })
                .collect()
        }
        None => {
            let mut out: Vec<(String, Vec<FetchedPartition>)> = Vec::new();
            for entry in state.offsets.fetch_all(group, require_stable) {
                let row = convert(entry.partition, entry.fetched);
                match out.last_mut() {
                    Some((topic, rows)) if topic == entry.topic => rows.push(row),
                    _ => out.push((entry.topic.to_owned(), vec![row])),
                }
            }
            out
        }
    }
}

/// OffsetFetch (v1-7 single group, v8 many).
pub(super) fn offset_fetch(broker: &Broker, req: OffsetFetchRequest, version: i16) -> ResponseBody {
    // RequireStable exists from v7; older clients never ask for it.
    let require_stable = version >= 7 && req.require_stable;
    if version >= 8 {
        let groups = broker.groups.with_state(|state| {
            req.groups
                .iter()
                .map(|g| {
                    let topics = g.topics.as_ref().map(|ts| {
                        ts.iter()
                            .map(|t| (t.name.clone(), t.partition_indexes.clone()))
                            .collect()
                    });
                    let fetched = fetch_group(state, &g.group_id, topics, require_stable);
                    OffsetFetchResponseGroup {
                        group_id: g.group_id.clone(),
                        topics: fetched
                            .into_iter()
                            .map(|(name, partitions)| OffsetFetchResponseTopics {
                                name,
                                partitions: partitions
                                    .into_iter()
                                    .map(|(partition_index, offset, epoch, metadata, error)| {
                                        OffsetFetchResponsePartitions {
                                            partition_index,
                                            committed_offset: offset,
                                            committed_leader_epoch: epoch,
                                            metadata: Some(metadata),
                                            error_code: error,
                                            ..OffsetFetchResponsePartitions::default()
                                        }
                                    })
                                    .collect(),
                                ..OffsetFetchResponseTopics::default()
                            })
                            .collect(),
                        error_code: code::NONE,
                        ..OffsetFetchResponseGroup::default()
                    }
                })
                .collect()
        });
        return ResponseBody::OffsetFetch(OffsetFetchResponse {
            groups,
            ..OffsetFetchResponse::default()
        });
    }
    let topics = req.topics.map(|ts| {
        ts.into_iter()
            .map(|t| (t.name, t.partition_indexes))
            .collect()
    });
    let fetched = broker
        .groups
        .with_state(|state| fetch_group(state, &req.group_id, topics, require_stable));
    ResponseBody::OffsetFetch(OffsetFetchResponse {
        topics: fetched
            .into_iter()
            .map(|(name, partitions)| OffsetFetchResponseTopic {
                name,
                partitions: partitions
                    .into_iter()
                    .map(|(partition_index, offset, epoch, metadata, error)| {
                        OffsetFetchResponsePartition {
                            partition_index,
                            committed_offset: offset,
                            committed_leader_epoch: epoch,
                            metadata: Some(metadata),
                            error_code: error,
                            ..OffsetFetchResponsePartition::default()
                        }
                    })
                    .collect(),
                ..OffsetFetchResponseTopic::default()
            })
            .collect(),
        error_code: code::NONE,
        ..OffsetFetchResponse::default()
    })
}

/// DescribeGroups.
pub(super) fn describe_groups(broker: &Broker, req: &DescribeGroupsRequest) -> ResponseBody {
    let groups = broker.groups.with_state(|state| {
        req.groups
            .iter()
            .map(|id| {
                let g = state.groups.describe_group(id);
                DescribedGroup {
                    error_code: g.error.code(),
                    group_id: g.group_id,
                    group_state: g.state.as_str().to_owned(),
                    protocol_type: g.protocol_type,
                    protocol_data: g.protocol_data,
                    members: g
                        .members
                        .into_iter()
                        .map(|m| DescribedGroupMember {
                            member_id: m.member_id,
                            group_instance_id: m.group_instance_id,
                            client_id: m.client_id,
                            client_host: String::new(),
                            member_metadata: Bytes::from(m.metadata),
                            member_assignment: Bytes::from(m.assignment),
                            ..DescribedGroupMember::default()
                        })
                        .collect(),
                    authorized_operations: i32::MIN,
                    ..DescribedGroup::default()
                }
            })
            .collect()
    });
    ResponseBody::DescribeGroups(DescribeGroupsResponse {
        groups,
        ..DescribeGroupsResponse::default()
    })
}

fn parse_state(name: &str) -> Option<GroupState> {
    [
        GroupState::Empty,
        GroupState::PreparingRebalance,
        GroupState::CompletingRebalance,
        GroupState::Stable,
        GroupState::Dead,
    ]
    .into_iter()
    .find(|s| s.as_str().eq_ignore_ascii_case(name))
}

/// ListGroups (v4 state filter).
pub(super) fn list_groups(broker: &Broker, req: &ListGroupsRequest) -> ResponseBody {
    let states: Vec<GroupState> = req
        .states_filter
        .iter()
        .filter_map(|s| parse_state(s))
        .collect();
    // A filter naming only unknown states matches nothing.
    let nothing = !req.states_filter.is_empty() && states.is_empty();
    let groups = if nothing {
        Vec::new()
    } else {
        broker
            .groups
            .with_state(|state| state.groups.list_groups(&states))
    };
    ResponseBody::ListGroups(ListGroupsResponse {
        groups: groups
            .into_iter()
            .map(|g| ListedGroup {
                group_id: g.group_id,
                protocol_type: g.protocol_type,
                group_state: g.state.as_str().to_owned(),
                group_type: "classic".to_owned(),
                ..ListedGroup::default()
            })
            .collect(),
        ..ListGroupsResponse::default()
    })
}

/// DeleteGroups: the group and all its offsets, answered once the tombstones are durable.
pub(super) fn delete_groups(broker: &Broker, req: DeleteGroupsRequest) -> Handled {
    let rx = broker.groups.with_state_then(|state| {
        let ids: Vec<&str> = req.groups_names.iter().map(String::as_str).collect();
        let results = state.groups.delete_groups(&ids);
        let mut records = Vec::new();
        let mut then: Vec<AfterDurable> = Vec::new();
        for (group, error) in &results {
            if *error == ErrorCode::None
                && let Some(write) = state.offsets.delete_group(group)
            {
                records.extend(Groups::offset_records(&write));
                then.push(Box::new(move |groups: &Groups| {
                    groups.offsets_persisted(write)
                }));
            }
        }
        let (rx, send) = after_durable(results);
        then.extend(send);
        (rx, records, then)
    });
    Handled::Later(Box::pin(async move {
        let results = rx.await.unwrap_or_default();
        ResponseBody::DeleteGroups(DeleteGroupsResponse {
            results: results
                .into_iter()
                .map(|(group_id, error)| DeletableGroupResult {
                    group_id,
                    error_code: error.code(),
                    ..DeletableGroupResult::default()
                })
                .collect(),
            ..DeleteGroupsResponse::default()
        })
    }))
}

/// OffsetDelete: only for groups without members (a group with members may still be
/// subscribed; semel does not look inside consumer subscriptions, so it refuses them all
/// with GROUP_SUBSCRIBED_TO_TOPIC).
pub(super) fn offset_delete(broker: &Broker, req: OffsetDeleteRequest) -> Handled {
    let group_id = req.group_id.clone();
    let partitions: Vec<(String, i32)> = req
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(|p| (t.name.clone(), p.partition_index))
        })
        .collect();
    let rx = broker.groups.with_state_then(|state| {
        let group_error = match state.groups.group_state(&group_id) {
            None if !state.offsets.groups().contains(&group_id.as_str()) => {
                Some(GROUP_ID_NOT_FOUND)
            }
            Some(GroupState::Empty) | None => None,
            Some(_) => Some(GROUP_SUBSCRIBED_TO_TOPIC),
        };
        if let Some(error) = group_error {
            let (rx, then) = after_durable(Err(error));
            return (rx, Vec::new(), then);
        }
        let keys = partitions.iter().map(|(t, p)| (t.as_str(), *p));
        match state.offsets.delete_offsets(&group_id, keys) {
            Some(write) => {
                let records = Groups::offset_records(&write);
                let (tx, rx) = oneshot::channel();
                let then: Vec<AfterDurable> = vec![Box::new(move |groups: &Groups| {
                    groups.offsets_persisted(write);
                    let _ = tx.send(Ok(()));
                })];
                (rx, records, then)
            }
            None => {
                let (rx, then) = after_durable(Ok(()));
                (rx, Vec::new(), then)
            }
        }
    });
    Handled::Later(Box::pin(async move {
        let outcome = rx.await.unwrap_or(Err(COORDINATOR_NOT_AVAILABLE));
        let (top, per_partition) = match outcome {
            Ok(()) => (code::NONE, code::NONE),
            Err(GROUP_SUBSCRIBED_TO_TOPIC) => (code::NONE, GROUP_SUBSCRIBED_TO_TOPIC),
            Err(error) => (error, code::NONE),
        };
        ResponseBody::OffsetDelete(OffsetDeleteResponse {
            error_code: top,
            topics: if top == code::NONE {
                req.topics
                    .into_iter()
                    .map(|t| OffsetDeleteResponseTopic {
                        name: t.name,
                        partitions: t
                            .partitions
                            .into_iter()
                            .map(|p| OffsetDeleteResponsePartition {
                                partition_index: p.partition_index,
                                error_code: per_partition,
                            })
                            .collect(),
                    })
                    .collect()
            } else {
                Vec::new()
            },
            ..OffsetDeleteResponse::default()
        })
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use semel_wire::messages::encode_response;

    /// Every JoinGroup/SyncGroup answer the coordinator can give encodes in every advertised
    /// version (an answer that cannot be encoded would leave the client waiting).
    #[test]
    fn join_and_sync_answers_encode_in_every_served_version() {
        let error = semel_group::JoinResponse {
            error: ErrorCode::MemberIdRequired,
            generation_id: -1,
            protocol_type: None,
            protocol_name: None,
            leader: String::new(),
            skip_assignment: false,
            member_id: "m-1".into(),
            members: Vec::new(),
        };
        let ok = semel_group::JoinResponse {
            error: ErrorCode::None,
            generation_id: 3,
            protocol_type: Some("consumer".into()),
            protocol_name: Some("range".into()),
            leader: "m-1".into(),
            members: vec![semel_group::JoinedMember {
                member_id: "m-1".into(),
                group_instance_id: None,
                metadata: b"meta".to_vec(),
            }],
            ..error.clone()
        };
        let (min, max) =
            crate::broker::supported_versions(semel_wire::messages::ApiKey::JoinGroup).unwrap();
        for version in min..=max {
            for r in [&error, &ok] {
                encode_response(1, version, &join_response(r.clone(), version)).unwrap();
            }
        }
        let sync = semel_group::SyncResponse {
            error: ErrorCode::RebalanceInProgress,
            protocol_type: None,
            protocol_name: None,
            assignment: Vec::new(),
        };
        let (min, max) =
            crate::broker::supported_versions(semel_wire::messages::ApiKey::SyncGroup).unwrap();
        for version in min..=max {
            encode_response(1, version, &sync_response(sync.clone())).unwrap();
        }
    }
}
