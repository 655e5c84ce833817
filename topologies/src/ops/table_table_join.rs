//! Table–table join (inner, left, outer), one operator per side. Stateless itself: an
//! update on one side looks the key up in the other side's table and emits the new join
//! result (or a tombstone) with the later of the two timestamps.

use super::getter::ValueGetter;
use super::{Ctx, Processor, Shared};
use crate::dynamic::{Data, Value};
use crate::error::TaskError;
use crate::record::Record;

/// What an update produces.
pub(crate) enum Outcome<VO> {
    /// Nothing (for example an inner join whose other side is missing).
    Skip,
    /// The key leaves the join result.
    Tombstone,
    /// The new join result.
    Value(VO),
}

/// The join rule from one side's point of view: this side's new value, the other
/// side's current value.
pub(crate) type Combine<VT, VX, VO> = dyn Fn(Option<&VT>, Option<&VX>) -> Outcome<VO> + Send + Sync;

pub(crate) struct TableTableJoin<VT, VX, VO> {
    pub(crate) other: ValueGetter,
    pub(crate) combine: Shared<Combine<VT, VX, VO>>,
}

impl<VT: Data, VX: Data, VO: Data> Processor for TableTableJoin<VT, VX, VO> {
    fn process(&mut self, record: Record, ctx: &mut Ctx<'_>) -> Result<(), TaskError> {
        let found = (self.other)(ctx.stores, &record.key, ctx.node)?;
        let other = found
            .as_ref()
            .map(|(v, _)| v.get::<VX>(ctx.node))
            .transpose()?;
        let this = record
            .value
            .as_ref()
            .map(|v| v.get::<VT>(ctx.node))
            .transpose()?;
        let value = match (self.combine)(this, other) {
            Outcome::Skip => return Ok(()),
            Outcome::Tombstone => None,
            Outcome::Value(v) => Some(Value::new(v)),
        };
        let timestamp = found.map_or(record.timestamp, |(_, t)| t.max(record.timestamp));
        let mut out = record.with(record.key.clone(), value);
        out.timestamp = timestamp;
        ctx.forward(out);
        Ok(())
    }
}
