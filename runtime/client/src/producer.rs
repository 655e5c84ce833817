//! The producer: partitions records, batches them per partition, sends them to leaders.
//!
//! `send` never waits for the network unless a batch fills up (or lingered): records join
//! their partition's open batch and the caller gets a [`DeliveryReceipt`] that resolves to
//! the record's offset once its batch is acknowledged. There is no background task, so
//! `linger_ms` is checked on each `send` and a producer that stops sending must call
//! [`Producer::flush`]. Batches are sent one request at a time per producer; a batch that
//! fails with a retriable error (no leader, not leader, connection lost) is retried after
//! a metadata refresh up to `retries_max` times, which may write it twice (there is no
//! idempotence yet: at-least-once).

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use tokio::sync::oneshot;

use super::accumulator::{Accumulator, Batch};
use super::cluster::Cluster;
use super::connection::ConnectionConfig;
use super::error::ClientError;
use super::metadata::TopicInfo;
use super::partitioner::{partition_for_key, StickyPartitioner};
use super::produce_request::{send_batches, Outcome};
use super::records::{Compression, Header, PendingRecord};

/// The most request latencies kept for [`Producer::take_request_latencies`].
const LATENCY_SAMPLES_MAX: usize = 1_000_000;

/// How many replicas must have a record before the leader acknowledges it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Acks {
    /// No acknowledgement: the node does not answer, offsets are unknown (-1).
    None,
    /// The leader has written the record.
    #[default]
    Leader,
    /// Every in-sync replica has the record.
    All,
}

impl Acks {
    /// The wire value: 0, 1 or -1.
    pub fn code(self) -> i16 {
        match self {
            Self::None => 0,
            Self::Leader => 1,
            Self::All => -1,
        }
    }
}

impl fmt::Display for Acks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::All => f.write_str("all"),
            other => write!(f, "{}", other.code()),
        }
    }
}

impl FromStr for Acks {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "0" => Ok(Self::None),
            "1" => Ok(Self::Leader),
            "-1" | "all" => Ok(Self::All),
            other => Err(format!("unknown acks `{other}`: expected 0, 1, -1 or all")),
        }
    }
}

/// Producer settings.
#[derive(Debug, Clone)]
pub struct ProducerConfig {
    /// Connection settings.
    pub connection: ConnectionConfig,
    /// Acknowledgements required.
    pub acks: Acks,
    /// Batch compression.
    pub compression: Compression,
    /// How long a batch may wait for more records before it is sent.
    pub linger_ms: u64,
    /// The size at which a partition's batch is sealed and sent.
    pub batch_bytes_max: usize,
    /// The largest Produce request (many batches to one leader share a request).
    pub request_bytes_max: usize,
    /// The largest record accepted by `send`.
    pub record_bytes_max: usize,
    /// Bytes buffered across all open batches before `send` flushes them all.
    pub buffered_bytes_max: usize,
    /// How long the leader may wait for replicas before answering (acks = all).
    pub produce_timeout_ms: i32,
    /// How many times a batch is retried after a retriable error.
    pub retries_max: u32,
    /// The pause before each retry.
    pub retry_backoff_ms: u64,
}

impl Default for ProducerConfig {
    fn default() -> Self {
        Self {
            connection: ConnectionConfig::default(),
            acks: Acks::Leader,
            compression: Compression::None,
            linger_ms: 5,
            batch_bytes_max: 64 * 1024,
            request_bytes_max: 1024 * 1024,
            record_bytes_max: 1024 * 1024,
            buffered_bytes_max: 32 * 1024 * 1024,
            produce_timeout_ms: 30_000,
            retries_max: 5,
            retry_backoff_ms: 100,
        }
    }
}

/// A record to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerRecord {
    /// The topic.
    pub topic: String,
    /// The partition; `None` lets the partitioner choose (by key, or sticky when keyless).
    pub partition: Option<i32>,
    /// The key.
    pub key: Option<Bytes>,
    /// The value; `None` is a tombstone.
    pub value: Option<Bytes>,
    /// The headers.
    pub headers: Vec<Header>,
    /// The creation time in ms since the epoch; `None` takes the time of `send`.
    pub timestamp_ms: Option<i64>,
}

impl ProducerRecord {
    /// A keyless record with `value`.
    pub fn new(topic: impl Into<String>, value: impl Into<Bytes>) -> Self {
        Self {
            topic: topic.into(),
            partition: None,
            key: None,
            value: Some(value.into()),
            headers: Vec::new(),
            timestamp_ms: None,
        }
    }

    /// Sets the key.
    pub fn with_key(mut self, key: impl Into<Bytes>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// Sets the partition.
    pub fn with_partition(mut self, partition: i32) -> Self {
        self.partition = Some(partition);
        self
    }

    /// Adds a header.
    pub fn with_header(mut self, header: Header) -> Self {
        self.headers.push(header);
        self
    }
}

/// Where a record was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordMetadata {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The record's offset, -1 with acks = 0.
    pub offset: i64,
    /// The record's timestamp (the log append time if the topic uses it).
    pub timestamp: i64,
}

/// The pending outcome of one `send`.
#[derive(Debug)]
pub struct DeliveryReceipt {
    partition: i32,
    receiver: oneshot::Receiver<Result<RecordMetadata, ClientError>>,
}

impl DeliveryReceipt {
    /// The partition the record was assigned to.
    pub fn partition(&self) -> i32 {
        self.partition
    }

    /// Waits until the record's batch is acknowledged (call `flush` to make sure it is sent).
    pub async fn wait(self) -> Result<RecordMetadata, ClientError> {
        self.receiver
            .await
            .unwrap_or(Err(ClientError::ProducerClosed))
    }

    /// The outcome if it is known already.
    pub fn try_result(&mut self) -> Option<Result<RecordMetadata, ClientError>> {
        match self.receiver.try_recv() {
            Ok(outcome) => Some(outcome),
            Err(oneshot::error::TryRecvError::Empty) => None,
            Err(oneshot::error::TryRecvError::Closed) => Some(Err(ClientError::ProducerClosed)),
        }
    }
}

/// A Kafka producer.
#[derive(Debug)]
pub struct Producer {
    cluster: Cluster,
    config: ProducerConfig,
    topics: HashMap<String, TopicInfo>,
    accumulator: Accumulator,
    sticky: StickyPartitioner,
    latencies: Vec<Duration>,
}

impl Producer {
    /// Connects to the first server of `bootstrap` that answers.
    pub async fn connect(bootstrap: &str, config: ProducerConfig) -> Result<Self, ClientError> {
        let cluster = Cluster::connect(bootstrap, config.connection.clone()).await?;
        let linger = Duration::from_millis(config.linger_ms);
        let seed = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        Ok(Self {
            cluster,
            accumulator: Accumulator::new(config.batch_bytes_max, linger),
            config,
            topics: HashMap::new(),
            sticky: StickyPartitioner::new(seed),
            latencies: Vec::new(),
        })
    }

    /// Queues `record`; sends batches that filled up or lingered on the way.
    pub async fn send(&mut self, record: ProducerRecord) -> Result<DeliveryReceipt, ClientError> {
        let pending = PendingRecord {
            key: record.key,
            value: record.value,
            headers: record.headers,
            timestamp_ms: record.timestamp_ms.unwrap_or_else(now_ms),
        };
        let size = pending.size_bound();
        if size > self.config.record_bytes_max {
            return Err(ClientError::RecordTooLarge {
                size,
                record_bytes_max: self.config.record_bytes_max,
            });
        }
        let partition = self
            .choose_partition(&record.topic, record.partition, pending.key.as_ref())
            .await?;
        let (sender, receiver) = oneshot::channel();
        let now = Instant::now();
        let mut ready = self
            .accumulator
            .append(&record.topic, partition, pending, sender, now);
        ready.extend(self.accumulator.drain_lingered(now));
        if self.accumulator.buffered_bytes() > self.config.buffered_bytes_max {
            ready.extend(self.accumulator.drain_all());
        }
        if !ready.is_empty() {
            // Failures reach the records' receipts; `send` itself only queued a record.
            let _ = self.ship(ready).await;
        }
        Ok(DeliveryReceipt {
            partition,
            receiver,
        })
    }

    /// Sends every buffered record and waits for the acknowledgements; fails with the first
    /// batch error (each record's receipt has its own outcome).
    pub async fn flush(&mut self) -> Result<(), ClientError> {
        let batches = self.accumulator.drain_all();
        match self.ship(batches).await {
            Some(err) => Err(err),
            None => Ok(()),
        }
    }

    /// The round-trip time of each Produce request since the last call (at most
    /// `LATENCY_SAMPLES_MAX` are kept).
    pub fn take_request_latencies(&mut self) -> Vec<Duration> {
        std::mem::take(&mut self.latencies)
    }

    /// The number of partitions of `topic`, from cached metadata.
    pub async fn partition_count(&mut self, topic: &str) -> Result<i32, ClientError> {
        Ok(self.topic(topic).await?.partition_count())
    }

    async fn choose_partition(
        &mut self,
        topic: &str,
        partition: Option<i32>,
        key: Option<&Bytes>,
    ) -> Result<i32, ClientError> {
        let partitions = self.partition_count(topic).await?;
        match (partition, key) {
            (Some(p), _) if (0..partitions).contains(&p) => Ok(p),
            (Some(p), _) => Err(ClientError::UnknownPartition {
                topic: topic.to_owned(),
                partition: p,
                partitions,
            }),
            (None, Some(key)) => Ok(partition_for_key(key, partitions)),
            (None, None) => Ok(self.sticky.partition(topic, partitions)),
        }
    }

    /// The cached metadata of `topic`, fetched (with retries) on first use.
    async fn topic(&mut self, topic: &str) -> Result<&TopicInfo, ClientError> {
        if !self.topics.contains_key(topic) {
            let mut attempt = 0;
            while let Err(err) = self.refresh(&[topic]).await {
                attempt += 1;
                if !err.is_retriable() || attempt > self.config.retries_max {
                    return Err(err);
                }
                tokio::time::sleep(Duration::from_millis(self.config.retry_backoff_ms)).await;
            }
        }
        self.topics
            .get(topic)
            .ok_or_else(|| ClientError::kafka(format!("topic {topic}"), 3, None))
    }

    /// Fetches metadata for `topics` (a missing one is created where the cluster
    /// auto-creates topics); fails if one is unknown or has no partitions yet.
    async fn refresh(&mut self, topics: &[&str]) -> Result<(), ClientError> {
        let metadata = self.cluster.metadata_creating(topics).await?;
        for name in topics {
            let info = metadata.topic(name)?;
            if info.partitions.is_empty() {
                // LEADER_NOT_AVAILABLE: a topic just created may not have partitions yet.
                return Err(ClientError::kafka(format!("topic {name}"), 5, None));
            }
            self.topics.insert((*name).to_owned(), info.clone());
        }
        Ok(())
    }

    /// Sends `batches`, retrying retriable failures; returns the first failure, if any.
    async fn ship(&mut self, batches: Vec<Batch>) -> Option<ClientError> {
        for batch in &batches {
            let partitions = self
                .topics
                .get(&batch.topic)
                .map_or(0, TopicInfo::partition_count);
            self.sticky
                .batch_sent(&batch.topic, batch.partition, partitions);
        }
        let mut pending = batches;
        let mut first_error = None;
        let mut attempt = 0;
        while !pending.is_empty() {
            let outcome = self.send_round(pending).await;
            first_error = first_error.or(outcome.first_error);
            if outcome.retry.is_empty() {
                break;
            }
            attempt += 1;
            if attempt > self.config.retries_max {
                for (batch, err) in outcome.retry {
                    first_error = first_error.or_else(|| Some(fail(batch, err)));
                }
                break;
            }
            tokio::time::sleep(Duration::from_millis(self.config.retry_backoff_ms)).await;
            let topics: Vec<String> = outcome.retry.iter().map(|(b, _)| b.topic.clone()).collect();
            let topics: Vec<&str> = topics.iter().map(String::as_str).collect();
            // A failed refresh leaves the old metadata; the next round reports the error.
            let _ = self.refresh(&topics).await;
            pending = outcome.retry.into_iter().map(|(batch, _)| batch).collect();
        }
        first_error
    }

    /// One attempt at every batch: grouped by leader, one request per group.
    async fn send_round(&mut self, batches: Vec<Batch>) -> Outcome {
        let mut outcome = Outcome::default();
        let mut by_leader: HashMap<i32, Vec<Batch>> = HashMap::new();
        for batch in batches {
            match self.leader(&batch.topic, batch.partition) {
                Ok(leader) => by_leader.entry(leader).or_default().push(batch),
                Err(err) => outcome.retry.push((batch, Arc::new(err))),
            }
        }
        for (leader, batches) in by_leader {
            let connection = match self.cluster.node(leader).await {
                Ok(connection) => connection,
                Err(err) => {
                    outcome.add_transport_failure(batches, err);
                    continue;
                }
            };
            let round = send_batches(connection, &self.config, batches).await;
            for latency in round.latencies.iter().copied() {
                if self.latencies.len() < LATENCY_SAMPLES_MAX {
                    self.latencies.push(latency);
                }
            }
            outcome.merge(round.outcome);
        }
        outcome
    }

    fn leader(&self, topic: &str, partition: i32) -> Result<i32, ClientError> {
        let no_leader = || ClientError::NoLeader {
            topic: topic.to_owned(),
            partition,
        };
        let info = self.topics.get(topic).ok_or_else(no_leader)?;
        match info.partition(partition) {
            Some(p) if p.leader >= 0 => Ok(p.leader),
            _ => Err(no_leader()),
        }
    }
}

/// Fails every record of `batch` with `source`; returns the error as the batch reports it.
pub(crate) fn fail(batch: Batch, source: Arc<ClientError>) -> ClientError {
    let delivery = |topic: &str, partition: i32| ClientError::Delivery {
        topic: topic.to_owned(),
        partition,
        source: Arc::clone(&source),
    };
    let reported = delivery(&batch.topic, batch.partition);
    let (topic, partition) = (batch.topic.clone(), batch.partition);
    batch.complete(|_, _| Err(delivery(&topic, partition)));
    reported
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acks_parse_and_print() {
        assert_eq!("all".parse::<Acks>(), Ok(Acks::All));
        assert_eq!("-1".parse::<Acks>(), Ok(Acks::All));
        assert_eq!("0".parse::<Acks>().map(Acks::code), Ok(0));
        assert!("2".parse::<Acks>().is_err());
        assert_eq!(Acks::Leader.to_string(), "1");
    }
}
