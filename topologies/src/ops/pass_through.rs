//! Pass-through: forwards every record unchanged. Stateless. It is the processor of
//! sources, `merge`, the branches of `split`, and `KTable::to_stream`.

use super::{Ctx, Processor};
use crate::error::TaskError;
use crate::record::Record;

pub(crate) struct PassThrough;

impl Processor for PassThrough {
    fn process(&mut self, record: Record, ctx: &mut Ctx<'_>) -> Result<(), TaskError> {
        ctx.forward(record);
        Ok(())
    }
}
