//! Where running streams applications say what they are and how their tasks are doing: a
//! compacted topic `__eddy_topologies`, one record per application id (JSON), written when
//! an application starts and then every few seconds. `eddy topology list|describe` read it,
//! so the tasks of an application running in its own program, against any node of the
//! cluster, are visible from anywhere.

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::client::{
    Acks, Admin, ClientError, Consumer, Producer, ProducerConfig, ProducerRecord, ResponseError,
    StartOffset,
};

/// The registry topic.
pub const REGISTRY_TOPIC: &str = "__eddy_topologies";
/// How often a running application reports.
pub const REPORT_INTERVAL: Duration = Duration::from_secs(5);
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
}

/// The time now, in ms since the epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// This process, as `host:pid`.
pub fn instance_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into());
    format!("{host}:{}", std::process::id())
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
            match admin.create_topic(REGISTRY_TOPIC, 1, -1, &compact).await {
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
        let receipt = self
            .producer
            .send(
                ProducerRecord::new(REGISTRY_TOPIC, Bytes::from(value))
                    .with_key(Bytes::from(record.application_id.clone())),
            )
            .await?;
        self.producer.flush().await?;
        receipt.wait().await.map(|_| ())
    }
}

/// Every application's latest report (empty when no application ever reported).
pub async fn read_all(bootstrap: &str) -> Result<BTreeMap<String, AppRecord>, ClientError> {
    let mut admin = Admin::connect(bootstrap).await?;
    let exists = admin
        .list_topics()
        .await?
        .iter()
        .any(|t| t.name == REGISTRY_TOPIC);
    let mut apps = BTreeMap::new();
    if !exists {
        return Ok(apps);
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
            let app = String::from_utf8_lossy(key).to_string();
            match record.value.as_ref() {
                None => {
                    apps.remove(&app);
                }
                Some(value) => match serde_json::from_slice::<AppRecord>(value) {
                    Ok(report) => {
                        apps.insert(app, report);
                    }
                    Err(err) => {
                        tracing::debug!(%app, error = %err, "skipping a report that does not decode")
                    }
                },
            }
        }
    }
    Ok(apps)
}

#[cfg(test)]
mod tests {
    use super::*;

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
