//! DescribeConfigs, IncrementalAlterConfigs (SET, DELETE, APPEND, SUBTRACT) and the legacy
//! AlterConfigs (the whole set replaced) for topics (effective values with their source:
//! topic override, broker setting or Kafka default), plus the node's static settings as
//! the broker resource (read-only).

use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult,
};
use kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{
    AlterConfigsRequest, AlterConfigsResponse, DescribeConfigsRequest, DescribeConfigsResponse,
    IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse, RequestHeader,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use super::Broker;
use crate::error::kafka_error;
use eddy_actors::error::ActorError;
use eddy_actors::metadata::{AlterTopicConfig, ConfigChange};
use eddy_actors::topic_config::{ConfigType, TOPIC_CONFIGS};

const RESOURCE_TOPIC: i8 = 2;
const RESOURCE_BROKER: i8 = 4;
const SOURCE_STATIC_BROKER: i8 = 4;

fn type_code(kind: ConfigType) -> i8 {
    match kind {
        ConfigType::Boolean => 1,
        ConfigType::String | ConfigType::Free => 2,
        ConfigType::Int => 3,
        ConfigType::Long => 5,
        ConfigType::Double => 6,
        ConfigType::List => 7,
    }
}

fn entry(
    version: i16,
    name: &str,
    value: String,
    source: i8,
    read_only: bool,
    kind: ConfigType,
) -> DescribeConfigsResourceResult {
    let e = DescribeConfigsResourceResult::default()
        .with_name(StrBytes::from_string(name.to_string()))
        .with_value(Some(StrBytes::from_string(value)))
        .with_read_only(read_only)
        .with_config_source(source);
    if version >= 3 {
        e.with_config_type(type_code(kind))
    } else {
        e
    }
}

fn wanted(keys: &Option<Vec<StrBytes>>, name: &str) -> bool {
    keys.as_ref()
        .is_none_or(|k| k.is_empty() || k.iter().any(|k| k.as_str() == name))
}

fn describe_topic(
    broker: &Broker,
    version: i16,
    name: &str,
    keys: &Option<Vec<StrBytes>>,
) -> DescribeConfigsResult {
    let result = DescribeConfigsResult::default()
        .with_resource_type(RESOURCE_TOPIC)
        .with_resource_name(StrBytes::from_string(name.to_string()));
    let snapshot = broker.snapshot();
    let Some(topic) = snapshot.topics.get(name) else {
        let err = ActorError::UnknownTopic(name.to_string());
        return result
            .with_error_code(kafka_error(&err).code())
            .with_error_message(Some(StrBytes::from_string(err.to_string())));
    };
    let configs = TOPIC_CONFIGS
        .iter()
        .filter(|def| wanted(keys, def.name))
        .map(|def| {
            let (value, source) = topic.config.effective(def, &snapshot.broker_defaults);
            entry(version, def.name, value, source.code(), false, def.kind)
        })
        .collect();
    result.with_configs(configs)
}

fn describe_broker(
    broker: &Broker,
    version: i16,
    name: &str,
    keys: &Option<Vec<StrBytes>>,
) -> DescribeConfigsResult {
    let result = DescribeConfigsResult::default()
        .with_resource_type(RESOURCE_BROKER)
        .with_resource_name(StrBytes::from_string(name.to_string()));
    if name != broker.node_id.to_string() && !name.is_empty() {
        return result
            .with_error_code(ResponseError::InvalidRequest.code())
            .with_error_message(Some(StrBytes::from_string(format!(
                "this is broker {}, not {name}",
                broker.node_id
            ))));
    }
    let configs = broker
        .broker_configs
        .iter()
        .filter(|(k, _)| wanted(keys, k))
        .map(|(k, v)| {
            entry(
                version,
                k,
                v.clone(),
                SOURCE_STATIC_BROKER,
                true,
                ConfigType::String,
            )
        })
        .collect();
    result.with_configs(configs)
}

pub async fn describe(
    broker: &Broker,
    header: &RequestHeader,
    req: DescribeConfigsRequest,
) -> DescribeConfigsResponse {
    let version = header.request_api_version;
    let results = req
        .resources
        .iter()
        .map(|r| match r.resource_type {
            RESOURCE_TOPIC => describe_topic(
                broker,
                version,
                r.resource_name.as_str(),
                &r.configuration_keys,
            ),
            RESOURCE_BROKER => describe_broker(
                broker,
                version,
                r.resource_name.as_str(),
                &r.configuration_keys,
            ),
            other => DescribeConfigsResult::default()
                .with_resource_type(other)
                .with_resource_name(r.resource_name.clone())
                .with_error_code(ResponseError::InvalidRequest.code())
                .with_error_message(Some(StrBytes::from_string(format!(
                    "resource type {other} has no configs here"
                )))),
        })
        .collect();
    DescribeConfigsResponse::default().with_results(results)
}

fn value_of(
    c: &kafka_protocol::messages::incremental_alter_configs_request::AlterableConfig,
) -> String {
    c.value
        .as_ref()
        .map(|v| v.as_str().to_string())
        .unwrap_or_default()
}

fn changes(
    configs: &[kafka_protocol::messages::incremental_alter_configs_request::AlterableConfig],
) -> Result<Vec<ConfigChange>, String> {
    configs
        .iter()
        .map(|c| {
            let name = c.name.as_str().to_string();
            match c.config_operation {
                0 => Ok(ConfigChange::Set {
                    name,
                    value: c
                        .value
                        .as_ref()
                        .map(|v| v.as_str().to_string())
                        .unwrap_or_default(),
                }),
                1 => Ok(ConfigChange::Delete { name }),
                2 => Ok(ConfigChange::Append {
                    name,
                    value: value_of(c),
                }),
                3 => Ok(ConfigChange::Subtract {
                    name,
                    value: value_of(c),
                }),
                op => Err(format!(
                    "config operation {op} for {name} is not one of SET (0), DELETE (1), APPEND (2), SUBTRACT (3)"
                )),
            }
        })
        .collect()
}

/// Applies `changes` to topic `name` (or only checks them): the error code and message of
/// a refusal. The broker resource is refused: its settings are static.
async fn alter_resource(
    broker: &Broker,
    resource_type: i8,
    name: &str,
    changes: Result<Vec<ConfigChange>, String>,
    validate_only: bool,
) -> Result<(), (i16, String)> {
    if resource_type != RESOURCE_TOPIC {
        return Err((
            ResponseError::InvalidRequest.code(),
            "broker settings are static: set them with flags or the node's TOML file and restart"
                .into(),
        ));
    }
    let changes = changes.map_err(|msg| (ResponseError::InvalidRequest.code(), msg))?;
    let msg = AlterTopicConfig {
        name: name.to_string(),
        changes,
        validate_only,
    };
    broker
        .actors
        .metadata
        .send(msg)
        .await
        .map_err(ActorError::from)
        .and_then(|r| r)
        .map_err(|err| (kafka_error(&err).code(), err.to_string()))
}

/// A resource's error code and message (0 and none when it was applied).
fn coded(outcome: Result<(), (i16, String)>) -> (i16, Option<StrBytes>) {
    match outcome {
        Ok(()) => (0, None),
        Err((code, msg)) => (code, Some(StrBytes::from_string(msg))),
    }
}

pub async fn alter(
    broker: &Broker,
    _header: &RequestHeader,
    req: IncrementalAlterConfigsRequest,
) -> IncrementalAlterConfigsResponse {
    let mut responses = Vec::with_capacity(req.resources.len());
    for r in &req.resources {
        let resp = AlterConfigsResourceResponse::default()
            .with_resource_type(r.resource_type)
            .with_resource_name(r.resource_name.clone());
        let outcome = alter_resource(
            broker,
            r.resource_type,
            r.resource_name.as_str(),
            changes(&r.configs),
            req.validate_only,
        )
        .await;
        let (code, message) = coded(outcome);
        responses.push(resp.with_error_code(code).with_error_message(message));
    }
    IncrementalAlterConfigsResponse::default().with_responses(responses)
}

/// The legacy AlterConfigs (API 33), still sent by many tools: the configs given replace
/// the topic's whole set of overrides (those not named go back to their defaults).
pub async fn alter_legacy(
    broker: &Broker,
    _header: &RequestHeader,
    req: AlterConfigsRequest,
) -> AlterConfigsResponse {
    use kafka_protocol::messages::alter_configs_response::AlterConfigsResourceResponse as Legacy;
    let mut responses = Vec::with_capacity(req.resources.len());
    for r in &req.resources {
        let resp = Legacy::default()
            .with_resource_type(r.resource_type)
            .with_resource_name(r.resource_name.clone());
        let changes = std::iter::once(ConfigChange::Clear)
            .chain(r.configs.iter().filter_map(|c| {
                Some(ConfigChange::Set {
                    name: c.name.as_str().to_string(),
                    value: c.value.as_ref()?.as_str().to_string(),
                })
            }))
            .collect();
        let outcome = alter_resource(
            broker,
            r.resource_type,
            r.resource_name.as_str(),
            Ok(changes),
            req.validate_only,
        )
        .await;
        let (code, message) = coded(outcome);
        responses.push(resp.with_error_code(code).with_error_message(message));
    }
    AlterConfigsResponse::default().with_responses(responses)
}
