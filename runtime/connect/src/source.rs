//! The `Source` trait: what a source connector's task implements, and the records and
//! offsets it hands to the task's runner.
//!
//! A source reads an outside system in batches. Each batch carries, next to its records,
//! the source offsets reached once every record of the batch is written: the runner
//! stores them (in the `connect-offsets` topic) only after the cluster acknowledged the
//! records, and gives them back to `start` after a restart. So a restarted task reads
//! again at most what was written but not yet committed, and skips nothing.
//!
//! Offsets are Kafka Connect's: a *source partition* names one stream inside the outside
//! system (`{"filename": "/var/log/app.log"}`) and a *source offset* is a position in it
//! (`{"position": 4096}`), both JSON objects.

use std::collections::HashMap;

use futures::future::BoxFuture;
use serde_json::{Map, Value};

use super::converter::Data;
use super::error::ConnectError;
use eddy_client::Header;

/// Names one stream of the outside system, e.g. `{"filename": "/tmp/in.txt"}`.
pub type SourcePartition = Map<String, Value>;
/// A position in a source partition, e.g. `{"position": 4096}`.
pub type SourceOffset = Map<String, Value>;

/// One record a source read, not yet serialized.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceRecord {
    /// The topic to write to.
    pub topic: String,
    /// The key.
    pub key: Data,
    /// The value.
    pub value: Data,
    /// The record's time in ms since the epoch; `None` takes the time of sending.
    pub timestamp_ms: Option<i64>,
    /// Headers.
    pub headers: Vec<Header>,
}

/// One batch read by a source.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SourceBatch {
    /// The records, in order.
    pub records: Vec<SourceRecord>,
    /// The offsets reached once every record of this batch is written, per source
    /// partition (empty when the batch moved no offset).
    pub offsets: Vec<(SourcePartition, SourceOffset)>,
    /// The source has nothing more to read, ever (a generator that reached its count).
    pub finished: bool,
}

/// The offsets stored for a connector, looked up by source partition.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StoredOffsets {
    /// By the partition's canonical text: the partition and its offset.
    offsets: HashMap<String, (SourcePartition, SourceOffset)>,
}

impl StoredOffsets {
    /// Records `offset` for `partition`; `None` forgets it (a tombstone).
    pub fn insert(&mut self, partition: &SourcePartition, offset: Option<SourceOffset>) {
        let key = partition_key(partition);
        match offset {
            Some(offset) => {
                self.offsets.insert(key, (partition.clone(), offset));
            }
            None => {
                self.offsets.remove(&key);
            }
        }
    }

    /// The stored offset of `partition`, if any.
    pub fn get(&self, partition: &SourcePartition) -> Option<&SourceOffset> {
        self.offsets.get(&partition_key(partition)).map(|(_, o)| o)
    }

    /// Every partition with its offset, sorted by the partition's canonical text.
    pub fn entries(&self) -> Vec<(SourcePartition, SourceOffset)> {
        let mut entries: Vec<(&String, &(SourcePartition, SourceOffset))> =
            self.offsets.iter().collect();
        entries.sort_by(|a, b| a.0.cmp(b.0));
        entries
            .into_iter()
            .map(|(_, entry)| entry.clone())
            .collect()
    }

    /// How many partitions have an offset.
    pub fn len(&self) -> usize {
        self.offsets.len()
    }

    /// Whether no partition has an offset.
    pub fn is_empty(&self) -> bool {
        self.offsets.is_empty()
    }
}

/// The canonical text of a partition (serde_json's map is ordered by key).
fn partition_key(partition: &SourcePartition) -> String {
    Value::Object(partition.clone()).to_string()
}

/// A source connector's task.
pub trait Source: Send {
    /// Opens the outside system, resuming from `offsets` (empty on the first start).
    fn start<'a>(
        &'a mut self,
        offsets: &'a StoredOffsets,
    ) -> BoxFuture<'a, Result<(), ConnectError>>;

    /// Reads the next batch: at most `batch.size` records, waiting a short, bounded time
    /// when nothing is there (an empty batch is a normal answer), so the runner can check
    /// for pause and stop between polls.
    fn poll(&mut self) -> BoxFuture<'_, Result<SourceBatch, ConnectError>>;
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn object(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            other => panic!("not an object: {other}"),
        }
    }

    #[test]
    fn stored_offsets_ignore_key_order() {
        let mut stored = StoredOffsets::default();
        let a = object(json!({"filename": "/x", "host": "h"}));
        stored.insert(&a, Some(object(json!({"position": 7}))));
        let same = object(json!({"host": "h", "filename": "/x"}));
        assert_eq!(stored.get(&same), Some(&object(json!({"position": 7}))));
        stored.insert(&same, None);
        assert!(stored.is_empty());
    }
}
