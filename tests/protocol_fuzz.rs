//! Malformed input on the Kafka port: random frames, garbage bodies behind valid size
//! prefixes, valid headers with garbage bodies, mutated and truncated valid requests, an
//! unknown API key, unsupported versions and absurd frame sizes. After each one the
//! connection must either answer or be closed within a bound — never hang — and at the
//! end the node must still be alive, free of panics, and serve a well-behaved client.
//!
//! The cases are drawn from a seeded generator; the seed is printed, and `SEED=<n>`
//! replays a run.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::api_versions_request::ApiVersionsRequest;
use kafka_protocol::messages::api_versions_response::ApiVersionsResponse;
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreateTopicsRequest};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchRequest, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{
    ListOffsetsPartition, ListOffsetsRequest, ListOffsetsTopic,
};
use kafka_protocol::messages::metadata_request::{MetadataRequest, MetadataRequestTopic};
use kafka_protocol::messages::produce_request::{
    PartitionProduceData, ProduceRequest, TopicProduceData,
};
use kafka_protocol::messages::{ResponseHeader, TopicName};
use kafka_protocol::protocol::{Decodable, StrBytes};
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use common::{encode_request, half_close, read_frame, run_kcat, EddyNode, FrameRead, KafkaConn};

/// Seed used when `SEED` is not set, so that CI runs are reproducible.
const DEFAULT_SEED: u64 = 0x00ED_D7F0_2251;
/// How long one malformed case may take to be answered or closed.
const CASE_TIMEOUT: Duration = Duration::from_secs(10);
const RANDOM_FRAME_CASES: usize = 100;
const GARBAGE_BODY_CASES: usize = 100;
const GARBAGE_AFTER_HEADER_CASES: usize = 500;
const MUTATION_CASES: usize = 1_000;
const RANDOM_BYTES_MAX: usize = 512;
/// Scan the node's log for panics after this many cases, to name the culprit early.
const HEALTH_CHECK_EVERY_CASES: usize = 25;
/// Fetch, JoinGroup and SyncGroup: garbage that decodes into one of these can be a valid
/// request that the node holds for as long as it asks (max wait, rebalance timeout).
const LONG_POLL_API_KEYS: [i16; 3] = [1, 11, 14];
/// Cases quoted when the node dies.
const RECENT_CASES_KEPT: usize = 4;
const UNSUPPORTED_VERSION: i16 = 35;

/// How one case ended.
#[derive(Debug)]
enum Outcome {
    Response(Vec<u8>),
    Closed,
}

struct Fuzzer {
    node: EddyNode,
    rng: StdRng,
    seed: u64,
    cases: usize,
    /// The last cases sent (number, description, bytes), for the failure message.
    recent: Vec<(usize, String, Vec<u8>)>,
    next_health_check: usize,
    responses: usize,
    closes: usize,
    held: usize,
}

impl Fuzzer {
    /// Sends `bytes` on a fresh connection (optionally closing the write half after) and
    /// waits for a response frame or a close.
    fn case(&mut self, name: &str, bytes: &[u8], close_write: bool) -> Outcome {
        match self.run_case(name, bytes, close_write, false) {
            Some(outcome) => outcome,
            None => unreachable!("a case that may not hold timed out without failing"),
        }
    }

    /// Like `case`, but the node may also hold the request past `CASE_TIMEOUT` (`None`):
    /// garbage that happens to decode as a long poll legitimately waits for its timeout.
    fn case_may_hold(&mut self, name: &str, bytes: &[u8]) -> Option<Outcome> {
        self.run_case(name, bytes, true, true)
    }

    fn run_case(
        &mut self,
        name: &str,
        bytes: &[u8],
        close_write: bool,
        may_hold: bool,
    ) -> Option<Outcome> {
        self.cases += 1;
        if self.recent.len() == RECENT_CASES_KEPT {
            self.recent.remove(0);
        }
        self.recent
            .push((self.cases, name.to_string(), bytes.to_vec()));
        let mut stream = match TcpStream::connect_timeout(&self.node.kafka_addr(), CASE_TIMEOUT) {
            Ok(stream) => stream,
            Err(err) => self.fail(&format!("cannot connect: {err}")),
        };
        stream
            .set_read_timeout(Some(CASE_TIMEOUT))
            .expect("read timeout");
        stream
            .set_write_timeout(Some(CASE_TIMEOUT))
            .expect("write timeout");
        // A failed write means the node already closed the connection, an allowed outcome.
        let written = stream.write_all(bytes).is_ok();
        if close_write && written {
            half_close(&stream);
        }
        let outcome = match read_frame(&mut stream) {
            FrameRead::Frame(body) => Some(Outcome::Response(body)),
            FrameRead::Closed { .. } => Some(Outcome::Closed),
            FrameRead::TimedOut { partial: 0 } if may_hold => None,
            FrameRead::TimedOut { partial } => self.fail(&format!(
                "neither a response nor a close within {CASE_TIMEOUT:?} ({partial} bytes received)"
            )),
        };
        match outcome {
            Some(Outcome::Response(_)) => self.responses += 1,
            Some(Outcome::Closed) => self.closes += 1,
            None => self.held += 1,
        }
        if !self.node.is_running() {
            self.fail("the node process exited");
        }
        if self.cases >= self.next_health_check {
            self.next_health_check += HEALTH_CHECK_EVERY_CASES;
            if self.node.log().contains("panicked") {
                self.fail("the node log shows a panic");
            }
        }
        outcome
    }

    /// Fails the test, quoting the last cases sent: requests may still be handled after
    /// their connection closed, so the culprit is one of them, not necessarily the last.
    fn fail(&self, what: &str) -> ! {
        let recent: Vec<String> = self
            .recent
            .iter()
            .map(|(n, case, sent)| format!("case {n} ({case}), {} bytes: {sent:02x?}", sent.len()))
            .collect();
        panic!(
            "{what} at case {} (seed {}); the last cases sent, newest last:\n{}",
            self.cases,
            self.seed,
            recent.join("\n")
        );
    }

    fn random_bytes(&mut self, len_max: usize) -> Vec<u8> {
        let len = self.rng.gen_range(0..=len_max);
        (0..len).map(|_| self.rng.gen()).collect()
    }
}

fn seed() -> u64 {
    match std::env::var("SEED") {
        Ok(s) => s
            .parse()
            .unwrap_or_else(|_| panic!("SEED must be an unsigned integer, got {s:?}")),
        Err(_) => DEFAULT_SEED,
    }
}

fn frame(body: &[u8]) -> Vec<u8> {
    let mut out = (body.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(body);
    out
}

fn name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_string()))
}

fn record_batch() -> Bytes {
    let records: Vec<Record> = (0..3)
        .map(|i| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: i,
            sequence: -1,
            timestamp: 1_700_000_000_000 + i,
            key: Some(Bytes::from(format!("fuzz-key-{i}"))),
            value: Some(Bytes::from(format!("fuzz-value-{i}"))),
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        &records,
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .expect("encode a record batch");
    buf.freeze()
}

/// Well-formed requests (with size prefix) that mutations and truncations start from.
/// `mutable` ones can be mutated freely: none of them can make the node wait on purpose.
fn templates() -> Vec<(&'static str, Vec<u8>, bool)> {
    let api_versions = ApiVersionsRequest::default()
        .with_client_software_name(StrBytes::from_static_str("eddy-fuzz"))
        .with_client_software_version(StrBytes::from_static_str("1.0"));
    let metadata = MetadataRequest::default()
        .with_topics(Some(vec![
            MetadataRequestTopic::default().with_name(Some(name("fuzz-meta")))
        ]))
        .with_allow_auto_topic_creation(false);
    let produce = ProduceRequest::default()
        .with_acks(1)
        .with_timeout_ms(5_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(name("fuzz-produce"))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(record_batch()))])]);
    let list_offsets = ListOffsetsRequest::default()
        .with_replica_id((-1).into())
        .with_topics(vec![ListOffsetsTopic::default()
            .with_name(name("fuzz-produce"))
            .with_partitions(vec![ListOffsetsPartition::default()
                .with_partition_index(0)
                .with_timestamp(-1)])]);
    let fetch = FetchRequest::default()
        .with_replica_id((-1).into())
        .with_max_wait_ms(100)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_session_epoch(-1)
        .with_topics(vec![FetchTopic::default()
            .with_topic(name("fuzz-produce"))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(0)
                .with_fetch_offset(0)
                .with_partition_max_bytes(1 << 20)])]);
    let create_topics = CreateTopicsRequest::default()
        .with_timeout_ms(5_000)
        .with_topics(vec![CreatableTopic::default()
            .with_name(name("fuzz-created"))
            .with_num_partitions(1)
            .with_replication_factor(1)]);
    vec![
        ("ApiVersions v3", encode_request(1, 3, &api_versions), true),
        ("ApiVersions v0", encode_request(2, 0, &api_versions), true),
        ("Metadata v12", encode_request(3, 12, &metadata), true),
        ("Metadata v4", encode_request(4, 4, &metadata), true),
        ("Produce v9", encode_request(5, 9, &produce), true),
        ("Produce v7", encode_request(6, 7, &produce), true),
        ("ListOffsets v7", encode_request(7, 7, &list_offsets), true),
        ("ListOffsets v2", encode_request(8, 2, &list_offsets), true),
        // A mutated Fetch may ask the node to wait for data that never comes, and a mutated
        // CreateTopics may ask for billions of partitions: truncate those, don't mutate.
        ("Fetch v12", encode_request(9, 12, &fetch), false),
        ("Fetch v11", encode_request(10, 11, &fetch), false),
        (
            "CreateTopics v4",
            encode_request(11, 4, &create_topics),
            false,
        ),
    ]
}

/// Overwrites the request's api version (bytes 6..8 of the frame).
fn with_version(mut frame: Vec<u8>, version: i16) -> Vec<u8> {
    frame[6..8].copy_from_slice(&version.to_be_bytes());
    frame
}

/// Reads the correlation id (response header v0/v1 both start with it).
fn correlation_id(response: &[u8]) -> i32 {
    assert!(
        response.len() >= 4,
        "response shorter than its header: {response:?}"
    );
    i32::from_be_bytes(response[..4].try_into().expect("4 bytes"))
}

#[test]
fn protocol_fuzz_malformed_frames_neither_hang_nor_crash_the_node() {
    let seed = seed();
    println!("protocol_fuzz seed: {seed} (replay with SEED={seed})");
    let mut fuzz = Fuzzer {
        node: EddyNode::start(),
        rng: StdRng::seed_from_u64(seed),
        seed,
        cases: 0,
        recent: Vec::new(),
        next_health_check: HEALTH_CHECK_EVERY_CASES,
        responses: 0,
        closes: 0,
        held: 0,
    };

    // The advertised version table, to aim garbage bodies at real decoders.
    let advertised = KafkaConn::connect(fuzz.node.kafka_addr())
        .request(3, &ApiVersionsRequest::default())
        .api_keys;
    assert!(!advertised.is_empty(), "ApiVersions lists no API");

    explicit_cases(&mut fuzz);

    for _ in 0..RANDOM_FRAME_CASES {
        let bytes = fuzz.random_bytes(RANDOM_BYTES_MAX);
        fuzz.case("random bytes then EOF", &bytes, true);
    }
    for _ in 0..GARBAGE_BODY_CASES {
        let body = fuzz.random_bytes(RANDOM_BYTES_MAX);
        fuzz.case("valid size, garbage body", &frame(&body), false);
    }
    for _ in 0..GARBAGE_AFTER_HEADER_CASES {
        let api = &advertised[fuzz.rng.gen_range(0..advertised.len())];
        let version = fuzz.rng.gen_range(api.min_version..=api.max_version);
        let mut body = Vec::new();
        body.extend_from_slice(&api.api_key.to_be_bytes());
        body.extend_from_slice(&version.to_be_bytes());
        body.extend_from_slice(&fuzz.rng.gen::<i32>().to_be_bytes());
        let garbage = fuzz.random_bytes(RANDOM_BYTES_MAX);
        body.extend_from_slice(&garbage);
        let case = format!("api {} v{version} header, garbage after it", api.api_key);
        if LONG_POLL_API_KEYS.contains(&api.api_key) {
            fuzz.case_may_hold(&case, &frame(&body));
        } else {
            fuzz.case(&case, &frame(&body), true);
        }
    }

    let templates = templates();
    let mutable: Vec<_> = templates.iter().filter(|t| t.2).collect();
    for _ in 0..MUTATION_CASES {
        let (what, template, _) = mutable[fuzz.rng.gen_range(0..mutable.len())];
        let mut bytes = template.clone();
        // Keep the size prefix and the api key/version; mutate the rest.
        let body_start = 8;
        if fuzz.rng.gen_bool(0.5) {
            for _ in 0..fuzz.rng.gen_range(1..=4) {
                let at = fuzz.rng.gen_range(body_start..bytes.len());
                bytes[at] = fuzz.rng.gen();
            }
        } else {
            // Huge or negative lengths where an array or string length may sit.
            let at = fuzz
                .rng
                .gen_range(body_start..bytes.len().saturating_sub(4).max(body_start + 1));
            let bomb: [u8; 4] = match fuzz.rng.gen_range(0..3) {
                0 => 0x7FFF_FFFFu32.to_be_bytes(),
                1 => 0xFFFF_FFFEu32.to_be_bytes(),
                _ => 0x00FF_FFFFu32.to_be_bytes(),
            };
            for (i, b) in bomb.iter().enumerate() {
                if let Some(slot) = bytes.get_mut(at + i) {
                    *slot = *b;
                }
            }
        }
        fuzz.case(&format!("mutated {what}"), &bytes, true);
    }

    for (what, template, _) in &templates {
        let body_len = template.len() - 4;
        for cut in [1, 4, body_len / 2, body_len - 1] {
            // The size announces the whole request but the stream ends early.
            let announced = &template[..4 + cut];
            fuzz.case(&format!("{what} cut at {cut}, then EOF"), announced, true);
            // Framed correctly, but the body inside the frame is cut short.
            let reframed = frame(&template[4..4 + cut]);
            fuzz.case(&format!("{what} body cut at {cut}"), &reframed, false);
        }
    }

    well_behaved_clients_still_work(&mut fuzz);
    println!(
        "protocol_fuzz: {} cases, {} answered, {} closed, {} held as long polls, seed {seed}",
        fuzz.cases, fuzz.responses, fuzz.closes, fuzz.held
    );
}

fn explicit_cases(fuzz: &mut Fuzzer) {
    let api_versions = encode_request(
        41,
        3,
        &ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("eddy-fuzz"))
            .with_client_software_version(StrBytes::from_static_str("1.0")),
    );

    // Too new an ApiVersions: Kafka answers UNSUPPORTED_VERSION with a v0 body that still
    // lists the table, which is how librdkafka and kafka-python find a version to retry.
    match fuzz.case("ApiVersions v127", &with_version(api_versions, 127), false) {
        Outcome::Response(body) => {
            let mut buf = Bytes::from(body);
            let header = ResponseHeader::decode(&mut buf, 0).expect("response header v0");
            assert_eq!(header.correlation_id, 41, "ApiVersions v127 correlation id");
            let response =
                ApiVersionsResponse::decode(&mut buf, 0).expect("ApiVersions v0 response body");
            assert_eq!(
                response.error_code, UNSUPPORTED_VERSION,
                "ApiVersions v127 must answer UNSUPPORTED_VERSION"
            );
            assert!(
                !response.api_keys.is_empty(),
                "ApiVersions v127 error response must still list the supported versions"
            );
        }
        Outcome::Closed => panic!("ApiVersions v127 closed the connection instead of answering"),
    }

    let metadata = encode_request(42, 12, &MetadataRequest::default());
    if let Outcome::Response(body) = fuzz.case("Metadata v99", &with_version(metadata, 99), false) {
        assert_eq!(correlation_id(&body), 42, "Metadata v99 correlation id");
    }

    let mut unknown_key = Vec::new();
    unknown_key.extend_from_slice(&32_000i16.to_be_bytes());
    unknown_key.extend_from_slice(&0i16.to_be_bytes());
    unknown_key.extend_from_slice(&43i32.to_be_bytes());
    unknown_key.extend_from_slice(&4i16.to_be_bytes());
    unknown_key.extend_from_slice(b"fuzz");
    if let Outcome::Response(body) = fuzz.case("unknown api key 32000", &frame(&unknown_key), false)
    {
        assert_eq!(correlation_id(&body), 43, "unknown api key correlation id");
    }

    // A request whose first array announces 2^31-1 elements in a few bytes: a decoder
    // that sizes its buffer from the count instead of the bytes present aborts the node.
    let mut array_bomb = encode_request(44, 4, &MetadataRequest::default());
    array_bomb.truncate(array_bomb.len() - 5);
    array_bomb.extend_from_slice(&i32::MAX.to_be_bytes());
    array_bomb.push(0);
    fuzz.case("Metadata v4 announcing 2^31-1 topics", &array_bomb, false);

    for (what, size) in [
        ("4 GiB frame (0xFFFFFFFF)", 0xFFFF_FFFFu32),
        ("2 GiB frame (0x7FFFFFFF)", 0x7FFF_FFFF),
        ("negative frame size", 0x8000_0000),
        ("empty frame", 0),
    ] {
        let mut bytes = size.to_be_bytes().to_vec();
        if size != 0 {
            bytes.extend_from_slice(&[0u8; 16]);
        }
        fuzz.case(what, &bytes, false);
    }
}

fn well_behaved_clients_still_work(fuzz: &mut Fuzzer) {
    fuzz.node.assert_healthy();
    let mut conn = KafkaConn::connect(fuzz.node.kafka_addr());
    let versions = conn.request(3, &ApiVersionsRequest::default());
    assert_eq!(versions.error_code, 0, "ApiVersions after fuzzing");
    assert!(
        !versions.api_keys.is_empty(),
        "ApiVersions lists no API after fuzzing"
    );
    let metadata = conn.request(12, &MetadataRequest::default());
    assert!(
        metadata.brokers.iter().any(|b| b.node_id == 1),
        "Metadata after fuzzing lacks broker 1: {metadata:?}"
    );

    let bootstrap = fuzz.node.bootstrap();
    let out = run_kcat(
        &["-L", "-b", &bootstrap, "-m", "15"],
        None,
        Duration::from_secs(60),
    );
    assert!(
        out.contains(&format!("broker 1 at {bootstrap}")),
        "kcat -L after fuzzing:\n{out}"
    );
    fuzz.node.assert_healthy();
}
