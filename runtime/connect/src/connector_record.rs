//! The ConnectSupervisor's record of one connector: its configuration, target state,
//! active topics and one supervision record per task (`TaskSlot`), with what the
//! supervisor reports from them (Kafka's connector info and status, the supervision
//! tree's report). Plain data owned by the supervisor actor, which alone changes it.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;

use actix::Addr;
use eddy_actors::supervision::{ChildRecord, ChildState, SupervisorReport};

use super::config::ConnectorConfig;
use super::configs::TargetState;
use super::restart::RestartHistory;
use super::status::{ConnectorInfo, ConnectorState, ConnectorStatus, State, TaskRef, TaskStatus};
use super::task::ConnectorTask;

/// One task's supervision record.
pub(crate) struct TaskSlot {
    pub(crate) state: State,
    pub(crate) addr: Option<Addr<ConnectorTask>>,
    pub(crate) incarnation: u64,
    pub(crate) record: ChildRecord,
    pub(crate) history: RestartHistory,
    pub(crate) trace: Option<String>,
    pub(crate) started: Instant,
}

/// One connector.
pub(crate) struct Connector {
    pub(crate) config: Arc<ConnectorConfig>,
    pub(crate) target: TargetState,
    pub(crate) deleting: bool,
    pub(crate) tasks: Vec<TaskSlot>,
    pub(crate) created: Instant,
    /// The topics its tasks have written or read (KIP-558's active topics).
    pub(crate) topics: BTreeSet<String>,
}

/// The supervision records of the `count` tasks of connector `name`, not started yet.
pub(crate) fn task_slots(name: &str, count: u32) -> Vec<TaskSlot> {
    (0..count)
        .map(|task| TaskSlot {
            state: State::Unassigned,
            addr: None,
            incarnation: 0,
            record: ChildRecord::starting(format!("task {name}-{task}")),
            history: RestartHistory::default(),
            trace: None,
            started: Instant::now(),
        })
        .collect()
}

impl Connector {
    /// The connector's own state: PAUSED, STOPPED, FAILED once every task failed, RUNNING
    /// otherwise.
    pub(crate) fn state(&self) -> (State, Option<String>) {
        match self.target {
            TargetState::Paused => return (State::Paused, None),
            TargetState::Stopped => return (State::Stopped, None),
            TargetState::Running => {}
        }
        let all_failed =
            !self.tasks.is_empty() && self.tasks.iter().all(|t| t.state == State::Failed);
        if all_failed {
            let trace = self.tasks.iter().find_map(|t| t.trace.clone());
            (State::Failed, trace)
        } else {
            (State::Running, None)
        }
    }

    pub(crate) fn info(&self) -> ConnectorInfo {
        ConnectorInfo {
            name: self.config.name.clone(),
            config: self.config.raw.clone(),
            tasks: (0..self.tasks.len() as u32)
                .map(|task| TaskRef {
                    connector: self.config.name.clone(),
                    task,
                })
                .collect(),
            connector_type: self.config.connector_type(),
        }
    }

    pub(crate) fn status(&self, worker_id: &str) -> ConnectorStatus {
        let (state, trace) = self.state();
        ConnectorStatus {
            name: self.config.name.clone(),
            connector: ConnectorState {
                state,
                worker_id: worker_id.to_owned(),
                trace,
            },
            tasks: self
                .tasks
                .iter()
                .enumerate()
                .map(|(id, t)| TaskStatus {
                    id: id as u32,
                    state: t.state,
                    worker_id: worker_id.to_owned(),
                    trace: t.trace.clone(),
                    restarts: t.record.restarts,
                })
                .collect(),
            connector_type: self.config.connector_type(),
        }
    }

    pub(crate) fn report(&self) -> SupervisorReport {
        let (state, trace) = self.state();
        let children: Vec<SupervisorReport> = self
            .tasks
            .iter()
            .map(|t| t.record.report(0, Vec::new()))
            .collect();
        SupervisorReport {
            name: format!("connector {}", self.config.name),
            state: child_state(state),
            restarts: self.tasks.iter().map(|t| t.record.restarts).sum(),
            last_error: trace.or_else(|| self.tasks.iter().find_map(|t| t.trace.clone())),
            mailbox_depth: 0,
            uptime_ms: self.created.elapsed().as_millis() as u64,
            children,
        }
    }

    /// The addresses of the running incarnations, taken out of their slots.
    pub(crate) fn take_addrs(&mut self) -> Vec<Addr<ConnectorTask>> {
        self.tasks
            .iter_mut()
            .filter_map(|t| t.addr.take())
            .collect()
    }
}

/// The supervision tree's words for a Connect state (a paused task is reported stopped).
pub(crate) fn child_state(state: State) -> ChildState {
    match state {
        State::Unassigned => ChildState::Starting,
        State::Running => ChildState::Running,
        State::Paused | State::Stopped => ChildState::Stopped,
        State::Failed => ChildState::Failed,
        State::Restarting => ChildState::Restarting,
    }
}
