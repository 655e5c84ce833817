//! Replays every committed fuzz input — the minimised corpora in `fuzz/corpus/<target>/`
//! and the inputs that once crashed a target in `fuzz/regressions/<target>/` — through the
//! same harness the libFuzzer targets run (`fuzz/src/lib.rs`, included below), on the
//! stable toolchain. Cheap, and always part of the suite; the coverage-guided runs
//! themselves are `scripts/fuzz.sh` (docs/FUZZING.md).
//!
//! `cargo test --test fuzz_corpus_replay -- --ignored write_seed_corpora` writes the
//! hand-made seeds the corpora were grown from (well-formed requests of every served API
//! and version, record batches in every codec, peer frames, connector and node configs).

#[path = "../fuzz/src/lib.rs"]
mod harness;

use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use bytes::{Bytes, BytesMut};
use eddy_node::kafka::dispatch::SUPPORTED_APIS;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Encodable, StrBytes};
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("a corpus directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

#[test]
fn every_committed_fuzz_input_replays_without_a_panic() {
    // The harness's own assertion messages name the invariant; the file is named here.
    let mut failures = Vec::new();
    for (target, run) in harness::TARGETS {
        let corpus = files_in(&fuzz_dir().join("corpus").join(target));
        assert!(
            !corpus.is_empty(),
            "fuzz/corpus/{target} is empty: the corpora are committed"
        );
        let regressions = files_in(&fuzz_dir().join("regressions").join(target));
        for file in corpus.iter().chain(&regressions) {
            let data = std::fs::read(file).expect("read a corpus file");
            if panic::catch_unwind(AssertUnwindSafe(|| run(&data))).is_err() {
                failures.push(file.display().to_string());
            }
        }
        println!(
            "{target}: {} corpus files, {} regressions replayed",
            corpus.len(),
            regressions.len()
        );
    }
    assert!(failures.is_empty(), "fuzz inputs that panic: {failures:#?}");
}

/// Writes `bytes` as `fuzz/corpus/<target>/seed-<name>`.
fn write_seed(target: &str, name: &str, bytes: &[u8]) {
    let dir = fuzz_dir().join("corpus").join(target);
    std::fs::create_dir_all(&dir).expect("create the corpus directory");
    std::fs::write(dir.join(format!("seed-{name}")), bytes).expect("write a seed");
}

#[test]
#[ignore = "writes the seed corpora; run by hand (see the file's header)"]
fn write_seed_corpora() {
    request_seeds();
    batch_seeds();
    peer_frame_seeds();
    properties_seeds();
    node_config_seeds();
}

/// A default body of every served API at every served version, behind a v1/v2 header.
fn request_seeds() {
    for api in SUPPORTED_APIS {
        for version in api.min..=api.max {
            // kafka-protocol encodes Produce v3+ only (v0-v2 bodies are v3's without the
            // transactional id, read by the node's legacy_records).
            if api.key == ApiKey::Produce && version < 3 {
                continue;
            }
            let mut frame = BytesMut::new();
            let header = RequestHeader::default()
                .with_request_api_key(api.key as i16)
                .with_request_api_version(version)
                .with_correlation_id(7)
                .with_client_id(Some(StrBytes::from_static_str("seed")));
            header
                .encode(&mut frame, api.key.request_header_version(version))
                .expect("encode a request header");
            if encode_default_body(api.key, version, &mut frame).is_ok() {
                write_seed("request", &format!("{:?}-v{version}", api.key), &frame);
            }
        }
    }
    // A Produce that carries a batch, and an ApiVersions too new to serve.
    let mut frame = BytesMut::new();
    let version = 9;
    RequestHeader::default()
        .with_request_api_key(ApiKey::Produce as i16)
        .with_request_api_version(version)
        .encode(&mut frame, ApiKey::Produce.request_header_version(version))
        .expect("encode a request header");
    let partition = produce_request::PartitionProduceData::default()
        .with_index(0)
        .with_records(Some(record_batch(Compression::None, 3)));
    let topic = produce_request::TopicProduceData::default()
        .with_name(TopicName(StrBytes::from_static_str("seed")))
        .with_partition_data(vec![partition]);
    ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(1_000)
        .with_topic_data(vec![topic])
        .encode(&mut frame, version)
        .expect("encode a produce request");
    write_seed("request", "Produce-v9-records", &frame);
    write_seed("request", "ApiVersions-v99", &[0, 18, 0, 99, 0, 0, 0, 1]);
}

fn encode_default_body(key: ApiKey, version: i16, buf: &mut BytesMut) -> anyhow::Result<()> {
    macro_rules! body {
        ($t:ty) => {
            <$t>::default().encode(buf, version)
        };
    }
    match key {
        ApiKey::Produce => body!(ProduceRequest),
        ApiKey::Fetch => body!(FetchRequest),
        ApiKey::ListOffsets => body!(ListOffsetsRequest),
        ApiKey::Metadata => body!(MetadataRequest),
        ApiKey::ApiVersions => body!(ApiVersionsRequest),
        ApiKey::CreateTopics => body!(CreateTopicsRequest),
        ApiKey::DeleteTopics => body!(DeleteTopicsRequest),
        ApiKey::InitProducerId => body!(InitProducerIdRequest),
        ApiKey::DescribeConfigs => body!(DescribeConfigsRequest),
        ApiKey::CreatePartitions => body!(CreatePartitionsRequest),
        ApiKey::IncrementalAlterConfigs => body!(IncrementalAlterConfigsRequest),
        ApiKey::DescribeCluster => body!(DescribeClusterRequest),
        ApiKey::OffsetCommit => body!(OffsetCommitRequest),
        ApiKey::OffsetFetch => body!(OffsetFetchRequest),
        ApiKey::FindCoordinator => body!(FindCoordinatorRequest),
        ApiKey::JoinGroup => body!(JoinGroupRequest),
        ApiKey::Heartbeat => body!(HeartbeatRequest),
        ApiKey::LeaveGroup => body!(LeaveGroupRequest),
        ApiKey::SyncGroup => body!(SyncGroupRequest),
        ApiKey::DescribeGroups => body!(DescribeGroupsRequest),
        ApiKey::ListGroups => body!(ListGroupsRequest),
        ApiKey::DeleteGroups => body!(DeleteGroupsRequest),
        ApiKey::OffsetDelete => body!(OffsetDeleteRequest),
        ApiKey::DeleteRecords => body!(DeleteRecordsRequest),
        other => anyhow::bail!("{other:?} is not served"),
    }
}

/// One magic-2 batch of `count` records with keys, values and a header.
fn record_batch(compression: Compression, count: i64) -> Bytes {
    let records: Vec<Record> = (0..count)
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
            key: Some(Bytes::from(format!("key-{i}"))),
            value: (i != 1).then(|| Bytes::from(format!("value-{i}"))),
            headers: [(
                StrBytes::from_static_str("h"),
                Some(Bytes::from_static(b"v")),
            )]
            .into_iter()
            .collect(),
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        &records,
        &RecordEncodeOptions {
            version: 2,
            compression,
        },
    )
    .expect("encode a record batch");
    buf.freeze()
}

/// Batches in every codec, under each of the three rule selectors.
fn batch_seeds() {
    let codecs = [
        ("none", Compression::None),
        ("gzip", Compression::Gzip),
        ("snappy", Compression::Snappy),
        ("lz4", Compression::Lz4),
        ("zstd", Compression::Zstd),
    ];
    for (selector, rules) in [(0u8, "client"), (1, "compacted"), (2, "replica")] {
        for (name, codec) in codecs {
            let mut input = vec![selector];
            input.extend_from_slice(&record_batch(codec, 3));
            write_seed("batch", &format!("{rules}-{name}"), &input);
        }
    }
    let mut two = vec![0u8];
    two.extend_from_slice(&record_batch(Compression::None, 1));
    two.extend_from_slice(&record_batch(Compression::Gzip, 2));
    write_seed("batch", "client-two-batches", &two);
}

/// Frames of the simple peer requests and responses (postcard numbers enum variants, so
/// the fuzzer finds the others from these).
fn peer_frame_seeds() {
    use eddy_node::cluster::frame::encode;
    use eddy_node::cluster::messages::*;
    let requests = [
        ("cluster-info", PeerRequest::ClusterInfo),
        ("heartbeat", PeerRequest::Heartbeat { node_id: 2 }),
        (
            "replica-fetch",
            PeerRequest::ReplicaFetch(ReplicaFetchRequest {
                topic: "seed".into(),
                partition: 0,
                replica: 2,
                leader_epoch: 1,
                offset: 0,
                max_bytes: 1 << 20,
                max_wait_ms: 500,
            }),
        ),
        (
            "epoch-end-offset",
            PeerRequest::EpochEndOffset {
                topic: "seed".into(),
                partition: 0,
                epoch: 1,
            },
        ),
    ];
    for (name, msg) in requests {
        let mut input = vec![0u8];
        input.extend_from_slice(&encode(&msg).expect("encode a peer request"));
        write_seed("peer_frame", &format!("request-{name}"), &input);
    }
    let responses = [
        ("heartbeat-ack", PeerResponse::HeartbeatAck),
        (
            "cluster-info",
            PeerResponse::ClusterInfo { initialized: true },
        ),
        ("joined", PeerResponse::Joined(Err("not the leader".into()))),
        (
            "replica-fetched",
            PeerResponse::ReplicaFetched(Ok(ReplicaData {
                records: record_batch(Compression::None, 2).to_vec(),
                high_watermark: 2,
                log_start_offset: 0,
                log_end_offset: 2,
            })),
        ),
        (
            "replica-refused",
            PeerResponse::ReplicaFetched(Err(PeerError {
                code: 6,
                message: "not the leader".into(),
            })),
        ),
    ];
    for (name, msg) in responses {
        let mut input = vec![1u8];
        input.extend_from_slice(&encode(&msg).expect("encode a peer response"));
        write_seed("peer_frame", &format!("response-{name}"), &input);
    }
}

fn properties_seeds() {
    let seeds = [
        (
            "file-source",
            "# a file source\nname=lines\nconnector.class=FileStreamSource\ntasks.max=1\n\
             file=/tmp/in.txt\ntopic=lines\nkey.converter=org.apache.kafka.connect.storage.StringConverter\n",
        ),
        (
            "file-sink",
            "name = out\nconnector.class : org.apache.kafka.connect.file.FileStreamSinkConnector\n\
             topics=a,b\nfile=/tmp/out.txt\nvalue.converter=org.apache.kafka.connect.json.JsonConverter\n\
             value.converter.schemas.enable=false\nerrors.tolerance=all\n\
             errors.deadletterqueue.topic.name=dlq\n",
        ),
        (
            "generator",
            "name=gen\nconnector.class=generator\nquickstart=payments\n\
             topic.creation.default.partitions=3\ntopic.creation.default.replication.factor=1\n",
        ),
        (
            "postgres-sink",
            "name=pg\nconnector.class=PostgresSink\ntopics=orders\n\
             connection.url=postgresql://localhost:5432/db\nconnection.user=u\n\
             connection.password=p\ninsert.mode=upsert\n",
        ),
        (
            "transforms",
            "name=t\nconnector.class=FileStreamSource\nfile=/tmp/x\ntopic=t\n\
             transforms=i,f\ntransforms.i.type=InsertField$Value\ntransforms.i.static.field=f\n\
             transforms.i.static.value=v\ntransforms.f.type=Filter\ntransforms.f.predicate=m\n\
             predicates=m\npredicates.m.type=TopicNameMatches\npredicates.m.pattern=a.*\n",
        ),
        (
            "escapes",
            "key\\ with\\ spaces = a \\u00e9 \\\n    continued\n! comment\nk2:\\t\\n\\r\\f\n",
        ),
        (
            "rest-json",
            "{\"name\":\"lines\",\"config\":{\"connector.class\":\"FileStreamSource\",\
             \"file\":\"/tmp/in.txt\",\"topic\":\"lines\",\"tasks.max\":\"1\"}}",
        ),
    ];
    for (name, text) in seeds {
        write_seed("properties", name, text.as_bytes());
    }
}

fn node_config_seeds() {
    let seeds = [
        (
            "single",
            "node-id = 1\ndata-dir = \"/var/lib/eddy\"\nlisten = \"0.0.0.0:9092\"\n\
             advertised-listener = \"broker-1:9092\"\nadmin = \"127.0.0.1:9644\"\n\
             auto-create-topics-enable = true\nnum-partitions = 3\n\
             log-flush-interval-messages = 1000\nlog-flush-interval-ms = 1000\n",
        ),
        (
            "cluster",
            "node-id = 2\npeer-listen = \"0.0.0.0:9093\"\nseeds = [\"a:9093\", \"b:9093\"]\n\
             controller-voters = 3\nbroker-session-timeout-ms = 9000\n\
             default-replication-factor = 3\n",
        ),
        ("invalid", "num-partitions = 0\nlisten = \"nowhere\"\n"),
    ];
    for (name, text) in seeds {
        write_seed("node_config", name, text.as_bytes());
    }
}
