//! Reading connector configurations as Kafka Connect writes them: the standalone
//! `.properties` files (Java's `Properties` syntax) and the REST API's JSON form
//! `{"name": …, "config": {…}}` (a flat JSON object of keys is accepted too, as
//! `connect-standalone` does since Kafka 3.5). The result is a `RawConfig`: string keys and
//! values plus the syntax problems found, which validation lists with the other faulty keys.
//!
//! No I/O here except [`read_file`], which reads one bounded file.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use super::error::{ConfigProblem, ConnectError};

/// The largest configuration document accepted, in bytes.
pub const CONFIG_BYTES_MAX: usize = 1024 * 1024;
/// The most keys one configuration may have.
pub const CONFIG_KEYS_MAX: usize = 1_000;

/// A configuration as written: keys and values, not yet validated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawConfig {
    /// Where it came from (a file path or `REST request`), for error messages.
    pub source_name: String,
    /// The keys and their values.
    pub entries: BTreeMap<String, String>,
    /// Syntax problems (a key set twice, a value that is not a string…).
    pub problems: Vec<ConfigProblem>,
}

impl RawConfig {
    /// A configuration from `(key, value)` pairs, without problems.
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        source_name: &str,
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Self {
            source_name: source_name.to_owned(),
            entries: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
            problems: Vec::new(),
        }
    }

    fn insert(&mut self, key: String, value: String, place: &str) {
        if self.entries.len() >= CONFIG_KEYS_MAX && !self.entries.contains_key(&key) {
            if self.problems.iter().all(|p| p.key != "*") {
                let reason = format!("more than {CONFIG_KEYS_MAX} keys");
                self.problems.push(ConfigProblem::missing("*", reason));
            }
            return;
        }
        if self.entries.contains_key(&key) {
            let reason = format!("set more than once (again {place}); keep one");
            self.problems
                .push(ConfigProblem::invalid(&key, &value, reason));
        }
        self.entries.insert(key, value);
    }
}

/// Reads a configuration file: JSON if it ends in `.json`, Java properties otherwise.
pub fn read_file(path: &Path) -> Result<RawConfig, ConnectError> {
    let source_name = path.display().to_string();
    let unreadable = |reason: String| ConnectError::Unreadable {
        source_name: source_name.clone(),
        reason,
    };
    let metadata = std::fs::metadata(path).map_err(|err| unreadable(err.to_string()))?;
    if metadata.len() > CONFIG_BYTES_MAX as u64 {
        return Err(unreadable(format!(
            "{} bytes, more than the {CONFIG_BYTES_MAX} allowed",
            metadata.len()
        )));
    }
    let bytes = std::fs::read(path).map_err(|err| unreadable(err.to_string()))?;
    let text = String::from_utf8(bytes).map_err(|err| unreadable(format!("not UTF-8: {err}")))?;
    let is_json = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    if is_json {
        parse_json(&source_name, &text)
    } else {
        Ok(parse_properties(&source_name, &text))
    }
}

/// Parses a JSON configuration: the REST form `{"name": …, "config": {…}}` or a flat object.
pub fn parse_json(source_name: &str, text: &str) -> Result<RawConfig, ConnectError> {
    let value: Value = serde_json::from_str(text).map_err(|err| ConnectError::Unreadable {
        source_name: source_name.to_owned(),
        reason: format!("not JSON: {err}"),
    })?;
    from_json(source_name, value)
}

/// Reads an already parsed JSON configuration (see [`parse_json`]).
pub fn from_json(source_name: &str, value: Value) -> Result<RawConfig, ConnectError> {
    let unreadable = |reason: &str| ConnectError::Unreadable {
        source_name: source_name.to_owned(),
        reason: reason.to_owned(),
    };
    let Value::Object(mut top) = value else {
        return Err(unreadable(
            "expected a JSON object: {\"name\": \"…\", \"config\": {…}}",
        ));
    };
    let mut raw = RawConfig {
        source_name: source_name.to_owned(),
        ..RawConfig::default()
    };
    let Some(config) = top.remove("config") else {
        add_json_entries(&mut raw, top);
        return Ok(raw);
    };
    let Value::Object(config) = config else {
        return Err(unreadable("\"config\" must be a JSON object of keys"));
    };
    add_json_entries(&mut raw, config);
    match top.remove("name") {
        None => {}
        Some(Value::String(name)) => match raw.entries.get("name") {
            Some(inner) if *inner != name => raw.problems.push(ConfigProblem::invalid(
                "name",
                inner,
                format!("differs from the connector name \"{name}\" given outside \"config\""),
            )),
            Some(_) => {}
            None => {
                raw.entries.insert("name".to_owned(), name);
            }
        },
        Some(other) => raw.problems.push(ConfigProblem::invalid(
            "name",
            &other.to_string(),
            "must be a JSON string",
        )),
    }
    for key in top.keys() {
        if key != "tasks" && key != "type" {
            raw.problems.push(ConfigProblem::missing(
                key,
                "unknown field next to \"name\" and \"config\": move it into \"config\"",
            ));
        }
    }
    Ok(raw)
}

fn add_json_entries(raw: &mut RawConfig, object: serde_json::Map<String, Value>) {
    for (key, value) in object {
        let text = match value {
            Value::String(s) => s,
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            other => {
                let reason = "must be a string (Kafka Connect configurations are string maps)";
                raw.problems
                    .push(ConfigProblem::invalid(&key, &other.to_string(), reason));
                continue;
            }
        };
        raw.insert(key, text, "in the same object");
    }
}

/// Parses Java properties: `key=value`, `key: value` or `key value`; `#` and `!` comments;
/// a trailing backslash continues the line; `\t \n \r \f \uXXXX` and `\<char>` escapes.
pub fn parse_properties(source_name: &str, text: &str) -> RawConfig {
    let mut raw = RawConfig {
        source_name: source_name.to_owned(),
        ..RawConfig::default()
    };
    let mut lines = text.lines().enumerate().peekable();
    while let Some((index, line)) = lines.next() {
        let first = line.trim_start_matches([' ', '\t', '\u{c}']);
        if first.is_empty() || first.starts_with('#') || first.starts_with('!') {
            continue;
        }
        let mut logical = String::from(first);
        while ends_with_continuation(&logical) {
            logical.pop();
            match lines.next() {
                Some((_, next)) => logical.push_str(next.trim_start_matches([' ', '\t', '\u{c}'])),
                None => break,
            }
        }
        let (key, value) = split_key_value(&logical);
        let place = format!("on line {}", index + 1);
        raw.insert(key, value, &place);
    }
    raw
}

/// Whether a line ends in an odd number of backslashes (the last one escapes the newline).
fn ends_with_continuation(line: &str) -> bool {
    line.chars().rev().take_while(|c| *c == '\\').count() % 2 == 1
}

/// Splits a logical line into its unescaped key and value.
fn split_key_value(line: &str) -> (String, String) {
    let chars: Vec<char> = line.chars().collect();
    let mut end = 0;
    while end < chars.len() {
        match chars[end] {
            '\\' => end += 2,
            '=' | ':' | ' ' | '\t' | '\u{c}' => break,
            _ => end += 1,
        }
    }
    let end = end.min(chars.len());
    let key: String = chars[..end].iter().collect();
    let mut rest = end;
    while rest < chars.len() && matches!(chars[rest], ' ' | '\t' | '\u{c}') {
        rest += 1;
    }
    if rest < chars.len() && matches!(chars[rest], '=' | ':') {
        rest += 1;
        while rest < chars.len() && matches!(chars[rest], ' ' | '\t' | '\u{c}') {
            rest += 1;
        }
    }
    let value: String = chars[rest..].iter().collect();
    (unescape(&key), unescape(&value))
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('f') => out.push('\u{c}'),
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                    Some(decoded) if hex.len() == 4 => out.push(decoded),
                    // Java rejects a malformed \u escape; keeping the text lets validation
                    // show the value as written.
                    _ => {
                        out.push_str("\\u");
                        out.push_str(&hex);
                    }
                }
            }
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_java_properties() {
        let text = "# a comment\n! another\n\nname=local-file-source\n\
                    connector.class : FileStreamSource\ntasks.max 1\n\
                    file=/tmp/a\\\n   b.txt\nweird\\=key=x\\ty\\u0041\nempty\n";
        let raw = parse_properties("t.properties", text);
        assert!(raw.problems.is_empty(), "{:?}", raw.problems);
        let get = |k: &str| raw.entries.get(k).map(String::as_str);
        assert_eq!(get("name"), Some("local-file-source"));
        assert_eq!(get("connector.class"), Some("FileStreamSource"));
        assert_eq!(get("tasks.max"), Some("1"));
        assert_eq!(get("file"), Some("/tmp/ab.txt"));
        assert_eq!(get("weird=key"), Some("x\tyA"));
        assert_eq!(get("empty"), Some(""));
    }

    #[test]
    fn a_key_set_twice_is_a_problem() {
        let raw = parse_properties("t", "topic=a\ntopic=b\n");
        assert_eq!(raw.entries["topic"], "b");
        assert_eq!(raw.problems.len(), 1);
        assert!(
            raw.problems[0].reason.contains("line 2"),
            "{:?}",
            raw.problems
        );
    }

    #[test]
    fn reads_the_rest_form_and_flat_json() {
        let raw = parse_json(
            "req",
            r#"{"name":"s","config":{"connector.class":"FileStreamSink","tasks.max":1,"topics":"t"}}"#,
        )
        .unwrap();
        assert!(raw.problems.is_empty(), "{:?}", raw.problems);
        assert_eq!(raw.entries["name"], "s");
        assert_eq!(raw.entries["tasks.max"], "1");
        let flat = parse_json("f", r#"{"name":"s","topics":"t"}"#).unwrap();
        assert_eq!(flat.entries["topics"], "t");
    }

    #[test]
    fn json_problems_are_listed() {
        let raw = parse_json(
            "req",
            r#"{"name":"a","config":{"name":"b","tasks.max":[1],"file":null},"extra":1}"#,
        )
        .unwrap();
        let keys: Vec<&str> = raw.problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(keys, ["file", "tasks.max", "name", "extra"], "{raw:?}");
        assert!(parse_json("req", "[1]").is_err());
        assert!(parse_json("req", "{").is_err());
        assert!(parse_json("req", r#"{"config": 3}"#).is_err());
    }
}
