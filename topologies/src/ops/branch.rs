//! Branch (`split`): sends each record to the first branch whose predicate is true, or
//! to the default branch, or drops it. Stateless. Tombstones go to the default branch.

use super::filter::Predicate;
use super::{Ctx, Processor, Shared};
use crate::dynamic::Data;
use crate::error::TaskError;
use crate::record::Record;

pub(crate) struct Branch<K, V> {
    /// One predicate per branch, in child order.
    pub(crate) predicates: Vec<Shared<Predicate<K, V>>>,
    /// The child that gets the records no predicate accepts.
    pub(crate) default_child: Option<usize>,
}

impl<K: Data, V: Data> Processor for Branch<K, V> {
    fn process(&mut self, record: Record, ctx: &mut Ctx<'_>) -> Result<(), TaskError> {
        let chosen = match super::typed::<K, V>(&record, ctx.node)? {
            (key, Some(value)) => self.predicates.iter().position(|p| p(key, value)),
            (_, None) => None,
        };
        if let Some(child) = chosen.or(self.default_child) {
            ctx.forward_to(child, record);
        }
        Ok(())
    }
}
