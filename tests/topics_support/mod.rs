//! What the topic-behaviour tests (`tests/topics_*.rs`) share on top of `tests/common/`:
//! record batches built byte-exactly (explicit timestamps, producer ids and sequences) and
//! produced over a raw connection, the log read back record by record with raw fetches,
//! ListOffsets, topic administration through kafka-python (`tests/python/topics_admin.py`),
//! kcat read-back, the admin `/metrics` counters, and bounded waits.
//!
//! Raw requests are used wherever a test must control or observe exact bytes and error
//! codes; the real clients (kafka-python, kcat, confluent-kafka) check that what the raw
//! view shows is also what users see.

// Each test crate uses a different subset of these helpers.
#![allow(dead_code)]

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchRequest, FetchTopic};
use kafka_protocol::messages::fetch_response::PartitionData;
use kafka_protocol::messages::init_producer_id_request::InitProducerIdRequest;
use kafka_protocol::messages::list_offsets_request::{
    ListOffsetsPartition, ListOffsetsRequest, ListOffsetsTopic,
};
use kafka_protocol::messages::list_offsets_response::ListOffsetsPartitionResponse;
use kafka_protocol::messages::produce_request::{
    PartitionProduceData, ProduceRequest, TopicProduceData,
};
use kafka_protocol::messages::produce_response::PartitionProduceResponse;
use kafka_protocol::messages::{ProducerId, TopicName};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

pub mod proxy;

use crate::common::{batch_headers, http_get, run_kcat, run_python, EddyNode, KafkaConn};

/// Kafka error codes the tests expect by number.
pub const OFFSET_OUT_OF_RANGE: i16 = 1;
pub const OUT_OF_ORDER_SEQUENCE_NUMBER: i16 = 45;
pub const INVALID_PRODUCER_EPOCH: i16 = 47;
pub const INVALID_RECORD: i16 = 87;

/// ListOffsets special timestamps.
pub const EARLIEST: i64 = -2;
pub const LATEST: i64 = -1;

/// Protocol versions of the raw requests (the ones librdkafka/kafka-python use or below).
const PRODUCE_VERSION: i16 = 7;
const FETCH_VERSION: i16 = 11;
const LIST_OFFSETS_VERSION: i16 = 4;
const INIT_PRODUCER_ID_VERSION: i16 = 1;

/// How long one kafka-python admin call may take.
pub const ADMIN_TIMEOUT: Duration = Duration::from_secs(60);
/// How long one kcat read-back may take.
pub const KCAT_TIMEOUT: Duration = Duration::from_secs(120);
/// Pause between two checks of a condition a test waits for.
pub const WAIT_POLL_MS: u64 = 50;
/// Raw fetches one `read_log` may issue before it gives up.
const READ_FETCHES_MAX: usize = 10_000;

/// Wall-clock milliseconds since the Unix epoch (record timestamps).
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .expect("the clock is after 1970")
}

/// Polls `probe` every `WAIT_POLL_MS` until it returns `Some`, for at most `timeout`;
/// panics naming `what` (with the last observation) otherwise.
pub fn wait_for<T, O: std::fmt::Debug>(
    what: &str,
    timeout: Duration,
    mut probe: impl FnMut() -> Result<T, O>,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        match probe() {
            Ok(value) => return value,
            Err(last) if Instant::now() >= deadline => {
                panic!("{what}: not reached within {timeout:?}; last observation: {last:?}")
            }
            Err(_) => std::thread::sleep(Duration::from_millis(WAIT_POLL_MS)),
        }
    }
}

/// One record to produce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRecord {
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub timestamp: i64,
}

impl NewRecord {
    /// A keyed record with a value.
    pub fn keyed(key: &str, value: &str, timestamp: i64) -> Self {
        NewRecord {
            key: Some(Bytes::from(key.to_string())),
            value: Some(Bytes::from(value.to_string())),
            timestamp,
        }
    }
}

/// The idempotent-producer fields of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerFields {
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
}

/// Encodes `records` as exactly one uncompressed magic-2 batch (base offset 0, as a
/// producer sends it), idempotent when `producer` is given.
pub fn encode_batch(records: &[NewRecord], producer: Option<ProducerFields>) -> Bytes {
    assert!(!records.is_empty(), "a batch holds at least one record");
    let (producer_id, producer_epoch, base_sequence) = match producer {
        Some(p) => (p.producer_id, p.producer_epoch, p.base_sequence),
        // The encoder starts a new batch wherever `offset - sequence` changes, so a plain
        // batch still numbers its records' sequences from -1; the header keeps -1.
        None => (-1, -1, -1),
    };
    let records: Vec<Record> = records
        .iter()
        .enumerate()
        .map(|(i, r)| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id,
            producer_epoch,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            sequence: base_sequence.wrapping_add(i as i32),
            timestamp: r.timestamp,
            key: r.key.clone(),
            value: r.value.clone(),
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression: Compression::None,
    };
    RecordBatchEncoder::encode(&mut buf, &records, &options).expect("encode a record batch");
    let bytes = buf.freeze();
    assert_eq!(
        batch_headers(&bytes).len(),
        1,
        "the encoder produced more than one batch"
    );
    bytes
}

/// A Produce request (acks=all) carrying `batch` for one partition.
pub fn produce_request(topic: &str, partition: i32, batch: Bytes) -> ProduceRequest {
    ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(10_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(topic_name(topic))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(partition)
                .with_records(Some(batch))])])
}

/// Encodes the frame of a Produce request (for tests that send it and never read the
/// response).
pub fn produce_frame(correlation_id: i32, topic: &str, partition: i32, batch: Bytes) -> Vec<u8> {
    crate::common::encode_request(
        correlation_id,
        PRODUCE_VERSION,
        &produce_request(topic, partition, batch),
    )
}

/// Produces one batch with acks=all and returns the partition's response.
pub fn produce(
    conn: &mut KafkaConn,
    topic: &str,
    partition: i32,
    batch: Bytes,
) -> PartitionProduceResponse {
    let response = conn.request(PRODUCE_VERSION, &produce_request(topic, partition, batch));
    response
        .responses
        .into_iter()
        .flat_map(|t| t.partition_responses)
        .find(|p| p.index == partition)
        .unwrap_or_else(|| panic!("produce response lacks {topic}/{partition}"))
}

/// Produces one batch and asserts it was appended; returns its base offset.
pub fn produce_ok(conn: &mut KafkaConn, topic: &str, partition: i32, batch: Bytes) -> i64 {
    let response = produce(conn, topic, partition, batch);
    assert_eq!(
        response.error_code, 0,
        "produce to {topic}/{partition} failed: {response:?}"
    );
    response.base_offset
}

/// A new producer id and epoch from InitProducerId (no transactional id).
pub fn init_producer_id(node: &EddyNode) -> (i64, i16) {
    let request = InitProducerIdRequest::default()
        .with_transactional_id(None)
        .with_transaction_timeout_ms(60_000);
    let response =
        KafkaConn::connect(node.kafka_addr()).request(INIT_PRODUCER_ID_VERSION, &request);
    assert_eq!(response.error_code, 0, "InitProducerId: {response:?}");
    let ProducerId(id) = response.producer_id;
    assert!(id >= 0, "InitProducerId gave producer id {id}");
    (id, response.producer_epoch)
}

/// ListOffsets for one partition at `timestamp` (`EARLIEST`, `LATEST` or a time).
pub fn list_offset(
    node: &EddyNode,
    topic: &str,
    partition: i32,
    timestamp: i64,
) -> ListOffsetsPartitionResponse {
    let request = ListOffsetsRequest::default()
        .with_replica_id((-1).into())
        .with_isolation_level(0)
        .with_topics(vec![ListOffsetsTopic::default()
            .with_name(topic_name(topic))
            .with_partitions(vec![ListOffsetsPartition::default()
                .with_partition_index(partition)
                .with_current_leader_epoch(-1)
                .with_timestamp(timestamp)])]);
    let response = KafkaConn::connect(node.kafka_addr()).request(LIST_OFFSETS_VERSION, &request);
    response
        .topics
        .into_iter()
        .flat_map(|t| t.partitions)
        .find(|p| p.partition_index == partition)
        .unwrap_or_else(|| panic!("ListOffsets response lacks {topic}/{partition}"))
}

/// `(log start offset, high watermark)` of a partition through ListOffsets.
pub fn log_offsets(node: &EddyNode, topic: &str, partition: i32) -> (i64, i64) {
    let earliest = list_offset(node, topic, partition, EARLIEST);
    let latest = list_offset(node, topic, partition, LATEST);
    assert_eq!(earliest.error_code, 0, "ListOffsets earliest: {earliest:?}");
    assert_eq!(latest.error_code, 0, "ListOffsets latest: {latest:?}");
    (earliest.offset, latest.offset)
}

/// One raw Fetch (v11) of a partition at `offset`; the partition's answer, errors included.
pub fn fetch_partition(node: &EddyNode, topic: &str, partition: i32, offset: i64) -> PartitionData {
    let request = FetchRequest::default()
        .with_replica_id((-1).into())
        .with_max_wait_ms(100)
        .with_min_bytes(1)
        .with_max_bytes(16 * 1024 * 1024)
        .with_isolation_level(0)
        .with_session_id(0)
        .with_session_epoch(-1)
        .with_topics(vec![FetchTopic::default()
            .with_topic(topic_name(topic))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(partition)
                .with_current_leader_epoch(-1)
                .with_fetch_offset(offset)
                .with_log_start_offset(-1)
                .with_partition_max_bytes(8 * 1024 * 1024)])]);
    let response = KafkaConn::connect(node.kafka_addr()).request(FETCH_VERSION, &request);
    assert_eq!(
        response.error_code, 0,
        "fetch {topic}/{partition}: top-level error"
    );
    response
        .responses
        .into_iter()
        .flat_map(|t| t.partitions)
        .find(|p| p.partition_index == partition)
        .unwrap_or_else(|| panic!("fetch response lacks {topic}/{partition}"))
}

/// One record as read back from the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    pub offset: i64,
    pub timestamp: i64,
    pub log_append_time: bool,
    pub producer_id: i64,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
}

impl StoredRecord {
    /// The key as UTF-8 (`""` when absent).
    pub fn key_str(&self) -> String {
        self.key
            .as_ref()
            .map(|k| String::from_utf8_lossy(k).into_owned())
            .unwrap_or_default()
    }

    /// The value as UTF-8, `None` for a tombstone.
    pub fn value_str(&self) -> Option<String> {
        self.value
            .as_ref()
            .map(|v| String::from_utf8_lossy(v).into_owned())
    }
}

/// The whole complete batches at the front of `records` (a fetch may end with a partial one).
fn whole_batches(records: &Bytes) -> Bytes {
    let len: usize = WholeBatchLens::new(records).sum();
    records.slice(..len)
}

/// Lengths (with their 12-byte prefix) of the complete batches in a buffer.
struct WholeBatchLens<'a> {
    rest: &'a [u8],
}

impl<'a> WholeBatchLens<'a> {
    fn new(records: &'a Bytes) -> Self {
        WholeBatchLens { rest: records }
    }
}

impl Iterator for WholeBatchLens<'_> {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        let length: [u8; 4] = self.rest.get(8..12)?.try_into().ok()?;
        let total = 12 + usize::try_from(i32::from_be_bytes(length)).ok()?;
        if self.rest.len() < total {
            return None;
        }
        self.rest = &self.rest[total..];
        Some(total)
    }
}

/// The max timestamp field of each complete batch in `records`.
fn max_timestamps(records: &Bytes) -> Vec<i64> {
    const MAX_TIMESTAMP_AT: usize = 35;
    let mut at = 0;
    WholeBatchLens::new(records)
        .map(|len| {
            let field: [u8; 8] = records[at + MAX_TIMESTAMP_AT..at + MAX_TIMESTAMP_AT + 8]
                .try_into()
                .expect("8 bytes");
            at += len;
            i64::from_be_bytes(field)
        })
        .collect()
}

/// Reads a partition record by record from its log start offset to its high watermark
/// with raw fetches, asserting that offsets strictly ascend.
pub fn read_log(node: &EddyNode, topic: &str, partition: i32) -> Vec<StoredRecord> {
    let (start, end) = log_offsets(node, topic, partition);
    let mut out: Vec<StoredRecord> = Vec::new();
    let mut offset = start;
    for _ in 0..READ_FETCHES_MAX {
        if offset >= end {
            return out;
        }
        let data = fetch_partition(node, topic, partition, offset);
        // Retention may move the log start between the offsets query and the fetch: read
        // again from the new start (bounded by the loop) rather than fail on that race.
        const OFFSET_OUT_OF_RANGE: i16 = 1;
        if data.error_code == OFFSET_OUT_OF_RANGE {
            let (moved_start, _) = log_offsets(node, topic, partition);
            if moved_start > offset {
                out.clear();
                offset = moved_start;
                continue;
            }
        }
        assert_eq!(
            data.error_code, 0,
            "fetch {topic}/{partition} at {offset} (log {start}..{end}): error {}",
            data.error_code
        );
        let mut batches = whole_batches(&data.records.unwrap_or_default());
        assert!(
            !batches.is_empty(),
            "fetch {topic}/{partition} at {offset} below the high watermark {end} returned no batch"
        );
        let headers = batch_headers(&batches);
        let max_timestamps = max_timestamps(&batches);
        let sets = RecordBatchDecoder::decode_all(&mut batches)
            .unwrap_or_else(|err| panic!("decode {topic}/{partition} at {offset}: {err}"));
        for ((header, max_timestamp), set) in headers.iter().zip(max_timestamps).zip(sets) {
            for r in set.records {
                if r.offset < offset {
                    continue;
                }
                if let Some(last) = out.last() {
                    assert!(
                        r.offset > last.offset,
                        "{topic}/{partition}: offset {} follows {}",
                        r.offset,
                        last.offset
                    );
                }
                let log_append_time = r.timestamp_type == TimestampType::LogAppend;
                out.push(StoredRecord {
                    offset: r.offset,
                    // As consumers do: a LogAppendTime batch's records all carry its max
                    // timestamp (the broker stamps only the batch header).
                    timestamp: if log_append_time {
                        max_timestamp
                    } else {
                        r.timestamp
                    },
                    log_append_time,
                    producer_id: r.producer_id,
                    key: r.key,
                    value: r.value,
                });
            }
            // A compacted batch may end before its original last offset; the next batch
            // starts further on either way.
            offset = offset.max(header.base_offset + i64::from(header.last_offset_delta) + 1);
        }
    }
    panic!("{topic}/{partition}: offset {end} not reached in {READ_FETCHES_MAX} fetches");
}

/// One record as kcat prints it with `-f '%o|%k|%S|%s\n'`: value `None` for a tombstone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KcatRecord {
    pub offset: i64,
    pub key: String,
    pub value: Option<String>,
}

/// Reads a partition from the beginning to its end with kcat (librdkafka), which also
/// proves a real consumer gets through the log without stalling.
pub fn kcat_read(node: &EddyNode, topic: &str, partition: i32) -> Vec<KcatRecord> {
    let bootstrap = node.bootstrap();
    let partition = partition.to_string();
    let out = run_kcat(
        &[
            "-C",
            "-b",
            &bootstrap,
            "-t",
            topic,
            "-p",
            &partition,
            "-o",
            "beginning",
            "-e",
            "-q",
            "-f",
            "%o|%k|%S|%s\\n",
            "-X",
            "socket.timeout.ms=10000",
        ],
        None,
        KCAT_TIMEOUT,
    );
    out.lines()
        .map(|line| {
            let fields: Vec<&str> = line.splitn(4, '|').collect();
            assert_eq!(fields.len(), 4, "unexpected kcat line {line:?}");
            let offset = fields[0].parse().expect("kcat offset");
            let value = match fields[2] {
                "-1" => None,
                _ => Some(fields[3].to_string()),
            };
            KcatRecord {
                offset,
                key: fields[1].to_string(),
                value,
            }
        })
        .collect()
}

/// Runs `tests/python/topics_admin.py` (kafka-python's admin client) and returns its output.
pub fn admin(node: &EddyNode, command: &str, args: &[&str]) -> String {
    let bootstrap = node.bootstrap();
    let mut all = vec![command, bootstrap.as_str()];
    all.extend_from_slice(args);
    run_python("topics_admin.py", &all, ADMIN_TIMEOUT)
}

/// Creates a one-partition topic with configs through kafka-python's admin client.
pub fn create_topic(node: &EddyNode, topic: &str, configs: &[(&str, &str)]) {
    let configs: Vec<String> = configs.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let mut args = vec![topic];
    args.extend(configs.iter().map(String::as_str));
    let out = admin(node, "create", &args);
    assert!(
        out.contains(&format!("created {topic}")),
        "topics_admin.py create printed: {out}"
    );
}

/// Sets topic configs through kafka-python's admin client (IncrementalAlterConfigs).
pub fn alter_topic(node: &EddyNode, topic: &str, configs: &[(&str, &str)]) {
    let configs: Vec<String> = configs.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let mut args = vec![topic];
    args.extend(configs.iter().map(String::as_str));
    let out = admin(node, "alter", &args);
    assert!(
        out.contains(&format!("altered {topic}")),
        "topics_admin.py alter printed: {out}"
    );
}

/// The value of an unlabelled counter on the admin `/metrics` page (0 when absent).
pub fn metric(node: &EddyNode, name: &str) -> f64 {
    let page = http_get(node.admin_addr(), "/metrics");
    assert_eq!(page.status, 200, "GET /metrics: {}", page.body);
    page.body
        .lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| {
            let (metric, value) = l.rsplit_once(' ')?;
            (metric == name)
                .then(|| value.parse::<f64>().ok())
                .flatten()
        })
        .unwrap_or(0.0)
}

/// The `compacted` log lines of a node: `(scanned, removed, elapsed_ms)` each.
pub fn compaction_lines(node: &EddyNode) -> Vec<(u64, u64, u64)> {
    node.log()
        .lines()
        .filter(|l| l.contains("compacted"))
        .filter_map(|l| {
            let field = |name: &str| -> Option<u64> {
                let at = l.find(&format!("{name}="))? + name.len() + 1;
                let digits: String = l[at..].chars().take_while(char::is_ascii_digit).collect();
                digits.parse().ok()
            };
            Some((field("scanned")?, field("removed")?, field("elapsed_ms")?))
        })
        .collect()
}

fn topic_name(topic: &str) -> TopicName {
    TopicName(StrBytes::from_string(topic.to_string()))
}
