//! Bad group requests on the wire, encoded with `kafka-protocol` (no client library to
//! retry or hide an error code): SyncGroup, Heartbeat and OffsetCommit from a stale
//! generation get ILLEGAL_GENERATION, requests from unknown members get UNKNOWN_MEMBER_ID,
//! commits for topics that do not exist (or no longer do) get UNKNOWN_TOPIC_OR_PARTITION,
//! and session timeouts below the broker's minimum get INVALID_SESSION_TIMEOUT. Each case
//! runs at the oldest and newest version real clients send.

mod common;
mod groups_support;

use bytes::Bytes;
use common::{EddyNode, KafkaConn};
use groups_support::{block_on, create_topic, group_offsets};
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::{
    DeleteGroupsRequest, GroupId, HeartbeatRequest, JoinGroupRequest, JoinGroupResponse,
    LeaveGroupRequest, ListGroupsRequest, OffsetCommitRequest, SyncGroupRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

const NONE: i16 = 0;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const ILLEGAL_GENERATION: i16 = 22;
const UNKNOWN_MEMBER_ID: i16 = 25;
const INVALID_SESSION_TIMEOUT: i16 = 26;
const GROUP_ID_NOT_FOUND: i16 = 69;
const MEMBER_ID_REQUIRED: i16 = 79;

/// The broker's minimum session timeout.
const SESSION_TIMEOUT_MS: i32 = 6_000;
const REBALANCE_TIMEOUT_MS: i32 = 8_000;
/// JoinGroup/SyncGroup/Heartbeat versions librdkafka (first) and kafka-python (second) send.
const JOIN_VERSIONS: [i16; 2] = [5, 7];
const SYNC_VERSIONS: [i16; 2] = [3, 5];
const HEARTBEAT_VERSIONS: [i16; 3] = [0, 3, 4];
/// OffsetCommit: the oldest served and the newest.
const COMMIT_VERSIONS: [i16; 2] = [2, 8];
/// A consumer protocol assignment: version 0, one topic `t` with partition 0, no user data.
const ASSIGNMENT: &[u8] = &[
    0, 0, 0, 0, 0, 1, 0, 1, b't', 0, 0, 0, 1, 0, 0, 0, 0, 255, 255, 255, 255,
];

fn s(text: &str) -> StrBytes {
    StrBytes::from_string(text.to_owned())
}

fn join_request(group: &str, member_id: &str, session_timeout_ms: i32) -> JoinGroupRequest {
    JoinGroupRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_session_timeout_ms(session_timeout_ms)
        .with_rebalance_timeout_ms(REBALANCE_TIMEOUT_MS)
        .with_member_id(s(member_id))
        .with_protocol_type(s("consumer"))
        .with_protocols(vec![JoinGroupRequestProtocol::default()
            .with_name(s("range"))
            .with_metadata(Bytes::from_static(&[
                0, 0, 0, 0, 0, 1, 0, 1, b't', 0, 0, 0, 0,
            ]))])
}

/// Joins `group` as a new dynamic member (through MEMBER_ID_REQUIRED): (member id, join
/// answer). The first join of an empty group waits the initial rebalance delay (3 s).
fn join_new(conn: &mut KafkaConn, version: i16, group: &str) -> (String, JoinGroupResponse) {
    let first = conn.request(version, &join_request(group, "", SESSION_TIMEOUT_MS));
    assert_eq!(first.error_code, MEMBER_ID_REQUIRED, "{first:?}");
    let member_id = first.member_id.to_string();
    assert!(!member_id.is_empty());
    let joined = conn.request(
        version,
        &join_request(group, &member_id, SESSION_TIMEOUT_MS),
    );
    assert_eq!(joined.error_code, NONE, "{joined:?}");
    assert_eq!(joined.member_id.as_str(), member_id);
    (member_id, joined)
}

fn sync(conn: &mut KafkaConn, version: i16, group: &str, member: &str, generation: i32) -> i16 {
    let request = SyncGroupRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_generation_id(generation)
        .with_member_id(s(member))
        .with_assignments(vec![SyncGroupRequestAssignment::default()
            .with_member_id(s(member))
            .with_assignment(Bytes::from_static(ASSIGNMENT))]);
    let request = if version >= 5 {
        request
            .with_protocol_type(Some(s("consumer")))
            .with_protocol_name(Some(s("range")))
    } else {
        request
    };
    let response = conn.request(version, &request);
    if response.error_code == NONE {
        assert_eq!(response.assignment.as_ref(), ASSIGNMENT, "{response:?}");
    }
    response.error_code
}

fn heartbeat(conn: &mut KafkaConn, version: i16, group: &str, member: &str, gen: i32) -> i16 {
    let request = HeartbeatRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_generation_id(gen)
        .with_member_id(s(member));
    conn.request(version, &request).error_code
}

/// Commits `offset` for each (topic, partition); returns the error code of each, in order.
fn commit(
    conn: &mut KafkaConn,
    version: i16,
    group: &str,
    member: (&str, i32),
    offsets: &[(&str, i32, i64)],
) -> Vec<i16> {
    let topics = offsets
        .iter()
        .map(|&(topic, partition, offset)| {
            OffsetCommitRequestTopic::default()
                .with_name(TopicName(s(topic)))
                .with_partitions(vec![OffsetCommitRequestPartition::default()
                    .with_partition_index(partition)
                    .with_committed_offset(offset)])
        })
        .collect();
    let request = OffsetCommitRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_member_id(s(member.0))
        .with_generation_id_or_member_epoch(member.1)
        .with_topics(topics);
    let response = conn.request(version, &request);
    let codes: Vec<i16> = response
        .topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| p.error_code))
        .collect();
    assert_eq!(codes.len(), offsets.len(), "{response:?}");
    codes
}

fn listed_groups(conn: &mut KafkaConn) -> Vec<String> {
    let response = conn.request(4, &ListGroupsRequest::default());
    assert_eq!(response.error_code, NONE);
    response
        .groups
        .iter()
        .map(|g| g.group_id.0.to_string())
        .collect()
}

#[test]
fn stale_generation_gets_illegal_generation() {
    let mut node = EddyNode::start();
    create_topic(&node, "t", 1);
    let mut conn = KafkaConn::connect(node.kafka_addr());
    for (join_version, sync_version) in JOIN_VERSIONS.into_iter().zip(SYNC_VERSIONS) {
        let group = format!("stale-v{join_version}");
        let (member, joined) = join_new(&mut conn, join_version, &group);
        let stale = joined.generation_id;
        assert_eq!(joined.leader.as_str(), member, "a lone member leads");
        assert_eq!(sync(&mut conn, sync_version, &group, &member, stale), NONE);

        // The leader joins again: a new generation, completed at once (no other member).
        let rejoined = conn.request(
            join_version,
            &join_request(&group, &member, SESSION_TIMEOUT_MS),
        );
        assert_eq!(rejoined.error_code, NONE, "{rejoined:?}");
        let current = rejoined.generation_id;
        assert!(current > stale, "generation {stale} → {current}");

        for version in SYNC_VERSIONS {
            let code = sync(&mut conn, version, &group, &member, stale);
            assert_eq!(code, ILLEGAL_GENERATION, "SyncGroup v{version} gen {stale}");
        }
        for version in HEARTBEAT_VERSIONS {
            let code = heartbeat(&mut conn, version, &group, &member, stale);
            assert_eq!(code, ILLEGAL_GENERATION, "Heartbeat v{version} gen {stale}");
        }
        for version in COMMIT_VERSIONS {
            let codes = commit(&mut conn, version, &group, (&member, stale), &[("t", 0, 1)]);
            assert_eq!(
                codes,
                [ILLEGAL_GENERATION],
                "OffsetCommit v{version} gen {stale}"
            );
        }
        // The current generation goes through.
        assert_eq!(
            sync(&mut conn, sync_version, &group, &member, current),
            NONE
        );
        assert_eq!(heartbeat(&mut conn, 4, &group, &member, current), NONE);
        let codes = commit(&mut conn, 8, &group, (&member, current), &[("t", 0, 1)]);
        assert_eq!(codes, [NONE]);
    }
    node.assert_healthy();
}

#[test]
fn unknown_member_gets_unknown_member_id() {
    let mut node = EddyNode::start();
    create_topic(&node, "t", 1);
    let mut conn = KafkaConn::connect(node.kafka_addr());
    let group = "known";
    let (member, joined) = join_new(&mut conn, 7, group);
    let generation = joined.generation_id;
    assert_eq!(sync(&mut conn, 5, group, &member, generation), NONE);

    for version in HEARTBEAT_VERSIONS {
        let code = heartbeat(&mut conn, version, group, "ghost", generation);
        assert_eq!(
            code, UNKNOWN_MEMBER_ID,
            "Heartbeat v{version} in a live group"
        );
    }
    for version in SYNC_VERSIONS {
        let code = sync(&mut conn, version, group, "ghost", generation);
        assert_eq!(code, UNKNOWN_MEMBER_ID, "SyncGroup v{version}");
    }
    let codes = commit(&mut conn, 8, group, ("ghost", generation), &[("t", 0, 1)]);
    assert_eq!(codes, [UNKNOWN_MEMBER_ID], "OffsetCommit v8");
    let leave = LeaveGroupRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_members(vec![MemberIdentity::default().with_member_id(s("ghost"))]);
    let left = conn.request(4, &leave);
    let codes: Vec<i16> = left.members.iter().map(|m| m.error_code).collect();
    assert_eq!(codes, [UNKNOWN_MEMBER_ID], "LeaveGroup v4: {left:?}");
    // A join naming a member id the group never gave out.
    let join = conn.request(7, &join_request(group, "ghost", SESSION_TIMEOUT_MS));
    assert_eq!(join.error_code, UNKNOWN_MEMBER_ID, "JoinGroup v7: {join:?}");
    // The real member is untouched by all of this.
    assert_eq!(heartbeat(&mut conn, 4, group, &member, generation), NONE);

    // A heartbeat for a group that does not exist.
    for version in HEARTBEAT_VERSIONS {
        let code = heartbeat(&mut conn, version, "nowhere", "ghost", 1);
        assert_eq!(code, UNKNOWN_MEMBER_ID, "Heartbeat v{version} to no group");
    }
    node.assert_healthy();
}

/// Kafka answers a heartbeat for an unknown group without creating the group.
#[test]
fn requests_for_an_unknown_group_do_not_create_it() {
    let mut node = EddyNode::start();
    let mut conn = KafkaConn::connect(node.kafka_addr());
    assert_eq!(
        heartbeat(&mut conn, 4, "phantom-hb", "ghost", 1),
        UNKNOWN_MEMBER_ID
    );
    assert_eq!(
        sync(&mut conn, 5, "phantom-sync", "ghost", 1),
        UNKNOWN_MEMBER_ID
    );
    let leave = LeaveGroupRequest::default()
        .with_group_id(GroupId(s("phantom-leave")))
        .with_members(vec![MemberIdentity::default().with_member_id(s("ghost"))]);
    conn.request(4, &leave);
    assert_eq!(listed_groups(&mut conn), Vec::<String>::new());
    node.assert_healthy();
}

#[test]
fn commit_for_a_missing_or_deleted_topic_gets_unknown_topic_or_partition() {
    let mut node = EddyNode::start();
    create_topic(&node, "doomed", 2);
    let mut conn = KafkaConn::connect(node.kafka_addr());
    let group = "committers";
    // Simple commits (no member, generation -1) from a group without members.
    let simple = ("", -1);
    for version in COMMIT_VERSIONS {
        let codes = commit(
            &mut conn,
            version,
            group,
            simple,
            &[("never-created", 0, 5), ("doomed", 0, 5), ("doomed", 7, 5)],
        );
        assert_eq!(
            codes,
            [UNKNOWN_TOPIC_OR_PARTITION, NONE, UNKNOWN_TOPIC_OR_PARTITION],
            "OffsetCommit v{version}"
        );
    }
    let committed: Vec<(String, i32, i64)> = group_offsets(&node, group)
        .into_iter()
        .map(|o| (o.topic, o.partition, o.committed_offset))
        .collect();
    assert_eq!(committed, [("doomed".to_owned(), 0, 5)]);

    block_on(async {
        let mut admin = eddy::client::Admin::connect(&node.bootstrap())
            .await
            .expect("connect admin");
        admin.delete_topic("doomed").await.expect("delete topic");
    });
    for version in COMMIT_VERSIONS {
        let codes = commit(&mut conn, version, group, simple, &[("doomed", 0, 6)]);
        assert_eq!(
            codes,
            [UNKNOWN_TOPIC_OR_PARTITION],
            "OffsetCommit v{version}"
        );
    }
    node.assert_healthy();
}

/// Kafka drops a group's committed offsets of a deleted topic, so a topic created again
/// under the same name is not read from the old topic's offsets.
#[test]
fn offsets_of_a_deleted_topic_go_with_it() {
    let mut node = EddyNode::start();
    create_topic(&node, "reborn", 1);
    let mut conn = KafkaConn::connect(node.kafka_addr());
    let codes = commit(&mut conn, 8, "rebirth", ("", -1), &[("reborn", 0, 5)]);
    assert_eq!(codes, [NONE]);
    block_on(async {
        let mut admin = eddy::client::Admin::connect(&node.bootstrap())
            .await
            .expect("connect admin");
        admin.delete_topic("reborn").await.expect("delete topic");
    });
    create_topic(&node, "reborn", 1);
    let committed: Vec<(String, i32, i64)> = group_offsets(&node, "rebirth")
        .into_iter()
        .map(|o| (o.topic, o.partition, o.committed_offset))
        .collect();
    assert_eq!(
        committed,
        [],
        "offsets of the deleted topic still apply to the new one"
    );
    node.assert_healthy();
}

/// Kafka answers GROUP_ID_NOT_FOUND for a group deleted already, as for one that never was.
#[test]
fn deleting_a_deleted_group_gets_group_id_not_found() {
    let mut node = EddyNode::start();
    create_topic(&node, "t", 1);
    let mut conn = KafkaConn::connect(node.kafka_addr());
    assert_eq!(
        commit(&mut conn, 8, "once", ("", -1), &[("t", 0, 1)]),
        [NONE]
    );
    let delete = DeleteGroupsRequest::default().with_groups_names(vec![GroupId(s("once"))]);
    for (attempt, expected) in [(1, NONE), (2, GROUP_ID_NOT_FOUND)] {
        let response = conn.request(2, &delete);
        let codes: Vec<i16> = response.results.iter().map(|r| r.error_code).collect();
        assert_eq!(codes, [expected], "DeleteGroups v2, attempt {attempt}");
    }
    node.assert_healthy();
}

#[test]
fn session_timeout_below_the_minimum_gets_invalid_session_timeout() {
    let mut node = EddyNode::start();
    let mut conn = KafkaConn::connect(node.kafka_addr());
    for version in JOIN_VERSIONS {
        let request = join_request("impatient", "", SESSION_TIMEOUT_MS - 1);
        let response = conn.request(version, &request);
        assert_eq!(
            response.error_code, INVALID_SESSION_TIMEOUT,
            "JoinGroup v{version}: {response:?}"
        );
    }
    assert_eq!(
        ResponseError::try_from_code(INVALID_SESSION_TIMEOUT),
        Some(ResponseError::InvalidSessionTimeout)
    );
    node.assert_healthy();
}
