//! Transactions: InitProducerId (with a transactional id), AddPartitionsToTxn,
//! AddOffsetsToTxn, EndTxn, TxnOffsetCommit, DescribeTransactions, ListTransactions,
//! DescribeProducers. The rules are semel-txn's; this converts and routes.

use super::{BodyFuture, Handled, code};
use crate::broker::Broker;
use crate::groups::{AfterDurable, Groups};
use crate::now_ms;
use crate::transactions::{Answer, offsets_partition};
use semel_offsets::PartitionOffset;
use semel_txn::{Completion, ErrorCode, TopicPartition, TxnApi, TxnResult, TxnState};
use semel_wire::messages::ResponseBody;
use semel_wire::messages::add_offsets_to_txn_request::AddOffsetsToTxnRequest;
use semel_wire::messages::add_offsets_to_txn_response::AddOffsetsToTxnResponse;
use semel_wire::messages::add_partitions_to_txn_request::AddPartitionsToTxnRequest;
use semel_wire::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnResponse, AddPartitionsToTxnTopicResult,
};
use semel_wire::messages::describe_producers_request::DescribeProducersRequest;
use semel_wire::messages::describe_producers_response::{
    DescribeProducersResponse, PartitionResponse, ProducerState, TopicResponse,
};
use semel_wire::messages::describe_transactions_request::DescribeTransactionsRequest;
use semel_wire::messages::describe_transactions_response::{
    DescribeTransactionsResponse, TopicData, TransactionState,
};
use semel_wire::messages::end_txn_request::EndTxnRequest;
use semel_wire::messages::end_txn_response::EndTxnResponse;
use semel_wire::messages::init_producer_id_request::InitProducerIdRequest;
use semel_wire::messages::init_producer_id_response::InitProducerIdResponse;
use semel_wire::messages::list_transactions_request::ListTransactionsRequest;
use semel_wire::messages::list_transactions_response::ListTransactionsResponse;
use semel_wire::messages::txn_offset_commit_request::TxnOffsetCommitRequest;
use semel_wire::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponse, TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::oneshot;

const OPERATION_NOT_ATTEMPTED: i16 = 55;
const COORDINATOR_NOT_AVAILABLE: i16 = 15;

/// The code a completion carries (Internal completions never reach a client).
fn completion_code(completion: &Completion) -> ErrorCode {
    match completion {
        Completion::InitProducerId(r) => r.error,
        Completion::AddPartitions(e) | Completion::AddOffsets(e) | Completion::EndTxn(e) => *e,
        Completion::Internal => ErrorCode::None,
    }
}

/// Turns a coordinator answer into a response body, now or once durable.
fn answer<T: Send + 'static>(
    answer: Answer<T>,
    now: impl FnOnce(T) -> ResponseBody + Send + 'static,
    later: impl FnOnce(Option<Completion>) -> ResponseBody + Send + 'static,
) -> Handled {
    match answer {
        Answer::Now(value) => Handled::Now(now(value)),
        Answer::Later(rx) => {
            let future: BodyFuture = Box::pin(async move { later(rx.await.ok()) });
            Handled::Later(future)
        }
    }
}

/// InitProducerId with a transactional id (the idempotent form lives in `producer.rs`).
pub(super) fn init_producer_id(
    broker: &Arc<Broker>,
    req: &InitProducerIdRequest,
    version: i16,
) -> Handled {
    let transactional_id = req.transactional_id.clone().unwrap_or_default();
    let ids = Arc::clone(broker);
    let reply = broker.transactions.call(|c| {
        let mut source = || ids.producer_ids.next().ok();
        c.handle_init_producer_id(
            now_ms(),
            &transactional_id,
            req.transaction_timeout_ms,
            req.producer_id,
            req.producer_epoch,
            &mut source,
        )
    });
    let body = move |error: ErrorCode, producer_id: i64, producer_epoch: i16| {
        ResponseBody::InitProducerId(InitProducerIdResponse {
            error_code: error.code_for(TxnApi::InitProducerId, version),
            producer_id,
            producer_epoch,
            ..InitProducerIdResponse::default()
        })
    };
    answer(
        reply,
        move |r| body(r.error, r.producer_id, r.producer_epoch),
        move |completion| match completion {
            Some(Completion::InitProducerId(r)) => body(r.error, r.producer_id, r.producer_epoch),
            _ => body(ErrorCode::CoordinatorNotAvailable, -1, -1),
        },
    )
}

/// AddPartitionsToTxn v0-3. Partitions that do not exist fail the request:
/// UNKNOWN_TOPIC_OR_PARTITION for them, OPERATION_NOT_ATTEMPTED for the others.
pub(super) fn add_partitions(
    broker: &Broker,
    req: AddPartitionsToTxnRequest,
    version: i16,
) -> Handled {
    let requested: Vec<(String, Vec<i32>)> = req
        .v3_and_below_topics
        .iter()
        .map(|t| (t.name.clone(), t.partitions.clone()))
        .collect();
    let exists = |topic: &str, p: i32| {
        broker
            .store
            .topic(topic)
            .is_some_and(|t| t.partition(p).is_some())
    };
    let all_exist = requested
        .iter()
        .all(|(t, ps)| ps.iter().all(|&p| exists(t, p)));
    let per_partition = |code_of: &dyn Fn(&str, i32) -> i16| -> ResponseBody {
        ResponseBody::AddPartitionsToTxn(AddPartitionsToTxnResponse {
            results_by_topic_v3_and_below: requested
                .iter()
                .map(|(name, partitions)| AddPartitionsToTxnTopicResult {
                    name: name.clone(),
                    results_by_partition: partitions
                        .iter()
                        .map(|&p| AddPartitionsToTxnPartitionResult {
                            partition_index: p,
                            partition_error_code: code_of(name, p),
                            ..AddPartitionsToTxnPartitionResult::default()
                        })
                        .collect(),
                    ..AddPartitionsToTxnTopicResult::default()
                })
                .collect(),
            ..AddPartitionsToTxnResponse::default()
        })
    };
    if !all_exist {
        return Handled::Now(per_partition(&|t, p| {
            if exists(t, p) {
                OPERATION_NOT_ATTEMPTED
            } else {
                code::UNKNOWN_TOPIC_OR_PARTITION
            }
        }));
    }
    let partitions: Vec<TopicPartition> = requested
        .iter()
        .flat_map(|(t, ps)| ps.iter().map(move |&p| TopicPartition::new(t.as_str(), p)))
        .collect();
    let reply = broker.transactions.call(|c| {
        c.handle_add_partitions(
            now_ms(),
            &req.v3_and_below_transactional_id,
            req.v3_and_below_producer_id,
            req.v3_and_below_producer_epoch,
            &partitions,
        )
    });
    let shape = requested.clone();
    let build = move |error: ErrorCode| {
        let code = error.code_for(TxnApi::AddPartitionsToTxn, version);
        ResponseBody::AddPartitionsToTxn(AddPartitionsToTxnResponse {
            results_by_topic_v3_and_below: shape
                .iter()
                .map(|(name, partitions)| AddPartitionsToTxnTopicResult {
                    name: name.clone(),
                    results_by_partition: partitions
                        .iter()
                        .map(|&p| AddPartitionsToTxnPartitionResult {
                            partition_index: p,
                            partition_error_code: code,
                            ..AddPartitionsToTxnPartitionResult::default()
                        })
                        .collect(),
                    ..AddPartitionsToTxnTopicResult::default()
                })
                .collect(),
            ..AddPartitionsToTxnResponse::default()
        })
    };
    let build_later = build.clone();
    answer(reply, build, move |c| {
        build_later(
            c.as_ref()
                .map_or(ErrorCode::CoordinatorNotAvailable, completion_code),
        )
    })
}

/// AddOffsetsToTxn: adds the group's offsets partition to the transaction.
pub(super) fn add_offsets(broker: &Broker, req: &AddOffsetsToTxnRequest, version: i16) -> Handled {
    let reply = broker.transactions.call(|c| {
        c.handle_add_offsets(
            now_ms(),
            &req.transactional_id,
            req.producer_id,
            req.producer_epoch,
            offsets_partition(&req.group_id),
        )
    });
    let build = move |error: ErrorCode| {
        ResponseBody::AddOffsetsToTxn(AddOffsetsToTxnResponse {
            error_code: error.code_for(TxnApi::AddOffsetsToTxn, version),
            ..AddOffsetsToTxnResponse::default()
        })
    };
    answer(reply, build, move |c| {
        build(
            c.as_ref()
                .map_or(ErrorCode::CoordinatorNotAvailable, completion_code),
        )
    })
}

/// EndTxn: answered once PrepareCommit/PrepareAbort is durable; markers follow.
pub(super) fn end_txn(broker: &Broker, req: &EndTxnRequest, version: i16) -> Handled {
    let result = if req.committed {
        TxnResult::Commit
    } else {
        TxnResult::Abort
    };
    let reply = broker.transactions.call(|c| {
        c.handle_end_txn(
            now_ms(),
            &req.transactional_id,
            req.producer_id,
            req.producer_epoch,
            result,
        )
    });
    let build = move |error: ErrorCode| {
        ResponseBody::EndTxn(EndTxnResponse {
            error_code: error.code_for(TxnApi::EndTxn, version),
            ..EndTxnResponse::default()
        })
    };
    answer(reply, build, move |c| {
        build(
            c.as_ref()
                .map_or(ErrorCode::CoordinatorNotAvailable, completion_code),
        )
    })
}

/// TxnOffsetCommit: the group's offsets partition must be in the producer's transaction
/// (AddOffsetsToTxn), the member and generation must be valid (semel-group, transactional
/// rules), then the offsets are stored as pending under the producer id until its marker.
pub(super) fn txn_offset_commit(
    broker: &Broker,
    req: TxnOffsetCommitRequest,
    version: i16,
) -> Handled {
    let respond = move |topics: Vec<(String, Vec<(i32, i16)>)>| {
        ResponseBody::TxnOffsetCommit(TxnOffsetCommitResponse {
            topics: topics
                .into_iter()
                .map(|(name, partitions)| TxnOffsetCommitResponseTopic {
                    name,
                    partitions: partitions
                        .into_iter()
                        .map(
                            |(partition_index, error_code)| TxnOffsetCommitResponsePartition {
                                partition_index,
                                error_code,
                                ..TxnOffsetCommitResponsePartition::default()
                            },
                        )
                        .collect(),
                    ..TxnOffsetCommitResponseTopic::default()
                })
                .collect(),
            ..TxnOffsetCommitResponse::default()
        })
    };
    let shape: Vec<(String, Vec<i32>)> = req
        .topics
        .iter()
        .map(|t| {
            (
                t.name.clone(),
                t.partitions.iter().map(|p| p.partition_index).collect(),
            )
        })
        .collect();
    let all = |shape: &[(String, Vec<i32>)], code: i16| -> Vec<(String, Vec<(i32, i16)>)> {
        shape
            .iter()
            .map(|(t, ps)| (t.clone(), ps.iter().map(|&p| (p, code)).collect()))
            .collect()
    };
    // Verification (KIP-890 part 1): the offsets partition must be in the transaction.
    let verified = broker.transactions.read(|c| {
        c.verify_partitions(
            &req.transactional_id,
            req.producer_id,
            req.producer_epoch,
            &[offsets_partition(&req.group_id)],
        )
    });
    let verify_error = verified
        .first()
        .map_or(ErrorCode::UnknownServerError, |(_, e)| *e);
    if verify_error != ErrorCode::None {
        let code = match verify_error {
            // Not added with AddOffsetsToTxn: INVALID_TXN_STATE before v4 (NOTES D.6).
            ErrorCode::TransactionAbortable if version < 4 => ErrorCode::InvalidTxnState.code(),
            ErrorCode::ProducerFenced => ErrorCode::InvalidProducerEpoch.code(),
            other => other.code(),
        };
        return Handled::Now(respond(all(&shape, code)));
    }
    let offsets: Vec<PartitionOffset> = req
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(|p| PartitionOffset {
                topic: t.name.clone(),
                partition: p.partition_index,
                offset: p.committed_offset,
                leader_epoch: p.committed_leader_epoch,
                metadata: p.committed_metadata.clone().unwrap_or_default(),
            })
        })
        .collect();
    let group_id = req.group_id.clone();
    let rx = broker.groups.with_state_then(|state| {
        let check = semel_group::OffsetCommitCheck {
            group_id: &group_id,
            generation_id: req.generation_id,
            member_id: &req.member_id,
            group_instance_id: req.group_instance_id.as_deref(),
            transactional: true,
        };
        let membership = state.groups.validate_offset_commit(now_ms(), &check);
        let (tx, rx) = oneshot::channel();
        if membership != semel_group::ErrorCode::None {
            let code = membership.code();
            let then: Vec<AfterDurable> = vec![Box::new(move |_| {
                let _ = tx.send(Err(code));
            })];
            return (rx, Vec::new(), then);
        }
        let outcome = state
            .offsets
            .txn_commit(req.producer_id, &group_id, offsets, now_ms());
        let errors: Vec<i16> = outcome.errors.iter().map(|e| e.code()).collect();
        let (records, write) = match outcome.write {
            Some(write) => (Groups::offset_records(&write), Some(write)),
            None => (Vec::new(), None),
        };
        let then: Vec<AfterDurable> = vec![Box::new(move |groups: &Groups| {
            if let Some(write) = write {
                groups.offsets_persisted(write);
            }
            let _ = tx.send(Ok(errors));
        })];
        (rx, records, then)
    });
    Handled::Later(Box::pin(async move {
        let topics = match rx.await {
            Ok(Ok(errors)) => {
                let mut errors = errors.into_iter();
                shape
                    .iter()
                    .map(|(t, ps)| {
                        (
                            t.clone(),
                            ps.iter()
                                .map(|&p| (p, errors.next().unwrap_or(0)))
                                .collect(),
                        )
                    })
                    .collect()
            }
            Ok(Err(code)) => all(&shape, code),
            Err(_) => all(&shape, COORDINATOR_NOT_AVAILABLE),
        };
        respond(topics)
    }))
}

/// DescribeTransactions.
pub(super) fn describe_transactions(
    broker: &Broker,
    req: &DescribeTransactionsRequest,
) -> ResponseBody {
    let states = broker.transactions.read(|c| {
        req.transactional_ids
            .iter()
            .map(|id| {
                let d = c.describe(id);
                let mut topics: BTreeMap<String, Vec<i32>> = BTreeMap::new();
                for tp in &d.partitions {
                    topics
                        .entry(tp.topic.to_string())
                        .or_default()
                        .push(tp.partition);
                }
                TransactionState {
                    error_code: d.error.code(),
                    transactional_id: id.clone(),
                    transaction_state: d.state.name().to_owned(),
                    transaction_timeout_ms: d.transaction_timeout_ms,
                    transaction_start_time_ms: d.transaction_start_time_ms,
                    producer_id: d.producer_id,
                    producer_epoch: d.producer_epoch,
                    topics: topics
                        .into_iter()
                        .map(|(topic, partitions)| TopicData {
                            topic,
                            partitions,
                            ..TopicData::default()
                        })
                        .collect(),
                    ..TransactionState::default()
                }
            })
            .collect()
    });
    ResponseBody::DescribeTransactions(DescribeTransactionsResponse {
        transaction_states: states,
        ..DescribeTransactionsResponse::default()
    })
}

/// ListTransactions (v1 duration filter).
pub(super) fn list_transactions(broker: &Broker, req: &ListTransactionsRequest) -> ResponseBody {
    let mut unknown = Vec::new();
    let mut states = Vec::new();
    for name in &req.state_filters {
        match TxnState::from_name(name) {
            Some(state) => states.push(state),
            None => unknown.push(name.clone()),
        }
    }
    // Only unknown names: nothing can match.
    let nothing = !req.state_filters.is_empty() && states.is_empty();
    let listed = if nothing {
        Vec::new()
    } else {
        broker.transactions.read(|c| {
            c.list(
                now_ms(),
                &states,
                &req.producer_id_filters,
                req.duration_filter,
            )
        })
    };
    ResponseBody::ListTransactions(ListTransactionsResponse {
        unknown_state_filters: unknown,
        transaction_states: listed
            .into_iter()
            .map(
                |t| semel_wire::messages::list_transactions_response::TransactionState {
                    transactional_id: t.transactional_id.to_string(),
                    producer_id: t.producer_id,
                    transaction_state: t.state.name().to_owned(),
                    ..Default::default()
                },
            )
            .collect(),
        ..ListTransactionsResponse::default()
    })
}

/// DescribeProducers: the producer state of each partition.
pub(super) fn describe_producers(broker: &Broker, req: &DescribeProducersRequest) -> ResponseBody {
    let topics = req
        .topics
        .iter()
        .map(|t| {
            let topic = broker.store.topic(&t.name);
            TopicResponse {
                name: t.name.clone(),
                partitions: t
                    .partition_indexes
                    .iter()
                    .map(
                        |&p| match topic.as_ref().and_then(|topic| topic.partition(p)) {
                            None => PartitionResponse {
                                partition_index: p,
                                error_code: code::UNKNOWN_TOPIC_OR_PARTITION,
                                ..PartitionResponse::default()
                            },
                            Some(partition) => PartitionResponse {
                                partition_index: p,
                                active_producers: partition
                                    .producers()
                                    .into_iter()
                                    .map(|(id, epoch, seq, ts, coord, first)| ProducerState {
                                        producer_id: id,
                                        producer_epoch: i32::from(epoch),
                                        last_sequence: seq,
                                        last_timestamp: ts,
                                        coordinator_epoch: coord,
                                        current_txn_start_offset: first,
                                        ..ProducerState::default()
                                    })
                                    .collect(),
                                ..PartitionResponse::default()
                            },
                        },
                    )
                    .collect(),
                ..TopicResponse::default()
            }
        })
        .collect();
    ResponseBody::DescribeProducers(DescribeProducersResponse {
        topics,
        ..DescribeProducersResponse::default()
    })
}
