//! The consumer: reads assigned partitions from their leaders with Fetch.
//!
//! Partitions are assigned explicitly (no consumer group yet), each with a start offset
//! resolved through ListOffsets. A poll sends one Fetch per leader; only the first may wait
//! up to `max_wait`, so a consumer spread over many leaders is not slowed down by each.
//! Partition-level errors that metadata can fix (not leader, leader not available) make the
//! next poll refresh leaders; an offset out of range restarts the partition as
//! `offset_reset` says (by default to the nearest end of the log); connection errors are returned (they are retriable).

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::str::FromStr;
use std::time::{Duration, Instant};

use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::fetch_response::PartitionData;
use kafka_protocol::messages::{FetchRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use super::cluster::Cluster;
use super::connection::ConnectionConfig;
use super::error::{check_code, ClientError};
use super::list_offsets::{list_offsets, EARLIEST_TIMESTAMP, LATEST_TIMESTAMP};
use super::records::{decode_records, ConsumedRecord};

/// Where reading a partition starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartOffset {
    /// The log start offset: the oldest record kept.
    Earliest,
    /// The log end offset: only records written from now on.
    Latest,
    /// An explicit offset.
    Offset(i64),
}

impl fmt::Display for StartOffset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Earliest => f.write_str("earliest"),
            Self::Latest => f.write_str("latest"),
            Self::Offset(offset) => write!(f, "{offset}"),
        }
    }
}

impl FromStr for StartOffset {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "earliest" | "beginning" => Ok(Self::Earliest),
            "latest" | "end" => Ok(Self::Latest),
            other => match other.parse::<i64>() {
                Ok(offset) if offset >= 0 => Ok(Self::Offset(offset)),
                _ => Err(format!(
                    "invalid start offset `{other}`: expected earliest, latest or an offset >= 0"
                )),
            },
        }
    }
}

/// What to do when a partition's position is outside the log (deleted or not yet written).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OffsetReset {
    /// Move to the nearest end of the log: the log start offset if the position fell below
    /// it (retention deleted those records), the log end offset otherwise.
    #[default]
    Nearest,
    /// Restart from the log start offset.
    Earliest,
    /// Restart from the log end offset.
    Latest,
    /// Fail the poll with OFFSET_OUT_OF_RANGE.
    Fail,
}

/// Consumer settings.
#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    /// Connection settings.
    pub connection: ConnectionConfig,
    /// The bytes a fetch waits for before the node answers early.
    pub fetch_min_bytes: i32,
    /// The most bytes one Fetch answer may carry (one whole batch is always allowed).
    pub fetch_bytes_max: i32,
    /// The most bytes one partition may contribute to a Fetch answer.
    pub partition_fetch_bytes_max: i32,
    /// Read only committed records (READ_COMMITTED); off reads everything (READ_UNCOMMITTED).
    pub read_committed: bool,
    /// What to do when a position is out of range.
    pub offset_reset: OffsetReset,
}

impl Default for ConsumerConfig {
    fn default() -> Self {
        Self {
            connection: ConnectionConfig::default(),
            fetch_min_bytes: 1,
            fetch_bytes_max: 50 * 1024 * 1024,
            partition_fetch_bytes_max: 1024 * 1024,
            read_committed: false,
            offset_reset: OffsetReset::Nearest,
        }
    }
}

/// Where one assigned partition stands.
#[derive(Debug, Clone, Copy)]
struct PartitionState {
    position: i64,
    high_watermark: i64,
    leader: i32,
}

/// A Kafka consumer of explicitly assigned partitions.
#[derive(Debug)]
pub struct Consumer {
    cluster: Cluster,
    config: ConsumerConfig,
    assigned: BTreeMap<(String, i32), PartitionState>,
    leaders_stale: bool,
}

impl Consumer {
    /// Connects to the first server of `bootstrap` that answers.
    pub async fn connect(bootstrap: &str) -> Result<Self, ClientError> {
        Self::connect_with(bootstrap, ConsumerConfig::default()).await
    }

    /// Like [`Consumer::connect`], with explicit settings.
    pub async fn connect_with(
        bootstrap: &str,
        config: ConsumerConfig,
    ) -> Result<Self, ClientError> {
        let cluster = Cluster::connect(bootstrap, config.connection.clone()).await?;
        Ok(Self {
            cluster,
            config,
            assigned: BTreeMap::new(),
            leaders_stale: false,
        })
    }

    /// The partition indexes of `topic`.
    pub async fn partitions(&mut self, topic: &str) -> Result<Vec<i32>, ClientError> {
        let metadata = self.cluster.metadata(Some(&[topic])).await?;
        let info = metadata.topic(topic)?;
        Ok(info.partitions.iter().map(|p| p.partition).collect())
    }

    /// Adds `partitions` of `topic` to the assignment, each starting at `start`.
    pub async fn assign(
        &mut self,
        topic: &str,
        partitions: &[i32],
        start: StartOffset,
    ) -> Result<(), ClientError> {
        let metadata = self.cluster.metadata(Some(&[topic])).await?;
        let info = metadata.topic(topic)?;
        let mut leaders = Vec::with_capacity(partitions.len());
        for &partition in partitions {
            let leader = info
                .partition(partition)
                .ok_or_else(|| ClientError::UnknownPartition {
                    topic: topic.to_owned(),
                    partition,
                    partitions: info.partition_count(),
                })?
                .leader;
            leaders.push((partition, leader));
        }
        for (partition, leader) in leaders {
            let state = PartitionState {
                position: 0,
                high_watermark: -1,
                leader,
            };
            self.assigned.insert((topic.to_owned(), partition), state);
        }
        let timestamp = match start {
            StartOffset::Offset(offset) => {
                for &partition in partitions {
                    self.set_position(topic, partition, offset);
                }
                return Ok(());
            }
            StartOffset::Earliest => EARLIEST_TIMESTAMP,
            StartOffset::Latest => LATEST_TIMESTAMP,
        };
        let targets: Vec<(String, i32)> =
            partitions.iter().map(|&p| (topic.to_owned(), p)).collect();
        self.seek_to(&targets, timestamp).await
    }

    /// The offset the next poll reads from in `partition` of `topic`, if assigned.
    pub fn position(&self, topic: &str, partition: i32) -> Option<i64> {
        self.assigned
            .get(&(topic.to_owned(), partition))
            .map(|s| s.position)
    }

    /// The high watermark seen in the last fetch of `partition` (-1 before the first).
    pub fn high_watermark(&self, topic: &str, partition: i32) -> Option<i64> {
        self.assigned
            .get(&(topic.to_owned(), partition))
            .map(|s| s.high_watermark)
    }

    /// Fetches from every assigned partition, waiting up to `max_wait` for records.
    pub async fn poll(&mut self, max_wait: Duration) -> Result<Vec<ConsumedRecord>, ClientError> {
        if self.assigned.is_empty() {
            tokio::time::sleep(max_wait).await;
            return Ok(Vec::new());
        }
        if self.leaders_stale {
            self.refresh_leaders().await?;
        }
        let deadline = Instant::now() + max_wait;
        let mut records = Vec::new();
        for (leader, partitions) in self.by_leader() {
            let wait = if records.is_empty() {
                deadline.saturating_duration_since(Instant::now())
            } else {
                Duration::ZERO
            };
            records.extend(self.fetch_from(leader, &partitions, wait).await?);
        }
        Ok(records)
    }

    /// Assigned partitions grouped by leader; leaderless ones wait for a metadata refresh.
    fn by_leader(&mut self) -> BTreeMap<i32, Vec<(String, i32)>> {
        let mut groups: BTreeMap<i32, Vec<(String, i32)>> = BTreeMap::new();
        for ((topic, partition), state) in &self.assigned {
            if state.leader < 0 {
                self.leaders_stale = true;
                continue;
            }
            groups
                .entry(state.leader)
                .or_default()
                .push((topic.clone(), *partition));
        }
        groups
    }

    async fn fetch_from(
        &mut self,
        leader: i32,
        partitions: &[(String, i32)],
        wait: Duration,
    ) -> Result<Vec<ConsumedRecord>, ClientError> {
        let request = self.fetch_request(partitions, wait);
        let connection = self.cluster.node(leader).await?;
        let (response, _) = connection.send_with_timeout(&request, wait).await?;
        check_code(
            response.error_code,
            || format!("fetch from node {leader}"),
            None,
        )?;
        let mut records = Vec::new();
        let mut out_of_range = Vec::new();
        for topic in response.responses {
            let name = topic.topic.0.to_string();
            for partition in topic.partitions {
                let index = partition.partition_index;
                match self.read_partition(&name, partition)? {
                    PartitionRead::Records(read) => records.extend(read),
                    PartitionRead::OutOfRange => out_of_range.push((name.clone(), index)),
                    PartitionRead::Stale => self.leaders_stale = true,
                }
            }
        }
        self.reset(&out_of_range).await?;
        Ok(records)
    }

    fn fetch_request(&self, partitions: &[(String, i32)], wait: Duration) -> FetchRequest {
        let mut topics: BTreeMap<&str, Vec<FetchPartition>> = BTreeMap::new();
        for (topic, partition) in partitions {
            let position = self.position(topic, *partition).unwrap_or(0);
            let fetch = FetchPartition::default()
                .with_partition(*partition)
                .with_fetch_offset(position)
                .with_partition_max_bytes(self.config.partition_fetch_bytes_max);
            topics.entry(topic.as_str()).or_default().push(fetch);
        }
        let topics = topics
            .into_iter()
            .map(|(name, partitions)| {
                FetchTopic::default()
                    .with_topic(TopicName(StrBytes::from_string(name.to_owned())))
                    .with_partitions(partitions)
            })
            .collect();
        FetchRequest::default()
            .with_max_wait_ms(i32::try_from(wait.as_millis()).unwrap_or(i32::MAX))
            .with_min_bytes(self.config.fetch_min_bytes)
            .with_max_bytes(self.config.fetch_bytes_max)
            .with_isolation_level(i8::from(self.config.read_committed))
            .with_topics(topics)
    }

    /// Reads one partition's answer, advancing its position.
    fn read_partition(
        &mut self,
        topic: &str,
        data: PartitionData,
    ) -> Result<PartitionRead, ClientError> {
        let partition = data.partition_index;
        let Some(state) = self.assigned.get_mut(&(topic.to_owned(), partition)) else {
            return Ok(PartitionRead::Records(Vec::new()));
        };
        match ResponseError::try_from_code(data.error_code) {
            None => {}
            Some(ResponseError::OffsetOutOfRange) => return Ok(PartitionRead::OutOfRange),
            Some(err) if err.is_retriable() => return Ok(PartitionRead::Stale),
            Some(_) => {
                let context = format!("fetch {topic}/{partition} at offset {}", state.position);
                return Err(ClientError::kafka(context, data.error_code, None));
            }
        }
        state.high_watermark = data.high_watermark;
        let Some(bytes) = data.records else {
            return Ok(PartitionRead::Records(Vec::new()));
        };
        let decoded =
            decode_records(topic, partition, bytes, state.position).map_err(|reason| {
                ClientError::RecordBatch {
                    topic: topic.to_owned(),
                    partition,
                    reason,
                }
            })?;
        if let Some(next) = decoded.next_offset {
            state.position = state.position.max(next);
        } else if let Some(size) = decoded.truncated_batch_bytes {
            let max = self.config.partition_fetch_bytes_max;
            let reason = format!(
                "the batch at offset {} is {size} bytes, more than partition_fetch_bytes_max ({max}) and the node sent only part of it",
                state.position
            );
            return Err(ClientError::RecordBatch {
                topic: topic.to_owned(),
                partition,
                reason,
            });
        }
        Ok(PartitionRead::Records(decoded.records))
    }

    /// Moves partitions whose position fell out of the log as `offset_reset` says.
    async fn reset(&mut self, partitions: &[(String, i32)]) -> Result<(), ClientError> {
        let Some((topic, partition)) = partitions.first() else {
            return Ok(());
        };
        let timestamp = match self.config.offset_reset {
            OffsetReset::Nearest => return self.seek_nearest(partitions).await,
            OffsetReset::Earliest => EARLIEST_TIMESTAMP,
            OffsetReset::Latest => LATEST_TIMESTAMP,
            OffsetReset::Fail => {
                let position = self.position(topic, *partition).unwrap_or(-1);
                let context = format!("fetch {topic}/{partition} at offset {position}");
                return Err(ClientError::kafka(context, 1, None));
            }
        };
        self.seek_to(partitions, timestamp).await
    }

    /// Clamps the position of `partitions` into their logs.
    async fn seek_nearest(&mut self, partitions: &[(String, i32)]) -> Result<(), ClientError> {
        let starts = self.offsets_at(partitions, EARLIEST_TIMESTAMP).await?;
        let below_start: Vec<(String, i32)> = starts
            .iter()
            .filter(|((topic, partition), start)| {
                self.position(topic, *partition)
                    .is_some_and(|position| position < *start)
            })
            .map(|(key, _)| key.clone())
            .collect();
        let above_end: Vec<(String, i32)> = partitions
            .iter()
            .filter(|key| !below_start.contains(key))
            .cloned()
            .collect();
        for (key, start) in starts {
            if below_start.contains(&key) {
                self.set_position(&key.0, key.1, start);
            }
        }
        self.seek_to(&above_end, LATEST_TIMESTAMP).await
    }

    /// Sets the position of `partitions` to the offset ListOffsets gives for `timestamp`.
    async fn seek_to(
        &mut self,
        partitions: &[(String, i32)],
        timestamp: i64,
    ) -> Result<(), ClientError> {
        for ((topic, partition), offset) in self.offsets_at(partitions, timestamp).await? {
            self.set_position(&topic, partition, offset);
        }
        Ok(())
    }

    /// The offset of `timestamp` in each of `partitions`, asked of their leaders.
    async fn offsets_at(
        &mut self,
        partitions: &[(String, i32)],
        timestamp: i64,
    ) -> Result<Vec<((String, i32), i64)>, ClientError> {
        let mut by_leader: HashMap<i32, Vec<(String, i32)>> = HashMap::new();
        for (topic, partition) in partitions {
            if let Some(state) = self.assigned.get(&(topic.clone(), *partition)) {
                by_leader
                    .entry(state.leader)
                    .or_default()
                    .push((topic.clone(), *partition));
            }
        }
        let mut offsets = Vec::with_capacity(partitions.len());
        for (leader, targets) in by_leader {
            if leader < 0 {
                let (topic, partition) = targets[0].clone();
                return Err(ClientError::NoLeader { topic, partition });
            }
            let connection = self.cluster.node(leader).await?;
            let read_committed = self.config.read_committed;
            offsets.extend(list_offsets(connection, &targets, timestamp, read_committed).await?);
        }
        Ok(offsets)
    }

    fn set_position(&mut self, topic: &str, partition: i32, offset: i64) {
        if let Some(state) = self.assigned.get_mut(&(topic.to_owned(), partition)) {
            state.position = offset;
        }
    }

    async fn refresh_leaders(&mut self) -> Result<(), ClientError> {
        let topics: Vec<String> = self.assigned.keys().map(|(t, _)| t.clone()).collect();
        let mut names: Vec<&str> = topics.iter().map(String::as_str).collect();
        names.dedup();
        let metadata = self.cluster.metadata(Some(&names)).await?;
        for ((topic, partition), state) in &mut self.assigned {
            let leader = metadata
                .topic(topic)
                .ok()
                .and_then(|info| info.partition(*partition))
                .map_or(-1, |p| p.leader);
            state.leader = leader;
        }
        self.leaders_stale = false;
        Ok(())
    }
}

/// What one partition of a Fetch answer means for the consumer.
enum PartitionRead {
    Records(Vec<ConsumedRecord>),
    OutOfRange,
    Stale,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_offsets_parse() {
        assert_eq!("earliest".parse(), Ok(StartOffset::Earliest));
        assert_eq!("Latest".parse(), Ok(StartOffset::Latest));
        assert_eq!("42".parse(), Ok(StartOffset::Offset(42)));
        assert!("-3".parse::<StartOffset>().is_err());
        assert!("soon".parse::<StartOffset>().is_err());
        assert_eq!(StartOffset::Offset(7).to_string(), "7");
    }
}
