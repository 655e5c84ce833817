//! The client's errors: what went wrong talking to a node, with the values involved.
//!
//! Every variant says whether it is worth retrying (`is_retriable`), so callers decide from
//! fields, never from message text. Kafka error codes travel as `kafka_protocol::ResponseError`
//! together with the request and the topic or partition they belong to.

use std::sync::Arc;

use kafka_protocol::ResponseError;

/// An error from the Kafka client.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The bootstrap string is not a list of `HOST:PORT`.
    #[error("invalid bootstrap servers `{bootstrap}`: expected HOST:PORT[,HOST:PORT...]")]
    InvalidBootstrap {
        /// The string as given.
        bootstrap: String,
    },

    /// A TCP connection to a node could not be opened.
    #[error("could not connect to {addr}: {source}")]
    Connect {
        /// The address tried.
        addr: String,
        /// Why the connection failed.
        #[source]
        source: std::io::Error,
    },

    /// None of the bootstrap servers answered.
    #[error("no bootstrap server of `{bootstrap}` could be reached: {last}")]
    NoBrokerReachable {
        /// The bootstrap list as given.
        bootstrap: String,
        /// The error from the last server tried.
        #[source]
        last: Box<ClientError>,
    },

    /// Reading or writing on an open connection failed.
    #[error("i/o error with {addr} during {api} request: {source}")]
    Io {
        /// The node's address.
        addr: String,
        /// The request in flight.
        api: &'static str,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// A request got no answer within the request timeout.
    #[error("{api} request to {addr} got no answer within {timeout_ms} ms")]
    Timeout {
        /// The node's address.
        addr: String,
        /// The request in flight.
        api: &'static str,
        /// The request timeout.
        timeout_ms: u64,
    },

    /// A response frame announced a size outside the allowed range.
    #[error("{api} response from {addr} announces {size} bytes, outside 0..={response_bytes_max}")]
    ResponseSize {
        /// The node's address.
        addr: String,
        /// The request answered.
        api: &'static str,
        /// The announced size.
        size: i64,
        /// The configured bound.
        response_bytes_max: usize,
    },

    /// The node answered in HTTP, not Kafka: the address is most likely a node's admin HTTP
    /// port. Detected from a frame size whose four bytes read "HTTP".
    #[error("{addr} answered HTTP to a Kafka {api} request: that is probably the admin port, not the Kafka port")]
    AnsweredHttp {
        /// The address tried.
        addr: String,
        /// The request in flight.
        api: &'static str,
    },

    /// A response answered another request than the one in flight.
    #[error("{api} response from {addr} has correlation id {actual}, expected {expected}")]
    CorrelationMismatch {
        /// The node's address.
        addr: String,
        /// The request in flight.
        api: &'static str,
        /// The id sent.
        expected: i32,
        /// The id received.
        actual: i32,
    },

    /// A request could not be encoded (a bug or a field set that the version lacks).
    #[error("could not encode {api} v{version} request: {reason}")]
    Encode {
        /// The request.
        api: &'static str,
        /// The version used.
        version: i16,
        /// The encoder's message.
        reason: String,
    },

    /// A response could not be decoded.
    #[error("could not decode {api} v{version} response from {addr}: {reason}")]
    Decode {
        /// The node's address.
        addr: String,
        /// The request answered.
        api: &'static str,
        /// The version used.
        version: i16,
        /// The decoder's message.
        reason: String,
    },

    /// The node and this client share no version of an API.
    #[error("{addr} does not support {api} in a version this client speaks (client {client_min}..={client_max}, node {node})")]
    UnsupportedApi {
        /// The node's address.
        addr: String,
        /// The API.
        api: &'static str,
        /// Lowest version this client speaks.
        client_min: i16,
        /// Highest version this client speaks.
        client_max: i16,
        /// What the node advertised, e.g. `0..=7` or `nothing`.
        node: String,
    },

    /// The node answered with a Kafka error code.
    #[error("{context}: {error} (Kafka error {code}){}", message.as_deref().map(|m| format!(": {m}")).unwrap_or_default())]
    Kafka {
        /// What was being done, e.g. `create topic orders`.
        context: String,
        /// The error.
        error: ResponseError,
        /// The numeric error code.
        code: i16,
        /// The node's error message, if it sent one.
        message: Option<String>,
    },

    /// A partition has no leader in the cluster metadata.
    #[error("partition {partition} of topic {topic} has no leader")]
    NoLeader {
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
    },

    /// A partition number outside the topic's partitions.
    #[error("topic {topic} has {partitions} partition(s); partition {partition} does not exist")]
    UnknownPartition {
        /// The topic.
        topic: String,
        /// The partition asked for.
        partition: i32,
        /// The topic's partition count.
        partitions: i32,
    },

    /// The metadata names a leader that is not among its brokers.
    #[error("node {node_id} is not among the brokers in the cluster metadata")]
    UnknownNode {
        /// The node id.
        node_id: i32,
    },

    /// A record is bigger than the producer allows.
    #[error("record of {size} bytes exceeds record_bytes_max ({record_bytes_max})")]
    RecordTooLarge {
        /// The record's estimated encoded size.
        size: usize,
        /// The configured bound.
        record_bytes_max: usize,
    },

    /// Record batches could not be encoded or decoded.
    #[error("record batch for {topic}/{partition}: {reason}")]
    RecordBatch {
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
        /// What was wrong.
        reason: String,
    },

    /// A batch failed after all retries; every record of the batch gets this error.
    #[error("sending to {topic}/{partition} failed: {source}")]
    Delivery {
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
        /// The cause, shared by every record of the batch.
        #[source]
        source: Arc<ClientError>,
    },

    /// The producer was dropped before the record was sent.
    #[error("the producer was dropped before the record was sent")]
    ProducerClosed,
}

impl ClientError {
    /// Whether the same operation may succeed if tried again (after refreshing metadata).
    pub fn is_retriable(&self) -> bool {
        match self {
            Self::Connect { .. } | Self::Io { .. } | Self::Timeout { .. } => true,
            Self::NoBrokerReachable { last, .. } => last.is_retriable(),
            Self::Kafka { error, .. } => error.is_retriable(),
            Self::NoLeader { .. } => true,
            Self::Delivery { source, .. } => source.is_retriable(),
            Self::InvalidBootstrap { .. }
            | Self::ResponseSize { .. }
            | Self::AnsweredHttp { .. }
            | Self::CorrelationMismatch { .. }
            | Self::Encode { .. }
            | Self::Decode { .. }
            | Self::UnsupportedApi { .. }
            | Self::UnknownPartition { .. }
            | Self::UnknownNode { .. }
            | Self::RecordTooLarge { .. }
            | Self::RecordBatch { .. }
            | Self::ProducerClosed => false,
        }
    }

    /// The Kafka error code carried, if the node answered with one.
    pub fn kafka_error(&self) -> Option<ResponseError> {
        match self {
            Self::Kafka { error, .. } => Some(*error),
            Self::NoBrokerReachable { last, .. } => last.kafka_error(),
            Self::Delivery { source, .. } => source.kafka_error(),
            _ => None,
        }
    }

    /// Whether no node could be reached at all (nothing listening, refused, unreachable).
    pub fn is_unreachable(&self) -> bool {
        match self {
            Self::Connect { .. } => true,
            Self::NoBrokerReachable { last, .. } => last.is_unreachable(),
            Self::Delivery { source, .. } => source.is_unreachable(),
            _ => false,
        }
    }

    /// Builds a [`ClientError::Kafka`] from a non-zero error code.
    pub(crate) fn kafka(context: impl Into<String>, code: i16, message: Option<String>) -> Self {
        let error = ResponseError::try_from_code(code).unwrap_or(ResponseError::Unknown(code));
        Self::Kafka {
            context: context.into(),
            error,
            code,
            message,
        }
    }
}

/// Turns a response's error code into a result: `Ok` for 0, a [`ClientError::Kafka`] otherwise.
pub(crate) fn check_code(
    code: i16,
    context: impl FnOnce() -> String,
    message: Option<&str>,
) -> Result<(), ClientError> {
    if code == 0 {
        Ok(())
    } else {
        Err(ClientError::kafka(
            context(),
            code,
            message.map(str::to_owned),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafka_errors_are_retriable_as_kafka_says() {
        let not_leader = ClientError::kafka("produce", 6, None);
        assert!(not_leader.is_retriable());
        let exists = ClientError::kafka("create topic t", 36, Some("already".into()));
        assert!(!exists.is_retriable());
        assert_eq!(
            exists.kafka_error(),
            Some(ResponseError::TopicAlreadyExists)
        );
        assert_eq!(
            exists.to_string(),
            "create topic t: TopicAlreadyExists (Kafka error 36): already"
        );
    }

    #[test]
    fn check_code_passes_zero() {
        assert!(check_code(0, || unreachable!(), None).is_ok());
        let err = check_code(3, || "fetch t/0".into(), None).unwrap_err();
        assert_eq!(
            err.kafka_error(),
            Some(ResponseError::UnknownTopicOrPartition)
        );
    }
}
