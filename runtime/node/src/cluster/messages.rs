//! What nodes say to each other over the peer link: Raft RPCs, metadata proposals and joins
//! forwarded to the quorum leader, heartbeats, and the replication fetches.

use eddy_actors::cluster::raft::TypeConfig;
use eddy_actors::cluster::{Command, Member, Outcome};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::{Deserialize, Serialize};

/// A request from one node to another.
#[derive(Debug, Serialize, Deserialize)]
pub enum PeerRequest {
    /// Raft: request a vote.
    Vote(VoteRequest<u64>),
    /// Raft: replicate entries / heartbeat.
    AppendEntries(AppendEntriesRequest<TypeConfig>),
    /// Raft: one chunk of a snapshot.
    InstallSnapshot(InstallSnapshotRequest<TypeConfig>),
    /// A node asks to join the quorum (as learner, or voter while voters are few) and be
    /// registered as a member.
    Join(Member),
    /// A metadata command for the quorum leader.
    Propose(Command),
    /// Does this node belong to an initialized cluster? (Asked by a first seed before it
    /// bootstraps, so a wiped first seed joins its old cluster instead of starting another.)
    ClusterInfo,
    /// A node is alive (sent to every voter).
    Heartbeat {
        /// The sender.
        node_id: i32,
    },
    /// A follower fetches from a leader.
    ReplicaFetch(ReplicaFetchRequest),
    /// A follower asks where the leader's copy of `epoch` ends.
    EpochEndOffset {
        /// Topic.
        topic: String,
        /// Partition.
        partition: i32,
        /// The follower's last epoch.
        epoch: i32,
    },
}

/// A replica fetch.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReplicaFetchRequest {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// The follower.
    pub replica: i32,
    /// The follower's idea of the leader epoch.
    pub leader_epoch: i32,
    /// The follower's log end offset.
    pub offset: i64,
    /// Soft byte limit.
    pub max_bytes: u32,
    /// How long the leader may wait for data.
    pub max_wait_ms: u32,
}

/// Records for a follower.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReplicaData {
    /// Whole batches.
    #[serde(with = "serde_bytes")]
    pub records: Vec<u8>,
    /// The leader's high watermark.
    pub high_watermark: i64,
    /// The leader's log start offset.
    pub log_start_offset: i64,
    /// The leader's log end offset.
    pub log_end_offset: i64,
}

/// A refusal that carries a Kafka error code, so both sides agree on what it means.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PeerError {
    /// Kafka error code.
    pub code: i16,
    /// Human-readable reason.
    pub message: String,
}

/// The answer to a [`PeerRequest`], variant by variant.
#[derive(Debug, Serialize, Deserialize)]
pub enum PeerResponse {
    /// Raft vote answer (or why the local Raft failed).
    Vote(Result<VoteResponse<u64>, String>),
    /// Raft append answer.
    AppendEntries(Result<AppendEntriesResponse<u64>, String>),
    /// Raft snapshot answer.
    InstallSnapshot(Result<InstallSnapshotResponse<u64>, String>),
    /// Joined (or why not).
    Joined(Result<(), String>),
    /// The applied outcome and the log index of the entry, or why not.
    Proposed(Result<(Outcome, u64), String>),
    /// Heartbeat seen.
    HeartbeatAck,
    /// Whether this node's Raft log is initialized.
    ClusterInfo {
        /// It is.
        initialized: bool,
    },
    /// Records or a refusal.
    ReplicaFetched(Result<ReplicaData, PeerError>),
    /// The largest epoch at or below the one asked that the leader holds and where it
    /// ends, or a refusal.
    EpochEnd(Result<(i32, i64), PeerError>),
    /// The request could not be handled here (e.g. not the quorum leader).
    Refused(String),
}
