//! Cluster metadata: the replicated state and its commands (`state`, pure), and openraft's
//! log store and state machine on fjall (`raft`). The peer transport and the Raft network
//! live in the runtime crate (`runtime/src/cluster/`).

pub mod raft;
pub mod state;

pub use state::{ClusterState, Command, Member, Outcome, Refusal};

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::error::ActorResult;

/// Proposes a command to the metadata quorum and answers its outcome once applied.
pub type Proposer = Arc<
    dyn Fn(Command) -> Pin<Box<dyn Future<Output = ActorResult<Outcome>> + Send>> + Send + Sync,
>;
