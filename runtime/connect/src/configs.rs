//! Connector configurations kept in the cluster, in the compacted topic `connect-configs`,
//! the way Kafka Connect's distributed mode keeps them (`config.storage.topic`): one
//! partition, so all changes have one order; key the connector's name; value
//! `{"config":{…},"state":"RUNNING"|"PAUSED"|"STOPPED","node":<id>}` in compact JSON — the
//! configuration as given, the target state (Kafka's `connector-<name>` and
//! `target-state-<name>` records in one) and the node that runs it; a tombstone once the
//! connector is deleted. Compaction keeps the latest record of each connector. Connector
//! names are the cluster's, as their source offsets and sink groups already are: each node
//! runs the connectors created through its own REST API and restores only the records
//! that name it.
//!
//! A node's ConnectSupervisor opens the store when it starts (`ConfigStore::open`): it
//! reads the topic, if it exists, from the start up to the log end offset it had when
//! reading began, and starts every connector of the node found, in its stored state.
//! Requests wait while an attempt runs; between failed attempts (`load_retry_pause`)
//! changes are refused (503), so none is lost or applied twice. Every change made through
//! the REST API is written with acks=all before it is applied and answered; the first one
//! creates the topic, so a node that never runs a connector has none. `eddy connect run`
//! does not use the topic: its files configure it, as in Kafka's standalone mode.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use eddy_client::{Acks, ConsumedRecord, Producer, ProducerConfig, ProducerRecord};

use super::config::ConnectorConfig;
use super::error::ConnectError;
use super::properties::RawConfig;
use super::topics::{ensure_topic, read_to_end, topic_exists};
use super::worker::WorkerDefaults;

/// The topic that holds connector configurations (Kafka's usual `config.storage.topic`).
pub const CONFIGS_TOPIC: &str = "connect-configs";
/// Its partitions: one, as Kafka requires, so changes are read back in the order written.
const CONFIGS_TOPIC_PARTITIONS: i32 = 1;
/// How long reading the stored configurations may take before the attempt fails.
const CONFIGS_READ_TIMEOUT_MS: u64 = 60_000;
/// How long writing one change may take before the REST request fails.
const CONFIGS_WRITE_TIMEOUT_MS: u64 = 30_000;
/// How many times loading is tried before the node gives up (a node of a cluster may
/// start before the topic's partition has a leader).
const LOAD_ATTEMPTS_MAX: u32 = 60;
/// The pause after the first failed attempt; it doubles up to `LOAD_BACKOFF_MAX_MS`.
const LOAD_BACKOFF_INITIAL_MS: u64 = 500;
/// The longest pause between two attempts.
const LOAD_BACKOFF_MAX_MS: u64 = 10_000;

/// A connector's target state, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub(crate) enum TargetState {
    /// Its tasks run.
    Running,
    /// Its tasks are paused.
    Paused,
    /// It runs no task (KIP-875's STOPPED: its offsets may be altered or reset).
    Stopped,
}

/// One connector as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StoredConnector {
    /// Every key as given (`ConnectorConfig::raw`).
    pub config: BTreeMap<String, String>,
    /// Running or paused.
    pub state: TargetState,
    /// The id of the node that runs it.
    pub node: i32,
}

impl StoredConnector {
    /// Validates the configuration stored under `name` again: this version of Eddy may
    /// refuse what an older one accepted.
    pub fn validate(
        &self,
        name: &str,
        defaults: &WorkerDefaults,
    ) -> Result<ConnectorConfig, ConnectError> {
        let source_name = format!("{CONFIGS_TOPIC} record {name}");
        let raw = RawConfig::from_pairs(&source_name, self.config.clone());
        let config = ConnectorConfig::validate_for(raw, defaults)?;
        if config.name != name {
            return Err(ConnectError::Configs {
                reason: format!("the record of {name} names connector {}", config.name),
                retriable: false,
            });
        }
        Ok(config)
    }
}

/// The stored connectors, by name.
pub(crate) type StoredConnectors = BTreeMap<String, StoredConnector>;

/// Writes one node's changes to `connect-configs`; cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct ConfigStore {
    node: i32,
    // A write needs the writer mutably while its future outlives the supervisor's
    // handler; the supervisor applies changes one at a time (atomic handlers), so the lock
    // is never contended.
    writer: Arc<Mutex<Writer>>,
}

#[derive(Debug)]
struct Writer {
    bootstrap: String,
    producer: Producer,
    topic_exists: bool,
}

impl ConfigStore {
    /// Reads the topic to its end if it exists; answers the connectors stored for `node`.
    pub async fn open(
        bootstrap: &str,
        node: i32,
    ) -> Result<(Self, StoredConnectors), ConnectError> {
        let topic_exists = topic_exists(bootstrap, CONFIGS_TOPIC).await?;
        let mut stored = StoredConnectors::new();
        if topic_exists {
            read_to_end(
                bootstrap,
                CONFIGS_TOPIC,
                CONFIGS_READ_TIMEOUT_MS,
                |record| apply(&mut stored, record),
                |reason| ConnectError::Configs {
                    reason,
                    retriable: true,
                },
            )
            .await?;
        }
        let others = stored.values().filter(|c| c.node != node).count();
        if others > 0 {
            tracing::debug!(others, "{CONFIGS_TOPIC} holds connectors of other nodes");
        }
        stored.retain(|_, c| c.node == node);
        let config = ProducerConfig {
            acks: Acks::All,
            linger_ms: 0,
            ..ProducerConfig::default()
        };
        let producer = Producer::connect(bootstrap, config)
            .await
            .map_err(|err| ConnectError::client("connect to store connector configs", err))?;
        let writer = Writer {
            bootstrap: bootstrap.to_owned(),
            producer,
            topic_exists,
        };
        let store = Self {
            node,
            writer: Arc::new(Mutex::new(writer)),
        };
        Ok((store, stored))
    }

    /// Stores `name`'s configuration and state (a tombstone if `None`), creating the
    /// topic first if needed, and waits until the cluster acknowledged it, at most
    /// `CONFIGS_WRITE_TIMEOUT_MS`.
    async fn write(
        &self,
        name: &str,
        change: Option<(BTreeMap<String, String>, TargetState)>,
    ) -> Result<(), ConnectError> {
        let context = || format!("store the config of connector {name} in {CONFIGS_TOPIC}");
        let value = match change {
            Some((config, state)) => {
                let record = StoredConnector {
                    config,
                    state,
                    node: self.node,
                };
                let bytes = serde_json::to_vec(&record).map_err(|err| ConnectError::Configs {
                    reason: format!("cannot encode the record of {name}: {err}"),
                    retriable: false,
                })?;
                Some(Bytes::from(bytes))
            }
            None => None,
        };
        let mut record = ProducerRecord::new(CONFIGS_TOPIC, Bytes::new()).with_key(name.to_owned());
        record.value = value;
        let send = async {
            let mut writer = self.writer.lock().await;
            if !writer.topic_exists {
                let compact = [("cleanup.policy".to_owned(), "compact".to_owned())];
                let partitions = CONFIGS_TOPIC_PARTITIONS;
                ensure_topic(&writer.bootstrap, CONFIGS_TOPIC, partitions, -1, &compact).await?;
                writer.topic_exists = true;
            }
            let sent = async {
                let receipt = writer.producer.send(record).await?;
                writer.producer.flush().await?;
                receipt.wait().await
            };
            sent.await
                .map_err(|err| ConnectError::client(context(), err))
        };
        let limit = Duration::from_millis(CONFIGS_WRITE_TIMEOUT_MS);
        match tokio::time::timeout(limit, send).await {
            Ok(result) => result.map(|_| ()),
            Err(_) => Err(ConnectError::Configs {
                reason: format!(
                    "{} took more than {CONFIGS_WRITE_TIMEOUT_MS} ms; the change may or may not \
                     be stored",
                    context()
                ),
                retriable: true,
            }),
        }
    }
}

/// The pause before opening the store again after failed attempt `attempt` (from 1),
/// doubling up to `LOAD_BACKOFF_MAX_MS`; `None` once `LOAD_ATTEMPTS_MAX` attempts failed.
pub(crate) fn load_retry_pause(attempt: u32) -> Option<Duration> {
    if attempt >= LOAD_ATTEMPTS_MAX {
        return None;
    }
    let backoff = eddy_actors::supervision::Backoff::new(
        Duration::from_millis(LOAD_BACKOFF_INITIAL_MS),
        Duration::from_millis(LOAD_BACKOFF_MAX_MS),
    );
    Some(backoff.pause_after(attempt))
}

/// Where a ConnectSupervisor keeps its connectors' configurations.
#[derive(Debug)]
pub(crate) enum ConfigStorage {
    /// Nowhere: `eddy connect run` is configured by its files.
    Off,
    /// `connect-configs` is not read yet; changes are refused until it is.
    Loading,
    /// Read: changes are written before they are applied.
    Ready(ConfigStore),
    /// Reading failed for good (the reason); changes are refused until the node restarts.
    Failed(String),
}

impl ConfigStorage {
    /// Stores `config` in target state `state`; resolves once it is stored (at once
    /// without storage), or fails if it cannot be.
    pub fn put(
        &self,
        config: &ConnectorConfig,
        state: TargetState,
    ) -> impl Future<Output = Result<(), ConnectError>> + 'static {
        self.write(&config.name, Some((config.raw.clone(), state)))
    }

    /// Stores the deletion of `name` (a tombstone), like `ConfigStorage::put`.
    pub fn remove(&self, name: &str) -> impl Future<Output = Result<(), ConnectError>> + 'static {
        self.write(name, None)
    }

    fn write(
        &self,
        name: &str,
        change: Option<(BTreeMap<String, String>, TargetState)>,
    ) -> impl Future<Output = Result<(), ConnectError>> + 'static {
        let store = match self {
            Self::Off => Ok(None),
            Self::Ready(store) => Ok(Some(store.clone())),
            Self::Loading => Err(ConnectError::Configs {
                reason: format!("still reading {CONFIGS_TOPIC}; try again shortly"),
                retriable: true,
            }),
            Self::Failed(reason) => Err(ConnectError::Configs {
                reason: format!("{CONFIGS_TOPIC} could not be read ({reason}); restart the node"),
                retriable: false,
            }),
        };
        let name = name.to_owned();
        async move {
            match store? {
                Some(store) => store.write(&name, change).await,
                None => Ok(()),
            }
        }
    }
}

/// Applies one record of the configs topic to `stored`: the latest record of a connector
/// wins, a tombstone forgets it.
fn apply(stored: &mut StoredConnectors, record: &ConsumedRecord) {
    let Some(name) = record
        .key
        .as_ref()
        .and_then(|k| std::str::from_utf8(k).ok())
    else {
        tracing::warn!(
            offset = record.offset,
            "skipping a record of {CONFIGS_TOPIC} without a connector name"
        );
        return;
    };
    let Some(value) = &record.value else {
        stored.remove(name);
        return;
    };
    match serde_json::from_slice::<StoredConnector>(value) {
        Ok(connector) => {
            stored.insert(name.to_owned(), connector);
        }
        Err(err) => tracing::warn!(
            connector = name,
            offset = record.offset,
            error = %err,
            "skipping a malformed record of {CONFIGS_TOPIC}"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::super::properties::parse_properties;
    use super::*;

    fn consumed(key: &str, value: Option<&str>) -> ConsumedRecord {
        ConsumedRecord {
            topic: CONFIGS_TOPIC.into(),
            partition: 0,
            offset: 0,
            timestamp: 0,
            key: Some(Bytes::copy_from_slice(key.as_bytes())),
            value: value.map(|v| Bytes::copy_from_slice(v.as_bytes())),
            headers: Vec::new(),
        }
    }

    fn generator(name: &str) -> ConnectorConfig {
        let text = format!("name={name}\nconnector.class=generator\ntopic=t\n");
        ConnectorConfig::validate(parse_properties("test", &text)).unwrap()
    }

    #[test]
    fn records_are_the_config_the_target_state_and_the_node() {
        let text = r#"{"config":{"connector.class":"generator","name":"gen","topic":"t"},"state":"PAUSED","node":1}"#;
        let record: StoredConnector = serde_json::from_str(text).unwrap();
        assert_eq!(record.config, generator("gen").raw);
        assert_eq!(record.state, TargetState::Paused);
        assert_eq!(serde_json::to_string(&record).unwrap(), text);
        assert_eq!(
            record.validate("gen", &WorkerDefaults::default()).unwrap(),
            generator("gen")
        );
        let renamed = record
            .validate("other", &WorkerDefaults::default())
            .unwrap_err();
        assert!(!renamed.is_retriable(), "{renamed}");
    }

    #[test]
    fn the_latest_record_wins_and_a_tombstone_forgets() {
        let running = r#"{"config":{"name":"a"},"state":"RUNNING","node":1}"#;
        let paused = r#"{"config":{"name":"a"},"state":"PAUSED","node":1}"#;
        let mut stored = StoredConnectors::new();
        apply(&mut stored, &consumed("a", Some(running)));
        apply(&mut stored, &consumed("b", Some(running)));
        apply(&mut stored, &consumed("a", Some(paused)));
        apply(&mut stored, &consumed("b", Some("not json")));
        assert_eq!(stored["a"].state, TargetState::Paused);
        assert_eq!(
            stored["b"].state,
            TargetState::Running,
            "a malformed record is skipped"
        );
        apply(&mut stored, &consumed("b", None));
        assert_eq!(stored.keys().collect::<Vec<_>>(), ["a"]);
    }

    #[test]
    fn loading_backs_off_and_gives_up() {
        let pause = |ms| Some(Duration::from_millis(ms));
        assert_eq!(load_retry_pause(1), pause(500));
        assert_eq!(load_retry_pause(2), pause(1_000));
        assert_eq!(load_retry_pause(10), pause(10_000));
        assert_eq!(load_retry_pause(LOAD_ATTEMPTS_MAX - 1), pause(10_000));
        assert_eq!(load_retry_pause(LOAD_ATTEMPTS_MAX), None);
    }

    #[actix_rt::test]
    async fn changes_wait_for_the_store() {
        assert!(ConfigStorage::Off.remove("a").await.is_ok());
        let loading = ConfigStorage::Loading
            .put(&generator("a"), TargetState::Running)
            .await
            .unwrap_err();
        assert_eq!(loading.http_status(), 503, "{loading}");
        let failed = ConfigStorage::Failed("boom".into())
            .remove("a")
            .await
            .unwrap_err();
        assert_eq!(failed.http_status(), 500, "{failed}");
    }
}
