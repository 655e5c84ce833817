//! How the instances of one application split its tasks: what each member tells the group
//! when it joins, what the leader sends back, and the leader's assignment itself.
//!
//! The instances join the consumer group named after the application id, like Kafka
//! Streams' `StreamsPartitionAssignor`: each member's subscription carries a
//! [`MemberInfo`] (postcard) with its `application.server` and the tasks it ran in the last
//! generation; the leader assigns every task to exactly one member — balanced (counts
//! differ by at most one) and sticky (a member keeps what it had, within its share) — and
//! each member's assignment carries an [`AssignmentInfo`] with its tasks and where every
//! task of the application runs, so interactive queries of keys of another instance's
//! tasks can be sent there. The consumer-protocol partitions of each assignment are the
//! source partitions of the member's tasks, so `eddy group describe` and Kafka's tools
//! show who reads what.

use std::collections::{BTreeMap, BTreeSet};

use eddy_topologies::TaskId;
use serde::{Deserialize, Serialize};

/// The group protocol (assignor) name, as Kafka Streams registers `stream`.
pub const PROTOCOL_NAME: &str = "eddy-streams";
/// The version of [`MemberInfo`] and [`AssignmentInfo`].
const INFO_VERSION: u8 = 1;

/// What a member says about itself when it joins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberInfo {
    /// Format version.
    pub version: u8,
    /// Where the instance serves interactive queries, if it does.
    pub application_server: Option<String>,
    /// The tasks it ran in the previous generation (kept if the balance allows).
    pub owned: Vec<TaskId>,
}

impl MemberInfo {
    /// A member's info in the current format.
    pub fn new(application_server: Option<String>, owned: Vec<TaskId>) -> Self {
        MemberInfo {
            version: INFO_VERSION,
            application_server,
            owned,
        }
    }
}

/// What the leader tells each member.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssignmentInfo {
    /// Format version.
    pub version: u8,
    /// The member's tasks.
    pub tasks: Vec<TaskId>,
    /// Every task of the application with the `application.server` of the member running
    /// it (`None`: that member serves no queries).
    pub hosts: BTreeMap<TaskId, Option<String>>,
}

/// Encodes a member's or the leader's info for the group protocol's user data.
pub fn encode<T: Serialize>(info: &T) -> Vec<u8> {
    // Plain structs of strings and integers always serialize.
    postcard::to_allocvec(info).unwrap_or_default()
}

/// Decodes user data written by `encode`; `None` if it is not (another assignor's member).
pub fn decode<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Option<T> {
    postcard::from_bytes(bytes).ok()
}

/// Assigns every task of `tasks` to exactly one member of `members` (member id → the tasks
/// it owned before). Counts differ by at most one; a member keeps the tasks it owned up to
/// its share; the rest go to the members with the fewest tasks. Tasks are taken by
/// partition first (`0_0, 1_0, 0_1, 1_1, …`), so the tasks of one partition tend to stay
/// together and every member gets some of each sub-topology — the stateful ones
/// included. With no members, nothing is assigned.
pub fn assign_tasks(
    tasks: &[TaskId],
    members: &BTreeMap<String, Vec<TaskId>>,
) -> BTreeMap<String, Vec<TaskId>> {
    let mut assigned: BTreeMap<String, Vec<TaskId>> =
        members.keys().map(|m| (m.clone(), Vec::new())).collect();
    if members.is_empty() {
        return assigned;
    }
    let all: BTreeSet<ByPartition> = tasks.iter().copied().map(ByPartition).collect();
    let count = members.len();
    let base = all.len() / count;
    let extra = all.len() % count;
    // The first `extra` members to claim a share above `base` get one more.
    let mut above_base = 0;
    let mut taken = BTreeSet::new();
    for (member, owned) in members {
        let mut kept: Vec<ByPartition> = owned
            .iter()
            .copied()
            .map(ByPartition)
            .filter(|t| all.contains(t) && !taken.contains(t))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let share = if kept.len() > base && above_base < extra {
            above_base += 1;
            base + 1
        } else {
            base
        };
        kept.truncate(share);
        taken.extend(kept.iter().copied());
        assigned.insert(member.clone(), kept.into_iter().map(|t| t.0).collect());
    }
    // The rest fill the members in order, each up to its share: consecutive tasks (one
    // partition's) land together.
    let mut rest = all.iter().filter(|t| !taken.contains(t));
    for list in assigned.values_mut() {
        while list.len() < base {
            let Some(task) = rest.next() else { break };
            list.push(task.0);
        }
        if list.len() == base && above_base < extra {
            if let Some(task) = rest.next() {
                list.push(task.0);
                above_base += 1;
            }
        }
    }
    for list in assigned.values_mut() {
        list.sort();
    }
    assigned
}

/// A task ordered by partition, then sub-topology.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ByPartition(TaskId);

impl Ord for ByPartition {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.0.partition, self.0.subtopology).cmp(&(other.0.partition, other.0.subtopology))
    }
}

impl PartialOrd for ByPartition {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(subtopology: u32, partition: i32) -> TaskId {
        TaskId {
            subtopology,
            partition,
        }
    }

    fn tasks(subtopologies: u32, partitions: i32) -> Vec<TaskId> {
        (0..subtopologies)
            .flat_map(|s| (0..partitions).map(move |p| t(s, p)))
            .collect()
    }

    fn members(owned: &[(&str, Vec<TaskId>)]) -> BTreeMap<String, Vec<TaskId>> {
        owned
            .iter()
            .map(|(m, ts)| (m.to_string(), ts.clone()))
            .collect()
    }

    /// Every task exactly once, counts within one of each other.
    fn check_complete_and_balanced(all: &[TaskId], out: &BTreeMap<String, Vec<TaskId>>) {
        let mut seen: Vec<TaskId> = out.values().flatten().copied().collect();
        seen.sort();
        let mut expected = all.to_vec();
        expected.sort();
        assert_eq!(seen, expected, "every task exactly once: {out:?}");
        let sizes: Vec<usize> = out.values().map(Vec::len).collect();
        let (min, max) = (sizes.iter().min(), sizes.iter().max());
        assert!(max.zip(min).is_some_and(|(a, b)| a - b <= 1), "{sizes:?}");
    }

    #[test]
    fn fresh_members_split_the_tasks_evenly() {
        for (subs, parts, n) in [(2, 3, 2), (1, 1, 3), (2, 4, 3), (3, 5, 4), (1, 8, 1)] {
            let all = tasks(subs, parts);
            let names: Vec<(String, Vec<TaskId>)> =
                (0..n).map(|i| (format!("m{i}"), Vec::new())).collect();
            let ms: BTreeMap<String, Vec<TaskId>> = names.into_iter().collect();
            let out = assign_tasks(&all, &ms);
            assert_eq!(out.len(), n);
            check_complete_and_balanced(&all, &out);
        }
        assert!(assign_tasks(&tasks(1, 2), &BTreeMap::new()).is_empty());
    }

    #[test]
    fn members_keep_their_tasks_when_the_balance_allows() {
        let all = tasks(2, 2); // 0_0 0_1 1_0 1_1
        let before = members(&[("a", vec![t(0, 1), t(1, 1)]), ("b", vec![t(0, 0), t(1, 0)])]);
        let out = assign_tasks(&all, &before);
        assert_eq!(out, before, "a stable group keeps its assignment");

        // A third member joins: each old member gives up at most what the balance needs.
        let mut joined = before.clone();
        joined.insert("c".into(), Vec::new());
        let out = assign_tasks(&all, &joined);
        check_complete_and_balanced(&all, &out);
        for m in ["a", "b"] {
            let kept = out[m].iter().filter(|t| before[m].contains(t)).count();
            assert_eq!(kept, out[m].len(), "{m} only has tasks it had: {out:?}");
            assert!(!out[m].is_empty());
        }
        assert_eq!(out["c"].len(), 1);

        // A member leaves: the survivor keeps its own and takes the rest.
        let left = members(&[("a", before["a"].clone())]);
        let out = assign_tasks(&all, &left);
        assert_eq!(out["a"], all);
    }

    #[test]
    fn every_member_gets_tasks_of_every_sub_topology() {
        let all = tasks(2, 2);
        // One member ran everything; a second joins.
        let ms = members(&[("a", all.clone()), ("b", Vec::new())]);
        let out = assign_tasks(&all, &ms);
        assert_eq!(out["a"], vec![t(0, 0), t(1, 0)], "{out:?}");
        assert_eq!(out["b"], vec![t(0, 1), t(1, 1)], "{out:?}");
        let fresh = members(&[("a", Vec::new()), ("b", Vec::new())]);
        let out = assign_tasks(&all, &fresh);
        assert_eq!(out["a"], vec![t(0, 0), t(1, 0)], "{out:?}");
    }

    #[test]
    fn claims_on_the_same_or_vanished_tasks_are_settled() {
        let all = tasks(1, 2);
        // Both claim 0_0 (a stale owner), one claims a task that no longer exists.
        let ms = members(&[("a", vec![t(0, 0), t(5, 0)]), ("b", vec![t(0, 0)])]);
        let out = assign_tasks(&all, &ms);
        check_complete_and_balanced(&all, &out);
        assert_eq!(out["a"], vec![t(0, 0)]);
        assert_eq!(out["b"], vec![t(0, 1)]);
    }

    #[test]
    fn infos_round_trip_and_foreign_bytes_are_refused() {
        let info = MemberInfo::new(Some("127.0.0.1:7070".into()), vec![t(1, 2)]);
        assert_eq!(decode::<MemberInfo>(&encode(&info)), Some(info));
        let assignment = AssignmentInfo {
            version: INFO_VERSION,
            tasks: vec![t(0, 0)],
            hosts: [(t(0, 0), None), (t(0, 1), Some("h:1".into()))].into(),
        };
        assert_eq!(
            decode::<AssignmentInfo>(&encode(&assignment)),
            Some(assignment)
        );
        assert_eq!(decode::<MemberInfo>(&[0xff, 0xff, 0xff]), None);
    }
}
