//! Turning sealed batches into Produce requests to one leader, and answers into outcomes.
//!
//! Batches for one leader are packed into requests of at most `request_bytes_max` (a batch
//! larger than that still travels alone), sent one after the other on the leader's
//! connection, and each partition's answer completes that batch's receipts or sends the
//! batch back for a retry.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::produce_response::PartitionProduceResponse;
use kafka_protocol::messages::{ProduceRequest, ProduceResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::accumulator::Batch;
use super::connection::Connection;
use super::error::ClientError;
use super::producer::{fail, Acks, ProducerConfig, RecordMetadata};
use super::records::encode_batch;

/// What became of the batches of one round.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    /// Batches that failed with a retriable error, to send again.
    pub(crate) retry: Vec<(Batch, Arc<ClientError>)>,
    /// The first error delivered to records for good.
    pub(crate) first_error: Option<ClientError>,
}

impl Outcome {
    /// Records a failure that hit every batch of a request (connection or transport).
    pub(crate) fn add_transport_failure(&mut self, batches: Vec<Batch>, err: ClientError) {
        let err = Arc::new(err);
        for batch in batches {
            self.add_failure(batch, Arc::clone(&err));
        }
    }

    fn add_failure(&mut self, batch: Batch, err: Arc<ClientError>) {
        if err.is_retriable() {
            self.retry.push((batch, err));
        } else {
            let reported = fail(batch, err);
            self.first_error.get_or_insert(reported);
        }
    }

    /// Adds another round's outcome to this one.
    pub(crate) fn merge(&mut self, other: Outcome) {
        self.retry.extend(other.retry);
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }
}

/// The outcome of sending to one leader, with each request's round-trip time.
#[derive(Debug, Default)]
pub(crate) struct Round {
    pub(crate) outcome: Outcome,
    pub(crate) latencies: Vec<Duration>,
}

/// Sends `batches` to the leader behind `connection`.
pub(crate) async fn send_batches(
    connection: &mut Connection,
    config: &ProducerConfig,
    batches: Vec<Batch>,
) -> Round {
    let mut round = Round::default();
    for group in pack(batches, config.request_bytes_max) {
        let (group, request) = match build_request(group, config, &mut round.outcome) {
            Some(built) => built,
            None => continue,
        };
        let started = Instant::now();
        if config.acks == Acks::None {
            match connection.send_oneway(&request).await {
                Ok(_) => group.into_iter().for_each(complete_unacknowledged),
                Err(err) => round.outcome.add_transport_failure(group, err),
            }
            continue;
        }
        match connection.send(&request).await {
            Ok((response, _)) => {
                round.latencies.push(started.elapsed());
                complete(group, response, &mut round.outcome);
            }
            Err(err) => round.outcome.add_transport_failure(group, err),
        }
    }
    round
}

/// Packs batches into groups of at most `request_bytes_max` each.
fn pack(batches: Vec<Batch>, request_bytes_max: usize) -> Vec<Vec<Batch>> {
    let mut groups: Vec<Vec<Batch>> = Vec::new();
    let mut group_bytes = 0;
    for batch in batches {
        let fits = group_bytes + batch.bytes <= request_bytes_max;
        match groups.last_mut() {
            Some(group) if fits => group.push(batch),
            _ => {
                group_bytes = 0;
                groups.push(vec![batch]);
            }
        }
        group_bytes += groups.last().and_then(|g| g.last()).map_or(0, |b| b.bytes);
    }
    groups
}

/// Encodes the group's batches into one request; batches that fail to encode are failed.
fn build_request(
    group: Vec<Batch>,
    config: &ProducerConfig,
    outcome: &mut Outcome,
) -> Option<(Vec<Batch>, ProduceRequest)> {
    let mut topics: BTreeMap<String, Vec<PartitionProduceData>> = BTreeMap::new();
    let mut kept = Vec::with_capacity(group.len());
    for batch in group {
        match encode_batch(&batch.records, config.compression) {
            Ok(records) => {
                let data = PartitionProduceData::default()
                    .with_index(batch.partition)
                    .with_records(Some(records));
                topics.entry(batch.topic.clone()).or_default().push(data);
                kept.push(batch);
            }
            Err(reason) => {
                let err = ClientError::RecordBatch {
                    topic: batch.topic.clone(),
                    partition: batch.partition,
                    reason,
                };
                outcome.add_failure(batch, Arc::new(err));
            }
        }
    }
    if kept.is_empty() {
        return None;
    }
    let topic_data = topics
        .into_iter()
        .map(|(name, partitions)| {
            TopicProduceData::default()
                .with_name(TopicName(StrBytes::from_string(name)))
                .with_partition_data(partitions)
        })
        .collect();
    let request = ProduceRequest::default()
        .with_acks(config.acks.code())
        .with_timeout_ms(config.produce_timeout_ms)
        .with_topic_data(topic_data);
    Some((kept, request))
}

/// Completes each batch from its partition's answer.
fn complete(group: Vec<Batch>, response: ProduceResponse, outcome: &mut Outcome) {
    let mut answers: HashMap<(String, i32), PartitionProduceResponse> = HashMap::new();
    for topic in response.responses {
        let name = topic.name.0.to_string();
        for partition in topic.partition_responses {
            answers.insert((name.clone(), partition.index), partition);
        }
    }
    for batch in group {
        let key = (batch.topic.clone(), batch.partition);
        let context = || format!("produce to {}/{}", batch.topic, batch.partition);
        let Some(answer) = answers.remove(&key) else {
            let message = Some("the answer left the partition out".to_owned());
            let err = ClientError::kafka(context(), -1, message);
            outcome.add_failure(batch, Arc::new(err));
            continue;
        };
        if answer.error_code != 0 {
            let message = answer.error_message.as_ref().map(|m| m.to_string());
            let err = ClientError::kafka(context(), answer.error_code, message);
            outcome.add_failure(batch, Arc::new(err));
            continue;
        }
        let (topic, partition) = (batch.topic.clone(), batch.partition);
        let append_time = (answer.log_append_time_ms >= 0).then_some(answer.log_append_time_ms);
        batch.complete(|index, record| {
            Ok(RecordMetadata {
                topic: topic.clone(),
                partition,
                offset: answer.base_offset + i64::try_from(index).unwrap_or(i64::MAX),
                timestamp: append_time.unwrap_or(record.timestamp_ms),
            })
        });
    }
}

/// Completes a batch sent with acks = 0: written, offset unknown.
fn complete_unacknowledged(batch: Batch) {
    let (topic, partition) = (batch.topic.clone(), batch.partition);
    batch.complete(|_, record| {
        Ok(RecordMetadata {
            topic: topic.clone(),
            partition,
            offset: -1,
            timestamp: record.timestamp_ms,
        })
    });
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use kafka_protocol::messages::produce_response::TopicProduceResponse;
    use tokio::sync::oneshot;

    use super::*;
    use crate::records::{PendingRecord, BATCH_HEADER_BYTES};

    type Receivers = Vec<oneshot::Receiver<Result<RecordMetadata, ClientError>>>;

    fn batch(topic: &str, partition: i32, records: usize) -> (Batch, Receivers) {
        let mut receivers = Vec::new();
        let mut senders = Vec::new();
        for _ in 0..records {
            let (sender, receiver) = oneshot::channel();
            senders.push(sender);
            receivers.push(receiver);
        }
        let pending = PendingRecord {
            key: None,
            value: Some(Bytes::from_static(b"v")),
            headers: Vec::new(),
            timestamp_ms: 42,
        };
        let batch = Batch {
            topic: topic.to_owned(),
            partition,
            records: vec![pending; records],
            senders,
            bytes: BATCH_HEADER_BYTES + 100,
            created: Instant::now(),
        };
        (batch, receivers)
    }

    fn answer(partition: i32, error_code: i16, base_offset: i64) -> PartitionProduceResponse {
        PartitionProduceResponse::default()
            .with_index(partition)
            .with_error_code(error_code)
            .with_base_offset(base_offset)
            .with_log_append_time_ms(-1)
    }

    #[test]
    fn packs_batches_up_to_the_request_size() {
        let batches: Vec<Batch> = (0..5).map(|p| batch("t", p, 1).0).collect();
        let each = batches[0].bytes;
        let groups = pack(batches, 2 * each);
        let sizes: Vec<usize> = groups.iter().map(Vec::len).collect();
        assert_eq!(sizes, [2, 2, 1]);
        let groups = pack(vec![batch("t", 0, 1).0], 1);
        assert_eq!(groups.len(), 1);
    }

    #[test]
    fn answers_complete_retry_or_fail_batches() {
        let (ok, mut ok_rx) = batch("t", 0, 3);
        let (moved, _) = batch("t", 1, 1);
        let (rejected, mut rejected_rx) = batch("t", 2, 1);
        let response =
            ProduceResponse::default().with_responses(vec![TopicProduceResponse::default()
                .with_name(TopicName(StrBytes::from_static_str("t")))
                .with_partition_responses(vec![
                    answer(0, 0, 100),
                    answer(1, 6, -1),
                    answer(2, 10, -1),
                ])]);
        let mut outcome = Outcome::default();
        complete(vec![ok, moved, rejected], response, &mut outcome);
        let offsets: Vec<i64> = ok_rx
            .iter_mut()
            .map(|rx| rx.try_recv().unwrap().unwrap().offset)
            .collect();
        assert_eq!(offsets, [100, 101, 102]);
        assert_eq!(outcome.retry.len(), 1);
        assert_eq!(outcome.retry[0].0.partition, 1);
        let err = rejected_rx[0].try_recv().unwrap().unwrap_err();
        assert_eq!(err.kafka_error().map(|e| e.code()), Some(10));
        assert!(outcome.first_error.is_some());
    }
}
