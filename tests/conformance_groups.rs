//! Consumer-group semantics of Kafka that tools rely on, checked with confluent-kafka
//! (librdkafka) against a real node process:
//! - OffsetDelete (kafka-python's `delete_group_offsets`; confluent-kafka's Python binding
//!   has none) refuses, with GROUP_SUBSCRIBED_TO_TOPIC,
//!   the offsets of a topic a live member subscribes to, deletes the others, and deletes
//!   the refused ones once the group is empty — as Kafka's coordinator decides;
//! - a second consumer joining with the same `group.instance.id` fences the first (a fatal
//!   FENCED_INSTANCE_ID in the client) and keeps the partition (KIP-345), instead of the
//!   two taking it from each other; once the remaining static member has closed (static
//!   members do not leave), its session expires and DeleteGroups succeeds;
//! - asked for them, DescribeTopics, DescribeCluster and DescribeGroups report the
//!   operations allowed, as Kafka without an authorizer does (every supported one).
//!
//! Every wait is bounded (in the script); nothing asserts on time.

mod common;

use std::time::Duration;

use common::EddyNode;

const SCRIPT: &str = "conformance_groups.py";
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(120);
/// The static members' session timeout: the coordinator's minimum.
const STATIC_SESSION_MS: &str = "6000";

fn lines_with<'a>(out: &'a str, prefix: &str) -> Vec<&'a str> {
    out.lines().filter(|l| l.starts_with(prefix)).collect()
}

#[test]
fn offset_delete_refuses_the_topics_a_live_member_subscribes_to() {
    let node = EddyNode::start();
    common::create_topics(&node, &[("od-subscribed", 1), ("od-other", 1)]);
    let out = common::run_python(
        SCRIPT,
        &[
            "offset-delete",
            &node.bootstrap(),
            "od-subscribed",
            "od-other",
            "od-group",
        ],
        SCRIPT_TIMEOUT,
    );
    println!("{out}");
    let live = lines_with(&out, "LIVE ");
    assert!(
        live.contains(&"LIVE od-subscribed GroupSubscribedToTopicError"),
        "a subscribed topic's offset stays while the member lives: {out}"
    );
    assert!(
        live.contains(&"LIVE od-other NoError"),
        "an offset of a topic nobody subscribes to is deleted: {out}"
    );
    let closed = lines_with(&out, "CLOSED ");
    assert!(
        closed == ["CLOSED od-subscribed NoError"],
        "once the group is empty the subscribed topic's offset goes too: {out}"
    );
    let committed: Vec<&str> = lines_with(&out, "COMMITTED ")
        .into_iter()
        .filter(|l| !l.ends_with(" -1001"))
        .collect();
    assert!(committed.is_empty(), "no offset is left: {out}");
}

#[test]
fn a_second_static_member_fences_the_first_and_the_group_can_be_deleted_after_it() {
    let node = EddyNode::start();
    common::create_topics(&node, &[("static-orders", 1)]);
    let out = common::run_python(
        SCRIPT,
        &[
            "static-fence",
            &node.bootstrap(),
            "static-orders",
            "static-group",
            STATIC_SESSION_MS,
        ],
        SCRIPT_TIMEOUT,
    );
    println!("{out}");
    let fatal = lines_with(&out, "A_FATAL ");
    assert!(
        fatal.len() == 1 && fatal[0].to_ascii_lowercase().contains("fenced"),
        "the older member with the instance id is fenced: {out}"
    );
    assert!(
        out.contains("B_STILL_ASSIGNED [0]"),
        "the newer member keeps the partition: {out}"
    );
    assert_eq!(
        lines_with(&out, "DELETED ").len(),
        1,
        "the group is deleted once the closed static member's session expired: {out}"
    );
}

#[test]
fn authorized_operations_are_reported_when_asked() {
    let node = EddyNode::start();
    common::create_topics(&node, &[("ops-topic", 1)]);
    // A group that exists: one simple commit.
    common::commit_simple(&node.bootstrap(), "ops-group", "ops-topic", 1);
    let out = common::run_python(
        "conformance_admin.py",
        &[&node.bootstrap(), "ops-topic", "ops-group"],
        SCRIPT_TIMEOUT,
    );
    println!("{out}");
    // Without an authorizer Kafka reports every operation the resource type supports.
    assert!(
        out.lines()
            .any(|l| l
                == "TOPIC ALTER,ALTER_CONFIGS,CREATE,DELETE,DESCRIBE,DESCRIBE_CONFIGS,READ,WRITE"),
        "{out}"
    );
    assert!(
        out.lines().any(|l| l
            == "CLUSTER ALTER,ALTER_CONFIGS,CLUSTER_ACTION,CREATE,DESCRIBE,DESCRIBE_CONFIGS,IDEMPOTENT_WRITE"),
        "{out}"
    );
    assert!(
        out.lines().any(|l| l == "GROUP DELETE,DESCRIBE,READ"),
        "{out}"
    );
}
