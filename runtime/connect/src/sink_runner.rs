//! The work of a sink task: consume, convert, check, put, commit.
//!
//! The task assigns itself its share of the partitions of its topics (partition k of the
//! sorted list goes to task k mod tasks) and starts each at the offset committed for group
//! `connect-<name>`, or at the log start when there is none. Topics that do not exist yet
//! are waited for, as Kafka's consumer does. Records are handled in batches of at most
//! `batch.size`. Every `offset.flush.interval.ms` (0: after every batch), at a pause and
//! at a stop, the sink is flushed, the dead-letter topic acknowledged, and then the next
//! offsets are committed: what is committed is durable outside, and a failure re-delivers
//! at most what was handled since the last commit.
//!
//! Between conversion and the sink's `check`, the connector's transforms run (a `Filter`
//! drops a record: its offset is committed like the others'). A bad record — its key or
//! value not convertible, or refused by a transform or the sink's `check` — goes to the
//! dead-letter topic when `errors.tolerance=all`. Otherwise the records before
//! it are put and committed, and the task fails naming the record: a restart would meet
//! it again, so the task is FAILED at once, until someone fixes the data or the
//! configuration and restarts it.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use eddy_client::{
    ClientError, ConsumedRecord, Consumer, GroupOffsets, ResponseError, StartOffset,
};

use super::config::{ConnectorConfig, Tolerance};
use super::dead_letter::{DeadLetterQueue, Stage};
use super::error::ConnectError;
use super::plugins::sink_task;
use super::sink::{Sink, SinkRecord};
use super::task::{Control, RunContext, TaskEventKind};

/// How long one poll waits for records.
const POLL_WAIT_MS: u64 = 200;
/// The pause between two looks for topics that do not exist yet.
const TOPIC_WAIT_MS: u64 = 1_000;

/// Runs a sink task until it is stopped or fails.
pub(crate) async fn run(mut context: RunContext) -> Result<(), ConnectError> {
    let config = context.config.clone();
    let Some((mut sink, topics)) = sink_task(&config) else {
        return Err(ConnectError::Unreadable {
            source_name: config.name.clone(),
            reason: format!("{} is not a sink", config.class.class_name()),
        });
    };
    let bootstrap = context.bootstrap.clone();
    sink.start().await?;
    let client = |what: &str| {
        let context = format!("connector {}: {what}", config.name);
        move |err| ConnectError::client(context, err)
    };
    let mut consumer = Consumer::connect(&bootstrap)
        .await
        .map_err(client("connect to read its topics"))?;
    let Some(partitions) = wait_for_partitions(&mut context, &mut consumer, &topics).await? else {
        return Ok(());
    };
    let offsets = assign_from_committed(&context, &mut consumer, partitions).await?;
    let dead_letters =
        DeadLetterQueue::open(&bootstrap, &config.name, context.task, &config.errors).await?;
    let mut runner = SinkRunner {
        config: &config,
        sink,
        offsets,
        dead_letters,
        uncommitted: BTreeMap::new(),
        last_commit: Instant::now(),
    };
    context.reporter.send(TaskEventKind::Running);
    // The topics read so far, reported once each (KIP-558); bounded by `topics`.
    let mut active_topics = HashSet::new();
    loop {
        match context.control() {
            Control::Stop => break,
            Control::Pause => {
                runner.commit().await?;
                if context.pause().await == Control::Stop {
                    break;
                }
                continue;
            }
            Control::Run => {}
        }
        let records = consumer
            .poll(Duration::from_millis(POLL_WAIT_MS))
            .await
            .map_err(client("read its topics"))?;
        for record in &records {
            if !active_topics.contains(&record.topic) {
                active_topics.insert(record.topic.clone());
                context
                    .reporter
                    .send(TaskEventKind::Topic(record.topic.clone()));
            }
        }
        for batch in records.chunks(config.batch_size) {
            runner.handle(batch).await?;
            if runner.commit_due() {
                runner.commit().await?;
            }
        }
        if runner.commit_due() {
            runner.commit().await?;
        }
    }
    runner.commit().await
}

/// Assigns this task's share of `partitions` to `consumer`, each at the offset committed for
/// the connector's group (the log start without one); returns the group's offsets client.
async fn assign_from_committed(
    context: &RunContext,
    consumer: &mut Consumer,
    partitions: Vec<(String, i32)>,
) -> Result<GroupOffsets, ConnectError> {
    let config = &context.config;
    let group = config.group_id();
    let client = |what: String| {
        let context = format!("connector {}: {what}", config.name);
        move |err| ConnectError::client(context, err)
    };
    let mut offsets = GroupOffsets::connect(&context.bootstrap, &group)
        .await
        .map_err(client(format!(
            "connect to the coordinator of group {group}"
        )))?;
    let committed = offsets.fetch_offsets().await.map_err(client(format!(
        "read the committed offsets of group {group}"
    )))?;
    let tasks = config.task_count() as usize;
    for (index, (topic, partition)) in partitions.into_iter().enumerate() {
        if index % tasks != context.task as usize {
            continue;
        }
        let start = committed
            .get(&(topic.clone(), partition))
            .map_or(StartOffset::Earliest, |o| StartOffset::Offset(*o));
        consumer
            .assign(&topic, &[partition], start)
            .await
            .map_err(client(format!("assign {topic}/{partition}")))?;
    }
    Ok(offsets)
}

/// Every partition of `topics`, sorted; waits while a topic does not exist. `None` when
/// the task was stopped while waiting.
async fn wait_for_partitions(
    context: &mut RunContext,
    consumer: &mut Consumer,
    topics: &[String],
) -> Result<Option<Vec<(String, i32)>>, ConnectError> {
    let mut reported = false;
    loop {
        let mut partitions = Vec::new();
        let mut missing = None;
        for topic in topics {
            match consumer.partitions(topic).await {
                Ok(found) if !found.is_empty() => {
                    partitions.extend(found.into_iter().map(|p| (topic.clone(), p)));
                }
                Ok(_) => missing = Some(topic.clone()),
                Err(err) if unknown_topic(&err) => missing = Some(topic.clone()),
                Err(err) => {
                    let context =
                        format!("connector {}: describe topic {topic}", context.config.name);
                    return Err(ConnectError::client(context, err));
                }
            }
        }
        let Some(missing) = missing else {
            partitions.sort();
            return Ok(Some(partitions));
        };
        if !reported {
            tracing::info!(connector = %context.config.name, topic = %missing, "waiting for the topic to be created");
            reported = true;
        }
        if !context
            .sleep_unless_stopped(Duration::from_millis(TOPIC_WAIT_MS))
            .await
        {
            return Ok(None);
        }
    }
}

fn unknown_topic(err: &ClientError) -> bool {
    matches!(
        err.kafka_error(),
        Some(ResponseError::UnknownTopicOrPartition | ResponseError::LeaderNotAvailable)
    )
}

/// A sink task's state between two commits.
struct SinkRunner<'a> {
    config: &'a ConnectorConfig,
    sink: Box<dyn Sink>,
    offsets: GroupOffsets,
    dead_letters: Option<DeadLetterQueue>,
    /// The next offset to read of each partition handled since the last commit.
    uncommitted: BTreeMap<(String, i32), i64>,
    last_commit: Instant,
}

impl SinkRunner<'_> {
    /// Converts and checks `batch`, routes bad records, and puts the good ones.
    async fn handle(&mut self, batch: &[ConsumedRecord]) -> Result<(), ConnectError> {
        let before = self.uncommitted.clone();
        let mut good = Vec::with_capacity(batch.len());
        let mut origins = Vec::with_capacity(batch.len());
        for (index, record) in batch.iter().enumerate() {
            match self.convert(record) {
                Ok(Some(converted)) => {
                    good.push(converted);
                    origins.push(index);
                }
                Ok(None) => {}
                Err((stage, reason)) => self.bad_record(record, &good, stage, reason).await?,
            }
            self.uncommitted
                .insert((record.topic.clone(), record.partition), record.offset + 1);
        }
        self.put(batch, &good, &origins, &before).await?;
        metrics::counter!("eddy_connect_sink_records_total", "connector" => self.config.name.clone())
            .increment(good.len() as u64);
        Ok(())
    }

    /// Puts `good`, the records of `batch` at `origins`. A record the sink refuses while
    /// writing ([`ConnectError::Refused`]) is a bad record: it goes to the dead-letter topic
    /// and the records after it are put again; without tolerance the progress commits only
    /// the records of `batch` before it (on top of `before`, the progress before `batch`),
    /// and the task fails naming it.
    async fn put(
        &mut self,
        batch: &[ConsumedRecord],
        good: &[SinkRecord],
        origins: &[usize],
        before: &BTreeMap<(String, i32), i64>,
    ) -> Result<(), ConnectError> {
        let mut from = 0;
        loop {
            match self.sink.put(&good[from..]).await {
                Err(ConnectError::Refused { index, reason }) if from + index < good.len() => {
                    let at = origins[from + index];
                    let tolerated = self.config.errors.tolerance == Tolerance::All
                        && self.dead_letters.is_some();
                    if !tolerated {
                        self.uncommitted.clone_from(before);
                        for record in &batch[..at] {
                            self.uncommitted.insert(
                                (record.topic.clone(), record.partition),
                                record.offset + 1,
                            );
                        }
                    }
                    self.bad_record(&batch[at], &[], Stage::TaskPut, reason)
                        .await?;
                    from += index + 1;
                }
                written => return written,
            }
        }
    }

    /// Sends a bad record to the dead-letter topic, or — without tolerance — puts and
    /// commits the records before it and fails naming it.
    async fn bad_record(
        &mut self,
        record: &ConsumedRecord,
        good: &[SinkRecord],
        stage: Stage,
        reason: String,
    ) -> Result<(), ConnectError> {
        if self.config.errors.tolerance == Tolerance::All {
            if let Some(dead_letters) = self.dead_letters.as_mut() {
                return dead_letters.send(record, stage, &reason).await;
            }
        }
        self.sink.put(good).await?;
        self.commit().await?;
        Err(ConnectError::BadRecord {
            connector: self.config.name.clone(),
            topic: record.topic.clone(),
            partition: record.partition,
            offset: record.offset,
            reason,
        })
    }

    /// Converts and transforms `record` and has the sink check it; `None` when a transform
    /// dropped it.
    fn convert(&self, record: &ConsumedRecord) -> Result<Option<SinkRecord>, (Stage, String)> {
        let key = self
            .config
            .key_converter
            .to_data(record.key.as_ref())
            .map_err(|reason| (Stage::KeyConverter, format!("key: {reason}")))?;
        let value = self
            .config
            .value_converter
            .to_data(record.value.as_ref())
            .map_err(|reason| (Stage::ValueConverter, format!("value: {reason}")))?;
        let converted = SinkRecord {
            topic: record.topic.clone(),
            partition: record.partition,
            offset: record.offset,
            timestamp_ms: record.timestamp,
            key,
            value,
            headers: record.headers.clone(),
        };
        let Some(transformed) = self
            .config
            .transforms
            .apply(converted)
            .map_err(|err| (Stage::Transformation, err.to_string()))?
        else {
            return Ok(None);
        };
        self.sink
            .check(&transformed)
            .map_err(|reason| (Stage::TaskPut, reason))?;
        Ok(Some(transformed))
    }

    fn commit_due(&self) -> bool {
        let interval = Duration::from_millis(self.config.offset_flush_interval_ms);
        !self.uncommitted.is_empty() && self.last_commit.elapsed() >= interval
    }

    /// Makes the sink and the dead-letter topic durable, then commits the offsets.
    async fn commit(&mut self) -> Result<(), ConnectError> {
        if !self.uncommitted.is_empty() {
            self.sink.flush().await?;
            if let Some(dead_letters) = self.dead_letters.as_mut() {
                dead_letters.flush().await?;
            }
            let group = self.offsets.group_id().to_owned();
            self.offsets
                .commit_offsets(&self.uncommitted)
                .await
                .map_err(|err| {
                    ConnectError::client(format!("commit the offsets of group {group}"), err)
                })?;
            self.uncommitted.clear();
        }
        self.last_commit = Instant::now();
        Ok(())
    }
}
