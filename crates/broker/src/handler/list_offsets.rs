//! ListOffsets: earliest, latest, and the first offset at or after a timestamp.

use super::code;
use crate::broker::Broker;
use crate::partition::Partition;
use semel_wire::RecordBatch;
use semel_wire::messages::ResponseBody;
use semel_wire::messages::list_offsets_request::ListOffsetsRequest;
use semel_wire::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsResponse, ListOffsetsTopicResponse,
};

const LATEST: i64 = -1;
const EARLIEST: i64 = -2;

/// Handles a ListOffsets request.
pub(super) fn list_offsets(broker: &Broker, req: &ListOffsetsRequest) -> ResponseBody {
    let topics = req
        .topics
        .iter()
        .map(|t| {
            let topic = broker.store.topic(&t.name);
            ListOffsetsTopicResponse {
                name: t.name.clone(),
                partitions: t
                    .partitions
                    .iter()
                    .map(|p| {
                        let mut out = ListOffsetsPartitionResponse {
                            partition_index: p.partition_index,
                            timestamp: -1,
                            offset: -1,
                            ..ListOffsetsPartitionResponse::default()
                        };
                        match topic
                            .as_ref()
                            .and_then(|topic| topic.partition(p.partition_index))
                        {
                            None => out.error_code = code::UNKNOWN_TOPIC_OR_PARTITION,
                            Some(partition) => {
                                match lookup(partition, p.timestamp, req.isolation_level == 1) {
                                    Ok((offset, timestamp)) => {
                                        out.offset = offset;
                                        out.timestamp = timestamp;
                                    }
                                    Err(error) => out.error_code = error,
                                }
                            }
                        }
                        out
                    })
                    .collect(),
                ..ListOffsetsTopicResponse::default()
            }
        })
        .collect();
    ResponseBody::ListOffsets(ListOffsetsResponse {
        topics,
        ..ListOffsetsResponse::default()
    })
}

/// `(offset, timestamp)` for one lookup, or an error code.
fn lookup(partition: &Partition, timestamp: i64, read_committed: bool) -> Result<(i64, i64), i16> {
    let as_i64 = |o: u64| i64::try_from(o).unwrap_or(i64::MAX);
    // Lookups only count below what the isolation level may read (NOTES.md D.11).
    let visible = if read_committed {
        partition.last_stable_offset()
    } else {
        partition.high_watermark()
    };
    match timestamp {
        LATEST => Ok((as_i64(visible), -1)),
        EARLIEST => Ok((as_i64(partition.log_start_offset()), -1)),
        t if t >= 0 => {
            let Some(base) = partition
                .offset_for_timestamp(t)
                .map_err(|_| code::KAFKA_STORAGE_ERROR)?
                .filter(|&b| b < visible)
            else {
                return Ok((-1, -1));
            };
            // The index finds the batch; the record is found inside it (exact for plain
            // batches; a compressed batch answers with its first offset and max timestamp).
            let batches = partition
                .read(base, 1)
                .map_err(|_| code::KAFKA_STORAGE_ERROR)?;
            let Some(batch) = batches
                .into_iter()
                .next()
                .and_then(|b| RecordBatch::parse(b).ok())
            else {
                return Ok((as_i64(base), -1));
            };
            if let Ok(records) = batch.records() {
                for record in records.flatten() {
                    let ts = batch
                        .base_timestamp()
                        .saturating_add(record.timestamp_delta);
                    if ts >= t {
                        return Ok((batch.base_offset() + i64::from(record.offset_delta), ts));
                    }
                }
            }
            Ok((batch.base_offset(), batch.max_timestamp()))
        }
        // -3 (max timestamp) needs ListOffsets v7, which is not advertised.
        _ => Err(42),
    }
}
