//! Windowed stream–stream inner join, one operator per side. Stateful: each side keeps
//! its recent records in a join buffer store (keyed by record time and key). A record is
//! buffered, then joined with every record of the other side with the same key whose
//! time is within the join window; the result carries the later timestamp. Records
//! later than the window plus grace are dropped and counted; older buffered records are
//! removed as stream time advances.

use super::{bad_layout, decode, encode, stored, Ctx, Processor, Shared};
use crate::dynamic::{Data, Value};
use crate::error::TaskError;
use crate::record::Record;
use crate::serdes::SerdeRef;
use crate::store::{layout, StoreHandle, SCAN_PAGE_ENTRIES};
use crate::window::JoinWindows;

pub(crate) struct StreamStreamJoin<K, VT, VX, VR> {
    pub(crate) this_store: StoreHandle,
    pub(crate) other_store: StoreHandle,
    pub(crate) key: SerdeRef<K>,
    pub(crate) this_value: SerdeRef<VT>,
    pub(crate) other_value: SerdeRef<VX>,
    /// The windows as seen from this side.
    pub(crate) windows: JoinWindows,
    pub(crate) joiner: Shared<super::ValueJoiner<VT, VX, VR>>,
}

impl<K: Data, VT: Data, VX: Data, VR: Data> StreamStreamJoin<K, VT, VX, VR> {
    fn buffer(
        &self,
        key: &[u8],
        record: &Record,
        value: &VT,
        ctx: &mut Ctx<'_>,
    ) -> Result<(), TaskError> {
        let store_key = layout::time_key(record.timestamp, key);
        let mut list = ctx.get(self.this_store, &store_key)?.unwrap_or_default();
        let item = encode(&self.this_value, value, ctx.node, "value")?;
        let name = &ctx.stores.slot(self.this_store)?.spec.name;
        layout::push_list_item(&mut list, &item).ok_or_else(|| bad_layout(ctx.node, name))?;
        ctx.write(self.this_store, &store_key, Some(&list), record.timestamp)
    }

    /// The other side's values for `key` with times in `[from, to]`, oldest first.
    fn matches(
        &self,
        key: &[u8],
        from: i64,
        to: i64,
        ctx: &Ctx<'_>,
    ) -> Result<Vec<(i64, VX)>, TaskError> {
        let name = &ctx.stores.slot(self.other_store)?.spec.name;
        let mut lower = layout::time_lower_bound(from);
        let upper = to.checked_add(1).map(layout::time_lower_bound);
        let mut found = Vec::new();
        loop {
            let page = ctx.stores.range(
                self.other_store,
                &lower,
                upper.as_deref(),
                SCAN_PAGE_ENTRIES,
            )?;
            for (k, v) in &page {
                let (t, kb) =
                    layout::split_time_key(k).ok_or_else(|| bad_layout(ctx.node, name))?;
                if kb != key {
                    continue;
                }
                for item in layout::list_items(v).ok_or_else(|| bad_layout(ctx.node, name))? {
                    found.push((t, decode(&self.other_value, item, ctx.node, name)?));
                }
            }
            match page.last() {
                Some((last, _)) if page.len() == SCAN_PAGE_ENTRIES => {
                    lower = last.clone();
                    lower.push(0);
                }
                _ => return Ok(found),
            }
        }
    }

    fn retention_ms(&self) -> i64 {
        let w = self.windows;
        w.before_ms
            .saturating_add(w.after_ms)
            .saturating_add(w.grace_ms)
    }
}

impl<K: Data, VT: Data, VX: Data, VR: Data> Processor for StreamStreamJoin<K, VT, VX, VR> {
    fn process(&mut self, record: Record, ctx: &mut Ctx<'_>) -> Result<(), TaskError> {
        let (key, Some(value)) = super::typed::<K, VT>(&record, ctx.node)? else {
            return Ok(());
        };
        let w = self.windows;
        if record
            .timestamp
            .saturating_add(w.after_ms)
            .saturating_add(w.grace_ms)
            < ctx.stream_time
        {
            ctx.record_late_drop();
            return Ok(());
        }
        let key_bytes = encode(&self.key, key, ctx.node, "key")?;
        self.buffer(&key_bytes, &record, value, ctx)?;
        let from = record.timestamp.saturating_sub(w.before_ms);
        let to = record.timestamp.saturating_add(w.after_ms);
        for (t, other) in self.matches(&key_bytes, from, to, ctx)? {
            let mut out = record.with(
                record.key.clone(),
                Some(Value::new((self.joiner)(value, &other))),
            );
            out.timestamp = record.timestamp.max(t);
            ctx.forward(out);
        }
        Ok(())
    }

    fn wants_stream_time(&self) -> bool {
        true
    }

    fn on_stream_time(&mut self, ctx: &mut Ctx<'_>) -> Result<(), TaskError> {
        if ctx.stream_time == i64::MIN {
            return Ok(());
        }
        let cutoff = ctx
            .stream_time
            .saturating_sub(self.retention_ms())
            .saturating_sub(1);
        stored::expire_through(ctx, self.this_store, cutoff)
    }
}
