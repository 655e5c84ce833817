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
//!
//! A standalone worker with Kafka's worker file keeps its offsets in a local file instead
//! (`offset_file.rs`); [`OffsetStorage`] says which, and `SourceOffsets` is a source task's
//! view of either. The REST API's offsets endpoints (KIP-875) read and change them through
//! `read_source_offsets` and `alter_source_offsets`.

use bytes::Bytes;
use serde_json::Value;

use eddy_client::{Acks, ConsumedRecord, Producer, ProducerConfig, ProducerRecord};

use super::error::ConnectError;
use super::offset_file::OffsetFile;
use super::source::{SourceOffset, SourcePartition, StoredOffsets};
use super::topics::{ensure_topic, read_to_end, topic_exists};

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
        let changes: Vec<(SourcePartition, Option<SourceOffset>)> = offsets
            .iter()
            .map(|(partition, offset)| (partition.clone(), Some(offset.clone())))
            .collect();
        self.write_changes(&changes).await
    }

    /// Stores `offsets`, a tombstone where the offset is `None`, and waits until the
    /// cluster acknowledged them.
    async fn write_changes(
        &mut self,
        offsets: &[(SourcePartition, Option<SourceOffset>)],
    ) -> Result<(), ConnectError> {
        if offsets.is_empty() {
            return Ok(());
        }
        let context = || format!("store source offsets of connector {}", self.connector);
        let mut receipts = Vec::with_capacity(offsets.len());
        for (partition, offset) in offsets {
            let mut record = ProducerRecord::new(OFFSETS_TOPIC, Bytes::new())
                .with_key(offset_key(&self.connector, partition));
            record.value = offset
                .as_ref()
                .map(|offset| Bytes::from(Value::Object(offset.clone()).to_string()));
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

/// Where a worker keeps its source connectors' offsets.
#[derive(Debug, Clone, Default)]
pub enum OffsetStorage {
    /// The cluster's compacted `connect-offsets` topic: a node's connectors, and `eddy
    /// connect run` given connector files alone.
    #[default]
    Topic,
    /// A local file: a standalone worker's `offset.storage.file.filename`.
    File(OffsetFile),
}

/// A source task's offsets, wherever its worker keeps them.
#[derive(Debug)]
pub(crate) enum SourceOffsets {
    /// In `connect-offsets` (boxed: a producer is much larger than a file handle).
    Topic(Box<OffsetStore>),
    /// In the worker's offsets file.
    File {
        /// The file.
        file: OffsetFile,
        /// The connector whose offsets these are.
        connector: String,
    },
}

impl SourceOffsets {
    /// Opens `connector`'s offsets in `storage`, with the offsets stored so far.
    pub(crate) async fn open(
        storage: &OffsetStorage,
        bootstrap: &str,
        connector: &str,
    ) -> Result<(Self, StoredOffsets), ConnectError> {
        match storage {
            OffsetStorage::Topic => {
                let (store, stored) = OffsetStore::open(bootstrap, connector).await?;
                Ok((Self::Topic(Box::new(store)), stored))
            }
            OffsetStorage::File(file) => {
                let stored = file.read(connector).await;
                let offsets = Self::File {
                    file: file.clone(),
                    connector: connector.to_owned(),
                };
                Ok((offsets, stored))
            }
        }
    }

    /// Stores `offsets` durably.
    pub(crate) async fn write(
        &mut self,
        offsets: &[(SourcePartition, SourceOffset)],
    ) -> Result<(), ConnectError> {
        match self {
            Self::Topic(store) => store.write(offsets).await,
            Self::File { file, connector } => {
                let changes: Vec<(SourcePartition, Option<SourceOffset>)> = offsets
                    .iter()
                    .map(|(partition, offset)| (partition.clone(), Some(offset.clone())))
                    .collect();
                file.write(connector, &changes).await
            }
        }
    }
}

/// The offsets stored for `connector` in `storage` (none if `connect-offsets` does not
/// exist yet).
pub(crate) async fn read_source_offsets(
    storage: &OffsetStorage,
    bootstrap: &str,
    connector: &str,
) -> Result<StoredOffsets, ConnectError> {
    match storage {
        OffsetStorage::File(file) => Ok(file.read(connector).await),
        OffsetStorage::Topic if !topic_exists(bootstrap, OFFSETS_TOPIC).await? => {
            Ok(StoredOffsets::default())
        }
        OffsetStorage::Topic => read_offsets(bootstrap, connector).await,
    }
}

/// Stores `changes` for `connector` in `storage`: an offset per partition, `None` to
/// forget one.
pub(crate) async fn alter_source_offsets(
    storage: &OffsetStorage,
    bootstrap: &str,
    connector: &str,
    changes: &[(SourcePartition, Option<SourceOffset>)],
) -> Result<(), ConnectError> {
    match storage {
        OffsetStorage::File(file) => file.write(connector, changes).await,
        OffsetStorage::Topic => {
            let (mut store, _) = OffsetStore::open(bootstrap, connector).await?;
            store.write_changes(changes).await
        }
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
