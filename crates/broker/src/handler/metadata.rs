//! ApiVersions, Metadata, DescribeCluster: what the broker is and what it holds.

use super::code;
use crate::broker::{Broker, NODE_ID, SUPPORTED};
use crate::store::TopicError;
use crate::topics::TopicConfigs;
use semel_wire::Uuid;
use semel_wire::messages::ResponseBody;
use semel_wire::messages::api_versions_response::{ApiVersion, ApiVersionsResponse};
use semel_wire::messages::describe_cluster_request::DescribeClusterRequest;
use semel_wire::messages::describe_cluster_response::{
    DescribeClusterBroker, DescribeClusterResponse,
};
use semel_wire::messages::metadata_request::MetadataRequest;
use semel_wire::messages::metadata_response::{
    MetadataResponse, MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};

/// ApiVersions: exactly the APIs and versions served.
pub(super) fn api_versions(_version: i16) -> ResponseBody {
    ResponseBody::ApiVersions(ApiVersionsResponse {
        api_keys: SUPPORTED
            .iter()
            .map(|&(api, min, max)| ApiVersion {
                api_key: api.key(),
                min_version: min,
                max_version: max,
                ..ApiVersion::default()
            })
            .collect(),
        ..ApiVersionsResponse::default()
    })
}

fn port(broker: &Broker) -> i32 {
    i32::from(broker.config.advertised_addr.1)
}

/// Metadata: this broker leads every partition; unknown topics are created when allowed.
pub(super) fn metadata(broker: &Broker, req: &MetadataRequest, version: i16) -> ResponseBody {
    // v0-3 always allow auto creation (the field appeared in v4).
    let auto_create =
        broker.config.auto_create_topics && (version < 4 || req.allow_auto_topic_creation);
    let topics = match &req.topics {
        None => broker
            .store
            .all()
            .iter()
            .map(|t| describe(Some(t.name.clone()), Ok(t)))
            .collect(),
        Some(requested) => requested
            .iter()
            .map(|r| {
                let Some(name) = r.name.clone() else {
                    // Lookups by topic id: we report all-zero ids, so none can match.
                    return MetadataResponseTopic {
                        error_code: 100, // UNKNOWN_TOPIC_ID
                        topic_id: r.topic_id,
                        ..MetadataResponseTopic::default()
                    };
                };
                match broker.store.topic(&name) {
                    Some(topic) => describe(Some(name), Ok(&topic)),
                    None if auto_create => {
                        let created = super::blocking(|| {
                            broker.store.create(&name, -1, -1, TopicConfigs::new())
                        });
                        match created {
                            Ok(topic) => describe(Some(name), Ok(&topic)),
                            Err(e) => describe(Some(name), Err(&e)),
                        }
                    }
                    None => describe(Some(name.clone()), Err(&TopicError::Unknown(name))),
                }
            })
            .collect(),
    };
    ResponseBody::Metadata(MetadataResponse {
        brokers: vec![MetadataResponseBroker {
            node_id: NODE_ID,
            host: broker.config.advertised_addr.0.clone(),
            port: port(broker),
            rack: None,
            ..MetadataResponseBroker::default()
        }],
        cluster_id: Some(broker.cluster_id.clone()),
        controller_id: NODE_ID,
        topics,
        ..MetadataResponse::default()
    })
}

fn describe(
    name: Option<String>,
    topic: Result<&std::sync::Arc<crate::store::Topic>, &TopicError>,
) -> MetadataResponseTopic {
    match topic {
        Err(e) => MetadataResponseTopic {
            error_code: e.code(),
            name,
            ..MetadataResponseTopic::default()
        },
        Ok(topic) => MetadataResponseTopic {
            error_code: code::NONE,
            name,
            // All-zero ids keep clients on name-based Fetch (NOTES.md F.4).
            topic_id: Uuid::ZERO,
            is_internal: false,
            partitions: (0..topic.partitions.len())
                .map(|i| MetadataResponsePartition {
                    error_code: code::NONE,
                    partition_index: i32::try_from(i).unwrap_or(i32::MAX),
                    leader_id: NODE_ID,
                    // -1: OffsetForLeaderEpoch is not served, so clients must not validate epochs.
                    leader_epoch: -1,
                    replica_nodes: vec![NODE_ID],
                    isr_nodes: vec![NODE_ID],
                    offline_replicas: Vec::new(),
                    ..MetadataResponsePartition::default()
                })
                .collect(),
            ..MetadataResponseTopic::default()
        },
    }
}

/// DescribeCluster: this one broker.
pub(super) fn describe_cluster(broker: &Broker, _req: &DescribeClusterRequest) -> ResponseBody {
    ResponseBody::DescribeCluster(DescribeClusterResponse {
        cluster_id: broker.cluster_id.clone(),
        controller_id: NODE_ID,
        brokers: vec![DescribeClusterBroker {
            broker_id: NODE_ID,
            host: broker.config.advertised_addr.0.clone(),
            port: port(broker),
            rack: None,
            ..DescribeClusterBroker::default()
        }],
        ..DescribeClusterResponse::default()
    })
}
