//! The work of a source task: poll the source, convert, produce, commit source offsets.
//!
//! Each batch is produced with acks=all and the runner waits until the cluster
//! acknowledged every record of it; only then are the batch's source offsets due for the
//! `connect-offsets` topic (or a standalone worker's offsets file), written every `offset.flush.interval.ms` (0: after every
//! batch), at a pause and at a stop. So after a failure — of the task, the process or the
//! node — the next incarnation re-reads at most the batches acknowledged since the last
//! offset commit plus the one in flight: duplicates bounded by the commit interval, no
//! record skipped. Each record first goes through the connector's transforms (a record
//! without a timestamp gets the current time first, so a TimestampRouter can route it; a
//! topic a transform routes to is created like the connector's own). A record a transform
//! refuses, or that the value or key converter cannot serialize, fails the task (sources
//! have no dead-letter topic); a record a `Filter` drops is not written, and its source
//! offset is committed with the batch's.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use eddy_client::{Acks, Producer, ProducerConfig, ProducerRecord};

use super::config::{ClassConfig, ConnectorConfig};
use super::error::ConnectError;
use super::offsets::SourceOffsets;
use super::plugins::source_task;
use super::source::{SourceOffset, SourcePartition, SourceRecord};
use super::task::{Control, Reporter, RunContext, TaskEventKind};
use super::topics::ensure_topic;

/// The most topics a source task remembers as existing; past it the memory is cleared
/// (a topic is then looked up once more), so a router minting many names stays bounded.
const KNOWN_TOPICS_MAX: usize = 1_000;

/// Runs a source task until it is stopped or fails.
pub(crate) async fn run(mut context: RunContext) -> Result<(), ConnectError> {
    let config = context.config.clone();
    let Some((mut source, topic)) = source_task(&config, context.task) else {
        return Err(ConnectError::Unreadable {
            source_name: config.name.clone(),
            reason: format!("{} is not a source", config.class.class_name()),
        });
    };
    let bootstrap = context.bootstrap.clone();
    ensure_topic(
        &bootstrap,
        &topic,
        config.topic_partitions,
        config.topic_replication_factor,
        &[],
    )
    .await?;
    let (store, stored) = SourceOffsets::open(&context.offsets, &bootstrap, &config.name).await?;
    source.start(&stored).await?;
    let producer_config = ProducerConfig {
        acks: Acks::All,
        ..ProducerConfig::default()
    };
    let producer = Producer::connect(&bootstrap, producer_config)
        .await
        .map_err(|err| ConnectError::client(format!("connect to write topic {topic}"), err))?;
    let mut progress = Progress {
        config: &config,
        producer,
        store,
        pending: BTreeMap::new(),
        last_commit: Instant::now(),
        bootstrap: bootstrap.clone(),
        known_topics: HashSet::from([topic]),
        reporter: context.reporter.clone(),
        active_topics: HashSet::new(),
    };
    context.reporter.send(TaskEventKind::Running);
    loop {
        match context.control() {
            Control::Stop => break,
            Control::Pause => {
                progress.commit().await?;
                if context.pause().await == Control::Stop {
                    break;
                }
                continue;
            }
            Control::Run => {}
        }
        let batch = source.poll().await?;
        progress.produce(batch.records).await?;
        for (partition, offset) in batch.offsets {
            progress
                .pending
                .insert(partition_key(&partition), (partition, offset));
        }
        if progress.commit_due() {
            progress.commit().await?;
        }
        if batch.finished {
            progress.commit().await?;
            tracing::info!(connector = %config.name, task = context.task, "source has nothing more to read");
            context.idle_until_stopped().await;
            break;
        }
    }
    progress.commit().await
}

/// What a source task has written and not yet committed.
struct Progress<'a> {
    config: &'a ConnectorConfig,
    producer: Producer,
    store: SourceOffsets,
    /// The latest offset of each source partition, keyed by its canonical text.
    pending: BTreeMap<String, (SourcePartition, SourceOffset)>,
    last_commit: Instant,
    bootstrap: String,
    /// Topics known to exist: the connector's, and those its transforms routed to.
    known_topics: HashSet<String>,
    /// Tells the supervisor of the topics written to (KIP-558).
    reporter: Reporter,
    /// The topics written to and reported (a bounded set: those known to exist).
    active_topics: HashSet<String>,
}

impl Progress<'_> {
    /// Converts and produces `records`, waiting until all are acknowledged.
    async fn produce(&mut self, records: Vec<SourceRecord>) -> Result<(), ConnectError> {
        if records.is_empty() {
            return Ok(());
        }
        let context =
            |topic: &str| format!("connector {}: write to topic {topic}", self.config.name);
        let mut receipts = Vec::with_capacity(records.len());
        for record in records {
            let Some(record) = self.transform(record)? else {
                continue;
            };
            self.create_if_new(&record.topic).await?;
            let produced = self.convert(record)?;
            let topic = produced.topic.clone();
            let receipt = self
                .producer
                .send(produced)
                .await
                .map_err(|err| ConnectError::client(context(&topic), err))?;
            receipts.push((topic, receipt));
        }
        self.producer
            .flush()
            .await
            .map_err(|err| ConnectError::client(context(&self.topic_names()), err))?;
        let receipts_count = receipts.len() as u64;
        for (topic, receipt) in receipts {
            receipt
                .wait()
                .await
                .map_err(|err| ConnectError::client(context(&topic), err))?;
            if self.active_topics.len() < KNOWN_TOPICS_MAX && !self.active_topics.contains(&topic) {
                self.active_topics.insert(topic.clone());
                self.reporter.send(TaskEventKind::Topic(topic));
            }
        }
        metrics::counter!("eddy_connect_source_records_total", "connector" => self.config.name.clone())
            .increment(receipts_count);
        Ok(())
    }

    /// Runs the connector's transforms; `None` when one dropped the record.
    fn transform(&self, mut record: SourceRecord) -> Result<Option<SourceRecord>, ConnectError> {
        let transforms = &self.config.transforms;
        if transforms.is_empty() {
            return Ok(Some(record));
        }
        record.timestamp_ms.get_or_insert_with(now_ms);
        let topic = record.topic.clone();
        transforms
            .apply(record)
            .map_err(|source| ConnectError::Transform {
                connector: self.config.name.clone(),
                topic,
                source,
            })
    }

    /// Creates `topic` (with the connector's `topic.creation.*` settings) unless it is
    /// known to exist.
    async fn create_if_new(&mut self, topic: &str) -> Result<(), ConnectError> {
        if self.known_topics.contains(topic) {
            return Ok(());
        }
        let config = self.config;
        ensure_topic(
            &self.bootstrap,
            topic,
            config.topic_partitions,
            config.topic_replication_factor,
            &[],
        )
        .await?;
        if self.known_topics.len() >= KNOWN_TOPICS_MAX {
            self.known_topics.clear();
        }
        self.known_topics.insert(topic.to_owned());
        Ok(())
    }

    fn convert(&self, record: SourceRecord) -> Result<ProducerRecord, ConnectError> {
        let failed = |reason: String| ConnectError::Conversion {
            connector: self.config.name.clone(),
            topic: record.topic.clone(),
            reason,
        };
        let key = self
            .config
            .key_converter
            .from_data(&record.key)
            .map_err(|r| failed(format!("key: {r}")))?;
        let value = self
            .config
            .value_converter
            .from_data(&record.value)
            .map_err(|r| failed(format!("value: {r}")))?;
        Ok(ProducerRecord {
            topic: record.topic,
            partition: None,
            key,
            value,
            headers: record.headers,
            timestamp_ms: record.timestamp_ms,
        })
    }

    /// The topic this source writes, for error messages.
    fn topic_names(&self) -> String {
        match &self.config.class_config {
            ClassConfig::FileSource { topic, .. } | ClassConfig::Generator { topic, .. } => {
                topic.clone()
            }
            ClassConfig::FileSink { topics, .. } => topics.join(","),
            ClassConfig::PostgresSink(postgres) => postgres.topics.join(","),
        }
    }

    fn commit_due(&self) -> bool {
        let interval = Duration::from_millis(self.config.offset_flush_interval_ms);
        !self.pending.is_empty() && self.last_commit.elapsed() >= interval
    }

    /// Writes the pending offsets (their records are acknowledged already).
    async fn commit(&mut self) -> Result<(), ConnectError> {
        if !self.pending.is_empty() {
            let offsets: Vec<(SourcePartition, SourceOffset)> =
                std::mem::take(&mut self.pending).into_values().collect();
            self.store.write(&offsets).await?;
        }
        self.last_commit = Instant::now();
        Ok(())
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
        })
}

fn partition_key(partition: &SourcePartition) -> String {
    Value::Object(partition.clone()).to_string()
}
