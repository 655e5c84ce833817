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

/// The values of a `time ‖ key` store (window stores) stored for `key` at times in
/// `[from, to]`, oldest first, with their times. The store is ordered by time first, so
/// this scans every key in the range and keeps `key`'s entries (a time-indexed store is
/// read with `key_range` instead).
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

/// The values of a time-indexed store (join buffers, `StoreKind::time_indexed`) stored
/// for `key` at times in `[from, to]`, oldest first, with their times: the store is
/// ordered by key first, so this reads only `key`'s entries in the range.
pub(crate) fn key_range(
    stores: &StoreSlots,
    store: StoreHandle,
    key: &[u8],
    (from, to): (i64, i64),
    node: &str,
) -> Result<Vec<(i64, Vec<u8>)>, TaskError> {
    let name = &stores.slot(store)?.spec.name;
    let bad = || bad_layout(node, name);
    if from > to {
        return Ok(Vec::new());
    }
    let (mut lower, upper) = layout::keyed_time_bounds(key, from, to).ok_or_else(bad)?;
    let mut found = Vec::new();
    loop {
        let page = stores.range(store, &lower, Some(&upper), SCAN_PAGE_ENTRIES)?;
        let full = page.len() == SCAN_PAGE_ENTRIES;
        let next = page.last().map(|(last, _)| last.clone());
        for (k, v) in page {
            let (_, t) = layout::split_keyed_time_key(&k).ok_or_else(bad)?;
            found.push((t, v));
        }
        match next {
            Some(mut last) if full => {
                last.push(0);
                lower = last;
            }
            _ => return Ok(found),
        }
    }
}

/// Deletes, without logging, every entry of a time-keyed store whose time is at or
/// before `cutoff`, a page at a time. A time-indexed store is read through its index,
/// and each expired entry leaves with its index entry. The scan starts after the previous cutoff (nothing
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
    let indexed = ctx.stores.slot(store)?.spec.kind.time_indexed();
    let bound = |t: Option<i64>| match (indexed, t) {
        (true, t) => layout::time_index_lower_bound(t),
        (false, Some(t)) => layout::time_lower_bound(t),
        (false, None) => Vec::new(),
    };
    let upper = bound(Some(end));
    let mut lower = bound(previous.and_then(|p| p.checked_add(1)));
    loop {
        let page = ctx
            .stores
            .range(store, &lower, Some(&upper), SCAN_PAGE_ENTRIES)?;
        for (key, _) in &page {
            if indexed {
                let Some(primary) = layout::indexed_primary(key) else {
                    return Err(bad_layout(ctx.node, &ctx.stores.slot(store)?.spec.name));
                };
                ctx.stores.expire(store, &primary)?;
            } else {
                ctx.stores.expire(store, key)?;
            }
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
