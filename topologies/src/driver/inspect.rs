//! Store inspection for tests: typed views of a task's key-value and window stores.

use super::{typed, TopologyTestDriver};
use crate::dynamic::Data;
use crate::error::{DriverError, TaskError};
use crate::ops::{bad_layout, decode};
use crate::serdes::SerdeRef;
use crate::store::{layout, StoreEntry, StoreKind};

/// A store's kind, entries, and key and value serdes.
type StoreView<K, V> = (StoreKind, Vec<StoreEntry>, SerdeRef<K>, SerdeRef<V>);
use crate::window::{Window, Windowed};

impl TopologyTestDriver {
    /// The rows of the key-value store `name` (a table source's or an aggregation's),
    /// in key-byte order.
    pub fn key_value_store<K: Data, V: Data>(
        &self,
        name: &str,
    ) -> Result<Vec<(K, V)>, DriverError> {
        let (kind, entries, key, value) = self.store_view::<K, V>(name)?;
        if kind != StoreKind::KeyValue {
            return Err(not_kind(name, "key-value"));
        }
        entries
            .iter()
            .map(|(k, v)| {
                let (_, bytes) =
                    layout::split_timestamped(v).ok_or_else(|| bad_layout("driver", name))?;
                Ok((
                    decode(&key, k, "driver", name)?,
                    decode(&value, bytes, "driver", name)?,
                ))
            })
            .collect::<Result<_, TaskError>>()
            .map_err(DriverError::from)
    }

    /// The rows of the window or session store `name` (a windowed aggregation's): by
    /// window start then key bytes, or by key bytes then session end. Closed windows
    /// (and sessions past the gap and grace) are removed.
    pub fn window_store<K: Data, V: Data>(
        &self,
        name: &str,
    ) -> Result<Vec<(Windowed<K>, V)>, DriverError> {
        let (kind, entries, key, value) = self.store_view::<K, V>(name)?;
        let split = |k: &[u8]| -> Option<(i64, i64, Vec<u8>)> {
            match kind {
                StoreKind::Window { size_ms, .. } => {
                    let (start, key_bytes) = layout::split_time_key(k)?;
                    Some((start, start.saturating_add(size_ms), key_bytes.to_vec()))
                }
                StoreKind::Session { .. } => {
                    let (key_bytes, start, end) = layout::split_session_key(k)?;
                    Some((start, end, key_bytes.to_vec()))
                }
                _ => None,
            }
        };
        if !matches!(kind, StoreKind::Window { .. } | StoreKind::Session { .. }) {
            return Err(not_kind(name, "window"));
        }
        entries
            .iter()
            .map(|(k, v)| {
                let (start, end, key_bytes) = split(k).ok_or_else(|| bad_layout("driver", name))?;
                let (_, bytes) =
                    layout::split_timestamped(v).ok_or_else(|| bad_layout("driver", name))?;
                let windowed = Windowed {
                    key: decode(&key, &key_bytes, "driver", name)?,
                    window: Window::new(start, end),
                };
                Ok((windowed, decode(&value, bytes, "driver", name)?))
            })
            .collect::<Result<_, TaskError>>()
            .map_err(DriverError::from)
    }

    fn store_view<K: Data, V: Data>(&self, name: &str) -> Result<StoreView<K, V>, DriverError> {
        let store = self
            .topology
            .inner
            .stores
            .iter()
            .find(|s| s.name == name)
            .ok_or_else(|| DriverError::UnknownStore(name.to_string()))?;
        let (key, value) = (
            typed::<K>(name, &store.key)?,
            typed::<V>(name, &store.value)?,
        );
        let task = self
            .tasks
            .iter()
            .find(|t| t.has_store(name))
            .ok_or_else(|| DriverError::UnknownStore(name.to_string()))?;
        let (kind, entries) = task.store_entries(name)?;
        Ok((kind, entries, key, value))
    }
}

fn not_kind(name: &str, expected: &'static str) -> DriverError {
    DriverError::WrongStoreKind {
        store: name.to_string(),
        expected,
    }
}
