//! Produce: per partition, `Append` to the local partition leader (all partitions of all
//! topics of a request in parallel). acks=1 answers after the local append; acks=all is
//! refused while the ISR is below min.insync.replicas and answers once the high watermark
//! passes the batch (on a single node, at once); acks=0 gets no response at all. A node
//! that does not lead the partition answers NOT_LEADER_OR_FOLLOWER.

use futures::future::join_all;
use kafka_protocol::messages::produce_response::{
    BatchIndexAndErrorMessage, PartitionProduceResponse, TopicProduceResponse,
};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse, RequestHeader};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use super::{legacy_records, Broker};
use crate::error::kafka_error;
use eddy_actors::error::ActorError;
use eddy_actors::partition::{Append, WaitForCommit};

/// acks=all: waits until the high watermark passes the appended batch (every ISR member
/// has it), at most the request's timeout.
async fn wait_for_commit(
    handle: &eddy_actors::partition_supervisor::PartitionHandle,
    outcome: eddy_actors::partition::AppendOutcome,
    timeout_ms: i32,
) -> Result<eddy_actors::partition::AppendOutcome, ActorError> {
    let rx = handle
        .send(WaitForCommit {
            offset: outcome.end_offset,
        })
        .await??;
    let timeout = std::time::Duration::from_millis(timeout_ms.max(0) as u64);
    match tokio::time::timeout(timeout, rx).await {
        Ok(Ok(Ok(()))) => Ok(outcome),
        Ok(Ok(Err(err))) => Err(err),
        // The replica stopped leading (or restarted) before the records were committed.
        Ok(Err(_)) => Err(ActorError::NotLeader(
            "the partition changed leader before the records were committed".into(),
        )),
        Err(_) => Err(ActorError::Timeout(format!(
            "the in-sync replicas did not confirm within {timeout_ms} ms"
        ))),
    }
}

#[allow(clippy::too_many_arguments)]
async fn append(
    broker: &Broker,
    version: i16,
    topic: &str,
    partition: i32,
    records: Option<bytes::Bytes>,
    acks_all: bool,
    timeout_ms: i32,
) -> PartitionProduceResponse {
    let resp = PartitionProduceResponse::default().with_index(partition);
    let failed = |err: &ActorError| {
        PartitionProduceResponse::default()
            .with_index(partition)
            .with_error_code(kafka_error(err).code())
            // The message field exists from v8 on; older versions carry the code only.
            .with_error_message((version >= 8).then(|| StrBytes::from_string(err.to_string())))
    };
    let Some(mut records) = records.filter(|r| !r.is_empty()) else {
        return failed(&ActorError::CorruptBatch(
            "the request carries no records".into(),
        ));
    };
    if version < 3 {
        // An old client's magic 0/1 message set, up-converted as Kafka does.
        let converted = legacy_records::read_message_set(records, broker.request_bytes_max)
            .and_then(|messages| legacy_records::to_batch(&messages));
        records = match converted {
            Ok(batch) => batch,
            Err(reason) => {
                tracing::warn!(%topic, partition, %reason, "refused a v{version} message set");
                return failed(&ActorError::CorruptBatch(reason));
            }
        };
    }
    // Auto-creates the topic like Kafka's producer path; its configs reach the partition.
    if let Err(err) = broker.topic_or_create(topic, true).await {
        return failed(&err);
    }
    let handle = match broker.leader_partition(topic, partition) {
        Ok(handle) => handle,
        Err(err) => return failed(&err),
    };
    let appended = handle
        .send(Append { records, acks_all })
        .await
        .and_then(|r| r);
    let committed = match appended {
        Ok(outcome) if acks_all => wait_for_commit(&handle, outcome, timeout_ms).await,
        other => other,
    };
    match committed {
        Ok(outcome) => resp
            .with_base_offset(outcome.base_offset)
            .with_log_append_time_ms(outcome.log_append_time_ms)
            .with_log_start_offset(if version >= 5 {
                outcome.log_start_offset
            } else {
                -1
            }),
        Err(err) => {
            if matches!(
                err,
                ActorError::CorruptBatch(_) | ActorError::InvalidRecord { .. }
            ) {
                tracing::warn!(%topic, partition, error = %err, "refused produced batch");
            }
            let record_errors = match &err {
                // Produce v8 names the record to blame (KIP-467).
                ActorError::InvalidRecord {
                    record: Some(index),
                    reason,
                } if version >= 8 => vec![BatchIndexAndErrorMessage::default()
                    .with_batch_index(*index)
                    .with_batch_index_error_message(Some(StrBytes::from_string(reason.clone())))],
                _ => Vec::new(),
            };
            failed(&err).with_record_errors(record_errors)
        }
    }
}

pub async fn handle(
    broker: &Broker,
    header: &RequestHeader,
    req: ProduceRequest,
) -> Option<ProduceResponse> {
    let acks = req.acks;
    let timeout_ms = req.timeout_ms;
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
                    acks == -1,
                    timeout_ms,
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
