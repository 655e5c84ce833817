//! Converters: how a connector's data becomes record bytes and back, named as Kafka
//! Connect names them (`key.converter`, `value.converter`).
//!
//! - `StringConverter`: UTF-8 text. Reading is strict: bytes that are not UTF-8 make the
//!   record bad (Kafka substitutes U+FFFD; Eddy never changes data silently).
//! - `ByteArrayConverter`: bytes unchanged.
//! - `JsonConverter`: JSON text; with `schemas.enable=true` (Kafka's default) wrapped in
//!   Kafka's `{"schema": …, "payload": …}` envelope. Schemas are written for strings and
//!   read back by taking the payload; other values are written with a null schema.
//!
//! No I/O here: conversion is a pure function of the data.

use bytes::Bytes;
use serde_json::{json, Value};

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
        let text = |s: &str| Some(Bytes::from(s.to_owned().into_bytes()));
        match (self, data) {
            (_, Data::Null) => Ok(None),
            (Self::String | Self::ByteArray, Data::Bytes(bytes)) => Ok(Some(bytes.clone())),
            (Self::String | Self::ByteArray, Data::Text(s)) => Ok(text(s)),
            (Self::String | Self::ByteArray, Data::Json(value)) => Ok(text(&value.to_string())),
            (Self::Json { .. }, Data::Bytes(_)) => {
                Err("JsonConverter cannot write raw bytes: use ByteArrayConverter".to_owned())
            }
            (Self::Json { schemas_enable }, Data::Text(s)) => {
                let payload = Value::String(s.clone());
                let schema = json!({"type": "string", "optional": false});
                Ok(text(&envelope(schemas_enable, schema, payload).to_string()))
            }
            (Self::Json { schemas_enable }, Data::Json(value)) => Ok(text(
                &envelope(schemas_enable, Value::Null, value.clone()).to_string(),
            )),
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
                let payload = if schemas_enable {
                    unwrap_envelope(value)?
                } else {
                    value
                };
                Ok(match payload {
                    Value::Null => Data::Null,
                    Value::String(s) => Data::Text(s),
                    other => Data::Json(other),
                })
            }
        }
    }
}

fn envelope(schemas_enable: bool, schema: Value, payload: Value) -> Value {
    if schemas_enable {
        json!({"schema": schema, "payload": payload})
    } else {
        payload
    }
}

fn unwrap_envelope(value: Value) -> Result<Value, String> {
    match value {
        Value::Object(mut map) if map.len() == 2 && map.contains_key("schema") => {
            map.remove("payload").ok_or_else(no_envelope)
        }
        _ => Err(no_envelope()),
    }
}

fn no_envelope() -> String {
    "JsonConverter with schemas.enable requires \"schema\" and \"payload\" fields and may not \
     contain additional fields (set schemas.enable=false to read plain JSON)"
        .to_owned()
}

#[cfg(test)]
mod tests {
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

    #[test]
    fn json_envelope_round_trip() {
        let c = Converter::Json {
            schemas_enable: true,
        };
        let bytes = c.from_data(&Data::Text("line".into())).unwrap().unwrap();
        assert_eq!(
            std::str::from_utf8(&bytes).unwrap(),
            r#"{"payload":"line","schema":{"optional":false,"type":"string"}}"#
        );
        assert_eq!(c.to_data(Some(&bytes)), Ok(Data::Text("line".into())));
        assert!(c.to_data(Some(&Bytes::from_static(b"\"bare\""))).is_err());
        assert!(c.to_data(Some(&Bytes::from_static(b"{not json"))).is_err());
        let plain = Converter::Json {
            schemas_enable: false,
        };
        assert_eq!(
            plain.to_data(Some(&Bytes::from_static(b"{\"a\":1}"))),
            Ok(Data::Json(json!({"a": 1})))
        );
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
