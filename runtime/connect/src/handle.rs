//! `ConnectHandle`: how the rest of Eddy (the REST routes, `eddy connect run`, the node)
//! talks to a ConnectSupervisor — typed async calls instead of raw messages, with a gone
//! supervisor turned into `ConnectError::Unavailable`.

use actix::prelude::*;
use eddy_actors::supervision::SupervisorReport;

use std::sync::Arc;

use super::config::ConnectorConfig;
use super::error::ConnectError;
use super::offset_admin::{ConnectorOffset, ConnectorOffsets};
use super::status::{ConnectorInfo, ConnectorStatus};
use super::supervisor::{
    ConnectSettings, ConnectSupervisor, CreateConnector, DeleteConnector, GetConnector, GetOffsets,
    GetStatus, GetTopics, ListConnectors, ModifyOffsets, PutConnector, ReportConnectors,
    RestartConnector, SetTarget, StopConnectors, Target,
};
use super::worker::WorkerDefaults;

/// A cheap, cloneable reference to a running ConnectSupervisor.
#[derive(Clone)]
pub struct ConnectHandle {
    addr: Addr<ConnectSupervisor>,
    /// The supervisor's settings, for what the REST API answers without asking it (the
    /// defaults a configuration is validated with, the cluster to ask for its id).
    settings: Arc<ConnectSettings>,
}

impl std::fmt::Debug for ConnectHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectHandle").finish_non_exhaustive()
    }
}

impl ConnectHandle {
    /// Starts a ConnectSupervisor on the current arbiter. Must be called inside an actix
    /// `System`.
    pub fn start(settings: ConnectSettings) -> Self {
        Self {
            addr: ConnectSupervisor::new(settings.clone()).start(),
            settings: Arc::new(settings),
        }
    }

    /// A handle on a supervisor started elsewhere with `settings`.
    pub fn from_addr(addr: Addr<ConnectSupervisor>, settings: ConnectSettings) -> Self {
        Self {
            addr,
            settings: Arc::new(settings),
        }
    }

    /// The Kafka address of the cluster the connectors use.
    pub fn bootstrap(&self) -> &str {
        &self.settings.bootstrap
    }

    /// What the supervisor's connectors inherit.
    pub fn defaults(&self) -> &WorkerDefaults {
        &self.settings.defaults
    }

    /// The supervisor's address.
    pub fn addr(&self) -> &Addr<ConnectSupervisor> {
        &self.addr
    }

    /// Creates a connector and starts its tasks.
    pub async fn create(&self, config: ConnectorConfig) -> Result<ConnectorInfo, ConnectError> {
        self.ask(CreateConnector(config)).await?
    }

    /// Creates a connector or replaces an existing one's configuration; answers whether it
    /// was created.
    pub async fn put(
        &self,
        config: ConnectorConfig,
    ) -> Result<(bool, ConnectorInfo), ConnectError> {
        self.ask(PutConnector(config)).await?
    }

    /// The connectors' names, sorted.
    pub async fn list(&self) -> Result<Vec<String>, ConnectError> {
        self.ask(ListConnectors).await
    }

    /// A connector's configuration and tasks.
    pub async fn info(&self, name: &str) -> Result<ConnectorInfo, ConnectError> {
        self.ask(GetConnector(name.to_owned())).await?
    }

    /// A connector's status.
    pub async fn status(&self, name: &str) -> Result<ConnectorStatus, ConnectError> {
        self.ask(GetStatus(name.to_owned())).await?
    }

    /// Pauses a connector: its tasks commit their progress and read nothing until resumed.
    pub async fn pause(&self, name: &str) -> Result<(), ConnectError> {
        self.set_target(name, Target::Paused).await
    }

    /// Resumes a paused or stopped connector.
    pub async fn resume(&self, name: &str) -> Result<(), ConnectError> {
        self.set_target(name, Target::Running).await
    }

    /// Stops a connector (KIP-875): its tasks commit their progress and end; it keeps its
    /// configuration and runs nothing until resumed.
    pub async fn stop(&self, name: &str) -> Result<(), ConnectError> {
        self.set_target(name, Target::Stopped).await
    }

    /// The topics a connector's tasks have used (KIP-558).
    pub async fn topics(&self, name: &str) -> Result<Vec<String>, ConnectError> {
        self.ask(GetTopics(name.to_owned())).await?
    }

    /// A connector's stored offsets (KIP-875).
    pub async fn offsets(&self, name: &str) -> Result<ConnectorOffsets, ConnectError> {
        self.ask(GetOffsets(name.to_owned())).await?
    }

    /// Alters a stopped connector's offsets (`Some`) or resets them (`None`); answers
    /// Kafka's message.
    pub async fn modify_offsets(
        &self,
        name: &str,
        offsets: Option<Vec<ConnectorOffset>>,
    ) -> Result<String, ConnectError> {
        self.ask(ModifyOffsets {
            name: name.to_owned(),
            offsets,
        })
        .await?
    }

    /// Restarts a connector's tasks (one task if `task` is set; only FAILED ones if
    /// `only_failed`), each with a fresh restart history.
    pub async fn restart(
        &self,
        name: &str,
        task: Option<u32>,
        only_failed: bool,
    ) -> Result<ConnectorStatus, ConnectError> {
        self.ask(RestartConnector {
            name: name.to_owned(),
            task,
            only_failed,
        })
        .await?
    }

    /// Deletes a connector once its tasks have committed and stopped.
    pub async fn delete(&self, name: &str) -> Result<(), ConnectError> {
        self.ask(DeleteConnector(name.to_owned())).await?
    }

    /// One supervision report per connector, its tasks as children (empty if the
    /// supervisor is gone).
    pub async fn report(&self) -> Vec<SupervisorReport> {
        self.ask(ReportConnectors).await.unwrap_or_default()
    }

    /// Stops every connector, each task committing its progress first.
    pub async fn shutdown(&self) {
        // A supervisor that is gone has nothing left to stop.
        let _ = self.ask(StopConnectors).await;
    }

    async fn set_target(&self, name: &str, target: Target) -> Result<(), ConnectError> {
        self.ask(SetTarget {
            name: name.to_owned(),
            target,
        })
        .await?
    }

    async fn ask<M>(&self, msg: M) -> Result<M::Result, ConnectError>
    where
        M: Message + Send + 'static,
        M::Result: Send,
        ConnectSupervisor: Handler<M>,
    {
        self.addr
            .send(msg)
            .await
            .map_err(|_| ConnectError::Unavailable)
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use eddy_actors::supervision::{ChildState, RestartIntensity};

    use super::super::properties::parse_properties;
    use super::super::restart::RestartPolicy;
    use super::super::status::State;
    use super::*;

    /// How long the supervisor may take to give a failing task up.
    const FAILED_TIMEOUT_MS: u64 = 10_000;

    fn generator(name: &str) -> ConnectorConfig {
        let text = format!("name={name}\nconnector.class=generator\ntopic=t\n");
        ConnectorConfig::validate(parse_properties("test", &text)).unwrap()
    }

    /// A supervisor whose cluster does not exist (nothing listens on port 1), with fast
    /// restarts: every task fails with a retriable error.
    fn unreachable_cluster() -> ConnectHandle {
        let mut settings = ConnectSettings::new("127.0.0.1:1", "test-worker");
        settings.restart = RestartPolicy {
            backoff_initial_ms: 10,
            backoff_max_ms: 40,
            intensity: RestartIntensity {
                restarts_max: 3,
                window: Duration::from_secs(60),
            },
            stable_after_ms: 60_000,
        };
        ConnectHandle::start(settings)
    }

    async fn wait_for_failed(handle: &ConnectHandle, name: &str) -> super::super::ConnectorStatus {
        let deadline = Instant::now() + Duration::from_millis(FAILED_TIMEOUT_MS);
        loop {
            let status = handle.status(name).await.unwrap();
            if status.tasks.iter().all(|t| t.state == State::Failed) {
                return status;
            }
            assert!(Instant::now() < deadline, "never FAILED: {status:?}");
            actix_rt::time::sleep(Duration::from_millis(20)).await;
        }
    }

    #[actix_rt::test]
    async fn a_task_that_keeps_failing_is_failed_with_its_last_error() {
        let handle = unreachable_cluster();
        let info = handle.create(generator("gen")).await.unwrap();
        assert_eq!(info.tasks.len(), 1);
        let status = wait_for_failed(&handle, "gen").await;
        assert_eq!(status.connector.state, State::Failed);
        assert_eq!(status.connector.worker_id, "test-worker");
        let task = &status.tasks[0];
        assert_eq!(task.restarts, 3, "{status:?}");
        let trace = task.trace.as_deref().unwrap_or_default();
        assert!(trace.contains("127.0.0.1:1"), "{trace}");

        let report = handle.report().await;
        assert_eq!(report.len(), 1);
        assert_eq!(report[0].name, "connector gen");
        assert_eq!(report[0].state, ChildState::Failed);
        assert_eq!(report[0].children[0].state, ChildState::Failed);
        assert_eq!(report[0].children[0].name, "task gen-0");

        // A user restart starts afresh: a new history, failing (and given up) again.
        let restarted = handle.restart("gen", None, true).await.unwrap();
        assert_ne!(restarted.tasks[0].state, State::Failed);
        wait_for_failed(&handle, "gen").await;
    }

    #[actix_rt::test]
    async fn a_put_creates_then_replaces_keeping_the_paused_state() {
        let handle = unreachable_cluster();
        let (created, info) = handle.put(generator("gen")).await.unwrap();
        assert!(created);
        assert_eq!(info.tasks.len(), 1);
        handle.pause("gen").await.unwrap();
        let text = "name=gen\nconnector.class=generator\ntopic=u\ntasks.max=3\n";
        let wider = ConnectorConfig::validate(parse_properties("test", text)).unwrap();
        let (created, info) = handle.put(wider).await.unwrap();
        assert!(!created);
        assert_eq!(info.tasks.len(), 3);
        assert_eq!(handle.info("gen").await.unwrap().config["topic"], "u");
        let status = handle.status("gen").await.unwrap();
        assert_eq!(status.connector.state, State::Paused);
        assert_eq!(handle.list().await.unwrap(), ["gen"]);
        handle.shutdown().await;
    }

    #[actix_rt::test]
    async fn connectors_are_created_listed_paused_and_deleted() {
        let handle = unreachable_cluster();
        handle.create(generator("b")).await.unwrap();
        handle.create(generator("a")).await.unwrap();
        let again = handle.create(generator("a")).await.unwrap_err();
        assert!(matches!(again, ConnectError::AlreadyExists(_)), "{again}");
        assert_eq!(handle.list().await.unwrap(), ["a", "b"]);
        handle.pause("a").await.unwrap();
        assert_eq!(
            handle.status("a").await.unwrap().connector.state,
            State::Paused
        );
        handle.resume("a").await.unwrap();
        assert_eq!(handle.info("a").await.unwrap().config["topic"], "t");
        let missing = handle.restart("a", Some(7), false).await.unwrap_err();
        assert!(
            matches!(missing, ConnectError::TaskNotFound { .. }),
            "{missing}"
        );
        handle.delete("a").await.unwrap();
        assert_eq!(handle.list().await.unwrap(), ["b"]);
        let gone = handle.status("a").await.unwrap_err();
        assert_eq!(gone.http_status(), 404);
        handle.shutdown().await;
        assert!(handle.list().await.unwrap().is_empty());
    }
}
