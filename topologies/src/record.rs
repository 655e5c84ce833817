//! Records as tasks take and give them: raw bytes on the outside, erased typed values
//! between operators inside.

use crate::dynamic::Value;

/// A record header: a key and an optional value, as in Kafka.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Header {
    /// The header key.
    pub key: String,
    /// The header value; `None` is a null value.
    pub value: Option<Vec<u8>>,
}

/// A record read from a topic partition, handed to `Task::process`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputRecord {
    /// The topic it was read from (internal topics carry the application id prefix).
    pub topic: String,
    /// The partition it was read from.
    pub partition: i32,
    /// Its offset in that partition.
    pub offset: i64,
    /// The key bytes; `None` is a null key.
    pub key: Option<Vec<u8>>,
    /// The value bytes; `None` is a null value (a tombstone).
    pub value: Option<Vec<u8>>,
    /// The event time, in milliseconds since the epoch.
    pub timestamp: i64,
    /// The headers.
    pub headers: Vec<Header>,
}

/// A record a task wants written to a topic. The partition is left to the producer's
/// partitioner (Kafka's default hashes the key bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputRecord {
    /// The topic to write to (internal topics carry the application id prefix).
    pub topic: String,
    /// The key bytes; `None` is a null key.
    pub key: Option<Vec<u8>>,
    /// The value bytes; `None` is a tombstone.
    pub value: Option<Vec<u8>>,
    /// The event time, in milliseconds since the epoch.
    pub timestamp: i64,
    /// The headers.
    pub headers: Vec<Header>,
}

/// A state store change a task wants written to the store's changelog topic, to the
/// partition of the task. Replaying a changelog with `Task::restore` rebuilds the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangelogRecord {
    /// The changelog topic: `<application.id>-<store>-changelog`.
    pub topic: String,
    /// The partition: the task's partition.
    pub partition: i32,
    /// The store key.
    pub key: Vec<u8>,
    /// The stored bytes; `None` is a deletion (a tombstone).
    pub value: Option<Vec<u8>>,
    /// The timestamp of the record that caused the change.
    pub timestamp: i64,
}

/// A typed record read back from a `TopologyTestDriver` output topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestRecord<K, V> {
    /// The key.
    pub key: K,
    /// The value; `None` is a tombstone.
    pub value: Option<V>,
    /// The event time, in milliseconds since the epoch.
    pub timestamp: i64,
    /// The headers.
    pub headers: Vec<Header>,
}

/// A record between operators: an erased key, an erased value (`None` is a tombstone,
/// which only tables and `KTable::to_stream` produce), the event time and the headers.
#[derive(Clone)]
pub(crate) struct Record {
    pub(crate) key: Value,
    pub(crate) value: Option<Value>,
    pub(crate) timestamp: i64,
    pub(crate) headers: Vec<Header>,
}

impl Record {
    /// The same record with another key and value.
    pub(crate) fn with(&self, key: Value, value: Option<Value>) -> Record {
        Record {
            key,
            value,
            timestamp: self.timestamp,
            headers: self.headers.clone(),
        }
    }
}
