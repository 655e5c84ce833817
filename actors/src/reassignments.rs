//! The MetadataActor's reassignment protocol (Kafka's AlterPartitionReassignments): move a
//! partition onto replicas the operator names, or cancel such a move. No actor of its own:
//! a message to the [`MetadataActor`]. In cluster mode it is proposed to the quorum as
//! `Command::Reassign`, which checks the target and records it; the controller then moves
//! the partition with the usual safe steps (`cluster::rebalance`). A single node holds
//! every replica: only its own id is a valid target there.

use actix::prelude::*;

use crate::cluster::Command;
use crate::error::{ActorError, ActorResult};
use crate::metadata::MetadataActor;

/// Reassign `topic`-`partition` to `target` (preferred leader first), or cancel its
/// reassignment in flight (`None`).
#[derive(Message, Debug, Clone)]
#[rtype(result = "ActorResult<()>")]
pub struct Reassign {
    /// Topic name.
    pub topic: String,
    /// Partition index.
    pub partition: i32,
    /// The replicas wanted, or `None` to cancel.
    pub target: Option<Vec<i32>>,
}

impl Handler<Reassign> for MetadataActor {
    type Result = AtomicResponse<Self, ActorResult<()>>;

    fn handle(&mut self, msg: Reassign, _ctx: &mut Self::Context) -> Self::Result {
        if self.proposer.is_some() {
            let propose = self.propose(Command::Reassign {
                topic: msg.topic,
                partition: msg.partition,
                target: msg.target,
            });
            return AtomicResponse::new(Box::pin(
                async move { propose.await.map(|_| ()) }.into_actor(self),
            ));
        }
        let result = single_node(self.node_id, &self.snapshot, msg);
        AtomicResponse::new(Box::pin(fut::ready(result)))
    }
}

/// A single node: the partition must exist; reassigning it to this node alone (where it
/// is) is a no-op, anything else is refused, and there is never anything to cancel.
fn single_node(
    node_id: i32,
    snapshot: &crate::metadata::MetadataSnapshot,
    msg: Reassign,
) -> ActorResult<()> {
    let exists = snapshot
        .topics
        .get(&msg.topic)
        .is_some_and(|t| usize::try_from(msg.partition).is_ok_and(|p| p < t.partitions.len()));
    if !exists {
        return Err(ActorError::UnknownPartition {
            topic: msg.topic,
            partition: msg.partition,
        });
    }
    match msg.target {
        None => Err(ActorError::NoReassignment {
            topic: msg.topic,
            partition: msg.partition,
        }),
        Some(target) if target == [node_id] => Ok(()),
        Some(target) => Err(ActorError::InvalidReplicaAssignment(format!(
            "{target:?}: this node ({node_id}) runs alone and holds every replica; start a cluster (--peer-listen, --join) to move replicas"
        ))),
    }
}
