//! Value getters: how a join looks up the current value of a table by key.
//!
//! A table that is not materialized itself (a `filter` or `map_values` of another table)
//! answers lookups by asking its parent's getter and applying its own function, as
//! Kafka Streams' value getters do. Only source tables and aggregations have stores.

use std::sync::Arc;

use super::filter::Predicate;
use super::{encode, stored};
use crate::dynamic::{Data, Value};
use crate::error::TaskError;
use crate::serdes::SerdeRef;
use crate::store::{StoreHandle, StoreSlots};

/// The current value and timestamp of a key in a table, if it has one.
pub(crate) type ValueGetter =
    Arc<dyn Fn(&StoreSlots, &Value, &str) -> Result<Option<(Value, i64)>, TaskError> + Send + Sync>;

/// Looks the key up in a key-value store.
pub(crate) fn store<K: Data, V: Data>(
    store: StoreHandle,
    key: SerdeRef<K>,
    value: SerdeRef<V>,
) -> ValueGetter {
    Arc::new(move |stores: &StoreSlots, k: &Value, node: &str| {
        let key_bytes = encode(&key, k.get::<K>(node)?, node, "key")?;
        let found = stored::read(stores, store, &key_bytes, &value, node)?;
        Ok(found.map(|(t, v)| (Value::new(v), t)))
    })
}

/// The parent's value if it passes the predicate (or fails it, for `filter_not`).
pub(crate) fn filter<K: Data, V: Data>(
    parent: ValueGetter,
    predicate: Arc<Predicate<K, V>>,
    keep_when: bool,
) -> ValueGetter {
    Arc::new(move |stores: &StoreSlots, k: &Value, node: &str| {
        let Some((v, t)) = parent(stores, k, node)? else {
            return Ok(None);
        };
        let keep = predicate(k.get::<K>(node)?, v.get::<V>(node)?) == keep_when;
        Ok(keep.then_some((v, t)))
    })
}

/// The parent's value, mapped.
pub(crate) fn map_values<V: Data, VR: Data>(
    parent: ValueGetter,
    mapper: Arc<dyn Fn(V) -> VR + Send + Sync>,
) -> ValueGetter {
    Arc::new(move |stores: &StoreSlots, k: &Value, node: &str| {
        let Some((v, t)) = parent(stores, k, node)? else {
            return Ok(None);
        };
        Ok(Some((Value::new(mapper(v.take::<V>(node)?)), t)))
    })
}

/// The join of two tables' values, computed on lookup.
pub(crate) fn join<VL: Data, VR: Data, VO: Data>(
    left: ValueGetter,
    right: ValueGetter,
    combine: Arc<super::OptionalJoiner<VL, VR, VO>>,
) -> ValueGetter {
    Arc::new(move |stores: &StoreSlots, k: &Value, node: &str| {
        let l = left(stores, k, node)?;
        let r = right(stores, k, node)?;
        let lv = l.as_ref().map(|(v, _)| v.get::<VL>(node)).transpose()?;
        let rv = r.as_ref().map(|(v, _)| v.get::<VR>(node)).transpose()?;
        let timestamp = l.iter().chain(r.iter()).map(|(_, t)| *t).max();
        Ok(combine(lv, rv)
            .zip(timestamp)
            .map(|(v, t)| (Value::new(v), t)))
    })
}
