//! Map values: replaces each value, keeping the key. Stateless; serves streams and
//! tables alike, since a tombstone stays a tombstone.

use super::{Ctx, Processor, Shared};
use crate::dynamic::{Data, Value};
use crate::error::TaskError;
use crate::record::Record;

pub(crate) struct MapValues<V, VR> {
    pub(crate) mapper: Shared<dyn Fn(V) -> VR + Send + Sync>,
}

impl<V: Data, VR: Data> Processor for MapValues<V, VR> {
    fn process(&mut self, mut record: Record, ctx: &mut Ctx<'_>) -> Result<(), TaskError> {
        if let Some(value) = record.value.take() {
            record.value = Some(Value::new((self.mapper)(value.take::<V>(ctx.node)?)));
        }
        ctx.forward(record);
        Ok(())
    }
}
