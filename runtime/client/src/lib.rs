//! A small async Kafka client (Producer, Consumer, Admin) over the Kafka wire protocol.
//!
//! Built on tokio and `kafka-protocol`; used by the `eddy` CLI, the examples and the tests,
//! and able to talk to any Kafka-compatible node. It speaks magic-2 record batches only, no
//! idempotence, no TLS or SASL. The consumer reads assigned partitions; group membership
//! (join, heartbeat, commit, leave) is a separate piece, `GroupMembership`, which leaves
//! the reading to the caller; groups can be listed, described and deleted through `Admin`.
//!
//! Code map: `connection` frames requests on one TCP connection and negotiates versions
//! (`versions`); `cluster` holds the connections to a cluster and fetches `metadata`;
//! `admin`, `producer` and `consumer` are the public clients; `accumulator`,
//! `produce_request`, `partitioner`, `records`, `list_offsets` and `groups` (the group
//! administration requests) are their parts; `group_offsets` commits and reads a group's
//! offsets without joining it (or on behalf of a member); `group_member` joins a group
//! and commits through `group_offsets`. `local` lets a node of the same process take a
//! connection's frames without a socket.
//!
//! ```no_run
//! # async fn demo() -> Result<(), eddy_client::ClientError> {
//! use eddy_client::{Consumer, Producer, ProducerConfig, ProducerRecord, StartOffset};
//!
//! let mut producer = Producer::connect("127.0.0.1:9092", ProducerConfig::default()).await?;
//! let receipt = producer.send(ProducerRecord::new("orders", "hello").with_key("k1")).await?;
//! producer.flush().await?;
//! let written = receipt.wait().await?;
//!
//! let mut consumer = Consumer::connect("127.0.0.1:9092").await?;
//! consumer.assign("orders", &[written.partition], StartOffset::Offset(written.offset)).await?;
//! let records = consumer.poll(std::time::Duration::from_secs(1)).await?;
//! # Ok(()) }
//! ```

mod accumulator;
mod admin;
mod cluster;
mod connection;
mod consumer;
mod delete_records;
mod error;
mod group_member;
mod group_offsets;
mod groups;
mod list_offsets;
pub mod local;
mod metadata;
mod partitioner;
mod produce_request;
mod producer;
mod records;
mod versions;

pub use admin::{Admin, ConfigEntry, ConfigSource, TopicDescription};
pub use connection::ConnectionConfig;
pub use consumer::{Consumer, ConsumerConfig, OffsetReset, StartOffset};
pub use error::ClientError;
pub use group_member::{
    Assignment, Generation, GroupMembership, HeartbeatOutcome, JoinedMember, MemberConfig,
    Subscription,
};
pub use group_offsets::GroupOffsets;
pub use groups::{
    decode_assignment, lag, GroupDescription, GroupListing, GroupMember, GroupPartitionOffset,
    TopicAssignment,
};
/// Kafka's error codes, as [`ClientError::kafka_error`] reports them.
pub use kafka_protocol::ResponseError;
pub use metadata::{BrokerInfo, ClusterInfo, PartitionInfo, TopicInfo};
pub use partitioner::{murmur2, partition_for_key};
pub use producer::{
    Acks, DeliveryReceipt, Producer, ProducerConfig, ProducerRecord, RecordMetadata,
};
pub use records::{Compression, ConsumedRecord, Header};
