//! Aggregate (count, reduce, aggregate) of a grouped stream into a table. Stateful: a
//! key-value store keyed by the group key. Records without a value are skipped, as in
//! Kafka. The result's timestamp is the latest timestamp that went into it.

use super::{encode, stored, Ctx, Processor, Shared};
use crate::dynamic::{Data, Value};
use crate::error::TaskError;
use crate::record::Record;
use crate::serdes::SerdeRef;
use crate::store::StoreHandle;

/// Folds one value into the previous aggregate (`None` for the first value of a key).
pub(crate) type Aggregator<K, V, VA> = dyn Fn(&K, V, Option<VA>) -> VA + Send + Sync;

pub(crate) struct Aggregate<K, V, VA> {
    pub(crate) store: StoreHandle,
    pub(crate) key: SerdeRef<K>,
    pub(crate) value: SerdeRef<VA>,
    pub(crate) aggregator: Shared<Aggregator<K, V, VA>>,
}

impl<K: Data, V: Data, VA: Data> Processor for Aggregate<K, V, VA> {
    fn process(&mut self, record: Record, ctx: &mut Ctx<'_>) -> Result<(), TaskError> {
        let Some(value) = record.value else {
            return Ok(());
        };
        let key = record.key.get::<K>(ctx.node)?;
        let key_bytes = encode(&self.key, key, ctx.node, "key")?;
        let old = stored::read(ctx.stores, self.store, &key_bytes, &self.value, ctx.node)?;
        let timestamp = old
            .as_ref()
            .map_or(record.timestamp, |(t, _)| record.timestamp.max(*t));
        let new = (self.aggregator)(key, value.take::<V>(ctx.node)?, old.map(|(_, v)| v));
        stored::write(ctx, self.store, &key_bytes, timestamp, &new, &self.value)?;
        ctx.forward(Record {
            key: record.key,
            value: Some(Value::new(new)),
            timestamp,
            headers: record.headers,
        });
        Ok(())
    }
}
