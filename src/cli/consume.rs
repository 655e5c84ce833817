//! `eddy consume TOPIC`: print records of assigned partitions as text or JSON lines.

use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use bytes::Bytes;
use clap::{Args, ValueEnum};
use eddy::client::{ClientError, ConsumedRecord, Consumer, StartOffset};
use serde_json::{json, Map, Value};

use super::node_access::{block_on, explain_for_topic, print_line, BootstrapArgs};

/// The longest single poll; shorter than any useful idle timeout so that it is honoured.
const POLL_WAIT_MAX: Duration = Duration::from_millis(500);
/// Consecutive retriable poll failures tolerated before giving up.
const POLL_RETRIES_MAX: u32 = 10;
/// The pause after a failed poll.
const POLL_RETRY_BACKOFF: Duration = Duration::from_millis(500);

/// Arguments of `eddy consume`.
#[derive(Args, Debug)]
pub struct ConsumeArgs {
    /// The topic to read.
    pub topic: String,
    /// Where to start: earliest, latest or an offset (applies to every partition read).
    #[arg(
        long,
        default_value = "earliest",
        value_name = "earliest|latest|OFFSET"
    )]
    pub from: StartOffset,
    /// Read only this partition (default: all of them).
    #[arg(long)]
    pub partition: Option<i32>,
    /// Exit after printing this many records.
    #[arg(long)]
    pub max_messages: Option<u64>,
    /// Exit once no record arrived for this long (default: run until interrupted).
    #[arg(long)]
    pub timeout_ms: Option<u64>,
    #[command(flatten)]
    pub bootstrap: BootstrapArgs,
    /// How to print keys (like kafka-console-consumer's key.deserializer).
    #[arg(long, value_enum, default_value_t = Format::String)]
    pub key_format: Format,
    /// How to print values (like kafka-console-consumer's value.deserializer).
    #[arg(long, value_enum, default_value_t = Format::String)]
    pub value_format: Format,
    /// Print one JSON object per record: topic, partition, offset, timestamp, key, value,
    /// headers. Bytes are kept exact: with the string format a key or value that is not
    /// valid UTF-8 is written as "key_base64" / "value_base64" (standard base64) in place
    /// of "key" / "value", and so is a header value; hex and base64 are JSON strings, long
    /// a JSON number, json the embedded JSON value; a null key or value is null. With the
    /// string formats, `eddy produce --json-input` writes these records back byte for byte.
    #[arg(long)]
    pub json: bool,
}

/// How the bytes of a key or value are shown (kafka-console-consumer's deserializers).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// UTF-8 text (invalid sequences shown as U+FFFD, except under --json).
    String,
    /// Lower-case hexadecimal, two digits per byte.
    Hex,
    /// Standard base64 with padding.
    Base64,
    /// A signed 64-bit integer, 8 bytes big-endian (Kafka's LongSerializer); other
    /// lengths are an error.
    Long,
    /// A JSON document, printed compactly; bytes that are not JSON are an error.
    Json,
}

/// Runs `eddy consume`.
pub fn run(args: ConsumeArgs) -> anyhow::Result<()> {
    block_on(consume(args))
}

async fn consume(args: ConsumeArgs) -> anyhow::Result<()> {
    let servers = args.bootstrap.bootstrap_server.clone();
    let explain = |err| explain_for_topic(err, &servers, Some(&args.topic));
    let mut consumer = Consumer::connect(&servers).await.map_err(explain)?;
    let partitions = match args.partition {
        Some(partition) => vec![partition],
        None => consumer.partitions(&args.topic).await.map_err(explain)?,
    };
    consumer
        .assign(&args.topic, &partitions, args.from)
        .await
        .map_err(explain)?;
    let idle_timeout = args.timeout_ms.map(Duration::from_millis);
    let limit = args.max_messages.unwrap_or(u64::MAX);
    let mut printed = 0u64;
    let mut last_record = Instant::now();
    let mut failures = 0u32;
    while printed < limit {
        let wait = match idle_timeout {
            Some(idle) => {
                let left = idle.saturating_sub(last_record.elapsed());
                if left.is_zero() {
                    break;
                }
                left.min(POLL_WAIT_MAX)
            }
            None => POLL_WAIT_MAX,
        };
        let records = match consumer.poll(wait).await {
            Ok(records) => records,
            Err(err) => {
                failures = retry_or_fail(err, failures).map_err(explain)?;
                tokio::time::sleep(POLL_RETRY_BACKOFF).await;
                continue;
            }
        };
        failures = 0;
        if !records.is_empty() {
            last_record = Instant::now();
        }
        let room = usize::try_from(limit - printed).unwrap_or(usize::MAX);
        for record in records.iter().take(room) {
            let line = format_record(record, &args).with_context(|| record_place(record))?;
            if !print_line(line)? {
                return Ok(());
            }
            printed += 1;
        }
    }
    if !args.json {
        eprintln!("consumed {printed} record(s) from {}", args.topic);
    }
    Ok(())
}

/// Counts one more failed poll; fails if the error is permanent or failures piled up.
fn retry_or_fail(err: ClientError, failures: u32) -> Result<u32, ClientError> {
    if err.is_retriable() && failures < POLL_RETRIES_MAX {
        eprintln!("poll failed, retrying: {err}");
        Ok(failures + 1)
    } else {
        Err(err)
    }
}

/// Where a record sits, for errors about it.
fn record_place(record: &ConsumedRecord) -> String {
    format!(
        "record at {}-{} offset {}",
        record.topic, record.partition, record.offset
    )
}

/// One record as a line of text or JSON, keys and values shown in their formats.
fn format_record(record: &ConsumedRecord, args: &ConsumeArgs) -> anyhow::Result<String> {
    if args.json {
        return Ok(record_json(record, args.key_format, args.value_format)?.to_string());
    }
    let headers: Vec<String> = record
        .headers
        .iter()
        .map(|h| format!("{}={}", h.key, text(h.value.as_ref())))
        .collect();
    let key = shown(record.key.as_ref(), args.key_format).context("key")?;
    let value = shown(record.value.as_ref(), args.value_format).context("value")?;
    Ok(format!(
        "partition={} offset={} timestamp={} key={key} headers=[{}] value={value}",
        record.partition,
        record.offset,
        record.timestamp,
        headers.join(","),
    ))
}

/// A record as JSON with exact bytes (see `--json` in `ConsumeArgs`).
fn record_json(record: &ConsumedRecord, key: Format, value: Format) -> anyhow::Result<Value> {
    let headers: Vec<Value> = record
        .headers
        .iter()
        .map(|h| {
            let mut object = Map::new();
            object.insert("key".into(), Value::String(h.key.clone()));
            insert_json(&mut object, "value", h.value.as_ref(), Format::String)?;
            Ok(Value::Object(object))
        })
        .collect::<anyhow::Result<_>>()?;
    let mut object = Map::new();
    object.insert("topic".into(), json!(record.topic));
    object.insert("partition".into(), json!(record.partition));
    object.insert("offset".into(), json!(record.offset));
    object.insert("timestamp".into(), json!(record.timestamp));
    insert_json(&mut object, "key", record.key.as_ref(), key).context("key")?;
    insert_json(&mut object, "value", record.value.as_ref(), value).context("value")?;
    object.insert("headers".into(), Value::Array(headers));
    Ok(Value::Object(object))
}

/// Puts `bytes` under `field` in their format; string bytes that are not UTF-8 go under
/// `<field>_base64` instead, so that no byte is lost.
fn insert_json(
    object: &mut Map<String, Value>,
    field: &str,
    bytes: Option<&Bytes>,
    format: Format,
) -> anyhow::Result<()> {
    let Some(bytes) = bytes else {
        object.insert(field.into(), Value::Null);
        return Ok(());
    };
    let value = match format {
        Format::String => match std::str::from_utf8(bytes) {
            Ok(text) => Value::String(text.to_owned()),
            Err(_) => {
                object.insert(format!("{field}_base64"), json!(BASE64.encode(bytes)));
                return Ok(());
            }
        },
        Format::Hex => Value::String(hex(bytes)),
        Format::Base64 => Value::String(BASE64.encode(bytes)),
        Format::Long => json!(long(bytes)?),
        Format::Json => parse_json(bytes)?,
    };
    object.insert(field.into(), value);
    Ok(())
}

/// Bytes as one token of a text line in their format, `null` for none.
fn shown(bytes: Option<&Bytes>, format: Format) -> anyhow::Result<String> {
    let Some(bytes) = bytes else {
        return Ok("null".to_owned());
    };
    Ok(match format {
        Format::String => String::from_utf8_lossy(bytes).into_owned(),
        Format::Hex => hex(bytes),
        Format::Base64 => BASE64.encode(bytes),
        Format::Long => long(bytes)?.to_string(),
        Format::Json => parse_json(bytes)?.to_string(),
    })
}

/// Lower-case hexadecimal, two digits per byte.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Eight bytes big-endian as an i64, as Kafka's LongDeserializer reads them.
fn long(bytes: &[u8]) -> anyhow::Result<i64> {
    let array: [u8; 8] = bytes.try_into().map_err(|_| {
        anyhow!(
            "is {} bytes, not the 8 of a long; try --key-format/--value-format hex",
            bytes.len()
        )
    })?;
    Ok(i64::from_be_bytes(array))
}

/// Bytes parsed as a JSON document.
fn parse_json(bytes: &[u8]) -> anyhow::Result<Value> {
    serde_json::from_slice(bytes)
        .map_err(|err| anyhow!("is not JSON ({err}); try --key-format/--value-format hex"))
}

/// Bytes as text, `null` for none.
fn text(bytes: Option<&Bytes>) -> String {
    bytes.map_or_else(
        || "null".to_owned(),
        |bytes| String::from_utf8_lossy(bytes).into_owned(),
    )
}

#[cfg(test)]
mod tests {
    use eddy::client::Header;

    use super::*;

    fn record() -> ConsumedRecord {
        ConsumedRecord {
            topic: "t".into(),
            partition: 2,
            offset: 7,
            timestamp: 1_700_000_000_000,
            key: Some(Bytes::from_static(b"k")),
            value: None,
            headers: vec![Header::new("a", "1")],
        }
    }

    fn args(json: bool, key_format: Format, value_format: Format) -> ConsumeArgs {
        ConsumeArgs {
            topic: "t".into(),
            from: StartOffset::Earliest,
            partition: None,
            max_messages: None,
            timeout_ms: None,
            bootstrap: BootstrapArgs {
                bootstrap_server: "localhost:9092".into(),
            },
            key_format,
            value_format,
            json,
        }
    }

    #[test]
    fn formats_text_and_json() {
        let text_args = args(false, Format::String, Format::String);
        assert_eq!(
            format_record(&record(), &text_args).unwrap(),
            "partition=2 offset=7 timestamp=1700000000000 key=k headers=[a=1] value=null"
        );
        let json_args = args(true, Format::String, Format::String);
        let line = format_record(&record(), &json_args).unwrap();
        let value: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(value["offset"], 7);
        assert_eq!(value["value"], Value::Null);
        assert_eq!(value["headers"][0]["value"], "1");
    }

    #[test]
    fn shows_each_format_and_keeps_bytes_under_json() {
        let mut record = record();
        record.key = Some(Bytes::from_static(&[0xff, 0x00, 0x01]));
        record.value = Some(Bytes::copy_from_slice(&(-2i64).to_be_bytes()));
        let line = format_record(&record, &args(false, Format::Hex, Format::Long)).unwrap();
        assert!(line.contains("key=ff0001 "), "{line}");
        assert!(line.ends_with("value=-2"), "{line}");
        let line = format_record(&record, &args(false, Format::Base64, Format::Hex)).unwrap();
        assert!(line.contains("key=/wAB "), "{line}");
        let line = format_record(&record, &args(true, Format::String, Format::Long)).unwrap();
        let value: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(value["key_base64"], "/wAB");
        assert!(value.get("key").is_none());
        assert_eq!(value["value"], -2);
        let err = format_record(&record, &args(false, Format::Long, Format::Long)).unwrap_err();
        assert!(format!("{err:#}").contains("3 bytes"), "{err:#}");
        record.value = Some(Bytes::from_static(br#"{"a": [1, 2]}"#));
        let line = format_record(&record, &args(true, Format::Hex, Format::Json)).unwrap();
        let value: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(value["value"]["a"][1], 2);
    }
}
