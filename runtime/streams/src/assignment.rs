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
/// The version of [`MemberInfo`] and [`AssignmentInfo`]. Version 2 added the member's node
/// and the assignment's task homes; a version-1 member's info does not decode, so it
/// claims nothing (instances of one application run one Eddy version).
const INFO_VERSION: u8 = 2;

/// What a member says about itself when it joins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberInfo {
    /// Format version.
    pub version: u8,
    /// Where the instance serves interactive queries, if it does.
    pub application_server: Option<String>,
    /// The tasks it ran in the previous generation (kept if the balance allows).
    pub owned: Vec<TaskId>,
    /// The node this instance runs in, for an application deployed to the cluster (each
    /// node runs one instance); `None` for a client program. Tasks go to the instance on
    /// the node that leads their input partitions ([`assign_cooperative_by_leader`]).
    pub node: Option<i32>,
    /// The standby tasks it kept in the previous generation (kept again where possible:
    /// their stores are warm).
    pub standbys: Vec<TaskId>,
}

impl MemberInfo {
    /// A member's info in the current format.
    pub fn new(application_server: Option<String>, owned: Vec<TaskId>, node: Option<i32>) -> Self {
        MemberInfo {
            version: INFO_VERSION,
            application_server,
            owned,
            node,
            standbys: Vec::new(),
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
    /// The node leading each task's input partition when the leader assigned by leader
    /// (empty otherwise): members rejoin when the leaders they see differ, so tasks follow
    /// leadership.
    pub homes: BTreeMap<TaskId, i32>,
    /// The member's standby tasks: stateful tasks another member runs, whose stores it
    /// keeps warm from their changelogs.
    pub standbys: Vec<TaskId>,
}

impl AssignmentInfo {
    /// The leader's info for one member in the current format.
    pub fn new(
        tasks: Vec<TaskId>,
        hosts: BTreeMap<TaskId, Option<String>>,
        homes: BTreeMap<TaskId, i32>,
        standbys: Vec<TaskId>,
    ) -> Self {
        AssignmentInfo {
            version: INFO_VERSION,
            tasks,
            hosts,
            homes,
            standbys,
        }
    }
}

/// The first task whose input partition is now led by another node than when the tasks
/// were assigned (`assigned`), with its new leader. A partition without a leader now
/// (`now` lacks it: an election is under way) moves nothing yet.
pub fn moved_home(
    assigned: &BTreeMap<TaskId, i32>,
    now: &BTreeMap<TaskId, i32>,
) -> Option<(TaskId, i32)> {
    now.iter()
        .find(|(task, node)| assigned.get(task) != Some(node))
        .map(|(task, node)| (*task, *node))
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
    withhold_moving(assign_tasks(tasks, members), members)
}

/// Assigns every task to the member running on the node that leads the task's input
/// partition (its *home*, `homes`; `nodes` maps members to their nodes): a stream task sits
/// beside its partition's leader. Among several members of that node, the one that owned
/// the task keeps it, else the one with fewest tasks. Tasks with no member on their home
/// node (or no known home) stay with their previous owner if it is still a member and has
/// less than a fair share (`⌈tasks / members⌉`), else go to the member with fewest tasks. With no members, nothing is assigned.
pub fn assign_by_leader(
    tasks: &[TaskId],
    members: &BTreeMap<String, Vec<TaskId>>,
    nodes: &BTreeMap<String, i32>,
    homes: &BTreeMap<TaskId, i32>,
) -> BTreeMap<String, Vec<TaskId>> {
    let mut assigned: BTreeMap<String, Vec<TaskId>> =
        members.keys().map(|m| (m.clone(), Vec::new())).collect();
    if members.is_empty() {
        return assigned;
    }
    let all: BTreeSet<ByPartition> = tasks.iter().copied().map(ByPartition).collect();
    let owner = |task: &TaskId| members.iter().find(|(_, owned)| owned.contains(task));
    let mut homeless = Vec::new();
    for ByPartition(task) in &all {
        let candidates: Vec<&String> = match homes.get(task) {
            Some(home) => members
                .keys()
                .filter(|m| nodes.get(*m) == Some(home))
                .collect(),
            None => Vec::new(),
        };
        if candidates.is_empty() {
            homeless.push(*task);
            continue;
        }
        let chosen = match owner(task) {
            Some((m, _)) if candidates.contains(&m) => m.clone(),
            _ => fewest(&assigned, candidates.into_iter()),
        };
        assigned.entry(chosen).or_default().push(*task);
    }
    // The homeless: first to their owners, up to a fair share each, then to the fewest.
    let share = all.len().div_ceil(members.len());
    let mut rest = Vec::new();
    for task in homeless {
        match owner(&task) {
            Some((m, _)) if assigned.get(m).map_or(0, Vec::len) < share => {
                assigned.entry(m.clone()).or_default().push(task);
            }
            _ => rest.push(task),
        }
    }
    for task in rest {
        let chosen = fewest(&assigned, members.keys());
        assigned.entry(chosen).or_default().push(task);
    }
    for list in assigned.values_mut() {
        list.sort();
    }
    assigned
}

/// The member among `candidates` with the fewest tasks in `assigned` (the first on a tie).
fn fewest<'a>(
    assigned: &BTreeMap<String, Vec<TaskId>>,
    candidates: impl Iterator<Item = &'a String>,
) -> String {
    candidates
        .min_by_key(|m| assigned.get(*m).map_or(0, Vec::len))
        .cloned()
        .unwrap_or_default()
}

/// The cooperative form of [`assign_by_leader`]: its target, less the tasks another member
/// still runs (revoked first, assigned in the follow-up rebalance).
pub fn assign_cooperative_by_leader(
    tasks: &[TaskId],
    members: &BTreeMap<String, Vec<TaskId>>,
    nodes: &BTreeMap<String, i32>,
    homes: &BTreeMap<TaskId, i32>,
) -> CooperativeAssignment {
    withhold_moving(assign_by_leader(tasks, members, nodes, homes), members)
}

/// KIP-429's rule over a target assignment: a task another member than its target still
/// claims is withheld from everyone this generation.
fn withhold_moving(
    target: BTreeMap<String, Vec<TaskId>>,
    members: &BTreeMap<String, Vec<TaskId>>,
) -> CooperativeAssignment {
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

/// Where the standby tasks go (`num.standby.replicas` = `count`): each stateful task that
/// a member runs (`active`) gets up to `count` standbys on other members — never two on
/// one member, and, for members in nodes (`nodes`), never on the active's node. Preferred,
/// in order: a member on a node holding a replica of the task's input partition, the
/// earlier in `replicas` the better (its ISR first: the next leader is the first other
/// in-sync replica, so a promoted standby is beside its new leader), a member that kept the standby before (`previous`: its store is warm), the
/// member with the fewest tasks, active and standby, so far. Tasks on the move this generation (run by no member
/// in `active`) get none until the follow-up.
pub fn assign_standbys(
    active: &BTreeMap<String, Vec<TaskId>>,
    stateful: &BTreeSet<TaskId>,
    count: usize,
    nodes: &BTreeMap<String, i32>,
    replicas: &BTreeMap<TaskId, Vec<i32>>,
    previous: &BTreeMap<String, Vec<TaskId>>,
) -> BTreeMap<String, Vec<TaskId>> {
    let mut out: BTreeMap<String, Vec<TaskId>> =
        active.keys().map(|m| (m.clone(), Vec::new())).collect();
    if count == 0 {
        return out;
    }
    let owners: BTreeMap<TaskId, &String> = active
        .iter()
        .flat_map(|(m, tasks)| tasks.iter().map(move |t| (*t, m)))
        .collect();
    for task in stateful {
        let Some(owner) = owners.get(task) else {
            continue;
        };
        let owner_node = nodes.get(*owner);
        // Earlier in the list: the more likely next leader.
        let on_replica = |m: &String| {
            nodes
                .get(m)
                .and_then(|n| replicas.get(task)?.iter().position(|r| r == n))
                .unwrap_or(usize::MAX)
        };
        let kept = |m: &String| previous.get(m).is_some_and(|p| p.contains(task));
        let mut candidates: Vec<&String> = active
            .keys()
            .filter(|m| *m != *owner)
            .filter(|m| owner_node.is_none() || nodes.get(*m) != owner_node)
            .collect();
        candidates.sort_by_key(|m| {
            (
                on_replica(m),
                !kept(m),
                out.get(*m).map_or(0, Vec::len) + active.get(*m).map_or(0, Vec::len),
                (*m).clone(),
            )
        });
        let chosen: Vec<String> = candidates.into_iter().take(count).cloned().collect();
        for m in chosen {
            out.entry(m).or_default().push(*task);
        }
    }
    out
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
    fn tasks_go_to_the_member_on_their_leaders_node() {
        let all = tasks(2, 6);
        let claims = members(&[("a", vec![]), ("b", vec![]), ("c", vec![])]);
        let nodes: BTreeMap<String, i32> = [("a", 1), ("b", 2), ("c", 3)]
            .map(|(m, n)| (m.to_string(), n))
            .into();
        // Partition p is led by node p % 3 + 1, for both sub-topologies.
        let homes: BTreeMap<TaskId, i32> = all.iter().map(|t| (*t, t.partition % 3 + 1)).collect();
        let out = assign_by_leader(&all, &claims, &nodes, &homes);
        check_complete_and_balanced(&all, &out);
        for (member, member_tasks) in &out {
            for task in member_tasks {
                assert_eq!(homes[task], nodes[member], "{task} on {member}");
            }
        }
        // Node 3 dies: its partitions are led by node 1 now; its member is gone.
        let mut claims = out.clone();
        claims.remove("c");
        let homes: BTreeMap<TaskId, i32> = all
            .iter()
            .map(|t| {
                (
                    *t,
                    if t.partition % 3 == 2 {
                        1
                    } else {
                        t.partition % 3 + 1
                    },
                )
            })
            .collect();
        let next = assign_cooperative_by_leader(&all, &claims, &nodes, &homes);
        assert!(next.moving.is_empty(), "nobody else runs c's tasks");
        let a: BTreeSet<TaskId> = next.tasks["a"].iter().copied().collect();
        let b_before: BTreeSet<TaskId> = out["b"].iter().copied().collect();
        let b: BTreeSet<TaskId> = next.tasks["b"].iter().copied().collect();
        assert_eq!(b, b_before, "b's tasks did not move");
        assert_eq!(a.len(), 8);
        assert!(
            out["c"].iter().all(|t| a.contains(t)),
            "c's tasks went to node 1"
        );
    }

    #[test]
    fn a_task_whose_leader_moves_is_revoked_then_follows() {
        let all = tasks(1, 2);
        let nodes: BTreeMap<String, i32> =
            [("a", 1), ("b", 2)].map(|(m, n)| (m.to_string(), n)).into();
        let claims = members(&[("a", vec![t(0, 0)]), ("b", vec![t(0, 1)])]);
        // Partition 0's leadership moves to node 2.
        let homes: BTreeMap<TaskId, i32> = [(t(0, 0), 2), (t(0, 1), 2)].into();
        let first = assign_cooperative_by_leader(&all, &claims, &nodes, &homes);
        assert_eq!(first.moving, [t(0, 0)].into());
        assert_eq!(first.tasks["a"], Vec::<TaskId>::new());
        assert_eq!(first.tasks["b"], vec![t(0, 1)]);
        let follow_claims = members(&[("a", vec![]), ("b", vec![t(0, 1)])]);
        let follow = assign_cooperative_by_leader(&all, &follow_claims, &nodes, &homes);
        assert!(follow.moving.is_empty());
        assert_eq!(follow.tasks["b"], vec![t(0, 0), t(0, 1)]);
    }

    #[test]
    fn tasks_without_a_member_on_their_home_stay_or_balance() {
        let all = tasks(1, 4);
        // Node 9 leads everything but runs no instance (its binary lacks the topology).
        let homes: BTreeMap<TaskId, i32> = all.iter().map(|t| (*t, 9)).collect();
        let nodes: BTreeMap<String, i32> =
            [("a", 1), ("b", 2)].map(|(m, n)| (m.to_string(), n)).into();
        let claims = members(&[("a", vec![t(0, 3)]), ("b", vec![])]);
        let out = assign_by_leader(&all, &claims, &nodes, &homes);
        check_complete_and_balanced(&all, &out);
        assert!(
            out["a"].contains(&t(0, 3)),
            "the owner keeps a homeless task"
        );
    }

    #[test]
    fn standbys_go_to_follower_nodes_never_beside_their_active() {
        let nodes: BTreeMap<String, i32> = [("a", 1), ("b", 2), ("c", 3)]
            .map(|(m, n)| (m.to_string(), n))
            .into();
        let active = members(&[
            ("a", vec![t(1, 0)]),
            ("b", vec![t(1, 1)]),
            ("c", vec![t(0, 0)]),
        ]);
        let stateful: BTreeSet<TaskId> = [t(1, 0), t(1, 1)].into();
        // 1_0's partition is on nodes 1 and 3; 1_1's on 2 and 1.
        let replicas: BTreeMap<TaskId, Vec<i32>> =
            [(t(1, 0), vec![1, 3]), (t(1, 1), vec![2, 1])].into();
        let out = assign_standbys(&active, &stateful, 1, &nodes, &replicas, &BTreeMap::new());
        assert_eq!(out["c"], vec![t(1, 0)], "node 3 follows 1_0's partition");
        assert_eq!(out["a"], vec![t(1, 1)], "node 1 follows 1_1's partition");
        assert!(out["b"].is_empty(), "stateless 0_0 has none");
        // Two standbys each: every other node, never the active's.
        let out = assign_standbys(&active, &stateful, 2, &nodes, &replicas, &BTreeMap::new());
        for (m, standbys) in &out {
            for task in standbys {
                assert!(!active[m].contains(task), "{m} runs {task} already");
            }
        }
        assert_eq!(out.values().map(Vec::len).sum::<usize>(), 4);
        // None asked for: none.
        let none = assign_standbys(&active, &stateful, 0, &nodes, &replicas, &BTreeMap::new());
        assert!(none.values().all(Vec::is_empty));
    }

    #[test]
    fn client_program_standbys_stay_where_they_were_warm() {
        let active = members(&[("a", vec![t(0, 0)]), ("b", vec![t(0, 1)]), ("c", vec![])]);
        let stateful: BTreeSet<TaskId> = [t(0, 0), t(0, 1)].into();
        let previous = members(&[("b", vec![t(0, 0)])]);
        let out = assign_standbys(
            &active,
            &stateful,
            1,
            &BTreeMap::new(),
            &BTreeMap::new(),
            &previous,
        );
        assert_eq!(out["b"], vec![t(0, 0)], "b's store of 0_0 is warm");
        assert_eq!(out["c"], vec![t(0, 1)], "the least loaded other member");
    }

    #[test]
    fn only_a_known_new_leader_moves_a_task() {
        let assigned: BTreeMap<TaskId, i32> = [(t(0, 0), 1), (t(0, 1), 2)].into();
        assert_eq!(moved_home(&assigned, &assigned), None);
        let electing: BTreeMap<TaskId, i32> = [(t(0, 1), 2)].into();
        assert_eq!(moved_home(&assigned, &electing), None);
        let moved: BTreeMap<TaskId, i32> = [(t(0, 0), 3), (t(0, 1), 2)].into();
        assert_eq!(moved_home(&assigned, &moved), Some((t(0, 0), 3)));
    }

    #[test]
    fn infos_round_trip_and_foreign_bytes_are_refused() {
        let info = MemberInfo::new(Some("127.0.0.1:7070".into()), vec![t(1, 2)], Some(3));
        assert_eq!(decode::<MemberInfo>(&encode(&info)), Some(info));
        let assignment = AssignmentInfo {
            version: INFO_VERSION,
            tasks: vec![t(0, 0)],
            hosts: [(t(0, 0), None), (t(0, 1), Some("h:1".into()))].into(),
            homes: [(t(0, 0), 2)].into(),
            standbys: vec![t(1, 1)],
        };
        assert_eq!(
            decode::<AssignmentInfo>(&encode(&assignment)),
            Some(assignment)
        );
        assert_eq!(decode::<MemberInfo>(&[0xff, 0xff, 0xff]), None);
    }
}
