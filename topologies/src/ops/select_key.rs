//! Select key: computes a new key from key and value, keeping the value. Stateless;
//! marks the stream for repartitioning. Tombstones are dropped.

use super::{Ctx, Processor, Shared};
use crate::dynamic::{Data, Value};
use crate::error::TaskError;
use crate::record::Record;

pub(crate) struct SelectKey<K, V, KR> {
    pub(crate) selector: Shared<super::KeyValueFn<K, V, KR>>,
}

impl<K: Data, V: Data, KR: Data> Processor for SelectKey<K, V, KR> {
    fn process(&mut self, mut record: Record, ctx: &mut Ctx<'_>) -> Result<(), TaskError> {
        let new_key = match super::typed::<K, V>(&record, ctx.node)? {
            (key, Some(value)) => (self.selector)(key, value),
            (_, None) => return Ok(()),
        };
        record.key = Value::new(new_key);
        ctx.forward(record);
        Ok(())
    }
}
