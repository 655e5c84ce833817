//! Map: replaces key and value. Stateless; marks the stream for repartitioning before
//! the next stateful operator, since the key changed. Tombstones are dropped: no new key
//! can be computed without a value.

use super::{Ctx, Processor, Shared};
use crate::dynamic::{Data, Value};
use crate::error::TaskError;
use crate::record::Record;

pub(crate) struct Map<K, V, KR, VR> {
    pub(crate) mapper: Shared<dyn Fn(K, V) -> (KR, VR) + Send + Sync>,
}

impl<K: Data, V: Data, KR: Data, VR: Data> Processor for Map<K, V, KR, VR> {
    fn process(&mut self, record: Record, ctx: &mut Ctx<'_>) -> Result<(), TaskError> {
        let Some(value) = record.value.clone() else {
            return Ok(());
        };
        let key = record.key.clone().take::<K>(ctx.node)?;
        let (k, v) = (self.mapper)(key, value.take::<V>(ctx.node)?);
        ctx.forward(record.with(Value::new(k), Some(Value::new(v))));
        Ok(())
    }
}
