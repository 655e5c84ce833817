//! Flat map: turns each record into zero or more records with new keys. Stateless;
//! marks the stream for repartitioning. Tombstones are dropped.

use super::{Ctx, Processor, Shared};
use crate::dynamic::{Data, Value};
use crate::error::TaskError;
use crate::record::Record;

pub(crate) struct FlatMap<K, V, KR, VR> {
    pub(crate) mapper: Shared<super::FlatMapper<K, V, KR, VR>>,
}

impl<K: Data, V: Data, KR: Data, VR: Data> Processor for FlatMap<K, V, KR, VR> {
    fn process(&mut self, record: Record, ctx: &mut Ctx<'_>) -> Result<(), TaskError> {
        let Some(value) = record.value.clone() else {
            return Ok(());
        };
        let key = record.key.clone().take::<K>(ctx.node)?;
        for (k, v) in (self.mapper)(key, value.take::<V>(ctx.node)?) {
            ctx.forward(record.with(Value::new(k), Some(Value::new(v))));
        }
        Ok(())
    }
}
