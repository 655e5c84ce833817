//! Produce: per partition, `Append` to the local partition actor (all partitions of all topics
//! of a request in parallel). acks=1 and acks=all answer after the local append (a single node is the
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
    let config = match broker.topic_or_create(topic, true).await {
        Ok(record) => record.config,
        Err(err) => return failed(&err),
    };
    if is_compacted(broker, &config) {
        if let Some(reason) = keyless_record(&records) {
            return PartitionProduceResponse::default()
                .with_index(partition)
                .with_error_code(ResponseError::InvalidRecord.code())
                .with_error_message((version >= 8).then(|| StrBytes::from_string(reason)));
        }
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

fn is_compacted(broker: &Broker, config: &eddy_actors::topic_config::TopicConfig) -> bool {
    let snapshot = broker.snapshot();
    eddy_actors::topic_config::find("cleanup.policy")
        .map(|def| config.effective(def, &snapshot.broker_defaults).0)
        .is_some_and(|policy| policy.split(',').any(|p| p.trim() == "compact"))
}

/// Compacted topics keep the latest value per key, so Kafka refuses records without a key
/// there (INVALID_RECORD). The reason, if any record lacks a key. Batches that do not parse
/// are left for the partition to refuse with CORRUPT_MESSAGE.
fn keyless_record(records: &bytes::Bytes) -> Option<String> {
    let batches = eddy_actors::batch::split_and_validate(records).ok()?;
    batches.iter().find_map(|(at, h)| {
        match crate::record_codec::has_keyless_record(&records[*at..*at + h.size]) {
            Ok(true) => Some("compacted topic: every record needs a key".to_string()),
            _ => None,
        }
    })
}

pub async fn handle(
    broker: &Broker,
    header: &RequestHeader,
    req: ProduceRequest,
) -> Option<ProduceResponse> {
    let acks = req.acks;
    let version = header.request_api_version;
    if !matches!(acks, -1..=1) {
        let topics = req
            .topic_data
            .into_iter()
            .map(|t| {
                let partitions = t
                    .partition_data
                    .iter()
                    .map(|p| {
                        PartitionProduceResponse::default()
                            .with_index(p.index)
                            .with_error_code(ResponseError::InvalidRequiredAcks.code())
                    })
                    .collect();
                TopicProduceResponse::default()
                    .with_name(t.name)
                    .with_partition_responses(partitions)
            })
            .collect();
        return Some(ProduceResponse::default().with_responses(topics));
    }
    // Every partition of every topic in one join: their first polls run in request order, so
    // each append is enqueued at its partition before a later request's (for existing topics).
    let names: Vec<_> = req.topic_data.iter().map(|t| t.name.clone()).collect();
    let appends = req.topic_data.iter().enumerate().flat_map(|(i, t)| {
        t.partition_data.iter().map(move |p| async move {
            (
                i,
                append(
                    broker,
                    version,
                    t.name.0.as_str(),
                    p.index,
                    p.records.clone(),
                )
                .await,
            )
        })
    });
    let results = join_all(appends).await;
    if acks == 0 {
        return None;
    }
    let mut topics: Vec<TopicProduceResponse> = names
        .into_iter()
        .map(|name| TopicProduceResponse::default().with_name(name))
        .collect();
    for (i, partition) in results {
        topics[i].partition_responses.push(partition);
    }
    Some(ProduceResponse::default().with_responses(topics))
}
