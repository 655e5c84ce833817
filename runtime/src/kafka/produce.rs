//! Produce: per partition, `Append` to the local partition actor (all partitions of a request
//! in parallel). acks=1 and acks=all answer after the local append (a single node is the
//! whole ISR); acks=0 gets no response at all.

use futures::future::join_all;
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse, RequestHeader};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use super::Broker;
use crate::error::kafka_error;
use eddy_actors::error::ActorError;
use eddy_actors::partition::Append;

async fn append(
    broker: &Broker,
    version: i16,
    topic: &str,
    partition: i32,
    records: Option<bytes::Bytes>,
) -> PartitionProduceResponse {
    let resp = PartitionProduceResponse::default().with_index(partition);
    let failed = |err: &ActorError| {
        PartitionProduceResponse::default()
            .with_index(partition)
            .with_error_code(kafka_error(err).code())
            // The message field exists from v8 on; older versions carry the code only.
            .with_error_message((version >= 8).then(|| StrBytes::from_string(err.to_string())))
    };
    let Some(records) = records.filter(|r| !r.is_empty()) else {
        return failed(&ActorError::CorruptBatch(
            "the request carries no records".into(),
        ));
    };
    if let Err(err) = broker.topic_or_create(topic, true).await {
        return failed(&err);
    }
    let Some(handle) = broker.partition(topic, partition) else {
        return failed(&ActorError::UnknownPartition {
            topic: topic.to_string(),
            partition,
        });
    };
    match handle.send(Append { records }).await.and_then(|r| r) {
        Ok(outcome) => resp
            .with_base_offset(outcome.base_offset)
            .with_log_append_time_ms(outcome.log_append_time_ms)
            .with_log_start_offset(if version >= 5 {
                outcome.log_start_offset
            } else {
                -1
            }),
        Err(err) => {
            if matches!(err, ActorError::CorruptBatch(_)) {
                tracing::warn!(%topic, partition, error = %err, "refused produced batch");
            }
            failed(&err)
        }
    }
}

pub async fn handle(
    broker: &Broker,
    header: &RequestHeader,
    req: ProduceRequest,
) -> Option<ProduceResponse> {
    let acks = req.acks;
    let version = header.request_api_version;
    let mut topics = Vec::with_capacity(req.topic_data.len());
    for topic in req.topic_data {
        let name = topic.name.clone();
        let partitions = if matches!(acks, -1..=1) {
            join_all(
                topic
                    .partition_data
                    .into_iter()
                    .map(|p| append(broker, version, name.0.as_str(), p.index, p.records)),
            )
            .await
        } else {
            topic
                .partition_data
                .iter()
                .map(|p| {
                    PartitionProduceResponse::default()
                        .with_index(p.index)
                        .with_error_code(ResponseError::InvalidRequiredAcks.code())
                })
                .collect()
        };
        topics.push(
            TopicProduceResponse::default()
                .with_name(name)
                .with_partition_responses(partitions),
        );
    }
    if acks == 0 {
        return None;
    }
    Some(ProduceResponse::default().with_responses(topics))
}
