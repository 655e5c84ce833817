//! The instance's membership in its application's consumer group: the loop that joins the
//! group named after the application id, hands the tasks the leader assigned to the
//! TopologySupervisor, heartbeats, and rejoins when the group rebalances. See
//! [`assignment`](super::assignment) for what the members exchange.
//!
//! Rebalancing is cooperative (Kafka's KIP-429): the instance keeps running its tasks while
//! it rejoins and sends them as the tasks it owns. After each generation's assignment it
//! revokes only the tasks it lost — each commits its progress, then stops — starts the
//! ones it gained, and, if it revoked anything, rejoins at once (Kafka's
//! `ConsumerCoordinator#onJoinComplete` requesting a rejoin): the follow-up rebalance gives
//! the revoked tasks to their new members, which cannot get them before this instance
//! stopped them, so a task never runs in two instances at once. Tasks it keeps never stop.
//!
//! An instance the group dropped (a heartbeat or a join answered UNKNOWN_MEMBER_ID or
//! ILLEGAL_GENERATION, or a join that failed) has lost its tasks, as Kafka's
//! `onPartitionsLost`: they may run elsewhere already, so they stop without committing and
//! the instance rejoins owning nothing.
//!
//! Tasks commit their input offsets as this member of the current generation, which they
//! read from [`Membership`] at each commit (so a task kept across a rebalance commits as
//! the new generation); a commit from a generation the group has left behind is refused by
//! the coordinator, so a task that outlived its assignment cannot overwrite its successor's
//! progress.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::Addr;
use eddy_actors::supervision::Backoff;
use eddy_topologies::{TaskId, Topology};
use tokio::sync::{oneshot, watch};

use super::assignment::{self, AssignmentInfo, MemberInfo};
use super::topology_supervisor::{AssignTasks, RevokeTasks, TopologySupervisor};
use eddy_client::{
    Admin, Assignment, ClientError, GroupMembership, HeartbeatOutcome, JoinedMember, MemberConfig,
    ResponseError, Subscription,
};

/// Waits after a failed join before the next, doubling up to the session timeout.
const JOIN_BACKOFF_MS_MIN: u64 = 200;

/// Who the instance is in the group's current generation: what its tasks commit as. One
/// value shared by the membership loop, which moves it to each new generation, and the
/// running tasks, which read it at each commit.
#[derive(Debug, Clone)]
pub struct Membership {
    // A lock rather than a channel: tasks only ever want the latest value, once per
    // commit; the loop holds it only to overwrite it.
    current: Arc<Mutex<(String, i32)>>,
}

impl Default for Membership {
    fn default() -> Self {
        Membership {
            current: Arc::new(Mutex::new((String::new(), NO_GENERATION))),
        }
    }
}

impl Membership {
    /// The member id and generation to commit as now (`("", -1)` before the first
    /// generation).
    pub fn current(&self) -> (String, i32) {
        self.current
            .lock()
            .map(|c| c.clone())
            .unwrap_or_else(|poisoned| poisoned.into_inner().clone())
    }

    /// The instance entered generation `generation_id` as `member_id`.
    fn enter(&self, member_id: &str, generation_id: i32) {
        let mut current = self
            .current
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *current = (member_id.to_string(), generation_id);
    }
}

/// The generation of an instance outside the group.
const NO_GENERATION: i32 = -1;

/// Why the instance rejoins.
enum Rejoin {
    /// The group rebalances: the instance keeps its tasks and rejoins with them.
    Rebalance,
    /// The group no longer counts the instance in its generation: its tasks are lost.
    Lost(String),
}

/// The tasks of the application and the source partitions each reads.
#[derive(Debug, Clone)]
pub(crate) struct TaskPlan {
    /// Every task, with its source topics (full names).
    pub(crate) tasks: BTreeMap<TaskId, Vec<String>>,
    /// The tasks with state stores: those that get standbys.
    pub(crate) stateful: BTreeSet<TaskId>,
    /// `num.standby.replicas`.
    pub(crate) standby_replicas: usize,
}

impl TaskPlan {
    /// The tasks of `topology` given each sub-topology's partition count.
    pub(crate) fn new(
        topology: &Topology,
        application_id: &str,
        tasks: &[TaskId],
        standby_replicas: usize,
    ) -> Self {
        let stateful_subtopologies: BTreeSet<u32> = topology
            .store_names()
            .iter()
            .filter_map(|name| topology.store_owner(name).map(|(s, _)| s))
            .collect();
        let stateful = tasks
            .iter()
            .filter(|t| stateful_subtopologies.contains(&t.subtopology))
            .copied()
            .collect();
        let tasks = tasks
            .iter()
            .map(|t| (*t, topology.source_topics(t.subtopology, application_id)))
            .collect();
        TaskPlan {
            tasks,
            stateful,
            standby_replicas,
        }
    }

    fn ids(&self) -> Vec<TaskId> {
        self.tasks.keys().copied().collect()
    }

    fn topics(&self) -> Vec<String> {
        let mut topics: Vec<String> = self.tasks.values().flatten().cloned().collect();
        topics.sort();
        topics.dedup();
        topics
    }

    /// The source partitions of `tasks`, by topic: what the member "consumes" in the
    /// consumer protocol's terms.
    fn partitions(&self, tasks: &[TaskId]) -> BTreeMap<String, Vec<i32>> {
        let mut out: BTreeMap<String, Vec<i32>> = BTreeMap::new();
        for task in tasks {
            for topic in self.tasks.get(task).into_iter().flatten() {
                out.entry(topic.clone()).or_default().push(task.partition);
            }
        }
        for partitions in out.values_mut() {
            partitions.sort_unstable();
            partitions.dedup();
        }
        out
    }
}

/// What the loop needs besides the group.
pub(crate) struct MemberLoop {
    pub(crate) member: GroupMembership,
    pub(crate) plan: TaskPlan,
    pub(crate) supervisor: Addr<TopologySupervisor>,
    pub(crate) application_server: Option<String>,
    /// The node this instance runs in (an application deployed to the cluster), whose
    /// tasks follow their partitions' leaders; `None` for a client program.
    pub(crate) node: Option<i32>,
    /// Reads partition leaders (in-node instances only); connected on first use.
    pub(crate) leaders: Leaders,
    /// The standby tasks this instance keeps now (sent when it rejoins, to keep them).
    pub(crate) standbys: Vec<TaskId>,
    /// The tasks this instance runs now, for `KafkaStreams::tasks`.
    pub(crate) assigned: Arc<Mutex<Vec<TaskId>>>,
    /// Counts the generations this instance took part in; 0 before the first assignment.
    pub(crate) generations: watch::Sender<u64>,
}

impl MemberLoop {
    /// Runs until `shutdown` fires (then commits and stops the tasks and leaves the group)
    /// or the supervisor is gone.
    pub(crate) async fn run(mut self, mut shutdown: oneshot::Receiver<()>) {
        let mut owned: Vec<TaskId> = Vec::new();
        let membership = Membership::default();
        let mut backoff = Backoff::new(
            Duration::from_millis(JOIN_BACKOFF_MS_MIN),
            Duration::from_millis(self.member.config().session_timeout_ms),
        );
        loop {
            let member_before = self.member.member_id().to_string();
            let joined = tokio::select! {
                _ = &mut shutdown => break,
                joined = self.join(&owned) => joined,
            };
            let (generation, info) = match joined {
                Ok(joined) => joined,
                Err(err) => {
                    tracing::warn!(group = self.member.group_id(), error = %err, "could not join the application's group; retrying");
                    // The group may have gone on without this member.
                    if !self.lose(&mut owned, "the join failed").await {
                        return;
                    }
                    let wait = backoff.next_pause();
                    tokio::select! {
                        _ = &mut shutdown => break,
                        _ = tokio::time::sleep(wait) => continue,
                    }
                }
            };
            backoff.reset();
            let homes = info.homes.clone();
            // The coordinator forgot this member during the join (UNKNOWN_MEMBER_ID) and it
            // joined again as a new one: the group went on without it, so the tasks it
            // claimed may have run elsewhere meanwhile. They are lost — their progress is
            // not committed — and whatever it was given starts afresh.
            let dropped = !member_before.is_empty() && member_before != self.member.member_id();
            let why = "the group dropped this member while it rejoined";
            if dropped && !self.lose(&mut owned, why).await {
                return;
            }
            membership.enter(self.member.member_id(), generation);
            let Some(revoked) = self.apply(generation, &mut owned, info, &membership).await else {
                return;
            };
            if !revoked.is_empty() {
                // KIP-429's follow-up rebalance: the revoked tasks are stopped and
                // committed; rejoining now lets the leader give them to their new members.
                tracing::info!(
                    group = self.member.group_id(),
                    generation,
                    revoked = revoked.len(),
                    "rejoining at once so the revoked tasks go to their new owners"
                );
                continue;
            }
            let rejoin = tokio::select! {
                _ = &mut shutdown => break,
                rejoin = self.heartbeat_until_rebalance(&homes) => rejoin,
            };
            if let Rejoin::Lost(why) = rejoin {
                if !self.lose(&mut owned, &why).await {
                    return;
                }
            }
        }
        // Closing: the tasks commit their progress and stop, then the instance leaves, so
        // the others take the tasks over at once, from where these left off.
        if !owned.is_empty() {
            let names = names(&owned);
            tracing::info!(group = self.member.group_id(), tasks = %names, "stream tasks revoked: the instance closes");
        }
        let revoke = RevokeTasks {
            tasks: owned,
            commit: true,
        };
        let _ = self.supervisor.send(revoke).await;
        if let Ok(mut assigned) = self.assigned.lock() {
            assigned.clear();
        }
        if let Err(err) = self.member.leave().await {
            tracing::debug!(error = %err, "could not leave the application's group");
        }
    }

    /// Carries out this member's part of a new generation: revokes (commit, then stop)
    /// the tasks it lost, starts the ones it gained, and keeps the rest running. Returns
    /// the revoked tasks, or `None` if the supervisor is gone.
    async fn apply(
        &mut self,
        generation: i32,
        owned: &mut Vec<TaskId>,
        info: AssignmentInfo,
        membership: &Membership,
    ) -> Option<Vec<TaskId>> {
        let (revoked, added) = assignment::changes(owned, &info.tasks);
        let group = self.member.group_id().to_string();
        if !revoked.is_empty() {
            tracing::info!(
                group, generation, tasks = %names(&revoked),
                "stream tasks revoked for a rebalance"
            );
            let revoke = RevokeTasks {
                tasks: revoked.clone(),
                commit: true,
            };
            self.supervisor.send(revoke).await.ok()?;
        }
        tracing::info!(
            group, generation, tasks = %names(&info.tasks), added = %names(&added),
            "stream tasks assigned"
        );
        if !info.standbys.is_empty() || !self.standbys.is_empty() {
            tracing::info!(group, generation, standbys = %names(&info.standbys), "standby tasks assigned");
        }
        self.standbys.clone_from(&info.standbys);
        let assign = AssignTasks {
            tasks: info.tasks.clone(),
            standbys: info.standbys,
            hosts: info.hosts,
            membership: membership.clone(),
        };
        self.supervisor.send(assign).await.ok()?;
        *owned = info.tasks;
        if let Ok(mut assigned) = self.assigned.lock() {
            assigned.clone_from(owned);
        }
        self.generations.send_modify(|g| *g += 1);
        Some(revoked)
    }

    /// The group dropped this member (or may have): its tasks may already run elsewhere,
    /// so they stop without committing (a commit would be refused anyway) and the member
    /// rejoins owning nothing. `false` if the supervisor is gone.
    async fn lose(&mut self, owned: &mut Vec<TaskId>, why: &str) -> bool {
        if owned.is_empty() {
            return true;
        }
        tracing::warn!(
            group = self.member.group_id(), tasks = %names(owned), reason = why,
            "stream tasks lost: the group may have given them to other instances"
        );
        let revoke = RevokeTasks {
            tasks: std::mem::take(owned),
            commit: false,
        };
        if let Ok(mut assigned) = self.assigned.lock() {
            assigned.clear();
        }
        self.supervisor.send(revoke).await.is_ok()
    }

    /// Joins the group; as leader, assigns the tasks. Returns the generation and this
    /// member's part.
    async fn join(&mut self, owned: &[TaskId]) -> Result<(i32, AssignmentInfo), ClientError> {
        let mut info = MemberInfo::new(self.application_server.clone(), owned.to_vec(), self.node);
        info.standbys.clone_from(&self.standbys);
        let subscription = Subscription {
            topics: self.plan.topics(),
            user_data: assignment::encode(&info),
        };
        let plan = self.plan.clone();
        // Should this member lead the group, it places tasks by the leaders as of now.
        let placement = match self.node {
            Some(_) => self.leaders.placement(&self.plan).await,
            None => Placement::default(),
        };
        let mut assign =
            move |members: &[JoinedMember]| leader_assignment(&plan, members, &placement);
        let generation = self
            .member
            .join(assignment::PROTOCOL_NAME, &subscription, &mut assign)
            .await?;
        let info = assignment::decode::<AssignmentInfo>(&generation.assignment.user_data)
            .unwrap_or_default();
        Ok((generation.generation_id, info))
    }

    /// Heartbeats every `heartbeat.interval.ms` until the group rebalances or drops this
    /// member. An unreachable coordinator is neither: the tasks go on (they wait for the
    /// cluster themselves) and the heartbeats retry; if the session expires meanwhile, the
    /// next answer says so. Tasks placed by leader (`homes` not empty) follow leadership:
    /// once a task's input partition is led by another node than when it was assigned, the
    /// member rejoins, which rebalances the group.
    async fn heartbeat_until_rebalance(&mut self, homes: &BTreeMap<TaskId, i32>) -> Rejoin {
        let interval = Duration::from_millis(self.member.config().heartbeat_interval_ms);
        loop {
            tokio::time::sleep(interval).await;
            if !homes.is_empty() {
                let now = self.leaders.placement(&self.plan).await.homes;
                if let Some((task, node)) = assignment::moved_home(homes, &now) {
                    tracing::info!(
                        group = self.member.group_id(), task = %task, leader = node,
                        "a task's input partition has a new leader: rebalancing so the task follows it"
                    );
                    return Rejoin::Rebalance;
                }
            }
            match self.member.heartbeat().await {
                Ok(HeartbeatOutcome::Stable) => {}
                Ok(HeartbeatOutcome::RebalanceNeeded { reason }) => {
                    tracing::info!(
                        group = self.member.group_id(),
                        ?reason,
                        "the application's group rebalances"
                    );
                    // Only REBALANCE_IN_PROGRESS keeps this member in the generation; the
                    // others say it was left behind (Kafka resets the generation then).
                    return match reason {
                        ResponseError::RebalanceInProgress => Rejoin::Rebalance,
                        other => Rejoin::Lost(format!("heartbeat answered {other:?}")),
                    };
                }
                Err(err) if err.is_retriable() || err.is_unreachable() => {
                    tracing::debug!(error = %err, "heartbeat failed; retrying");
                }
                Err(err) => {
                    tracing::warn!(error = %err, "heartbeat refused; rejoining the group");
                    return Rejoin::Lost(format!("heartbeat refused: {err}"));
                }
            }
        }
    }
}

/// Reads where each task's input partition is led, for in-node instances: one Metadata
/// request over the instance's own connection to the cluster.
pub(crate) struct Leaders {
    bootstrap: String,
    admin: Option<Admin>,
}

impl Leaders {
    /// Leaders read through `bootstrap` (connected on first use).
    pub(crate) fn new(bootstrap: &str) -> Self {
        Leaders {
            bootstrap: bootstrap.to_string(),
            admin: None,
        }
    }

    /// The node leading each task's first source partition now and the nodes holding its
    /// replicas; tasks whose partition has no leader (or that the cluster cannot be asked
    /// about) are left out.
    pub(crate) async fn placement(&mut self, plan: &TaskPlan) -> Placement {
        let topics = plan.topics();
        let names: Vec<&str> = topics.iter().map(String::as_str).collect();
        let described = match self.admin.as_mut() {
            Some(admin) => admin.describe_topics(&names).await,
            None => match Admin::connect(&self.bootstrap).await {
                Ok(admin) => self.admin.insert(admin).describe_topics(&names).await,
                Err(err) => Err(err),
            },
        };
        let topics = match described {
            Ok(topics) => topics,
            Err(err) => {
                tracing::debug!(error = %err, "could not read the partitions' leaders");
                self.admin = None;
                return Placement::default();
            }
        };
        let partitions: BTreeMap<(&str, i32), &eddy_client::PartitionInfo> = topics
            .iter()
            .flat_map(|t| {
                t.partitions
                    .iter()
                    .map(|p| ((t.name.as_str(), p.partition), p))
            })
            .collect();
        let mut placement = Placement::default();
        for (task, sources) in &plan.tasks {
            let Some(p) = sources
                .first()
                .and_then(|first| partitions.get(&(first.as_str(), task.partition)))
            else {
                continue;
            };
            if p.leader >= 0 {
                placement.homes.insert(*task, p.leader);
            }
            // In-sync replicas first, in their order: the next leader is the first of them
            // after the current one.
            let mut replicas = p.isr.clone();
            replicas.extend(p.replicas.iter().filter(|r| !p.isr.contains(r)));
            placement.replicas.insert(*task, replicas);
        }
        placement
    }
}

/// Where each task's input partition is: its leader (the task's home) and its replicas
/// (where its standbys go).
#[derive(Debug, Clone, Default)]
pub(crate) struct Placement {
    /// The node leading each task's input partition.
    pub(crate) homes: BTreeMap<TaskId, i32>,
    /// The nodes holding a replica of it, in-sync ones first.
    pub(crate) replicas: BTreeMap<TaskId, Vec<i32>>,
}

/// Task ids as a comma-separated list, for logs.
fn names(tasks: &[TaskId]) -> String {
    let names: Vec<String> = tasks.iter().map(ToString::to_string).collect();
    names.join(", ")
}

/// The leader's side: every task to at most one member (see
/// `assignment::assign_cooperative`), with the hosts of all assigned tasks in every
/// member's assignment.
fn leader_assignment(
    plan: &TaskPlan,
    members: &[JoinedMember],
    placement: &Placement,
) -> BTreeMap<String, Assignment> {
    let homes = &placement.homes;
    let infos: BTreeMap<String, Option<MemberInfo>> = members
        .iter()
        .map(|m| {
            let info = assignment::decode::<MemberInfo>(&m.subscription.user_data);
            (m.member_id.clone(), info)
        })
        .collect();
    let owned: BTreeMap<String, Vec<TaskId>> = infos
        .iter()
        .map(|(id, info)| {
            (
                id.clone(),
                info.as_ref().map(|i| i.owned.clone()).unwrap_or_default(),
            )
        })
        .collect();
    let nodes: BTreeMap<String, i32> = infos
        .iter()
        .filter_map(|(id, info)| Some((id.clone(), info.as_ref()?.node?)))
        .collect();
    // Deployed to the cluster (members in nodes): each task beside its partition's leader.
    let by_leader = !nodes.is_empty() && !homes.is_empty();
    let cooperative = if by_leader {
        assignment::assign_cooperative_by_leader(&plan.ids(), &owned, &nodes, homes)
    } else {
        assignment::assign_cooperative(&plan.ids(), &owned)
    };
    if !cooperative.moving.is_empty() {
        let moving: Vec<TaskId> = cooperative.moving.iter().copied().collect();
        tracing::info!(
            tasks = %names(&moving),
            "tasks move to other instances: revoked now, assigned in the follow-up rebalance"
        );
    }
    let tasks = cooperative.tasks;
    let previous: BTreeMap<String, Vec<TaskId>> = infos
        .iter()
        .map(|(id, info)| {
            let standbys = info
                .as_ref()
                .map(|i| i.standbys.clone())
                .unwrap_or_default();
            (id.clone(), standbys)
        })
        .collect();
    let no_nodes = BTreeMap::new();
    let mut standbys = assignment::assign_standbys(
        &tasks,
        &plan.stateful,
        plan.standby_replicas,
        if by_leader { &nodes } else { &no_nodes },
        &placement.replicas,
        &previous,
    );
    // Tasks on the move are in no member's hosts: queries of their keys are refused as
    // rebalancing until the follow-up generation.
    let mut hosts = BTreeMap::new();
    for (member, member_tasks) in &tasks {
        let server = infos
            .get(member)
            .and_then(|i| i.as_ref())
            .and_then(|i| i.application_server.clone());
        for task in member_tasks {
            hosts.insert(*task, server.clone());
        }
    }
    tasks
        .into_iter()
        .map(|(member, member_tasks)| {
            let homes = if by_leader {
                homes.clone()
            } else {
                BTreeMap::new()
            };
            let member_standbys = standbys.remove(&member).unwrap_or_default();
            let info =
                AssignmentInfo::new(member_tasks.clone(), hosts.clone(), homes, member_standbys);
            let assignment = Assignment {
                partitions: plan.partitions(&member_tasks),
                user_data: assignment::encode(&info),
            };
            (member, assignment)
        })
        .collect()
}

/// The group settings of an application instance; its client id is the instance's name,
/// so `eddy group describe` tells the members apart.
pub(crate) fn member_config(
    session_timeout: Duration,
    heartbeat_interval: Duration,
    instance: &str,
) -> MemberConfig {
    let mut config = MemberConfig {
        session_timeout_ms: session_timeout.as_millis() as u64,
        heartbeat_interval_ms: heartbeat_interval.as_millis() as u64,
        ..MemberConfig::default()
    };
    config.connection.client_id = instance.to_string();
    config
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

    fn joined(id: &str, server: &str, owned: Vec<TaskId>) -> JoinedMember {
        let info = MemberInfo::new(Some(server.to_string()), owned, None);
        JoinedMember {
            member_id: id.to_string(),
            subscription: Subscription {
                topics: vec!["in".into()],
                user_data: assignment::encode(&info),
            },
        }
    }

    fn decoded(assignments: &BTreeMap<String, Assignment>, id: &str) -> AssignmentInfo {
        assignment::decode(&assignments[id].user_data).expect("an assignment info")
    }

    /// One sub-topology reading `in`, two partitions.
    fn plan() -> TaskPlan {
        let tasks = [t(0, 0), t(0, 1)]
            .into_iter()
            .map(|task| (task, vec!["in".to_string()]))
            .collect();
        TaskPlan {
            tasks,
            stateful: BTreeSet::new(),
            standby_replicas: 0,
        }
    }

    #[test]
    fn the_leader_withholds_moving_tasks_from_everyone_and_from_the_hosts() {
        let members = [
            joined("a", "a:1", vec![t(0, 0), t(0, 1)]),
            joined("b", "b:1", Vec::new()),
        ];
        let out = leader_assignment(&plan(), &members, &Placement::default());
        let (a, b) = (decoded(&out, "a"), decoded(&out, "b"));
        assert_eq!(a.tasks, [t(0, 0)], "a keeps its share");
        assert!(b.tasks.is_empty(), "b waits for a's revocation");
        let hosts: BTreeMap<TaskId, Option<String>> = [(t(0, 0), Some("a:1".into()))].into();
        assert_eq!(a.hosts, hosts, "the moving task has no host yet");
        assert_eq!(b.hosts, hosts);
        assert_eq!(out["a"].partitions, [("in".to_string(), vec![0])].into());
        assert!(out["b"].partitions.is_empty());

        // The follow-up, after a revoked 0_1.
        let members = [
            joined("a", "a:1", vec![t(0, 0)]),
            joined("b", "b:1", Vec::new()),
        ];
        let out = leader_assignment(&plan(), &members, &Placement::default());
        let (a, b) = (decoded(&out, "a"), decoded(&out, "b"));
        assert_eq!((a.tasks, b.tasks), (vec![t(0, 0)], vec![t(0, 1)]));
        let hosts: BTreeMap<TaskId, Option<String>> =
            [(t(0, 0), Some("a:1".into())), (t(0, 1), Some("b:1".into()))].into();
        assert_eq!(a.hosts, hosts);
        assert_eq!(out["b"].partitions, [("in".to_string(), vec![1])].into());
    }

    #[test]
    fn in_node_members_get_the_tasks_their_node_leads_and_learn_the_homes() {
        let in_node = |id: &str, node: i32| {
            let info = MemberInfo::new(None, Vec::new(), Some(node));
            JoinedMember {
                member_id: id.to_string(),
                subscription: Subscription {
                    topics: vec!["in".into()],
                    user_data: assignment::encode(&info),
                },
            }
        };
        let members = [in_node("a", 1), in_node("b", 2)];
        let homes: BTreeMap<TaskId, i32> = [(t(0, 0), 2), (t(0, 1), 2)].into();
        let placement = Placement {
            homes: homes.clone(),
            replicas: BTreeMap::new(),
        };
        let out = leader_assignment(&plan(), &members, &placement);
        let (a, b) = (decoded(&out, "a"), decoded(&out, "b"));
        assert!(a.tasks.is_empty(), "node 1 leads nothing");
        assert_eq!(b.tasks, [t(0, 0), t(0, 1)]);
        assert_eq!((a.homes, b.homes), (homes.clone(), homes));
        // Client programs (no node) are balanced, and learn no homes.
        let out = leader_assignment(
            &plan(),
            &[joined("a", "a:1", vec![]), joined("b", "b:1", vec![])],
            &Placement {
                homes: [(t(0, 0), 2)].into(),
                replicas: BTreeMap::new(),
            },
        );
        assert_eq!(decoded(&out, "a").tasks.len(), 1);
        assert!(decoded(&out, "a").homes.is_empty());
    }

    #[test]
    fn a_member_of_another_assignor_claims_nothing() {
        let mut foreign = joined("b", "b:1", Vec::new());
        foreign.subscription.user_data = vec![0xff, 0xff, 0xff];
        let members = [joined("a", "a:1", vec![t(0, 0)]), foreign];
        let out = leader_assignment(&plan(), &members, &Placement::default());
        assert_eq!(decoded(&out, "a").tasks, [t(0, 0)]);
        assert_eq!(
            decoded(&out, "b").tasks,
            [t(0, 1)],
            "0_1 is free: nobody runs it"
        );
        assert_eq!(
            decoded(&out, "b").hosts[&t(0, 1)],
            None,
            "b serves no queries"
        );
    }
}
