//! Errors of the actor layer. Each says what happened with the values involved and whether
//! retrying can help, so the Kafka error mapping in the runtime decides from fields, not text.

use thiserror::Error;

/// What can go wrong inside a partition, the metadata actor or the stores.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum ActorError {
    /// The record batch failed validation (magic, CRC, sizes); nothing was stored.
    #[error("corrupt record batch: {0}")]
    CorruptBatch(String),
    /// A record inside an intact batch breaks the format or the topic's rules (Kafka's
    /// `InvalidRecordException`): a count that disagrees with the offsets, a length that lies,
    /// a keyless record on a compacted topic. Nothing of the batch was stored.
    #[error("invalid record batch: {reason}")]
    InvalidRecord {
        /// The index of the offending record in its batch, when one record is to blame.
        record: Option<i32>,
        /// What is wrong, with the values involved.
        reason: String,
    },
    /// The batch is larger than the topic's `max.message.bytes`.
    #[error("record batch of {size} bytes exceeds max.message.bytes={max}")]
    BatchTooLarge {
        /// Size of the offending batch in bytes.
        size: usize,
        /// The topic's limit.
        max: usize,
    },
    /// A read asked for an offset outside `[log start offset, log end offset]`.
    #[error("offset {offset} is out of range [{log_start_offset}, {log_end_offset}]")]
    OffsetOutOfRange {
        /// The offset asked for.
        offset: i64,
        /// The first offset still stored.
        log_start_offset: i64,
        /// The next offset to be written.
        log_end_offset: i64,
    },
    /// An idempotent producer's batch does not follow its previous one.
    #[error("producer {producer_id}: expected sequence {expected}, got {got}")]
    OutOfOrderSequence {
        /// Producer id.
        producer_id: i64,
        /// The next sequence the partition expected.
        expected: i32,
        /// What the batch carried.
        got: i32,
    },
    /// An idempotent producer with an older epoch than the partition has seen.
    #[error("producer {producer_id} epoch {epoch} is fenced by epoch {current}")]
    ProducerFenced {
        /// Producer id.
        producer_id: i64,
        /// The batch's epoch.
        epoch: i16,
        /// The partition's current epoch for it.
        current: i16,
    },
    /// The topic does not exist.
    #[error("topic '{0}' does not exist")]
    UnknownTopic(String),
    /// The topic or partition does not exist.
    #[error("partition {partition} of topic '{topic}' does not exist")]
    UnknownPartition {
        /// Topic name.
        topic: String,
        /// Partition index.
        partition: i32,
    },
    /// A topic with this name already exists.
    #[error("topic '{0}' already exists")]
    TopicExists(String),
    /// The topic name breaks Kafka's naming rules.
    #[error("invalid topic name '{name}': {reason}")]
    InvalidTopic {
        /// The name given.
        name: String,
        /// Which rule it breaks.
        reason: String,
    },
    /// A partition count that cannot be used.
    #[error("invalid partition count: {0}")]
    InvalidPartitions(String),
    /// A replication factor larger than the cluster or not positive.
    #[error("invalid replication factor {factor}: the cluster has {nodes} node(s)")]
    InvalidReplicationFactor {
        /// The factor asked for.
        factor: i32,
        /// Registered nodes.
        nodes: usize,
    },
    /// A deployment some nodes' binaries cannot run (the message names them).
    #[error("{0}")]
    DeploymentUnrunnable(String),
    /// A manual replica assignment that cannot be used.
    #[error("invalid replica assignment: {0}")]
    InvalidReplicaAssignment(String),
    /// A reassignment cancelled where none is in flight.
    #[error("{topic}-{partition} has no reassignment in progress")]
    NoReassignment {
        /// Topic.
        topic: String,
        /// Partition.
        partition: i32,
    },
    /// A config name or value that is not accepted.
    #[error("invalid config {name}={value}: {reason}")]
    InvalidConfig {
        /// Config name.
        name: String,
        /// Value given.
        value: String,
        /// Why it is refused.
        reason: String,
    },
    /// The partition actor failed too often and was given up by its supervisor.
    #[error(
        "partition {0} has failed and is no longer served; restart the node after fixing the cause"
    )]
    PartitionFailed(String),
    /// This replica is a follower (or the partition has no leader here).
    #[error("this node is not the leader of {0}; refresh metadata and retry")]
    NotLeader(String),
    /// A replica fetch from a stale (or future) leader epoch.
    #[error("leader epoch {got} of {tp} is not the current one ({current})")]
    FencedLeaderEpoch {
        /// The partition.
        tp: String,
        /// The epoch in the request.
        got: i32,
        /// The partition's epoch.
        current: i32,
    },
    /// acks=all while the ISR is below min.insync.replicas.
    #[error("{tp} has {isr} in-sync replica(s); min.insync.replicas={min}")]
    NotEnoughReplicas {
        /// The partition.
        tp: String,
        /// ISR size.
        isr: usize,
        /// The minimum.
        min: usize,
    },
    /// The ISR shrank below min.insync.replicas after an acks=all append.
    #[error("the records were written but {tp} lost in-sync replicas before they were committed")]
    NotEnoughReplicasAfterAppend {
        /// The partition.
        tp: String,
    },
    /// A wait (acks=all) ran past the request's timeout.
    #[error("timed out: {0}")]
    Timeout(String),
    /// The metadata quorum has no leader or refused the change.
    #[error("the cluster metadata quorum cannot take the change now: {0}")]
    Quorum(String),
    /// The on-disk store failed (I/O error, full disk, corruption). The write was not
    /// acknowledged.
    #[error("storage error: {0}")]
    Storage(String),
    /// The actor is gone (node shutting down) or its mailbox is closed.
    #[error("actor unavailable: {0}")]
    Unavailable(String),
    /// The application id is already deployed with another topology or other configs. The
    /// value is the whole explanation: which application, which topology holds it, and
    /// what to do (`application APP is already deployed (topology X); undeploy it first`).
    #[error("{0}")]
    DeploymentExists(String),
    /// No deployment has this application id.
    #[error("application {0} is not deployed")]
    UnknownDeployment(String),
}

impl ActorError {
    /// Whether a client retrying the same request later can succeed.
    pub fn is_retriable(&self) -> bool {
        matches!(self, ActorError::Unavailable(_) | ActorError::Storage(_))
    }
}

impl From<fjall::Error> for ActorError {
    fn from(err: fjall::Error) -> Self {
        ActorError::Storage(err.to_string())
    }
}

impl From<postcard::Error> for ActorError {
    fn from(err: postcard::Error) -> Self {
        ActorError::Storage(format!("stored metadata does not decode: {err}"))
    }
}

impl From<actix::MailboxError> for ActorError {
    fn from(err: actix::MailboxError) -> Self {
        ActorError::Unavailable(err.to_string())
    }
}

/// Result alias of the actor layer.
pub type ActorResult<T> = Result<T, ActorError>;
