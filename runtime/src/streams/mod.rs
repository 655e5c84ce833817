//! Running topologies against a Kafka cluster (an Eddy node, embedded or remote): each task
//! of a [`Topology`] — one sub-topology for one input partition — runs as a supervised
//! [`StreamTask`](stream_task::StreamTask) actor in the program's own actix system, reading
//! and writing through the Kafka protocol like a Kafka Streams application, with the
//! application id as its consumer group and internal-topic prefix.
//!
//! Not yet: instances sharing an application id do not split partitions between them (the
//! client has no group membership yet): one instance runs every task. Stores are in memory,
//! rebuilt from their changelog topics at every (re)start.

pub mod registry;
pub mod stream_task;
pub mod topology_supervisor;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use actix::Addr;
use eddy_actors::supervision::RestartIntensity;
use eddy_topologies::{InternalTopicKind, StreamsConfig, TaskId, Topology};

use crate::client::{Admin, ClientError, ResponseError};
pub use topology_supervisor::{Report, TaskReport, TopologySupervisor};

/// Kafka Streams' default `commit.interval.ms` for at-least-once.
pub const COMMIT_INTERVAL_MS_DEFAULT: u64 = 30_000;

/// What every task of an application shares.
#[derive(Debug, Clone)]
pub struct StreamsSettings {
    /// `application.id` and friends.
    pub config: StreamsConfig,
    /// `bootstrap.servers`.
    pub bootstrap: String,
    /// `commit.interval.ms`: how often input offsets are committed (after outputs are
    /// acknowledged).
    pub commit_interval: Duration,
}

impl StreamsSettings {
    /// Settings with Kafka Streams' defaults.
    pub fn new(application_id: &str, bootstrap: &str) -> Self {
        StreamsSettings {
            config: StreamsConfig::new(application_id),
            bootstrap: bootstrap.to_string(),
            commit_interval: Duration::from_millis(COMMIT_INTERVAL_MS_DEFAULT),
        }
    }
}

/// Why an application could not start.
#[derive(Debug, thiserror::Error)]
pub enum StreamsError {
    /// The cluster could not be reached or refused a request.
    #[error("{0}")]
    Client(#[from] ClientError),
    /// A source topic is missing.
    #[error("source topic '{0}' does not exist; create it first, e.g. `eddy topic create {0} --partitions 1`")]
    MissingSourceTopic(String),
}

/// A running application.
pub struct KafkaStreams {
    supervisor: Addr<TopologySupervisor>,
    tasks: Vec<TaskId>,
    reporter: actix_rt::task::JoinHandle<()>,
}

impl Drop for KafkaStreams {
    fn drop(&mut self) {
        self.reporter.abort();
    }
}

/// Reports the application and its tasks to the registry topic every few seconds (see
/// [`registry`]), until the application's supervisor is gone.
async fn report_loop(
    supervisor: Addr<TopologySupervisor>,
    bootstrap: String,
    application_id: String,
    description: String,
    internal_topics: Vec<String>,
) {
    let mut registry = None;
    loop {
        let Ok((_, tasks)) = supervisor.send(Report).await else {
            return;
        };
        if registry.is_none() {
            match registry::Registry::connect(&bootstrap).await {
                Ok(r) => registry = Some(r),
                Err(err) => tracing::debug!(error = %err, "topology registry unreachable"),
            }
        }
        if let Some(r) = registry.as_mut() {
            let record = registry::AppRecord {
                application_id: application_id.clone(),
                description: description.clone(),
                internal_topics: internal_topics.clone(),
                tasks: tasks
                    .into_iter()
                    .map(|t| registry::TaskRow {
                        task: t.supervision.name.trim_start_matches("task ").to_string(),
                        state: format!("{:?}", t.supervision.state).to_lowercase(),
                        restarts: t.supervision.restarts,
                        last_error: t.supervision.last_error,
                        processed_records: t.processed_records,
                        dropped_late_records: t.dropped_late_records,
                        committed: t.committed,
                    })
                    .collect(),
                instance: registry::instance_name(),
                reported_at_ms: registry::now_ms(),
            };
            if let Err(err) = r.publish(&record).await {
                tracing::debug!(error = %err, "could not report to the topology registry");
                registry = None;
            }
        }
        actix_rt::time::sleep(registry::REPORT_INTERVAL).await;
    }
}

async fn partition_counts(admin: &mut Admin) -> Result<BTreeMap<String, i32>, ClientError> {
    Ok(admin
        .list_topics()
        .await?
        .into_iter()
        .map(|t| (t.name.clone(), t.partitions.len() as i32))
        .collect())
}

impl KafkaStreams {
    /// Creates the internal topics, then starts one supervised task per (sub-topology,
    /// partition). Must be called inside an actix `System`.
    pub async fn start(
        topology: Topology,
        settings: StreamsSettings,
    ) -> Result<KafkaStreams, StreamsError> {
        let app = settings.config.application_id.clone();
        let mut admin = Admin::connect(&settings.bootstrap).await?;
        let mut counts = partition_counts(&mut admin).await?;
        let internal = topology.internal_topics(&app);
        let mut user_max = 1;
        for s in 0..topology.subtopology_count() as u32 {
            for topic in topology.source_topics(s, &app) {
                if internal.iter().any(|t| t.name == topic) {
                    continue;
                }
                let n = *counts
                    .get(&topic)
                    .ok_or_else(|| StreamsError::MissingSourceTopic(topic.clone()))?;
                user_max = user_max.max(n);
            }
        }
        for t in &internal {
            if counts.contains_key(&t.name) {
                continue;
            }
            let configs = match t.kind {
                InternalTopicKind::Changelog => {
                    vec![("cleanup.policy".to_string(), "compact".to_string())]
                }
                InternalTopicKind::Repartition => Vec::new(),
            };
            // Replication factor -1: the cluster's default.replication.factor, as Kafka
            // Streams' `replication.factor=-1`.
            match admin.create_topic(&t.name, user_max, -1, &configs).await {
                Ok(()) => {}
                Err(err) if err.kafka_error() == Some(ResponseError::TopicAlreadyExists) => {}
                Err(err) => return Err(err.into()),
            }
        }
        counts = partition_counts(&mut admin).await?;
        let mut tasks = Vec::new();
        for s in 0..topology.subtopology_count() as u32 {
            let partitions = topology
                .source_topics(s, &app)
                .iter()
                .filter_map(|t| counts.get(t))
                .copied()
                .max()
                .unwrap_or(1);
            tasks.extend((0..partitions).map(|partition| TaskId {
                subtopology: s,
                partition,
            }));
        }
        tracing::info!(application = %app, tasks = tasks.len(), "starting stream tasks");
        let description = topology.describe().to_string();
        let internal_names = internal.iter().map(|t| t.name.clone()).collect();
        let bootstrap = settings.bootstrap.clone();
        let supervisor = TopologySupervisor::launch(
            topology,
            Arc::new(settings),
            tasks.clone(),
            RestartIntensity::default(),
        );
        let reporter = actix_rt::spawn(report_loop(
            supervisor.clone(),
            bootstrap,
            app,
            description,
            internal_names,
        ));
        Ok(KafkaStreams {
            supervisor,
            tasks,
            reporter,
        })
    }

    /// The tasks this instance runs.
    pub fn tasks(&self) -> &[TaskId] {
        &self.tasks
    }

    /// The live supervision tree of the application's tasks, with their progress.
    pub async fn report(
        &self,
    ) -> Option<(eddy_actors::supervision::SupervisorReport, Vec<TaskReport>)> {
        self.supervisor.send(Report).await.ok()
    }
}
