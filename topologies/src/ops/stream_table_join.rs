//! Stream–table join (inner or left). Stateless itself: each stream record looks its key
//! up in the table (through the table's value getter); table updates emit nothing. The
//! result keeps the stream record's key and timestamp. Stream records without a value
//! are skipped.

use super::getter::ValueGetter;
use super::{Ctx, Processor, Shared};
use crate::dynamic::{Data, Value};
use crate::error::TaskError;
use crate::record::Record;

/// Joins a stream value with the table's value, if any; `None` drops the record (inner
/// join without a match).
pub(crate) type StreamTableJoiner<V, VT, VR> = dyn Fn(&V, Option<&VT>) -> Option<VR> + Send + Sync;

pub(crate) struct StreamTableJoin<V, VT, VR> {
    pub(crate) table: ValueGetter,
    pub(crate) joiner: Shared<StreamTableJoiner<V, VT, VR>>,
}

impl<V: Data, VT: Data, VR: Data> Processor for StreamTableJoin<V, VT, VR> {
    fn process(&mut self, record: Record, ctx: &mut Ctx<'_>) -> Result<(), TaskError> {
        let Some(value) = &record.value else {
            return Ok(());
        };
        let found = (self.table)(ctx.stores, &record.key, ctx.node)?;
        let table_value = found
            .as_ref()
            .map(|(v, _)| v.get::<VT>(ctx.node))
            .transpose()?;
        if let Some(joined) = (self.joiner)(value.get::<V>(ctx.node)?, table_value) {
            ctx.forward(record.with(record.key.clone(), Some(Value::new(joined))));
        }
        Ok(())
    }
}
