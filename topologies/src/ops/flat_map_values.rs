//! Flat map values: turns each value into zero or more values under the same key.
//! Stateless; a tombstone passes unchanged.

use super::{Ctx, Processor, Shared};
use crate::dynamic::{Data, Value};
use crate::error::TaskError;
use crate::record::Record;

pub(crate) struct FlatMapValues<V, VR> {
    pub(crate) mapper: Shared<dyn Fn(V) -> Vec<VR> + Send + Sync>,
}

impl<V: Data, VR: Data> Processor for FlatMapValues<V, VR> {
    fn process(&mut self, record: Record, ctx: &mut Ctx<'_>) -> Result<(), TaskError> {
        let Some(value) = record.value.clone() else {
            ctx.forward(record);
            return Ok(());
        };
        for v in (self.mapper)(value.take::<V>(ctx.node)?) {
            ctx.forward(record.with(record.key.clone(), Some(Value::new(v))));
        }
        Ok(())
    }
}
