//! The changelog header that names, in every store change, the input record it came from
//! (`topic\0partition\0offset`): restoration and standby tasks leave out changes from
//! input that was never committed, so a store matches exactly the committed input.

use std::collections::BTreeMap;

use eddy_client::Header;

/// The changelog header naming the input record a store change came from.
const INPUT_HEADER: &str = "eddy.streams.input";

pub(crate) fn input_header(topic: &str, partition: i32, offset: i64) -> Header {
    Header {
        key: INPUT_HEADER.to_string(),
        value: Some(
            format!("{topic}\u{0}{partition}\u{0}{offset}")
                .into_bytes()
                .into(),
        ),
    }
}

/// The input record (topic, partition, offset) a changelog record names, if it names one.
pub(crate) fn input_of(headers: &[Header]) -> Option<(String, i32, i64)> {
    let value = headers
        .iter()
        .find(|h| h.key == INPUT_HEADER)
        .and_then(|h| h.value.as_ref())?;
    let text = String::from_utf8_lossy(value);
    let mut parts = text.split('\u{0}');
    let (topic, partition, offset) = (parts.next()?, parts.next()?, parts.next()?);
    Some((
        topic.to_string(),
        partition.parse().ok()?,
        offset.parse().ok()?,
    ))
}

/// Whether a changelog record comes from input that was never committed: such a change is
/// left out of the restored store, and the input is processed again, so a crash between the
/// changelog write and the offset commit cannot count a record twice.
pub(crate) fn from_uncommitted_input(
    headers: &[Header],
    committed: &BTreeMap<(String, i32), i64>,
) -> bool {
    let Some((topic, partition, offset)) = input_of(headers) else {
        return false;
    };
    committed
        .get(&(topic, partition))
        .is_none_or(|c| offset >= *c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_is_committed_once_its_input_offset_is_below_the_commit() {
        let headers = [input_header("in", 2, 7)];
        assert_eq!(input_of(&headers), Some(("in".into(), 2, 7)));
        let at = |c: i64| -> BTreeMap<(String, i32), i64> { [(("in".to_string(), 2), c)].into() };
        assert!(from_uncommitted_input(&headers, &at(7)));
        assert!(!from_uncommitted_input(&headers, &at(8)));
        assert!(from_uncommitted_input(&headers, &BTreeMap::new()));
        assert!(
            !from_uncommitted_input(&[], &at(0)),
            "a change naming no input is kept"
        );
    }
}
