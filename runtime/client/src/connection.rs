//! One TCP connection to one node: framing, headers, correlation ids, version negotiation.
//!
//! A connection carries one request at a time: `send` writes a size-prefixed frame and
//! waits for its answer, so responses can never arrive out of order and the correlation id
//! check is a plain equality. Throughput comes from batching, not from pipelining. Every
//! frame read is bounded by `response_bytes_max` before anything is allocated, and every
//! round trip by `request_timeout_ms`. After an i/o error or a timeout the stream may hold
//! half a frame, so the connection marks itself broken and refuses further requests; the
//! owner opens a new one. A node running in this process (`local`) is reached without a
//! socket: the same frames go to its request handler directly.

use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, RequestHeader, ResponseHeader,
};
use kafka_protocol::protocol::{Decodable, Encodable, Request, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use std::sync::Arc;

use super::error::ClientError;
use super::local::{self, LocalNode};
use super::versions::{NodeVersions, API_VERSIONS_FIRST};

/// Kafka's error code for a request version the node does not speak.
const UNSUPPORTED_VERSION: i16 = 35;

/// Settings shared by every connection a client opens.
#[derive(Debug, Clone)]
pub struct ConnectionConfig {
    /// The `client_id` sent in every request header.
    pub client_id: String,
    /// How long opening a TCP connection and the ApiVersions handshake may take.
    pub connect_timeout_ms: u64,
    /// How long one request may wait for its response (Fetch adds its own `max_wait`).
    pub request_timeout_ms: u64,
    /// The largest response frame accepted; a bigger announced size fails the request.
    pub response_bytes_max: usize,
}

impl Default for ConnectionConfig {
    fn default() -> Self {
        Self {
            client_id: "eddy-client".to_owned(),
            connect_timeout_ms: 10_000,
            request_timeout_ms: 30_000,
            response_bytes_max: 100 * 1024 * 1024,
        }
    }
}

/// How a connection reaches its node.
enum Link {
    /// A TCP stream.
    Tcp(TcpStream),
    /// The node runs in this process: frames go to its handler directly (`local`).
    Local(Arc<dyn LocalNode>),
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Link::Tcp(stream) => f.debug_tuple("Tcp").field(stream).finish(),
            Link::Local(_) => f.write_str("Local"),
        }
    }
}

/// An open connection to one node, with the API versions negotiated at connect.
#[derive(Debug)]
pub(crate) struct Connection {
    addr: String,
    link: Link,
    config: ConnectionConfig,
    correlation_id: i32,
    versions: NodeVersions,
    broken: bool,
}

impl Connection {
    /// Opens a connection to `addr` (`HOST:PORT`) and negotiates API versions.
    pub(crate) async fn connect(
        addr: &str,
        config: &ConnectionConfig,
    ) -> Result<Self, ClientError> {
        let link = match local::lookup(addr) {
            Some(node) => Link::Local(node),
            None => Link::Tcp(Self::open_tcp(addr, config).await?),
        };
        let mut connection = Self {
            addr: addr.to_owned(),
            link,
            config: config.clone(),
            correlation_id: 0,
            versions: NodeVersions::default(),
            broken: false,
        };
        connection.versions = connection.handshake().await?;
        Ok(connection)
    }

    async fn open_tcp(addr: &str, config: &ConnectionConfig) -> Result<TcpStream, ClientError> {
        let timeout = Duration::from_millis(config.connect_timeout_ms);
        let connecting = tokio::time::timeout(timeout, TcpStream::connect(addr));
        let stream = match connecting.await {
            Ok(Ok(stream)) => stream,
            Ok(Err(source)) => {
                return Err(ClientError::Connect {
                    addr: addr.to_owned(),
                    source,
                })
            }
            Err(_) => {
                return Err(ClientError::Connect {
                    addr: addr.to_owned(),
                    source: std::io::ErrorKind::TimedOut.into(),
                })
            }
        };
        // Requests are small and answered one at a time: Nagle would only add latency.
        // Failing to disable it costs latency, not correctness, so the error is ignored.
        let _ = stream.set_nodelay(true);
        Ok(stream)
    }

    /// The address this connection was opened to.
    pub(crate) fn addr(&self) -> &str {
        &self.addr
    }

    /// Whether the connection must be replaced (after an i/o error or a timeout).
    pub(crate) fn is_broken(&self) -> bool {
        self.broken
    }

    /// The highest version of `api` both sides speak.
    pub(crate) fn version(&self, api: ApiKey) -> Result<i16, ClientError> {
        self.versions.negotiate(api).map_err(|unsupported| {
            let (client_min, client_max) = unsupported
                .client
                .map_or((0, -1), |range| (range.min, range.max));
            ClientError::UnsupportedApi {
                addr: self.addr.clone(),
                api: api_name(api),
                client_min,
                client_max,
                node: unsupported.node.map_or_else(
                    || "nothing".to_owned(),
                    |r| format!("{}..={}", r.min, r.max),
                ),
            }
        })
    }

    /// Sends `request` at the negotiated version and waits for its response.
    pub(crate) async fn send<R: Request>(
        &mut self,
        request: &R,
    ) -> Result<(R::Response, i16), ClientError> {
        self.send_with_timeout(request, Duration::ZERO).await
    }

    /// Like [`Connection::send`], allowing `extra` time on top of the request timeout
    /// (for requests the node may hold, such as Fetch with `max_wait_ms`).
    pub(crate) async fn send_with_timeout<R: Request>(
        &mut self,
        request: &R,
        extra: Duration,
    ) -> Result<(R::Response, i16), ClientError> {
        let api = api_key::<R>()?;
        let version = self.version(api)?;
        let frame = self.round_trip(request, api, version, true, extra).await?;
        let response = self.decode_response::<R::Response>(api, version, frame)?;
        Ok((response, version))
    }

    /// Sends `request` at the negotiated version without waiting for an answer (Produce
    /// with acks = 0 is the one request a node never answers).
    pub(crate) async fn send_oneway<R: Request>(
        &mut self,
        request: &R,
    ) -> Result<i16, ClientError> {
        let api = api_key::<R>()?;
        let version = self.version(api)?;
        self.round_trip(request, api, version, false, Duration::ZERO)
            .await?;
        Ok(version)
    }

    /// Opens the conversation with ApiVersions, falling back to the version the node names
    /// when it does not speak ours (it then answers with a v0 body listing its ranges).
    async fn handshake(&mut self) -> Result<NodeVersions, ClientError> {
        let mut request = ApiVersionsRequest::default();
        request.client_software_name = StrBytes::from_static_str("eddy");
        request.client_software_version = StrBytes::from_static_str(env!("CARGO_PKG_VERSION"));
        let api = ApiKey::ApiVersions;
        let first = self
            .round_trip(&request, api, API_VERSIONS_FIRST, true, Duration::ZERO)
            .await?;
        let first_code = match first.get(..2) {
            Some(&[high, low]) => i16::from_be_bytes([high, low]),
            _ => 0,
        };
        if first_code != UNSUPPORTED_VERSION {
            let response: ApiVersionsResponse =
                self.decode_response(api, API_VERSIONS_FIRST, first)?;
            return self.check_versions(response);
        }
        let fallback: ApiVersionsResponse = self.decode_response(api, 0, first)?;
        let version = NodeVersions::from_response(&fallback)
            .negotiate(api)
            .unwrap_or(0);
        let frame = self
            .round_trip(&request, api, version, true, Duration::ZERO)
            .await?;
        let response: ApiVersionsResponse = self.decode_response(api, version, frame)?;
        self.check_versions(response)
    }

    fn check_versions(&self, response: ApiVersionsResponse) -> Result<NodeVersions, ClientError> {
        if response.error_code != 0 {
            return Err(ClientError::kafka(
                format!("ApiVersions handshake with {}", self.addr),
                response.error_code,
                None,
            ));
        }
        Ok(NodeVersions::from_response(&response))
    }

    /// Writes one request and, if `expect_response`, reads the matching response frame
    /// (header already checked and consumed).
    async fn round_trip<M: Encodable>(
        &mut self,
        request: &M,
        api: ApiKey,
        version: i16,
        expect_response: bool,
        extra: Duration,
    ) -> Result<Bytes, ClientError> {
        if self.broken {
            return Err(self.io_error(api, std::io::ErrorKind::NotConnected.into()));
        }
        let correlation_id = self.next_correlation_id();
        let frame = self.encode_request(request, api, version, correlation_id)?;
        let timeout_ms = self.config.request_timeout_ms;
        let limit = Duration::from_millis(timeout_ms) + extra;
        let exchange = self.exchange(frame, api, expect_response);
        let result = match tokio::time::timeout(limit, exchange).await {
            Ok(result) => result,
            Err(_) => Err(ClientError::Timeout {
                addr: self.addr.clone(),
                api: api_name(api),
                timeout_ms: u64::try_from(limit.as_millis()).unwrap_or(u64::MAX),
            }),
        };
        let body = match result {
            Ok(body) => body,
            Err(err) => {
                self.broken = true;
                return Err(err);
            }
        };
        if !expect_response {
            return Ok(Bytes::new());
        }
        self.strip_response_header(body, api, version, correlation_id)
    }

    async fn exchange(
        &mut self,
        frame: BytesMut,
        api: ApiKey,
        expect_response: bool,
    ) -> Result<Bytes, ClientError> {
        let stream = match &mut self.link {
            Link::Tcp(stream) => stream,
            Link::Local(node) => {
                let call = node.call(frame.freeze().slice(4..));
                return match call.await {
                    Ok(Some(body)) if expect_response => {
                        self.check_size(api, body.len()).map(|()| body)
                    }
                    Ok(_) if !expect_response => Ok(Bytes::new()),
                    Ok(_) => Err(self.io_error(api, std::io::ErrorKind::UnexpectedEof.into())),
                    Err(reason) => Err(self.io_error(
                        api,
                        std::io::Error::new(std::io::ErrorKind::ConnectionAborted, reason),
                    )),
                };
            }
        };
        if let Err(source) = stream.write_all(&frame).await {
            return Err(self.io_error(api, source));
        }
        if !expect_response {
            return Ok(Bytes::new());
        }
        let size = match stream.read_i32().await {
            Ok(size) => size,
            Err(source) => return Err(self.io_error(api, source)),
        };
        let len = match usize::try_from(size) {
            Ok(len) if len <= self.config.response_bytes_max => len,
            // "HTTP/1.1 400 …" read as a size: the usual mistake of `-b` at an admin port.
            _ if size.to_be_bytes() == *b"HTTP" => {
                return Err(ClientError::AnsweredHttp {
                    addr: self.addr.clone(),
                    api: api_name(api),
                })
            }
            _ => {
                return Err(ClientError::ResponseSize {
                    addr: self.addr.clone(),
                    api: api_name(api),
                    size: i64::from(size),
                    response_bytes_max: self.config.response_bytes_max,
                })
            }
        };
        let mut body = vec![0u8; len];
        let Link::Tcp(stream) = &mut self.link else {
            unreachable!("a local link returned above");
        };
        if let Err(source) = stream.read_exact(&mut body).await {
            return Err(self.io_error(api, source));
        }
        Ok(Bytes::from(body))
    }

    /// Fails a response of `len` bytes beyond `response_bytes_max`, as for a socket.
    fn check_size(&self, api: ApiKey, len: usize) -> Result<(), ClientError> {
        if len <= self.config.response_bytes_max {
            return Ok(());
        }
        Err(ClientError::ResponseSize {
            addr: self.addr.clone(),
            api: api_name(api),
            size: i64::try_from(len).unwrap_or(i64::MAX),
            response_bytes_max: self.config.response_bytes_max,
        })
    }

    fn encode_request<M: Encodable>(
        &self,
        request: &M,
        api: ApiKey,
        version: i16,
        correlation_id: i32,
    ) -> Result<BytesMut, ClientError> {
        let mut header = RequestHeader::default();
        header.request_api_key = api as i16;
        header.request_api_version = version;
        header.correlation_id = correlation_id;
        header.client_id = Some(StrBytes::from_string(self.config.client_id.clone()));
        let encode_error = |reason: anyhow::Error| ClientError::Encode {
            api: api_name(api),
            version,
            reason: format!("{reason:#}"),
        };
        let mut frame = BytesMut::new();
        frame.put_i32(0);
        header
            .encode(&mut frame, api.request_header_version(version))
            .map_err(encode_error)?;
        request.encode(&mut frame, version).map_err(encode_error)?;
        let size = i32::try_from(frame.len() - 4).map_err(|_| ClientError::Encode {
            api: api_name(api),
            version,
            reason: format!("request of {} bytes is too large for a frame", frame.len()),
        })?;
        frame[..4].copy_from_slice(&size.to_be_bytes());
        Ok(frame)
    }

    fn strip_response_header(
        &self,
        mut body: Bytes,
        api: ApiKey,
        version: i16,
        expected: i32,
    ) -> Result<Bytes, ClientError> {
        let header_version = api.response_header_version(version);
        let header = ResponseHeader::decode(&mut body, header_version)
            .map_err(|err| self.decode_error(api, version, err))?;
        if header.correlation_id != expected {
            return Err(ClientError::CorrelationMismatch {
                addr: self.addr.clone(),
                api: api_name(api),
                expected,
                actual: header.correlation_id,
            });
        }
        Ok(body)
    }

    fn decode_response<D: Decodable>(
        &self,
        api: ApiKey,
        version: i16,
        mut body: Bytes,
    ) -> Result<D, ClientError> {
        D::decode(&mut body, version).map_err(|err| self.decode_error(api, version, err))
    }

    fn next_correlation_id(&mut self) -> i32 {
        self.correlation_id = self.correlation_id.wrapping_add(1);
        self.correlation_id
    }

    fn io_error(&self, api: ApiKey, source: std::io::Error) -> ClientError {
        ClientError::Io {
            addr: self.addr.clone(),
            api: api_name(api),
            source,
        }
    }

    fn decode_error(&self, api: ApiKey, version: i16, err: anyhow::Error) -> ClientError {
        ClientError::Decode {
            addr: self.addr.clone(),
            api: api_name(api),
            version,
            reason: format!("{err:#}"),
        }
    }
}

/// The [`ApiKey`] of a request type.
fn api_key<R: Request>() -> Result<ApiKey, ClientError> {
    ApiKey::try_from(R::KEY).map_err(|()| ClientError::Encode {
        api: "unknown",
        version: -1,
        reason: format!("API key {} is unknown to kafka-protocol", R::KEY),
    })
}

/// A short, stable name for an API, used in error messages.
pub(crate) fn api_name(api: ApiKey) -> &'static str {
    match api {
        ApiKey::Produce => "Produce",
        ApiKey::Fetch => "Fetch",
        ApiKey::ListOffsets => "ListOffsets",
        ApiKey::Metadata => "Metadata",
        ApiKey::ApiVersions => "ApiVersions",
        ApiKey::CreateTopics => "CreateTopics",
        ApiKey::DeleteTopics => "DeleteTopics",
        ApiKey::DescribeConfigs => "DescribeConfigs",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::api_versions_response::ApiVersion;
    use kafka_protocol::messages::{MetadataRequest, MetadataResponse};
    use kafka_protocol::protocol::decode_request_header_from_buffer;
    use tokio::net::TcpListener;

    use super::*;

    /// Reads one request frame and returns its header and body.
    async fn read_request(stream: &mut TcpStream) -> (RequestHeader, Bytes) {
        let size = stream.read_i32().await.unwrap();
        let mut body = vec![0u8; usize::try_from(size).unwrap()];
        stream.read_exact(&mut body).await.unwrap();
        let mut body = Bytes::from(body);
        let header = decode_request_header_from_buffer(&mut body).unwrap();
        (header, body)
    }

    async fn write_response<M: Encodable>(
        stream: &mut TcpStream,
        correlation_id: i32,
        header_version: i16,
        message: &M,
        version: i16,
    ) {
        let mut frame = BytesMut::new();
        frame.put_i32(0);
        let header = ResponseHeader::default().with_correlation_id(correlation_id);
        header.encode(&mut frame, header_version).unwrap();
        message.encode(&mut frame, version).unwrap();
        let size = i32::try_from(frame.len() - 4).unwrap();
        frame[..4].copy_from_slice(&size.to_be_bytes());
        stream.write_all(&frame).await.unwrap();
    }

    /// A fake node that rejects ApiVersions v3, accepts v2, then answers one Metadata v9.
    async fn fake_node(listener: TcpListener) {
        let (mut stream, _) = listener.accept().await.unwrap();
        let (header, _) = read_request(&mut stream).await;
        assert_eq!(header.request_api_version, 3);
        let mut table = ApiVersionsResponse::default().with_error_code(UNSUPPORTED_VERSION);
        table.api_keys = vec![
            ApiVersion::default().with_api_key(18).with_max_version(2),
            ApiVersion::default().with_api_key(3).with_max_version(9),
        ];
        write_response(&mut stream, header.correlation_id, 0, &table, 0).await;
        let (header, _) = read_request(&mut stream).await;
        assert_eq!(header.request_api_version, 2);
        let table = table.with_error_code(0);
        write_response(&mut stream, header.correlation_id, 0, &table, 2).await;
        let (header, _) = read_request(&mut stream).await;
        assert_eq!(header.request_api_version, 9);
        let metadata = MetadataResponse::default().with_controller_id(7.into());
        write_response(&mut stream, header.correlation_id, 1, &metadata, 9).await;
    }

    #[tokio::test]
    async fn negotiates_down_and_round_trips() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let node = tokio::spawn(fake_node(listener));
        let config = ConnectionConfig::default();
        let mut connection = Connection::connect(&addr, &config).await.unwrap();
        assert_eq!(connection.version(ApiKey::Metadata).unwrap(), 9);
        assert!(connection.version(ApiKey::Fetch).is_err());
        let (response, version) = connection.send(&MetadataRequest::default()).await.unwrap();
        assert_eq!(version, 9);
        assert_eq!(response.controller_id, 7);
        node.await.unwrap();
    }

    #[tokio::test]
    async fn refuses_oversized_frames() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let node = tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let _ = read_request(&mut stream).await;
            stream.write_i32(i32::MAX).await.unwrap();
        });
        let config = ConnectionConfig {
            response_bytes_max: 1024,
            ..ConnectionConfig::default()
        };
        let err = Connection::connect(&addr, &config).await.unwrap_err();
        assert!(matches!(err, ClientError::ResponseSize { .. }), "{err}");
        node.await.unwrap();
    }
}
