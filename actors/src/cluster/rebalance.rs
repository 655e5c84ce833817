//! Where replicas should be, and the next safe step to get them there. Pure: the controller
//! (on the quorum leader) proposes what `next_steps` returns, and `GET /cluster/moves` shows
//! what `planned_moves` returns, so the dry run and the real thing never disagree.
//!
//! A partition's wanted replica set is the first `replication.factor` distinct nodes on the
//! hash ring over the placement nodes (registered, not decommissioning) — the same rule as
//! at creation — so a join or a decommission moves only partitions whose set changes (a
//! topic created with a manual replica assignment stays where it was put, unless one of
//! its nodes is decommissioned, as Kafka keeps such an assignment). A move
//! is two steps: add the new replicas (they fetch, catch up and join the ISR), then, once
//! every wanted replica is in sync, drop the others (a dropped leader hands over first).
//! A partition being reassigned (`Command::Reassign`, Kafka's AlterPartitionReassignments)
//! goes to its target before any other rule. A topic co-located with another by a
//! deployed topology (`Command::Colocate`) instead
//! follows its anchor: partition *i* on the anchor's partition *i* replicas, in the same
//! order, whatever its own ring placement or pin.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::colocation;
use super::state::{ClusterState, Command};
use crate::placement::Ring;
use crate::store::{PartitionRecord, TopicRecord};

/// One partition whose replicas differ from where the ring puts them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Move {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Replicas now.
    pub from: Vec<i32>,
    /// Replicas when the move is done, preferred leader first.
    pub to: Vec<i32>,
}

/// The final order: wanted replicas keep their slot; a new one takes the slot of the one
/// it replaces, so preferred leadership stays spread. Replicas added by a move in flight
/// sit after the first `factor` slots.
fn final_order(current: &[i32], wanted: &[i32], factor: usize) -> Vec<i32> {
    let mut incoming: Vec<i32> = current
        .iter()
        .skip(factor)
        .copied()
        .filter(|r| wanted.contains(r))
        .collect();
    incoming.extend(wanted.iter().copied().filter(|w| !current.contains(w)));
    let mut incoming = incoming.into_iter();
    let mut out = Vec::with_capacity(wanted.len());
    for r in current.iter().take(factor) {
        if wanted.contains(r) {
            out.push(*r);
        } else if let Some(next) = incoming.next() {
            out.push(next);
        }
    }
    out.extend(incoming);
    out
}

/// Every partition whose replica set is not the ring's, and every partition of a
/// co-located topic whose replicas (in order) are not its anchor partition's
/// ([`colocation`](super::colocation)).
pub fn planned_moves(state: &ClusterState) -> Vec<Move> {
    let nodes = state.placement_nodes();
    if nodes.is_empty() {
        return Vec::new();
    }
    let ring = Ring::with_racks(&nodes, &state.racks);
    let followers = colocation::anchors(state);
    let mut out = Vec::new();
    // Where each partition of a topic that follows nobody goes: its move's end, or where
    // it is. Followers then copy their anchor's.
    let mut targets: BTreeMap<(&str, i32), Vec<i32>> = BTreeMap::new();
    for topic in state.topics.values() {
        if followers.contains_key(&topic.name) {
            continue;
        }
        for p in &topic.partitions {
            if let Some(mv) = reassignment_move(state, topic, p, &mut out) {
                targets.insert((&topic.name, p.index), mv);
                continue;
            }
            match ring_move(state, &ring, &nodes, topic, p) {
                Some(mv) => {
                    targets.insert((&topic.name, p.index), mv.to.clone());
                    out.push(mv);
                }
                None => {
                    targets.insert((&topic.name, p.index), p.replicas.clone());
                }
            }
        }
    }
    for (name, anchor) in &followers {
        let Some(topic) = state.topics.get(name) else {
            continue;
        };
        let factor = usize::try_from(topic.replication_factor).unwrap_or(1);
        for p in &topic.partitions {
            if reassignment_move(state, topic, p, &mut out).is_some() {
                continue;
            }
            let Some(anchor_to) = targets.get(&(anchor.as_str(), p.index)) else {
                // The anchor has fewer partitions: this one is placed as any other.
                out.extend(ring_move(state, &ring, &nodes, topic, p));
                continue;
            };
            let extra = ring
                .replicas(&topic.id, p.index, factor)
                .unwrap_or_default();
            let wanted = colocation::follow(anchor_to, factor, &extra);
            if p.replicas != wanted {
                out.push(Move {
                    topic: topic.name.clone(),
                    partition: p.index,
                    from: p.replicas.clone(),
                    to: wanted,
                });
            }
        }
    }
    out
}

/// A partition being reassigned goes to its target, whatever else applies: its move (if
/// the replicas are not the target yet, in order) joins `out`; answers the target.
fn reassignment_move(
    state: &ClusterState,
    topic: &TopicRecord,
    p: &PartitionRecord,
    out: &mut Vec<Move>,
) -> Option<Vec<i32>> {
    let target = &state.reassignments.get(&topic.name)?.get(&p.index)?.target;
    if p.replicas != *target {
        out.push(Move {
            topic: topic.name.clone(),
            partition: p.index,
            from: p.replicas.clone(),
            to: target.clone(),
        });
    }
    Some(target.clone())
}

/// The move that puts `p` where the ring wants it, if its replica set differs (a pinned
/// partition stays while all its nodes may hold it).
fn ring_move(
    state: &ClusterState,
    ring: &Ring,
    nodes: &[i32],
    topic: &TopicRecord,
    p: &PartitionRecord,
) -> Option<Move> {
    let factor = usize::try_from(topic.replication_factor).unwrap_or(1);
    // A manually assigned partition stays put while all its nodes may hold it.
    if state.pinned.contains(&topic.name) && p.replicas.iter().all(|r| nodes.contains(r)) {
        return None;
    }
    // Fewer nodes than the replication factor: nowhere to go.
    let wanted = ring.replicas(&topic.id, p.index, factor).ok()?;
    let have: BTreeSet<i32> = p.replicas.iter().copied().collect();
    let want: BTreeSet<i32> = wanted.iter().copied().collect();
    (have != want).then(|| Move {
        topic: topic.name.clone(),
        partition: p.index,
        from: p.replicas.clone(),
        to: final_order(&p.replicas, &wanted, factor),
    })
}

/// The next command of every move: add the missing replicas, or — once all wanted
/// replicas are in the ISR — drop the rest. Moves waiting for a replica to catch up give
/// nothing.
pub fn next_steps(state: &ClusterState) -> Vec<Command> {
    let mut out = Vec::new();
    for mv in planned_moves(state) {
        let Some(p) = state
            .topics
            .get(&mv.topic)
            .and_then(|t| t.partitions.get(mv.partition as usize))
        else {
            continue;
        };
        let missing: Vec<i32> = mv
            .to
            .iter()
            .copied()
            .filter(|r| !p.replicas.contains(r))
            .collect();
        if !missing.is_empty() {
            out.push(Command::AddReplicas {
                topic: mv.topic,
                partition: mv.partition,
                add: missing,
            });
        } else if mv.to.iter().all(|r| p.isr.contains(r)) {
            out.push(Command::CompleteMove {
                topic: mv.topic,
                partition: mv.partition,
                replicas: mv.to,
            });
        }
    }
    out
}

/// Partitions whose leader is not their preferred (first) replica although it is in sync
/// and live, and no move is in flight: candidates for a preferred-leader election.
pub fn preferred_elections(state: &ClusterState) -> Vec<Command> {
    let fenced = state.fenced_nodes();
    let mut out = Vec::new();
    for topic in state.topics.values() {
        let factor = usize::try_from(topic.replication_factor).unwrap_or(1);
        for p in &topic.partitions {
            let Some(&preferred) = p.replicas.first() else {
                continue;
            };
            if p.replicas.len() == factor
                && p.leader != preferred
                && p.isr.contains(&preferred)
                && !fenced.contains(&preferred)
            {
                out.push(Command::ElectPreferred {
                    topic: topic.name.clone(),
                    partition: p.index,
                });
            }
        }
    }
    out
}

/// Decommissioned members that no longer hold any replica: ready to be removed.
pub fn removable_members(state: &ClusterState) -> Vec<i32> {
    state
        .members
        .values()
        .filter(|m| m.decommissioning)
        .map(|m| m.node_id)
        .filter(|id| {
            !state
                .topics
                .values()
                .flat_map(|t| &t.partitions)
                .any(|p| p.replicas.contains(id))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::state::{Member, Outcome, Refusal};
    use crate::placement::balance_leaders;
    use crate::topic_config::TopicConfig;

    fn member(id: i32) -> Member {
        Member {
            node_id: id,
            kafka_host: "127.0.0.1".into(),
            kafka_port: 9000 + id,
            peer_addr: format!("127.0.0.1:{}", 9500 + id),
            fenced: false,
            decommissioning: false,
        }
    }

    /// A cluster of `nodes` with one topic of `partitions` partitions placed by the ring.
    fn cluster(nodes: &[i32], partitions: i32, factor: usize) -> ClusterState {
        let mut s = ClusterState::default();
        for &n in nodes {
            s.apply(Command::Register(member(n)));
        }
        let ring = Ring::new(nodes);
        let id = [5u8; 16];
        let sets = balance_leaders(
            (0..partitions)
                .map(|p| ring.replicas(&id, p, factor).expect("place"))
                .collect(),
        );
        let topic = TopicRecord {
            name: "t".into(),
            id,
            partitions: sets
                .into_iter()
                .enumerate()
                .map(|(i, r)| PartitionRecord {
                    index: i as i32,
                    uid: 0,
                    leader: r[0],
                    leader_epoch: 0,
                    isr: r.clone(),
                    replicas: r,
                })
                .collect(),
            replication_factor: factor as i16,
            config: TopicConfig::default(),
        };
        s.apply(Command::CreateTopic(topic));
        s
    }

    /// Drives every move to the end, treating every replica as caught up at once.
    fn settle(s: &mut ClusterState) -> usize {
        let mut steps = 0;
        loop {
            let next = next_steps(s);
            if next.is_empty() {
                return steps;
            }
            for cmd in next {
                steps += 1;
                if let Command::AddReplicas {
                    topic, partition, ..
                } = &cmd
                {
                    s.apply(cmd.clone());
                    let p = &s.topics[topic].partitions[*partition as usize];
                    let (leader, epoch, isr) = (p.leader, p.leader_epoch, p.replicas.clone());
                    let altered = s.apply(Command::AlterIsr {
                        topic: topic.clone(),
                        partition: *partition,
                        leader_epoch: epoch,
                        leader,
                        isr,
                    });
                    assert_eq!(altered, Outcome::Done);
                } else {
                    assert_eq!(s.apply(cmd), Outcome::Done);
                }
            }
            assert!(steps < 10_000, "moves never settle");
        }
    }

    fn replicas(s: &ClusterState) -> Vec<Vec<i32>> {
        s.topics["t"]
            .partitions
            .iter()
            .map(|p| p.replicas.clone())
            .collect()
    }

    #[test]
    fn a_placed_topic_needs_no_move() {
        let s = cluster(&[1, 2, 3], 12, 3);
        assert!(planned_moves(&s).is_empty());
        assert!(next_steps(&s).is_empty());
    }

    #[test]
    fn a_fourth_node_takes_about_a_quarter_of_the_replicas_and_leaving_gives_them_back() {
        let mut s = cluster(&[1, 2, 3], 120, 3);
        let before = replicas(&s);
        s.apply(Command::Register(member(4)));
        let moves = planned_moves(&s);
        let moved: usize = moves
            .iter()
            .map(|m| m.to.iter().filter(|r| !m.from.contains(r)).count())
            .sum();
        let share = moved as f64 / 360.0;
        assert!(
            (0.15..=0.35).contains(&share),
            "moved {moved} of 360 replicas"
        );
        for m in &moves {
            assert_eq!(m.to.len(), 3);
            assert!(m.to.contains(&4), "every move brings node 4 in");
        }
        settle(&mut s);
        assert!(planned_moves(&s).is_empty());
        let with_four = replicas(&s);
        let changed = before
            .iter()
            .zip(&with_four)
            .filter(|(a, b)| a != b)
            .count();
        assert_eq!(changed, moves.len(), "only planned partitions changed");

        s.apply(Command::Decommission { node_id: 4 });
        assert_eq!(
            planned_moves(&s).len(),
            moves.len(),
            "the same partitions move back"
        );
        settle(&mut s);
        assert_eq!(removable_members(&s), vec![4]);
        let after: Vec<BTreeSet<i32>> = replicas(&s)
            .into_iter()
            .map(|r| r.into_iter().collect())
            .collect();
        let original: Vec<BTreeSet<i32>> = before
            .into_iter()
            .map(|r| r.into_iter().collect())
            .collect();
        assert_eq!(after, original);
    }

    #[test]
    fn a_manually_assigned_topic_stays_put_unless_its_node_leaves() {
        let mut s = cluster(&[1, 2, 3], 12, 3);
        // "m": partition 0 on 1 and 2, partition 1 on 2 and 3, as the client chose.
        let mut manual = s.topics["t"].clone();
        manual.name = "m".into();
        manual.id = [7u8; 16];
        manual.replication_factor = 2;
        manual.partitions.truncate(2);
        manual.partitions[0].replicas = vec![1, 2];
        manual.partitions[1].replicas = vec![2, 3];
        for p in &mut manual.partitions {
            p.isr = p.replicas.clone();
            p.leader = p.replicas[0];
        }
        assert!(matches!(
            s.apply(Command::CreateTopicPinned(manual)),
            Outcome::Topic(_)
        ));
        s.apply(Command::Register(member(4)));
        assert!(
            planned_moves(&s).iter().all(|m| m.topic != "m"),
            "a join moves no pinned partition"
        );
        settle(&mut s);
        assert_eq!(s.topics["m"].partitions[0].replicas, vec![1, 2]);
        s.apply(Command::Decommission { node_id: 3 });
        let moves: Vec<Move> = planned_moves(&s)
            .into_iter()
            .filter(|m| m.topic == "m")
            .collect();
        assert_eq!(
            moves.len(),
            1,
            "only the partition on the leaving node: {moves:?}"
        );
        assert_eq!(moves[0].partition, 1);
        assert!(!moves[0].to.contains(&3));
    }

    /// Topic `name` (id `id`), pinned on `sets` (partition i on `sets[i]`, led by its first).
    fn create_pinned(s: &mut ClusterState, name: &str, id: u8, sets: &[Vec<i32>]) {
        let mut topic = s.topics["t"].clone();
        topic.name = name.into();
        topic.id = [id; 16];
        topic.replication_factor = sets[0].len() as i16;
        topic.partitions.truncate(sets.len());
        for (p, set) in topic.partitions.iter_mut().zip(sets) {
            p.replicas = set.clone();
            p.isr = set.clone();
            p.leader = set[0];
        }
        assert!(matches!(
            s.apply(Command::CreateTopicPinned(topic)),
            Outcome::Topic(_)
        ));
    }

    fn colocate(s: &mut ClusterState, app: &str, groups: &[&[&str]]) {
        let deployed = s.apply(Command::Deploy(crate::store::DeploymentRecord {
            application_id: app.into(),
            topology: "join".into(),
            configs: Default::default(),
            deployed_at_ms: 0,
        }));
        assert_eq!(deployed, Outcome::Done);
        let groups = groups
            .iter()
            .map(|g| g.iter().map(|t| t.to_string()).collect())
            .collect();
        let outcome = s.apply(Command::Colocate {
            application_id: app.into(),
            groups,
        });
        assert_eq!(outcome, Outcome::Done);
    }

    fn elect_preferred(s: &mut ClusterState) {
        for cmd in preferred_elections(s) {
            assert_eq!(s.apply(cmd), Outcome::Done);
        }
    }

    fn placement_of(s: &ClusterState, topic: &str) -> Vec<(Vec<i32>, i32)> {
        s.topics[topic]
            .partitions
            .iter()
            .map(|p| (p.replicas.clone(), p.leader))
            .collect()
    }

    #[test]
    fn co_located_topics_move_onto_their_anchors_replicas_and_follow_it_later() {
        let mut s = cluster(&[1, 2, 3], 3, 2);
        create_pinned(&mut s, "stream", 8, &[vec![1, 2], vec![2, 3], vec![3, 1]]);
        create_pinned(&mut s, "table", 9, &[vec![2, 3], vec![3, 2], vec![1, 3]]);
        assert!(planned_moves(&s).is_empty(), "pinned, nothing to do yet");
        colocate(&mut s, "app", &[&["stream", "table"], &["t"]]);
        let moves = planned_moves(&s);
        assert!(moves.iter().all(|m| m.topic == "table"), "{moves:?}");
        assert_eq!(
            moves.len(),
            3,
            "partition 1 only changes its order: {moves:?}"
        );
        settle(&mut s);
        elect_preferred(&mut s);
        assert_eq!(placement_of(&s, "table"), placement_of(&s, "stream"));
        assert_eq!(s.topics["stream"].partitions[2].replicas, vec![3, 1]);

        // A fourth node: the anchor (pinned) stays, so does the follower.
        s.apply(Command::Register(member(4)));
        settle(&mut s);
        elect_preferred(&mut s);
        assert_eq!(placement_of(&s, "table"), placement_of(&s, "stream"));
        // Its node leaving moves the anchor, and the follower with it.
        s.apply(Command::Decommission { node_id: 3 });
        settle(&mut s);
        elect_preferred(&mut s);
        assert_eq!(placement_of(&s, "table"), placement_of(&s, "stream"));
        assert!(s.topics["table"]
            .partitions
            .iter()
            .all(|p| !p.replicas.contains(&3)));
        // Undeployed: the rule goes, the follower (pinned) stays where it is.
        s.apply(Command::Undeploy {
            application_id: "app".into(),
        });
        assert!(planned_moves(&s).is_empty());
    }

    #[test]
    fn a_follower_of_a_ring_placed_anchor_moves_with_it_when_a_node_joins() {
        let mut s = cluster(&[1, 2, 3], 6, 3);
        create_pinned(
            &mut s,
            "changelog",
            9,
            &[
                vec![1, 2, 3],
                vec![2, 3, 1],
                vec![3, 1, 2],
                vec![1, 3, 2],
                vec![2, 1, 3],
                vec![3, 2, 1],
            ],
        );
        colocate(&mut s, "app", &[&["t", "changelog"]]);
        settle(&mut s);
        elect_preferred(&mut s);
        assert_eq!(placement_of(&s, "changelog"), placement_of(&s, "t"));
        s.apply(Command::Register(member(4)));
        assert!(
            planned_moves(&s).iter().any(|m| m.topic == "t"),
            "the ring gives the anchor some partitions on node 4"
        );
        settle(&mut s);
        elect_preferred(&mut s);
        assert_eq!(placement_of(&s, "changelog"), placement_of(&s, "t"));
    }

    #[test]
    fn a_reassigned_partition_moves_to_its_target_and_stays_there() {
        let mut s = cluster(&[1, 2, 3], 4, 2);
        let before = s.topics["t"].partitions[0].replicas.clone();
        let spare = (1..=3)
            .find(|n| !before.contains(n))
            .expect("a node without p0");
        let target = vec![spare, before[1]];
        let reassign = |target: Option<Vec<i32>>| Command::Reassign {
            topic: "t".into(),
            partition: 0,
            target,
        };
        assert_eq!(s.apply(reassign(Some(target.clone()))), Outcome::Done);
        assert_eq!(planned_moves(&s).len(), 1, "only the reassigned partition");
        settle(&mut s);
        assert_eq!(s.topics["t"].partitions[0].replicas, target);
        assert!(s.reassignments.is_empty(), "done: the record goes");
        assert!(
            s.pinned.contains("t"),
            "a reassigned topic stays where it was put"
        );
        s.apply(Command::Register(member(4)));
        assert!(
            planned_moves(&s).is_empty(),
            "a join moves no pinned partition"
        );
        // Bad targets and a cancellation with nothing in flight are refused.
        assert!(matches!(
            s.apply(reassign(Some(vec![1, 1]))),
            Outcome::Refused(Refusal::InvalidAssignment(_))
        ));
        assert!(matches!(
            s.apply(reassign(Some(vec![9]))),
            Outcome::Refused(Refusal::InvalidAssignment(_))
        ));
        assert_eq!(
            s.apply(reassign(None)),
            Outcome::Refused(Refusal::NoReassignment("t".into(), 0))
        );
    }

    #[test]
    fn a_cancelled_reassignment_goes_back_to_where_it_was() {
        let mut s = cluster(&[1, 2, 3], 1, 2);
        let before = s.topics["t"].partitions[0].replicas.clone();
        let spare = (1..=3)
            .find(|n| !before.contains(n))
            .expect("a node without p0");
        s.apply(Command::Reassign {
            topic: "t".into(),
            partition: 0,
            target: Some(vec![spare]),
        });
        // One step: the new replica is added.
        for cmd in next_steps(&s) {
            assert_eq!(s.apply(cmd), Outcome::Done);
        }
        assert_eq!(s.topics["t"].partitions[0].replicas.len(), 3);
        s.apply(Command::Reassign {
            topic: "t".into(),
            partition: 0,
            target: None,
        });
        settle(&mut s);
        assert_eq!(s.topics["t"].partitions[0].replicas, before);
        assert!(s.reassignments.is_empty());
    }

    #[test]
    fn racks_recorded_after_a_placement_move_its_partitions_onto_both_racks() {
        let mut s = cluster(&[1, 2, 3], 12, 2);
        for (node, rack) in [(1, "a"), (2, "a"), (3, "b")] {
            let set = s.apply(Command::SetRack {
                node_id: node,
                rack: Some(rack.into()),
            });
            assert_eq!(set, Outcome::Done);
        }
        settle(&mut s);
        for p in &s.topics["t"].partitions {
            assert!(p.replicas.contains(&3), "{:?} on both racks", p.replicas);
            assert_eq!(p.replicas.len(), 2);
        }
    }

    #[test]
    fn a_colocation_needs_its_deployment() {
        let mut s = cluster(&[1, 2, 3], 1, 1);
        let outcome = s.apply(Command::Colocate {
            application_id: "nope".into(),
            groups: vec![vec!["t".into()]],
        });
        assert_eq!(
            outcome,
            Outcome::Refused(Refusal::UnknownDeployment("nope".into()))
        );
    }

    #[test]
    fn a_move_completes_only_once_the_new_replica_is_in_sync() {
        let mut s = cluster(&[1, 2, 3], 12, 3);
        s.apply(Command::Register(member(4)));
        let first = next_steps(&s);
        assert!(first
            .iter()
            .all(|c| matches!(c, Command::AddReplicas { .. })));
        for cmd in first {
            s.apply(cmd);
        }
        assert!(
            next_steps(&s).is_empty(),
            "nothing completes before the ISR grows"
        );
    }

    #[test]
    fn final_order_keeps_slots() {
        assert_eq!(final_order(&[1, 2, 3], &[2, 3, 4], 3), vec![4, 2, 3]);
        assert_eq!(final_order(&[1, 2, 3, 4], &[2, 3, 4], 3), vec![4, 2, 3]);
        assert_eq!(final_order(&[1, 2], &[1, 2], 2), vec![1, 2]);
    }
}
