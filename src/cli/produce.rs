//! `eddy produce TOPIC`: one record per line of stdin.

use anyhow::{anyhow, Context as _};
use bytes::Bytes;
use clap::Args;
use eddy::client::{
    Acks, Compression, Header, Producer, ProducerConfig, ProducerRecord, RecordMetadata,
};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};

use super::connect::{block_on, explain_for_topic, parse_key_value, print_line, BootstrapArgs};
use super::receipts::Receipts;

/// Arguments of `eddy produce`.
#[derive(Args, Debug)]
pub struct ProduceArgs {
    /// The topic to write to.
    pub topic: String,
    /// Split each line at the first SEPARATOR into key and value (no key otherwise).
    #[arg(long, value_name = "SEPARATOR")]
    pub key_separator: Option<String>,
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
