//! Interactive queries: what a store holds for one key, as a caller outside the task sees
//! it — the value serde's bytes, without the timestamp the store keeps in front of them
//! (Kafka's `KeyValueStore` view of a timestamped store).
//!
//! Key-value stores answer with one value; window and session stores with every window of
//! the key (Kafka's `fetch(key)` over all times). Buffers (suppression, joins) are the
//! operators' own bookkeeping and cannot be queried.

use super::layout;
use super::{StoreHandle, StoreKind, StoreSlots, SCAN_PAGE_ENTRIES};
use crate::error::TaskError;
use crate::ops::bad_layout;

/// One window (or session) of a key, and its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowedValue {
    /// The window's start, in ms (inclusive).
    pub start: i64,
    /// The window's end, in ms (exclusive for time windows, inclusive for sessions and
    /// sliding windows, as in Kafka).
    pub end: i64,
    /// The value serde's bytes.
    pub value: Vec<u8>,
}

/// What a store holds for one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreLookup {
    /// A key-value store's value (the value serde's bytes); `None` if the key is absent.
    Value(Option<Vec<u8>>),
    /// A window or session store's windows of the key, by start time; empty if none.
    Windows(Vec<WindowedValue>),
}

/// The value part of a timestamped store value.
fn untimestamped(store: &str, bytes: &[u8]) -> Result<Vec<u8>, TaskError> {
    layout::split_timestamped(bytes)
        .map(|(_, value)| value.to_vec())
        .ok_or_else(|| bad_layout("query", store))
}

/// Reads the key `key` (its key serde's bytes) from the store `handle`.
pub(crate) fn lookup(
    slots: &StoreSlots,
    handle: StoreHandle,
    key: &[u8],
) -> Result<StoreLookup, TaskError> {
    let spec = &slots.slot(handle)?.spec;
    let store = spec.name.as_str();
    let mut windows = Vec::new();
    match spec.kind {
        StoreKind::KeyValue => {
            let value = slots.get(handle, key)?;
            return Ok(StoreLookup::Value(
                value.map(|v| untimestamped(store, &v)).transpose()?,
            ));
        }
        StoreKind::Window { size_ms, .. } => {
            // Window stores are ordered by window start first: every window of the key is
            // found only by a scan of the whole store (bounded by its retention).
            scan(slots, handle, Vec::new(), |k, v| {
                let (start, key_bytes) =
                    layout::split_time_key(k).ok_or_else(|| bad_layout("query", store))?;
                if key_bytes == key {
                    windows.push(WindowedValue {
                        start,
                        end: start.saturating_add(size_ms),
                        value: untimestamped(store, v)?,
                    });
                }
                Ok(true)
            })?;
        }
        StoreKind::Session { .. } => {
            // Session keys start with the record key: its sessions are one range.
            let prefix = layout::session_prefix(key).ok_or_else(|| bad_layout("query", store))?;
            scan(slots, handle, prefix.clone(), |k, v| {
                if !k.starts_with(&prefix) {
                    return Ok(false);
                }
                let (_, start, end) =
                    layout::split_session_key(k).ok_or_else(|| bad_layout("query", store))?;
                windows.push(WindowedValue {
                    start,
                    end,
                    value: untimestamped(store, v)?,
                });
                Ok(true)
            })?;
        }
        StoreKind::SuppressionBuffer
        | StoreKind::JoinBuffer { .. }
        | StoreKind::OuterJoinBuffer { .. } => {
            return Err(TaskError::NotQueryable {
                store: store.to_string(),
            })
        }
    }
    windows.sort_by_key(|w| (w.start, w.end));
    Ok(StoreLookup::Windows(windows))
}

/// Visits the entries of store `handle` from `from` on, in key order and page by page,
/// while `visit` returns `true`.
fn scan(
    slots: &StoreSlots,
    handle: StoreHandle,
    mut from: Vec<u8>,
    mut visit: impl FnMut(&[u8], &[u8]) -> Result<bool, TaskError>,
) -> Result<(), TaskError> {
    loop {
        let page = slots.range(handle, &from, None, SCAN_PAGE_ENTRIES)?;
        for (k, v) in &page {
            if !visit(k, v)? {
                return Ok(());
            }
        }
        match page.last() {
            Some((last, _)) if page.len() == SCAN_PAGE_ENTRIES => {
                // The smallest key after `last`.
                from = last.clone();
                from.push(0);
            }
            _ => return Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::{
        InMemoryStoreSupplier, InputRecord, SessionWindows, StreamsBuilder, StreamsConfig, Task,
        TaskId, TimeWindows, Topology,
    };

    /// One stream counted three ways: per key, per 10 s window, per session (gap 5 s); a
    /// grace of a minute keeps every window open.
    fn topology() -> Topology {
        let builder = StreamsBuilder::new();
        let clicks = builder.stream::<String, String>("clicks").group_by_key();
        clicks.count().named("totals");
        clicks
            .windowed_by(TimeWindows::of(Duration::from_secs(10)).grace(Duration::from_secs(60)))
            .count()
            .named("per-10s");
        clicks
            .windowed_by_session(
                SessionWindows::with_inactivity_gap(Duration::from_secs(5))
                    .grace(Duration::from_secs(60)),
            )
            .count()
            .named("sessions");
        builder.build().expect("topology builds")
    }

    fn click(offset: i64, key: &str, timestamp: i64) -> InputRecord {
        InputRecord {
            topic: "clicks".into(),
            partition: 0,
            offset,
            key: Some(key.as_bytes().to_vec()),
            value: Some(b"/".to_vec()),
            timestamp,
            headers: Vec::new(),
        }
    }

    fn count(n: u64) -> Vec<u8> {
        n.to_be_bytes().to_vec()
    }

    #[test]
    fn lookups_read_key_value_window_and_session_stores_by_key() {
        let topology = topology();
        let id = TaskId {
            subtopology: 0,
            partition: 0,
        };
        let config = StreamsConfig::new("app");
        let mut task = Task::new(&topology, &config, id, &mut InMemoryStoreSupplier).unwrap();
        for (offset, (key, time)) in [("a", 1_000), ("b", 2_000), ("a", 3_000), ("a", 12_000)]
            .into_iter()
            .enumerate()
        {
            task.process(click(offset as i64, key, time)).unwrap();
        }
        assert_eq!(
            task.lookup("totals", b"a").unwrap(),
            StoreLookup::Value(Some(count(3)))
        );
        assert_eq!(
            task.lookup("totals", b"zzz").unwrap(),
            StoreLookup::Value(None)
        );
        let window = |start, end, n| WindowedValue {
            start,
            end,
            value: count(n),
        };
        assert_eq!(
            task.lookup("per-10s", b"a").unwrap(),
            StoreLookup::Windows(vec![window(0, 10_000, 2), window(10_000, 20_000, 1)])
        );
        assert_eq!(
            task.lookup("per-10s", b"b").unwrap(),
            StoreLookup::Windows(vec![window(0, 10_000, 1)])
        );
        // "a" at 1 s and 3 s share a session; 12 s is past the 5 s gap.
        assert_eq!(
            task.lookup("sessions", b"a").unwrap(),
            StoreLookup::Windows(vec![window(1_000, 3_000, 2), window(12_000, 12_000, 1)])
        );
        assert_eq!(
            task.lookup("sessions", b"").unwrap(),
            StoreLookup::Windows(Vec::new())
        );
        assert!(matches!(
            task.lookup("nope", b"a"),
            Err(TaskError::UnknownStore { .. })
        ));
        assert_eq!(topology.store_owner("per-10s").map(|(s, _)| s), Some(0));
        assert_eq!(
            topology.serialize_store_key("totals", &"a".to_string()),
            Ok(b"a".to_vec())
        );
        assert!(matches!(
            topology.deserialize_store_value::<String>("totals", &count(3)),
            Err(crate::StoreSerdeError::TypeMismatch { .. })
        ));
    }
}
