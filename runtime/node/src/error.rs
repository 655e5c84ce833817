//! Errors of the runtime layer and the mapping of actor errors to Kafka error codes.

use eddy_actors::error::ActorError;
use eddy_actors::group::GroupError;
use kafka_protocol::ResponseError;
use thiserror::Error;

/// A node config that cannot be used.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The config file cannot be read or parsed.
    #[error("config file {path}: {reason}")]
    File {
        /// The file.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// A setting has a value that cannot work.
    #[error("invalid setting --{name}: {reason}")]
    Invalid {
        /// The flag / TOML key.
        name: String,
        /// Why, and what to use instead.
        reason: String,
    },
}

/// Why a node could not start or stopped abnormally.
#[derive(Debug, Error)]
pub enum NodeError {
    /// Bad configuration.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A listener could not bind.
    #[error("cannot listen on {addr}: {reason}; is another node or program using it? choose another with --{flag}")]
    Bind {
        /// The address.
        addr: String,
        /// The OS error.
        reason: String,
        /// The flag that sets it.
        flag: &'static str,
    },
    /// The store could not be opened or loaded.
    #[error(transparent)]
    Storage(#[from] ActorError),
    /// The actor system failed.
    #[error("runtime: {0}")]
    Runtime(String),
}

/// The Kafka error code for an actor error.
pub fn kafka_error(err: &ActorError) -> ResponseError {
    match err {
        ActorError::CorruptBatch(_) => ResponseError::CorruptMessage,
        ActorError::InvalidRecord { .. } => ResponseError::InvalidRecord,
        ActorError::BatchTooLarge { .. } => ResponseError::MessageTooLarge,
        ActorError::OutOfOrderSequence { .. } => ResponseError::OutOfOrderSequenceNumber,
        ActorError::ProducerFenced { .. } => ResponseError::InvalidProducerEpoch,
        ActorError::OffsetOutOfRange { .. } => ResponseError::OffsetOutOfRange,
        ActorError::UnknownTopic(_) | ActorError::UnknownPartition { .. } => {
            ResponseError::UnknownTopicOrPartition
        }
        ActorError::TopicExists(_) => ResponseError::TopicAlreadyExists,
        ActorError::InvalidTopic { .. } => ResponseError::InvalidTopicException,
        ActorError::InvalidPartitions(_) => ResponseError::InvalidPartitions,
        ActorError::InvalidReplicationFactor { .. } => ResponseError::InvalidReplicationFactor,
        ActorError::InvalidReplicaAssignment(_) => ResponseError::InvalidReplicaAssignment,
        ActorError::NoReassignment { .. } => ResponseError::NoReassignmentInProgress,
        ActorError::DeploymentUnrunnable(_) => ResponseError::InvalidRequest,
        ActorError::InvalidConfig { .. } => ResponseError::InvalidConfig,
        ActorError::PartitionFailed(_) | ActorError::Storage(_) => ResponseError::KafkaStorageError,
        // A partition restarting after a panic, or an actor mid-shutdown: clients refresh
        // metadata and retry.
        ActorError::Unavailable(_) | ActorError::NotLeader(_) => ResponseError::NotLeaderOrFollower,
        ActorError::FencedLeaderEpoch { .. } => ResponseError::FencedLeaderEpoch,
        ActorError::NotEnoughReplicas { .. } => ResponseError::NotEnoughReplicas,
        ActorError::NotEnoughReplicasAfterAppend { .. } => {
            ResponseError::NotEnoughReplicasAfterAppend
        }
        ActorError::Quorum(_) | ActorError::Timeout(_) => ResponseError::RequestTimedOut,
        // Deployments are not a Kafka request; the admin HTTP reports them with this code.
        ActorError::DeploymentExists(_) | ActorError::UnknownDeployment(_) => {
            ResponseError::InvalidRequest
        }
    }
}

/// The Kafka error code for a group protocol error.
pub fn group_error(err: GroupError) -> ResponseError {
    match err {
        GroupError::UnknownMemberId => ResponseError::UnknownMemberId,
        GroupError::IllegalGeneration => ResponseError::IllegalGeneration,
        GroupError::RebalanceInProgress => ResponseError::RebalanceInProgress,
        GroupError::InconsistentGroupProtocol => ResponseError::InconsistentGroupProtocol,
        GroupError::InvalidSessionTimeout => ResponseError::InvalidSessionTimeout,
        GroupError::MemberIdRequired => ResponseError::MemberIdRequired,
        GroupError::FencedInstanceId => ResponseError::FencedInstanceId,
        GroupError::GroupMaxSizeReached => ResponseError::GroupMaxSizeReached,
        GroupError::NonEmptyGroup => ResponseError::NonEmptyGroup,
        GroupError::GroupIdNotFound => ResponseError::GroupIdNotFound,
        GroupError::CoordinatorNotAvailable => ResponseError::CoordinatorNotAvailable,
        GroupError::GroupSubscribedToTopic => ResponseError::GroupSubscribedToTopic,
    }
}

/// The error code (0 for success) of a group result.
pub fn group_code<T>(result: &Result<T, GroupError>) -> i16 {
    match result {
        Ok(_) => 0,
        Err(err) => group_error(*err).code(),
    }
}
