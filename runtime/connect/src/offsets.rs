//! Source offsets kept in the cluster, in the compacted topic `connect-offsets`, the way
//! Kafka Connect keeps them: key `["<connector>",{<source partition>}]`, value the source
//! offset as a JSON object (null forgets it), both compact JSON. Keys go to partitions by
//! murmur2 like any keyed record, so one source partition's offsets stay in order, and
//! compaction keeps the latest.
//!
//! `OffsetStore::open` makes sure the topic exists, then reads it from the start up to the
//! log end offsets it had when reading began, keeping the latest offset per source
//! partition of this connector. `write` sends offsets with acks=all and waits for them.
//! Records of other connectors, and keys that are not Connect's, are skipped.

use bytes::Bytes;
use serde_json::Value;

use eddy_client::{Acks, ConsumedRecord, Producer, ProducerConfig, ProducerRecord};

use super::error::ConnectError;
use super::source::{SourceOffset, SourcePartition, StoredOffsets};
use super::topics::{ensure_topic, read_to_end};

/// The topic that holds source offsets (Kafka's default `offset.storage.topic`).
pub const OFFSETS_TOPIC: &str = "connect-offsets";
/// Its partitions (Kafka's default `offset.storage.partitions`).
pub const OFFSETS_TOPIC_PARTITIONS: i32 = 25;
/// How long reading the stored offsets may take before the task fails (and is restarted).
const OFFSETS_READ_TIMEOUT_MS: u64 = 60_000;

/// Writes one connector's source offsets.
#[derive(Debug)]
pub struct OffsetStore {
    connector: String,
    producer: Producer,
}

impl OffsetStore {
    /// Opens the store of `connector`, returning it with the offsets stored so far.
    pub async fn open(
        bootstrap: &str,
        connector: &str,
    ) -> Result<(Self, StoredOffsets), ConnectError> {
        let compact = [("cleanup.policy".to_owned(), "compact".to_owned())];
        ensure_topic(
            bootstrap,
            OFFSETS_TOPIC,
            OFFSETS_TOPIC_PARTITIONS,
            -1,
            &compact,
        )
        .await?;
        let stored = read_offsets(bootstrap, connector).await?;
        let config = ProducerConfig {
            acks: Acks::All,
            linger_ms: 0,
            ..ProducerConfig::default()
        };
        let producer = Producer::connect(bootstrap, config)
            .await
            .map_err(|err| ConnectError::client("connect to store source offsets", err))?;
        let store = Self {
            connector: connector.to_owned(),
            producer,
        };
        Ok((store, stored))
    }

    /// Stores `offsets` and waits until the cluster acknowledged them.
    pub async fn write(
        &mut self,
        offsets: &[(SourcePartition, SourceOffset)],
    ) -> Result<(), ConnectError> {
        if offsets.is_empty() {
            return Ok(());
        }
        let context = || format!("store source offsets of connector {}", self.connector);
        let mut receipts = Vec::with_capacity(offsets.len());
        for (partition, offset) in offsets {
            let record = ProducerRecord::new(
                OFFSETS_TOPIC,
                Bytes::from(Value::Object(offset.clone()).to_string()),
            )
            .with_key(offset_key(&self.connector, partition));
            let receipt = self
                .producer
                .send(record)
                .await
                .map_err(|err| ConnectError::client(context(), err))?;
            receipts.push(receipt);
        }
        self.producer
            .flush()
            .await
            .map_err(|err| ConnectError::client(context(), err))?;
        for receipt in receipts {
            receipt
                .wait()
                .await
                .map_err(|err| ConnectError::client(context(), err))?;
        }
        Ok(())
    }
}

/// The key of a source partition's offset: `["<connector>",{<partition>}]`.
pub fn offset_key(connector: &str, partition: &SourcePartition) -> Bytes {
    let key = Value::Array(vec![
        Value::String(connector.to_owned()),
        Value::Object(partition.clone()),
    ]);
    Bytes::from(key.to_string())
}

/// Reads `connect-offsets` from the start to its current end, keeping `connector`'s latest
/// offset per source partition.
async fn read_offsets(bootstrap: &str, connector: &str) -> Result<StoredOffsets, ConnectError> {
    let mut stored = StoredOffsets::default();
    read_to_end(
        bootstrap,
        OFFSETS_TOPIC,
        OFFSETS_READ_TIMEOUT_MS,
        |record| apply(&mut stored, connector, record),
        |reason| ConnectError::Offsets {
            reason,
            retriable: true,
        },
    )
    .await?;
    Ok(stored)
}

/// Applies one record of the offsets topic to `stored` if it is `connector`'s.
fn apply(stored: &mut StoredOffsets, connector: &str, record: &ConsumedRecord) {
    let Some((name, partition)) = record.key.as_ref().and_then(|k| parse_key(k)) else {
        tracing::debug!(
            offset = record.offset,
            "skipping a record of {OFFSETS_TOPIC} that is not a Connect offset"
        );
        return;
    };
    if name != connector {
        return;
    }
    let offset = match record.value.as_ref() {
        None => None,
        Some(bytes) => match serde_json::from_slice::<Value>(bytes) {
            Ok(Value::Object(offset)) => Some(offset),
            Ok(Value::Null) => None,
            _ => {
                tracing::warn!(
                    connector,
                    offset = record.offset,
                    "skipping a malformed source offset"
                );
                return;
            }
        },
    };
    stored.insert(&partition, offset);
}

fn parse_key(key: &[u8]) -> Option<(String, SourcePartition)> {
    match serde_json::from_slice::<Value>(key).ok()? {
        Value::Array(mut parts) if parts.len() == 2 => {
            let partition = parts.pop()?;
            let name = parts.pop()?;
            match (name, partition) {
                (Value::String(name), Value::Object(partition)) => Some((name, partition)),
                _ => None,
            }
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn consumed(key: &[u8], value: Option<&[u8]>) -> ConsumedRecord {
        ConsumedRecord {
            topic: OFFSETS_TOPIC.into(),
            partition: 0,
            offset: 0,
            timestamp: 0,
            key: Some(Bytes::copy_from_slice(key)),
            value: value.map(Bytes::copy_from_slice),
            headers: Vec::new(),
        }
    }

    #[test]
    fn keys_are_kafkas() {
        let Value::Object(partition) = json!({"filename": "/tmp/in.txt"}) else {
            unreachable!()
        };
        assert_eq!(
            offset_key("file-source", &partition),
            Bytes::from_static(br#"["file-source",{"filename":"/tmp/in.txt"}]"#)
        );
        assert_eq!(
            parse_key(br#"["file-source",{"filename":"/tmp/in.txt"}]"#),
            Some(("file-source".into(), partition))
        );
        assert_eq!(parse_key(b"not json"), None);
        assert_eq!(parse_key(br#"["a","b"]"#), None);
    }

    #[test]
    fn the_latest_offset_of_this_connector_wins() {
        let key = br#"["src",{"filename":"f"}]"#;
        let mut stored = StoredOffsets::default();
        apply(
            &mut stored,
            "src",
            &consumed(key, Some(br#"{"position":1}"#)),
        );
        apply(
            &mut stored,
            "src",
            &consumed(key, Some(br#"{"position":9}"#)),
        );
        apply(
            &mut stored,
            "other",
            &consumed(key, Some(br#"{"position":99}"#)),
        );
        apply(
            &mut stored,
            "src",
            &consumed(br#"["other",{"filename":"f"}]"#, Some(b"{}")),
        );
        let Value::Object(partition) = json!({"filename": "f"}) else {
            unreachable!()
        };
        assert_eq!(stored.get(&partition).unwrap()["position"], json!(9));
        apply(&mut stored, "src", &consumed(key, None));
        assert!(stored.is_empty());
    }
}
