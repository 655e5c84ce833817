//! Typed reads and writes of timestamped store values, shared by the stateful operators.

use super::{bad_layout, decode, encode, Ctx};
use crate::error::TaskError;
use crate::serdes::SerdeRef;
use crate::store::{layout, StoreHandle, StoreSlots, SCAN_PAGE_ENTRIES};

/// The value and timestamp stored under `key`, if any.
pub(crate) fn read<T>(
    stores: &StoreSlots,
    store: StoreHandle,
    key: &[u8],
    serde: &SerdeRef<T>,
    node: &str,
) -> Result<Option<(i64, T)>, TaskError> {
    let Some(bytes) = stores.get(store, key)? else {
        return Ok(None);
    };
    let name = &stores.slot(store)?.spec.name;
    let (timestamp, value) =
        layout::split_timestamped(&bytes).ok_or_else(|| bad_layout(node, name))?;
    Ok(Some((timestamp, decode(serde, value, node, name)?)))
}

/// Stores `value` with `timestamp` under `key`, logging the change.
pub(crate) fn write<T>(
    ctx: &mut Ctx<'_>,
    store: StoreHandle,
    key: &[u8],
    timestamp: i64,
    value: &T,
    serde: &SerdeRef<T>,
) -> Result<(), TaskError> {
    let bytes = layout::timestamped(timestamp, &encode(serde, value, ctx.node, "value")?);
    ctx.write(store, key, Some(&bytes), timestamp)
}

/// The values of a `time ‖ key` store (window stores, join buffers) stored for `key` at
/// times in `[from, to]`, oldest first, with their times. The store is ordered by time
/// first, so this scans every key in the range and keeps `key`'s entries.
pub(crate) fn time_range(
    stores: &StoreSlots,
    store: StoreHandle,
    key: &[u8],
    (from, to): (i64, i64),
    node: &str,
) -> Result<Vec<(i64, Vec<u8>)>, TaskError> {
    let name = &stores.slot(store)?.spec.name;
    let mut lower = layout::time_lower_bound(from);
    let upper = to.checked_add(1).map(layout::time_lower_bound);
    let mut found = Vec::new();
    loop {
        let page = stores.range(store, &lower, upper.as_deref(), SCAN_PAGE_ENTRIES)?;
        for (k, v) in &page {
            let (t, entry_key) = layout::split_time_key(k).ok_or_else(|| bad_layout(node, name))?;
            if entry_key == key {
                found.push((t, v.clone()));
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

/// Deletes, without logging, every entry of a time-keyed store whose time is at or
/// before `cutoff`, a page at a time. The scan starts after the previous cutoff (nothing
/// is written at or before a cutoff, which only grows), so a cutoff that did not move
/// costs nothing and a store that keeps deletions as tombstones (fjall) is not walked
/// from its start for every record.
pub(crate) fn expire_through(
    ctx: &mut Ctx<'_>,
    store: StoreHandle,
    cutoff: i64,
) -> Result<(), TaskError> {
    let Some(end) = cutoff.checked_add(1) else {
        return Ok(());
    };
    let previous = ctx.stores.expired_through(store)?;
    if previous.is_some_and(|p| p >= cutoff) {
        return Ok(());
    }
    let upper = layout::time_lower_bound(end);
    let mut lower = previous
        .and_then(|p| p.checked_add(1))
        .map_or_else(Vec::new, layout::time_lower_bound);
    loop {
        let page = ctx
            .stores
            .range(store, &lower, Some(&upper), SCAN_PAGE_ENTRIES)?;
        for (key, _) in &page {
            ctx.stores.expire(store, key)?;
        }
        match page.last() {
            Some((last, _)) if page.len() == SCAN_PAGE_ENTRIES => {
                lower = last.clone();
                lower.push(0);
            }
            _ => break,
        }
    }
    ctx.stores.set_expired_through(store, cutoff)
}
