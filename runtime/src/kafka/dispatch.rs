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

/// Handles one request frame (without its size prefix).
pub async fn handle_frame(broker: &Broker, peer: SocketAddr, mut frame: Bytes) -> Outcome {
    if frame.len() < 8 {
        return Outcome::Close(format!(
            "frame of {} bytes is too short for a request header",
            frame.len()
        ));
    }
    let api_key = i16::from_be_bytes([frame[0], frame[1]]);
    let version = i16::from_be_bytes([frame[2], frame[3]]);
    let Ok(key) = ApiKey::try_from(api_key) else {
        return Outcome::Close(format!("unknown API key {api_key}"));
    };
    let range = supported(key);
    let in_range = range.is_some_and(|r| version >= r.min && version <= r.max)
        && !(key == ApiKey::Produce && version < PRODUCE_VERSION_MIN_SERVED);
    if !in_range && key != ApiKey::ApiVersions {
        let served = range
            .map(|r| format!("{}..={}", r.min, r.max))
            .unwrap_or_else(|| "none".into());
        return Outcome::Close(format!(
            "{key:?} v{version} is not supported (served versions: {served})"
        ));
    }
    if key == ApiKey::ApiVersions && !in_range {
        // Too new: answer UNSUPPORTED_VERSION with a v0 body listing our table; the client
        // retries with a version we serve. Only the correlation id is needed.
        let correlation_id = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
        return encode(key, 0, correlation_id, &super::api_versions::unsupported());
    }
    let header_version = key.request_header_version(version);
    let header = match RequestHeader::decode(&mut frame, header_version) {
        Ok(h) => h,
        Err(err) => return Outcome::Close(format!("bad {key:?} v{version} request header: {err}")),
    };
    let started = Instant::now();
    let outcome = route(broker, peer, key, &header, frame).await;
    let api = format!("{key:?}");
    metrics::counter!("eddy_requests_total", "api" => api.clone()).increment(1);
    metrics::histogram!("eddy_request_duration_seconds", "api" => api)
        .record(started.elapsed().as_secs_f64());
    outcome
}

fn decode<T: Decodable>(key: ApiKey, version: i16, body: &mut Bytes) -> Result<T, Outcome> {
    T::decode(body, version)
        .map_err(|e| Outcome::Close(format!("cannot decode {key:?} v{version} request: {e}")))
}

macro_rules! serve {
    ($broker:expr, $key:expr, $header:expr, $body:expr, $req:ty, $handler:path) => {{
        let version = $header.request_api_version;
        match decode::<$req>($key, version, &mut $body) {
            Ok(req) => encode(
                $key,
                version,
                $header.correlation_id,
                &$handler($broker, $header, req).await,
            ),
            Err(outcome) => outcome,
        }
    }};
}

async fn route(
    broker: &Broker,
    peer: SocketAddr,
    key: ApiKey,
    header: &RequestHeader,
    mut body: Bytes,
) -> Outcome {
    match key {
        ApiKey::ApiVersions => serve!(
            broker,
            key,
            header,
            body,
            ApiVersionsRequest,
            super::api_versions::handle
        ),
        ApiKey::Metadata => serve!(
            broker,
            key,
            header,
            body,
            MetadataRequest,
            super::metadata::handle
        ),
        ApiKey::Produce => {
            let version = header.request_api_version;
            match decode::<ProduceRequest>(key, version, &mut body) {
                Ok(req) => match super::produce::handle(broker, header, req).await {
                    Some(resp) => encode(key, version, header.correlation_id, &resp),
                    None => Outcome::Silent,
                },
                Err(outcome) => outcome,
            }
        }
        ApiKey::Fetch => serve!(
            broker,
            key,
            header,
            body,
            FetchRequest,
            super::fetch::handle
        ),
        ApiKey::ListOffsets => serve!(
            broker,
            key,
            header,
            body,
            ListOffsetsRequest,
            super::list_offsets::handle
        ),
        ApiKey::CreateTopics => serve!(
            broker,
            key,
            header,
            body,
            CreateTopicsRequest,
            super::topics::create
        ),
        ApiKey::DeleteTopics => serve!(
            broker,
            key,
            header,
            body,
            DeleteTopicsRequest,
            super::topics::delete
        ),
        ApiKey::CreatePartitions => {
            serve!(
                broker,
                key,
                header,
                body,
                CreatePartitionsRequest,
                super::topics::create_partitions
            )
        }
        ApiKey::DescribeConfigs => serve!(
            broker,
            key,
            header,
            body,
            DescribeConfigsRequest,
            super::configs::describe
        ),
        ApiKey::IncrementalAlterConfigs => {
            serve!(
                broker,
                key,
                header,
                body,
                IncrementalAlterConfigsRequest,
                super::configs::alter
            )
        }
        ApiKey::DescribeCluster => serve!(
            broker,
            key,
            header,
            body,
            DescribeClusterRequest,
            super::cluster::describe
        ),
        ApiKey::InitProducerId => serve!(
            broker,
            key,
            header,
            body,
            InitProducerIdRequest,
            super::producer_id::init
        ),
        ApiKey::FindCoordinator => {
            serve!(
                broker,
                key,
                header,
                body,
                FindCoordinatorRequest,
                super::groups::find_coordinator
            )
        }
        ApiKey::JoinGroup => {
            let version = header.request_api_version;
            match decode::<JoinGroupRequest>(key, version, &mut body) {
                Ok(req) => {
                    let resp = super::groups::join(broker, header, peer, req).await;
                    encode(key, version, header.correlation_id, &resp)
                }
                Err(outcome) => outcome,
            }
        }
        ApiKey::SyncGroup => serve!(
            broker,
            key,
            header,
            body,
            SyncGroupRequest,
            super::groups::sync
        ),
        ApiKey::Heartbeat => serve!(
            broker,
            key,
            header,
            body,
            HeartbeatRequest,
            super::groups::heartbeat
        ),
        ApiKey::LeaveGroup => serve!(
            broker,
            key,
            header,
            body,
            LeaveGroupRequest,
            super::groups::leave
        ),
        ApiKey::ListGroups => serve!(
            broker,
            key,
            header,
            body,
            ListGroupsRequest,
            super::groups::list
        ),
        ApiKey::DescribeGroups => serve!(
            broker,
            key,
            header,
            body,
            DescribeGroupsRequest,
            super::groups::describe
        ),
        ApiKey::DeleteGroups => serve!(
            broker,
            key,
            header,
            body,
            DeleteGroupsRequest,
            super::groups::delete
        ),
        ApiKey::OffsetCommit => serve!(
            broker,
            key,
            header,
            body,
            OffsetCommitRequest,
            super::offsets::commit
        ),
        ApiKey::OffsetFetch => serve!(
            broker,
            key,
            header,
            body,
            OffsetFetchRequest,
            super::offsets::fetch
        ),
        ApiKey::OffsetDelete => serve!(
            broker,
            key,
            header,
            body,
            OffsetDeleteRequest,
            super::offsets::delete
        ),
        ApiKey::DeleteRecords => serve!(
            broker,
            key,
            header,
            body,
            DeleteRecordsRequest,
            super::delete_records::handle
        ),
        other => Outcome::Close(format!("{other:?} is not implemented")),
    }
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
