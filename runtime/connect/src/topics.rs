//! Creating the topics connectors need when they do not exist yet: a source's topic, the
//! dead-letter topic, the compacted `connect-offsets` and `connect-configs` topics. Kafka
//! Connect does the same (`topic.creation.*`, `errors.deadletterqueue.*`, the worker's
//! internal topics). `read_to_end` reads an internal topic back, as a worker does at
//! start.

use std::time::{Duration, Instant};

use eddy_client::{Admin, ClientError, ConsumedRecord, Consumer, ResponseError, StartOffset};

use super::error::ConnectError;

/// How long one poll of an internal topic waits.
const READ_POLL_MS: u64 = 200;

/// Creates `topic` unless it exists; another creator winning the race is fine.
/// `partitions` and `replication_factor` of -1 take the broker's defaults.
pub(crate) async fn ensure_topic(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    replication_factor: i16,
    configs: &[(String, String)],
) -> Result<(), ConnectError> {
    let context = || format!("create topic {topic}");
    let mut admin = Admin::connect(bootstrap)
        .await
        .map_err(|err| ConnectError::client(context(), err))?;
    if exists(&mut admin, topic).await? {
        return Ok(());
    }
    match admin
        .create_topic(topic, partitions, replication_factor, configs)
        .await
    {
        Ok(()) => {
            tracing::info!(topic, partitions, "created topic for Connect");
            Ok(())
        }
        Err(err) if already_exists(&err) => Ok(()),
        Err(err) => Err(ConnectError::client(context(), err)),
    }
}

/// Whether `topic` exists.
pub(crate) async fn topic_exists(bootstrap: &str, topic: &str) -> Result<bool, ConnectError> {
    let mut admin = Admin::connect(bootstrap)
        .await
        .map_err(|err| ConnectError::client(format!("look for topic {topic}"), err))?;
    exists(&mut admin, topic).await
}

async fn exists(admin: &mut Admin, topic: &str) -> Result<bool, ConnectError> {
    let topics = admin
        .list_topics()
        .await
        .map_err(|err| ConnectError::client(format!("look for topic {topic}"), err))?;
    Ok(topics.iter().any(|t| t.name == topic))
}

fn already_exists(err: &ClientError) -> bool {
    err.kafka_error() == Some(ResponseError::TopicAlreadyExists)
}

/// Reads every partition of `topic` from the start up to the log end offsets it had when
/// reading began, handing each record to `apply` in order. A partition without a leader
/// fails the read (retriable) rather than be taken as empty; taking longer than
/// `timeout_ms` fails it with `timed_out`'s error.
pub(crate) async fn read_to_end(
    bootstrap: &str,
    topic: &str,
    timeout_ms: u64,
    mut apply: impl FnMut(&ConsumedRecord),
    timed_out: impl FnOnce(String) -> ConnectError,
) -> Result<(), ConnectError> {
    let context = || format!("read {topic} to its end");
    let client = |err| ConnectError::client(context(), err);
    let mut consumer = Consumer::connect(bootstrap).await.map_err(client)?;
    let partitions = consumer.partitions(topic).await.map_err(client)?;
    let targets: Vec<(String, i32)> = partitions.iter().map(|p| (topic.to_owned(), *p)).collect();
    let ends = Admin::connect(bootstrap)
        .await
        .map_err(client)?
        .log_end_offsets(&targets)
        .await
        .map_err(client)?;
    if let Some((_, partition)) = targets.iter().find(|t| !ends.contains_key(*t)) {
        let err = ClientError::NoLeader {
            topic: topic.to_owned(),
            partition: *partition,
        };
        return Err(client(err));
    }
    consumer
        .assign(topic, &partitions, StartOffset::Earliest)
        .await
        .map_err(client)?;
    let deadline = Instant::now() + Duration::from_millis(timeout_ms);
    loop {
        let behind = ends
            .iter()
            .any(|((topic, p), end)| consumer.position(topic, *p).is_some_and(|pos| pos < *end));
        if !behind {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(timed_out(format!(
                "{topic} could not be read to its end within {timeout_ms} ms"
            )));
        }
        let records = consumer
            .poll(Duration::from_millis(READ_POLL_MS))
            .await
            .map_err(client)?;
        records.iter().for_each(&mut apply);
    }
}
