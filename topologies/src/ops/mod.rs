//! The physical operators: what a task runs. One operator per file.
//!
//! The DSL builds each operator through a `ProcessorFactory` with its closures and
//! resolved serdes; a task calls the factory once per operator. Operators get records
//! with erased keys and values and forward records to their children through `Ctx`.

pub(crate) mod aggregate;
pub(crate) mod branch;
pub(crate) mod filter;
pub(crate) mod flat_map;
pub(crate) mod flat_map_values;
pub(crate) mod getter;
pub(crate) mod map;
pub(crate) mod map_values;
pub(crate) mod pass_through;
pub(crate) mod peek;
pub(crate) mod select_key;
pub(crate) mod session_aggregate;
pub(crate) mod sink;
pub(crate) mod sliding_aggregate;
pub(crate) mod source;
pub(crate) mod stored;
pub(crate) mod stream_stream_join;
pub(crate) mod stream_table_join;
pub(crate) mod suppress;
pub(crate) mod table_filter;
pub(crate) mod table_source;
pub(crate) mod table_table_join;
pub(crate) mod window_aggregate;

use std::sync::Arc;

use crate::dynamic::Data;
use crate::error::TaskError;
use crate::record::{OutputRecord, Record};
use crate::serdes::SerdeRef;
use crate::store::{StoreHandle, StoreSlots};
use crate::task::TaskMetrics;

/// What a task knows when it creates its operators.
pub(crate) struct TaskEnv {
    pub(crate) application_id: String,
}

/// Creates one operator for one task.
pub(crate) type ProcessorFactory = Arc<dyn Fn(&TaskEnv) -> Box<dyn Processor> + Send + Sync>;

/// A factory for an operator that needs nothing from the task.
pub(crate) fn factory<P, F>(make: F) -> ProcessorFactory
where
    P: Processor + 'static,
    F: Fn() -> P + Send + Sync + 'static,
{
    Arc::new(move |_env: &TaskEnv| Box::new(make()) as Box<dyn Processor>)
}

/// One physical operator.
pub(crate) trait Processor: Send {
    /// Handles one record, forwarding results through `ctx`.
    fn process(&mut self, record: Record, ctx: &mut Ctx<'_>) -> Result<(), TaskError>;

    /// Whether `on_stream_time` should be called after every record the task processes.
    fn wants_stream_time(&self) -> bool {
        false
    }

    /// Called when stream time may have advanced: closes windows, empties buffers.
    fn on_stream_time(&mut self, _ctx: &mut Ctx<'_>) -> Result<(), TaskError> {
        Ok(())
    }
}

/// Where an operator's output goes.
pub(crate) enum Forward {
    /// To every child.
    All(Record),
    /// To one child, by its position among the children (branches).
    To(usize, Record),
}

/// An operator's view of its task while it handles a record.
pub(crate) struct Ctx<'a> {
    pub(crate) node: &'a str,
    pub(crate) stores: &'a mut StoreSlots,
    pub(crate) output: &'a mut Vec<OutputRecord>,
    pub(crate) metrics: &'a mut TaskMetrics,
    pub(crate) stream_time: i64,
    pub(crate) forwards: Vec<Forward>,
}

impl Ctx<'_> {
    pub(crate) fn forward(&mut self, record: Record) {
        self.forwards.push(Forward::All(record));
    }

    pub(crate) fn forward_to(&mut self, child: usize, record: Record) {
        self.forwards.push(Forward::To(child, record));
    }

    pub(crate) fn record_late_drop(&mut self) {
        self.metrics.dropped_late_records += 1;
    }

    /// Reads a store key.
    pub(crate) fn get(&self, store: StoreHandle, key: &[u8]) -> Result<Option<Vec<u8>>, TaskError> {
        self.stores.get(store, key)
    }

    /// Writes a store key (`None` deletes it), logging the change.
    pub(crate) fn write(
        &mut self,
        store: StoreHandle,
        key: &[u8],
        value: Option<&[u8]>,
        timestamp: i64,
    ) -> Result<(), TaskError> {
        self.stores.write(store, key, value, timestamp)
    }
}

/// Serializes with a serde, naming the operator on failure.
pub(crate) fn encode<T>(
    serde: &SerdeRef<T>,
    value: &T,
    node: &str,
    side: &'static str,
) -> Result<Vec<u8>, TaskError> {
    serde
        .serialize(value)
        .map_err(|source| TaskError::Serialize {
            node: node.to_string(),
            side,
            source,
        })
}

/// Deserializes bytes read from a store, naming the operator and store on failure.
pub(crate) fn decode<T>(
    serde: &SerdeRef<T>,
    bytes: &[u8],
    node: &str,
    store: &str,
) -> Result<T, TaskError> {
    serde
        .deserialize(bytes)
        .map_err(|source| corrupt(node, store, source))
}

pub(crate) fn corrupt(node: &str, store: &str, source: crate::serdes::SerdeError) -> TaskError {
    TaskError::CorruptStore {
        node: node.to_string(),
        store: store.to_string(),
        source,
    }
}

/// The stored form of a value was not what the operator wrote: a corrupt store.
pub(crate) fn bad_layout(node: &str, store: &str) -> TaskError {
    corrupt(
        node,
        store,
        crate::serdes::SerdeError::Custom("unexpected store layout".into()),
    )
}

/// A typed predicate, key selector or mapper as the DSL stores it.
pub(crate) type Shared<F> = Arc<F>;

/// A function of a record's key and value: predicates, key selectors, peek actions.
pub(crate) type KeyValueFn<K, V, R> = dyn Fn(&K, &V) -> R + Send + Sync;

/// Turns one record into key–value pairs.
pub(crate) type FlatMapper<K, V, KR, VR> = dyn Fn(K, V) -> Vec<(KR, VR)> + Send + Sync;

/// Joins two values that may be missing; `None` when there is no result.
pub(crate) type OptionalJoiner<V1, V2, R> =
    dyn Fn(Option<&V1>, Option<&V2>) -> Option<R> + Send + Sync;

/// `K` and `V` as the record's erased key and value; `None` for a tombstone.
pub(crate) fn typed<'r, K: Data, V: Data>(
    record: &'r Record,
    node: &str,
) -> Result<(&'r K, Option<&'r V>), TaskError> {
    let key = record.key.get::<K>(node)?;
    let value = record
        .value
        .as_ref()
        .map(|v| v.get::<V>(node))
        .transpose()?;
    Ok((key, value))
}
