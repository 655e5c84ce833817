//! The crate's errors, one enum per layer: building a topology, serializing a value,
//! running a task, touching a state store, and driving a topology in tests.
//!
//! Each error says what happened with the values involved; `is_retriable` tells a
//! supervisor whether trying again can help, so callers decide from fields, not text.

use crate::serdes::SerdeError;

/// Why `StreamsBuilder::build` refused a topology. These are mistakes in the program
/// that builds the topology: none is retriable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopologyError {
    /// The topology reads nothing.
    #[error("the topology has no source: add one with `StreamsBuilder::stream` or `StreamsBuilder::table`")]
    NoSource,
    /// The topology neither writes to a topic nor keeps a state store, so it has no effect.
    #[error("the topology has no sink and no state store, so it has no effect: add `.to(topic)` to a stream")]
    NoSink,
    /// Two processors, two stores or two internal topics got the same name.
    #[error("duplicate {kind} name `{name}`: every {kind} needs a unique name (see `.named(..)`)")]
    DuplicateName {
        /// What kind of thing is named twice: "processor", "store" or "internal topic".
        kind: &'static str,
        /// The name used twice.
        name: String,
    },
    /// Two sources read the same topic.
    #[error("topic `{topic}` is read by two sources: read it once and reuse the stream")]
    DuplicateSourceTopic {
        /// The topic read twice.
        topic: String,
    },
    /// A user-given name cannot become part of a topic name.
    #[error("invalid name `{name}`: {reason}")]
    InvalidName {
        /// The name as given.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An operator needs a serde that was neither set nor registered as a default.
    #[error(
        "`{node}` needs a {side} serde for `{type_name}` and none is known: set it with \
         `.with_{side}_serde(..)` on the stream or table that produces it, or register a \
         default with `StreamsBuilder::default_serde::<{type_name}>(..)`"
    )]
    MissingSerde {
        /// The processor, sink or store that needs the serde.
        node: String,
        /// "key" or "value".
        side: &'static str,
        /// The Rust type that needs a serde.
        type_name: &'static str,
    },
    /// A window definition makes no sense (zero size, advance larger than size, ...).
    #[error("invalid window for `{node}`: {reason}")]
    InvalidWindow {
        /// The windowed operator.
        node: String,
        /// What is wrong.
        reason: String,
    },
    /// An operator was applied where it cannot work (for example a join with a table
    /// that cannot be looked up).
    #[error("`{node}`: {reason}")]
    InvalidOperation {
        /// The operator.
        node: String,
        /// Why it cannot work.
        reason: String,
    },
    /// The streams configuration is invalid.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
}

/// Why a task failed to process a record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TaskError {
    /// A value reached an operator with the wrong type: a bug in this crate.
    #[error("internal error in `{node}`: expected a `{expected}`, found a `{found}`")]
    TypeMismatch {
        /// The operator.
        node: String,
        /// The type the operator expected.
        expected: &'static str,
        /// The type it got.
        found: &'static str,
    },
    /// A value could not be serialized on its way to a topic or a store.
    #[error("`{node}` could not serialize a {side}: {source}")]
    Serialize {
        /// The sink or stateful operator.
        node: String,
        /// "key" or "value".
        side: &'static str,
        /// The serde's error.
        source: SerdeError,
    },
    /// Bytes read back from a state store did not decode: the store is corrupt or was
    /// written with another serde.
    #[error("`{node}` could not read store `{store}`: {source}")]
    CorruptStore {
        /// The operator reading the store.
        node: String,
        /// The store.
        store: String,
        /// The serde's error.
        source: SerdeError,
    },
    /// The task was given a record from a topic it does not read.
    #[error("task {task} does not read topic `{topic}`")]
    UnknownTopic {
        /// The task, as `<sub-topology>_<partition>`.
        task: String,
        /// The topic of the record.
        topic: String,
    },
    /// The task has no store by that name.
    #[error("task {task} has no state store `{store}`")]
    UnknownStore {
        /// The task, as `<sub-topology>_<partition>`.
        task: String,
        /// The store name.
        store: String,
    },
    /// The store is an operator's buffer (suppression, join), not a key-value, window or
    /// session store, so it cannot be queried.
    #[error("store `{store}` is an operator's buffer and cannot be queried")]
    NotQueryable {
        /// The store name.
        store: String,
    },
    /// A bug in this crate: the compiled topology and the task disagree.
    #[error("internal error: {0}")]
    Internal(String),
    /// The task id names a sub-topology the topology does not have.
    #[error("task {task}: the topology has {count} sub-topologies")]
    UnknownSubtopology {
        /// The task, as `<sub-topology>_<partition>`.
        task: String,
        /// How many sub-topologies the topology has.
        count: usize,
    },
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] TopologyError),
    /// A state store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl TaskError {
    /// Whether processing the same record again may succeed (only store failures may).
    pub fn is_retriable(&self) -> bool {
        matches!(self, TaskError::Store(e) if e.retriable)
    }
}

/// A state store failure, as reported by a `StateStore` implementation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("state store `{store}`: {message}")]
pub struct StoreError {
    /// The store's name.
    pub store: String,
    /// What happened.
    pub message: String,
    /// Whether trying again may succeed.
    pub retriable: bool,
}

/// Why a store's serdes could not turn a caller's key into bytes, or a queried value
/// back into a typed value (`Topology::serialize_store_key`,
/// `Topology::deserialize_store_value`). None is retriable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreSerdeError {
    /// The topology has no store by that name.
    #[error("the topology has no state store `{0}`")]
    UnknownStore(String),
    /// The type asked for is not the one the store holds.
    #[error("store `{store}` holds {side}s of type `{actual}`, not `{asked}`")]
    TypeMismatch {
        /// The store.
        store: String,
        /// "key" or "value".
        side: &'static str,
        /// The type asked for.
        asked: &'static str,
        /// The type the store uses.
        actual: &'static str,
    },
    /// The serde failed.
    #[error("store `{store}`: the {side} serde failed: {source}")]
    Serde {
        /// The store.
        store: String,
        /// "key" or "value".
        side: &'static str,
        /// The serde's error.
        source: SerdeError,
    },
}

/// Why a `TopologyTestDriver` call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DriverError {
    /// The topology or configuration is invalid.
    #[error(transparent)]
    Topology(#[from] TopologyError),
    /// A task failed.
    #[error(transparent)]
    Task(#[from] TaskError),
    /// A key or value given to or read from the driver did not (de)serialize.
    #[error("topic `{topic}`: {source}")]
    Serde {
        /// The topic.
        topic: String,
        /// The serde's error.
        source: SerdeError,
    },
    /// No source reads the topic, or no sink writes it.
    #[error("the topology has no {role} for topic `{topic}`")]
    UnknownTopic {
        /// "source" or "sink".
        role: &'static str,
        /// The topic.
        topic: String,
    },
    /// The types asked for differ from the ones the topology uses for that topic or store.
    #[error(
        "`{name}` holds `{actual}`, not `{asked}`: pass serdes explicitly with the `_with` variant"
    )]
    TypeMismatch {
        /// The topic or store.
        name: String,
        /// The type asked for.
        asked: &'static str,
        /// The type the topology uses.
        actual: &'static str,
    },
    /// `read_key_values` met a tombstone.
    #[error("topic `{topic}` has a tombstone at position {index}: read it with `read_output`")]
    Tombstone {
        /// The topic.
        topic: String,
        /// The position of the tombstone among the records read.
        index: usize,
    },
    /// The store exists but is of another kind than the inspection asked for.
    #[error("store `{store}` is not a {expected} store")]
    WrongStoreKind {
        /// The store.
        store: String,
        /// The kind asked for: "key-value" or "window".
        expected: &'static str,
    },
    /// No task owns a store by that name.
    #[error("the topology has no state store `{0}`")]
    UnknownStore(String),
}
