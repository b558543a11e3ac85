//! Transactions: InitProducerId (with a transactional id), AddPartitionsToTxn,
//! AddOffsetsToTxn, EndTxn, TxnOffsetCommit, DescribeTransactions, ListTransactions,
//! DescribeProducers. The rules are semel-txn's; this converts and routes.

use super::{BodyFuture, Handled, code};
use crate::broker::Broker;
use crate::groups::{AfterDurable, Groups};
use crate::now_ms;
use crate::transactions::{Answer, Transactions, offsets_partition};
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
use std::time::Duration;
use tokio::sync::{oneshot, watch};

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

/// How long a request that finds its transaction busy waits for it to settle before it is
/// answered CONCURRENT_TRANSACTIONS. Busy means the previous EndTxn's markers are still being
/// written, or a record of the transaction is still being made durable: a few milliseconds.
/// Kafka answers at once and the client retries after a backoff (librdkafka: 20 ms for
/// AddPartitionsToTxn), which stalls a producer that begins its next transaction right after
/// a commit; waiting here gives it the answer its retry would have got, sooner.
const SETTLE_WAIT: Duration = Duration::from_secs(1);

/// What [`settle`] ended with.
enum Settled<T> {
    /// An answer to send now (still busy if the wait ran out).
    Now(T),
    /// The answer of a transition that had to be made durable (`None`: the coordinator
    /// stopped).
    Completed(Option<Completion>),
}

/// While `busy(answer)`, waits for the next finished transition and asks again, for up to
/// `wait` in all; returns the last answer. `settled` must have been taken before the first
/// answer was asked for.
async fn settle<T>(
    first: T,
    settled: &mut watch::Receiver<u64>,
    wait: Duration,
    busy: impl Fn(&T) -> bool,
    mut ask: impl FnMut() -> Answer<T>,
) -> Settled<T> {
    let deadline = tokio::time::Instant::now() + wait;
    let mut last = first;
    while busy(&last) {
        match tokio::time::timeout_at(deadline, settled.changed()).await {
            Ok(Ok(())) => {}
            // The wait ran out, or the coordinator is gone: answer what we have.
            Ok(Err(_)) | Err(_) => break,
        }
        match ask() {
            Answer::Now(value) => last = value,
            Answer::Later(rx) => return Settled::Completed(rx.await.ok()),
        }
    }
    Settled::Now(last)
}

/// Asks the coordinator with `ask` and turns its answer into a response body: now, once the
/// transition is durable, or, if the transaction is busy (`busy`), once it has settled (see
/// [`SETTLE_WAIT`]).
fn answer<T: Send + 'static>(
    broker: &Broker,
    mut ask: impl FnMut(&Transactions) -> Answer<T> + Send + 'static,
    busy: fn(&T) -> bool,
    now: impl FnOnce(T) -> ResponseBody + Send + 'static,
    later: impl FnOnce(Option<Completion>) -> ResponseBody + Send + 'static,
) -> Handled {
    let txns = Arc::clone(&broker.transactions);
    let mut settled = txns.watch_settled();
    match ask(&txns) {
        Answer::Now(value) if !busy(&value) => Handled::Now(now(value)),
        Answer::Now(value) => {
            let future: BodyFuture = Box::pin(async move {
                match settle(value, &mut settled, SETTLE_WAIT, busy, || ask(&txns)).await {
                    Settled::Now(value) => now(value),
                    Settled::Completed(completion) => later(completion),
                }
            });
            Handled::Later(future)
        }
        Answer::Later(rx) => {
            let future: BodyFuture = Box::pin(async move { later(rx.await.ok()) });
            Handled::Later(future)
        }
    }
}

/// Whether a coordinator code means "busy, ask again shortly".
fn busy_code(code: &ErrorCode) -> bool {
    *code == ErrorCode::ConcurrentTransactions
}

/// InitProducerId with a transactional id (the idempotent form lives in `producer.rs`).
pub(super) fn init_producer_id(
    broker: &Arc<Broker>,
    req: InitProducerIdRequest,
    version: i16,
) -> Handled {
    let ids = Arc::clone(broker);
    let ask = move |txns: &Transactions| {
        txns.call(|c| {
            let mut source = || ids.producer_ids.next().ok();
            c.handle_init_producer_id(
                now_ms(),
                req.transactional_id.as_deref().unwrap_or_default(),
                req.transaction_timeout_ms,
                req.producer_id,
                req.producer_epoch,
                &mut source,
            )
        })
    };
    let body = move |error: ErrorCode, producer_id: i64, producer_epoch: i16| {
        ResponseBody::InitProducerId(InitProducerIdResponse {
            error_code: error.code_for(TxnApi::InitProducerId, version),
            producer_id,
            producer_epoch,
            ..InitProducerIdResponse::default()
        })
    };
    answer(
        broker,
        ask,
        |r| busy_code(&r.error),
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
    let ask = move |txns: &Transactions| {
        txns.call(|c| {
            c.handle_add_partitions(
                now_ms(),
                &req.v3_and_below_transactional_id,
                req.v3_and_below_producer_id,
                req.v3_and_below_producer_epoch,
                &partitions,
            )
        })
    };
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
    answer(broker, ask, busy_code, build, move |c| {
        build_later(
            c.as_ref()
                .map_or(ErrorCode::CoordinatorNotAvailable, completion_code),
        )
    })
}

/// AddOffsetsToTxn: adds the group's offsets partition to the transaction.
pub(super) fn add_offsets(broker: &Broker, req: AddOffsetsToTxnRequest, version: i16) -> Handled {
    let partition = offsets_partition(&req.group_id);
    let ask = move |txns: &Transactions| {
        txns.call(|c| {
            c.handle_add_offsets(
                now_ms(),
                &req.transactional_id,
                req.producer_id,
                req.producer_epoch,
                partition.clone(),
            )
        })
    };
    let build = move |error: ErrorCode| {
        ResponseBody::AddOffsetsToTxn(AddOffsetsToTxnResponse {
            error_code: error.code_for(TxnApi::AddOffsetsToTxn, version),
            ..AddOffsetsToTxnResponse::default()
        })
    };
    answer(broker, ask, busy_code, build, move |c| {
        build(
            c.as_ref()
                .map_or(ErrorCode::CoordinatorNotAvailable, completion_code),
        )
    })
}

/// EndTxn: answered once PrepareCommit/PrepareAbort is durable; markers follow.
pub(super) fn end_txn(broker: &Broker, req: EndTxnRequest, version: i16) -> Handled {
    let result = if req.committed {
        TxnResult::Commit
    } else {
        TxnResult::Abort
    };
    let ask = move |txns: &Transactions| {
        txns.call(|c| {
            c.handle_end_txn(
                now_ms(),
                &req.transactional_id,
                req.producer_id,
                req.producer_epoch,
                result,
            )
        })
    };
    let build = move |error: ErrorCode| {
        ResponseBody::EndTxn(EndTxnResponse {
            error_code: error.code_for(TxnApi::EndTxn, version),
            ..EndTxnResponse::default()
        })
    };
    answer(broker, ask, busy_code, build, move |c| {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn busy(code: &ErrorCode) -> bool {
        busy_code(code)
    }

    /// A busy answer is asked again after each finished transition, and the first answer
    /// that is not busy is the one sent.
    #[tokio::test]
    async fn a_busy_answer_is_asked_again_once_a_transition_finishes() {
        let (finished, mut settled) = watch::channel(0_u64);
        let asked = Arc::new(AtomicU32::new(0));
        let counter = Arc::clone(&asked);
        let ask = move || {
            // Busy twice more, then done.
            if counter.fetch_add(1, Ordering::SeqCst) < 2 {
                Answer::Now(ErrorCode::ConcurrentTransactions)
            } else {
                Answer::Now(ErrorCode::None)
            }
        };
        let bumper = tokio::spawn(async move {
            for _ in 0..3 {
                tokio::time::sleep(Duration::from_millis(5)).await;
                finished.send_modify(|n| *n += 1);
            }
            finished
        });
        let outcome = settle(
            ErrorCode::ConcurrentTransactions,
            &mut settled,
            Duration::from_secs(30),
            busy,
            ask,
        )
        .await;
        assert!(matches!(outcome, Settled::Now(ErrorCode::None)));
        assert_eq!(
            asked.load(Ordering::SeqCst),
            3,
            "asked once per finished transition"
        );
        drop(bumper.await);
    }

    /// A transaction that does not settle within the wait is answered busy, as Kafka would
    /// at once; nothing is asked without a finished transition.
    #[tokio::test]
    async fn a_transaction_that_stays_busy_is_answered_busy_after_the_wait() {
        let (_finished, mut settled) = watch::channel(0_u64);
        let asked = Arc::new(AtomicU32::new(0));
        let counter = Arc::clone(&asked);
        let outcome = settle(
            ErrorCode::ConcurrentTransactions,
            &mut settled,
            Duration::from_millis(20),
            busy,
            move || {
                counter.fetch_add(1, Ordering::SeqCst);
                Answer::Now(ErrorCode::None)
            },
        )
        .await;
        assert!(matches!(
            outcome,
            Settled::Now(ErrorCode::ConcurrentTransactions)
        ));
        assert_eq!(asked.load(Ordering::SeqCst), 0);
    }

    /// When asking again makes a transition (the answer waits for durability), its completion
    /// is what is sent; a closed coordinator ends the wait at once.
    #[tokio::test]
    async fn a_retry_that_must_be_persisted_answers_with_its_completion() {
        let (finished, mut settled) = watch::channel(0_u64);
        finished.send_modify(|n| *n += 1);
        let (tx, rx) = oneshot::channel();
        let mut rx = Some(rx);
        tx.send(Completion::AddPartitions(ErrorCode::None))
            .expect("receiver alive");
        let outcome = settle(
            ErrorCode::ConcurrentTransactions,
            &mut settled,
            Duration::from_secs(30),
            busy,
            move || Answer::Later(rx.take().expect("asked once")),
        )
        .await;
        assert!(matches!(
            outcome,
            Settled::Completed(Some(Completion::AddPartitions(ErrorCode::None)))
        ));

        let (finished, mut settled) = watch::channel(0_u64);
        drop(finished);
        let outcome = settle(
            ErrorCode::ConcurrentTransactions,
            &mut settled,
            Duration::from_secs(30),
            busy,
            || Answer::Now(ErrorCode::None),
        )
        .await;
        assert!(matches!(
            outcome,
            Settled::Now(ErrorCode::ConcurrentTransactions)
        ));
    }
}
