//! Fetch: reads stored batches from each partition (in parallel) up to the high watermark,
//! returning them as stored, without re-encoding. When fewer than `min_bytes` are available
//! the fetch parks a waiter inside each partition actor and is woken by the next append or
//! by `max_wait_ms`. Fetch sessions (KIP-227) are declined with session id 0.

use std::time::Duration;

use bytes::Bytes;
use futures::future::{join_all, select_all};
use kafka_protocol::messages::fetch_request::FetchPartition;
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{FetchRequest, FetchResponse, RequestHeader, TopicName};
use tokio::time::Instant;

use super::Broker;
use crate::error::kafka_error;
use eddy_actors::error::ActorResult;
use eddy_actors::partition::{Read, ReadOutcome, WaitForAppend};

/// The longest a fetch may park, whatever the client asks.
pub const FETCH_WAIT_MS_MAX: i32 = 60_000;

struct Wanted {
    topic: TopicName,
    partitions: Vec<FetchPartition>,
}

type Results = Vec<Vec<ActorResult<ReadOutcome>>>;

async fn read_one(
    broker: &Broker,
    topic: &str,
    p: &FetchPartition,
    max_bytes: usize,
) -> ActorResult<ReadOutcome> {
    let handle = broker.leader_partition(topic, p.partition)?;
    let partition_max = usize::try_from(p.partition_max_bytes)
        .unwrap_or(0)
        .min(max_bytes)
        .max(1);
    handle
        .send(Read {
            offset: p.fetch_offset,
            max_bytes: partition_max,
        })
        .await?
}

async fn read_all(broker: &Broker, wanted: &[Wanted], max_bytes: usize) -> Results {
    let mut out = Vec::with_capacity(wanted.len());
    for w in wanted {
        let reads = w
            .partitions
            .iter()
            .map(|p| read_one(broker, w.topic.0.as_str(), p, max_bytes));
        out.push(join_all(reads).await);
    }
    // Respect the response-wide limit: the first non-empty partition always goes out whole
    // (KIP-74); later ones are emptied once the limit would be passed.
    let mut total = 0usize;
    for result in out.iter_mut().flatten().flatten() {
        let len = result.records.len();
        if total > 0 && total + len > max_bytes {
            result.records = Bytes::new();
        } else {
            total += len;
        }
    }
    out
}

fn bytes_and_errors(results: &Results) -> (usize, bool) {
    let mut bytes = 0;
    let mut error = false;
    for r in results.iter().flatten() {
        match r {
            Ok(read) => bytes += read.records.len(),
            Err(_) => error = true,
        }
    }
    (bytes, error)
}

async fn wait_for_append(broker: &Broker, wanted: &[Wanted], deadline: Instant) {
    let mut waits = Vec::new();
    for w in wanted {
        for p in &w.partitions {
            if let Some(handle) = broker.partition(w.topic.0.as_str(), p.partition) {
                if let Ok(Ok(rx)) = handle
                    .send(WaitForAppend {
                        offset: p.fetch_offset,
                    })
                    .await
                {
                    waits.push(rx);
                }
            }
        }
    }
    if waits.is_empty() {
        tokio::time::sleep_until(deadline).await;
        return;
    }
    tokio::select! {
        _ = select_all(waits) => {}
        _ = tokio::time::sleep_until(deadline) => {}
    }
}

fn partition_data(version: i16, index: i32, result: ActorResult<ReadOutcome>) -> PartitionData {
    let data = PartitionData::default().with_partition_index(index);
    match result {
        Ok(read) => data
            .with_high_watermark(read.offsets.high_watermark)
            // Without transactions the last stable offset is the high watermark;
            // librdkafka reads read_committed by default and needs it.
            .with_last_stable_offset(read.offsets.high_watermark)
            .with_log_start_offset(if version >= 5 {
                read.offsets.log_start_offset
            } else {
                -1
            })
            .with_aborted_transactions(Some(Vec::new()))
            .with_records(Some(read.records)),
        Err(err) => data
            .with_error_code(kafka_error(&err).code())
            .with_high_watermark(-1)
            .with_records(Some(Bytes::new())),
    }
}

pub async fn handle(broker: &Broker, header: &RequestHeader, req: FetchRequest) -> FetchResponse {
    let version = header.request_api_version;
    let wait = Duration::from_millis(req.max_wait_ms.clamp(0, FETCH_WAIT_MS_MAX) as u64);
    let deadline = Instant::now() + wait;
    let min_bytes = usize::try_from(req.min_bytes).unwrap_or(0);
    let max_bytes = usize::try_from(req.max_bytes)
        .ok()
        .filter(|m| *m > 0)
        .unwrap_or(i32::MAX as usize)
        .min(broker.fetch_max_bytes);
    let wanted: Vec<Wanted> = req
        .topics
        .into_iter()
        .map(|t| Wanted {
            topic: t.topic,
            partitions: t.partitions,
        })
        .collect();
    let results = loop {
        let results = read_all(broker, &wanted, max_bytes).await;
        let (bytes, error) = bytes_and_errors(&results);
        if bytes >= min_bytes || error || Instant::now() >= deadline {
            break results;
        }
        wait_for_append(broker, &wanted, deadline).await;
    };
    let responses = wanted
        .into_iter()
        .zip(results)
        .map(|(w, reads)| {
            let partitions = w
                .partitions
                .iter()
                .zip(reads)
                .map(|(p, r)| partition_data(version, p.partition, r))
                .collect();
            FetchableTopicResponse::default()
                .with_topic(w.topic)
                .with_partitions(partitions)
        })
        .collect();
    FetchResponse::default()
        .with_session_id(0)
        .with_responses(responses)
}
