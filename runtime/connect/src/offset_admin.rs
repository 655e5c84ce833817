//! A connector's offsets as KIP-875's REST endpoints show and change them
//! (`GET|PATCH|DELETE /connectors/<name>/offsets`), in Kafka's shapes:
//!
//! - a source connector's: `{"partition":{<source partition>},"offset":{<source offset>}}`,
//!   from wherever its worker keeps them (`connect-offsets` or the worker's offsets file);
//! - a sink connector's: `{"partition":{"kafka_topic":…,"kafka_partition":…},
//!   "offset":{"kafka_offset":…}}`, the committed offsets of its group `connect-<name>`.
//!
//! Changing them is allowed only while the connector is STOPPED (the supervisor checks),
//! so no task writes offsets meanwhile. A reset forgets a source connector's offsets and
//! deletes a sink connector's group, as Kafka does. A sink partition's offset cannot be
//! removed alone (Eddy's client has no OffsetDelete): such a PATCH is refused.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use eddy_client::{Admin, GroupOffsets, ResponseError};

use super::config::{ConnectorConfig, ConnectorType};
use super::error::ConnectError;
use super::offsets::{alter_source_offsets, read_source_offsets, OffsetStorage};
use super::source::{SourceOffset, SourcePartition};

/// One partition's offset, as KIP-875 shows it; `offset` null forgets it (in a PATCH).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectorOffset {
    /// The source partition, or `kafka_topic` and `kafka_partition` for a sink.
    pub partition: Map<String, Value>,
    /// The source offset, or `kafka_offset` for a sink.
    pub offset: Option<Map<String, Value>>,
}

/// The body of `GET` and `PATCH /connectors/<name>/offsets`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectorOffsets {
    /// Every partition's offset.
    pub offsets: Vec<ConnectorOffset>,
}

/// Where offsets are, for the supervisor's offsets handlers.
#[derive(Debug, Clone)]
pub(crate) struct OffsetsPlace {
    pub(crate) bootstrap: String,
    pub(crate) storage: OffsetStorage,
}

/// The stored offsets of `config`'s connector.
pub(crate) async fn list(
    place: &OffsetsPlace,
    config: &ConnectorConfig,
) -> Result<ConnectorOffsets, ConnectError> {
    let offsets = match config.connector_type() {
        ConnectorType::Source => {
            read_source_offsets(&place.storage, &place.bootstrap, &config.name)
                .await?
                .entries()
                .into_iter()
                .map(|(partition, offset)| ConnectorOffset {
                    partition,
                    offset: Some(offset),
                })
                .collect()
        }
        ConnectorType::Sink => {
            let committed = group(place, config)
                .await?
                .fetch_offsets()
                .await
                .map_err(|err| {
                    ConnectError::client(
                        format!("read the offsets of group {}", config.group_id()),
                        err,
                    )
                })?;
            committed
                .into_iter()
                .map(|((topic, partition), offset)| ConnectorOffset {
                    partition: object(json!({"kafka_topic": topic, "kafka_partition": partition})),
                    offset: Some(object(json!({ "kafka_offset": offset }))),
                })
                .collect()
        }
    };
    Ok(ConnectorOffsets { offsets })
}

/// Stores `changes` for `config`'s connector.
pub(crate) async fn alter(
    place: &OffsetsPlace,
    config: &ConnectorConfig,
    changes: Vec<ConnectorOffset>,
) -> Result<(), ConnectError> {
    if changes.is_empty() {
        return Err(ConnectError::BadRequest(
            "the offsets to be altered may not be null or empty".to_owned(),
        ));
    }
    match config.connector_type() {
        ConnectorType::Source => {
            let changes: Vec<(SourcePartition, Option<SourceOffset>)> = changes
                .into_iter()
                .map(|change| (change.partition, change.offset))
                .collect();
            alter_source_offsets(&place.storage, &place.bootstrap, &config.name, &changes).await
        }
        ConnectorType::Sink => {
            let mut offsets = BTreeMap::new();
            for change in changes {
                let (tp, offset) = sink_offset(change)?;
                offsets.insert(tp, offset);
            }
            group(place, config)
                .await?
                .commit_offsets(&offsets)
                .await
                .map_err(|err| {
                    ConnectError::client(
                        format!("commit the offsets of group {}", config.group_id()),
                        err,
                    )
                })
        }
    }
}

/// Forgets every offset of `config`'s connector.
pub(crate) async fn reset(
    place: &OffsetsPlace,
    config: &ConnectorConfig,
) -> Result<(), ConnectError> {
    match config.connector_type() {
        ConnectorType::Source => {
            let stored =
                read_source_offsets(&place.storage, &place.bootstrap, &config.name).await?;
            let changes: Vec<(SourcePartition, Option<SourceOffset>)> = stored
                .entries()
                .into_iter()
                .map(|(partition, _)| (partition, None))
                .collect();
            if changes.is_empty() {
                return Ok(());
            }
            alter_source_offsets(&place.storage, &place.bootstrap, &config.name, &changes).await
        }
        ConnectorType::Sink => {
            let group_id = config.group_id();
            let context = || format!("delete group {group_id}");
            let mut admin = Admin::connect(&place.bootstrap)
                .await
                .map_err(|err| ConnectError::client(context(), err))?;
            match admin.delete_group(&group_id).await {
                Ok(()) => Ok(()),
                Err(err) if err.kafka_error() == Some(ResponseError::GroupIdNotFound) => Ok(()),
                Err(err) => Err(ConnectError::client(context(), err)),
            }
        }
    }
}

async fn group(
    place: &OffsetsPlace,
    config: &ConnectorConfig,
) -> Result<GroupOffsets, ConnectError> {
    let group_id = config.group_id();
    GroupOffsets::connect(&place.bootstrap, &group_id)
        .await
        .map_err(|err| {
            ConnectError::client(
                format!("connect to the coordinator of group {group_id}"),
                err,
            )
        })
}

/// A sink's offset change: `((topic, partition), offset)`.
fn sink_offset(change: ConnectorOffset) -> Result<((String, i32), i64), ConnectError> {
    let bad =
        |reason: &str| ConnectError::BadRequest(format!("{reason}: {}", json!(change.partition)));
    let topic = change.partition.get("kafka_topic").and_then(Value::as_str);
    let partition = change
        .partition
        .get("kafka_partition")
        .and_then(Value::as_i64)
        .and_then(|p| i32::try_from(p).ok());
    let (Some(topic), Some(partition)) = (topic, partition) else {
        return Err(bad(
            "a sink connector's partition needs kafka_topic and kafka_partition",
        ));
    };
    let Some(offset) = &change.offset else {
        return Err(bad(
            "removing one partition's offset of a sink connector is not supported; reset them all \
             with DELETE",
        ));
    };
    match offset.get("kafka_offset").and_then(Value::as_i64) {
        Some(offset) if offset >= 0 => Ok(((topic.to_owned(), partition), offset)),
        _ => Err(bad(
            "a sink connector's offset needs kafka_offset, a non-negative integer",
        )),
    }
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sink_offsets_take_kafkas_fields() {
        let change = ConnectorOffset {
            partition: object(json!({"kafka_topic": "t", "kafka_partition": 2})),
            offset: Some(object(json!({"kafka_offset": 7}))),
        };
        assert_eq!(sink_offset(change).unwrap(), (("t".to_owned(), 2), 7));
        let removal = ConnectorOffset {
            partition: object(json!({"kafka_topic": "t", "kafka_partition": 2})),
            offset: None,
        };
        assert_eq!(sink_offset(removal).unwrap_err().http_status(), 400);
        let body: ConnectorOffsets =
            serde_json::from_str(r#"{"offsets":[{"partition":{"filename":"a"},"offset":null}]}"#)
                .unwrap();
        assert_eq!(body.offsets[0].offset, None);
    }
}
