//! CreateTopics, DeleteTopics and CreatePartitions: each topic is one message to the
//! MetadataActor, which validates, places, persists and starts the partitions.

use std::collections::BTreeMap;

use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{
    CreatePartitionsRequest, CreatePartitionsResponse, CreateTopicsRequest, CreateTopicsResponse,
    DeleteTopicsRequest, DeleteTopicsResponse, RequestHeader, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;
use uuid::Uuid;

use super::Broker;
use crate::error::kafka_error;
use eddy_actors::error::{ActorError, ActorResult};
use eddy_actors::group_supervisor::TopicDeleted;
use eddy_actors::metadata::{CreatePartitions, CreateTopic, DeleteTopic};
use eddy_actors::store::TopicRecord;
use eddy_actors::topic_config::TOPIC_CONFIGS;

fn message(version: i16, since: i16, err: &ActorError) -> Option<StrBytes> {
    (version >= since).then(|| StrBytes::from_string(err.to_string()))
}

fn effective_configs(broker: &Broker, topic: &TopicRecord) -> Vec<CreatableTopicConfigs> {
    let defaults = broker.snapshot().broker_defaults.clone();
    TOPIC_CONFIGS
        .iter()
        .map(|def| {
            let (value, source) = topic.config.effective(def, &defaults);
            CreatableTopicConfigs::default()
                .with_name(StrBytes::from_static_str(def.name))
                .with_value(Some(StrBytes::from_string(value)))
                .with_config_source(source.code())
        })
        .collect()
}

/// The manual replica assignment of a topic to create, if it has one: one replica list per
/// partition, in partition order from 0. Refused (with the reason) when partitions are
/// missing or repeated, or when a partition count or replication factor is given too.
fn manual_assignment(
    t: &kafka_protocol::messages::create_topics_request::CreatableTopic,
) -> Result<Option<Vec<Vec<i32>>>, String> {
    if t.assignments.is_empty() {
        return Ok(None);
    }
    if t.num_partitions != -1 || t.replication_factor != -1 {
        return Err(
            "both a replica assignment and a partition count or replication factor were given; give one"
                .into(),
        );
    }
    let mut by_partition: BTreeMap<i32, Vec<i32>> = BTreeMap::new();
    for a in &t.assignments {
        let replicas = a.broker_ids.iter().map(|b| b.0).collect();
        if by_partition.insert(a.partition_index, replicas).is_some() {
            return Err(format!("partition {} is assigned twice", a.partition_index));
        }
    }
    for (expected, partition) in by_partition.keys().enumerate() {
        if *partition != expected as i32 {
            return Err(format!(
                "the assigned partitions must be 0 to {} with none missing; partition {expected} is missing",
                by_partition.len() - 1
            ));
        }
    }
    Ok(Some(by_partition.into_values().collect()))
}

pub async fn create(
    broker: &Broker,
    header: &RequestHeader,
    req: CreateTopicsRequest,
) -> CreateTopicsResponse {
    let version = header.request_api_version;
    let mut results = Vec::with_capacity(req.topics.len());
    for t in req.topics {
        let result = CreatableTopicResult::default().with_name(t.name.clone());
        // Kafka's manual replica assignment (`kafka-topics --replica-assignment`): the
        // partitions in order from 0, with num_partitions and replication_factor -1.
        let assignment = match manual_assignment(&t) {
            Ok(assignment) => assignment,
            Err(reason) => {
                let code = if t.num_partitions != -1 || t.replication_factor != -1 {
                    ResponseError::InvalidRequest
                } else {
                    ResponseError::InvalidReplicaAssignment
                };
                results.push(
                    result
                        .with_error_code(code.code())
                        .with_error_message(Some(StrBytes::from_string(reason))),
                );
                continue;
            }
        };
        let configs: BTreeMap<String, String> = t
            .configs
            .iter()
            .filter_map(|c| {
                c.value
                    .as_ref()
                    .map(|v| (c.name.as_str().to_string(), v.as_str().to_string()))
            })
            .collect();
        let msg = CreateTopic {
            name: t.name.0.as_str().to_string(),
            partitions: (t.num_partitions != -1).then_some(t.num_partitions),
            replication_factor: (t.replication_factor != -1).then_some(t.replication_factor),
            configs,
            validate_only: req.validate_only,
            assignment,
        };
        let created: ActorResult<TopicRecord> = broker
            .actors
            .metadata
            .send(msg)
            .await
            .map_err(ActorError::from)
            .and_then(|r| r);
        results.push(match created {
            Ok(topic) => {
                let result = result
                    .with_num_partitions(topic.partitions.len() as i32)
                    .with_replication_factor(topic.replication_factor);
                if version >= 5 {
                    let configs = effective_configs(broker, &topic);
                    result
                        .with_topic_id(Uuid::from_bytes(topic.id))
                        .with_configs(Some(configs))
                } else {
                    result
                }
            }
            Err(err) => result
                .with_error_code(kafka_error(&err).code())
                .with_error_message(message(version, 1, &err)),
        });
    }
    CreateTopicsResponse::default().with_topics(results)
}

pub async fn delete(
    broker: &Broker,
    header: &RequestHeader,
    req: DeleteTopicsRequest,
) -> DeleteTopicsResponse {
    let version = header.request_api_version;
    // v0–5 name topics in `topic_names`; v6+ in `topics[]`, by name or by id.
    let mut names: Vec<Result<String, Uuid>> = req
        .topic_names
        .iter()
        .map(|n| Ok(n.0.as_str().to_string()))
        .collect();
    for t in &req.topics {
        names.push(match &t.name {
            Some(name) => Ok(name.0.as_str().to_string()),
            None => broker
                .snapshot()
                .topics
                .values()
                .find(|r| Uuid::from_bytes(r.id) == t.topic_id)
                .map(|r| r.name.clone())
                .ok_or(t.topic_id),
        });
    }
    let mut responses = Vec::with_capacity(names.len());
    for name in names {
        let name = match name {
            Ok(name) => name,
            Err(id) => {
                responses.push(
                    DeletableTopicResult::default()
                        .with_topic_id(id)
                        .with_error_code(ResponseError::UnknownTopicId.code()),
                );
                continue;
            }
        };
        let result = DeletableTopicResult::default()
            .with_name(Some(TopicName(StrBytes::from_string(name.clone()))));
        let deleted = broker
            .actors
            .metadata
            .send(DeleteTopic { name })
            .await
            .map_err(ActorError::from)
            .and_then(|r| r);
        if let Ok(topic) = &deleted {
            broker
                .actors
                .groups
                .do_send(TopicDeleted(topic.name.clone()));
        }
        responses.push(match deleted {
            Ok(topic) if version >= 6 => result.with_topic_id(Uuid::from_bytes(topic.id)),
            Ok(_) => result,
            Err(err) => result
                .with_error_code(kafka_error(&err).code())
                .with_error_message(message(version, 5, &err)),
        });
    }
    DeleteTopicsResponse::default().with_responses(responses)
}

pub async fn create_partitions(
    broker: &Broker,
    _header: &RequestHeader,
    req: CreatePartitionsRequest,
) -> CreatePartitionsResponse {
    let mut results = Vec::with_capacity(req.topics.len());
    for t in req.topics {
        let result = CreatePartitionsTopicResult::default().with_name(t.name.clone());
        if t.assignments.is_some() {
            results.push(
                result
                    .with_error_code(ResponseError::InvalidReplicaAssignment.code())
                    .with_error_message(Some(StrBytes::from_static_str(
                        "manual replica assignment is not supported",
                    ))),
            );
            continue;
        }
        let msg = CreatePartitions {
            name: t.name.0.as_str().to_string(),
            count: t.count,
            validate_only: req.validate_only,
        };
        let grown = broker
            .actors
            .metadata
            .send(msg)
            .await
            .map_err(ActorError::from)
            .and_then(|r| r);
        results.push(match grown {
            Ok(()) => result,
            Err(err) => result
                .with_error_code(kafka_error(&err).code())
                .with_error_message(Some(StrBytes::from_string(err.to_string()))),
        });
    }
    CreatePartitionsResponse::default().with_results(results)
}
