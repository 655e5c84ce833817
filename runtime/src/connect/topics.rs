//! Creating the topics connectors need when they do not exist yet: a source's topic, the
//! dead-letter topic, the compacted `connect-offsets` topic. Kafka Connect does the same
//! (`topic.creation.*`, `errors.deadletterqueue.*`, the worker's internal topics).

use crate::client::{Admin, ClientError, ResponseError};

use super::error::ConnectError;

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
    let exists = admin
        .list_topics()
        .await
        .map_err(|err| ConnectError::client(context(), err))?
        .iter()
        .any(|t| t.name == topic);
    if exists {
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

fn already_exists(err: &ClientError) -> bool {
    err.kafka_error() == Some(ResponseError::TopicAlreadyExists)
}
