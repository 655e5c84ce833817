//! `eddy produce TOPIC`: one record per line of stdin.

use anyhow::{anyhow, Context as _};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use bytes::Bytes;
use clap::Args;
use eddy::client::{
    Acks, Compression, Header, Producer, ProducerConfig, ProducerRecord, RecordMetadata,
};
use serde_json::{json, Map, Value};
use tokio::io::{AsyncBufReadExt, BufReader};

use super::node_access::{block_on, explain_for_topic, parse_key_value, print_line, BootstrapArgs};
use super::receipts::Receipts;

/// Arguments of `eddy produce`.
#[derive(Args, Debug)]
pub struct ProduceArgs {
    /// The topic to write to.
    pub topic: String,
    /// Split each line at the first SEPARATOR into key and value (no key otherwise).
    #[arg(long, value_name = "SEPARATOR", conflicts_with = "json_input")]
    pub key_separator: Option<String>,
    /// Read each line as one record in the form `eddy consume --json` prints with its
    /// default string formats: "key" or "key_base64", "value" or "value_base64" (absent or
    /// null: none), "headers" as [{"key", "value" or "value_base64"}]; other fields are
    /// ignored. `eddy consume A --json | eddy produce B --json-input` copies keys, values
    /// and headers byte for byte.
    #[arg(long)]
    pub json_input: bool,
    /// A header added to every record, e.g. `--header source=cli` (repeatable; a repeated
    /// key keeps its last value).
    #[arg(long = "header", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub headers: Vec<(String, String)>,
    /// Write every record to this partition (default: by key, or sticky when keyless).
    #[arg(long)]
    pub partition: Option<i32>,
    /// Acknowledgements: 0, 1 or all.
    #[arg(long, default_value = "1")]
    pub acks: Acks,
    /// Batch compression: none, gzip, snappy, lz4 or zstd.
    #[arg(long, default_value = "none")]
    pub compression: Compression,
    /// How long a batch waits for more lines before it is sent.
    #[arg(long, default_value_t = 5)]
    pub linger_ms: u64,
    /// Batch size in bytes at which a partition's batch is sent.
    #[arg(long, default_value_t = 64 * 1024)]
    pub batch_size: usize,
    #[command(flatten)]
    pub bootstrap: BootstrapArgs,
    /// Print where each record went as one JSON object per line.
    #[arg(long)]
    pub json: bool,
}

/// Runs `eddy produce`.
pub fn run(args: ProduceArgs) -> anyhow::Result<()> {
    block_on(produce(args))
}

async fn produce(args: ProduceArgs) -> anyhow::Result<()> {
    let servers = args.bootstrap.bootstrap_server.clone();
    let explain = |err| explain_for_topic(err, &servers, Some(&args.topic));
    let config = ProducerConfig {
        acks: args.acks,
        compression: args.compression,
        linger_ms: args.linger_ms,
        batch_bytes_max: args.batch_size,
        ..ProducerConfig::default()
    };
    let mut producer = Producer::connect(&servers, config).await.map_err(explain)?;
    let headers: Vec<Header> = args
        .headers
        .iter()
        .map(|(key, value)| Header::new(key.clone(), value.clone()))
        .collect();
    let json = args.json;
    let mut print = |metadata: &RecordMetadata| {
        if json {
            let line = json!({
                "topic": metadata.topic,
                "partition": metadata.partition,
                "offset": metadata.offset,
                "timestamp": metadata.timestamp,
            });
            // Records already read are still written when nobody reads the report any more.
            let _ = print_line(line);
        }
    };
    let mut receipts = Receipts::default();
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut line_number = 0u64;
    while let Some(line) = lines.next_line().await.context("reading stdin")? {
        line_number += 1;
        let record = to_record(&args, &line, line_number, &headers)?;
        let receipt = producer.send(record).await.map_err(explain)?;
        receipts.push(receipt);
        receipts.settle_ready(&mut print);
    }
    let flushed = producer.flush().await;
    receipts.settle_all(&mut print).await;
    report(&args, &mut receipts, flushed.err())
}

/// The record for one input line.
fn to_record(
    args: &ProduceArgs,
    line: &str,
    line_number: u64,
    headers: &[Header],
) -> anyhow::Result<ProducerRecord> {
    if args.json_input {
        let mut record = json_record(&args.topic, line).with_context(|| {
            format!("line {line_number} is not a record of `eddy consume --json`")
        })?;
        record.partition = args.partition;
        record.headers.extend_from_slice(headers);
        return Ok(record);
    }
    let (key, value) = match &args.key_separator {
        Some(separator) => {
            let (key, value) = line.split_once(separator.as_str()).ok_or_else(|| {
                anyhow!("line {line_number} has no key separator `{separator}`: write KEY{separator}VALUE")
            })?;
            (Some(Bytes::from(key.to_owned())), value.to_owned())
        }
        None => (None, line.to_owned()),
    };
    let mut record = ProducerRecord::new(args.topic.clone(), value);
    record.key = key;
    record.partition = args.partition;
    record.headers = headers.to_vec();
    Ok(record)
}

/// A record from one line of `eddy consume --json` output.
fn json_record(topic: &str, line: &str) -> anyhow::Result<ProducerRecord> {
    let object: Map<String, Value> = serde_json::from_str(line)?;
    let mut record = ProducerRecord::new(topic.to_owned(), Bytes::new());
    record.key = json_bytes(&object, "key")?;
    // A missing value is a tombstone, as a null one is.
    record.value = json_bytes(&object, "value")?;
    if let Some(headers) = object.get("headers").filter(|h| !h.is_null()) {
        let headers = headers
            .as_array()
            .ok_or_else(|| anyhow!("\"headers\" is not an array"))?;
        for header in headers {
            let header = header
                .as_object()
                .ok_or_else(|| anyhow!("a header is not an object"))?;
            let key = header
                .get("key")
                .and_then(Value::as_str)
                .ok_or_else(|| anyhow!("a header has no string \"key\""))?;
            record.headers.push(Header {
                key: key.to_owned(),
                value: json_bytes(header, "value")?,
            });
        }
    }
    Ok(record)
}

/// The bytes under `field` (UTF-8 text) or `<field>_base64`; `None` when absent or null.
fn json_bytes(object: &Map<String, Value>, field: &str) -> anyhow::Result<Option<Bytes>> {
    if let Some(value) = object.get(field).filter(|v| !v.is_null()) {
        let text = value
            .as_str()
            .ok_or_else(|| anyhow!("\"{field}\" is not a string"))?;
        return Ok(Some(Bytes::from(text.to_owned())));
    }
    let base64_field = format!("{field}_base64");
    match object.get(&base64_field).filter(|v| !v.is_null()) {
        Some(value) => {
            let text = value
                .as_str()
                .ok_or_else(|| anyhow!("\"{base64_field}\" is not a string"))?;
            let bytes = BASE64
                .decode(text)
                .with_context(|| format!("\"{base64_field}\" is not base64"))?;
            Ok(Some(Bytes::from(bytes)))
        }
        None => Ok(None),
    }
}

fn report(
    args: &ProduceArgs,
    receipts: &mut Receipts,
    flush_error: Option<eddy::client::ClientError>,
) -> anyhow::Result<()> {
    let (delivered, failed) = (receipts.delivered(), receipts.failed());
    let first_error = receipts.take_first_error().or(flush_error);
    if !args.json {
        eprintln!("produced {delivered} record(s) to {}", args.topic);
    }
    match first_error {
        Some(err) => {
            let servers = &args.bootstrap.bootstrap_server;
            Err(explain_for_topic(err, servers, Some(&args.topic))
                .context(format!("{failed} record(s) could not be written")))
        }
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_record_of_consume_json() {
        let line = r#"{"topic":"a","partition":0,"offset":3,"key_base64":"/wAB","value":"v",
            "headers":[{"key":"h","value_base64":"AP8="},{"key":"n","value":null}]}"#;
        let record = json_record("b", &line.replace('\n', "")).unwrap();
        assert_eq!(record.key.as_deref(), Some(&[0xff, 0x00, 0x01][..]));
        assert_eq!(record.value.as_deref(), Some(&b"v"[..]));
        assert_eq!(record.headers[0].value.as_deref(), Some(&[0x00, 0xff][..]));
        assert_eq!(record.headers[1].value, None);
        let tombstone = json_record("b", r#"{"key":"k","value":null}"#).unwrap();
        assert_eq!(tombstone.value, None);
        assert!(json_record("b", r#"{"value_base64":"***"}"#).is_err());
    }
}
