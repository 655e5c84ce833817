//! Table source: materializes a topic as a table. Stateful: a key-value store holding the
//! latest value per key; a null value (tombstone) deletes the key.

use super::{encode, stored, Ctx, Processor};
use crate::dynamic::Data;
use crate::error::TaskError;
use crate::record::Record;
use crate::serdes::SerdeRef;
use crate::store::StoreHandle;

pub(crate) struct TableSource<K, V> {
    pub(crate) store: StoreHandle,
    pub(crate) key: SerdeRef<K>,
    pub(crate) value: SerdeRef<V>,
}

impl<K: Data, V: Data> Processor for TableSource<K, V> {
    fn process(&mut self, record: Record, ctx: &mut Ctx<'_>) -> Result<(), TaskError> {
        let (key, value) = super::typed::<K, V>(&record, ctx.node)?;
        let key_bytes = encode(&self.key, key, ctx.node, "key")?;
        match value {
            Some(value) => stored::write(
                ctx,
                self.store,
                &key_bytes,
                record.timestamp,
                value,
                &self.value,
            )?,
            None => {
                // A tombstone for a key the table does not hold changes nothing.
                if ctx.get(self.store, &key_bytes)?.is_none() {
                    return Ok(());
                }
                ctx.write(self.store, &key_bytes, None, record.timestamp)?;
            }
        }
        ctx.forward(record);
        Ok(())
    }
}
