//! DescribeConfigs and IncrementalAlterConfigs for the topic configs semel honours
//! (`topics::SUPPORTED_CONFIGS`); anything else is INVALID_CONFIG.

use crate::broker::{Broker, NODE_ID};
use crate::store::TopicError;
use crate::topics::validate_config;
use semel_wire::messages::ResponseBody;
use semel_wire::messages::describe_configs_request::DescribeConfigsRequest;
use semel_wire::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResponse, DescribeConfigsResult,
};
use semel_wire::messages::incremental_alter_configs_request::IncrementalAlterConfigsRequest;
use semel_wire::messages::incremental_alter_configs_response::{
    AlterConfigsResourceResponse, IncrementalAlterConfigsResponse,
};

const TOPIC: i8 = 2;
const BROKER: i8 = 4;
/// `ConfigSource` values (DescribeConfigs v1+).
const DYNAMIC_TOPIC_CONFIG: i8 = 1;
const DEFAULT_CONFIG: i8 = 5;
const INVALID_CONFIG: i16 = 40;
const INVALID_REQUEST: i16 = 42;

/// Handles DescribeConfigs.
pub(super) fn describe_configs(broker: &Broker, req: &DescribeConfigsRequest) -> ResponseBody {
    let results = req
        .resources
        .iter()
        .map(|resource| {
            let mut result = DescribeConfigsResult {
                resource_type: resource.resource_type,
                resource_name: resource.resource_name.clone(),
                ..DescribeConfigsResult::default()
            };
            match resource.resource_type {
                TOPIC => match broker.store.topic(&resource.resource_name) {
                    None => {
                        let e = TopicError::Unknown(resource.resource_name.clone());
                        result.error_code = e.code();
                        result.error_message = Some(e.to_string());
                    }
                    Some(topic) => {
                        result.configs = broker
                            .store
                            .effective_configs(&topic)
                            .into_iter()
                            .filter(|(key, _, _)| {
                                resource
                                    .configuration_keys
                                    .as_ref()
                                    .is_none_or(|keys| keys.iter().any(|k| k == key))
                            })
                            .map(|(key, value, overridden)| DescribeConfigsResourceResult {
                                name: key.to_owned(),
                                value: Some(value),
                                read_only: false,
                                config_source: if overridden {
                                    DYNAMIC_TOPIC_CONFIG
                                } else {
                                    DEFAULT_CONFIG
                                },
                                is_sensitive: false,
                                ..DescribeConfigsResourceResult::default()
                            })
                            .collect();
                    }
                },
                // The broker resource exists (its id) but has no dynamic configs.
                BROKER
                    if resource.resource_name == NODE_ID.to_string()
                        || resource.resource_name.is_empty() => {}
                _ => {
                    result.error_code = INVALID_REQUEST;
                    result.error_message = Some(format!(
                        "resource type {} `{}` is not described by semel",
                        resource.resource_type, resource.resource_name
                    ));
                }
            }
            result
        })
        .collect();
    ResponseBody::DescribeConfigs(DescribeConfigsResponse {
        results,
        ..DescribeConfigsResponse::default()
    })
}

/// Handles IncrementalAlterConfigs for topics (SET and DELETE; APPEND/SUBTRACT apply to list
/// configs, and none of the supported ones is a list).
pub(super) fn incremental_alter_configs(
    broker: &Broker,
    req: &IncrementalAlterConfigsRequest,
) -> ResponseBody {
    let responses = req
        .resources
        .iter()
        .map(|resource| {
            let mut response = AlterConfigsResourceResponse {
                resource_type: resource.resource_type,
                resource_name: resource.resource_name.clone(),
                ..AlterConfigsResourceResponse::default()
            };
            let outcome = alter(broker, resource, req.validate_only);
            if let Err((code, message)) = outcome {
                response.error_code = code;
                response.error_message = Some(message);
            }
            response
        })
        .collect();
    ResponseBody::IncrementalAlterConfigs(IncrementalAlterConfigsResponse {
        responses,
        ..IncrementalAlterConfigsResponse::default()
    })
}

fn alter(
    broker: &Broker,
    resource: &semel_wire::messages::incremental_alter_configs_request::AlterConfigsResource,
    validate_only: bool,
) -> Result<(), (i16, String)> {
    if resource.resource_type != TOPIC {
        return Err((
            INVALID_REQUEST,
            "only topic configs can be altered".to_owned(),
        ));
    }
    let topic = broker.store.topic(&resource.resource_name).ok_or_else(|| {
        let e = TopicError::Unknown(resource.resource_name.clone());
        (e.code(), e.to_string())
    })?;
    let mut configs = topic.configs.clone();
    for change in &resource.configs {
        match (change.config_operation, &change.value) {
            (0, Some(value)) => {
                validate_config(&change.name, value).map_err(|m| (INVALID_CONFIG, m))?;
                configs.insert(change.name.clone(), value.clone());
            }
            (1, _) => {
                if !crate::topics::SUPPORTED_CONFIGS.contains(&change.name.as_str()) {
                    return Err((
                        INVALID_CONFIG,
                        format!("unknown or unsupported topic config `{}`", change.name),
                    ));
                }
                configs.remove(&change.name);
            }
            (0, None) => {
                return Err((
                    INVALID_CONFIG,
                    format!("{}: SET needs a value", change.name),
                ));
            }
            (op, _) => {
                return Err((
                    INVALID_CONFIG,
                    format!(
                        "{}: operation {op} applies to list configs only",
                        change.name
                    ),
                ));
            }
        }
    }
    if validate_only {
        return Ok(());
    }
    broker
        .store
        .set_configs(&resource.resource_name, configs)
        .map_err(|e| (e.code(), e.to_string()))
}
