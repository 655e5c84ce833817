//! eddy-actors: the actors of a node and their messages — node supervisor, placement,
//! metadata, partition supervisor and partition actors — plus the fjall-backed stores and
//! record-batch checks they rely on.
//!
//! Actors never share mutable memory: they talk by messages, and publish read-only
//! snapshots (routing table, topic metadata) through `watch` channels.

pub mod batch;
pub mod cluster;
pub mod compaction;
pub mod compactor;
pub mod deployments;
pub mod error;
pub mod fault;
pub mod group;
pub mod group_coordinator;
pub mod group_supervisor;
pub mod log_validator;
pub mod metadata;
pub mod node_supervisor;
pub mod partition;
pub mod partition_supervisor;
pub mod placement;
pub mod producer_state;
pub mod reassignments;
pub mod retention;
pub mod store;
pub mod supervision;
pub mod topic_config;

use std::fmt;

use serde::{Deserialize, Serialize};

/// A topic name and partition index.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TopicPartition {
    /// Topic name.
    pub topic: String,
    /// Partition index.
    pub partition: i32,
}

impl TopicPartition {
    /// A topic-partition.
    pub fn new(topic: &str, partition: i32) -> Self {
        TopicPartition {
            topic: topic.to_string(),
            partition,
        }
    }
}

impl fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}
