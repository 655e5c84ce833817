//! TopologySupervisor: runs one StreamTask per (sub-topology, input partition) the
//! application's group assigned to this instance and keeps their supervision records
//! (state, restarts, last error, uptime) plus progress (committed offsets, processed and
//! late-dropped records). Rebalances are cooperative: `AssignTasks` starts the tasks this
//! instance gained and leaves the ones it keeps running; `RevokeTasks` stops only the
//! tasks it lost, each committing its progress first (or, when the group dropped the
//! instance, at once). Strategy one-for-one with restart intensity; a task past it is
//! marked failed and stays stopped until the next generation that assigns it.
//! Interactive queries (`QueryStore`) pass through it to the task they name.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use actix::prelude::*;
use eddy_actors::supervision::{ChildRecord, ChildState, RestartIntensity, SupervisorReport};
use eddy_topologies::{StoreLookup, TaskId, TaskMetrics, Topology};
use serde::Serialize;

use super::membership::Membership;
use super::standby_task::StandbyHandle;
use super::state_store::StateDirectory;
use super::stream_task::{QueryStore, RevokeTask, StopTask, StreamTask};
use super::{QueryError, StreamsSettings};

struct Child {
    record: ChildRecord,
    committed: BTreeMap<String, i64>,
    metrics: TaskMetrics,
    restored: u64,
    // Keeps the task's address alive (actix restarts a supervised actor only while someone
    // holds its address), and is where queries of the task's keys go.
    addr: Addr<StreamTask>,
}

/// The supervisor of one application's stream tasks.
pub struct TopologySupervisor {
    application_id: String,
    started: Instant,
    topology: Topology,
    settings: Arc<StreamsSettings>,
    state: StateDirectory,
    intensity: RestartIntensity,
    children: BTreeMap<TaskId, Child>,
    /// Where every task of the application runs (`application.server` of its instance),
    /// as the group's leader last said; tasks on the move are absent.
    hosts: BTreeMap<TaskId, Option<String>>,
    /// How many times each task was started here for an assignment (restarts after
    /// failures not counted): a task kept across rebalances is started once.
    starts: BTreeMap<TaskId, u64>,
    /// The standby tasks this instance keeps (warm copies of other instances' tasks).
    standbys: BTreeMap<TaskId, StandbyHandle>,
}

impl TopologySupervisor {
    /// Starts the supervisor, without tasks: the application's group assigns them
    /// (`AssignTasks`).
    pub fn launch(
        topology: Topology,
        settings: Arc<StreamsSettings>,
        state: StateDirectory,
        intensity: RestartIntensity,
    ) -> Addr<TopologySupervisor> {
        let application_id = settings.config.application_id.clone();
        TopologySupervisor {
            application_id,
            started: Instant::now(),
            topology,
            settings,
            state,
            intensity,
            children: BTreeMap::new(),
            hosts: BTreeMap::new(),
            starts: BTreeMap::new(),
            standbys: BTreeMap::new(),
        }
        .start()
    }

    fn start_task(&mut self, id: TaskId, membership: Membership, me: Addr<Self>) {
        let (topology, settings) = (self.topology.clone(), self.settings.clone());
        let (state, intensity) = (self.state.clone(), self.intensity);
        let addr = Supervisor::start(move |_| {
            StreamTask::new(id, topology, settings, state, membership, me, intensity)
        });
        let child = Child {
            record: ChildRecord::starting(format!("task {id}")),
            committed: BTreeMap::new(),
            metrics: TaskMetrics::default(),
            restored: 0,
            addr,
        };
        self.children.insert(id, child);
        *self.starts.entry(id).or_insert(0) += 1;
    }
}

impl Actor for TopologySupervisor {
    type Context = Context<Self>;
}

/// The tasks the group assigned to this instance in a new generation: tasks not running
/// yet start, running ones go on (a failed one starts afresh). Tasks it no longer has
/// were revoked before (`RevokeTasks`); any still running is stopped at once.
#[derive(Message)]
#[rtype(result = "()")]
pub struct AssignTasks {
    /// This instance's tasks.
    pub tasks: Vec<TaskId>,
    /// This instance's standby tasks.
    pub standbys: Vec<TaskId>,
    /// Where every task of the application runs.
    pub hosts: BTreeMap<TaskId, Option<String>>,
    /// What the tasks commit as (shared: kept tasks commit as the new generation).
    pub membership: Membership,
}

impl Handler<AssignTasks> for TopologySupervisor {
    type Result = ResponseActFuture<Self, ()>;

    fn handle(&mut self, msg: AssignTasks, _ctx: &mut Self::Context) -> Self::Result {
        self.hosts = msg.hosts;
        let stale: Vec<TaskId> = self
            .children
            .iter()
            .filter(|(id, c)| !msg.tasks.contains(id) || c.record.state == ChildState::Failed)
            .map(|(id, _)| *id)
            .collect();
        for id in stale {
            if let Some(child) = self.children.remove(&id) {
                // Dropping the address after `StopTask` keeps actix's `Supervisor` from
                // restarting it.
                child.addr.do_send(StopTask);
            }
        }
        // Standbys no longer assigned stop first — a promoted one (now an active task
        // here) checkpoints and closes its stores before the active task opens them.
        let ending: Vec<TaskId> = self
            .standbys
            .iter()
            .filter(|(id, s)| !msg.standbys.contains(id) || msg.tasks.contains(id) || s.failed())
            .map(|(id, _)| *id)
            .collect();
        let stops: Vec<_> = ending
            .iter()
            .filter_map(|id| self.standbys.remove(id))
            .map(StandbyHandle::stop)
            .collect();
        Box::pin(
            async move {
                for stop in stops {
                    stop.await;
                }
            }
            .into_actor(self)
            .map(move |(), act, ctx| {
                for id in msg.tasks {
                    if !act.children.contains_key(&id) {
                        act.start_task(id, msg.membership.clone(), ctx.address());
                    }
                }
                for id in msg.standbys {
                    if !act.standbys.contains_key(&id) && !act.children.contains_key(&id) {
                        let handle = StandbyHandle::start(
                            id,
                            act.topology.clone(),
                            act.settings.clone(),
                            act.state.clone(),
                        );
                        act.standbys.insert(id, handle);
                    }
                }
            }),
        )
    }
}

/// Stops `tasks` for good: the group revoked them (a rebalance moves them, or the
/// instance closes) or the instance lost them (the group dropped it). Answers once they
/// are stopped, so the membership loop rejoins only after.
#[derive(Message)]
#[rtype(result = "()")]
pub struct RevokeTasks {
    /// The tasks to stop.
    pub tasks: Vec<TaskId>,
    /// Whether each running task first commits what it processed (a revocation); a lost
    /// task stops at once, since its commit would be refused.
    pub commit: bool,
}

impl Handler<RevokeTasks> for TopologySupervisor {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, msg: RevokeTasks, _ctx: &mut Self::Context) -> Self::Result {
        let mut revoking = Vec::new();
        for id in msg.tasks {
            self.hosts.remove(&id);
            let Some(child) = self.children.remove(&id) else {
                continue;
            };
            // Only a task that reached its loop has processed anything to commit; one
            // restoring, waiting for the cluster or failed stops at once.
            if msg.commit && child.record.state == ChildState::Running {
                revoking.push((child.addr.send(RevokeTask), child.addr));
            } else {
                child.addr.do_send(StopTask);
            }
        }
        Box::pin(async move {
            for (revoked, addr) in revoking {
                // The task answers once it committed (or gave up within its bound).
                let _ = revoked.await;
                addr.do_send(StopTask);
            }
        })
    }
}

/// What a task reports about itself.
#[derive(Message)]
#[rtype(result = "()")]
pub enum TaskEvent {
    /// Restored and reading input.
    Running {
        /// Which task.
        id: TaskId,
        /// Changelog records replayed into its stores.
        restored: u64,
    },
    /// Committed input offsets after its outputs were acknowledged.
    Progress {
        /// Which task.
        id: TaskId,
        /// Committed positions by (topic, partition).
        committed: BTreeMap<(String, i32), i64>,
        /// The task's counters.
        metrics: TaskMetrics,
    },
    /// The cluster is unreachable; the task retries after a back-off (not a restart).
    Waiting {
        /// Which task.
        id: TaskId,
        /// The last error.
        error: String,
    },
    /// Stopped abnormally; `failed` once the restart intensity is exceeded.
    Restarting {
        /// Which task.
        id: TaskId,
        /// Why.
        error: String,
        /// Gave up.
        failed: bool,
    },
}

impl Handler<TaskEvent> for TopologySupervisor {
    type Result = ();

    fn handle(&mut self, msg: TaskEvent, _ctx: &mut Self::Context) {
        match msg {
            TaskEvent::Running { id, restored } => {
                if let Some(c) = self.children.get_mut(&id) {
                    c.record.state = ChildState::Running;
                    c.record.since = Instant::now();
                    c.restored = restored;
                    tracing::info!(application = %self.application_id, task = %id, restored, "stream task running");
                }
            }
            TaskEvent::Progress {
                id,
                committed,
                metrics,
            } => {
                if let Some(c) = self.children.get_mut(&id) {
                    for ((topic, partition), offset) in committed {
                        c.committed.insert(format!("{topic}-{partition}"), offset);
                    }
                    c.metrics = metrics;
                }
            }
            TaskEvent::Waiting { id, error } => {
                if let Some(c) = self.children.get_mut(&id) {
                    c.record.state = ChildState::Restarting;
                    c.record.last_error = Some(error);
                }
            }
            TaskEvent::Restarting { id, error, failed } => {
                if let Some(c) = self.children.get_mut(&id) {
                    // A give-up is not one more restart.
                    if !failed {
                        c.record.restarts += 1;
                    }
                    if failed {
                        tracing::error!(application = %self.application_id, task = %id, %error, restarts = c.record.restarts, "stream task failed past its restart intensity; it stays stopped until the next rebalance or restart");
                    }
                    c.record.last_error = Some(error);
                    c.record.state = if failed {
                        ChildState::Failed
                    } else {
                        ChildState::Restarting
                    };
                }
            }
        }
    }
}

/// One task as `report` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct TaskReport {
    /// The task.
    pub id: TaskId,
    /// A standby task (a warm copy of another instance's task): `processed_records` counts
    /// the changelog records it applied.
    pub standby: bool,
    /// Supervision record.
    #[serde(flatten)]
    pub supervision: SupervisorReport,
    /// Committed input offsets by `topic-partition`.
    pub committed: BTreeMap<String, i64>,
    /// Records processed by the current run.
    pub processed_records: u64,
    /// Records dropped because their window had closed.
    pub dropped_late_records: u64,
    /// Changelog records the current run replayed into its stores before processing:
    /// those after the stores' checkpoints, or the whole changelogs without local state.
    pub restored_records: u64,
    /// How many times this instance started the task for an assignment (restarts after
    /// failures not counted): 1 for a task it kept through every rebalance.
    pub starts: u64,
}

/// The application's tasks.
#[derive(Message)]
#[rtype(result = "(SupervisorReport, Vec<TaskReport>)")]
pub struct Report;

impl Handler<Report> for TopologySupervisor {
    type Result = MessageResult<Report>;

    fn handle(&mut self, _msg: Report, _ctx: &mut Self::Context) -> Self::Result {
        let tasks: Vec<TaskReport> = self
            .children
            .iter()
            .map(|(id, c)| TaskReport {
                id: *id,
                standby: false,
                supervision: c.record.report(0, Vec::new()),
                committed: c.committed.clone(),
                processed_records: c.metrics.processed_records,
                dropped_late_records: c.metrics.dropped_late_records,
                restored_records: c.restored,
                starts: self.starts.get(id).copied().unwrap_or(0),
            })
            .chain(self.standbys.iter().map(|(id, s)| s.report(*id)))
            .collect();
        let mut root = ChildRecord::starting(format!("topology {}", self.application_id));
        root.state = ChildState::Running;
        root.since = self.started;
        let rows = tasks.iter().map(|t| t.supervision.clone()).collect();
        MessageResult((root.report(0, rows), tasks))
    }
}

impl Handler<QueryStore> for TopologySupervisor {
    type Result = ResponseFuture<Result<StoreLookup, QueryError>>;

    fn handle(&mut self, msg: QueryStore, _ctx: &mut Self::Context) -> Self::Result {
        let task = msg.task;
        let Some(child) = self.children.get(&task) else {
            let refusal = match self.hosts.get(&task) {
                Some(host) => QueryError::NotLocal {
                    task,
                    host: host.clone(),
                },
                None => QueryError::NotRunning {
                    task,
                    state: "not assigned yet (the application's group is rebalancing)",
                },
            };
            return Box::pin(std::future::ready(Err(refusal)));
        };
        let ask = child.addr.send(msg);
        Box::pin(async move {
            ask.await.unwrap_or(Err(QueryError::NotRunning {
                task,
                state: "stopped",
            }))
        })
    }
}
