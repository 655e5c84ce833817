//! Windowed stream–stream join (inner, left, outer), one operator per side. Stateful:
//! each side keeps its recent records in a join buffer store (keyed by key, then record
//! time, with an index by time for expiry: `StoreKind::JoinBuffer`), so looking up the
//! other side's records of one key reads only that key's entries, as Kafka's
//! `otherWindowStore.fetch(key, timeFrom, timeTo)`. A record is buffered, then joined
//! with every record of the other side with the same key whose time is within the join
//! window; the result carries the later timestamp. Records later than the window plus grace are dropped and counted
//! (`rules::join_record_too_late`); older buffered records are removed as stream time
//! advances (`rules::join_kept_from`).
//!
//! Left and outer joins (Kafka ≥ 3.1 semantics, without spurious results): a record of
//! an outer side that finds no match is kept in an outer-join buffer shared by both
//! sides, and removed when a later record of the other side joins it. It gets its
//! result with no other side only once no record still accepted could join it — when
//! stream time passes its time + before + after + grace, the moment it also leaves its
//! join buffer — never while a match may still come. Those results are emitted in time
//! order, stamped with the record's own time, after the record that moved stream time.

use super::{bad_layout, decode, encode, stored, Ctx, OptionalJoiner, Processor, Shared};
use crate::dynamic::{Data, Value};
use crate::error::TaskError;
use crate::record::Record;
use crate::serdes::SerdeRef;
use crate::store::{layout, StoreHandle, SCAN_PAGE_ENTRIES};
use crate::window::{rules, JoinWindows};

pub(crate) struct StreamStreamJoin<K, VT, VX, VR> {
    pub(crate) this_store: StoreHandle,
    pub(crate) other_store: StoreHandle,
    pub(crate) key: SerdeRef<K>,
    pub(crate) this_value: SerdeRef<VT>,
    pub(crate) other_value: SerdeRef<VX>,
    /// The windows as seen from this side.
    pub(crate) windows: JoinWindows,
    /// Joins this side's value with the other side's; a missing side is `None` (left
    /// and outer joins only). `None` means no result.
    pub(crate) joiner: Shared<OptionalJoiner<VT, VX, VR>>,
    /// Left and outer joins: how this side uses the outer-join buffer.
    pub(crate) outer: Option<OuterSide>,
}

/// One side's part in a left or outer join.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OuterSide {
    /// The outer-join buffer, shared by both sides.
    pub(crate) store: StoreHandle,
    /// This side's tag in the buffer: 0 for the left stream, 1 for the right.
    pub(crate) side: u8,
    /// Whether this side's records without a match get a result (the left side of a
    /// left join, both sides of an outer join).
    pub(crate) keeps_unmatched: bool,
    /// Whether this operator emits the results of closed windows; one side does it for
    /// both, in time order.
    pub(crate) emits: bool,
}

/// The other side's tag in the outer-join buffer.
fn other(side: u8) -> u8 {
    1 - side
}

impl<K: Data, VT: Data, VX: Data, VR: Data> StreamStreamJoin<K, VT, VX, VR> {
    fn buffer(
        &self,
        (store, store_key): (StoreHandle, &[u8]),
        value: &[u8],
        timestamp: i64,
        ctx: &mut Ctx<'_>,
    ) -> Result<(), TaskError> {
        let mut list = ctx.get(store, store_key)?.unwrap_or_default();
        let name = &ctx.stores.slot(store)?.spec.name;
        layout::push_list_item(&mut list, value).ok_or_else(|| bad_layout(ctx.node, name))?;
        ctx.write(store, store_key, Some(&list), timestamp)
    }

    /// The other side's values for `key` with times in `[from, to]`, oldest first.
    fn matches(
        &self,
        key: &[u8],
        range: (i64, i64),
        ctx: &Ctx<'_>,
    ) -> Result<Vec<(i64, VX)>, TaskError> {
        let name = &ctx.stores.slot(self.other_store)?.spec.name;
        let mut found = Vec::new();
        for (t, list) in stored::key_range(ctx.stores, self.other_store, key, range, ctx.node)? {
            for item in layout::list_items(&list).ok_or_else(|| bad_layout(ctx.node, name))? {
                found.push((t, decode(&self.other_value, item, ctx.node, name)?));
            }
        }
        Ok(found)
    }

    /// Left and outer joins: a record that joined leaves the outer-join buffer (all
    /// records of its side, key and time joined, since they share that time).
    fn forget_joined(
        &self,
        outer: OuterSide,
        key: &[u8],
        times: impl Iterator<Item = i64>,
        timestamp: i64,
        ctx: &mut Ctx<'_>,
    ) -> Result<(), TaskError> {
        let mut last = None;
        for t in times {
            if last == Some(t) {
                continue;
            }
            last = Some(t);
            let store_key = layout::time_side_key(t, other(outer.side), key);
            if ctx.get(outer.store, &store_key)?.is_some() {
                ctx.write(outer.store, &store_key, None, timestamp)?;
            }
        }
        Ok(())
    }

    /// Emits, in time order, the records of the outer-join buffer that can no longer
    /// join, with no other side, and removes them.
    /// `kept_from`: the oldest record time still kept (`rules::join_kept_from`).
    fn emit_closed(
        &self,
        outer: OuterSide,
        kept_from: i64,
        ctx: &mut Ctx<'_>,
    ) -> Result<(), TaskError> {
        let upper = layout::time_lower_bound(kept_from);
        loop {
            let page = ctx
                .stores
                .range(outer.store, &[], Some(&upper), SCAN_PAGE_ENTRIES)?;
            for (store_key, list) in &page {
                self.emit_unmatched(outer, store_key, list, ctx)?;
            }
            if page.len() < SCAN_PAGE_ENTRIES {
                return Ok(());
            }
        }
    }

    fn emit_unmatched(
        &self,
        outer: OuterSide,
        store_key: &[u8],
        list: &[u8],
        ctx: &mut Ctx<'_>,
    ) -> Result<(), TaskError> {
        let name = ctx.stores.slot(outer.store)?.spec.name.clone();
        let bad = || bad_layout(ctx.node, &name);
        let (t, side, key_bytes) = layout::split_time_side_key(store_key).ok_or_else(bad)?;
        let key = decode(&self.key, key_bytes, ctx.node, &name)?;
        for item in layout::list_items(list).ok_or_else(bad)? {
            let joined = if side == outer.side {
                let value = decode(&self.this_value, item, ctx.node, &name)?;
                (self.joiner)(Some(&value), None)
            } else {
                let value = decode(&self.other_value, item, ctx.node, &name)?;
                (self.joiner)(None, Some(&value))
            };
            if let Some(joined) = joined {
                ctx.forward(Record {
                    key: Value::new(key.clone()),
                    value: Some(Value::new(joined)),
                    timestamp: t,
                    headers: Vec::new(),
                });
            }
        }
        ctx.write(outer.store, store_key, None, t)
    }
}

impl<K: Data, VT: Data, VX: Data, VR: Data> Processor for StreamStreamJoin<K, VT, VX, VR> {
    fn process(&mut self, record: Record, ctx: &mut Ctx<'_>) -> Result<(), TaskError> {
        let (key, Some(value)) = super::typed::<K, VT>(&record, ctx.node)? else {
            return Ok(());
        };
        let (w, t) = (self.windows, record.timestamp);
        if rules::join_record_too_late(t, w.after_ms, w.grace_ms, ctx.stream_time) {
            ctx.record_late_drop();
            return Ok(());
        }
        let key_bytes = encode(&self.key, key, ctx.node, "key")?;
        let value_bytes = encode(&self.this_value, value, ctx.node, "value")?;
        let Some(buffer_key) = layout::keyed_time_key(&key_bytes, t) else {
            return Err(bad_layout(
                ctx.node,
                &ctx.stores.slot(self.this_store)?.spec.name,
            ));
        };
        self.buffer((self.this_store, &buffer_key), &value_bytes, t, ctx)?;
        let range = (t.saturating_sub(w.before_ms), t.saturating_add(w.after_ms));
        let matches = self.matches(&key_bytes, range, ctx)?;
        for (other_t, other) in &matches {
            if let Some(joined) = (self.joiner)(Some(value), Some(other)) {
                let mut out = record.with(record.key.clone(), Some(Value::new(joined)));
                out.timestamp = t.max(*other_t);
                ctx.forward(out);
            }
        }
        match self.outer {
            Some(outer) if !matches.is_empty() => {
                self.forget_joined(outer, &key_bytes, matches.iter().map(|(u, _)| *u), t, ctx)
            }
            Some(outer) if outer.keeps_unmatched => {
                let unmatched = layout::time_side_key(t, outer.side, &key_bytes);
                self.buffer((outer.store, &unmatched), &value_bytes, t, ctx)
            }
            _ => Ok(()),
        }
    }

    fn wants_stream_time(&self) -> bool {
        true
    }

    fn on_stream_time(&mut self, ctx: &mut Ctx<'_>) -> Result<(), TaskError> {
        let Some(kept_from) = rules::join_kept_from(ctx.stream_time, self.windows.retention_ms())
        else {
            return Ok(());
        };
        stored::expire_through(ctx, self.this_store, kept_from.saturating_sub(1))?;
        match self.outer {
            Some(outer) if outer.emits => self.emit_closed(outer, kept_from, ctx),
            _ => Ok(()),
        }
    }
}
