//! `TopologyTestDriver`: runs a topology without a broker, as Kafka Streams' driver does.

mod inspect;

use std::any::type_name;
use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use crate::config::StreamsConfig;
use crate::dynamic::Data;
use crate::error::DriverError;
use crate::graph::serde_spec::{unerase, ErasedSerde};
use crate::record::{ChangelogRecord, Header, InputRecord, OutputRecord, TestRecord};
use crate::serdes::{Serde, SerdeRef};
use crate::store::InMemoryStoreSupplier;
use crate::task::{Task, TaskId, TaskMetrics};
use crate::topology::{CompiledRole, Topology};
use crate::window::duration_ms;

/// Runs a topology in memory, one task per sub-topology (every topic has one partition),
/// with in-memory stores.
///
/// Records piped in are processed at once; records written to a topic the topology reads
/// (repartition topics) are processed next, in order. Output topics keep their records
/// until read. Every changelog record is kept, so `restart` can rebuild the stores the
/// way a restarted runtime task would.
///
/// ```
/// # use eddy_topologies::*;
/// let builder = StreamsBuilder::new();
/// builder.stream::<String, String>("in").map_values(|v| v.to_uppercase()).to("out");
/// let mut driver = TopologyTestDriver::new(builder.build()?, StreamsConfig::new("app"))?;
/// driver.pipe_input("in", "k".to_string(), "hello".to_string(), 1_000)?;
/// assert_eq!(driver.read_key_values::<String, String>("out")?, vec![("k".into(), "HELLO".into())]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct TopologyTestDriver {
    topology: Topology,
    config: StreamsConfig,
    tasks: Vec<Task>,
    outputs: HashMap<String, VecDeque<OutputRecord>>,
    changelog: Vec<ChangelogRecord>,
    next_offsets: HashMap<String, i64>,
    wall_clock_ms: i64,
    /// Counters of the tasks replaced by `restart`.
    earlier_metrics: TaskMetrics,
}

impl TopologyTestDriver {
    /// A driver for `topology`, with the wall clock at 0.
    pub fn new(topology: Topology, config: StreamsConfig) -> Result<Self, DriverError> {
        config.validate()?;
        let tasks = new_tasks(&topology, &config)?;
        Ok(TopologyTestDriver {
            topology,
            config,
            tasks,
            outputs: HashMap::new(),
            changelog: Vec::new(),
            next_offsets: HashMap::new(),
            wall_clock_ms: 0,
            earlier_metrics: TaskMetrics::default(),
        })
    }

    /// Pipes a record into `topic`, serialized with the serdes of the topology's source
    /// for that topic.
    pub fn pipe_input<K: Data, V: Data>(
        &mut self,
        topic: &str,
        key: K,
        value: V,
        timestamp: i64,
    ) -> Result<(), DriverError> {
        let (key_serde, value_serde) = self.source_serdes::<K, V>(topic)?;
        self.pipe_input_with(topic, &key, &value, timestamp, &key_serde, &value_serde)
    }

    /// Pipes a record into `topic`, serialized with the serdes given.
    pub fn pipe_input_with<K, V>(
        &mut self,
        topic: &str,
        key: &K,
        value: &V,
        timestamp: i64,
        key_serde: &dyn Serde<K>,
        value_serde: &dyn Serde<V>,
    ) -> Result<(), DriverError> {
        let serde_error = |source| DriverError::Serde {
            topic: topic.to_string(),
            source,
        };
        let key = key_serde.serialize_nullable(key).map_err(serde_error)?;
        let value = value_serde.serialize_nullable(value).map_err(serde_error)?;
        self.pipe_raw(topic, key, value, timestamp, Vec::new())
    }

    /// Pipes a tombstone (a record without value) for `key` into `topic`.
    pub fn pipe_tombstone<K: Data>(
        &mut self,
        topic: &str,
        key: K,
        timestamp: i64,
    ) -> Result<(), DriverError> {
        let (key_serde, _) = self.source_serde_pair(topic)?;
        let key_serde = typed::<K>(topic, &key_serde)?;
        let key = key_serde
            .serialize_nullable(&key)
            .map_err(|source| DriverError::Serde {
                topic: topic.to_string(),
                source,
            })?;
        self.pipe_raw(topic, key, None, timestamp, Vec::new())
    }

    /// Pipes a record of raw bytes into `topic`.
    pub fn pipe_raw(
        &mut self,
        topic: &str,
        key: Option<Vec<u8>>,
        value: Option<Vec<u8>>,
        timestamp: i64,
        headers: Vec<Header>,
    ) -> Result<(), DriverError> {
        if !self.tasks.iter().any(|t| t.reads(topic)) {
            return Err(DriverError::UnknownTopic {
                role: "source",
                topic: topic.to_string(),
            });
        }
        let mut pending = VecDeque::from([(topic.to_string(), key, value, timestamp, headers)]);
        while let Some((topic, key, value, timestamp, headers)) = pending.pop_front() {
            let offset = self.next_offsets.entry(topic.clone()).or_insert(0);
            let input = InputRecord {
                topic: topic.clone(),
                partition: 0,
                offset: *offset,
                key,
                value,
                timestamp,
                headers,
            };
            *offset += 1;
            for record in self.process(input)? {
                if self.tasks.iter().any(|t| t.reads(&record.topic)) {
                    let r = record.clone();
                    pending.push_back((r.topic, r.key, r.value, r.timestamp, r.headers));
                }
                self.outputs
                    .entry(record.topic.clone())
                    .or_default()
                    .push_back(record);
            }
        }
        Ok(())
    }

    fn process(&mut self, input: InputRecord) -> Result<Vec<OutputRecord>, DriverError> {
        let Some(task) = self.tasks.iter_mut().find(|t| t.reads(&input.topic)) else {
            return Ok(Vec::new());
        };
        let output = task.process(input)?;
        self.changelog.extend(output.changelog);
        Ok(output.records)
    }

    /// Moves the wall clock forward. No built-in operator uses wall-clock time: windows
    /// and suppression follow stream time (record timestamps), as in Kafka Streams.
    pub fn advance_wall_clock(&mut self, by: Duration) {
        self.wall_clock_ms = self.wall_clock_ms.saturating_add(duration_ms(by));
    }

    /// The wall clock, in milliseconds.
    pub fn wall_clock_ms(&self) -> i64 {
        self.wall_clock_ms
    }

    /// Takes the records written to `topic` so far, decoded with the serdes of the
    /// topology's sink for that topic.
    pub fn read_output<K: Data, V: Data>(
        &mut self,
        topic: &str,
    ) -> Result<Vec<TestRecord<K, V>>, DriverError> {
        let (key_serde, value_serde) = self.sink_serdes::<K, V>(topic)?;
        self.read_output_with(topic, &key_serde, &value_serde)
    }

    /// Takes the records written to `topic` so far, decoded with the serdes given.
    pub fn read_output_with<K, V>(
        &mut self,
        topic: &str,
        key_serde: &dyn Serde<K>,
        value_serde: &dyn Serde<V>,
    ) -> Result<Vec<TestRecord<K, V>>, DriverError> {
        let serde_error = |source| DriverError::Serde {
            topic: topic.to_string(),
            source,
        };
        self.read_raw(topic)
            .into_iter()
            .map(|r| {
                Ok(TestRecord {
                    key: key_serde
                        .deserialize_nullable(r.key.as_deref())
                        .map_err(serde_error)?,
                    value: r
                        .value
                        .map(|v| value_serde.deserialize(&v))
                        .transpose()
                        .map_err(serde_error)?,
                    timestamp: r.timestamp,
                    headers: r.headers,
                })
            })
            .collect()
    }

    /// Takes the keys and values written to `topic` so far; fails on a tombstone.
    pub fn read_key_values<K: Data, V: Data>(
        &mut self,
        topic: &str,
    ) -> Result<Vec<(K, V)>, DriverError> {
        let records = self.read_output::<K, V>(topic)?;
        records
            .into_iter()
            .enumerate()
            .map(|(index, r)| {
                r.value.map(|v| (r.key, v)).ok_or(DriverError::Tombstone {
                    topic: topic.to_string(),
                    index,
                })
            })
            .collect()
    }

    /// Takes the raw records written to `topic` so far (full names for internal topics).
    pub fn read_raw(&mut self, topic: &str) -> Vec<OutputRecord> {
        self.outputs
            .remove(topic)
            .map(Vec::from)
            .unwrap_or_default()
    }

    /// The sum of the counters of all tasks, since the driver was created.
    pub fn metrics(&self) -> TaskMetrics {
        let mut total = self.earlier_metrics;
        for task in &self.tasks {
            total.add(task.metrics());
        }
        total
    }

    /// How many records (per window) were dropped for arriving after their window closed.
    pub fn dropped_late_records(&self) -> u64 {
        self.metrics().dropped_late_records
    }

    /// Every changelog record written so far, in order.
    pub fn changelog(&self) -> &[ChangelogRecord] {
        &self.changelog
    }

    /// Restarts every task as a runtime would after a crash: new, empty stores rebuilt
    /// from the changelog records written so far, and stream time restored. Records not
    /// yet read from output topics stay readable.
    pub fn restart(&mut self) -> Result<(), DriverError> {
        let mut tasks = new_tasks(&self.topology, &self.config)?;
        for (old, new) in self.tasks.iter().zip(tasks.iter_mut()) {
            self.earlier_metrics.add(old.metrics());
            let changelogs: Vec<String> = new
                .stores()
                .into_iter()
                .map(|s| s.changelog_topic)
                .collect();
            for record in self
                .changelog
                .iter()
                .filter(|r| changelogs.contains(&r.topic))
            {
                new.restore(record)?;
            }
            if let Some(stream_time) = old.stream_time() {
                new.restore_stream_time(stream_time);
            }
        }
        self.tasks = tasks;
        Ok(())
    }

    fn source_serde_pair(&self, topic: &str) -> Result<(ErasedSerde, ErasedSerde), DriverError> {
        let app = &self.config.application_id;
        self.topology
            .inner
            .nodes
            .iter()
            .find_map(|n| match &n.role {
                CompiledRole::Source {
                    topics, key, value, ..
                } if topics.iter().any(|t| t.full(app) == topic) => {
                    Some((key.clone(), value.clone()))
                }
                _ => None,
            })
            .ok_or_else(|| DriverError::UnknownTopic {
                role: "source",
                topic: topic.to_string(),
            })
    }

    fn source_serdes<K: Data, V: Data>(
        &self,
        topic: &str,
    ) -> Result<(SerdeRef<K>, SerdeRef<V>), DriverError> {
        let (key, value) = self.source_serde_pair(topic)?;
        Ok((typed::<K>(topic, &key)?, typed::<V>(topic, &value)?))
    }

    fn sink_serdes<K: Data, V: Data>(
        &self,
        topic: &str,
    ) -> Result<(SerdeRef<K>, SerdeRef<V>), DriverError> {
        let app = &self.config.application_id;
        let (key, value) = self
            .topology
            .inner
            .nodes
            .iter()
            .find_map(|n| match &n.role {
                CompiledRole::Sink {
                    topic: t,
                    key,
                    value,
                } if t.full(app) == topic => Some((key.clone(), value.clone())),
                _ => None,
            })
            .ok_or_else(|| DriverError::UnknownTopic {
                role: "sink",
                topic: topic.to_string(),
            })?;
        Ok((typed::<K>(topic, &key)?, typed::<V>(topic, &value)?))
    }
}

fn new_tasks(topology: &Topology, config: &StreamsConfig) -> Result<Vec<Task>, DriverError> {
    (0..topology.subtopology_count())
        .map(|sub| {
            let id = TaskId {
                subtopology: sub as u32,
                partition: 0,
            };
            Ok(Task::new(topology, config, id, &mut InMemoryStoreSupplier)?)
        })
        .collect()
}

/// The typed serde for `T`, or a type mismatch naming the topic or store.
pub(crate) fn typed<T: 'static>(
    name: &str,
    serde: &ErasedSerde,
) -> Result<SerdeRef<T>, DriverError> {
    unerase::<T>(serde).ok_or_else(|| DriverError::TypeMismatch {
        name: name.to_string(),
        asked: type_name::<T>(),
        actual: serde.type_name,
    })
}

impl std::fmt::Debug for TopologyTestDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TopologyTestDriver")
            .field("application_id", &self.config.application_id)
            .field("tasks", &self.tasks)
            .field("wall_clock_ms", &self.wall_clock_ms)
            .finish()
    }
}
