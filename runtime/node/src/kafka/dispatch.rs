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

/// Declares every served API once: its request type, the versions served, and its handler.
/// From this one list come [`SUPPORTED_APIS`] (what ApiVersions advertises), [`RequestBody`],
/// the body decoder and the router, so an API cannot be advertised without a handler or
/// routed without being advertised.
macro_rules! served_apis {
    ($(
        $variant:ident($request:ident, $min:literal ..= $max:literal)
            => $reply:ident(|$broker:ident, $header:ident, $peer:ident, $req:ident| $handle:expr);
    )*) => {
        /// The APIs this node implements. Produce v0–2 (magic 0/1 message sets) are served
        /// by converting them (`legacy_records`), as Kafka 3.x does; advertising min 0 also
        /// keeps librdkafka before 2.11.1 compressing (it stops if Produce min is 3 or
        /// more). Fetch stops at 12 (v13+ addresses topics by id).
        pub const SUPPORTED_APIS: &[ApiRange] = &[$(api(ApiKey::$variant, $min, $max)),*];

        /// The decoded body of a request, one variant per served API.
        #[derive(Debug)]
        pub enum RequestBody {
            $(
                #[doc = concat!("A ", stringify!($variant), " request.")]
                $variant($request),
            )*
        }

        /// Decodes the body of a served API.
        fn decode_body(key: ApiKey, version: i16, body: &mut Bytes) -> Result<RequestBody, Refusal> {
            Ok(match key {
                $(ApiKey::$variant => RequestBody::$variant(decode(key, version, body)?),)*
                other => return Err(Refusal::Close(format!("{other:?} is not implemented"))),
            })
        }

        /// Runs a decoded request's handler and encodes its response.
        async fn route(broker: &Broker, peer: SocketAddr, request: Request) -> Outcome {
            let Request { key, header, body } = request;
            match body {
                $(RequestBody::$variant($req) => {
                    #[allow(unused_variables)]
                    let ($broker, $header, $peer) = (broker, &header, peer);
                    $reply(key, &header, $handle)
                })*
            }
        }
    };
}

served_apis! {
    Produce(ProduceRequest, 0..=9) => reply_produce(|b, h, p, r| super::produce::handle(b, h, r).await);
    Fetch(FetchRequest, 4..=12) => reply(|b, h, p, r| super::fetch::handle(b, h, r).await);
    ListOffsets(ListOffsetsRequest, 1..=6) => reply(|b, h, p, r| super::list_offsets::handle(b, h, r).await);
    Metadata(MetadataRequest, 0..=12) => reply(|b, h, p, r| super::metadata::handle(b, h, r).await);
    ApiVersions(ApiVersionsRequest, 0..=4) => reply(|b, h, p, r| super::api_versions::handle(b, h, r).await);
    CreateTopics(CreateTopicsRequest, 2..=7) => reply(|b, h, p, r| super::topics::create(b, h, r).await);
    DeleteTopics(DeleteTopicsRequest, 1..=6) => reply(|b, h, p, r| super::topics::delete(b, h, r).await);
    InitProducerId(InitProducerIdRequest, 0..=4) => reply(|b, h, p, r| super::producer_id::init(b, h, r).await);
    DescribeConfigs(DescribeConfigsRequest, 1..=4) => reply(|b, h, p, r| super::configs::describe(b, h, r).await);
    CreatePartitions(CreatePartitionsRequest, 0..=3) => reply(|b, h, p, r| super::topics::create_partitions(b, h, r).await);
    IncrementalAlterConfigs(IncrementalAlterConfigsRequest, 0..=1) => reply(|b, h, p, r| super::configs::alter(b, h, r).await);
    AlterConfigs(AlterConfigsRequest, 0..=2) => reply(|b, h, p, r| super::configs::alter_legacy(b, h, r).await);
    DescribeCluster(DescribeClusterRequest, 0..=1) => reply(|b, h, p, r| super::cluster::describe(b, h, r).await);
    OffsetCommit(OffsetCommitRequest, 2..=8) => reply(|b, h, p, r| super::offsets::commit(b, h, r).await);
    OffsetFetch(OffsetFetchRequest, 1..=8) => reply(|b, h, p, r| super::offsets::fetch(b, h, r).await);
    FindCoordinator(FindCoordinatorRequest, 0..=4) => reply(|b, h, p, r| super::groups::find_coordinator(b, h, r).await);
    JoinGroup(JoinGroupRequest, 0..=7) => reply(|b, h, p, r| super::groups::join(b, h, p, r).await);
    Heartbeat(HeartbeatRequest, 0..=4) => reply(|b, h, p, r| super::groups::heartbeat(b, h, r).await);
    LeaveGroup(LeaveGroupRequest, 0..=4) => reply(|b, h, p, r| super::groups::leave(b, h, r).await);
    SyncGroup(SyncGroupRequest, 0..=5) => reply(|b, h, p, r| super::groups::sync(b, h, r).await);
    DescribeGroups(DescribeGroupsRequest, 0..=5) => reply(|b, h, p, r| super::groups::describe(b, h, r).await);
    ListGroups(ListGroupsRequest, 0..=4) => reply(|b, h, p, r| super::groups::list(b, h, r).await);
    DeleteGroups(DeleteGroupsRequest, 0..=2) => reply(|b, h, p, r| super::groups::delete(b, h, r).await);
    OffsetDelete(OffsetDeleteRequest, 0..=0) => reply(|b, h, p, r| super::offsets::delete(b, h, r).await);
    DeleteRecords(DeleteRecordsRequest, 0..=2) => reply(|b, h, p, r| super::delete_records::handle(b, h, r).await);
    OffsetForLeaderEpoch(OffsetForLeaderEpochRequest, 2..=4) => reply(|b, h, p, r| super::leader_epochs::handle(b, h, r).await);
    AlterPartitionReassignments(AlterPartitionReassignmentsRequest, 0..=1) => reply(|b, h, p, r| super::reassignments::alter(b, h, r).await);
    ListPartitionReassignments(ListPartitionReassignmentsRequest, 0..=0) => reply(|b, h, p, r| super::reassignments::list(b, h, r).await);
    DescribeLogDirs(DescribeLogDirsRequest, 1..=4) => reply(|b, h, p, r| super::log_dirs::describe(b, h, r).await);
}

/// The lowest Produce version the crate decodes; older ones are read as this one's body
/// without its `transactional_id` (`legacy_records`).
const PRODUCE_VERSION_MIN_DECODED: i16 = 3;

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
    let in_range = range.is_some_and(|r| version >= r.min && version <= r.max);
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
    let body = if key == ApiKey::Produce && version < PRODUCE_VERSION_MIN_DECODED {
        let mut v3 = super::legacy_records::as_v3_body(&frame);
        RequestBody::Produce(decode(key, PRODUCE_VERSION_MIN_DECODED, &mut v3)?)
    } else {
        decode_body(key, version, &mut frame)?
    };
    Ok(Request { key, header, body })
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

/// Encodes a handler's response for this request.
fn reply<R: Encodable>(key: ApiKey, header: &RequestHeader, body: R) -> Outcome {
    encode(
        key,
        header.request_api_version,
        header.correlation_id,
        &body,
    )
}

/// Encodes a handler's response, or sends nothing when there is none (Produce with acks=0).
fn reply_unless_acks_0<R: Encodable>(
    key: ApiKey,
    header: &RequestHeader,
    body: Option<R>,
) -> Outcome {
    match body {
        Some(body) => reply(key, header, body),
        None => Outcome::Silent,
    }
}

/// Encodes a Produce response (none for acks=0); v0–2 by `legacy_records`, which the
/// crate does not encode.
fn reply_produce(key: ApiKey, header: &RequestHeader, body: Option<ProduceResponse>) -> Outcome {
    let version = header.request_api_version;
    match body {
        Some(body) if version < PRODUCE_VERSION_MIN_DECODED => {
            let mut buf = BytesMut::with_capacity(64);
            buf.put_i32(0);
            let response_header =
                ResponseHeader::default().with_correlation_id(header.correlation_id);
            if let Err(err) = response_header.encode(&mut buf, key.response_header_version(version))
            {
                return Outcome::Close(format!("cannot encode a Produce v{version} header: {err}"));
            }
            super::legacy_records::encode_response(&body, version, &mut buf);
            let size = (buf.len() - 4) as i32;
            buf[..4].copy_from_slice(&size.to_be_bytes());
            Outcome::Respond(buf.freeze())
        }
        body => reply_unless_acks_0(key, header, body),
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
