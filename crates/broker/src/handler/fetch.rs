//! Fetch: whole stored batches from each requested partition, never past the high watermark,
//! within the response and partition byte limits (the first batch is returned whole even if it
//! is larger, so a consumer always progresses — KIP-74), held back up to `max_wait_ms` until
//! `min_bytes` are there (long poll).
//!
//! Fetch sessions (KIP-227) are declined: every answer carries session id 0 and every requested
//! partition, which every client handles by sending full fetches.

use super::{BodyFuture, Handled, code};
use crate::broker::Broker;
use semel_wire::RecordSet;
use semel_wire::messages::ResponseBody;
use semel_wire::messages::fetch_request::FetchRequest;
use semel_wire::messages::fetch_response::{
    AbortedTransaction, FetchResponse, FetchableTopicResponse, PartitionData,
};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Longest wait a client may ask for (Kafka caps nothing; a day is plenty).
const MAX_WAIT_CAP_MS: u64 = 24 * 60 * 60 * 1000;

/// Handles a Fetch request.
pub(super) fn fetch(broker: &Arc<Broker>, req: FetchRequest, version: i16) -> Handled {
    // Subscribe before reading: a high-watermark change between the read and the subscription
    // would otherwise be missed, and the long poll would sleep until max_wait_ms for nothing.
    let watches = watches(broker, &req);
    let (response, bytes) = read_all(broker, &req, version);
    let min_bytes = usize::try_from(req.min_bytes.max(0)).unwrap_or(0);
    let max_wait = u64::try_from(req.max_wait_ms.max(0))
        .unwrap_or(0)
        .min(MAX_WAIT_CAP_MS);
    if bytes >= min_bytes.max(1) || max_wait == 0 || has_error(&response) {
        return Handled::Now(ResponseBody::Fetch(response));
    }
    if watches.is_empty() {
        return Handled::Now(ResponseBody::Fetch(response));
    }
    let broker = Arc::clone(broker);
    let future: BodyFuture = Box::pin(async move {
        let deadline = tokio::time::Instant::now() + Duration::from_millis(max_wait);
        let mut watches = watches;
        loop {
            if tokio::time::timeout_at(deadline, any_changed(&mut watches))
                .await
                .is_err()
            {
                break;
            }
            let (response, bytes) = read_all(&broker, &req, version);
            if bytes >= min_bytes.max(1) || has_error(&response) {
                return ResponseBody::Fetch(response);
            }
        }
        ResponseBody::Fetch(read_all(&broker, &req, version).0)
    });
    Handled::Later(future)
}

fn has_error(response: &FetchResponse) -> bool {
    response
        .responses
        .iter()
        .flat_map(|t| &t.partitions)
        .any(|p| p.error_code != code::NONE)
}

/// High-watermark receivers of every requested partition that exists.
fn watches(broker: &Broker, req: &FetchRequest) -> Vec<watch::Receiver<u64>> {
    req.topics
        .iter()
        .filter_map(|t| broker.store.topic(&t.topic).map(|topic| (t, topic)))
        .flat_map(|(t, topic)| {
            t.partitions
                .iter()
                .filter_map(|p| {
                    topic
                        .partition(p.partition)
                        .map(|p| p.watch_high_watermark())
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Resolves when any receiver sees a change (or its partition is gone).
async fn any_changed(watches: &mut [watch::Receiver<u64>]) {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<()>(1);
    let mut tasks = tokio::task::JoinSet::new();
    for w in watches.iter() {
        let mut w = w.clone();
        let tx = tx.clone();
        tasks.spawn(async move {
            let _ = w.changed().await;
            let _ = tx.send(()).await;
        });
    }
    drop(tx);
    let _ = rx.recv().await;
    tasks.abort_all();
    for w in watches.iter_mut() {
        w.mark_unchanged();
    }
}

/// Reads every requested partition; returns the response and the record bytes it carries.
fn read_all(broker: &Broker, req: &FetchRequest, version: i16) -> (FetchResponse, usize) {
    let read_committed = req.isolation_level == 1;
    let mut budget = usize::try_from(req.max_bytes.max(0)).unwrap_or(0);
    if version < 3 {
        budget = usize::MAX;
    }
    let mut total = 0usize;
    let mut topics = Vec::with_capacity(req.topics.len());
    for t in &req.topics {
        let topic = broker.store.topic(&t.topic);
        let mut partitions = Vec::with_capacity(t.partitions.len());
        for p in &t.partitions {
            let mut data = PartitionData {
                partition_index: p.partition,
                aborted_transactions: read_committed.then(Vec::new),
                ..PartitionData::default()
            };
            let Some(partition) = topic
                .as_ref()
                .and_then(|topic| topic.partition(p.partition))
            else {
                data.error_code = code::UNKNOWN_TOPIC_OR_PARTITION;
                data.high_watermark = -1;
                data.last_stable_offset = -1;
                data.log_start_offset = -1;
                partitions.push(data);
                continue;
            };
            let hw = partition.high_watermark();
            let lso = partition.last_stable_offset();
            let start = partition.log_start_offset();
            let end = partition.log_end_offset();
            data.high_watermark = i64::try_from(hw).unwrap_or(-1);
            data.last_stable_offset = i64::try_from(lso).unwrap_or(-1);
            data.log_start_offset = i64::try_from(start).unwrap_or(-1);
            let offset = u64::try_from(p.fetch_offset)
                .ok()
                .filter(|&o| o >= start && o <= end);
            let Some(offset) = offset else {
                data.error_code = code::OFFSET_OUT_OF_RANGE;
                partitions.push(data);
                continue;
            };
            let limit = usize::try_from(p.partition_max_bytes.max(0))
                .unwrap_or(0)
                .min(budget);
            // KIP-74: the first batch of the response goes out whole even past the limits.
            let limit = if total == 0 { limit.max(1) } else { limit };
            // read_committed stops at the last stable offset (NOTES.md D.11).
            let visible = if read_committed { lso } else { hw };
            if limit > 0 {
                match partition.read_below(offset, limit, visible) {
                    Ok(entries) => {
                        let size: usize = entries.iter().map(|e| e.payload.len()).sum();
                        total += size;
                        budget = budget.saturating_sub(size);
                        if read_committed && let Some(last) = entries.last() {
                            data.aborted_transactions = Some(
                                partition
                                    .aborted_in_range(offset, last.next_offset())
                                    .into_iter()
                                    .map(|a| AbortedTransaction {
                                        producer_id: a.producer_id,
                                        first_offset: a.first_offset,
                                        ..AbortedTransaction::default()
                                    })
                                    .collect(),
                            );
                        }
                        // Each stored batch goes out as its own chunk of the mapping: no copy.
                        data.records = Some(RecordSet::from_chunks(
                            entries.into_iter().map(|e| e.payload),
                        ));
                    }
                    Err(e) => {
                        tracing::warn!(topic = %t.topic, partition = p.partition, error = %e, "read failed");
                        data.error_code = code::KAFKA_STORAGE_ERROR;
                    }
                }
            }
            if data.records.is_none() {
                data.records = Some(RecordSet::new());
            }
            partitions.push(data);
        }
        topics.push(FetchableTopicResponse {
            topic: t.topic.clone(),
            topic_id: t.topic_id,
            partitions,
            ..FetchableTopicResponse::default()
        });
    }
    (
        FetchResponse {
            error_code: code::NONE,
            session_id: 0,
            responses: topics,
            ..FetchResponse::default()
        },
        total,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::partition::Partition;
    use semel_wire::messages::encode_response;
    use semel_wire::{RecordBatch, RecordBatchBuilder};

    /// A fetch answer carries the stored batches as chunks of the log's mapping: the encoded
    /// response shares their memory instead of copying them.
    #[test]
    fn fetched_batches_are_passed_through_without_copying() {
        let dir = tempfile::tempdir().unwrap();
        let partition = Partition::open(
            dir.path(),
            semel_log::LogConfig {
                segment_bytes: 1 << 20,
                ..Default::default()
            },
            false,
        )
        .unwrap();
        for i in 0..3u8 {
            let mut builder = RecordBatchBuilder::new();
            builder
                .append(1, None, Some(bytes::Bytes::from(vec![i; 2000])), Vec::new())
                .unwrap();
            let batch = RecordBatch::parse(builder.build().unwrap()).unwrap();
            partition.produce(&batch).unwrap();
        }
        let entries = partition
            .read_below(0, 1 << 20, partition.high_watermark())
            .unwrap();
        assert_eq!(entries.len(), 3);
        let stored: Vec<*const u8> = entries.iter().map(|e| e.payload.as_ptr()).collect();
        let response = ResponseBody::Fetch(FetchResponse {
            responses: vec![FetchableTopicResponse {
                topic: "t".into(),
                partitions: vec![PartitionData {
                    records: Some(RecordSet::from_chunks(
                        entries.into_iter().map(|e| e.payload),
                    )),
                    ..PartitionData::default()
                }],
                ..FetchableTopicResponse::default()
            }],
            ..FetchResponse::default()
        });
        let chunks = encode_response(7, 12, &response).unwrap().into_chunks();
        let sent: Vec<*const u8> = chunks.iter().map(|c| c.as_ptr()).collect();
        for pointer in stored {
            assert!(
                sent.contains(&pointer),
                "a stored batch was copied into the response"
            );
        }
    }
}
