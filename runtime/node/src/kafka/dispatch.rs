//! Request dispatch: the table of supported APIs (what ApiVersions advertises — exactly what
//! is implemented), header decoding, version checks before body decoding, and response
//! encoding with the right response header version.

use std::net::SocketAddr;
use std::time::Instant;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable};

use super::Broker;

/// One supported API and its version range.
pub struct ApiRange {
    /// The API.
    pub key: ApiKey,
    /// Lowest version served.
    pub min: i16,
    /// Highest version served.
    pub max: i16,
}

const fn api(key: ApiKey, min: i16, max: i16) -> ApiRange {
    ApiRange { key, min, max }
}

/// The APIs this node implements. Produce advertises min 0 although v0–2 are refused when
/// they arrive (as Kafka 4.0 does): librdkafka before 2.11.1 stops compressing if Produce min
/// is 3 or more. Fetch stops at 12 (v13+ addresses topics by id).
pub const SUPPORTED_APIS: &[ApiRange] = &[
    api(ApiKey::Produce, 0, 9),
    api(ApiKey::Fetch, 4, 12),
    api(ApiKey::ListOffsets, 1, 6),
    api(ApiKey::Metadata, 0, 12),
    api(ApiKey::ApiVersions, 0, 4),
    api(ApiKey::CreateTopics, 2, 7),
    api(ApiKey::DeleteTopics, 1, 6),
    api(ApiKey::InitProducerId, 0, 4),
    api(ApiKey::DescribeConfigs, 1, 4),
    api(ApiKey::CreatePartitions, 0, 3),
    api(ApiKey::IncrementalAlterConfigs, 0, 1),
    api(ApiKey::DescribeCluster, 0, 1),
    api(ApiKey::OffsetCommit, 2, 8),
    api(ApiKey::OffsetFetch, 1, 8),
    api(ApiKey::FindCoordinator, 0, 4),
    api(ApiKey::JoinGroup, 0, 7),
    api(ApiKey::Heartbeat, 0, 4),
    api(ApiKey::LeaveGroup, 0, 4),
    api(ApiKey::SyncGroup, 0, 5),
    api(ApiKey::DescribeGroups, 0, 5),
    api(ApiKey::ListGroups, 0, 4),
    api(ApiKey::DeleteGroups, 0, 2),
    api(ApiKey::OffsetDelete, 0, 0),
    api(ApiKey::DeleteRecords, 0, 2),
];

/// The lowest Produce version actually served: the crate decodes v3+ (magic-2 batches only).
pub const PRODUCE_VERSION_MIN_SERVED: i16 = 3;

/// The served range of an API, if supported.
pub fn supported(key: ApiKey) -> Option<&'static ApiRange> {
    SUPPORTED_APIS.iter().find(|a| a.key == key)
}

/// What to do with one request frame.
pub enum Outcome {
    /// Send this encoded response (size prefix included).
    Respond(Bytes),
    /// Send nothing (acks=0 produce).
    Silent,
    /// Refuse and close the connection: Kafka's answer to requests it cannot parse.
    Close(String),
}

/// A request decoded as the server decodes it, before any handler runs.
pub struct Request {
    /// The API (one of [`SUPPORTED_APIS`], at a served version).
    pub key: ApiKey,
    /// The request header.
    pub header: RequestHeader,
    /// The decoded body.
    pub body: RequestBody,
}

/// The decoded body of a request, one variant per served API.
#[derive(Debug)]
pub enum RequestBody {
    /// Produce.
    Produce(ProduceRequest),
    /// Fetch.
    Fetch(FetchRequest),
    /// ListOffsets.
    ListOffsets(ListOffsetsRequest),
    /// Metadata.
    Metadata(MetadataRequest),
    /// ApiVersions.
    ApiVersions(ApiVersionsRequest),
    /// CreateTopics.
    CreateTopics(CreateTopicsRequest),
    /// DeleteTopics.
    DeleteTopics(DeleteTopicsRequest),
    /// InitProducerId.
    InitProducerId(InitProducerIdRequest),
    /// DescribeConfigs.
    DescribeConfigs(DescribeConfigsRequest),
    /// CreatePartitions.
    CreatePartitions(CreatePartitionsRequest),
    /// IncrementalAlterConfigs.
    IncrementalAlterConfigs(IncrementalAlterConfigsRequest),
    /// DescribeCluster.
    DescribeCluster(DescribeClusterRequest),
    /// OffsetCommit.
    OffsetCommit(OffsetCommitRequest),
    /// OffsetFetch.
    OffsetFetch(OffsetFetchRequest),
    /// FindCoordinator.
    FindCoordinator(FindCoordinatorRequest),
    /// JoinGroup.
    JoinGroup(JoinGroupRequest),
    /// Heartbeat.
    Heartbeat(HeartbeatRequest),
    /// LeaveGroup.
    LeaveGroup(LeaveGroupRequest),
    /// SyncGroup.
    SyncGroup(SyncGroupRequest),
    /// DescribeGroups.
    DescribeGroups(DescribeGroupsRequest),
    /// ListGroups.
    ListGroups(ListGroupsRequest),
    /// DeleteGroups.
    DeleteGroups(DeleteGroupsRequest),
    /// OffsetDelete.
    OffsetDelete(OffsetDeleteRequest),
    /// DeleteRecords.
    DeleteRecords(DeleteRecordsRequest),
}

/// Why a request frame is not routed to a handler.
#[derive(Debug)]
pub enum Refusal {
    /// ApiVersions at a version not served: answered UNSUPPORTED_VERSION with a v0 body, so
    /// that the client retries with a version we serve.
    ApiVersionsTooNew {
        /// The request's correlation id, the only field read.
        correlation_id: i32,
    },
    /// Refuse and close the connection, for this reason.
    Close(String),
}

/// Decodes one request frame (without its size prefix): the API key and version are
/// checked against [`SUPPORTED_APIS`] before the header and then the body are decoded.
/// Pure: exactly what [`handle_frame`] does before routing, and what the request fuzz
/// target (`fuzz/`) runs.
pub fn decode_request(mut frame: Bytes) -> Result<Request, Refusal> {
    if frame.len() < 8 {
        return Err(Refusal::Close(format!(
            "frame of {} bytes is too short for a request header",
            frame.len()
        )));
    }
    let api_key = i16::from_be_bytes([frame[0], frame[1]]);
    let version = i16::from_be_bytes([frame[2], frame[3]]);
    let Ok(key) = ApiKey::try_from(api_key) else {
        return Err(Refusal::Close(format!("unknown API key {api_key}")));
    };
    let range = supported(key);
    let in_range = range.is_some_and(|r| version >= r.min && version <= r.max)
        && !(key == ApiKey::Produce && version < PRODUCE_VERSION_MIN_SERVED);
    if !in_range && key != ApiKey::ApiVersions {
        let served = range
            .map(|r| format!("{}..={}", r.min, r.max))
            .unwrap_or_else(|| "none".into());
        return Err(Refusal::Close(format!(
            "{key:?} v{version} is not supported (served versions: {served})"
        )));
    }
    if key == ApiKey::ApiVersions && !in_range {
        let correlation_id = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
        return Err(Refusal::ApiVersionsTooNew { correlation_id });
    }
    let header_version = key.request_header_version(version);
    let header = RequestHeader::decode(&mut frame, header_version)
        .map_err(|err| Refusal::Close(format!("bad {key:?} v{version} request header: {err}")))?;
    let body = decode_body(key, version, &mut frame)?;
    Ok(Request { key, header, body })
}

/// Decodes the body of a served API.
fn decode_body(key: ApiKey, version: i16, body: &mut Bytes) -> Result<RequestBody, Refusal> {
    macro_rules! body {
        ($variant:ident) => {
            RequestBody::$variant(decode(key, version, body)?)
        };
    }
    Ok(match key {
        ApiKey::Produce => body!(Produce),
        ApiKey::Fetch => body!(Fetch),
        ApiKey::ListOffsets => body!(ListOffsets),
        ApiKey::Metadata => body!(Metadata),
        ApiKey::ApiVersions => body!(ApiVersions),
        ApiKey::CreateTopics => body!(CreateTopics),
        ApiKey::DeleteTopics => body!(DeleteTopics),
        ApiKey::InitProducerId => body!(InitProducerId),
        ApiKey::DescribeConfigs => body!(DescribeConfigs),
        ApiKey::CreatePartitions => body!(CreatePartitions),
        ApiKey::IncrementalAlterConfigs => body!(IncrementalAlterConfigs),
        ApiKey::DescribeCluster => body!(DescribeCluster),
        ApiKey::OffsetCommit => body!(OffsetCommit),
        ApiKey::OffsetFetch => body!(OffsetFetch),
        ApiKey::FindCoordinator => body!(FindCoordinator),
        ApiKey::JoinGroup => body!(JoinGroup),
        ApiKey::Heartbeat => body!(Heartbeat),
        ApiKey::LeaveGroup => body!(LeaveGroup),
        ApiKey::SyncGroup => body!(SyncGroup),
        ApiKey::DescribeGroups => body!(DescribeGroups),
        ApiKey::ListGroups => body!(ListGroups),
        ApiKey::DeleteGroups => body!(DeleteGroups),
        ApiKey::OffsetDelete => body!(OffsetDelete),
        ApiKey::DeleteRecords => body!(DeleteRecords),
        other => return Err(Refusal::Close(format!("{other:?} is not implemented"))),
    })
}

fn decode<T: Decodable>(key: ApiKey, version: i16, body: &mut Bytes) -> Result<T, Refusal> {
    T::decode(body, version)
        .map_err(|e| Refusal::Close(format!("cannot decode {key:?} v{version} request: {e}")))
}

/// Handles one request frame (without its size prefix).
pub async fn handle_frame(broker: &Broker, peer: SocketAddr, frame: Bytes) -> Outcome {
    let request = match decode_request(frame) {
        Ok(request) => request,
        Err(Refusal::ApiVersionsTooNew { correlation_id }) => {
            return encode(
                ApiKey::ApiVersions,
                0,
                correlation_id,
                &super::api_versions::unsupported(),
            )
        }
        Err(Refusal::Close(reason)) => return Outcome::Close(reason),
    };
    let started = Instant::now();
    let api = format!("{:?}", request.key);
    let outcome = route(broker, peer, request).await;
    metrics::counter!("eddy_requests_total", "api" => api.clone()).increment(1);
    metrics::histogram!("eddy_request_duration_seconds", "api" => api)
        .record(started.elapsed().as_secs_f64());
    outcome
}

/// Runs a decoded request's handler and encodes its response.
async fn route(broker: &Broker, peer: SocketAddr, request: Request) -> Outcome {
    let Request { key, header, body } = request;
    let header = &header;
    match body {
        RequestBody::ApiVersions(req) => respond(
            key,
            header,
            &super::api_versions::handle(broker, header, req).await,
        ),
        RequestBody::Metadata(req) => respond(
            key,
            header,
            &super::metadata::handle(broker, header, req).await,
        ),
        RequestBody::Produce(req) => match super::produce::handle(broker, header, req).await {
            Some(resp) => respond(key, header, &resp),
            None => Outcome::Silent,
        },
        RequestBody::Fetch(req) => respond(
            key,
            header,
            &super::fetch::handle(broker, header, req).await,
        ),
        RequestBody::ListOffsets(req) => respond(
            key,
            header,
            &super::list_offsets::handle(broker, header, req).await,
        ),
        RequestBody::CreateTopics(req) => respond(
            key,
            header,
            &super::topics::create(broker, header, req).await,
        ),
        RequestBody::DeleteTopics(req) => respond(
            key,
            header,
            &super::topics::delete(broker, header, req).await,
        ),
        RequestBody::CreatePartitions(req) => respond(
            key,
            header,
            &super::topics::create_partitions(broker, header, req).await,
        ),
        RequestBody::DescribeConfigs(req) => respond(
            key,
            header,
            &super::configs::describe(broker, header, req).await,
        ),
        RequestBody::IncrementalAlterConfigs(req) => respond(
            key,
            header,
            &super::configs::alter(broker, header, req).await,
        ),
        RequestBody::DescribeCluster(req) => respond(
            key,
            header,
            &super::cluster::describe(broker, header, req).await,
        ),
        RequestBody::InitProducerId(req) => respond(
            key,
            header,
            &super::producer_id::init(broker, header, req).await,
        ),
        RequestBody::FindCoordinator(req) => respond(
            key,
            header,
            &super::groups::find_coordinator(broker, header, req).await,
        ),
        RequestBody::JoinGroup(req) => respond(
            key,
            header,
            &super::groups::join(broker, header, peer, req).await,
        ),
        RequestBody::SyncGroup(req) => {
            respond(key, header, &super::groups::sync(broker, header, req).await)
        }
        RequestBody::Heartbeat(req) => respond(
            key,
            header,
            &super::groups::heartbeat(broker, header, req).await,
        ),
        RequestBody::LeaveGroup(req) => respond(
            key,
            header,
            &super::groups::leave(broker, header, req).await,
        ),
        RequestBody::ListGroups(req) => {
            respond(key, header, &super::groups::list(broker, header, req).await)
        }
        RequestBody::DescribeGroups(req) => respond(
            key,
            header,
            &super::groups::describe(broker, header, req).await,
        ),
        RequestBody::DeleteGroups(req) => respond(
            key,
            header,
            &super::groups::delete(broker, header, req).await,
        ),
        RequestBody::OffsetCommit(req) => respond(
            key,
            header,
            &super::offsets::commit(broker, header, req).await,
        ),
        RequestBody::OffsetFetch(req) => respond(
            key,
            header,
            &super::offsets::fetch(broker, header, req).await,
        ),
        RequestBody::OffsetDelete(req) => respond(
            key,
            header,
            &super::offsets::delete(broker, header, req).await,
        ),
        RequestBody::DeleteRecords(req) => respond(
            key,
            header,
            &super::delete_records::handle(broker, header, req).await,
        ),
    }
}

/// Encodes a handler's response for this request.
fn respond<R: Encodable>(key: ApiKey, header: &RequestHeader, body: &R) -> Outcome {
    encode(key, header.request_api_version, header.correlation_id, body)
}

/// Encodes a response with its header and size prefix.
fn encode<R: Encodable>(key: ApiKey, version: i16, correlation_id: i32, body: &R) -> Outcome {
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    let header_version = key.response_header_version(version);
    let mut buf = BytesMut::with_capacity(64);
    buf.put_i32(0);
    let encoded = header
        .encode(&mut buf, header_version)
        .and_then(|()| body.encode(&mut buf, version));
    match encoded {
        Ok(()) => {
            let size = (buf.len() - 4) as i32;
            buf[..4].copy_from_slice(&size.to_be_bytes());
            Outcome::Respond(buf.freeze())
        }
        // A response we cannot encode is a bug in a handler (a field set that this version
        // lacks); close rather than send garbage, and say which.
        Err(err) => Outcome::Close(format!("cannot encode {key:?} v{version} response: {err}")),
    }
}
