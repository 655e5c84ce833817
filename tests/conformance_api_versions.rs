//! What ApiVersions advertises is served: for every API key and every version a real node
//! process advertises, a request of that version gets a well-formed response of that same
//! version (the right correlation id, a body that decodes at that version) — so an
//! "advertised but refused" version cannot come back unnoticed. The bodies are the
//! defaults of `kafka-protocol` (empty lists, default ids); Produce v0–v2, which the crate
//! does not encode, carry a real magic-1 message set, written by hand below, and their
//! offsets are read back. kcat with `api.version.request=false` and the 0.9 and 0.8 broker
//! fallbacks (Produce v1 and v0 with magic-0 messages) then writes lines a normal kcat
//! reads back.

mod common;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use common::{EddyNode, KafkaConn};
use eddy_node::kafka::dispatch::SUPPORTED_APIS;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::Request;

const KCAT_TIMEOUT: Duration = Duration::from_secs(30);

/// Sends a default request of type `R` at `version`; `KafkaConn::request` panics unless
/// the answer is a response of that version with the right correlation id.
fn walk<R: Request + Default>(conn: &mut KafkaConn, version: i16) {
    let _response = conn.request(version, &R::default());
}

fn walk_api(conn: &mut KafkaConn, key: ApiKey, version: i16) {
    match key {
        ApiKey::Produce => {
            // acks=0 gets no answer: ask for the leader's.
            let _ = conn.request(version, &ProduceRequest::default().with_acks(1));
        }
        ApiKey::Fetch => walk::<FetchRequest>(conn, version),
        ApiKey::ListOffsets => walk::<ListOffsetsRequest>(conn, version),
        ApiKey::Metadata => walk::<MetadataRequest>(conn, version),
        ApiKey::ApiVersions => walk::<ApiVersionsRequest>(conn, version),
        ApiKey::CreateTopics => walk::<CreateTopicsRequest>(conn, version),
        ApiKey::DeleteTopics => walk::<DeleteTopicsRequest>(conn, version),
        ApiKey::InitProducerId => walk::<InitProducerIdRequest>(conn, version),
        ApiKey::DescribeConfigs => walk::<DescribeConfigsRequest>(conn, version),
        ApiKey::AlterConfigs => walk::<AlterConfigsRequest>(conn, version),
        ApiKey::CreatePartitions => walk::<CreatePartitionsRequest>(conn, version),
        ApiKey::IncrementalAlterConfigs => walk::<IncrementalAlterConfigsRequest>(conn, version),
        ApiKey::DescribeCluster => walk::<DescribeClusterRequest>(conn, version),
        ApiKey::OffsetCommit => walk::<OffsetCommitRequest>(conn, version),
        ApiKey::OffsetFetch => walk::<OffsetFetchRequest>(conn, version),
        ApiKey::FindCoordinator => walk::<FindCoordinatorRequest>(conn, version),
        ApiKey::JoinGroup => walk::<JoinGroupRequest>(conn, version),
        ApiKey::Heartbeat => walk::<HeartbeatRequest>(conn, version),
        ApiKey::LeaveGroup => walk::<LeaveGroupRequest>(conn, version),
        ApiKey::SyncGroup => walk::<SyncGroupRequest>(conn, version),
        ApiKey::DescribeGroups => walk::<DescribeGroupsRequest>(conn, version),
        ApiKey::ListGroups => walk::<ListGroupsRequest>(conn, version),
        ApiKey::DeleteGroups => walk::<DeleteGroupsRequest>(conn, version),
        ApiKey::OffsetDelete => walk::<OffsetDeleteRequest>(conn, version),
        ApiKey::DeleteRecords => walk::<DeleteRecordsRequest>(conn, version),
        ApiKey::OffsetForLeaderEpoch => walk::<OffsetForLeaderEpochRequest>(conn, version),
        ApiKey::AlterPartitionReassignments => {
            walk::<AlterPartitionReassignmentsRequest>(conn, version)
        }
        ApiKey::DescribeLogDirs => walk::<DescribeLogDirsRequest>(conn, version),
        ApiKey::ListPartitionReassignments => {
            walk::<ListPartitionReassignmentsRequest>(conn, version)
        }
        other => panic!("{other:?} is advertised but this walk does not know it: add it"),
    }
}

/// One magic-1 message, as a pre-0.11 client writes it.
fn magic1_message(value: &[u8]) -> Vec<u8> {
    let mut body = vec![1u8, 0u8];
    body.extend_from_slice(&1_700_000_000_000i64.to_be_bytes());
    body.extend_from_slice(&(-1i32).to_be_bytes());
    body.extend_from_slice(&(value.len() as i32).to_be_bytes());
    body.extend_from_slice(value);
    let mut out = 0i64.to_be_bytes().to_vec();
    out.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
    out.extend_from_slice(&crc32fast::hash(&body).to_be_bytes());
    out.extend_from_slice(&body);
    out
}

fn put_str(buf: &mut BytesMut, s: &str) {
    buf.put_i16(s.len() as i16);
    buf.put_slice(s.as_bytes());
}

/// Produce v0–v2 of one message to `topic`-0 over a raw socket; the base offset answered.
fn legacy_produce(node: &EddyNode, topic: &str, version: i16, value: &[u8]) -> i64 {
    let correlation_id = 40 + i32::from(version);
    let mut frame = BytesMut::new();
    frame.put_i32(0);
    frame.put_i16(ApiKey::Produce as i16);
    frame.put_i16(version);
    frame.put_i32(correlation_id);
    put_str(&mut frame, "legacy-client");
    frame.put_i16(1); // acks
    frame.put_i32(10_000); // timeout
    frame.put_i32(1);
    put_str(&mut frame, topic);
    frame.put_i32(1);
    frame.put_i32(0);
    let set = magic1_message(value);
    frame.put_i32(set.len() as i32);
    frame.put_slice(&set);
    let size = (frame.len() - 4) as i32;
    frame[..4].copy_from_slice(&size.to_be_bytes());
    let mut stream = TcpStream::connect(node.kafka_addr()).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    stream.write_all(&frame).expect("send");
    let mut size = [0u8; 4];
    stream
        .read_exact(&mut size)
        .expect("a response to Produce v0-v2");
    let mut body = vec![0u8; i32::from_be_bytes(size) as usize];
    stream.read_exact(&mut body).expect("the response body");
    let mut body = Bytes::from(body);
    assert_eq!(body.get_i32(), correlation_id);
    assert_eq!(body.get_i32(), 1, "one topic");
    let name_len = body.get_i16() as usize;
    assert_eq!(&body.split_to(name_len)[..], topic.as_bytes());
    assert_eq!(body.get_i32(), 1, "one partition");
    assert_eq!(body.get_i32(), 0, "partition 0");
    assert_eq!(
        body.get_i16(),
        0,
        "Produce v{version} is served without an error"
    );
    let base_offset = body.get_i64();
    if version >= 2 {
        let _log_append_time = body.get_i64();
    }
    if version >= 1 {
        let _throttle = body.get_i32();
    }
    assert!(
        !body.has_remaining(),
        "the v{version} response has exactly v{version}'s fields"
    );
    base_offset
}

#[test]
fn every_advertised_api_version_is_served() {
    let node = EddyNode::start();
    common::create_topics(&node, &[("walk", 1)]);
    let mut conn = KafkaConn::connect(node.kafka_addr());
    let advertised = conn.request(3, &ApiVersionsRequest::default());
    let mut walked = BTreeSet::new();
    for key in &advertised.api_keys {
        let api = ApiKey::try_from(key.api_key).expect("a known API key");
        assert!(
            SUPPORTED_APIS.iter().any(|a| a.key == api),
            "{api:?} advertised"
        );
        for version in key.min_version..=key.max_version {
            if api == ApiKey::Produce && version < 3 {
                let offset = legacy_produce(&node, "walk", version, b"legacy");
                assert_eq!(offset, i64::from(version), "Produce v{version}'s offset");
            } else {
                walk_api(&mut conn, api, version);
            }
            walked.insert((key.api_key, version));
        }
    }
    println!("{} API versions answered", walked.len());
    assert!(
        walked.len() > 100,
        "the walk covered every advertised version"
    );
    // The converted records read back through a modern Fetch.
    let read = common::run_kcat(
        &[
            "-b",
            &node.bootstrap(),
            "-C",
            "-t",
            "walk",
            "-p",
            "0",
            "-o",
            "beginning",
            "-e",
            "-f",
            "%s@%T\n",
        ],
        None,
        KCAT_TIMEOUT,
    );
    assert_eq!(
        read.lines().collect::<Vec<_>>(),
        vec!["legacy@1700000000000"; 3],
        "each v0-v2 message is stored once, with its timestamp"
    );
}

#[test]
fn kcat_with_old_broker_fallbacks_produces_through_v0_and_v1() {
    let node = EddyNode::start();
    common::create_topics(&node, &[("old-kcat", 1)]);
    let bootstrap = node.bootstrap();
    for (fallback, line) in [("0.9.0.0", "from-v1"), ("0.8.2.2", "from-v0")] {
        common::run_kcat(
            &[
                "-b",
                &bootstrap,
                "-P",
                "-t",
                "old-kcat",
                "-p",
                "0",
                "-X",
                "api.version.request=false",
                "-X",
                &format!("broker.version.fallback={fallback}"),
            ],
            Some(format!("{line}\n").into_bytes()),
            KCAT_TIMEOUT,
        );
    }
    let read = common::run_kcat(
        &[
            "-b",
            &bootstrap,
            "-C",
            "-t",
            "old-kcat",
            "-p",
            "0",
            "-o",
            "beginning",
            "-e",
            "-f",
            "%s\n",
        ],
        None,
        KCAT_TIMEOUT,
    );
    assert_eq!(read.lines().collect::<Vec<_>>(), vec!["from-v1", "from-v0"]);
}

#[test]
fn offset_for_leader_epoch_answers_where_an_epoch_ends() {
    use kafka_protocol::messages::offset_for_leader_epoch_request::{
        OffsetForLeaderPartition, OffsetForLeaderTopic,
    };
    use kafka_protocol::protocol::StrBytes;
    let node = EddyNode::start();
    common::create_topics(&node, &[("epochs", 1)]);
    for i in 0..3 {
        legacy_produce(&node, "epochs", 2, format!("r{i}").as_bytes());
    }
    let mut conn = KafkaConn::connect(node.kafka_addr());
    let ask = |current: i32, epoch: i32| {
        OffsetForLeaderEpochRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_topics(vec![OffsetForLeaderTopic::default()
                .with_topic(TopicName(StrBytes::from_static_str("epochs")))
                .with_partitions(vec![OffsetForLeaderPartition::default()
                    .with_partition(0)
                    .with_current_leader_epoch(current)
                    .with_leader_epoch(epoch)])])
    };
    let answer = |r: OffsetForLeaderEpochResponse| {
        let p = &r.topics[0].partitions[0];
        (p.error_code, p.leader_epoch, p.end_offset)
    };
    // The only epoch (0) ends at the log end; a later one asked about also answers epoch 0.
    assert_eq!(answer(conn.request(4, &ask(-1, 0))), (0, 0, 3));
    assert_eq!(answer(conn.request(4, &ask(0, 7))), (0, 0, 3));
    // The client's idea of the current epoch is checked (FENCED / UNKNOWN_LEADER_EPOCH).
    assert_eq!(
        answer(conn.request(4, &ask(5, 0))).0,
        75,
        "UNKNOWN_LEADER_EPOCH: newer than the leader's"
    );
}

#[test]
fn describe_log_dirs_reports_the_data_dir_and_each_replicas_size() {
    let node = EddyNode::start();
    common::create_topics(&node, &[("sized", 1)]);
    let value = vec![b'x'; 1000];
    for _ in 0..20 {
        legacy_produce(&node, "sized", 2, &value);
    }
    let out = common::run_python("log_dirs.py", &[&node.bootstrap()], KCAT_TIMEOUT);
    let json: serde_json::Value = serde_json::from_str(out.trim()).expect("JSON");
    let dirs = json[0]["log_dirs"].as_array().expect("log dirs");
    assert_eq!(dirs.len(), 1, "one log dir: {out}");
    let dir = &dirs[0];
    assert_eq!(dir["error_code"], 0, "{out}");
    let data_dir = node.data_dir().display().to_string();
    assert_eq!(dir["log_dir"].as_str(), Some(data_dir.as_str()), "{out}");
    let size = dir["topics"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|t| t["name"] == "sized")
        .and_then(|t| t["partitions"][0]["partition_size"].as_i64())
        .expect("the topic's partition");
    assert!(size >= 20 * 1000, "20 records of 1,000 bytes: {size} bytes");
    let (total, usable) = (
        dir["total_bytes"].as_i64().unwrap_or(-1),
        dir["usable_bytes"].as_i64().unwrap_or(-1),
    );
    assert!(total > 0 && usable > 0 && usable <= total, "{out}");
}

#[test]
fn pipelined_requests_of_an_unserved_version_are_refused_with_one_log_line() {
    let node = EddyNode::start();
    // Five Produce v12 requests (Produce is served up to v9) sent back to back: produce
    // requests are handled concurrently, so each is refused on its own.
    let mut frames = Vec::new();
    for correlation_id in 1..=5 {
        let mut frame = BytesMut::new();
        frame.put_i32(0);
        frame.put_i16(ApiKey::Produce as i16);
        frame.put_i16(12);
        frame.put_i32(correlation_id);
        put_str(&mut frame, "new-producer");
        frame.put_slice(&[0u8; 16]);
        let size = (frame.len() - 4) as i32;
        frame[..4].copy_from_slice(&size.to_be_bytes());
        frames.extend_from_slice(&frame);
    }
    let mut stream = TcpStream::connect(node.kafka_addr()).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    stream.write_all(&frames).expect("send");
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest);
    assert!(
        rest.is_empty(),
        "no answer to an unserved version, the connection closes"
    );
    // The log line is written as the connection closes; give it a moment to land.
    std::thread::sleep(Duration::from_millis(300));
    let log = node.log();
    let lines = log
        .lines()
        .filter(|l| l.contains("closing client connection") && l.contains("Produce v12"))
        .count();
    assert_eq!(lines, 1, "one line for the connection:\n{log}");
}
