//! AlterPartitionReassignments and ListPartitionReassignments (KIP-455), as
//! `kafka-reassign-partitions` and admin clients use them: a partition is moved onto the
//! replicas named (or its move cancelled) through the metadata's `Reassign`; the moves in
//! flight are listed from the cluster state with the replicas being added and removed.

use kafka_protocol::messages::alter_partition_reassignments_response::{
    ReassignablePartitionResponse, ReassignableTopicResponse,
};
use kafka_protocol::messages::list_partition_reassignments_response::{
    OngoingPartitionReassignment, OngoingTopicReassignment,
};
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse, BrokerId,
    ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse, RequestHeader,
    TopicName,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use super::Broker;
use crate::error::kafka_error;
use eddy_actors::error::ActorError;
use eddy_actors::reassignments::Reassign;

pub async fn alter(
    broker: &Broker,
    _header: &RequestHeader,
    req: AlterPartitionReassignmentsRequest,
) -> AlterPartitionReassignmentsResponse {
    let snapshot = broker.snapshot();
    let mut responses = Vec::with_capacity(req.topics.len());
    for t in &req.topics {
        let name = t.name.0.as_str();
        let mut partitions = Vec::with_capacity(t.partitions.len());
        for p in &t.partitions {
            let target: Option<Vec<i32>> =
                p.replicas.as_ref().map(|r| r.iter().map(|b| b.0).collect());
            let current_len = snapshot
                .topics
                .get(name)
                .and_then(|topic| {
                    topic
                        .partitions
                        .get(usize::try_from(p.partition_index).ok()?)
                })
                .map(|record| record.replicas.len());
            let outcome = match (&target, current_len) {
                // v1 (KIP-860): a client may forbid a change of the replication factor.
                (Some(target), Some(len))
                    if !req.allow_replication_factor_change && target.len() != len =>
                {
                    Err((
                        ResponseError::InvalidReplicationFactor.code(),
                        format!(
                            "{} replicas asked where the partition has {len}, and the request does not allow a change of the replication factor",
                            target.len()
                        ),
                    ))
                }
                _ => {
                    let msg = Reassign {
                        topic: name.to_string(),
                        partition: p.partition_index,
                        target,
                    };
                    match broker.actors.metadata.send(msg).await {
                        Ok(Ok(())) => Ok(()),
                        Ok(Err(err)) => Err((kafka_error(&err).code(), err.to_string())),
                        Err(err) => {
                            let err = ActorError::from(err);
                            Err((kafka_error(&err).code(), err.to_string()))
                        }
                    }
                }
            };
            let answer =
                ReassignablePartitionResponse::default().with_partition_index(p.partition_index);
            partitions.push(match outcome {
                Ok(()) => answer,
                Err((code, message)) => answer
                    .with_error_code(code)
                    .with_error_message(Some(StrBytes::from_string(message))),
            });
        }
        responses.push(
            ReassignableTopicResponse::default()
                .with_name(t.name.clone())
                .with_partitions(partitions),
        );
    }
    AlterPartitionReassignmentsResponse::default()
        .with_allow_replication_factor_change(req.allow_replication_factor_change)
        .with_responses(responses)
}

pub async fn list(
    broker: &Broker,
    _header: &RequestHeader,
    req: ListPartitionReassignmentsRequest,
) -> ListPartitionReassignmentsResponse {
    let Some(cluster) = &broker.cluster else {
        // A single node never moves replicas.
        return ListPartitionReassignmentsResponse::default();
    };
    let state = cluster.state();
    let wanted = |topic: &str, partition: i32| match &req.topics {
        None => true,
        Some(topics) => topics
            .iter()
            .any(|t| t.name.0.as_str() == topic && t.partition_indexes.contains(&partition)),
    };
    let ids = |nodes: Vec<i32>| nodes.into_iter().map(BrokerId).collect::<Vec<_>>();
    let mut topics = Vec::new();
    for (topic, by_partition) in &state.reassignments {
        let mut partitions = Vec::new();
        for (partition, r) in by_partition {
            if !wanted(topic, *partition) {
                continue;
            }
            let replicas = state
                .topics
                .get(topic)
                .and_then(|t| t.partitions.get(usize::try_from(*partition).ok()?))
                .map(|p| p.replicas.clone())
                .unwrap_or_default();
            let adding: Vec<i32> = r
                .target
                .iter()
                .copied()
                .filter(|n| !r.original.contains(n))
                .collect();
            let removing: Vec<i32> = r
                .original
                .iter()
                .copied()
                .filter(|n| !r.target.contains(n))
                .collect();
            partitions.push(
                OngoingPartitionReassignment::default()
                    .with_partition_index(*partition)
                    .with_replicas(ids(replicas))
                    .with_adding_replicas(ids(adding))
                    .with_removing_replicas(ids(removing)),
            );
        }
        if !partitions.is_empty() {
            topics.push(
                OngoingTopicReassignment::default()
                    .with_name(TopicName(StrBytes::from_string(topic.clone())))
                    .with_partitions(partitions),
            );
        }
    }
    ListPartitionReassignmentsResponse::default().with_topics(topics)
}
