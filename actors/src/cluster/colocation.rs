//! Co-partitioned topics on one replica set. A deployed topology's co-partition groups (a
//! sub-topology's sources — both sides of a join — and its changelogs) are recorded in the
//! metadata (`Command::Colocate`); the controller then moves every other topic of a group
//! onto the replicas of the group's anchor, partition by partition and in the same order
//! (so the preferred leader, and with it the task reading partition *i* of them all, is
//! one node). Pure: [`rebalance::planned_moves`](super::rebalance::planned_moves) asks
//! [`anchors`] who follows whom and [`follow`] where a follower's partition goes, and the
//! moves themselves are the usual safe ones (add, catch up, then drop).

use std::collections::BTreeMap;

use super::state::ClusterState;

/// For every topic that follows another, the topic it follows: the anchor of its group,
/// the group's first existing topic (deployments in application-id order). Groups sharing
/// a topic merge under the anchor met first, so every answer is an anchor that follows
/// nobody. Topics that do not exist yet are left out.
pub fn anchors(state: &ClusterState) -> BTreeMap<String, String> {
    let mut parent: BTreeMap<String, String> = BTreeMap::new();
    // When each topic was first met: of two merging groups, the earlier anchor stays.
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for groups in state.colocations.values() {
        for group in groups {
            let existing: Vec<&String> = group
                .iter()
                .filter(|t| state.topics.contains_key(*t))
                .collect();
            for topic in &existing {
                let next = seen.len();
                seen.entry((*topic).clone()).or_insert(next);
            }
            let roots: Vec<String> = existing.iter().map(|t| root(&parent, t)).collect();
            let Some(anchor) = roots.iter().min_by_key(|r| seen[*r]).cloned() else {
                continue;
            };
            for other in roots {
                if other != anchor {
                    parent.insert(other, anchor.clone());
                }
            }
        }
    }
    let followers: Vec<String> = parent.keys().cloned().collect();
    followers
        .into_iter()
        .map(|t| {
            let anchor = root(&parent, &t);
            (t, anchor)
        })
        .filter(|(t, anchor)| t != anchor)
        .collect()
}

/// The topic at the end of `topic`'s chain of followed topics.
fn root(parent: &BTreeMap<String, String>, topic: &str) -> String {
    let mut at = topic.to_string();
    // Every link points to an earlier root, so a chain is never longer than the map.
    for _ in 0..=parent.len() {
        match parent.get(&at) {
            Some(next) if *next != at => at = next.clone(),
            _ => break,
        }
    }
    at
}

/// The replicas, preferred leader first, of a follower's partition whose anchor partition
/// goes to `anchor`: the anchor's first `factor` replicas in its order; a follower with a
/// higher replication factor than its anchor takes the rest from `extra` (its own ring
/// placement), skipping nodes it already has.
pub fn follow(anchor: &[i32], factor: usize, extra: &[i32]) -> Vec<i32> {
    let mut out: Vec<i32> = anchor.iter().copied().take(factor).collect();
    for node in extra {
        if out.len() >= factor {
            break;
        }
        if !out.contains(node) {
            out.push(*node);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{DeploymentRecord, TopicRecord};
    use crate::topic_config::TopicConfig;

    fn state(topics: &[&str], groups: &[(&str, &[&[&str]])]) -> ClusterState {
        let mut s = ClusterState::default();
        for t in topics {
            s.topics.insert(
                t.to_string(),
                TopicRecord {
                    name: t.to_string(),
                    id: [0; 16],
                    replication_factor: 1,
                    partitions: Vec::new(),
                    config: TopicConfig::default(),
                },
            );
        }
        for (app, gs) in groups {
            s.deployments.insert(
                app.to_string(),
                DeploymentRecord {
                    application_id: app.to_string(),
                    topology: "t".into(),
                    configs: BTreeMap::new(),
                    deployed_at_ms: 0,
                },
            );
            s.colocations.insert(
                app.to_string(),
                gs.iter()
                    .map(|g| g.iter().map(|t| t.to_string()).collect())
                    .collect(),
            );
        }
        s
    }

    fn pairs(map: &BTreeMap<String, String>) -> Vec<(&str, &str)> {
        map.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
    }

    #[test]
    fn a_group_follows_its_first_existing_topic() {
        let s = state(
            &["payments", "users", "app-c"],
            &[(
                "app",
                &[&["ghost", "payments", "users", "app-c"], &["alone"]],
            )],
        );
        assert_eq!(
            pairs(&anchors(&s)),
            vec![("app-c", "payments"), ("users", "payments")]
        );
    }

    #[test]
    fn groups_sharing_a_topic_merge_under_the_first_anchor() {
        // a's group anchors on x; b's group [y, x, z] shares x, so y (b's anchor) follows x.
        let s = state(
            &["x", "y", "z", "w"],
            &[("a", &[&["x", "w"]]), ("b", &[&["y", "x", "z"]])],
        );
        assert_eq!(
            pairs(&anchors(&s)),
            vec![("w", "x"), ("y", "x"), ("z", "x")]
        );
        // No cycle whatever the groups say.
        let s = state(&["x", "y"], &[("a", &[&["x", "y"]]), ("b", &[&["y", "x"]])]);
        assert_eq!(pairs(&anchors(&s)), vec![("y", "x")]);
    }

    #[test]
    fn a_follower_takes_its_anchors_replicas_in_order() {
        assert_eq!(follow(&[3, 1, 2], 3, &[1, 2, 3]), vec![3, 1, 2]);
        assert_eq!(follow(&[3, 1, 2], 1, &[1]), vec![3]);
        assert_eq!(follow(&[3], 2, &[3, 2]), vec![3, 2]);
        assert_eq!(follow(&[3], 3, &[3]), vec![3], "no more nodes to take");
    }
}
