//! Cluster metadata: the replicated state and its commands (`state`, pure), and openraft's
//! log store and state machine on fjall (`raft`), and where replicas should move when
//! nodes join or leave (`rebalance`, pure), and which topics a deployed topology keeps on
//! one replica set (`colocation`, pure). The peer transport and the Raft network
//! live in the runtime crate (`runtime/node/src/cluster/`).

pub mod colocation;
pub mod raft;
pub mod rebalance;
pub mod state;

pub use state::{ClusterState, Command, Member, Outcome, Reassignment, Refusal};

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::error::ActorResult;

/// Proposes a command to the metadata quorum and answers its outcome once applied.
pub type Proposer = Arc<
    dyn Fn(Command) -> Pin<Box<dyn Future<Output = ActorResult<Outcome>> + Send>> + Send + Sync,
>;

/// Cluster mode for consumer groups: offsets are committed through the quorum and read
/// from its state, so a group's next coordinator (on another node) resumes from them.
#[derive(Clone)]
pub struct ReplicatedOffsets {
    /// Proposes commands to the quorum.
    pub proposer: Proposer,
    /// The applied state.
    pub state: tokio::sync::watch::Receiver<Arc<ClusterState>>,
}

impl ReplicatedOffsets {
    /// The committed offsets of `group` in the applied state.
    pub fn offsets_of(
        &self,
        group: &str,
    ) -> std::collections::BTreeMap<crate::TopicPartition, crate::store::CommittedOffset> {
        self.state
            .borrow()
            .group_offsets
            .get(group)
            .map(|stored| {
                stored
                    .iter()
                    .map(|((t, p), c)| (crate::TopicPartition::new(t, *p), c.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }
}
