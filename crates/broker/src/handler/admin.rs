//! Administration: CreateTopics, DeleteTopics, CreatePartitions, DeleteRecords.

use super::code;
use crate::broker::Broker;
use crate::store::TopicError;
use crate::topics::TopicConfigs;
use semel_wire::messages::ResponseBody;
use semel_wire::messages::create_partitions_request::CreatePartitionsRequest;
use semel_wire::messages::create_partitions_response::{
    CreatePartitionsResponse, CreatePartitionsTopicResult,
};
use semel_wire::messages::create_topics_request::CreateTopicsRequest;
use semel_wire::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult, CreateTopicsResponse,
};
use semel_wire::messages::delete_records_request::DeleteRecordsRequest;
use semel_wire::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsResponse, DeleteRecordsTopicResult,
};
use semel_wire::messages::delete_topics_request::DeleteTopicsRequest;
use semel_wire::messages::delete_topics_response::{DeletableTopicResult, DeleteTopicsResponse};
use tracing::warn;

/// Handles CreateTopics (validate-only honoured; configs validated: INVALID_CONFIG).
pub(super) fn create_topics(
    broker: &Broker,
    req: &CreateTopicsRequest,
    version: i16,
) -> ResponseBody {
    let topics = req
        .topics
        .iter()
        .map(|t| {
            let mut result = CreatableTopicResult {
                name: t.name.clone(),
                num_partitions: -1,
                replication_factor: -1,
                ..CreatableTopicResult::default()
            };
            let mut configs = TopicConfigs::new();
            for c in &t.configs {
                match &c.value {
                    Some(v) => {
                        configs.insert(c.name.clone(), v.clone());
                    }
                    None => {
                        configs.remove(&c.name);
                    }
                }
            }
            let outcome = if !t.assignments.is_empty() {
                Err(TopicError::InvalidPartitions(
                    "manual replica assignments are not supported by a single broker".into(),
                ))
            } else if req.validate_only {
                broker
                    .store
                    .validate_create(&t.name, t.num_partitions, t.replication_factor, &configs)
                    .map(|partitions| (semel_wire::Uuid::ZERO, partitions))
            } else {
                broker
                    .store
                    .create(
                        &t.name,
                        t.num_partitions,
                        t.replication_factor,
                        configs.clone(),
                    )
                    .map(|topic| {
                        (
                            topic.id,
                            i32::try_from(topic.partitions.len()).unwrap_or(i32::MAX),
                        )
                    })
            };
            match outcome {
                Ok((id, partitions)) => {
                    result.topic_id = id;
                    result.num_partitions = partitions;
                    result.replication_factor = 1;
                    if version >= 5 {
                        result.configs = Some(
                            configs
                                .iter()
                                .map(|(k, v)| CreatableTopicConfigs {
                                    name: k.clone(),
                                    value: Some(v.clone()),
                                    config_source: 1, // DYNAMIC_TOPIC_CONFIG
                                    ..CreatableTopicConfigs::default()
                                })
                                .collect(),
                        );
                    }
                }
                Err(e) => {
                    result.error_code = e.code();
                    result.error_message = Some(e.to_string());
                }
            }
            result
        })
        .collect();
    ResponseBody::CreateTopics(CreateTopicsResponse {
        topics,
        ..CreateTopicsResponse::default()
    })
}

/// Handles DeleteTopics (by name; v6 ids are matched against live topics).
pub(super) fn delete_topics(broker: &Broker, req: &DeleteTopicsRequest) -> ResponseBody {
    let mut names: Vec<(Option<String>, semel_wire::Uuid)> = req
        .topic_names
        .iter()
        .map(|n| (Some(n.clone()), semel_wire::Uuid::ZERO))
        .collect();
    names.extend(req.topics.iter().map(|t| (t.name.clone(), t.topic_id)));
    let responses = names
        .into_iter()
        .map(|(name, id)| {
            let name = name.or_else(|| {
                broker
                    .store
                    .all()
                    .into_iter()
                    .find(|t| t.id == id)
                    .map(|t| t.name.clone())
            });
            let mut result = DeletableTopicResult {
                name: name.clone(),
                topic_id: id,
                ..DeletableTopicResult::default()
            };
            let outcome = match name {
                Some(name) => broker.store.delete(&name),
                None => Err(TopicError::Unknown(String::new())),
            };
            match outcome {
                Ok(id) => result.topic_id = id,
                Err(e) => {
                    result.error_code = if name_missing(&result) { 100 } else { e.code() };
                    result.error_message = Some(e.to_string());
                }
            }
            result
        })
        .collect();
    ResponseBody::DeleteTopics(DeleteTopicsResponse {
        responses,
        ..DeleteTopicsResponse::default()
    })
}

/// A deletion by an id that matched no topic answers UNKNOWN_TOPIC_ID.
fn name_missing(result: &DeletableTopicResult) -> bool {
    result.name.is_none()
}

/// Handles DeleteRecords: each partition's log start offset moves up to the requested offset
/// (-1: the high watermark), durably, before the answer; the low watermark is the new start.
pub(super) fn delete_records(broker: &Broker, req: &DeleteRecordsRequest) -> ResponseBody {
    let topics = req
        .topics
        .iter()
        .map(|t| {
            let topic = broker.store.topic(&t.name);
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let mut result = DeleteRecordsPartitionResult {
                        partition_index: p.partition_index,
                        low_watermark: -1,
                        ..DeleteRecordsPartitionResult::default()
                    };
                    match topic.as_ref().and_then(|t| t.partition(p.partition_index)) {
                        None => result.error_code = code::UNKNOWN_TOPIC_OR_PARTITION,
                        Some(partition) => match partition.delete_records(p.offset) {
                            Ok(Some(start)) => {
                                result.low_watermark = i64::try_from(start).unwrap_or(i64::MAX);
                            }
                            Ok(None) => result.error_code = code::OFFSET_OUT_OF_RANGE,
                            Err(e) => {
                                warn!(topic = %t.name, partition = p.partition_index, error = %e,
                                    "DeleteRecords failed");
                                result.error_code = code::KAFKA_STORAGE_ERROR;
                            }
                        },
                    }
                    result
                })
                .collect();
            DeleteRecordsTopicResult {
                name: t.name.clone(),
                partitions,
                ..DeleteRecordsTopicResult::default()
            }
        })
        .collect();
    ResponseBody::DeleteRecords(DeleteRecordsResponse {
        topics,
        ..DeleteRecordsResponse::default()
    })
}

/// Handles CreatePartitions.
pub(super) fn create_partitions(broker: &Broker, req: &CreatePartitionsRequest) -> ResponseBody {
    let results = req
        .topics
        .iter()
        .map(|t| {
            let outcome = if t.assignments.is_some() {
                Err(TopicError::InvalidPartitions(
                    "manual replica assignments are not supported by a single broker".into(),
                ))
            } else {
                broker
                    .store
                    .set_partitions(&t.name, t.count, req.validate_only)
            };
            let (error_code, error_message) = match outcome {
                Ok(()) => (0, None),
                Err(e) => (e.code(), Some(e.to_string())),
            };
            CreatePartitionsTopicResult {
                name: t.name.clone(),
                error_code,
                error_message,
                ..CreatePartitionsTopicResult::default()
            }
        })
        .collect();
    ResponseBody::CreatePartitions(CreatePartitionsResponse {
        results,
        ..CreatePartitionsResponse::default()
    })
}
