//! Peek: calls an action on each record and forwards it unchanged. Stateless.

use super::{Ctx, Processor, Shared};
use crate::dynamic::Data;
use crate::error::TaskError;
use crate::record::Record;

pub(crate) struct Peek<K, V> {
    pub(crate) action: Shared<super::KeyValueFn<K, V, ()>>,
}

impl<K: Data, V: Data> Processor for Peek<K, V> {
    fn process(&mut self, record: Record, ctx: &mut Ctx<'_>) -> Result<(), TaskError> {
        if let (key, Some(value)) = super::typed::<K, V>(&record, ctx.node)? {
            (self.action)(key, value);
        }
        ctx.forward(record);
        Ok(())
    }
}
