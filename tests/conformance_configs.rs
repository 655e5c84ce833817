//! Topic configs as Kafka's admin clients change them, against a real node process:
//! - every standard Kafka topic config key is accepted at creation (kafka-python), stored
//!   and described — including those Eddy does not act on (`file.delete.delay.ms`, …,
//!   listed in docs/configs.md) — and a value outside Kafka's bounds is refused;
//! - the legacy AlterConfigs (API 33) works from kafka-python (its non-incremental
//!   `alter_configs`, which re-sends the topic's other configs) and, on the wire, replaces a
//!   topic's whole set of overrides: a config it does not name goes back to its default;
//! - IncrementalAlterConfigs' APPEND and SUBTRACT (confluent-kafka) change list configs
//!   (`cleanup.policy`) item by item and are refused on other configs.

mod common;

use std::time::Duration;

use common::{EddyNode, KafkaConn};
use kafka_protocol::messages::alter_configs_request::{AlterConfigsResource, AlterableConfig};
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::{AlterConfigsRequest, DescribeConfigsRequest};
use kafka_protocol::protocol::StrBytes;

/// The topic resource type of the config APIs.
const TOPIC: i8 = 2;

const SCRIPT: &str = "conformance_configs.py";
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(60);

/// Standard Kafka topic configs Eddy accepts without acting on them, with a valid value.
const ACCEPTED: [&str; 8] = [
    "file.delete.delay.ms=30000",
    "index.interval.bytes=8192",
    "segment.index.bytes=1048576",
    "segment.jitter.ms=10",
    "preallocate=true",
    "message.timestamp.before.max.ms=86400000",
    "leader.replication.throttled.replicas=0:1",
    "max.compaction.lag.ms=3600000",
];

fn run(args: &[&str]) -> String {
    let out = common::run_python(SCRIPT, args, SCRIPT_TIMEOUT);
    println!("{args:?}:\n{out}");
    out
}

#[test]
fn every_standard_topic_config_is_accepted_and_bounds_are_kafkas() {
    let node = EddyNode::start();
    let bootstrap = node.bootstrap();
    let mut args = vec!["create", bootstrap.as_str(), "all-configs"];
    args.extend(ACCEPTED);
    let out = run(&args);
    assert!(out.lines().any(|l| l == "CREATED"), "{out}");
    for pair in ACCEPTED {
        let (key, value) = pair.split_once('=').expect("KEY=VALUE");
        assert!(
            out.lines().any(|l| l == format!("CONFIG {key} {value}")),
            "{key} is described as set: {out}"
        );
    }
    let out = run(&[
        "create",
        &bootstrap,
        "bad-ratio",
        "min.cleanable.dirty.ratio=1.5",
    ]);
    assert!(
        out.contains("CREATE_ERROR") && out.contains("InvalidConfig"),
        "a ratio above 1 is refused as INVALID_CONFIG: {out}"
    );
}

#[test]
fn legacy_alter_configs_replaces_the_whole_set() {
    let node = EddyNode::start();
    let bootstrap = node.bootstrap();
    let out = run(&[
        "create",
        &bootstrap,
        "legacy-alter",
        "cleanup.policy=compact",
        "retention.ms=1000",
    ]);
    assert!(out.lines().any(|l| l == "CREATED"), "{out}");
    // kafka-python's non-incremental alter_configs sends API 33 with the topic's other
    // dynamic configs added (it reads them first), so nothing else changes.
    let out = run(&[
        "legacy-alter",
        &bootstrap,
        "legacy-alter",
        "retention.ms=2000",
    ]);
    assert!(out.lines().any(|l| l == "ALTERED"), "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("CONFIG retention.ms 2000 ")),
        "the named config is set: {out}"
    );
    // The request itself replaces the whole set, as Kafka's broker does: a config it does
    // not name goes back to its default.
    let mut conn = KafkaConn::connect(node.kafka_addr());
    let request =
        AlterConfigsRequest::default().with_resources(vec![AlterConfigsResource::default()
            .with_resource_type(TOPIC)
            .with_resource_name(StrBytes::from_static_str("legacy-alter"))
            .with_configs(vec![AlterableConfig::default()
                .with_name(StrBytes::from_static_str("retention.ms"))
                .with_value(Some(StrBytes::from_static_str("3000")))])]);
    let response = conn.request(1, &request);
    assert_eq!(response.responses[0].error_code, 0, "{response:?}");
    let described = conn.request(
        1,
        &DescribeConfigsRequest::default().with_resources(vec![DescribeConfigsResource::default()
            .with_resource_type(TOPIC)
            .with_resource_name(StrBytes::from_static_str("legacy-alter"))]),
    );
    let entry = |name: &str| {
        described.results[0]
            .configs
            .iter()
            .find(|c| c.name.as_str() == name)
            .map(|c| (c.value.as_ref().map(|v| v.to_string()), c.config_source))
    };
    assert_eq!(entry("retention.ms"), Some((Some("3000".into()), 1)));
    assert_eq!(
        entry("cleanup.policy"),
        Some((Some("delete".into()), 5)),
        "not named, back to Kafka's default (DEFAULT_CONFIG = 5)"
    );
    // A value out of bounds is refused with INVALID_CONFIG and changes nothing.
    let bad = AlterConfigsRequest::default().with_resources(vec![AlterConfigsResource::default()
        .with_resource_type(TOPIC)
        .with_resource_name(StrBytes::from_static_str("legacy-alter"))
        .with_configs(vec![AlterableConfig::default()
            .with_name(StrBytes::from_static_str("retention.ms"))
            .with_value(Some(StrBytes::from_static_str("-5")))])]);
    let response = conn.request(1, &bad);
    assert_eq!(response.responses[0].error_code, 40, "{response:?}");
}

#[test]
fn append_and_subtract_change_list_configs_item_by_item() {
    let node = EddyNode::start();
    let bootstrap = node.bootstrap();
    common::create_topics(&node, &[("list-ops", 1)]);
    let out = run(&["list-ops", &bootstrap, "list-ops"]);
    assert!(out.lines().any(|l| l == "APPEND delete,compact"), "{out}");
    assert!(out.lines().any(|l| l == "SUBTRACT compact"), "{out}");
    assert!(
        out.lines().any(|l| l == "APPEND_RETENTION INVALID_CONFIG"),
        "APPEND on a config that is not a list is refused: {out}"
    );
}
