//! The instance's membership in its application's consumer group: the loop that joins the
//! group named after the application id, hands the tasks the leader assigned to the
//! TopologySupervisor, heartbeats, and on a rebalance stops every task before joining
//! again (Kafka's eager protocol), so a task never runs in two instances at once. See
//! [`assignment`](super::assignment) for what the members exchange.
//!
//! Tasks commit their input offsets as this member of the current generation; a commit
//! from a generation the group has left behind is refused by the coordinator, so a task
//! that outlived its assignment cannot overwrite its successor's progress.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::Addr;
use eddy_actors::supervision::Backoff;
use eddy_topologies::{TaskId, Topology};
use tokio::sync::{oneshot, watch};

use super::assignment::{self, AssignmentInfo, MemberInfo};
use super::topology_supervisor::{AssignTasks, RevokeTasks, TopologySupervisor};
use eddy_client::{
    Assignment, ClientError, GroupMembership, HeartbeatOutcome, JoinedMember, MemberConfig,
    Subscription,
};

/// Waits after a failed join before the next, doubling up to the session timeout.
const JOIN_BACKOFF_MS_MIN: u64 = 200;

/// Who the instance is in the group's current generation: what its tasks commit as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    /// The member id the coordinator gave the instance.
    pub member_id: String,
    /// The generation the tasks were assigned in.
    pub generation_id: i32,
}

/// The tasks of the application and the source partitions each reads.
#[derive(Debug, Clone)]
pub(crate) struct TaskPlan {
    /// Every task, with its source topics (full names).
    pub(crate) tasks: BTreeMap<TaskId, Vec<String>>,
}

impl TaskPlan {
    /// The tasks of `topology` given each sub-topology's partition count.
    pub(crate) fn new(topology: &Topology, application_id: &str, tasks: &[TaskId]) -> Self {
        let tasks = tasks
            .iter()
            .map(|t| (*t, topology.source_topics(t.subtopology, application_id)))
            .collect();
        TaskPlan { tasks }
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
    /// The tasks this instance runs now, for `KafkaStreams::tasks`.
    pub(crate) assigned: Arc<Mutex<Vec<TaskId>>>,
    /// Counts the generations this instance took part in; 0 before the first assignment.
    pub(crate) generations: watch::Sender<u64>,
}

impl MemberLoop {
    /// Runs until `shutdown` fires (then stops the tasks and leaves the group) or the
    /// supervisor is gone.
    pub(crate) async fn run(mut self, mut shutdown: oneshot::Receiver<()>) {
        let mut owned: Vec<TaskId> = Vec::new();
        let mut backoff = Backoff::new(
            Duration::from_millis(JOIN_BACKOFF_MS_MIN),
            Duration::from_millis(self.member.config().session_timeout_ms),
        );
        loop {
            let joined = tokio::select! {
                _ = &mut shutdown => break,
                joined = self.join(&owned) => joined,
            };
            let (generation, info) = match joined {
                Ok(joined) => joined,
                Err(err) => {
                    tracing::warn!(group = self.member.group_id(), error = %err, "could not join the application's group; retrying");
                    let wait = backoff.next_pause();
                    tokio::select! {
                        _ = &mut shutdown => break,
                        _ = tokio::time::sleep(wait) => continue,
                    }
                }
            };
            backoff.reset();
            owned = info.tasks.clone();
            let names: Vec<String> = owned.iter().map(ToString::to_string).collect();
            tracing::info!(
                group = self.member.group_id(), generation, tasks = %names.join(", "),
                "stream tasks assigned"
            );
            let membership = Membership {
                member_id: self.member.member_id().to_string(),
                generation_id: generation,
            };
            let assign = AssignTasks {
                tasks: owned.clone(),
                hosts: info.hosts,
                membership,
            };
            if self.supervisor.send(assign).await.is_err() {
                return;
            }
            if let Ok(mut assigned) = self.assigned.lock() {
                assigned.clone_from(&owned);
            }
            self.generations.send_modify(|g| *g += 1);
            let stop = tokio::select! {
                _ = &mut shutdown => true,
                () = self.heartbeat_until_rebalance() => false,
            };
            // Eager rebalancing: every task stops before this member joins again.
            if !stop {
                tracing::info!(
                    group = self.member.group_id(), generation, tasks = %names.join(", "),
                    "stream tasks revoked for a rebalance"
                );
            }
            if self.supervisor.send(RevokeTasks).await.is_err() {
                return;
            }
            if let Ok(mut assigned) = self.assigned.lock() {
                assigned.clear();
            }
            if stop {
                break;
            }
        }
        let _ = self.supervisor.send(RevokeTasks).await;
        if let Err(err) = self.member.leave().await {
            tracing::debug!(error = %err, "could not leave the application's group");
        }
    }

    /// Joins the group; as leader, assigns the tasks. Returns the generation and this
    /// member's part.
    async fn join(&mut self, owned: &[TaskId]) -> Result<(i32, AssignmentInfo), ClientError> {
        let info = MemberInfo::new(self.application_server.clone(), owned.to_vec());
        let subscription = Subscription {
            topics: self.plan.topics(),
            user_data: assignment::encode(&info),
        };
        let plan = self.plan.clone();
        let mut assign = move |members: &[JoinedMember]| leader_assignment(&plan, members);
        let generation = self
            .member
            .join(assignment::PROTOCOL_NAME, &subscription, &mut assign)
            .await?;
        let info = assignment::decode::<AssignmentInfo>(&generation.assignment.user_data)
            .unwrap_or_default();
        Ok((generation.generation_id, info))
    }

    /// Heartbeats every `heartbeat.interval.ms` until the group rebalances. An unreachable
    /// coordinator is not a rebalance: the tasks go on (they wait for the cluster
    /// themselves) and the heartbeats retry; if the session expires meanwhile, the next
    /// answer says so.
    async fn heartbeat_until_rebalance(&mut self) {
        let interval = Duration::from_millis(self.member.config().heartbeat_interval_ms);
        loop {
            tokio::time::sleep(interval).await;
            match self.member.heartbeat().await {
                Ok(HeartbeatOutcome::Stable) => {}
                Ok(HeartbeatOutcome::RebalanceNeeded { reason }) => {
                    tracing::info!(
                        group = self.member.group_id(),
                        ?reason,
                        "the application's group rebalances"
                    );
                    return;
                }
                Err(err) if err.is_retriable() || err.is_unreachable() => {
                    tracing::debug!(error = %err, "heartbeat failed; retrying");
                }
                Err(err) => {
                    tracing::warn!(error = %err, "heartbeat refused; rejoining the group");
                    return;
                }
            }
        }
    }
}

/// The leader's side: every task to one member (see `assignment::assign_tasks`), with the
/// hosts of all tasks in every member's assignment.
fn leader_assignment(plan: &TaskPlan, members: &[JoinedMember]) -> BTreeMap<String, Assignment> {
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
    let tasks = assignment::assign_tasks(&plan.ids(), &owned);
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
            let info = AssignmentInfo {
                version: 1,
                tasks: member_tasks.clone(),
                hosts: hosts.clone(),
            };
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
