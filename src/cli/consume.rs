//! `eddy consume TOPIC`: print records of assigned partitions as text or JSON lines.

use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::Args;
use eddy::client::{ClientError, ConsumedRecord, Consumer, StartOffset};
use serde_json::{json, Value};

use super::connect::{block_on, explain_for_topic, print_line, BootstrapArgs};

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
    /// Print one JSON object per record.
    #[arg(long)]
    pub json: bool,
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
            if !print_line(format_record(record, args.json))? {
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

/// One record as a line of text or JSON.
fn format_record(record: &ConsumedRecord, as_json: bool) -> String {
    if as_json {
        return record_json(record).to_string();
    }
    let headers: Vec<String> = record
        .headers
        .iter()
        .map(|h| format!("{}={}", h.key, text(h.value.as_ref())))
        .collect();
    format!(
        "partition={} offset={} timestamp={} key={} headers=[{}] value={}",
        record.partition,
        record.offset,
        record.timestamp,
        text(record.key.as_ref()),
        headers.join(","),
        text(record.value.as_ref()),
    )
}

/// A record as JSON; keys, values and header values that are not UTF-8 are printed lossily.
fn record_json(record: &ConsumedRecord) -> Value {
    let optional = |bytes: Option<&Bytes>| match bytes {
        Some(bytes) => Value::String(String::from_utf8_lossy(bytes).into_owned()),
        None => Value::Null,
    };
    let headers: Vec<Value> = record
        .headers
        .iter()
        .map(|h| json!({ "key": h.key, "value": optional(h.value.as_ref()) }))
        .collect();
    json!({
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "timestamp": record.timestamp,
        "key": optional(record.key.as_ref()),
        "value": optional(record.value.as_ref()),
        "headers": headers,
    })
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

    #[test]
    fn formats_text_and_json() {
        assert_eq!(
            format_record(&record(), false),
            "partition=2 offset=7 timestamp=1700000000000 key=k headers=[a=1] value=null"
        );
        let value: Value = serde_json::from_str(&format_record(&record(), true)).unwrap();
        assert_eq!(value["offset"], 7);
        assert_eq!(value["value"], Value::Null);
        assert_eq!(value["headers"][0]["value"], "1");
    }
}
