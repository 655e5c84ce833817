//! Filter / filter_not on a table. Stateless: a row that fails the predicate is
//! forwarded as a tombstone, so downstream tables forget it.

use super::filter::Predicate;
use super::{Ctx, Processor, Shared};
use crate::dynamic::Data;
use crate::error::TaskError;
use crate::record::Record;

pub(crate) struct TableFilter<K, V> {
    pub(crate) predicate: Shared<Predicate<K, V>>,
    pub(crate) keep_when: bool,
}

impl<K: Data, V: Data> Processor for TableFilter<K, V> {
    fn process(&mut self, mut record: Record, ctx: &mut Ctx<'_>) -> Result<(), TaskError> {
        if let (key, Some(value)) = super::typed::<K, V>(&record, ctx.node)? {
            if (self.predicate)(key, value) != self.keep_when {
                record.value = None;
            }
        }
        ctx.forward(record);
        Ok(())
    }
}
