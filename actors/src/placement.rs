//! PlacementActor: decides which nodes host each partition, walking a consistent-hash ring
//! (`hashring`, with virtual nodes) clockwise from hash(topic id, partition) and taking the
//! first `replication.factor` distinct physical nodes. Every partition creation goes through
//! it, so cluster membership changes placement in this one place. Placement is computed once,
//! by the metadata owner, and recorded with the topic: nodes never recompute it on their own.
//!
//! Supervised by the NodeSupervisor; restart policy permanent. Its only state (the member
//! list) is rebuilt from its arguments on restart.

use std::collections::BTreeMap;

use actix::prelude::*;
use hashring::HashRing;

use crate::error::{ActorError, ActorResult};

/// Virtual nodes per physical node: with 128–256 a new node takes close to its fair share.
pub const VIRTUAL_NODES_PER_NODE: u32 = 128;

#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
struct VirtualNode {
    node_id: i32,
    replica: u32,
}

/// A consistent-hash ring over node ids. Pure data, so placement can be tested without
/// actors.
#[derive(Debug)]
pub struct Ring {
    ring: HashRing<VirtualNode>,
    nodes: Vec<i32>,
    /// Each node's rack (Kafka's `broker.rack`), for nodes that name one.
    racks: BTreeMap<i32, String>,
}

impl Ring {
    /// A ring over `nodes`.
    pub fn new(nodes: &[i32]) -> Self {
        let mut ring = HashRing::new();
        for &node_id in nodes {
            for replica in 0..VIRTUAL_NODES_PER_NODE {
                ring.add(VirtualNode { node_id, replica });
            }
        }
        let mut nodes = nodes.to_vec();
        nodes.sort_unstable();
        nodes.dedup();
        Ring {
            ring,
            nodes,
            racks: BTreeMap::new(),
        }
    }

    /// A ring over `nodes` that spreads each partition's replicas over racks: walking
    /// clockwise it first takes nodes of racks the partition has no replica on yet (a
    /// node without a rack counts as a rack of its own), then, once every rack holds one,
    /// the next nodes in ring order — so the replicas land on distinct racks whenever
    /// there are enough of them. Without racks this is [`Ring::new`]'s placement.
    pub fn with_racks(nodes: &[i32], racks: &BTreeMap<i32, String>) -> Self {
        let mut ring = Ring::new(nodes);
        ring.racks = racks
            .iter()
            .filter(|(node, _)| ring.nodes.contains(node))
            .map(|(node, rack)| (*node, rack.clone()))
            .collect();
        ring
    }

    fn rack_of(&self, node: i32) -> String {
        self.racks
            .get(&node)
            .cloned()
            .unwrap_or_else(|| format!("\u{0}node-{node}"))
    }

    /// The replicas of one partition: the first `factor` distinct nodes clockwise from
    /// hash(topic id, partition), leader first.
    pub fn replicas(
        &self,
        topic_id: &[u8; 16],
        partition: i32,
        factor: usize,
    ) -> ActorResult<Vec<i32>> {
        if factor == 0 || factor > self.nodes.len() {
            return Err(ActorError::InvalidReplicationFactor {
                factor: factor as i32,
                nodes: self.nodes.len(),
            });
        }
        let walk = self
            .ring
            .get_with_replicas(&(topic_id, partition), self.ring.len())
            .unwrap_or_default();
        let mut distinct: Vec<i32> = Vec::with_capacity(self.nodes.len());
        for vnode in walk {
            if !distinct.contains(&vnode.node_id) {
                distinct.push(vnode.node_id);
            }
        }
        let mut out = Vec::with_capacity(factor);
        let mut used_racks: Vec<String> = Vec::new();
        for &node in &distinct {
            let rack = self.rack_of(node);
            if out.len() < factor && !used_racks.contains(&rack) {
                used_racks.push(rack);
                out.push(node);
            }
        }
        for &node in &distinct {
            if out.len() < factor && !out.contains(&node) {
                out.push(node);
            }
        }
        Ok(out)
    }

    /// The physical nodes, sorted.
    pub fn nodes(&self) -> &[i32] {
        &self.nodes
    }

    /// Number of physical nodes.
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }
}

/// Orders each replica set so that leadership (the first replica) spreads evenly: the ring
/// decides which nodes hold a partition (so joins and leaves move few replicas), this only
/// decides which of them is the preferred leader — the one with the fewest leaderships so
/// far, ring order breaking ties.
pub fn balance_leaders(sets: Vec<Vec<i32>>) -> Vec<Vec<i32>> {
    let mut leads: std::collections::HashMap<i32, usize> = std::collections::HashMap::new();
    sets.into_iter()
        .map(|mut replicas| {
            if let Some(best) = (0..replicas.len())
                .min_by_key(|&i| (leads.get(&replicas[i]).copied().unwrap_or(0), i))
            {
                replicas[..=best].rotate_right(1);
                *leads.entry(replicas[0]).or_default() += 1;
            }
            replicas
        })
        .collect()
}

/// The placement actor.
pub struct PlacementActor {
    ring: Ring,
}

impl PlacementActor {
    /// A placement actor over the given members (one node: just this node).
    pub fn new(members: &[i32]) -> Self {
        PlacementActor {
            ring: Ring::new(members),
        }
    }
}

impl Actor for PlacementActor {
    type Context = Context<Self>;
}

impl Supervised for PlacementActor {}

/// Place partitions `first..first + count` of a topic.
#[derive(Message)]
#[rtype(result = "ActorResult<Vec<Vec<i32>>>")]
pub struct Place {
    /// The topic's id.
    pub topic_id: [u8; 16],
    /// First partition index to place.
    pub first: i32,
    /// How many partitions.
    pub count: i32,
    /// Replicas per partition.
    pub replication_factor: usize,
    /// Replicas chosen by the caller (CreateTopics' manual assignment, or co-placement
    /// with another topic), checked against the ring's nodes instead of placed.
    pub assignment: Option<Vec<Vec<i32>>>,
}

/// Checks a manual replica assignment (one replica list per partition, from partition 0)
/// as Kafka does: every partition has replicas, all the same number of them, none twice,
/// each on one of `nodes`. The error says which partition is wrong and why.
pub fn check_assignment(assignment: &[Vec<i32>], nodes: &[i32]) -> Result<(), String> {
    let Some(first) = assignment.first() else {
        return Err("the assignment names no partition".into());
    };
    for (partition, replicas) in assignment.iter().enumerate() {
        if replicas.is_empty() {
            return Err(format!("partition {partition} has no replica"));
        }
        if replicas.len() != first.len() {
            return Err(format!(
                "partition {partition} has {} replicas and partition 0 has {}: all partitions need the same number",
                replicas.len(),
                first.len()
            ));
        }
        for (i, node) in replicas.iter().enumerate() {
            if replicas[..i].contains(node) {
                return Err(format!("partition {partition} names node {node} twice"));
            }
            if !nodes.contains(node) {
                return Err(format!(
                    "partition {partition} names node {node}, which is not a live node of the cluster (nodes: {nodes:?})"
                ));
            }
        }
    }
    Ok(())
}

impl Handler<Place> for PlacementActor {
    type Result = ActorResult<Vec<Vec<i32>>>;

    fn handle(&mut self, msg: Place, _ctx: &mut Self::Context) -> Self::Result {
        if let Some(assignment) = msg.assignment {
            check_assignment(&assignment, self.ring.nodes())
                .map_err(crate::error::ActorError::InvalidReplicaAssignment)?;
            return Ok(assignment);
        }
        let sets = (msg.first..msg.first + msg.count)
            .map(|p| self.ring.replicas(&msg.topic_id, p, msg.replication_factor))
            .collect::<ActorResult<Vec<_>>>()?;
        Ok(balance_leaders(sets))
    }
}

/// Cluster mode: the placement nodes, or their racks, changed.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SetMembers {
    /// The nodes new replicas may go to.
    pub nodes: Vec<i32>,
    /// Their racks (`broker.rack`), for those that name one.
    pub racks: BTreeMap<i32, String>,
}

impl Handler<SetMembers> for PlacementActor {
    type Result = ();

    fn handle(&mut self, msg: SetMembers, _ctx: &mut Self::Context) {
        let mut nodes = msg.nodes.clone();
        nodes.sort_unstable();
        nodes.dedup();
        if !nodes.is_empty() && (nodes != self.ring.nodes || msg.racks != self.ring.racks) {
            self.ring = Ring::with_racks(&msg.nodes, &msg.racks);
        }
    }
}

/// How many nodes the ring has (the largest valid replication factor).
#[derive(Message)]
#[rtype(result = "usize")]
pub struct NodeCount;

impl Handler<NodeCount> for PlacementActor {
    type Result = usize;

    fn handle(&mut self, _msg: NodeCount, _ctx: &mut Self::Context) -> usize {
        self.ring.node_count()
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn replicas_spread_over_racks_when_there_are_enough() {
        let racks: BTreeMap<i32, String> = [(1, "a"), (2, "a"), (3, "b"), (4, "b")]
            .map(|(n, r)| (n, r.to_string()))
            .into();
        let ring = Ring::with_racks(&[1, 2, 3, 4], &racks);
        for p in 0..200 {
            let set = ring.replicas(&[3; 16], p, 2).expect("place");
            let on: std::collections::BTreeSet<&str> =
                set.iter().map(|n| racks[n].as_str()).collect();
            assert_eq!(on.len(), 2, "partition {p} on {set:?}: both racks");
        }
        // Three replicas over two racks: both racks, then the next node.
        let set = ring.replicas(&[3; 16], 0, 3).expect("place");
        assert_eq!(set.len(), 3);
        // Without racks the placement is the plain ring's.
        let plain = Ring::new(&[1, 2, 3, 4]);
        let no_racks = Ring::with_racks(&[1, 2, 3, 4], &BTreeMap::new());
        for p in 0..50 {
            assert_eq!(
                plain.replicas(&[7; 16], p, 3).expect("place"),
                no_racks.replicas(&[7; 16], p, 3).expect("place")
            );
        }
    }

    #[test]
    fn manual_assignments_are_checked_as_kafka_checks_them() {
        let nodes = [1, 2, 3];
        assert_eq!(check_assignment(&[vec![1, 2], vec![3, 1]], &nodes), Ok(()));
        for (bad, why) in [
            (vec![], "no partition"),
            (vec![vec![]], "no replica"),
            (vec![vec![1, 2], vec![3]], "same number"),
            (vec![vec![1, 1]], "twice"),
            (vec![vec![4]], "not a live node"),
        ] {
            let err = check_assignment(&bad, &nodes).unwrap_err();
            assert!(err.contains(why), "{bad:?}: {err}");
        }
    }

    use super::*;

    #[test]
    fn replicas_are_distinct_and_stable() {
        let ring = Ring::new(&[1, 2, 3]);
        let id = [7u8; 16];
        for p in 0..50 {
            let r = ring.replicas(&id, p, 3).expect("place");
            let mut sorted = r.clone();
            sorted.sort_unstable();
            assert_eq!(sorted, vec![1, 2, 3]);
            assert_eq!(r, ring.replicas(&id, p, 3).expect("place"), "deterministic");
        }
        assert!(ring.replicas(&id, 0, 4).is_err());
        assert!(ring.replicas(&id, 0, 0).is_err());
    }

    #[test]
    fn leadership_is_balanced_within_the_ring_sets() {
        let ring = Ring::new(&[1, 2, 3]);
        let id = [3u8; 16];
        let sets: Vec<Vec<i32>> = (0..6)
            .map(|p| ring.replicas(&id, p, 3).expect("place"))
            .collect();
        let balanced = balance_leaders(sets.clone());
        for (a, b) in sets.iter().zip(&balanced) {
            let (mut a, mut b) = (a.clone(), b.clone());
            a.sort_unstable();
            b.sort_unstable();
            assert_eq!(a, b, "the replica set is the ring's");
        }
        let mut counts = std::collections::BTreeMap::new();
        for r in &balanced {
            *counts.entry(r[0]).or_insert(0) += 1;
        }
        assert_eq!(counts.values().copied().collect::<Vec<_>>(), vec![2, 2, 2]);
    }

    #[test]
    fn single_node_hosts_everything() {
        let ring = Ring::new(&[1]);
        assert_eq!(ring.replicas(&[0u8; 16], 5, 1).expect("place"), vec![1]);
    }

    #[test]
    fn leaders_spread_over_nodes() {
        let ring = Ring::new(&[1, 2, 3]);
        let mut counts = [0usize; 3];
        for p in 0..300 {
            let leader = ring.replicas(&[9u8; 16], p, 1).expect("place")[0];
            counts[(leader - 1) as usize] += 1;
        }
        assert!(counts.iter().all(|&c| c > 50), "uneven spread {counts:?}");
    }
}
