//! The byte layouts operators use inside state stores (documented on `StoreKind`).

const TIME_BYTES: usize = 8;
const LEN_BYTES: usize = 4;
const SIGN_BIT: u64 = 1 << 63;

/// A time as 8 bytes that sort like the signed number.
pub(crate) fn time_bytes(t: i64) -> [u8; TIME_BYTES] {
    ((t as u64) ^ SIGN_BIT).to_be_bytes()
}

fn read_time(bytes: &[u8]) -> Option<i64> {
    let raw: [u8; TIME_BYTES] = bytes.get(..TIME_BYTES)?.try_into().ok()?;
    Some((u64::from_be_bytes(raw) ^ SIGN_BIT) as i64)
}

/// `time ‖ key`: window, suppression-buffer and join-buffer keys.
pub(crate) fn time_key(t: i64, key: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(TIME_BYTES + key.len());
    bytes.extend_from_slice(&time_bytes(t));
    bytes.extend_from_slice(key);
    bytes
}

/// Splits a `time ‖ key` store key.
pub(crate) fn split_time_key(bytes: &[u8]) -> Option<(i64, &[u8])> {
    Some((read_time(bytes)?, bytes.get(TIME_BYTES..)?))
}

/// `time ‖ side ‖ key`: the keys of an outer-join buffer (records not joined yet).
pub(crate) fn time_side_key(t: i64, side: u8, key: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(TIME_BYTES + 1 + key.len());
    bytes.extend_from_slice(&time_bytes(t));
    bytes.push(side);
    bytes.extend_from_slice(key);
    bytes
}

/// Splits a `time ‖ side ‖ key` store key.
pub(crate) fn split_time_side_key(bytes: &[u8]) -> Option<(i64, u8, &[u8])> {
    let (t, rest) = split_time_key(bytes)?;
    let (side, key) = rest.split_first()?;
    Some((t, *side, key))
}

/// The first key of all entries with a time at or after `t`.
pub(crate) fn time_lower_bound(t: i64) -> Vec<u8> {
    time_bytes(t).to_vec()
}

/// The tag of a time-indexed store's primary entries: `0 ‖ len ‖ key ‖ time`.
const KEYED_TAG: u8 = 0;
/// The tag of a time-indexed store's index entries: `1 ‖ time ‖ key`.
const INDEX_TAG: u8 = 1;

/// `0 ‖ len ‖ key`: the prefix of every primary entry of `key` in a time-indexed store.
fn keyed_prefix(key: &[u8]) -> Option<Vec<u8>> {
    let len = u32::try_from(key.len()).ok()?;
    let mut bytes = Vec::with_capacity(1 + LEN_BYTES + key.len() + TIME_BYTES);
    bytes.push(KEYED_TAG);
    bytes.extend_from_slice(&len.to_be_bytes());
    bytes.extend_from_slice(key);
    Some(bytes)
}

/// `0 ‖ len ‖ key ‖ time`: a primary key of a time-indexed store (join buffers). The
/// entries of one key are contiguous and in time order, so a lookup of one key over a
/// time range reads only that key's entries.
pub(crate) fn keyed_time_key(key: &[u8], t: i64) -> Option<Vec<u8>> {
    let mut bytes = keyed_prefix(key)?;
    bytes.extend_from_slice(&time_bytes(t));
    Some(bytes)
}

/// Splits a primary key of a time-indexed store into key bytes and time.
pub(crate) fn split_keyed_time_key(bytes: &[u8]) -> Option<(&[u8], i64)> {
    let (&tag, rest) = bytes.split_first()?;
    if tag != KEYED_TAG {
        return None;
    }
    let raw: [u8; LEN_BYTES] = rest.get(..LEN_BYTES)?.try_into().ok()?;
    let key_end = LEN_BYTES.checked_add(usize::try_from(u32::from_be_bytes(raw)).ok()?)?;
    let key = rest.get(LEN_BYTES..key_end)?;
    let time = rest.get(key_end..)?;
    if time.len() != TIME_BYTES {
        return None;
    }
    Some((key, read_time(time)?))
}

/// The bounds `[lower, upper)` of the primary keys of `key` with times in `[from, to]`.
pub(crate) fn keyed_time_bounds(key: &[u8], from: i64, to: i64) -> Option<(Vec<u8>, Vec<u8>)> {
    let prefix = keyed_prefix(key)?;
    let mut lower = prefix.clone();
    lower.extend_from_slice(&time_bytes(from));
    // `prefix ‖ time(to) ‖ 0` follows `key`'s entry at `to` and precedes every later one.
    let mut upper = prefix;
    upper.extend_from_slice(&time_bytes(to));
    upper.push(0);
    Some((lower, upper))
}

/// The time-index key `1 ‖ time ‖ key` of a time-indexed store's primary key; `None` if
/// `primary` is not one.
pub(crate) fn time_index_key(primary: &[u8]) -> Option<Vec<u8>> {
    let (key, t) = split_keyed_time_key(primary)?;
    let mut bytes = Vec::with_capacity(1 + TIME_BYTES + key.len());
    bytes.push(INDEX_TAG);
    bytes.extend_from_slice(&time_bytes(t));
    bytes.extend_from_slice(key);
    Some(bytes)
}

/// The primary key a time-index key points to; `None` if `index` is not one.
pub(crate) fn indexed_primary(index: &[u8]) -> Option<Vec<u8>> {
    let (&tag, rest) = index.split_first()?;
    if tag != INDEX_TAG {
        return None;
    }
    let (t, key) = split_time_key(rest)?;
    keyed_time_key(key, t)
}

/// The first time-index key of all entries with a time at or after `t` (`None`: the
/// first of all).
pub(crate) fn time_index_lower_bound(t: Option<i64>) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(1 + TIME_BYTES);
    bytes.push(INDEX_TAG);
    if let Some(t) = t {
        bytes.extend_from_slice(&time_bytes(t));
    }
    bytes
}

/// The prefix of all session keys of one record key: `len ‖ key`.
pub(crate) fn session_prefix(key: &[u8]) -> Option<Vec<u8>> {
    let len = u32::try_from(key.len()).ok()?;
    let mut bytes = Vec::with_capacity(LEN_BYTES + key.len() + 2 * TIME_BYTES);
    bytes.extend_from_slice(&len.to_be_bytes());
    bytes.extend_from_slice(key);
    Some(bytes)
}

/// `len ‖ key ‖ end ‖ start`: a session store key.
pub(crate) fn session_key(key: &[u8], start: i64, end: i64) -> Option<Vec<u8>> {
    let mut bytes = session_prefix(key)?;
    bytes.extend_from_slice(&time_bytes(end));
    bytes.extend_from_slice(&time_bytes(start));
    Some(bytes)
}

/// Splits a session store key into key bytes, start and end.
pub(crate) fn split_session_key(bytes: &[u8]) -> Option<(&[u8], i64, i64)> {
    let raw: [u8; LEN_BYTES] = bytes.get(..LEN_BYTES)?.try_into().ok()?;
    let key_end = LEN_BYTES.checked_add(usize::try_from(u32::from_be_bytes(raw)).ok()?)?;
    let key = bytes.get(LEN_BYTES..key_end)?;
    let times = bytes.get(key_end..)?;
    if times.len() != 2 * TIME_BYTES {
        return None;
    }
    Some((key, read_time(&times[TIME_BYTES..])?, read_time(times)?))
}

/// `timestamp ‖ value`: a timestamped store value.
pub(crate) fn timestamped(timestamp: i64, value: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(TIME_BYTES + value.len());
    bytes.extend_from_slice(&timestamp.to_be_bytes());
    bytes.extend_from_slice(value);
    bytes
}

/// Splits a timestamped store value.
pub(crate) fn split_timestamped(bytes: &[u8]) -> Option<(i64, &[u8])> {
    let raw: [u8; TIME_BYTES] = bytes.get(..TIME_BYTES)?.try_into().ok()?;
    Some((i64::from_be_bytes(raw), bytes.get(TIME_BYTES..)?))
}

/// Appends one value to a join-buffer list.
pub(crate) fn push_list_item(list: &mut Vec<u8>, item: &[u8]) -> Option<()> {
    let len = u32::try_from(item.len()).ok()?;
    list.extend_from_slice(&len.to_be_bytes());
    list.extend_from_slice(item);
    Some(())
}

/// The values of a join-buffer list; `None` if the bytes are not a list.
pub(crate) fn list_items(mut bytes: &[u8]) -> Option<Vec<&[u8]>> {
    let mut items = Vec::new();
    while !bytes.is_empty() {
        let raw: [u8; LEN_BYTES] = bytes.get(..LEN_BYTES)?.try_into().ok()?;
        let len = usize::try_from(u32::from_be_bytes(raw)).ok()?;
        let end = LEN_BYTES.checked_add(len)?;
        items.push(bytes.get(LEN_BYTES..end)?);
        bytes = bytes.get(end..)?;
    }
    Some(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_bytes_sort_like_numbers() {
        let times = [i64::MIN, -5, -1, 0, 1, 60_000, i64::MAX];
        for pair in times.windows(2) {
            assert!(time_bytes(pair[0]) < time_bytes(pair[1]));
        }
        let key = time_key(-42, b"k");
        assert_eq!(split_time_key(&key), Some((-42, &b"k"[..])));
        let key = time_side_key(7, 1, b"k");
        assert_eq!(split_time_side_key(&key), Some((7, 1, &b"k"[..])));
        assert_eq!(split_time_side_key(&time_bytes(7)), None);
    }

    #[test]
    fn time_indexed_keys_group_by_key_and_index_by_time() {
        let primary = keyed_time_key(b"ab", -3).unwrap();
        assert_eq!(split_keyed_time_key(&primary), Some((&b"ab"[..], -3)));
        let index = time_index_key(&primary).unwrap();
        assert_eq!(index[0], INDEX_TAG);
        assert_eq!(split_time_key(&index[1..]), Some((-3, &b"ab"[..])));
        assert_eq!(indexed_primary(&index), Some(primary.clone()));
        assert_eq!(time_index_key(&index), None);
        assert_eq!(indexed_primary(&primary), None);
        // Every primary key sorts before every index key.
        assert!(primary < time_index_lower_bound(None));
        assert!(time_index_lower_bound(None) < time_index_lower_bound(Some(i64::MIN)));
        assert!(time_index_lower_bound(Some(-3)) <= index);
        assert!(index < time_index_lower_bound(Some(-2)));
        // A key's bounds hold exactly its entries in the range: not a key that extends it,
        // nor a shorter key, nor times outside.
        let (lower, upper) = keyed_time_bounds(b"ab", -3, 5).unwrap();
        let inside = |k: &Vec<u8>| lower <= *k && *k < upper;
        for t in [-3, 0, 5] {
            assert!(inside(&keyed_time_key(b"ab", t).unwrap()));
        }
        for t in [i64::MIN, -4, 6, i64::MAX] {
            assert!(!inside(&keyed_time_key(b"ab", t).unwrap()));
        }
        for other in [&b"a"[..], b"abc", b"ab\0", b"b", b""] {
            for t in [i64::MIN, -3, 0, 5, i64::MAX] {
                assert!(!inside(&keyed_time_key(other, t).unwrap()));
            }
        }
        let (_, upper) = keyed_time_bounds(b"ab", 0, i64::MAX).unwrap();
        assert!(keyed_time_key(b"ab", i64::MAX).unwrap() < upper);
        assert_eq!(split_keyed_time_key(&primary[..primary.len() - 1]), None);
    }

    #[test]
    fn session_keys_round_trip_and_group_by_key() {
        let key = session_key(b"ab", -3, 7).unwrap();
        assert_eq!(split_session_key(&key), Some((&b"ab"[..], -3, 7)));
        assert!(key.starts_with(&session_prefix(b"ab").unwrap()));
        assert!(split_session_key(&key[..key.len() - 1]).is_none());
    }

    #[test]
    fn timestamped_values_and_lists_round_trip() {
        let v = timestamped(7, b"abc");
        assert_eq!(split_timestamped(&v), Some((7, &b"abc"[..])));
        assert_eq!(split_timestamped(b"short"), None);
        let mut list = Vec::new();
        push_list_item(&mut list, b"x").unwrap();
        push_list_item(&mut list, b"").unwrap();
        assert_eq!(list_items(&list), Some(vec![&b"x"[..], &b""[..]]));
        assert_eq!(list_items(&[0, 0, 0, 9, 1]), None);
    }
}
