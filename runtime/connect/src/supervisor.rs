//! ConnectSupervisor: owns the connectors of one node (or of one `eddy connect run`
//! process) — their configurations, their target state (running or paused) and one
//! supervised ConnectorTask per task.
//!
//! Supervised by the NodeSupervisor on a node; in standalone mode it is the root. Strategy
//! one-for-one: a failed task is restarted alone, after the back-off `restart.rs` decides,
//! as a new incarnation; a task that keeps failing, or fails with an error a restart
//! cannot fix, is marked FAILED with its last error and stays so until a user restarts
//! it. Its own state is the connectors' configurations and target states. On a node they
//! live in `connect-configs` (`configs.rs`): every change is written there before it is
//! applied, and a starting supervisor rebuilds its connectors from it; `eddy connect run`
//! keeps them in memory only, its files configuring it. Changes are applied one at a time
//! (atomic handlers), so what is stored and what runs never diverge by a concurrent change.
//!
//! The tasks run on one arbiter of their own (`connect-tasks`), so a busy connector never
//! delays the node's connections or other supervisors on the main arbiter. Every report
//! of a task carries its incarnation; reports of replaced incarnations are ignored, so a
//! late "exited" of an old incarnation can never fail or restart the new one.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use eddy_actors::supervision::{ChildRecord, ChildState, SupervisorReport};
use futures::future::join_all;

use super::config::ConnectorConfig;
use super::configs::{
    load_retry_pause, ConfigStorage, ConfigStore, StoredConnectors, CONFIGS_TOPIC,
};
use super::error::ConnectError;
use super::restart::{RestartHistory, RestartPolicy, Verdict};
use super::status::{ConnectorInfo, ConnectorState, ConnectorStatus, State, TaskRef, TaskStatus};
use super::task::{
    AbortTask, ConnectorTask, Control, SetControl, StopTask, TaskEvent, TaskEventKind,
};

/// The most connectors one supervisor runs.
pub const CONNECTORS_MAX: usize = 1_000;

/// How a ConnectSupervisor runs its connectors.
#[derive(Debug, Clone)]
pub struct ConnectSettings {
    /// The Kafka address of the cluster the connectors read and write.
    pub bootstrap: String,
    /// How this supervisor names itself in status answers (Kafka's `worker_id`).
    pub worker_id: String,
    /// When failed tasks are restarted.
    pub restart: RestartPolicy,
    /// How long a stopping task may take to commit and end before it is dropped.
    pub stop_timeout_ms: u64,
    /// The most connectors.
    pub connectors_max: usize,
    /// The node whose connectors this supervisor keeps in the cluster's `connect-configs`
    /// topic and restores from it at start (a node's own id); `None` keeps them in memory
    /// only (`eddy connect run`, which its files configure).
    pub config_owner: Option<i32>,
}

impl ConnectSettings {
    /// Settings with the default restart policy and limits.
    pub fn new(bootstrap: impl Into<String>, worker_id: impl Into<String>) -> Self {
        Self {
            bootstrap: bootstrap.into(),
            worker_id: worker_id.into(),
            restart: RestartPolicy::default(),
            stop_timeout_ms: 10_000,
            connectors_max: CONNECTORS_MAX,
            config_owner: None,
        }
    }
}

/// One task's supervision record.
struct TaskSlot {
    state: State,
    addr: Option<Addr<ConnectorTask>>,
    incarnation: u64,
    record: ChildRecord,
    history: RestartHistory,
    trace: Option<String>,
    started: Instant,
}

/// One connector.
struct Connector {
    config: Arc<ConnectorConfig>,
    paused: bool,
    deleting: bool,
    tasks: Vec<TaskSlot>,
    created: Instant,
}

impl Connector {
    /// The connector's own state: PAUSED, FAILED once every task failed, RUNNING otherwise.
    fn state(&self) -> (State, Option<String>) {
        if self.paused {
            return (State::Paused, None);
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

    fn info(&self) -> ConnectorInfo {
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

    fn status(&self, worker_id: &str) -> ConnectorStatus {
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

    fn report(&self) -> SupervisorReport {
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
    fn take_addrs(&mut self) -> Vec<Addr<ConnectorTask>> {
        self.tasks
            .iter_mut()
            .filter_map(|t| t.addr.take())
            .collect()
    }
}

/// The supervision tree's words for a Connect state (a paused task is reported stopped).
fn child_state(state: State) -> ChildState {
    match state {
        State::Unassigned => ChildState::Starting,
        State::Running => ChildState::Running,
        State::Paused => ChildState::Stopped,
        State::Failed => ChildState::Failed,
        State::Restarting => ChildState::Restarting,
    }
}

/// The Connect supervisor.
pub struct ConnectSupervisor {
    settings: ConnectSettings,
    connectors: BTreeMap<String, Connector>,
    arbiter: Option<Arbiter>,
    next_incarnation: u64,
    configs: ConfigStorage,
    load_retry: Option<SpawnHandle>,
}

impl ConnectSupervisor {
    /// A supervisor with no connectors; with a `config_owner`, it restores the stored
    /// ones once started.
    pub fn new(settings: ConnectSettings) -> Self {
        let configs = match settings.config_owner {
            Some(_) => ConfigStorage::Loading,
            None => ConfigStorage::Off,
        };
        Self {
            settings,
            connectors: BTreeMap::new(),
            arbiter: None,
            next_incarnation: 0,
            configs,
            load_retry: None,
        }
    }

    /// Adds a connector (whose name is free) and starts its tasks.
    fn add_connector(
        &mut self,
        config: ConnectorConfig,
        paused: bool,
        ctx: &mut Context<Self>,
    ) -> ConnectorInfo {
        let name = config.name.clone();
        let tasks = (0..config.task_count())
            .map(|task| TaskSlot {
                state: State::Unassigned,
                addr: None,
                incarnation: 0,
                record: ChildRecord::starting(format!("task {name}-{task}")),
                history: RestartHistory::default(),
                trace: None,
                started: Instant::now(),
            })
            .collect();
        let connector = Connector {
            config: Arc::new(config),
            paused,
            deleting: false,
            tasks,
            created: Instant::now(),
        };
        let info = connector.info();
        let count = connector.tasks.len() as u32;
        self.connectors.insert(name.clone(), connector);
        for task in 0..count {
            self.start_task(&name, task, ctx);
        }
        tracing::info!(connector = %name, tasks = count, paused, "connector started");
        info
    }

    /// Writes `config` as `paused` (or running), then stops the tasks of the connector it
    /// replaces, if any, and starts the new ones; answers the new connector's details.
    /// Meant for an atomic handler: nothing else may change the connector meanwhile.
    fn put(
        &mut self,
        config: ConnectorConfig,
        paused: bool,
    ) -> ResponseActFuture<Self, Result<ConnectorInfo, ConnectError>> {
        let name = config.name.clone();
        let write = self.configs.put(&config, paused);
        Box::pin(write.into_actor(self).then(move |written, act, _ctx| {
            let old = match (&written, act.connectors.get_mut(&name)) {
                (Ok(()), Some(connector)) => connector.take_addrs(),
                _ => Vec::new(),
            };
            act.stop_all(old).into_actor(act).map(move |(), act, ctx| {
                written?;
                act.connectors.remove(&name);
                Ok(act.add_connector(config, paused, ctx))
            })
        }))
    }

    /// Attempt `attempt` (from 1) at reading `connect-configs`; requests wait meanwhile.
    /// A failed attempt is tried again after a back-off, during which changes are refused.
    fn load_configs(&mut self, attempt: u32, ctx: &mut Context<Self>) {
        self.load_retry = None;
        let Some(node) = self.settings.config_owner else {
            return;
        };
        let bootstrap = self.settings.bootstrap.clone();
        let open = async move { ConfigStore::open(&bootstrap, node).await };
        ctx.wait(open.into_actor(self).map(move |opened, act, ctx| {
            let err = match opened {
                Ok(opened) => return act.restore(opened, ctx),
                Err(err) => err,
            };
            match load_retry_pause(attempt) {
                Some(pause) => {
                    tracing::warn!(attempt, pause_ms = pause.as_millis() as u64, error = %err, "cannot read {CONFIGS_TOPIC} yet; trying again");
                    let next = ctx.run_later(pause, move |act, ctx| {
                        act.load_configs(attempt + 1, ctx);
                    });
                    act.load_retry = Some(next);
                }
                None => {
                    tracing::error!(attempt, error = %err, "cannot read {CONFIGS_TOPIC}; connector changes are refused until the node restarts");
                    act.configs = ConfigStorage::Failed(err.to_string());
                }
            }
        }));
    }

    /// Starts the connectors stored in `connect-configs`, then accepts changes.
    fn restore(
        &mut self,
        (store, stored): (ConfigStore, StoredConnectors),
        ctx: &mut Context<Self>,
    ) {
        for (name, connector) in stored {
            if self.connectors.len() >= self.settings.connectors_max {
                tracing::error!(connector = %name, "not restored: already {} connectors", self.connectors.len());
                continue;
            }
            match connector.validate(&name) {
                Ok(config) => {
                    self.add_connector(config, connector.paused(), ctx);
                }
                Err(err) => {
                    tracing::error!(connector = %name, error = %err, "stored connector not restored")
                }
            }
        }
        tracing::info!(
            connectors = self.connectors.len(),
            "connectors restored from {CONFIGS_TOPIC}"
        );
        self.configs = ConfigStorage::Ready(store);
    }

    /// Tells the tasks of a connector to pause or to run.
    fn set_paused(&mut self, msg: &SetPaused) -> Result<(), ConnectError> {
        let connector = self.connector_mut(&msg.name)?;
        connector.paused = msg.paused;
        let control = if msg.paused {
            Control::Pause
        } else {
            Control::Run
        };
        for slot in &connector.tasks {
            if let Some(addr) = &slot.addr {
                addr.do_send(SetControl(control));
            }
        }
        tracing::info!(connector = %msg.name, paused = msg.paused, "connector {}", if msg.paused { "paused" } else { "resumed" });
        Ok(())
    }

    fn connector(&self, name: &str) -> Result<&Connector, ConnectError> {
        self.connectors
            .get(name)
            .filter(|c| !c.deleting)
            .ok_or_else(|| ConnectError::NotFound(name.to_owned()))
    }

    fn connector_mut(&mut self, name: &str) -> Result<&mut Connector, ConnectError> {
        self.connectors
            .get_mut(name)
            .filter(|c| !c.deleting)
            .ok_or_else(|| ConnectError::NotFound(name.to_owned()))
    }

    fn incarnation(&mut self) -> u64 {
        self.next_incarnation += 1;
        self.next_incarnation
    }

    /// Starts a new incarnation of task `task` of `name`.
    fn start_task(&mut self, name: &str, task: u32, ctx: &mut Context<Self>) {
        let incarnation = self.incarnation();
        let bootstrap = self.settings.bootstrap.clone();
        let recipient = ctx.address().recipient();
        let Some(connector) = self.connectors.get_mut(name) else {
            return;
        };
        let Some(slot) = connector.tasks.get_mut(task as usize) else {
            return;
        };
        let config = connector.config.clone();
        let initial = if connector.paused {
            Control::Pause
        } else {
            Control::Run
        };
        let make = move |_: &mut Context<ConnectorTask>| {
            ConnectorTask::new(config, task, bootstrap, initial, recipient, incarnation)
        };
        let addr = match &self.arbiter {
            Some(arbiter) => ConnectorTask::start_in_arbiter(&arbiter.handle(), make),
            None => ConnectorTask::create(make),
        };
        slot.addr = Some(addr);
        slot.incarnation = incarnation;
        slot.state = State::Unassigned;
        slot.started = Instant::now();
        slot.record.state = ChildState::Starting;
        slot.record.since = Instant::now();
    }

    /// Starts the task again after its back-off, unless something replaced it meanwhile.
    fn restart_if_current(
        &mut self,
        name: &str,
        task: u32,
        incarnation: u64,
        ctx: &mut Context<Self>,
    ) {
        let current = self
            .connectors
            .get(name)
            .filter(|c| !c.deleting)
            .and_then(|c| c.tasks.get(task as usize))
            .is_some_and(|t| t.incarnation == incarnation && t.state == State::Restarting);
        if current {
            tracing::info!(connector = name, task, "restarting connector task");
            self.start_task(name, task, ctx);
        }
    }

    fn on_exit(
        &mut self,
        name: &str,
        task: u32,
        result: Result<(), ConnectError>,
        ctx: &mut Context<Self>,
    ) {
        let policy = self.settings.restart;
        let Some(connector) = self.connectors.get_mut(name) else {
            return;
        };
        let deleting = connector.deleting;
        let Some(slot) = connector.tasks.get_mut(task as usize) else {
            return;
        };
        slot.addr = None;
        let err = match result {
            Ok(()) => {
                slot.state = State::Unassigned;
                slot.record.state = ChildState::Stopped;
                return;
            }
            Err(err) => err,
        };
        let trace = err.to_string();
        slot.trace = Some(trace.clone());
        slot.record.last_error = Some(trace.clone());
        if deleting {
            slot.record.state = ChildState::Stopped;
            return;
        }
        let uptime = slot.started.elapsed();
        match policy.decide(
            &mut slot.history,
            err.is_retriable(),
            uptime,
            Instant::now(),
        ) {
            Verdict::RestartAfter(pause) => {
                slot.state = State::Restarting;
                slot.record.state = ChildState::Restarting;
                slot.record.restarts += 1;
                metrics::counter!("eddy_connect_task_restarts_total", "connector" => name.to_owned())
                    .increment(1);
                tracing::warn!(connector = name, task, pause_ms = pause.as_millis() as u64, error = %trace, "connector task failed; restarting after a back-off");
                let incarnation = slot.incarnation;
                let name = name.to_owned();
                ctx.run_later(pause, move |act, ctx| {
                    act.restart_if_current(&name, task, incarnation, ctx);
                });
            }
            verdict @ (Verdict::FailNow | Verdict::GiveUp) => {
                slot.state = State::Failed;
                slot.record.state = ChildState::Failed;
                let why = if verdict == Verdict::GiveUp {
                    "failed too often; marked FAILED until restarted"
                } else {
                    "failed with an error a restart cannot fix; marked FAILED until restarted"
                };
                tracing::error!(connector = name, task, error = %trace, "connector task {why}");
            }
        }
    }

    /// Stops `addrs` and waits for them, at most the stop timeout.
    fn stop_all(&self, addrs: Vec<Addr<ConnectorTask>>) -> impl std::future::Future<Output = ()> {
        let timeout = Duration::from_millis(self.settings.stop_timeout_ms);
        async move {
            let stops = join_all(addrs.iter().map(|a| a.send(StopTask)));
            if tokio::time::timeout(timeout, stops).await.is_err() {
                tracing::warn!(
                    "connector tasks did not stop within {} ms; dropping them",
                    timeout.as_millis()
                );
                for addr in addrs {
                    // The task did not end in time: stop its actor, dropping its work.
                    addr.do_send(AbortTask);
                }
            }
        }
    }
}

impl Actor for ConnectSupervisor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.arbiter = Some(Arbiter::new());
        if matches!(self.configs, ConfigStorage::Loading) {
            self.load_configs(1, ctx);
        }
    }

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        if let Some(arbiter) = self.arbiter.take() {
            arbiter.stop();
        }
    }
}

impl Handler<TaskEvent> for ConnectSupervisor {
    type Result = ();

    fn handle(&mut self, event: TaskEvent, ctx: &mut Self::Context) {
        let current = self
            .connectors
            .get(&event.connector)
            .and_then(|c| c.tasks.get(event.task as usize))
            .is_some_and(|t| t.incarnation == event.incarnation);
        if !current {
            return;
        }
        match event.kind {
            TaskEventKind::Exited(result) => {
                self.on_exit(&event.connector, event.task, result, ctx)
            }
            kind => {
                let Some(slot) = self
                    .connectors
                    .get_mut(&event.connector)
                    .and_then(|c| c.tasks.get_mut(event.task as usize))
                else {
                    return;
                };
                let (state, child) = match kind {
                    TaskEventKind::Paused => (State::Paused, ChildState::Stopped),
                    _ => (State::Running, ChildState::Running),
                };
                slot.state = state;
                slot.record.state = child;
                // A task that works again has no current error; the supervision record
                // keeps the last one.
                slot.trace = None;
            }
        }
    }
}

/// Creates a connector and starts its tasks.
#[derive(Message)]
#[rtype(result = "Result<ConnectorInfo, ConnectError>")]
pub struct CreateConnector(pub ConnectorConfig);

impl Handler<CreateConnector> for ConnectSupervisor {
    type Result = AtomicResponse<Self, Result<ConnectorInfo, ConnectError>>;

    fn handle(&mut self, msg: CreateConnector, _ctx: &mut Self::Context) -> Self::Result {
        let config = msg.0;
        let refused = if self.connectors.contains_key(&config.name) {
            Some(ConnectError::AlreadyExists(config.name.clone()))
        } else if self.connectors.len() >= self.settings.connectors_max {
            Some(ConnectError::TooManyConnectors(self.connectors.len()))
        } else {
            None
        };
        match refused {
            Some(err) => AtomicResponse::new(Box::pin(fut::ready(Err(err)))),
            None => AtomicResponse::new(self.put(config, false)),
        }
    }
}

/// Creates a connector, or replaces the configuration of an existing one: its tasks
/// commit their progress and stop, then start again with the new configuration (a paused
/// connector stays paused). Answered with whether it was created.
#[derive(Message)]
#[rtype(result = "Result<(bool, ConnectorInfo), ConnectError>")]
pub struct PutConnector(pub ConnectorConfig);

impl Handler<PutConnector> for ConnectSupervisor {
    type Result = AtomicResponse<Self, Result<(bool, ConnectorInfo), ConnectError>>;

    fn handle(&mut self, msg: PutConnector, _ctx: &mut Self::Context) -> Self::Result {
        let config = msg.0;
        let existing = self.connector(&config.name).map(|c| c.paused).ok();
        if existing.is_none() && self.connectors.len() >= self.settings.connectors_max {
            let err = ConnectError::TooManyConnectors(self.connectors.len());
            return AtomicResponse::new(Box::pin(fut::ready(Err(err))));
        }
        let put = self.put(config, existing.unwrap_or(false));
        let created = existing.is_none();
        AtomicResponse::new(Box::pin(
            put.map(move |result, _act, _ctx| result.map(|info| (created, info))),
        ))
    }
}

/// The connectors' names, sorted.
#[derive(Message)]
#[rtype(result = "Vec<String>")]
pub struct ListConnectors;

impl Handler<ListConnectors> for ConnectSupervisor {
    type Result = Vec<String>;

    fn handle(&mut self, _msg: ListConnectors, _ctx: &mut Self::Context) -> Self::Result {
        self.connectors
            .iter()
            .filter(|(_, c)| !c.deleting)
            .map(|(name, _)| name.clone())
            .collect()
    }
}

/// A connector's configuration and tasks.
#[derive(Message)]
#[rtype(result = "Result<ConnectorInfo, ConnectError>")]
pub struct GetConnector(pub String);

impl Handler<GetConnector> for ConnectSupervisor {
    type Result = Result<ConnectorInfo, ConnectError>;

    fn handle(&mut self, msg: GetConnector, _ctx: &mut Self::Context) -> Self::Result {
        Ok(self.connector(&msg.0)?.info())
    }
}

/// A connector's status.
#[derive(Message)]
#[rtype(result = "Result<ConnectorStatus, ConnectError>")]
pub struct GetStatus(pub String);

impl Handler<GetStatus> for ConnectSupervisor {
    type Result = Result<ConnectorStatus, ConnectError>;

    fn handle(&mut self, msg: GetStatus, _ctx: &mut Self::Context) -> Self::Result {
        Ok(self.connector(&msg.0)?.status(&self.settings.worker_id))
    }
}

/// Pauses (`true`) or resumes (`false`) a connector's tasks.
#[derive(Message)]
#[rtype(result = "Result<(), ConnectError>")]
pub struct SetPaused {
    /// The connector.
    pub name: String,
    /// Pause or resume.
    pub paused: bool,
}

impl Handler<SetPaused> for ConnectSupervisor {
    type Result = AtomicResponse<Self, Result<(), ConnectError>>;

    fn handle(&mut self, msg: SetPaused, _ctx: &mut Self::Context) -> Self::Result {
        let record = self
            .connector(&msg.name)
            .map(|c| self.configs.put(&c.config, msg.paused));
        let write = match record {
            Ok(write) => write,
            Err(err) => return AtomicResponse::new(Box::pin(fut::ready(Err(err)))),
        };
        AtomicResponse::new(Box::pin(write.into_actor(self).map(
            move |written, act, _ctx| {
                written?;
                act.set_paused(&msg)
            },
        )))
    }
}

/// Restarts a connector's tasks — one task, every task, or only the failed ones — as new
/// incarnations with a fresh restart history; answered with the status once started.
#[derive(Message)]
#[rtype(result = "Result<ConnectorStatus, ConnectError>")]
pub struct RestartConnector {
    /// The connector.
    pub name: String,
    /// Only this task, if set.
    pub task: Option<u32>,
    /// Only tasks that are FAILED.
    pub only_failed: bool,
}

impl Handler<RestartConnector> for ConnectSupervisor {
    type Result = ResponseActFuture<Self, Result<ConnectorStatus, ConnectError>>;

    fn handle(&mut self, msg: RestartConnector, _ctx: &mut Self::Context) -> Self::Result {
        let reserved = self.incarnation();
        let connector = match self.connector_mut(&msg.name) {
            Ok(connector) => connector,
            Err(err) => return Box::pin(fut::ready(Err(err))),
        };
        if let Some(task) = msg.task {
            if task as usize >= connector.tasks.len() {
                let err = ConnectError::TaskNotFound {
                    connector: msg.name,
                    task,
                };
                return Box::pin(fut::ready(Err(err)));
            }
        }
        let mut targets = Vec::new();
        let mut old = Vec::new();
        for (index, slot) in connector.tasks.iter_mut().enumerate() {
            let chosen = msg.task.is_none_or(|t| t as usize == index)
                && (!msg.only_failed || slot.state == State::Failed);
            if !chosen {
                continue;
            }
            old.extend(slot.addr.take());
            // Reports of the old incarnation are ignored from now on.
            slot.incarnation = reserved;
            slot.state = State::Unassigned;
            slot.trace = None;
            slot.history.reset();
            targets.push(index as u32);
        }
        let stopping = self.stop_all(old);
        let name = msg.name;
        Box::pin(stopping.into_actor(self).map(move |(), act, ctx| {
            for task in targets {
                let still_reserved = act
                    .connectors
                    .get(&name)
                    .and_then(|c| c.tasks.get(task as usize))
                    .is_some_and(|t| t.incarnation == reserved);
                if still_reserved {
                    act.start_task(&name, task, ctx);
                }
            }
            tracing::info!(connector = %name, "connector restarted");
            Ok(act.connector(&name)?.status(&act.settings.worker_id))
        }))
    }
}

/// Deletes a connector: its tasks commit their progress and stop, then it is forgotten.
/// Its stored source offsets and committed group offsets stay, as in Kafka: a connector
/// created again under the same name goes on where this one stopped.
#[derive(Message)]
#[rtype(result = "Result<(), ConnectError>")]
pub struct DeleteConnector(pub String);

impl Handler<DeleteConnector> for ConnectSupervisor {
    type Result = AtomicResponse<Self, Result<(), ConnectError>>;

    fn handle(&mut self, msg: DeleteConnector, _ctx: &mut Self::Context) -> Self::Result {
        if let Err(err) = self.connector(&msg.0) {
            return AtomicResponse::new(Box::pin(fut::ready(Err(err))));
        }
        let name = msg.0;
        let write = self.configs.remove(&name);
        AtomicResponse::new(Box::pin(write.into_actor(self).then(
            move |written, act, _ctx| {
                let addrs = match (&written, act.connectors.get_mut(&name)) {
                    (Ok(()), Some(connector)) => {
                        connector.deleting = true;
                        connector.take_addrs()
                    }
                    _ => Vec::new(),
                };
                act.stop_all(addrs)
                    .into_actor(act)
                    .map(move |(), act, _ctx| {
                        written?;
                        act.connectors.remove(&name);
                        tracing::info!(connector = %name, "connector deleted");
                        Ok(())
                    })
            },
        )))
    }
}

/// The supervision tree below the supervisor: one report per connector, its tasks as
/// children.
#[derive(Message)]
#[rtype(result = "Vec<SupervisorReport>")]
pub struct ReportConnectors;

impl Handler<ReportConnectors> for ConnectSupervisor {
    type Result = Vec<SupervisorReport>;

    fn handle(&mut self, _msg: ReportConnectors, _ctx: &mut Self::Context) -> Self::Result {
        self.connectors.values().map(Connector::report).collect()
    }
}

/// Stops every connector (each task commits its progress), then answers.
#[derive(Message)]
#[rtype(result = "()")]
pub struct StopConnectors;

impl Handler<StopConnectors> for ConnectSupervisor {
    type Result = ResponseActFuture<Self, ()>;

    fn handle(&mut self, _msg: StopConnectors, ctx: &mut Self::Context) -> Self::Result {
        if let Some(retry) = self.load_retry.take() {
            // Stopping between two attempts at reading the stored connectors: none may
            // start afterwards.
            ctx.cancel_future(retry);
        }
        let mut addrs = Vec::new();
        for connector in self.connectors.values_mut() {
            connector.deleting = true;
            addrs.extend(connector.take_addrs());
        }
        Box::pin(self.stop_all(addrs).into_actor(self).map(|(), act, _ctx| {
            act.connectors.clear();
        }))
    }
}
