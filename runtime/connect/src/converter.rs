//! Converters: how a connector's data becomes record bytes and back, named as Kafka
//! Connect names them (`key.converter`, `value.converter`).
//!
//! - `StringConverter`: UTF-8 text. Reading is strict: bytes that are not UTF-8 make the
//!   record bad (Kafka substitutes U+FFFD; Eddy never changes data silently).
//! - `ByteArrayConverter`: bytes unchanged.
//! - `JsonConverter`: JSON text; with `schemas.enable=true` (Kafka's default) wrapped in
//!   Kafka's `{"schema": …, "payload": …}` envelope. The bytes are Kafka's, byte for byte
//!   (its `JsonConverter` writes with Jackson): the envelope's fields in Kafka's order
//!   (`schema` then `payload`, `type` then `optional`), no spaces, strings escaped as
//!   Jackson escapes them (`\uXXXX` in upper-case hex for control characters, nothing
//!   else beyond `"` and `\\`). Text has Kafka's `{"type":"string","optional":false}`
//!   schema, bytes `{"type":"bytes","optional":false}` with a base64 payload, a JSON
//!   document a null schema (schemaless, as Kafka writes a `Map`). Reading takes the
//!   payload back: a `bytes` payload is decoded from base64, a string is text.
//!
//! No I/O here: conversion is a pure function of the data.

use base64::Engine as _;
use bytes::Bytes;
use serde_json::Value;

/// A key or value as connectors see it, before serialization.
#[derive(Debug, Clone, PartialEq)]
pub enum Data {
    /// Null: no key, or a tombstone value.
    Null,
    /// Raw bytes.
    Bytes(Bytes),
    /// Text.
    Text(String),
    /// A JSON document.
    Json(Value),
}

impl Data {
    /// The data as it appears in a line of text: text as is, JSON compact, bytes unchanged,
    /// null as `null` (what Kafka's FileStreamSink prints).
    pub fn to_line_bytes(&self) -> Bytes {
        match self {
            Self::Null => Bytes::from_static(b"null"),
            Self::Bytes(bytes) => bytes.clone(),
            Self::Text(text) => Bytes::from(text.clone().into_bytes()),
            Self::Json(value) => Bytes::from(value.to_string().into_bytes()),
        }
    }
}

/// Class names Kafka users write for each converter.
const STRING_CLASSES: &[&str] = &["org.apache.kafka.connect.storage.StringConverter"];
const BYTE_ARRAY_CLASSES: &[&str] = &["org.apache.kafka.connect.converters.ByteArrayConverter"];
const JSON_CLASSES: &[&str] = &["org.apache.kafka.connect.json.JsonConverter"];

/// A converter and its settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Converter {
    /// UTF-8 text.
    String,
    /// Bytes unchanged.
    ByteArray,
    /// JSON, optionally in Kafka's schema envelope.
    Json {
        /// `schemas.enable`: write and expect the `{"schema", "payload"}` envelope.
        schemas_enable: bool,
    },
}

impl Converter {
    /// Parses a converter class name (Kafka's full name or the short one) with its
    /// `schemas.enable` setting; `Err` explains what is accepted.
    pub fn parse(class: &str, schemas_enable: bool) -> Result<Self, String> {
        let short = class.rsplit('.').next().unwrap_or(class);
        let known = |names: &[&str], short_name: &str| {
            names.contains(&class) || short.eq_ignore_ascii_case(short_name)
        };
        if known(STRING_CLASSES, "StringConverter") {
            Ok(Self::String)
        } else if known(BYTE_ARRAY_CLASSES, "ByteArrayConverter") {
            Ok(Self::ByteArray)
        } else if known(JSON_CLASSES, "JsonConverter") {
            Ok(Self::Json { schemas_enable })
        } else {
            Err(format!(
                "unknown converter: expected one of {}, {}, {}",
                STRING_CLASSES[0], BYTE_ARRAY_CLASSES[0], JSON_CLASSES[0]
            ))
        }
    }

    /// Kafka's class name of this converter.
    pub fn class_name(self) -> &'static str {
        match self {
            Self::String => STRING_CLASSES[0],
            Self::ByteArray => BYTE_ARRAY_CLASSES[0],
            Self::Json { .. } => JSON_CLASSES[0],
        }
    }

    /// Serializes `data` for a record; `None` is a null key or a tombstone.
    pub fn from_data(self, data: &Data) -> Result<Option<Bytes>, String> {
        let text = |s: String| Some(Bytes::from(s.into_bytes()));
        match (self, data) {
            (_, Data::Null) => Ok(None),
            (Self::String | Self::ByteArray, Data::Bytes(bytes)) => Ok(Some(bytes.clone())),
            (Self::String | Self::ByteArray, Data::Text(s)) => Ok(text(s.clone())),
            (Self::String | Self::ByteArray, Data::Json(value)) => Ok(text(value.to_string())),
            (Self::Json { schemas_enable }, data) => {
                let (schema, payload) = match data {
                    Data::Text(s) => (STRING_SCHEMA, jackson_string(s)),
                    Data::Bytes(bytes) => (BYTES_SCHEMA, jackson_string(&BASE64.encode(bytes))),
                    Data::Json(value) => ("null", jackson_value(value)),
                    Data::Null => return Ok(None),
                };
                Ok(text(if schemas_enable {
                    format!("{{\"schema\":{schema},\"payload\":{payload}}}")
                } else {
                    payload
                }))
            }
        }
    }

    /// Deserializes a record's key or value; `Err` makes the record bad.
    pub fn to_data(self, bytes: Option<&Bytes>) -> Result<Data, String> {
        let Some(bytes) = bytes else {
            return Ok(Data::Null);
        };
        match self {
            Self::ByteArray => Ok(Data::Bytes(bytes.clone())),
            Self::String => std::str::from_utf8(bytes)
                .map(|s| Data::Text(s.to_owned()))
                .map_err(|err| format!("StringConverter: not UTF-8 text ({err})")),
            Self::Json { schemas_enable } => {
                let value: Value = serde_json::from_slice(bytes)
                    .map_err(|err| format!("JsonConverter: not JSON ({err})"))?;
                let (schema_type, payload) = if schemas_enable {
                    unwrap_envelope(value)?
                } else {
                    (None, value)
                };
                match (schema_type.as_deref(), payload) {
                    (_, Value::Null) => Ok(Data::Null),
                    (Some("bytes"), Value::String(encoded)) => BASE64
                        .decode(encoded.as_bytes())
                        .map(|decoded| Data::Bytes(Bytes::from(decoded)))
                        .map_err(|err| {
                            format!("JsonConverter: a bytes payload not in base64 ({err})")
                        }),
                    (_, Value::String(s)) => Ok(Data::Text(s)),
                    (_, other) => Ok(Data::Json(other)),
                }
            }
        }
    }
}

/// Kafka's schema of a FileStreamSource line (`Schema.STRING_SCHEMA`) as its JsonConverter
/// writes it.
const STRING_SCHEMA: &str = r#"{"type":"string","optional":false}"#;
/// Kafka's `Schema.BYTES_SCHEMA` as its JsonConverter writes it.
const BYTES_SCHEMA: &str = r#"{"type":"bytes","optional":false}"#;
/// Jackson's base64 for binary nodes: the standard alphabet, padded, no line breaks.
const BASE64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// `s` as a JSON string, escaped as Jackson escapes it: `"` and `\\` with a backslash, the
/// control characters below 0x20 as `\b \t \n \f \r` or `\u00XX` (upper-case hex), every
/// other character as is (UTF-8, `/` unescaped).
fn jackson_string(s: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{08}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{0C}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 => {
                let b = c as u8;
                out.push_str("\\u00");
                out.push(char::from(HEX[usize::from(b >> 4)]));
                out.push(char::from(HEX[usize::from(b & 0xF)]));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `value` as compact JSON with Jackson's string escaping (numbers, booleans and null as
/// serde_json writes them; object keys in the order of serde_json's map, sorted).
fn jackson_value(value: &Value) -> String {
    match value {
        Value::String(s) => jackson_string(s),
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(jackson_value).collect();
            format!("[{}]", items.join(","))
        }
        Value::Object(map) => {
            let fields: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{}:{}", jackson_string(k), jackson_value(v)))
                .collect();
            format!("{{{}}}", fields.join(","))
        }
        other => other.to_string(),
    }
}

/// The schema's `type` (when the schema is an object that names one) and the payload of
/// Kafka's envelope, which must hold exactly `schema` and `payload`, as Kafka requires.
fn unwrap_envelope(value: Value) -> Result<(Option<String>, Value), String> {
    match value {
        Value::Object(mut map)
            if map.len() == 2 && map.contains_key("schema") && map.contains_key("payload") =>
        {
            let schema_type = map
                .get("schema")
                .and_then(|schema| schema.get("type"))
                .and_then(Value::as_str)
                .map(str::to_owned);
            let payload = map.remove("payload").ok_or_else(no_envelope)?;
            Ok((schema_type, payload))
        }
        _ => Err(no_envelope()),
    }
}

fn no_envelope() -> String {
    "JsonConverter with schemas.enable requires \"schema\" and \"payload\" fields and may not \
     contain additional fields. If you are trying to deserialize plain JSON data, set \
     schemas.enable=false in your converter configuration."
        .to_owned()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn parses_full_and_short_names() {
        assert_eq!(
            Converter::parse("org.apache.kafka.connect.storage.StringConverter", true),
            Ok(Converter::String)
        );
        assert_eq!(
            Converter::parse("ByteArrayConverter", true),
            Ok(Converter::ByteArray)
        );
        assert_eq!(
            Converter::parse("org.apache.kafka.connect.json.JsonConverter", false),
            Ok(Converter::Json {
                schemas_enable: false
            })
        );
        assert!(Converter::parse("AvroConverter", true).is_err());
    }

    #[test]
    fn string_round_trip_is_exact_and_strict() {
        let c = Converter::String;
        let bytes = c.from_data(&Data::Text("héllo".into())).unwrap();
        assert_eq!(c.to_data(bytes.as_ref()), Ok(Data::Text("héllo".into())));
        assert_eq!(c.from_data(&Data::Null), Ok(None));
        assert_eq!(c.to_data(None), Ok(Data::Null));
        assert!(c.to_data(Some(&Bytes::from_static(&[0xff, 0xfe]))).is_err());
    }

    /// The bytes Kafka's quickstart puts on `connect-test` for the line `foo`
    /// (`kafka-console-consumer --topic connect-test` prints exactly this).
    #[test]
    fn json_envelope_is_kafkas_byte_for_byte() {
        let c = Converter::Json {
            schemas_enable: true,
        };
        let bytes = c.from_data(&Data::Text("foo".into())).unwrap().unwrap();
        assert_eq!(
            bytes,
            Bytes::from_static(br#"{"schema":{"type":"string","optional":false},"payload":"foo"}"#)
        );
        assert_eq!(c.to_data(Some(&bytes)), Ok(Data::Text("foo".into())));
        assert!(c.to_data(Some(&Bytes::from_static(b"\"bare\""))).is_err());
        assert!(c.to_data(Some(&Bytes::from_static(b"{not json"))).is_err());
        let extra = br#"{"schema":null,"payload":1,"more":2}"#;
        let err = c.to_data(Some(&Bytes::from_static(extra))).unwrap_err();
        assert!(err.contains("set schemas.enable=false"), "{err}");
    }

    #[test]
    fn json_escapes_strings_as_jackson_does() {
        let c = Converter::Json {
            schemas_enable: false,
        };
        let text = "q\"b\\s/é\u{1}\u{1b}\t\n\r\u{8}\u{c}\u{7f}";
        let bytes = c.from_data(&Data::Text(text.into())).unwrap().unwrap();
        assert_eq!(
            std::str::from_utf8(&bytes).unwrap(),
            "\"q\\\"b\\\\s/é\\u0001\\u001B\\t\\n\\r\\b\\f\u{7f}\""
        );
        assert_eq!(c.to_data(Some(&bytes)), Ok(Data::Text(text.into())));
    }

    #[test]
    fn json_without_schemas_is_the_bare_value() {
        let plain = Converter::Json {
            schemas_enable: false,
        };
        let bytes = plain.from_data(&Data::Text("line".into())).unwrap();
        assert_eq!(bytes, Some(Bytes::from_static(b"\"line\"")));
        assert_eq!(
            plain.to_data(Some(&Bytes::from_static(b"{\"a\":1}"))),
            Ok(Data::Json(json!({"a": 1})))
        );
        // An envelope read without schemas is just an object.
        let envelope = Bytes::from_static(br#"{"schema":null,"payload":"x"}"#);
        assert_eq!(
            plain.to_data(Some(&envelope)),
            Ok(Data::Json(json!({"schema": null, "payload": "x"})))
        );
        let doc = plain
            .from_data(&Data::Json(json!({"b": [1, true, null], "a": "é"})))
            .unwrap();
        assert_eq!(
            doc,
            Some(Bytes::from_static(
                "{\"a\":\"é\",\"b\":[1,true,null]}".as_bytes()
            ))
        );
    }

    #[test]
    fn json_bytes_are_base64_with_kafkas_bytes_schema() {
        let c = Converter::Json {
            schemas_enable: true,
        };
        let raw = Data::Bytes(Bytes::from_static(b"\xff\xfe\x00ab"));
        let bytes = c.from_data(&raw).unwrap().unwrap();
        assert_eq!(
            bytes,
            Bytes::from_static(
                br#"{"schema":{"type":"bytes","optional":false},"payload":"//4AYWI="}"#
            )
        );
        assert_eq!(c.to_data(Some(&bytes)), Ok(raw));
        let schemaless = br#"{"schema":null,"payload":{"k":[1,2]}}"#;
        let doc = Data::Json(json!({"k": [1, 2]}));
        assert_eq!(
            c.from_data(&doc).unwrap().unwrap(),
            Bytes::from_static(schemaless)
        );
        assert_eq!(c.to_data(Some(&Bytes::from_static(schemaless))), Ok(doc));
        // A tombstone stays a tombstone, and an envelope with a null payload is null.
        assert_eq!(c.from_data(&Data::Null), Ok(None));
        let null = br#"{"schema":{"type":"string","optional":true},"payload":null}"#;
        assert_eq!(c.to_data(Some(&Bytes::from_static(null))), Ok(Data::Null));
    }

    #[test]
    fn byte_array_round_trip_is_exact() {
        let c = Converter::ByteArray;
        let raw = Bytes::from_static(b"\x00\xff{\"x\"}");
        assert_eq!(
            c.from_data(&Data::Bytes(raw.clone())),
            Ok(Some(raw.clone()))
        );
        assert_eq!(c.to_data(Some(&raw)), Ok(Data::Bytes(raw)));
    }

    #[test]
    fn lines_print_like_kafka() {
        assert_eq!(Data::Null.to_line_bytes(), Bytes::from_static(b"null"));
        assert_eq!(
            Data::Json(json!({"a": [1, 2]})).to_line_bytes(),
            Bytes::from_static(b"{\"a\":[1,2]}")
        );
    }
}
