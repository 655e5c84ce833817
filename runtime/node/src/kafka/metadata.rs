//! Metadata: brokers (this node, at its advertised address), the controller id (always a
//! real broker id: kafka-python's admin spins on -1), and topics with their partitions'
//! leaders, epochs and replicas. Unknown topics are auto-created when allowed.

use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{
    BrokerId, MetadataRequest, MetadataResponse, RequestHeader, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use super::{authorized, Broker};
use crate::error::kafka_error;
use eddy_actors::store::TopicRecord;

/// The Metadata view of one topic.
pub fn describe_topic(topic: &TopicRecord) -> MetadataResponseTopic {
    let partitions = topic
        .partitions
        .iter()
        .map(|p| {
            let replicas: Vec<BrokerId> = p.replicas.iter().map(|&r| BrokerId(r)).collect();
            let isr: Vec<BrokerId> = p.isr.iter().map(|&r| BrokerId(r)).collect();
            let code = if p.leader < 0 {
                kafka_protocol::ResponseError::LeaderNotAvailable.code()
            } else {
                0
            };
            MetadataResponsePartition::default()
                .with_error_code(code)
                .with_partition_index(p.index)
                .with_leader_id(BrokerId(p.leader))
                .with_leader_epoch(p.leader_epoch)
                .with_isr_nodes(isr)
                .with_replica_nodes(replicas)
        })
        .collect();
    MetadataResponseTopic::default()
        .with_name(Some(TopicName(StrBytes::from_string(topic.name.clone()))))
        .with_topic_id(Uuid::from_bytes(topic.id))
        .with_partitions(partitions)
}

fn error_topic(name: Option<TopicName>, code: i16) -> MetadataResponseTopic {
    MetadataResponseTopic::default()
        .with_name(name)
        .with_error_code(code)
}

pub async fn handle(
    broker: &Broker,
    header: &RequestHeader,
    req: MetadataRequest,
) -> MetadataResponse {
    let version = header.request_api_version;
    // Before v4 there is no flag and auto-creation follows the broker setting.
    let allow_create = version < 4 || req.allow_auto_topic_creation;
    // v0 asks for every topic with an empty list; v1+ with null.
    let all =
        req.topics.is_none() || (version == 0 && req.topics.as_ref().is_some_and(Vec::is_empty));
    // v8+: what the client may do with each topic (and v8-10: the cluster), when it asks.
    let topic_ops =
        authorized::reported(req.include_topic_authorized_operations, authorized::TOPIC);
    let describe_topic =
        |topic: &TopicRecord| describe_topic(topic).with_topic_authorized_operations(topic_ops);
    let topics = match req.topics {
        _ if all => broker
            .snapshot()
            .topics
            .values()
            .map(describe_topic)
            .collect(),
        None => Vec::new(),
        Some(wanted) => {
            let mut out = Vec::with_capacity(wanted.len());
            for t in wanted {
                let name = match t.name {
                    Some(name) => name,
                    None => {
                        let snapshot = broker.snapshot();
                        let by_id = snapshot
                            .topics
                            .values()
                            .find(|r| Uuid::from_bytes(r.id) == t.topic_id);
                        match by_id {
                            Some(topic) => {
                                out.push(describe_topic(topic));
                                continue;
                            }
                            None => {
                                out.push(
                                    error_topic(
                                        None,
                                        kafka_protocol::ResponseError::UnknownTopicId.code(),
                                    )
                                    .with_topic_id(t.topic_id),
                                );
                                continue;
                            }
                        }
                    }
                };
                match broker.topic_or_create(name.0.as_str(), allow_create).await {
                    Ok(topic) => out.push(describe_topic(&topic)),
                    Err(err) => out.push(error_topic(Some(name), kafka_error(&err).code())),
                }
            }
            out
        }
    };
    let brokers = broker
        .brokers()
        .into_iter()
        .map(|b| {
            MetadataResponseBroker::default()
                .with_node_id(BrokerId(b.node_id))
                .with_host(StrBytes::from_string(b.host))
                .with_port(b.port)
                .with_rack(broker.rack_of(b.node_id).map(StrBytes::from_string))
        })
        .collect();
    let cluster_ops = if (8..=10).contains(&version) {
        authorized::reported(
            req.include_cluster_authorized_operations,
            authorized::CLUSTER,
        )
    } else {
        authorized::NOT_REQUESTED
    };
    MetadataResponse::default()
        .with_cluster_authorized_operations(cluster_ops)
        .with_brokers(brokers)
        .with_cluster_id(Some(StrBytes::from_string(broker.cluster_id())))
        .with_controller_id(BrokerId(broker.controller_id()))
        .with_topics(topics)
}
