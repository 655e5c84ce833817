//! Windowed aggregate (count, reduce, aggregate) of a grouped stream into a windowed
//! table. Stateful: a window store keyed by window start and group key.
//!
//! Each record updates every window it falls into, unless that window has closed: a
//! window closes when stream time reaches its end plus the grace period
//! (`rules::time_window_closed`); records for closed windows are dropped and counted
//! (`dropped_late_records`). Closed windows are then removed from the store.

use super::aggregate::Aggregator;
use super::{encode, stored, Ctx, Processor, Shared};
use crate::dynamic::{Data, Value};
use crate::error::TaskError;
use crate::record::Record;
use crate::serdes::SerdeRef;
use crate::store::{layout, StoreHandle};
use crate::window::rules;
use crate::window::{TimeWindows, Window, Windowed};

pub(crate) struct WindowAggregate<K, V, VA> {
    pub(crate) store: StoreHandle,
    pub(crate) key: SerdeRef<K>,
    pub(crate) value: SerdeRef<VA>,
    pub(crate) windows: TimeWindows,
    pub(crate) aggregator: Shared<Aggregator<K, V, VA>>,
}

impl<K: Data, V: Data, VA: Data> WindowAggregate<K, V, VA> {
    fn update(
        &self,
        record: &Record,
        window: Window,
        value: V,
        ctx: &mut Ctx<'_>,
    ) -> Result<(), TaskError> {
        let key = record.key.get::<K>(ctx.node)?;
        let store_key =
            layout::time_key(window.start_ms, &encode(&self.key, key, ctx.node, "key")?);
        let old = stored::read(ctx.stores, self.store, &store_key, &self.value, ctx.node)?;
        let timestamp = old
            .as_ref()
            .map_or(record.timestamp, |(t, _)| record.timestamp.max(*t));
        let new = (self.aggregator)(key, value, old.map(|(_, v)| v));
        stored::write(ctx, self.store, &store_key, timestamp, &new, &self.value)?;
        let windowed = Windowed {
            key: key.clone(),
            window,
        };
        ctx.forward(Record {
            key: Value::new(windowed),
            value: Some(Value::new(new)),
            timestamp,
            headers: record.headers.clone(),
        });
        Ok(())
    }
}

impl<K: Data, V: Data, VA: Data> Processor for WindowAggregate<K, V, VA> {
    fn process(&mut self, record: Record, ctx: &mut Ctx<'_>) -> Result<(), TaskError> {
        let Some(value) = record.value.clone() else {
            return Ok(());
        };
        let value = value.take::<V>(ctx.node)?;
        for window in self.windows.windows_for(record.timestamp) {
            if rules::time_window_closed(window.end_ms, ctx.stream_time, self.windows.grace_ms) {
                ctx.record_late_drop();
                continue;
            }
            self.update(&record, window, value.clone(), ctx)?;
        }
        Ok(())
    }

    fn wants_stream_time(&self) -> bool {
        true
    }

    fn on_stream_time(&mut self, ctx: &mut Ctx<'_>) -> Result<(), TaskError> {
        let (size_ms, grace_ms) = (self.windows.size_ms, self.windows.grace_ms);
        match rules::time_windows_closed_through(ctx.stream_time, size_ms, grace_ms) {
            Some(cutoff) => stored::expire_through(ctx, self.store, cutoff),
            None => Ok(()),
        }
    }
}
