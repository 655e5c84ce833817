//! The classic consumer-group APIs: FindCoordinator (this node alone, or in a cluster the
//! first live node on the hash ring from the group id), JoinGroup,
//! SyncGroup, Heartbeat, LeaveGroup, ListGroups, DescribeGroups and DeleteGroups. Each
//! request becomes a message to the group's GroupCoordinator actor; JoinGroup and SyncGroup
//! may park there until the rebalance completes.

use actix::Addr;
use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::find_coordinator_response::Coordinator as CoordinatorEntry;
use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use super::Broker;
use crate::error::{group_code, group_error};
use eddy_actors::group::{GroupError, GroupState, JoinRequest, SyncOutcome};
use eddy_actors::group_coordinator::{
    DeleteGroup, Describe, GroupCoordinator, Heartbeat as Beat, Join, Leave, Sync,
};
use eddy_actors::group_supervisor::{AllCoordinators, Coordinator};

fn text(s: &StrBytes) -> String {
    s.as_str().to_string()
}

fn str_bytes(s: impl Into<String>) -> StrBytes {
    StrBytes::from_string(s.into())
}

/// The coordinator of an existing group for a member's request (SyncGroup, Heartbeat,
/// LeaveGroup): an unknown group is answered as an unknown member, and nothing is created.
async fn member_coordinator(
    broker: &Broker,
    group_id: &str,
) -> Result<Addr<GroupCoordinator>, ResponseError> {
    match coordinator(broker, group_id, false).await {
        Err(ResponseError::GroupIdNotFound) => Err(ResponseError::UnknownMemberId),
        other => other,
    }
}

/// The coordinator actor of a group, started when `create`.
pub async fn coordinator(
    broker: &Broker,
    group_id: &str,
    create: bool,
) -> Result<Addr<GroupCoordinator>, ResponseError> {
    if group_id.is_empty() {
        return Err(ResponseError::InvalidGroupId);
    }
    if broker.coordinator_of(group_id).node_id != broker.node_id {
        return Err(ResponseError::NotCoordinator);
    }
    match broker
        .actors
        .groups
        .send(Coordinator {
            group_id: group_id.to_string(),
            create,
        })
        .await
    {
        Ok(Some(addr)) => Ok(addr),
        Ok(None) if create => Err(ResponseError::CoordinatorNotAvailable),
        Ok(None) => Err(ResponseError::GroupIdNotFound),
        Err(_) => Err(ResponseError::CoordinatorNotAvailable),
    }
}

pub async fn find_coordinator(
    broker: &Broker,
    header: &RequestHeader,
    req: FindCoordinatorRequest,
) -> FindCoordinatorResponse {
    let version = header.request_api_version;
    // Transaction coordinators (key type 1) do not exist yet.
    let error = (req.key_type != 0).then_some(ResponseError::CoordinatorNotAvailable);
    let code = error.map(|e| e.code()).unwrap_or(0);
    if version >= 4 {
        let coordinators = req
            .coordinator_keys
            .into_iter()
            .map(|key| {
                let c = broker.coordinator_of(key.as_str());
                if error.is_none() {
                    broker.record_coordinator(key.as_str(), c.node_id);
                }
                CoordinatorEntry::default()
                    .with_key(key)
                    .with_node_id(BrokerId(c.node_id))
                    .with_host(str_bytes(c.host))
                    .with_port(c.port)
                    .with_error_code(code)
            })
            .collect();
        return FindCoordinatorResponse::default().with_coordinators(coordinators);
    }
    let c = broker.coordinator_of(req.key.as_str());
    if error.is_none() {
        broker.record_coordinator(req.key.as_str(), c.node_id);
    }
    FindCoordinatorResponse::default()
        .with_error_code(code)
        .with_node_id(BrokerId(if error.is_some() { -1 } else { c.node_id }))
        .with_host(str_bytes(if error.is_some() {
            String::new()
        } else {
            c.host
        }))
        .with_port(if error.is_some() { -1 } else { c.port })
}

fn join_error(version: i16, code: i16, member_id: StrBytes) -> JoinGroupResponse {
    let resp = JoinGroupResponse::default()
        .with_error_code(code)
        .with_generation_id(-1)
        .with_member_id(member_id);
    if version < 7 {
        resp.with_protocol_name(Some(StrBytes::new()))
    } else {
        resp
    }
}

pub async fn join(
    broker: &Broker,
    header: &RequestHeader,
    peer: std::net::SocketAddr,
    req: JoinGroupRequest,
) -> JoinGroupResponse {
    let version = header.request_api_version;
    let addr = match coordinator(broker, req.group_id.0.as_str(), true).await {
        Ok(addr) => addr,
        Err(e) => return join_error(version, e.code(), req.member_id),
    };
    let request = JoinRequest {
        member_id: text(&req.member_id),
        group_instance_id: req.group_instance_id.as_ref().map(text),
        client_id: header.client_id.as_ref().map(text).unwrap_or_default(),
        // Kafka reports the client host as "/" + its IP address.
        client_host: format!("/{}", peer.ip()),
        session_timeout_ms: req.session_timeout_ms,
        // JoinGroup v0 has no rebalance timeout: Kafka uses the session timeout.
        rebalance_timeout_ms: if version == 0 {
            req.session_timeout_ms
        } else {
            req.rebalance_timeout_ms
        },
        protocol_type: text(&req.protocol_type),
        protocols: req
            .protocols
            .iter()
            .map(|p| (text(&p.name), p.metadata.clone()))
            .collect(),
        require_known_member_id: version >= 4,
    };
    let outcome = match addr.send(Join(request)).await {
        Ok(rx) => match rx.await {
            Ok(outcome) => outcome,
            Err(_) => {
                return join_error(
                    version,
                    ResponseError::CoordinatorNotAvailable.code(),
                    req.member_id,
                )
            }
        },
        Err(_) => {
            return join_error(
                version,
                ResponseError::CoordinatorNotAvailable.code(),
                req.member_id,
            )
        }
    };
    if let Some(err) = outcome.error {
        return join_error(
            version,
            group_error(err).code(),
            str_bytes(outcome.member_id),
        );
    }
    let members = outcome
        .members
        .into_iter()
        .map(|m| {
            let member = JoinGroupResponseMember::default()
                .with_member_id(str_bytes(m.member_id))
                .with_metadata(m.metadata);
            if version >= 5 {
                member.with_group_instance_id(m.group_instance_id.map(str_bytes))
            } else {
                member
            }
        })
        .collect();
    let resp = JoinGroupResponse::default()
        .with_generation_id(outcome.generation_id)
        .with_protocol_name(Some(str_bytes(outcome.protocol_name.unwrap_or_default())))
        .with_leader(str_bytes(outcome.leader))
        .with_member_id(str_bytes(outcome.member_id))
        .with_members(members);
    if version >= 7 {
        resp.with_protocol_type(outcome.protocol_type.map(str_bytes))
    } else {
        resp
    }
}

fn sync_response(version: i16, outcome: SyncOutcome) -> SyncGroupResponse {
    let code = outcome.error.map(|e| group_error(e).code()).unwrap_or(0);
    let resp = SyncGroupResponse::default()
        .with_error_code(code)
        .with_assignment(outcome.assignment);
    if version >= 5 {
        resp.with_protocol_type(outcome.protocol_type.map(str_bytes))
            .with_protocol_name(outcome.protocol_name.map(str_bytes))
    } else {
        resp
    }
}

pub async fn sync(
    broker: &Broker,
    header: &RequestHeader,
    req: SyncGroupRequest,
) -> SyncGroupResponse {
    let version = header.request_api_version;
    let failed = |e: ResponseError| SyncGroupResponse::default().with_error_code(e.code());
    let addr = match member_coordinator(broker, req.group_id.0.as_str()).await {
        Ok(addr) => addr,
        Err(e) => return failed(e),
    };
    let msg = Sync {
        member_id: text(&req.member_id),
        generation_id: req.generation_id,
        group_instance_id: req.group_instance_id.as_ref().map(text),
        assignments: req
            .assignments
            .iter()
            .map(|a| (text(&a.member_id), a.assignment.clone()))
            .collect(),
    };
    match addr.send(msg).await {
        Ok(rx) => match rx.await {
            Ok(outcome) => sync_response(version, outcome),
            Err(_) => failed(ResponseError::CoordinatorNotAvailable),
        },
        Err(_) => failed(ResponseError::CoordinatorNotAvailable),
    }
}

pub async fn heartbeat(
    broker: &Broker,
    _header: &RequestHeader,
    req: HeartbeatRequest,
) -> HeartbeatResponse {
    let addr = match member_coordinator(broker, req.group_id.0.as_str()).await {
        Ok(addr) => addr,
        Err(e) => return HeartbeatResponse::default().with_error_code(e.code()),
    };
    let msg = Beat {
        member_id: text(&req.member_id),
        generation_id: req.generation_id,
        group_instance_id: req.group_instance_id.as_ref().map(text),
    };
    let result = addr
        .send(msg)
        .await
        .unwrap_or(Err(GroupError::CoordinatorNotAvailable));
    HeartbeatResponse::default().with_error_code(group_code(&result))
}

pub async fn leave(
    broker: &Broker,
    header: &RequestHeader,
    req: LeaveGroupRequest,
) -> LeaveGroupResponse {
    let version = header.request_api_version;
    let addr = match member_coordinator(broker, req.group_id.0.as_str()).await {
        Ok(addr) => addr,
        Err(e) => return LeaveGroupResponse::default().with_error_code(e.code()),
    };
    // v0–2 name one member; v3+ a batch, possibly by static id.
    let who: Vec<(String, Option<String>)> = if version < 3 {
        vec![(text(&req.member_id), None)]
    } else {
        req.members
            .iter()
            .map(|m| (text(&m.member_id), m.group_instance_id.as_ref().map(text)))
            .collect()
    };
    let results = addr
        .send(Leave(who.clone()))
        .await
        .unwrap_or_else(|_| vec![Err(GroupError::CoordinatorNotAvailable); who.len()]);
    if version < 3 {
        let code = results.first().map(group_code).unwrap_or(0);
        return LeaveGroupResponse::default().with_error_code(code);
    }
    let members = who
        .into_iter()
        .zip(results)
        .map(|((member, instance), r)| {
            MemberResponse::default()
                .with_member_id(str_bytes(member))
                .with_group_instance_id(instance.map(str_bytes))
                .with_error_code(group_code(&r))
        })
        .collect();
    LeaveGroupResponse::default().with_members(members)
}

pub async fn list(
    broker: &Broker,
    header: &RequestHeader,
    req: ListGroupsRequest,
) -> ListGroupsResponse {
    let version = header.request_api_version;
    let all = broker
        .actors
        .groups
        .send(AllCoordinators)
        .await
        .unwrap_or_default();
    let mut groups = Vec::with_capacity(all.len());
    for (group_id, addr) in all {
        let Ok(d) = addr.send(Describe).await else {
            continue;
        };
        if d.state == GroupState::Dead {
            continue;
        }
        let state = d.state.kafka_name();
        if !req.states_filter.is_empty()
            && !req
                .states_filter
                .iter()
                .any(|s| s.as_str().eq_ignore_ascii_case(state))
        {
            continue;
        }
        let protocol_type = d.protocol_type.clone().unwrap_or_default();
        if !req.types_filter.is_empty()
            && !req
                .types_filter
                .iter()
                .any(|t| t.as_str().eq_ignore_ascii_case("classic"))
        {
            continue;
        }
        let mut listed = ListedGroup::default()
            .with_group_id(GroupId(str_bytes(group_id)))
            .with_protocol_type(str_bytes(protocol_type));
        if version >= 4 {
            listed = listed.with_group_state(StrBytes::from_static_str(state));
        }
        if version >= 5 {
            listed = listed.with_group_type(StrBytes::from_static_str("classic"));
        }
        groups.push(listed);
    }
    ListGroupsResponse::default().with_groups(groups)
}

pub async fn describe(
    broker: &Broker,
    header: &RequestHeader,
    req: DescribeGroupsRequest,
) -> DescribeGroupsResponse {
    let version = header.request_api_version;
    let ops = super::authorized::reported(
        version >= 3 && req.include_authorized_operations,
        super::authorized::GROUP,
    );
    let mut groups = Vec::with_capacity(req.groups.len());
    for group_id in req.groups {
        let described = DescribedGroup::default()
            .with_group_id(group_id.clone())
            .with_authorized_operations(ops);
        let addr = match coordinator(broker, group_id.0.as_str(), false).await {
            Ok(addr) => addr,
            Err(ResponseError::GroupIdNotFound) => {
                groups.push(described.with_group_state(StrBytes::from_static_str("Dead")));
                continue;
            }
            Err(e) => {
                groups.push(described.with_error_code(e.code()));
                continue;
            }
        };
        let Ok(d) = addr.send(Describe).await else {
            groups.push(described.with_error_code(ResponseError::CoordinatorNotAvailable.code()));
            continue;
        };
        let members = d
            .members
            .into_iter()
            .map(|m| {
                let member = DescribedGroupMember::default()
                    .with_member_id(str_bytes(m.member_id))
                    .with_client_id(str_bytes(m.client_id))
                    .with_client_host(str_bytes(m.client_host))
                    .with_member_metadata(m.metadata)
                    .with_member_assignment(m.assignment);
                if version >= 4 {
                    member.with_group_instance_id(m.group_instance_id.map(str_bytes))
                } else {
                    member
                }
            })
            .collect();
        groups.push(
            described
                .with_group_state(StrBytes::from_static_str(d.state.kafka_name()))
                .with_protocol_type(str_bytes(d.protocol_type.unwrap_or_default()))
                .with_protocol_data(str_bytes(d.protocol_name.unwrap_or_default()))
                .with_members(members),
        );
    }
    DescribeGroupsResponse::default().with_groups(groups)
}

pub async fn delete(
    broker: &Broker,
    _header: &RequestHeader,
    req: DeleteGroupsRequest,
) -> DeleteGroupsResponse {
    let mut results = Vec::with_capacity(req.groups_names.len());
    for group_id in req.groups_names {
        let code = match coordinator(broker, group_id.0.as_str(), false).await {
            Ok(addr) => {
                let r = addr
                    .send(DeleteGroup)
                    .await
                    .unwrap_or(Err(GroupError::CoordinatorNotAvailable));
                group_code(&r)
            }
            Err(e) => e.code(),
        };
        results.push(
            DeletableGroupResult::default()
                .with_group_id(group_id)
                .with_error_code(code),
        );
    }
    DeleteGroupsResponse::default().with_results(results)
}
