//! Suppress until the window closes, on a windowed table. Stateful: a buffer store keyed
//! by window end and windowed key holds the latest update of every open window; when
//! stream time reaches a window's end plus the table's close delay (grace; gap + grace
//! for sessions), its final value is emitted (in window end order) and removed
//! (`rules::final_through`). Headers do not survive the buffer.

use super::{bad_layout, decode, encode, stored, Ctx, Processor};
use crate::dynamic::{Data, Value};
use crate::error::TaskError;
use crate::record::Record;
use crate::serdes::SerdeRef;
use crate::store::{layout, StoreHandle, SCAN_PAGE_ENTRIES};
use crate::window::{rules, Windowed};

pub(crate) struct Suppress<K, V> {
    pub(crate) store: StoreHandle,
    pub(crate) key: SerdeRef<Windowed<K>>,
    pub(crate) value: SerdeRef<V>,
    /// How long after a window's end its final result is emitted: the grace period, or
    /// gap + grace for sessions.
    pub(crate) grace_ms: i64,
}

impl<K: Data, V: Data> Suppress<K, V> {
    fn evict(&self, ctx: &mut Ctx<'_>) -> Result<(), TaskError> {
        let Some(end) = rules::final_through(ctx.stream_time, self.grace_ms)
            .and_then(|through| through.checked_add(1))
        else {
            return Ok(());
        };
        let upper = layout::time_lower_bound(end);
        loop {
            let page = ctx
                .stores
                .range(self.store, &[], Some(&upper), SCAN_PAGE_ENTRIES)?;
            for (key, value) in &page {
                self.emit(key, value, ctx)?;
            }
            if page.len() < SCAN_PAGE_ENTRIES {
                return Ok(());
            }
        }
    }

    fn emit(&self, key: &[u8], value: &[u8], ctx: &mut Ctx<'_>) -> Result<(), TaskError> {
        let name = ctx.stores.slot(self.store)?.spec.name.clone();
        let (_, key_bytes) =
            layout::split_time_key(key).ok_or_else(|| bad_layout(ctx.node, &name))?;
        let (timestamp, value_bytes) =
            layout::split_timestamped(value).ok_or_else(|| bad_layout(ctx.node, &name))?;
        let windowed = decode(&self.key, key_bytes, ctx.node, &name)?;
        let v = decode(&self.value, value_bytes, ctx.node, &name)?;
        ctx.write(self.store, key, None, timestamp)?;
        ctx.forward(Record {
            key: Value::new(windowed),
            value: Some(Value::new(v)),
            timestamp,
            headers: Vec::new(),
        });
        Ok(())
    }
}

impl<K: Data, V: Data> Processor for Suppress<K, V> {
    fn process(&mut self, record: Record, ctx: &mut Ctx<'_>) -> Result<(), TaskError> {
        let (windowed, value) = super::typed::<Windowed<K>, V>(&record, ctx.node)?;
        let key_bytes = encode(&self.key, windowed, ctx.node, "key")?;
        let buffer_key = layout::time_key(windowed.window.end_ms, &key_bytes);
        match value {
            Some(v) => stored::write(
                ctx,
                self.store,
                &buffer_key,
                record.timestamp,
                v,
                &self.value,
            )?,
            None => ctx.write(self.store, &buffer_key, None, record.timestamp)?,
        }
        self.evict(ctx)
    }

    fn wants_stream_time(&self) -> bool {
        true
    }

    fn on_stream_time(&mut self, ctx: &mut Ctx<'_>) -> Result<(), TaskError> {
        self.evict(ctx)
    }
}
