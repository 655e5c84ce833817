//! The fuzz harness: one function per target, each running exactly what the node runs on
//! bytes from outside, plus the invariants that must hold whatever the bytes. The libFuzzer
//! entry points in `fuzz/fuzz_targets/` call these, and `tests/fuzz_corpus_replay.rs`
//! includes this file to replay every committed corpus file on the stable toolchain.
//!
//! A panic here is a finding (docs/FUZZING.md says how to reproduce and record one).

use std::future::Future;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use eddy_actors::batch::{self, BatchHeader};
use eddy_actors::log_validator::{self, Rules};
use eddy_connect::{parse_json, parse_properties, ConnectorConfig, CONFIG_KEYS_MAX};
use eddy_node::cluster::frame::{self, FRAME_VERSION};
use eddy_node::cluster::messages::{PeerRequest, PeerResponse};
use eddy_node::kafka::dispatch::{decode_request, supported, RequestBody};
use eddy_node::kafka::legacy_records;
use eddy_node::NodeConfig;

/// A harness: runs one input, panics on a finding.
pub type Harness = fn(&[u8]);

/// The fuzz targets, by name: the names of `fuzz/fuzz_targets/*.rs` and `fuzz/corpus/*`.
pub const TARGETS: [(&str, Harness); 5] = [
    ("request", request),
    ("batch", batch),
    ("peer_frame", peer_frame),
    ("properties", properties),
    ("node_config", node_config),
];

/// A Kafka request frame (without its size prefix), decoded as `handle_frame` decodes it
/// before routing: header, version check against the served table, body.
pub fn request(data: &[u8]) {
    let Ok(request) = decode_request(Bytes::copy_from_slice(data)) else {
        return;
    };
    let version = request.header.request_api_version;
    let range = supported(request.key).expect("only served APIs are decoded");
    assert!(
        (range.min..=range.max).contains(&version),
        "{:?} v{version} decoded outside its served range",
        request.key
    );
    assert_eq!(request.header.request_api_key, request.key as i16);
    // Produce v0-v2 carry magic 0/1 message sets, converted before the append: the
    // conversion must refuse what it cannot read, never panic.
    if let RequestBody::Produce(produce) = &request.body {
        if version < 3 {
            for topic in &produce.topic_data {
                for p in &topic.partition_data {
                    if let Some(records) = &p.records {
                        if let Ok(messages) =
                            legacy_records::read_message_set(records.clone(), 1 << 20)
                        {
                            let _ = legacy_records::to_batch(&messages);
                        }
                    }
                }
            }
        }
    }
}

/// Batch validation as a partition runs it on a Produce's (or a leader's) records:
/// `split_and_validate`, then the LogValidator on each batch. The first byte picks the rules
/// (client on a deleting or a compacted topic, or replica) and `max.message.bytes`; the rest
/// is the records field. It runs twice: on the bytes as sent, and with each batch's CRC
/// recomputed, as an honest client's would be, so that the fuzzer reaches the records.
pub fn batch(data: &[u8]) {
    let Some((&selector, records)) = data.split_first() else {
        return;
    };
    let max_message_bytes = [1_048_588, 100, 64 << 20][usize::from(selector >> 2) % 3];
    let rules = match selector % 3 {
        0 => Rules::for_client(false, max_message_bytes),
        1 => Rules::for_client(true, max_message_bytes),
        _ => Rules::for_replica(max_message_bytes),
    };
    validate_records(records, &rules);
    let mut honest = records.to_vec();
    fix_crcs(&mut honest);
    validate_records(&honest, &rules);
}

/// Byte offsets of the CRC and of the attributes (where the CRC-covered part starts) in a
/// magic-2 batch header.
const CRC_OFFSET: usize = 17;
const ATTRIBUTES_OFFSET: usize = 21;

/// Recomputes the CRC-32C of each batch whose announced length fits.
fn fix_crcs(records: &mut [u8]) {
    let mut at = 0;
    while let Ok(header) = batch::read_header(&records[at..]) {
        let end = at + header.size;
        let crc = crc32c::crc32c(&records[at + ATTRIBUTES_OFFSET..end]);
        records[at + CRC_OFFSET..at + CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
        at = end;
    }
}

/// What the leader's append does with records that pass: every batch validates, and once
/// stamped with an offset, an epoch and the true max timestamp (or the append time), each
/// still passes a follower's validation, or replication of a valid batch would fail.
fn validate_records(records: &[u8], rules: &Rules) {
    let Ok(batches) = batch::split_and_validate(records) else {
        return;
    };
    let total: usize = batches.iter().map(|(_, h)| h.size).sum();
    assert_eq!(total, records.len(), "batches cover the records exactly");
    let mut stamped = records.to_vec();
    for (i, (at, header)) in batches.iter().enumerate() {
        let bytes = &records[*at..*at + header.size];
        let Ok(valid) = log_validator::validate(bytes, header, rules) else {
            continue;
        };
        let out = &mut stamped[*at..*at + header.size];
        batch::assign_offset(out, 1_000 + i as i64, 7);
        if i % 2 == 0 {
            batch::set_max_timestamp(out, valid.max_timestamp);
        } else {
            batch::stamp_log_append_time(out, 1_700_000_000_000);
        }
        let restamped: BatchHeader = batch::validate(out).expect("a stamped batch validates");
        assert_eq!(restamped.base_offset, 1_000 + i as i64);
        let replica = Rules::for_replica(usize::MAX >> 8);
        log_validator::validate(out, &restamped, &replica)
            .expect("a batch the leader appends passes a follower's validation");
    }
}

/// A peer frame as the peer server (requests) and client (responses) read it: through
/// `frame::read` from the stream, and through `frame::decode` with a valid version and
/// CRC so that postcard decoding is reached. The first byte picks requests or responses.
pub fn peer_frame(data: &[u8]) {
    let Some((&selector, payload)) = data.split_first() else {
        return;
    };
    let as_sent: &[u8] = payload;
    let mut stream = as_sent;
    if selector & 1 == 0 {
        let _ = ready(frame::read::<_, PeerRequest>(&mut stream));
    } else {
        let _ = ready(frame::read::<_, PeerResponse>(&mut stream));
    }
    let mut body = Vec::with_capacity(5 + payload.len());
    body.push(FRAME_VERSION);
    body.extend_from_slice(&crc32c::crc32c(payload).to_be_bytes());
    body.extend_from_slice(payload);
    if selector & 1 == 0 {
        if let Ok(msg) = frame::decode::<PeerRequest>(&body) {
            let again = frame::encode(&msg).expect("a decoded request encodes");
            frame::decode::<PeerRequest>(&again[4..]).expect("and decodes again");
        }
    } else if let Ok(msg) = frame::decode::<PeerResponse>(&body) {
        let again = frame::encode(&msg).expect("a decoded response encodes");
        frame::decode::<PeerResponse>(&again[4..]).expect("and decodes again");
    }
}

/// Polls a future that never waits (reading from memory) to completion.
fn ready<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    match future.as_mut().poll(&mut cx) {
        Poll::Ready(output) => output,
        Poll::Pending => unreachable!("a read from memory never waits"),
    }
}

/// A connector configuration as `eddy connect run` and the REST API read it: UTF-8 text
/// (`read_file` refuses anything else), parsed as Java properties and as JSON, then
/// validated into a `ConnectorConfig` (classes, converters, transforms, predicates).
pub fn properties(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let raw = parse_properties("fuzz.properties", text);
    assert!(raw.entries.len() <= CONFIG_KEYS_MAX, "keys are bounded");
    let _ = ConnectorConfig::validate(raw);
    if let Ok(raw) = parse_json("fuzz.json", text) {
        assert!(raw.entries.len() <= CONFIG_KEYS_MAX, "keys are bounded");
        let _ = ConnectorConfig::validate(raw);
    }
}

/// A node's TOML configuration as `eddy start --config` reads it (`NodeConfig::from_toml_file`
/// is `toml::from_str`), validated, and what start-up derives from a valid one.
pub fn node_config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(config) = toml::from_str::<NodeConfig>(text) else {
        return;
    };
    if config.validate().is_ok() {
        let _ = config.advertised();
        let _ = config.broker_topic_defaults();
        let _ = config.cluster_mode();
    }
}
