//! Session-windowed aggregate (count, reduce, aggregate) of a grouped stream. Stateful:
//! a session store keyed by key, session end and start.
//!
//! A record joins every session of its key that ends at most the gap before it or starts
//! at most the gap after it; those sessions merge into one (their aggregates combined
//! with the merger), the old ones are deleted and forwarded as tombstones, the merged
//! one forwarded as the new result.
//!
//! A session closes gap + grace after its end, as in Kafka Streams (since KAFKA-12718,
//! `rules::session_closed`): a record within the gap could still merge into it until
//! then, and such a record is accepted for the grace period. A record whose merged
//! session ended before stream time minus gap minus grace is dropped and counted, and a
//! closed session is gone: it takes no records and is not read. That rule is applied
//! when sessions are read, so when the physical sweep runs (which differs after a
//! restart) never changes a result.

use super::aggregate::Aggregator;
use super::{bad_layout, encode, stored, Ctx, Processor, Shared};
use crate::dynamic::{Data, Value};
use crate::error::TaskError;
use crate::record::Record;
use crate::serdes::SerdeRef;
use crate::store::{layout, StoreHandle, SCAN_PAGE_ENTRIES};
use crate::window::rules;
use crate::window::{SessionWindows, Window, Windowed};

/// Combines the aggregates of two sessions that merge.
pub(crate) type Merger<K, VA> = dyn Fn(&K, VA, VA) -> VA + Send + Sync;

pub(crate) struct SessionAggregate<K, V, VA> {
    pub(crate) store: StoreHandle,
    pub(crate) key: SerdeRef<K>,
    pub(crate) value: SerdeRef<VA>,
    pub(crate) windows: SessionWindows,
    pub(crate) aggregator: Shared<Aggregator<K, V, VA>>,
    pub(crate) merger: Shared<Merger<K, VA>>,
    /// Stream time of the last sweep of expired sessions (not kept across restarts:
    /// sweeping earlier or later never changes results, see `sweep`).
    pub(crate) swept_at: i64,
}

/// A stored session: its store key, window, timestamp and aggregate.
struct Session<VA> {
    store_key: Vec<u8>,
    window: Window,
    timestamp: i64,
    aggregate: VA,
}

impl<K: Data, V: Data, VA: Data> SessionAggregate<K, V, VA> {
    /// The sessions of `key` that a record at `t` joins.
    fn overlapping(
        &self,
        key: &[u8],
        t: i64,
        ctx: &Ctx<'_>,
    ) -> Result<Vec<Session<VA>>, TaskError> {
        let name = ctx.stores.slot(self.store)?.spec.name.clone();
        let bad = || bad_layout(ctx.node, &name);
        let prefix = layout::session_prefix(key).ok_or_else(bad)?;
        let mut from = prefix.clone();
        let (gap_ms, grace_ms) = (self.windows.gap_ms, self.windows.grace_ms);
        let open_from = rules::sessions_open_from(ctx.stream_time, gap_ms, grace_ms);
        from.extend_from_slice(&layout::time_bytes(
            t.saturating_sub(self.windows.gap_ms).max(open_from),
        ));
        let mut to = prefix;
        to.extend_from_slice(&[0xff; 17]);
        let mut sessions = Vec::new();
        loop {
            let page = ctx
                .stores
                .range(self.store, &from, Some(&to), SCAN_PAGE_ENTRIES)?;
            for (store_key, bytes) in &page {
                let (_, start, end) = layout::split_session_key(store_key).ok_or_else(bad)?;
                if start > t.saturating_add(self.windows.gap_ms) {
                    continue;
                }
                let (timestamp, value) = layout::split_timestamped(bytes).ok_or_else(bad)?;
                sessions.push(Session {
                    store_key: store_key.clone(),
                    window: Window::new(start, end),
                    timestamp,
                    aggregate: super::decode(&self.value, value, ctx.node, &name)?,
                });
            }
            match page.last() {
                Some((last, _)) if page.len() == SCAN_PAGE_ENTRIES => {
                    from = last.clone();
                    from.push(0);
                }
                _ => return Ok(sessions),
            }
        }
    }

    fn forward(
        &self,
        record: &Record,
        key: &K,
        window: Window,
        value: Option<VA>,
        timestamp: i64,
        ctx: &mut Ctx<'_>,
    ) {
        let windowed = Windowed {
            key: key.clone(),
            window,
        };
        let mut out = record.with(Value::new(windowed), value.map(Value::new));
        out.timestamp = timestamp;
        ctx.forward(out);
    }

    /// Removes, without logging, closed sessions. Reads ignore them already, so this
    /// only frees space; it runs once per close delay (gap + grace) of stream time to
    /// keep full scans rare.
    fn sweep(&mut self, ctx: &mut Ctx<'_>) -> Result<(), TaskError> {
        let horizon = self.windows.close_delay_ms();
        if ctx.stream_time == rules::NO_STREAM_TIME
            || ctx.stream_time < self.swept_at.saturating_add(horizon)
        {
            return Ok(());
        }
        self.swept_at = ctx.stream_time;
        let (gap_ms, grace_ms) = (self.windows.gap_ms, self.windows.grace_ms);
        let name = ctx.stores.slot(self.store)?.spec.name.clone();
        let mut from = Vec::new();
        loop {
            let page = ctx
                .stores
                .range(self.store, &from, None, SCAN_PAGE_ENTRIES)?;
            for (key, _) in &page {
                let (_, _, end) =
                    layout::split_session_key(key).ok_or_else(|| bad_layout(ctx.node, &name))?;
                if rules::session_closed(end, ctx.stream_time, gap_ms, grace_ms) {
                    ctx.stores.expire(self.store, key)?;
                }
            }
            match page.last() {
                Some((last, _)) if page.len() == SCAN_PAGE_ENTRIES => {
                    from = last.clone();
                    from.push(0);
                }
                _ => return Ok(()),
            }
        }
    }
}

impl<K: Data, V: Data, VA: Data> Processor for SessionAggregate<K, V, VA> {
    fn process(&mut self, record: Record, ctx: &mut Ctx<'_>) -> Result<(), TaskError> {
        let Some(value) = record.value.clone() else {
            return Ok(());
        };
        let key = record.key.get::<K>(ctx.node)?.clone();
        let key_bytes = encode(&self.key, &key, ctx.node, "key")?;
        let t = record.timestamp;
        let sessions = self.overlapping(&key_bytes, t, ctx)?;
        let start = sessions.iter().map(|s| s.window.start_ms).fold(t, i64::min);
        let end = sessions.iter().map(|s| s.window.end_ms).fold(t, i64::max);
        if rules::session_closed(
            end,
            ctx.stream_time,
            self.windows.gap_ms,
            self.windows.grace_ms,
        ) {
            ctx.record_late_drop();
            return Ok(());
        }
        let timestamp = sessions.iter().map(|s| s.timestamp).fold(t, i64::max);
        let name = ctx.stores.slot(self.store)?.spec.name.clone();
        let new_key = layout::session_key(&key_bytes, start, end)
            .ok_or_else(|| bad_layout(ctx.node, &name))?;
        let mut merged: Option<VA> = None;
        for session in sessions {
            merged = Some(match merged {
                Some(acc) => (self.merger)(&key, acc, session.aggregate),
                None => session.aggregate,
            });
            if session.store_key != new_key {
                ctx.write(self.store, &session.store_key, None, t)?;
                self.forward(&record, &key, session.window, None, t, ctx);
            }
        }
        let aggregate = (self.aggregator)(&key, value.take::<V>(ctx.node)?, merged);
        stored::write(
            ctx,
            self.store,
            &new_key,
            timestamp,
            &aggregate,
            &self.value,
        )?;
        self.forward(
            &record,
            &key,
            Window::new(start, end),
            Some(aggregate),
            timestamp,
            ctx,
        );
        Ok(())
    }

    fn wants_stream_time(&self) -> bool {
        true
    }

    fn on_stream_time(&mut self, ctx: &mut Ctx<'_>) -> Result<(), TaskError> {
        self.sweep(ctx)
    }
}
