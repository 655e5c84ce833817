//! Filter / filter_not on a stream: keeps the records whose predicate is true (or false).
//! Stateless; a tombstone passes without calling the predicate.

use super::{Ctx, Processor, Shared};
use crate::dynamic::Data;
use crate::error::TaskError;
use crate::record::Record;

pub(crate) type Predicate<K, V> = super::KeyValueFn<K, V, bool>;

pub(crate) struct Filter<K, V> {
    pub(crate) predicate: Shared<Predicate<K, V>>,
    /// `true` for `filter`, `false` for `filter_not`.
    pub(crate) keep_when: bool,
}

impl<K: Data, V: Data> Processor for Filter<K, V> {
    fn process(&mut self, record: Record, ctx: &mut Ctx<'_>) -> Result<(), TaskError> {
        let keep = match super::typed::<K, V>(&record, ctx.node)? {
            (key, Some(value)) => (self.predicate)(key, value) == self.keep_when,
            (_, None) => true,
        };
        if keep {
            ctx.forward(record);
        }
        Ok(())
    }
}
