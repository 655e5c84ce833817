//! Where running streams applications say what they are and how their tasks are doing: a
//! compacted topic `__eddy_topologies`, one record per application instance (JSON, keyed
//! `<application.id>\0<instance>`; reports from before instances were keyed by the
//! application id alone), written when an instance starts and then every few seconds, and
//! removed (a tombstone) when it closes. `eddy topology list|describe` read it — the
//! instances of one application merged, crashed ones left out once their reports are
//! [`STALE_INTERVALS`] intervals older than the newest — so the tasks of an application
//! running in its own programs, against any node of the cluster, are visible from anywhere.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use eddy_client::{
    Acks, Admin, ClientError, Consumer, Producer, ProducerConfig, ProducerRecord, ResponseError,
    StartOffset,
};

/// The registry topic.
pub const REGISTRY_TOPIC: &str = "__eddy_topologies";
/// The registry topic's replication factor, on a cluster of at least that many nodes.
const REGISTRY_REPLICAS_MAX: usize = 3;
/// How often a running application reports.
pub const REPORT_INTERVAL: Duration = Duration::from_secs(5);
/// An instance whose last report is this many report intervals older than its
/// application's newest report has stopped (crashed: a closed instance removes its report).
pub const STALE_INTERVALS: u32 = 3;
/// How long `read_all` may take to read the topic to its end.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// One task as last reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskRow {
    /// `<sub-topology>_<partition>`, as Kafka Streams names tasks.
    pub task: String,
    /// Lifecycle state (running, restarting, failed…).
    pub state: String,
    /// Restarts so far.
    pub restarts: u64,
    /// The last error, if any.
    pub last_error: Option<String>,
    /// Records processed by the current run.
    pub processed_records: u64,
    /// Records dropped because their window had closed.
    pub dropped_late_records: u64,
    /// Committed input offsets by `topic-partition`.
    pub committed: BTreeMap<String, i64>,
    /// The instance running it (empty in reports from before instances were told apart).
    #[serde(default)]
    pub instance: String,
    /// The node running it, for an application deployed to the cluster.
    #[serde(default)]
    pub node_id: Option<i32>,
    /// Its input partitions, as `topic-partition`.
    #[serde(default)]
    pub inputs: Vec<String>,
    /// Changelog records the current run replayed into its stores before processing.
    #[serde(default)]
    pub restored_records: u64,
    /// How many times this instance started it for an assignment (1: it kept the task
    /// through every rebalance).
    #[serde(default)]
    pub starts: u64,
    /// A standby (a warm copy of the task's stores, kept from its changelogs), not the
    /// active task; its `processed_records` are the changes it applied.
    #[serde(default)]
    pub standby: bool,
}

/// What an application reports about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppRecord {
    /// `application.id` (also its consumer group).
    pub application_id: String,
    /// `Topology::describe()`.
    pub description: String,
    /// Its internal topics (changelogs, repartition topics).
    pub internal_topics: Vec<String>,
    /// Its tasks.
    pub tasks: Vec<TaskRow>,
    /// Where it runs (host and process id).
    pub instance: String,
    /// Where it serves interactive queries over HTTP (`application.server`), if it does.
    /// Reports from before interactive queries have none.
    #[serde(default)]
    pub application_server: Option<String>,
    /// When it reported, in ms since the epoch.
    pub reported_at_ms: i64,
    /// The node it runs in, for an application deployed to the cluster (`None`: a client
    /// program, or a report from before deployments).
    #[serde(default)]
    pub node_id: Option<i32>,
}

/// The time now, in ms since the epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A name for a new application instance: `host:pid`, with `#n` for the n-th instance
/// started in the same process (n ≥ 2).
pub fn instance_name() -> String {
    static STARTED: AtomicU32 = AtomicU32::new(0);
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into());
    match STARTED.fetch_add(1, Ordering::Relaxed) + 1 {
        1 => format!("{host}:{}", std::process::id()),
        n => format!("{host}:{}#{n}", std::process::id()),
    }
}

/// Writes applications' reports.
pub struct Registry {
    producer: Producer,
}

impl Registry {
    /// Creates the registry topic if needed and connects a producer.
    pub async fn connect(bootstrap: &str) -> Result<Registry, ClientError> {
        let mut admin = Admin::connect(bootstrap).await?;
        let exists = admin
            .list_topics()
            .await?
            .iter()
            .any(|t| t.name == REGISTRY_TOPIC);
        if !exists {
            let compact = [("cleanup.policy".to_string(), "compact".to_string())];
            // On up to three nodes: `eddy topology describe` must outlive a node.
            let nodes = admin.describe_cluster().await?.brokers.len();
            let factor = nodes.clamp(1, REGISTRY_REPLICAS_MAX) as i16;
            match admin
                .create_topic(REGISTRY_TOPIC, 1, factor, &compact)
                .await
            {
                Ok(()) => {}
                Err(err) if err.kafka_error() == Some(ResponseError::TopicAlreadyExists) => {}
                Err(err) => return Err(err),
            }
        }
        let config = ProducerConfig {
            acks: Acks::All,
            ..ProducerConfig::default()
        };
        Ok(Registry {
            producer: Producer::connect(bootstrap, config).await?,
        })
    }

    /// Writes one report and waits for its acknowledgement.
    pub async fn publish(&mut self, record: &AppRecord) -> Result<(), ClientError> {
        let value = serde_json::to_vec(record).unwrap_or_default();
        let key = instance_key(&record.application_id, &record.instance);
        self.send(ProducerRecord::new(REGISTRY_TOPIC, Bytes::from(value)).with_key(key))
            .await
    }

    /// Removes an instance's report: it closed.
    pub async fn retract(
        &mut self,
        application_id: &str,
        instance: &str,
    ) -> Result<(), ClientError> {
        let mut tombstone = ProducerRecord::new(REGISTRY_TOPIC, Bytes::new());
        tombstone.value = None;
        self.send(tombstone.with_key(instance_key(application_id, instance)))
            .await
    }

    async fn send(&mut self, record: ProducerRecord) -> Result<(), ClientError> {
        let receipt = self.producer.send(record).await?;
        self.producer.flush().await?;
        receipt.wait().await.map(|_| ())
    }
}

/// Every application's latest report, its live instances merged (empty when no application
/// ever reported).
pub async fn read_all(bootstrap: &str) -> Result<BTreeMap<String, AppRecord>, ClientError> {
    let mut admin = Admin::connect(bootstrap).await?;
    let exists = admin
        .list_topics()
        .await?
        .iter()
        .any(|t| t.name == REGISTRY_TOPIC);
    let mut apps: BTreeMap<String, Vec<AppRecord>> = BTreeMap::new();
    let mut reports: BTreeMap<String, AppRecord> = BTreeMap::new();
    if !exists {
        return Ok(BTreeMap::new());
    }
    let target = [(REGISTRY_TOPIC.to_string(), 0)];
    let end = admin
        .log_end_offsets(&target)
        .await?
        .get(&target[0])
        .copied()
        .unwrap_or(0);
    let mut consumer = Consumer::connect(bootstrap).await?;
    consumer
        .assign(REGISTRY_TOPIC, &[0], StartOffset::Earliest)
        .await?;
    let deadline = Instant::now() + READ_TIMEOUT;
    while consumer
        .position(REGISTRY_TOPIC, 0)
        .is_some_and(|pos| pos < end)
        && Instant::now() < deadline
    {
        for record in consumer.poll(Duration::from_millis(200)).await? {
            let Some(key) = record.key.as_ref() else {
                continue;
            };
            let key = String::from_utf8_lossy(key).to_string();
            match record.value.as_ref() {
                None => {
                    reports.remove(&key);
                }
                Some(value) => match serde_json::from_slice::<AppRecord>(value) {
                    Ok(report) => {
                        reports.insert(key, report);
                    }
                    Err(err) => {
                        tracing::debug!(%key, error = %err, "skipping a report that does not decode")
                    }
                },
            }
        }
    }
    for report in reports.into_values() {
        apps.entry(report.application_id.clone())
            .or_default()
            .push(report);
    }
    Ok(apps
        .into_iter()
        .map(|(app, reports)| (app, merge(reports)))
        .collect())
}

/// One application's instances as one record: the newest report, with the tasks of every
/// instance still reporting (those within `STALE_INTERVALS` of the newest), and their names
/// joined in `instance`.
fn merge(mut reports: Vec<AppRecord>) -> AppRecord {
    reports.sort_by_key(|r| std::cmp::Reverse(r.reported_at_ms));
    let newest = reports[0].reported_at_ms;
    let horizon = REPORT_INTERVAL.as_millis() as i64 * i64::from(STALE_INTERVALS);
    let live: Vec<AppRecord> = reports
        .into_iter()
        .filter(|r| newest - r.reported_at_ms <= horizon)
        .collect();
    let mut merged = live[0].clone();
    merged.instance = live
        .iter()
        .map(|r| r.instance.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    merged.application_server = live.iter().find_map(|r| r.application_server.clone());
    merged.tasks = live
        .iter()
        .flat_map(|r| {
            r.tasks.iter().cloned().map(|mut t| {
                if t.instance.is_empty() {
                    t.instance.clone_from(&r.instance);
                }
                t.node_id = t.node_id.or(r.node_id);
                t
            })
        })
        .collect();
    merged.tasks.sort_by(|a, b| a.task.cmp(&b.task));
    merged
}

/// The registry key of one instance's report.
fn instance_key(application_id: &str, instance: &str) -> Bytes {
    Bytes::from(format!("{application_id}\u{0}{instance}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(instance: &str, at: i64, tasks: &[&str]) -> AppRecord {
        AppRecord {
            application_id: "wc".into(),
            description: String::new(),
            internal_topics: Vec::new(),
            tasks: tasks
                .iter()
                .map(|t| TaskRow {
                    task: t.to_string(),
                    state: "running".into(),
                    restarts: 0,
                    last_error: None,
                    processed_records: 0,
                    dropped_late_records: 0,
                    committed: BTreeMap::new(),
                    instance: String::new(),
                    node_id: None,
                    inputs: Vec::new(),
                    restored_records: 0,
                    starts: 1,
                    standby: false,
                })
                .collect(),
            instance: instance.into(),
            application_server: (instance == "b").then(|| "127.0.0.1:7070".to_string()),
            reported_at_ms: at,
            node_id: None,
        }
    }

    #[test]
    fn live_instances_merge_and_crashed_ones_drop_out() {
        let stale = REPORT_INTERVAL.as_millis() as i64 * i64::from(STALE_INTERVALS) + 1;
        let merged = merge(vec![
            report("a", 10_000, &["0_1", "1_1"]),
            report("b", 12_000, &["0_0", "1_0"]),
            report("gone", 12_000 - stale, &["0_0"]),
        ]);
        let rows: Vec<(&str, &str)> = merged
            .tasks
            .iter()
            .map(|t| (t.task.as_str(), t.instance.as_str()))
            .collect();
        assert_eq!(
            rows,
            [("0_0", "b"), ("0_1", "a"), ("1_0", "b"), ("1_1", "a")]
        );
        assert_eq!(merged.instance, "b, a");
        assert_eq!(merged.reported_at_ms, 12_000);
        assert_eq!(merged.application_server.as_deref(), Some("127.0.0.1:7070"));
        // An application whose every instance stopped still shows its last report.
        let alone = merge(vec![report("gone", 5, &["0_0"])]);
        assert_eq!(alone.tasks.len(), 1);
    }

    #[test]
    fn reports_from_before_interactive_queries_still_decode() {
        let old = r#"{"application_id":"wc","description":"","internal_topics":[],"tasks":[],
            "instance":"h:1","reported_at_ms":5}"#;
        let record: AppRecord = serde_json::from_str(old).expect("an old report decodes");
        assert_eq!(record.application_server, None);
        let mut new = record.clone();
        new.application_server = Some("127.0.0.1:7070".into());
        let text = serde_json::to_string(&new).expect("encodes");
        assert_eq!(
            serde_json::from_str::<AppRecord>(&text).expect("decodes"),
            new
        );
    }
}
