//! Issue #11, failure 4: creating or loading many partitions must not stall the node.
//!
//! On 48b0752 a CreateTopics of 10,000 partitions froze every client of the node for ~20 s
//! (the partition supervisor republished the whole routing table once per partition, on
//! the thread that also serves connections), twenty such topics in one request never got
//! an answer and SIGTERM no longer stopped the node, and a restart with 10,000 partitions
//! took 23 s before its port opened.
//!
//! These tests drive a real node process with raw Kafka frames. They print what they
//! measure (creation time, ApiVersions/Metadata latency percentiles of another client
//! meanwhile, start-up time, resident memory per idle partition) and assert only loose
//! bounds that are the behaviour under test; each bound's comment says why it holds on a
//! loaded 2-core machine. The suite creates the full 10,000 partitions (a few seconds in a
//! debug build); `EDDY_SCALE_PARTITIONS` changes the count and `EDDY_SCALE_TOPICS` creates
//! that many such topics in one request (docs/PERFORMANCE.md has both measurements).

mod common;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{encode_request, read_frame, EddyNode, FrameRead};
use kafka_protocol::messages::api_versions_request::ApiVersionsRequest;
use kafka_protocol::messages::create_partitions_request::{
    CreatePartitionsRequest, CreatePartitionsTopic,
};
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreateTopicsRequest};
use kafka_protocol::messages::list_offsets_request::{
    ListOffsetsPartition, ListOffsetsRequest, ListOffsetsTopic,
};
use kafka_protocol::messages::metadata_request::{MetadataRequest, MetadataRequestTopic};
use kafka_protocol::messages::{CreateTopicsResponse, MetadataResponse, ResponseHeader, TopicName};
use kafka_protocol::protocol::{Decodable, HeaderVersion, Request, StrBytes};

/// Partitions per topic created by the suite's run; `EDDY_SCALE_PARTITIONS` overrides it.
const PARTITIONS_DEFAULT: i32 = 10_000;
/// How long the test client waits for a CreateTopics answer.
const CREATE_TIMEOUT_MS: u64 = 90_000;
/// How long one probe request may take before it counts as a stall of that length.
const PROBE_TIMEOUT_MS: u64 = 30_000;
/// How long the probe goes on after the creation was answered (partition actors start).
const SETTLE_MS: u64 = 3_000;
/// Kafka's UNKNOWN_TOPIC_OR_PARTITION error code.
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
/// Kafka's INVALID_PARTITIONS error code.
const INVALID_PARTITIONS: i16 = 37;
/// Pause between two probes of the other client.
const PROBE_PAUSE_MS: u64 = 20;
/// The loose bound on the other client's p99 while partitions are created. A probe is a
/// new TCP connection plus one ApiVersions or one single-topic Metadata request: well under
/// a millisecond of work. 2 s is three orders of magnitude above that and leaves room for a
/// loaded 2-core machine (other builds, the creation itself using both cores) to delay the
/// probe's thread; before the fix every probe during the creation waited ~19 s.
const PROBE_P99_BOUND_MS: u128 = 2_000;
/// How long the huge creation runs before the test sends SIGTERM.
const CREATION_BEFORE_SIGTERM_MS: u64 = 1_000;

/// Topics of `scale_partitions()` each created in one request; `EDDY_SCALE_TOPICS`
/// overrides the default of one.
fn scale_topics() -> i32 {
    std::env::var("EDDY_SCALE_TOPICS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
}

fn scale_partitions() -> i32 {
    std::env::var("EDDY_SCALE_PARTITIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(PARTITIONS_DEFAULT)
}

/// One request on a fresh connection with its own timeout; `None` if no answer came.
fn request_once<R: Request>(
    addr: SocketAddr,
    version: i16,
    request: &R,
    timeout: Duration,
) -> Option<R::Response> {
    let mut stream = TcpStream::connect_timeout(&addr, timeout).ok()?;
    stream.set_read_timeout(Some(timeout)).ok()?;
    stream.set_write_timeout(Some(timeout)).ok()?;
    stream.set_nodelay(true).ok()?;
    stream
        .write_all(&encode_request(1, version, request))
        .ok()?;
    let FrameRead::Frame(body) = read_frame(&mut stream) else {
        return None;
    };
    let mut body = Bytes::from(body);
    ResponseHeader::decode(&mut body, R::Response::header_version(version)).ok()?;
    R::Response::decode(&mut body, version).ok()
}

fn create_request(topics: &[(&str, i32)]) -> CreateTopicsRequest {
    CreateTopicsRequest::default()
        .with_timeout_ms(CREATE_TIMEOUT_MS as i32)
        .with_topics(
            topics
                .iter()
                .map(|(name, partitions)| {
                    CreatableTopic::default()
                        .with_name(TopicName(StrBytes::from_string(name.to_string())))
                        .with_num_partitions(*partitions)
                        .with_replication_factor(1)
                })
                .collect(),
        )
}

fn create_topics(node: &EddyNode, topics: &[(&str, i32)]) -> CreateTopicsResponse {
    request_once(
        node.kafka_addr(),
        5,
        &create_request(topics),
        Duration::from_millis(CREATE_TIMEOUT_MS),
    )
    .unwrap_or_else(|| panic!("no CreateTopics answer within {CREATE_TIMEOUT_MS} ms"))
}

fn metadata_request(topic: &str) -> MetadataRequest {
    MetadataRequest::default()
        .with_allow_auto_topic_creation(false)
        .with_topics(Some(vec![MetadataRequestTopic::default().with_name(Some(
            TopicName(StrBytes::from_string(topic.to_string())),
        ))]))
}

/// Partition count of `topic` as Metadata reports it, 0 if the topic does not exist.
fn topic_partitions(node: &EddyNode, topic: &str) -> usize {
    let response: MetadataResponse = request_once(
        node.kafka_addr(),
        9,
        &metadata_request(topic),
        Duration::from_millis(PROBE_TIMEOUT_MS),
    )
    .expect("a Metadata answer");
    let t = response.topics.first().expect("the topic in Metadata");
    if t.error_code == UNKNOWN_TOPIC_OR_PARTITION {
        return 0;
    }
    assert_eq!(t.error_code, 0, "Metadata error for {topic}");
    assert!(
        t.partitions.iter().all(|p| p.leader_id == 1),
        "every partition of {topic} has this node as leader"
    );
    t.partitions.len()
}

/// The log end offset of one partition (ListOffsets v1, latest).
fn list_offsets_end(node: &EddyNode, topic: &str, partition: i32) -> i64 {
    let request = ListOffsetsRequest::default()
        .with_replica_id(kafka_protocol::messages::BrokerId(-1))
        .with_topics(vec![ListOffsetsTopic::default()
            .with_name(TopicName(StrBytes::from_string(topic.to_string())))
            .with_partitions(vec![ListOffsetsPartition::default()
                .with_partition_index(partition)
                .with_timestamp(-1)])]);
    let response = request_once(
        node.kafka_addr(),
        1,
        &request,
        Duration::from_millis(PROBE_TIMEOUT_MS),
    )
    .expect("a ListOffsets answer");
    let p = &response.topics[0].partitions[0];
    assert_eq!(p.error_code, 0, "ListOffsets error for {topic}-{partition}");
    p.offset
}

/// Another client: a new connection per probe, alternating ApiVersions and a Metadata
/// request for one small topic, until `stop`. Returns the latencies in milliseconds; a
/// probe without an answer counts as `PROBE_TIMEOUT_MS`.
fn probe(addr: SocketAddr, stop: Arc<AtomicBool>) -> (Vec<u128>, Vec<u128>) {
    let timeout = Duration::from_millis(PROBE_TIMEOUT_MS);
    let (mut api_versions, mut metadata) = (Vec::new(), Vec::new());
    while !stop.load(Ordering::Relaxed) {
        let started = Instant::now();
        let ok = request_once(
            addr,
            3,
            &ApiVersionsRequest::default()
                .with_client_software_name(StrBytes::from_static_str("eddy-tests"))
                .with_client_software_version(StrBytes::from_static_str("1")),
            timeout,
        )
        .is_some_and(|r| r.error_code == 0);
        api_versions.push(if ok {
            started.elapsed().as_millis()
        } else {
            u128::from(PROBE_TIMEOUT_MS)
        });
        let started = Instant::now();
        let ok = request_once(addr, 9, &metadata_request("probe"), timeout)
            .is_some_and(|r| r.topics.first().is_some_and(|t| t.error_code == 0));
        metadata.push(if ok {
            started.elapsed().as_millis()
        } else {
            u128::from(PROBE_TIMEOUT_MS)
        });
        thread::sleep(Duration::from_millis(PROBE_PAUSE_MS));
    }
    (api_versions, metadata)
}

/// (p50, p99, max) of `samples`.
fn percentiles(samples: &mut [u128]) -> (u128, u128, u128) {
    assert!(!samples.is_empty(), "the probe made no request");
    samples.sort_unstable();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.99), samples[samples.len() - 1])
}

/// The node's process id, found by its Kafka listen argument (the harness does not keep
/// the child's pid where a test can read it).
fn node_pid(node: &EddyNode) -> Option<u32> {
    let listen = format!("127.0.0.1:{}", node.kafka_addr().port());
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .find_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
            let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
            let is_node = args.iter().any(|a| *a == b"start")
                && args
                    .windows(2)
                    .any(|w| w[0] == b"--listen" && w[1] == listen.as_bytes());
            is_node.then_some(pid)
        })
}

/// Resident memory of the node process in KiB (VmRSS).
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/<pid>/status")
}

#[test]
fn creating_many_partitions_leaves_other_clients_served() {
    let (partitions, topics) = (scale_partitions(), scale_topics());
    let total = partitions * topics;
    let cap = (total + 1).to_string();
    let mut node = EddyNode::start_with_args(&["--max-broker-partitions", &cap]);
    let pid = node_pid(&node).expect("the node's pid");
    let created = create_topics(&node, &[("probe", 1)]);
    assert_eq!(created.topics[0].error_code, 0, "create the probe topic");
    thread::sleep(Duration::from_millis(500));
    let rss_before = rss_kib(pid);

    let stop = Arc::new(AtomicBool::new(false));
    let prober = {
        let (addr, stop) = (node.kafka_addr(), stop.clone());
        thread::spawn(move || probe(addr, stop))
    };
    // Let the probe measure the idle node first, so the samples cover before and during.
    thread::sleep(Duration::from_millis(300));
    let names: Vec<String> = (0..topics).map(|i| format!("wide-{i}")).collect();
    let request: Vec<(&str, i32)> = names.iter().map(|n| (n.as_str(), partitions)).collect();
    let started = Instant::now();
    let response = create_topics(&node, &request);
    let create_ms = started.elapsed().as_millis();
    for topic in &response.topics {
        assert_eq!(
            topic.error_code, 0,
            "CreateTopics of {partitions} partitions: {:?}",
            topic.error_message
        );
        assert_eq!(topic.num_partitions, partitions);
    }
    // The last partition created answering shows when all of them serve.
    let last = &names[names.len() - 1];
    assert_eq!(list_offsets_end(&node, last, partitions - 1), 0);
    let served_ms = started.elapsed().as_millis();
    assert_eq!(topic_partitions(&node, &names[0]), partitions as usize);
    // The answer comes once the routing table holds every partition; the partition actors
    // load their (empty) state on their arbiters right after, so the probe goes on while
    // they do, and memory is read once they are idle.
    thread::sleep(Duration::from_millis(SETTLE_MS));
    stop.store(true, Ordering::Relaxed);
    let (mut api_versions, mut metadata) = prober.join().expect("the probe thread");
    let rss_after = rss_kib(pid);
    let per_partition = (rss_after.saturating_sub(rss_before) * 1024) / total as u64;

    let (av50, av99, avmax) = percentiles(&mut api_versions);
    let (md50, md99, mdmax) = percentiles(&mut metadata);
    println!(
        "partition scale: created {topics} × {partitions} partitions in {create_ms} ms (last \
         partition answering after {served_ms} ms); meanwhile \
         ApiVersions (new connection) n={} p50={av50} ms p99={av99} ms max={avmax} ms, \
         Metadata n={} p50={md50} ms p99={md99} ms max={mdmax} ms; resident memory \
         {rss_before} KiB -> {rss_after} KiB, {per_partition} bytes per idle partition",
        api_versions.len(),
        metadata.len(),
    );
    assert!(
        av99 < PROBE_P99_BOUND_MS && md99 < PROBE_P99_BOUND_MS,
        "another client stalled while partitions were created: ApiVersions p99 {av99} ms, \
         Metadata p99 {md99} ms (bound {PROBE_P99_BOUND_MS} ms)"
    );
    node.assert_healthy();
}

#[test]
fn sigterm_during_a_huge_creation_stops_the_node() {
    // The cap raised so that the whole request is accepted and keeps the node busy.
    let mut node = EddyNode::start_with_args(&["--max-broker-partitions", "1000000"]);
    // Twenty topics of 10,000 partitions in one request (what stopped SIGTERM from working
    // on 48b0752): SIGTERM lands while the node creates them or starts their actors.
    let names: Vec<String> = (0..20).map(|i| format!("huge-{i}")).collect();
    let topics: Vec<(&str, i32)> = names.iter().map(|n| (n.as_str(), 10_000)).collect();
    let request = create_request(&topics);
    let addr = node.kafka_addr();
    let creator = thread::spawn(move || {
        request_once(addr, 5, &request, Duration::from_millis(CREATE_TIMEOUT_MS))
    });
    thread::sleep(Duration::from_millis(CREATION_BEFORE_SIGTERM_MS));
    let sent = Instant::now();
    // SIGTERM, then a wait bounded by the harness's NODE_STOP_TIMEOUT_MS (30 s), and a
    // clean exit status: the bound is generous against the node's own drain wait (5 s)
    // and a loaded machine; before the fix the node never exited.
    node.stop();
    let stop_ms = sent.elapsed().as_millis();
    println!(
        "partition scale: SIGTERM {CREATION_BEFORE_SIGTERM_MS} ms into a 20 × 10,000 partition \
         creation: exited after {stop_ms} ms"
    );
    let _ = creator.join();
    // The node starts again on what it persisted before the stop, whatever part of the
    // request that was: each topic is there with all its partitions, or not at all.
    let started = Instant::now();
    node.restart();
    let startup_ms = started.elapsed().as_millis();
    let counts: Vec<usize> = names.iter().map(|n| topic_partitions(&node, n)).collect();
    let kept = counts.iter().filter(|c| **c > 0).count();
    println!(
        "partition scale: restart after that stop: port open after {startup_ms} ms with {kept} of the topics"
    );
    assert!(
        counts.iter().all(|c| *c == 0 || *c == 10_000),
        "a topic came back with part of its partitions: {counts:?}"
    );
    node.assert_healthy();
}

#[test]
fn a_restart_with_many_partitions_opens_its_port() {
    let partitions = scale_partitions();
    let mut node = EddyNode::start();
    let created = create_topics(&node, &[("wide", partitions)]);
    assert_eq!(created.topics[0].error_code, 0, "CreateTopics");
    node.stop();
    let started = Instant::now();
    node.restart();
    let startup_ms = started.elapsed().as_millis();
    // The port opens once every partition is routed; their actors load right after. The
    // last partition's first answer shows when the node really serves all of them.
    let last = list_offsets_end(&node, "wide", partitions - 1);
    let served_ms = started.elapsed().as_millis();
    assert_eq!(last, 0, "the last partition's log end offset");
    assert_eq!(topic_partitions(&node, "wide"), partitions as usize);
    println!(
        "partition scale: restart with {partitions} partitions: port open after {startup_ms} ms, \
         last partition answered ListOffsets after {served_ms} ms"
    );
    node.assert_healthy();
}

#[test]
fn partitions_beyond_max_broker_partitions_are_refused_naming_the_setting() {
    let node = EddyNode::start_with_args(&["--max-broker-partitions", "1000"]);
    let created = create_topics(&node, &[("first", 600), ("second", 600), ("third", 400)]);
    let codes: Vec<i16> = created.topics.iter().map(|t| t.error_code).collect();
    assert_eq!(
        codes,
        [0, INVALID_PARTITIONS, 0],
        "600 + 600 is over the cap of 1000, 600 + 400 is not"
    );
    let message = created.topics[1]
        .error_message
        .as_ref()
        .map(|m| m.to_string());
    assert!(
        message
            .as_deref()
            .is_some_and(|m| m.contains("max.broker.partitions") && m.contains("1000")),
        "the refusal names the setting and its value: {message:?}"
    );
    let grown = request_once(
        node.kafka_addr(),
        1,
        &CreatePartitionsRequest::default()
            .with_timeout_ms(30_000)
            .with_topics(vec![CreatePartitionsTopic::default()
                .with_name(TopicName(StrBytes::from_static_str("first")))
                .with_count(601)
                .with_assignments(None)]),
        Duration::from_millis(PROBE_TIMEOUT_MS),
    )
    .expect("a CreatePartitions answer");
    assert_eq!(grown.results[0].error_code, INVALID_PARTITIONS);
    assert_eq!(topic_partitions(&node, "first"), 600);
    assert_eq!(topic_partitions(&node, "second"), 0);
}
