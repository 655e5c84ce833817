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
