//! Sliding-window aggregate (count, reduce, aggregate) of a grouped stream, as Kafka
//! Streams computes it. Stateful: a window store keyed by window start and group key,
//! each window `[start, start + d]` (both ends included) with the latest timestamp of its
//! records.
//!
//! A record at `t` updates every existing window that contains it, and creates the
//! windows that did not exist yet: its own window `[t - d, t]` (from the aggregate of the
//! latest window ending before it, when the previous record is within `d`), the window
//! right after the previous record (`[p + 1, p + 1 + d]`) if `t` falls into it, and the
//! window right after itself (`[t + 1, t + 1 + d]`) if later records fall into that one.
//! Records before `d` (whose windows would start before 0) share the window `[0, d]`.
//!
//! A window takes updates while its end is at or after stream time minus grace
//! (`rules::sliding_window_closed`); updates to older windows are dropped and counted
//! (`dropped_late_records`), and a record for which a window `[t, t + d]` would be
//! closed is dropped whole, counted once (`rules::sliding_record_too_late`). Windows stay
//! in the store until no record that is still accepted can read them (3 × d + grace after
//! their start, `rules::sliding_windows_unread_through`), so when they are removed never
//! changes a result, restart or not.

use super::aggregate::Aggregator;
use super::{decode, encode, stored, Ctx, Processor, Shared};
use crate::dynamic::{Data, Value};
use crate::error::TaskError;
use crate::record::Record;
use crate::serdes::SerdeRef;
use crate::store::{layout, StoreHandle};
use crate::window::rules;
use crate::window::{SlidingWindows, Window, Windowed};

pub(crate) struct SlidingAggregate<K, V, VA> {
    pub(crate) store: StoreHandle,
    pub(crate) key: SerdeRef<K>,
    pub(crate) value: SerdeRef<VA>,
    pub(crate) windows: SlidingWindows,
    pub(crate) aggregator: Shared<Aggregator<K, V, VA>>,
}

/// An aggregate with the latest timestamp of the records in it.
type Timestamped<VA> = (i64, VA);

/// A stored window of the record's key: its start, timestamp and aggregate.
struct Stored<VA> {
    start: i64,
    aggregate: Timestamped<VA>,
}

/// What one record does, for the key it belongs to.
struct Update<'a, K, V> {
    record: &'a Record,
    key: &'a K,
    key_bytes: &'a [u8],
    value: &'a V,
}

/// What the scan of the stored windows around a record found (see `process_in_order`).
struct Found<VA> {
    starts: Vec<i64>,
    /// The aggregate of the latest window ending before the record.
    left: Option<Timestamped<VA>>,
    /// The old aggregate of the latest window containing the record and ending after it.
    right: Option<Timestamped<VA>>,
    left_exists: bool,
    right_exists: bool,
    /// The latest record before this one, if it can matter.
    previous: Option<i64>,
}

impl<K: Data, V: Data, VA: Data> SlidingAggregate<K, V, VA> {
    fn d(&self) -> i64 {
        self.windows.difference_ms
    }

    fn window(&self, start: i64) -> Window {
        Window::new(start, start.saturating_add(self.d()))
    }

    /// The stored windows of the key starting in `[from, to]`, oldest first.
    fn fetch(
        &self,
        u: &Update<'_, K, V>,
        from: i64,
        to: i64,
        ctx: &Ctx<'_>,
    ) -> Result<Vec<Stored<VA>>, TaskError> {
        let name = &ctx.stores.slot(self.store)?.spec.name;
        stored::time_range(ctx.stores, self.store, u.key_bytes, (from, to), ctx.node)?
            .into_iter()
            .map(|(start, bytes)| {
                let (timestamp, value) = layout::split_timestamped(&bytes)
                    .ok_or_else(|| super::bad_layout(ctx.node, name))?;
                let aggregate = decode(&self.value, value, ctx.node, name)?;
                Ok(Stored {
                    start,
                    aggregate: (timestamp, aggregate),
                })
            })
            .collect()
    }

    /// Adds the record to the window starting at `start` whose aggregate was `old`
    /// (`None`: a new window), stores and forwards the result — unless the window has
    /// closed, in which case the update is dropped and counted.
    fn update(
        &self,
        u: &Update<'_, K, V>,
        start: i64,
        old: Option<Timestamped<VA>>,
        ctx: &mut Ctx<'_>,
    ) -> Result<(), TaskError> {
        let window = self.window(start);
        if rules::sliding_window_closed(window.end_ms, ctx.stream_time, self.windows.grace_ms) {
            ctx.record_late_drop();
            return Ok(());
        }
        let t = u.record.timestamp;
        let timestamp = old.as_ref().map_or(t, |(old_t, _)| t.max(*old_t));
        let new = (self.aggregator)(u.key, u.value.clone(), old.map(|(_, agg)| agg));
        self.put(u, window, (timestamp, new), ctx)
    }

    /// Stores `aggregate` as the window's and forwards it.
    fn put(
        &self,
        u: &Update<'_, K, V>,
        window: Window,
        (timestamp, aggregate): Timestamped<VA>,
        ctx: &mut Ctx<'_>,
    ) -> Result<(), TaskError> {
        let store_key = layout::time_key(window.start_ms, u.key_bytes);
        stored::write(
            ctx,
            self.store,
            &store_key,
            timestamp,
            &aggregate,
            &self.value,
        )?;
        let windowed = Windowed {
            key: u.key.clone(),
            window,
        };
        ctx.forward(Record {
            key: Value::new(windowed),
            value: Some(Value::new(aggregate)),
            timestamp,
            headers: u.record.headers.clone(),
        });
        Ok(())
    }

    /// A record at `t >= d`: updates the windows around it in start order, then creates
    /// the missing ones.
    fn process_in_order(&self, u: &Update<'_, K, V>, ctx: &mut Ctx<'_>) -> Result<(), TaskError> {
        let (t, d) = (u.record.timestamp, self.d());
        let stored = self.fetch(
            u,
            t.saturating_sub(d.saturating_mul(2)).max(0),
            t.saturating_add(1),
            ctx,
        )?;
        let mut found = Found {
            starts: Vec::with_capacity(stored.len()),
            left: None,
            right: None,
            left_exists: false,
            right_exists: false,
            previous: None,
        };
        for window in stored {
            found.starts.push(window.start);
            let end = window.start.saturating_add(d);
            let max_t = window.aggregate.0;
            if end < t {
                found.previous = Some(max_t);
                found.left = Some(window.aggregate);
            } else if end == t {
                found.left_exists = true;
                if max_t < t {
                    found.previous = Some(max_t);
                }
                self.update(u, window.start, Some(window.aggregate), ctx)?;
            } else if window.start <= t {
                found.right = Some(window.aggregate.clone());
                self.update(u, window.start, Some(window.aggregate), ctx)?;
            } else {
                // The fetch ends at `t + 1`: this is the window right after the record.
                found.right_exists = true;
            }
        }
        self.create_windows(u, found, ctx)
    }

    fn create_windows(
        &self,
        u: &Update<'_, K, V>,
        found: Found<VA>,
        ctx: &mut Ctx<'_>,
    ) -> Result<(), TaskError> {
        let (t, d) = (u.record.timestamp, self.d());
        if let Some(previous) = found.previous {
            // The window right after the previous record, if the record falls into it.
            let start = previous.saturating_add(1);
            if !found.starts.contains(&start) && start.saturating_add(d) >= t {
                self.update(u, start, None, ctx)?;
            }
        }
        if !found.left_exists {
            // The record's own window holds the previous record's window's records if the
            // previous record is within `d`.
            let previous_within = found.previous.is_some_and(|p| t.saturating_sub(d) <= p);
            let old = found
                .left
                .filter(|_| previous_within)
                .map(|(_, agg)| (t, agg));
            self.update(u, t.saturating_sub(d), old, ctx)?;
        }
        self.create_right_window(u, found.right_exists, found.right, ctx)
    }

    /// The window right after the record, holding the later records the window found
    /// around it holds, if there are any; the record itself is not in it.
    fn create_right_window(
        &self,
        u: &Update<'_, K, V>,
        exists: bool,
        right: Option<Timestamped<VA>>,
        ctx: &mut Ctx<'_>,
    ) -> Result<(), TaskError> {
        let t = u.record.timestamp;
        match right {
            Some(aggregate) if !exists && aggregate.0 > t => {
                self.put(u, self.window(t.saturating_add(1)), aggregate, ctx)
            }
            _ => Ok(()),
        }
    }

    /// A record at `t < d`, whose own window would start before 0: early records share
    /// the window `[0, d]`.
    fn process_early(&self, u: &Update<'_, K, V>, ctx: &mut Ctx<'_>) -> Result<(), TaskError> {
        let t = u.record.timestamp;
        let mut combined: Option<Timestamped<VA>> = None;
        let mut right: Option<Timestamped<VA>> = None;
        let mut right_exists = false;
        let mut previous = None;
        let mut starts = Vec::new();
        for window in self.fetch(u, 0, t.saturating_add(1), ctx)? {
            starts.push(window.start);
            let max_t = window.aggregate.0;
            if window.start == 0 {
                if max_t < t {
                    previous = Some(max_t);
                }
                combined = Some(window.aggregate);
            } else if window.start <= t {
                right = Some(window.aggregate.clone());
                self.update(u, window.start, Some(window.aggregate), ctx)?;
            } else {
                right_exists = true;
            }
        }
        // Without a window between 0 and `t`, the combined window's records after `t`
        // are exactly those of the record's following window.
        if right.is_none() {
            right = combined.clone().filter(|(max_t, _)| *max_t > t);
        }
        self.create_right_window(u, right_exists, right, ctx)?;
        if let Some(previous) = previous {
            let start = previous.saturating_add(1);
            if !starts.contains(&start) {
                self.update(u, start, None, ctx)?;
            }
        }
        self.update(u, 0, combined, ctx)
    }
}

impl<K: Data, V: Data, VA: Data> Processor for SlidingAggregate<K, V, VA> {
    fn process(&mut self, record: Record, ctx: &mut Ctx<'_>) -> Result<(), TaskError> {
        let Some(value) = record.value.clone() else {
            return Ok(());
        };
        let value = value.take::<V>(ctx.node)?;
        let key = record.key.get::<K>(ctx.node)?;
        let t = record.timestamp;
        if rules::sliding_record_too_late(t, self.d(), ctx.stream_time, self.windows.grace_ms) {
            ctx.record_late_drop();
            return Ok(());
        }
        let key_bytes = encode(&self.key, key, ctx.node, "key")?;
        let update = Update {
            record: &record,
            key,
            key_bytes: &key_bytes,
            value: &value,
        };
        if t < self.d() {
            self.process_early(&update, ctx)
        } else {
            self.process_in_order(&update, ctx)
        }
    }

    fn wants_stream_time(&self) -> bool {
        true
    }

    fn on_stream_time(&mut self, ctx: &mut Ctx<'_>) -> Result<(), TaskError> {
        let grace_ms = self.windows.grace_ms;
        match rules::sliding_windows_unread_through(ctx.stream_time, self.d(), grace_ms) {
            Some(cutoff) => stored::expire_through(ctx, self.store, cutoff),
            None => Ok(()),
        }
    }
}
