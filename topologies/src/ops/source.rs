//! Source: turns a raw input record into a typed record. Stateless; reads a topic.
//!
//! Decoding happens before the operator graph runs (the task calls the `Decoder`), so
//! a record that does not deserialize is skipped and counted, never half-processed.

use std::sync::Arc;

use crate::dynamic::{Data, Value};
use crate::record::{InputRecord, Record};
use crate::serdes::{SerdeError, SerdeRef};

/// Deserializes the key and value of an input record.
pub(crate) type Decoder = Arc<dyn Fn(&InputRecord) -> Result<Record, SerdeError> + Send + Sync>;

/// A decoder for `K` and `V`. Table sources read a null value as a tombstone; stream
/// sources hand it to the value serde (which refuses it unless it is nullable).
pub(crate) fn decoder<K: Data, V: Data>(
    key: SerdeRef<K>,
    value: SerdeRef<V>,
    table: bool,
) -> Decoder {
    Arc::new(move |input: &InputRecord| {
        let k = key.deserialize_nullable(input.key.as_deref())?;
        let v = match (&input.value, table) {
            (None, true) => None,
            (bytes, _) => Some(Value::new(value.deserialize_nullable(bytes.as_deref())?)),
        };
        Ok(Record {
            key: Value::new(k),
            value: v,
            timestamp: input.timestamp,
            headers: input.headers.clone(),
        })
    })
}
