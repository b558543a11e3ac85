//! Produce: validate each partition's batch, append it, and answer once the policy allows
//! (acks=0: never; acks=1: after the append; acks=all: after the flush that covers it when
//! `--flush always`).
//!
//! Idempotent batches (producer id ≥ 0) go through the partition's producer state
//! (semel-sequencer): a retry is answered with its original offsets and written once; sequence
//! and epoch errors are Kafka's. A producer's first transactional batch on a partition is
//! verified with the transaction coordinator first (KIP-890 part 1).

use super::{BodyFuture, Handled, code};
use crate::broker::Broker;
use crate::config::FlushPolicy;
use crate::partition::{Partition, Produced};
use semel_wire::messages::ResponseBody;
use semel_wire::messages::produce_request::ProduceRequest;
use semel_wire::messages::produce_response::{
    PartitionProduceResponse, ProduceResponse, TopicProduceResponse,
};
use semel_wire::{DecodeErrorKind, RecordBatch};
use std::sync::Arc;
use std::time::Duration;
use tracing::warn;

/// One partition's outcome, before waiting for durability.
struct Outcome {
    response: PartitionProduceResponse,
    /// Wait until this partition's high watermark reaches `.1` before answering.
    wait: Option<(Arc<Partition>, u64)>,
}

fn failed(index: i32, error_code: i16, message: Option<String>) -> Outcome {
    Outcome {
        response: PartitionProduceResponse {
            index,
            error_code,
            base_offset: -1,
            log_append_time_ms: -1,
            log_start_offset: -1,
            error_message: message,
            ..PartitionProduceResponse::default()
        },
        wait: None,
    }
}

/// Handles a Produce request.
pub(super) fn produce(broker: &Arc<Broker>, req: ProduceRequest, version: i16) -> Handled {
    let acks = req.acks;
    let wait_for_flush = acks == -1 && broker.config.flush == FlushPolicy::Always;
    let mut topics = Vec::with_capacity(req.topic_data.len());
    let mut waits = Vec::new();
    let mut any_error = None;
    for topic_data in req.topic_data {
        let topic = broker.store.topic(&topic_data.name);
        let mut partitions = Vec::with_capacity(topic_data.partition_data.len());
        for data in topic_data.partition_data {
            let outcome = if !matches!(acks, -1..=1) {
                failed(data.index, code::INVALID_REQUIRED_ACKS, None)
            } else {
                match topic
                    .as_ref()
                    .and_then(|t| t.partition(data.index).map(|p| (t, p)))
                {
                    None => failed(data.index, code::UNKNOWN_TOPIC_OR_PARTITION, None),
                    Some((topic, partition)) => append(
                        broker,
                        &topic_data.name,
                        partition,
                        data.index,
                        data.records.map(|r| r.to_bytes()),
                        topic.max_message_bytes(),
                        req.transactional_id.as_deref(),
                        version,
                    ),
                }
            };
            if outcome.response.error_code != code::NONE {
                any_error = Some((
                    topic_data.name.clone(),
                    data.index,
                    outcome.response.error_code,
                ));
            }
            if let Some(wait) = outcome.wait
                && broker.config.flush == FlushPolicy::Always
            {
                // The high watermark is the flushed offset here: every write needs a flush to
                // become readable, whatever its acks; only acks=all waits for it.
                broker.flusher.request(&wait.0);
                if wait_for_flush {
                    waits.push(wait);
                }
            }
            partitions.push(outcome.response);
        }
        topics.push(TopicProduceResponse {
            name: topic_data.name,
            partition_responses: partitions,
            ..TopicProduceResponse::default()
        });
    }
    let response = ProduceResponse {
        responses: topics,
        ..ProduceResponse::default()
    };
    if acks == 0 {
        // The client cannot be told: Kafka closes the connection instead (NOTES.md A.1).
        return match any_error {
            Some((topic, partition, error)) => Handled::Close(format!(
                "acks=0 produce to {topic}-{partition} failed with error {error}"
            )),
            None => Handled::NoResponse,
        };
    }
    if waits.is_empty() {
        return Handled::Now(ResponseBody::Produce(response));
    }
    let timeout = Duration::from_millis(u64::try_from(req.timeout_ms.max(0)).unwrap_or(0));
    let future: BodyFuture = Box::pin(wait_durable(response, waits, timeout));
    Handled::Later(future)
}

/// Waits until every partition's high watermark covers its batch, or the request timeout.
async fn wait_durable(
    mut response: ProduceResponse,
    waits: Vec<(Arc<Partition>, u64)>,
    timeout: Duration,
) -> ResponseBody {
    let deadline = tokio::time::Instant::now() + timeout;
    for (partition, end) in waits {
        let mut hw = partition.watch_high_watermark();
        let reached = tokio::time::timeout_at(deadline, hw.wait_for(|&hw| hw >= end)).await;
        if !matches!(reached, Ok(Ok(_))) {
            // Not durable in time: the client must not count it acknowledged.
            for topic in &mut response.responses {
                for p in &mut topic.partition_responses {
                    if p.error_code == code::NONE && p.base_offset >= 0 {
                        p.error_code = code::REQUEST_TIMED_OUT;
                    }
                }
            }
            break;
        }
    }
    ResponseBody::Produce(response)
}

/// Validates and appends one partition's records.
#[allow(clippy::too_many_arguments)]
fn append(
    broker: &Broker,
    topic: &str,
    partition: &Arc<Partition>,
    index: i32,
    records: Option<bytes::Bytes>,
    max_message_bytes: i64,
    transactional_id: Option<&str>,
    version: i16,
) -> Outcome {
    let Some(records) = records else {
        return failed(index, code::INVALID_RECORD, Some("no records".into()));
    };
    // Produce v3+ carries exactly one magic-2 batch per partition (NOTES.md B.6).
    let mut batches = RecordBatch::split(records.clone());
    let batch = match (batches.next(), batches.next()) {
        (Some(Ok(batch)), None) if batch.len() == records.len() => batch,
        (Some(Err(e)), _) => return failed(index, batch_error_code(&e.kind), Some(e.to_string())),
        _ => {
            return failed(
                index,
                code::INVALID_RECORD,
                Some("expected exactly one record batch".into()),
            );
        }
    };
    if i64::try_from(batch.len()).unwrap_or(i64::MAX) > max_message_bytes {
        return failed(index, code::MESSAGE_TOO_LARGE, None);
    }
    if let Err(e) = batch.validate_produce() {
        return failed(index, batch_error_code(&e.kind), Some(e.to_string()));
    }
    if batch.compression_id() == 4 && version < 7 {
        return failed(index, 76, None); // UNSUPPORTED_COMPRESSION_TYPE
    }
    if batch.is_transactional() && transactional_id.is_none() {
        // AK refuses transactional batches without a transactional id (NOTES.md D.7).
        return failed(index, code::TRANSACTIONAL_ID_AUTHORIZATION_FAILED, None);
    }
    let log_start_offset = i64::try_from(partition.log_start_offset()).unwrap_or(-1);
    let accepted = |base_offset: i64, next_offset: u64| Outcome {
        response: PartitionProduceResponse {
            index,
            error_code: code::NONE,
            base_offset,
            log_append_time_ms: -1,
            log_start_offset,
            ..PartitionProduceResponse::default()
        },
        wait: Some((Arc::clone(partition), next_offset)),
    };
    let produced = match transactional_id {
        // The first transactional batch of a producer here is verified with the coordinator
        // (NOTES.md D.7), under the coordinator's lock until appended, so that an abort cannot
        // slip in between and leave a transaction no marker will close.
        Some(transactional_id)
            if batch.is_transactional() && !partition.has_open_transaction(batch.producer_id()) =>
        {
            broker.transactions.read(|coordinator| {
                let verified = coordinator.verify_partitions(
                    transactional_id,
                    batch.producer_id(),
                    batch.producer_epoch(),
                    &[semel_txn::TopicPartition::new(topic, index)],
                );
                match verified.first().map(|(_, e)| *e) {
                    Some(semel_txn::ErrorCode::None) => partition.produce(&batch),
                    Some(error) => Ok(Produced::Refused(
                        error.code_for(semel_txn::TxnApi::Produce, version),
                    )),
                    None => Ok(Produced::Refused(code::INVALID_TXN_STATE)),
                }
            })
        }
        _ => partition.produce(&batch),
    };
    match produced {
        Ok(Produced::Appended {
            base_offset,
            next_offset,
        }) => accepted(base_offset, next_offset),
        // A retry: answer with the original offsets once they are durable, like the original.
        Ok(Produced::Duplicate {
            base_offset,
            next_offset,
        }) => accepted(base_offset, next_offset),
        Ok(Produced::Refused(error)) => failed(index, error, None),
        Err(e) => {
            warn!(error = %e, "append failed");
            failed(index, code::KAFKA_STORAGE_ERROR, Some(e.to_string()))
        }
    }
}

/// The Produce error code for a batch that fails validation.
fn batch_error_code(kind: &DecodeErrorKind) -> i16 {
    match kind {
        DecodeErrorKind::CrcMismatch { .. } => code::CORRUPT_MESSAGE,
        _ => code::INVALID_RECORD,
    }
}
