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
//!
//! Rebalancing is cooperative (Kafka's KIP-429, as Kafka Streams does since 2.4, over the
//! same classic JoinGroup/SyncGroup protocol): members keep running their tasks while
//! they rejoin, and [`assign_cooperative`] hands out the balanced, sticky target of
//! [`assign_tasks`] except the tasks that another member still runs. Such a task is only
//! revoked from its owner in this generation; the owner stops it (committing its
//! progress), rejoins at once, and the follow-up rebalance gives it to its new member. A
//! task never runs in two members at once, and tasks that do not move never stop.

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

/// One generation's assignment under cooperative rebalancing.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CooperativeAssignment {
    /// Each member's tasks in this generation: its part of the target that no other
    /// member runs now.
    pub tasks: BTreeMap<String, Vec<TaskId>>,
    /// Tasks the target gives to another member than the one running them: in nobody's
    /// assignment this generation. Their owners revoke them and rejoin; the follow-up
    /// rebalance assigns them.
    pub moving: BTreeSet<TaskId>,
}

/// The leader's cooperative assignment (KIP-429): the balanced, sticky target of
/// [`assign_tasks`], except that a task claimed by a member other than its target member
/// is withheld (`moving`) until no other member claims it. A member's own tasks missing
/// from its assignment are the ones it must revoke ([`changes`]). Tasks of members that
/// left (or died) are claimed by nobody and are assigned at once.
pub fn assign_cooperative(
    tasks: &[TaskId],
    members: &BTreeMap<String, Vec<TaskId>>,
) -> CooperativeAssignment {
    let target = assign_tasks(tasks, members);
    let mut out = CooperativeAssignment::default();
    for (member, member_tasks) in target {
        let (free, moving): (Vec<TaskId>, Vec<TaskId>) =
            member_tasks.into_iter().partition(|task| {
                !members
                    .iter()
                    .any(|(other, owned)| *other != member && owned.contains(task))
            });
        out.moving.extend(moving);
        out.tasks.insert(member, free);
    }
    out
}

/// What a member does with a new assignment, given the tasks it ran: the tasks to revoke
/// (it ran them, they are not in its assignment) and the tasks to start (in its
/// assignment, it did not run them), each sorted. A member that revoked anything rejoins
/// at once: its revoked tasks go to their new members in the follow-up rebalance.
pub fn changes(owned: &[TaskId], assigned: &[TaskId]) -> (Vec<TaskId>, Vec<TaskId>) {
    let owned: BTreeSet<TaskId> = owned.iter().copied().collect();
    let assigned: BTreeSet<TaskId> = assigned.iter().copied().collect();
    (
        owned.difference(&assigned).copied().collect(),
        assigned.difference(&owned).copied().collect(),
    )
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

    /// Every task in at most one assignment, and none in a member's assignment while
    /// another member claims it.
    fn check_no_task_given_while_owned(
        claims: &BTreeMap<String, Vec<TaskId>>,
        out: &CooperativeAssignment,
    ) {
        let mut seen = BTreeSet::new();
        for (member, tasks) in &out.tasks {
            for task in tasks {
                assert!(seen.insert(*task), "{task} assigned twice: {out:?}");
                assert!(!out.moving.contains(task), "{task} both moving and given");
                for (other, owned) in claims {
                    assert!(
                        other == member || !owned.contains(task),
                        "{task} given to {member} while {other} runs it: {out:?}"
                    );
                }
            }
        }
    }

    /// Plays the members' side: each revokes what it lost and keeps what it was given.
    fn after_revocations(out: &CooperativeAssignment) -> BTreeMap<String, Vec<TaskId>> {
        out.tasks.clone()
    }

    #[test]
    fn a_joining_member_gets_moved_tasks_only_after_their_owner_revoked_them() {
        let all = tasks(2, 4); // 8 tasks
        let first_claims = members(&[("a", all.clone()), ("b", Vec::new())]);
        let first = assign_cooperative(&all, &first_claims);
        check_no_task_given_while_owned(&first_claims, &first);
        let target = assign_tasks(&all, &first_claims);
        // a keeps exactly its part of the target; b gets nothing yet.
        assert_eq!(first.tasks["a"], target["a"], "{first:?}");
        assert!(first.tasks["b"].is_empty(), "{first:?}");
        assert_eq!(
            first.moving,
            target["b"].iter().copied().collect::<BTreeSet<_>>()
        );
        // a revokes only what must move, and starts nothing.
        let (revoked, started) = changes(&first_claims["a"], &first.tasks["a"]);
        assert_eq!(revoked, target["b"], "only the moving tasks are revoked");
        assert!(started.is_empty());
        assert_eq!(revoked.len(), 4);

        // The follow-up: a rejoins without them, b gets them, a keeps its own.
        let follow_claims = after_revocations(&first);
        let follow = assign_cooperative(&all, &follow_claims);
        check_no_task_given_while_owned(&follow_claims, &follow);
        assert!(follow.moving.is_empty(), "{follow:?}");
        assert_eq!(follow.tasks, target, "the follow-up reaches the target");
        check_complete_and_balanced(&all, &follow.tasks);
        let (revoked, started) = changes(&follow_claims["a"], &follow.tasks["a"]);
        assert!(
            revoked.is_empty() && started.is_empty(),
            "a never stops a task"
        );
        let (revoked, started) = changes(&follow_claims["b"], &follow.tasks["b"]);
        assert!(revoked.is_empty());
        assert_eq!(started, target["b"]);

        // Stable: a third assignment changes nothing.
        let again = assign_cooperative(&all, &follow.tasks);
        assert_eq!(again.tasks, follow.tasks);
        assert!(again.moving.is_empty());
    }

    #[test]
    fn a_departed_members_tasks_are_assigned_at_once() {
        let all = tasks(2, 4);
        let before = members(&[
            ("a", vec![t(0, 0), t(1, 0), t(0, 1), t(1, 1)]),
            ("b", vec![t(0, 2), t(1, 2), t(0, 3), t(1, 3)]),
        ]);
        let stable = assign_cooperative(&all, &before);
        for (m, owned) in &before {
            let mut owned = owned.clone();
            owned.sort();
            assert_eq!(
                stable.tasks[m], owned,
                "a stable group keeps its assignment"
            );
        }
        assert!(stable.moving.is_empty());
        // b left (or died): nobody claims its tasks, so a gets them without a follow-up.
        let left = members(&[("a", before["a"].clone())]);
        let out = assign_cooperative(&all, &left);
        assert!(out.moving.is_empty(), "{out:?}");
        assert_eq!(out.tasks["a"], all);
        let (revoked, started) = changes(&left["a"], &out.tasks["a"]);
        assert!(revoked.is_empty(), "a keeps its own tasks running");
        let mut of_b = before["b"].clone();
        of_b.sort();
        assert_eq!(started, of_b);

        // Of three members, one leaves: the two others split its tasks at once, each
        // keeping its own.
        let three = members(&[
            ("a", vec![t(0, 0), t(1, 0), t(0, 1)]),
            ("b", vec![t(1, 1), t(0, 2), t(1, 2)]),
        ]);
        let out = assign_cooperative(&all, &three);
        assert!(out.moving.is_empty(), "{out:?}");
        check_complete_and_balanced(&all, &out.tasks);
        for m in ["a", "b"] {
            assert!(three[m].iter().all(|t| out.tasks[m].contains(t)), "{out:?}");
        }
    }

    /// Groups of up to five members with every kind of claim (one member ran everything,
    /// members joined, left, or claim the same task) reach a complete, balanced target in
    /// at most two rounds, never give a task another member runs, and never revoke a
    /// task that stays with its owner.
    #[test]
    fn cooperative_rounds_converge_without_overlap() {
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move |bound: u64| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 33) % bound
        };
        for round in 0..500 {
            let all = tasks(1 + next(3) as u32, 1 + next(6) as i32);
            let count = 1 + next(5) as usize;
            let mut claims: BTreeMap<String, Vec<TaskId>> = BTreeMap::new();
            for i in 0..count {
                let owned: Vec<TaskId> = all.iter().copied().filter(|_| next(3) == 0).collect();
                claims.insert(format!("m{i}"), owned);
            }
            let first = assign_cooperative(&all, &claims);
            check_no_task_given_while_owned(&claims, &first);
            let target = assign_tasks(&all, &claims);
            for (member, owned) in &claims {
                let (revoked, _) = changes(owned, &first.tasks[member]);
                // A task two members claim (a stale claim) is withheld from both.
                for task in revoked {
                    let contested = claims
                        .iter()
                        .any(|(other, o)| other != member && o.contains(&task));
                    assert!(
                        contested || !target[member].contains(&task),
                        "round {round}: {member} revokes {task} the target leaves it"
                    );
                }
            }
            let follow_claims = after_revocations(&first);
            let follow = assign_cooperative(&all, &follow_claims);
            check_no_task_given_while_owned(&follow_claims, &follow);
            assert!(follow.moving.is_empty(), "round {round}: {follow:?}");
            check_complete_and_balanced(&all, &follow.tasks);
            for (member, owned) in &follow_claims {
                let (revoked, _) = changes(owned, &follow.tasks[member]);
                assert!(
                    revoked.is_empty(),
                    "round {round}: {member} revokes {revoked:?}"
                );
            }
        }
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
