//! ConnectSupervisor: owns the connectors of one node (or of one `eddy connect run`
//! process) — their configurations, their target state (running or paused) and one
//! supervised ConnectorTask per task.
//!
//! A connector's target state is RUNNING, PAUSED (tasks alive, reading nothing) or STOPPED
//! (KIP-875: no task at all, so its offsets may be altered or reset through
//! `offset_admin.rs`); the topics its tasks have used (KIP-558) are reported by the tasks
//! and kept in memory.
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

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use eddy_actors::supervision::{ChildState, SupervisorReport};
use futures::future::join_all;

use super::config::ConnectorConfig;
use super::configs::{
    load_retry_pause, ConfigStorage, ConfigStore, StoredConnectors, TargetState, CONFIGS_TOPIC,
};
use super::connector_record::{task_slots, Connector};
use super::error::ConnectError;
use super::offset_admin::{self, ConnectorOffset, ConnectorOffsets, OffsetsPlace};
use super::offsets::OffsetStorage;
use super::restart::{RestartPolicy, Verdict};
use super::status::{ConnectorInfo, ConnectorStatus, State};
use super::task::{
    AbortTask, ConnectorTask, Control, SetControl, StopTask, TaskEvent, TaskEventKind,
};
use super::worker::WorkerDefaults;

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
    /// What connectors inherit (a standalone worker file's settings; a node's defaults).
    pub defaults: WorkerDefaults,
    /// Where source connectors keep their offsets.
    pub offsets: OffsetStorage,
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
            defaults: WorkerDefaults::default(),
            offsets: OffsetStorage::Topic,
        }
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
        target: TargetState,
        ctx: &mut Context<Self>,
    ) -> ConnectorInfo {
        let name = config.name.clone();
        let tasks = match target {
            TargetState::Stopped => Vec::new(),
            TargetState::Running | TargetState::Paused => task_slots(&name, config.task_count()),
        };
        let connector = Connector {
            config: Arc::new(config),
            target,
            deleting: false,
            tasks,
            created: Instant::now(),
            topics: BTreeSet::new(),
        };
        let info = connector.info();
        let count = connector.tasks.len() as u32;
        self.connectors.insert(name.clone(), connector);
        for task in 0..count {
            self.start_task(&name, task, ctx);
        }
        tracing::info!(connector = %name, tasks = count, ?target, "connector started");
        info
    }

    /// Writes `config` in target state `target`, then stops the tasks of the connector it
    /// replaces, if any, and starts the new ones; answers the new connector's details.
    /// Meant for an atomic handler: nothing else may change the connector meanwhile.
    fn put(
        &mut self,
        config: ConnectorConfig,
        target: TargetState,
    ) -> ResponseActFuture<Self, Result<ConnectorInfo, ConnectError>> {
        let name = config.name.clone();
        let write = self.configs.put(&config, target);
        Box::pin(write.into_actor(self).then(move |written, act, _ctx| {
            let old = match (&written, act.connectors.get_mut(&name)) {
                (Ok(()), Some(connector)) => connector.take_addrs(),
                _ => Vec::new(),
            };
            act.stop_all(old).into_actor(act).map(move |(), act, ctx| {
                written?;
                act.connectors.remove(&name);
                Ok(act.add_connector(config, target, ctx))
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
            match connector.validate(&name, &self.settings.defaults) {
                Ok(config) => {
                    self.add_connector(config, connector.state, ctx);
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

    /// Moves a connector to `target`: from STOPPED its tasks are created and started (paused
    /// or running); to STOPPED they commit, stop and are dropped; between RUNNING and
    /// PAUSED they are told. Resolves once done.
    fn set_target(
        &mut self,
        name: &str,
        target: TargetState,
        ctx: &mut Context<Self>,
    ) -> Result<Vec<Addr<ConnectorTask>>, ConnectError> {
        let connector = self.connector_mut(name)?;
        let previous = connector.target;
        connector.target = target;
        tracing::info!(connector = %name, ?previous, ?target, "connector target state changed");
        match (previous, target) {
            (TargetState::Stopped, TargetState::Stopped) => Ok(Vec::new()),
            (TargetState::Stopped, _) => {
                connector.tasks = task_slots(name, connector.config.task_count());
                for task in 0..connector.tasks.len() as u32 {
                    self.start_task(name, task, ctx);
                }
                Ok(Vec::new())
            }
            (_, TargetState::Stopped) => Ok(connector.take_addrs()),
            (_, running_or_paused) => {
                let control = if running_or_paused == TargetState::Paused {
                    Control::Pause
                } else {
                    Control::Run
                };
                for slot in &connector.tasks {
                    if let Some(addr) = &slot.addr {
                        addr.do_send(SetControl(control));
                    }
                }
                Ok(Vec::new())
            }
        }
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

    fn offsets_place(&self) -> OffsetsPlace {
        OffsetsPlace {
            bootstrap: self.settings.bootstrap.clone(),
            storage: self.settings.offsets.clone(),
        }
    }

    fn incarnation(&mut self) -> u64 {
        self.next_incarnation += 1;
        self.next_incarnation
    }

    /// Starts a new incarnation of task `task` of `name`.
    fn start_task(&mut self, name: &str, task: u32, ctx: &mut Context<Self>) {
        let incarnation = self.incarnation();
        let bootstrap = self.settings.bootstrap.clone();
        let offsets = self.settings.offsets.clone();
        let recipient = ctx.address().recipient();
        let Some(connector) = self.connectors.get_mut(name) else {
            return;
        };
        let Some(slot) = connector.tasks.get_mut(task as usize) else {
            return;
        };
        let config = connector.config.clone();
        let initial = if connector.target == TargetState::Paused {
            Control::Pause
        } else {
            Control::Run
        };
        let make = move |_: &mut Context<ConnectorTask>| {
            ConnectorTask::new(
                config,
                task,
                bootstrap,
                offsets,
                initial,
                recipient,
                incarnation,
            )
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
            TaskEventKind::Topic(topic) => {
                if let Some(connector) = self.connectors.get_mut(&event.connector) {
                    connector.topics.insert(topic);
                }
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
            None => AtomicResponse::new(self.put(config, TargetState::Running)),
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
        let existing = self.connector(&config.name).map(|c| c.target).ok();
        if existing.is_none() && self.connectors.len() >= self.settings.connectors_max {
            let err = ConnectError::TooManyConnectors(self.connectors.len());
            return AtomicResponse::new(Box::pin(fut::ready(Err(err))));
        }
        let put = self.put(config, existing.unwrap_or(TargetState::Running));
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

/// A connector's target state, as the REST API asks for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// `PUT /connectors/<name>/resume`.
    Running,
    /// `PUT /connectors/<name>/pause`.
    Paused,
    /// `PUT /connectors/<name>/stop` (KIP-875).
    Stopped,
}

/// Moves a connector to a target state: answered once stored and, for a stop, once its
/// tasks have committed their progress and ended.
#[derive(Message)]
#[rtype(result = "Result<(), ConnectError>")]
pub struct SetTarget {
    /// The connector.
    pub name: String,
    /// Where it goes.
    pub target: Target,
}

impl Handler<SetTarget> for ConnectSupervisor {
    type Result = AtomicResponse<Self, Result<(), ConnectError>>;

    fn handle(&mut self, msg: SetTarget, _ctx: &mut Self::Context) -> Self::Result {
        let target = match msg.target {
            Target::Running => TargetState::Running,
            Target::Paused => TargetState::Paused,
            Target::Stopped => TargetState::Stopped,
        };
        let record = self
            .connector(&msg.name)
            .map(|c| self.configs.put(&c.config, target));
        let write = match record {
            Ok(write) => write,
            Err(err) => return AtomicResponse::new(Box::pin(fut::ready(Err(err)))),
        };
        let name = msg.name;
        AtomicResponse::new(Box::pin(write.into_actor(self).then(
            move |written, act, ctx| {
                let (stopping, result) =
                    match written.and_then(|()| act.set_target(&name, target, ctx)) {
                        Ok(addrs) => (addrs, Ok(())),
                        Err(err) => (Vec::new(), Err(err)),
                    };
                act.stop_all(stopping)
                    .into_actor(act)
                    .map(move |(), act, _ctx| {
                        if let Some(connector) = act.connectors.get_mut(&name) {
                            if connector.target == TargetState::Stopped {
                                connector.tasks.clear();
                            }
                        }
                        result
                    })
            },
        )))
    }
}

/// The topics a connector's tasks have used since it was created (KIP-558).
#[derive(Message)]
#[rtype(result = "Result<Vec<String>, ConnectError>")]
pub struct GetTopics(pub String);

impl Handler<GetTopics> for ConnectSupervisor {
    type Result = Result<Vec<String>, ConnectError>;

    fn handle(&mut self, msg: GetTopics, _ctx: &mut Self::Context) -> Self::Result {
        Ok(self.connector(&msg.0)?.topics.iter().cloned().collect())
    }
}

/// A connector's stored offsets (KIP-875), in any state.
#[derive(Message)]
#[rtype(result = "Result<ConnectorOffsets, ConnectError>")]
pub struct GetOffsets(pub String);

impl Handler<GetOffsets> for ConnectSupervisor {
    type Result = ResponseFuture<Result<ConnectorOffsets, ConnectError>>;

    fn handle(&mut self, msg: GetOffsets, _ctx: &mut Self::Context) -> Self::Result {
        let config = match self.connector(&msg.0) {
            Ok(connector) => connector.config.clone(),
            Err(err) => return Box::pin(async move { Err(err) }),
        };
        let place = self.offsets_place();
        Box::pin(async move { offset_admin::list(&place, &config).await })
    }
}

/// Alters (`Some`, KIP-875's PATCH) or resets (`None`, its DELETE) a STOPPED connector's
/// offsets; answered with Kafka's message.
#[derive(Message)]
#[rtype(result = "Result<String, ConnectError>")]
pub struct ModifyOffsets {
    /// The connector.
    pub name: String,
    /// The offsets to store, or `None` to forget them all.
    pub offsets: Option<Vec<ConnectorOffset>>,
}

impl Handler<ModifyOffsets> for ConnectSupervisor {
    type Result = AtomicResponse<Self, Result<String, ConnectError>>;

    fn handle(&mut self, msg: ModifyOffsets, _ctx: &mut Self::Context) -> Self::Result {
        let checked = self.connector(&msg.name).and_then(|c| {
            if c.target == TargetState::Stopped && c.tasks.iter().all(|t| t.addr.is_none()) {
                Ok(c.config.clone())
            } else {
                Err(ConnectError::BadRequest(format!(
                    "Connectors must be in the STOPPED state before their offsets can be \
                     modified. This can be done for the specified connector by issuing a 'PUT' \
                     request to the '/connectors/{}/stop' endpoint",
                    msg.name
                )))
            }
        });
        let config = match checked {
            Ok(config) => config,
            Err(err) => return AtomicResponse::new(Box::pin(fut::ready(Err(err)))),
        };
        let place = self.offsets_place();
        let work = async move {
            let kind = match msg.offsets {
                Some(offsets) => {
                    offset_admin::alter(&place, &config, offsets).await?;
                    "altered"
                }
                None => {
                    offset_admin::reset(&place, &config).await?;
                    "reset"
                }
            };
            Ok(format!(
                "The Connect framework-managed offsets for this connector have been {kind} \
                 successfully. However, if this connector manages offsets externally, they will \
                 need to be manually {kind} in the system that the connector uses."
            ))
        };
        AtomicResponse::new(Box::pin(work.into_actor(self)))
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
