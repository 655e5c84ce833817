//! Kafka Connect: source and sink connectors run as supervised actors, configured in Kafka
//! Connect's own formats, their progress kept in the cluster.
//!
//! A `ConnectSupervisor` (started through [`ConnectHandle::start`]) owns connectors; each
//! task of a connector is a `ConnectorTask` actor that runs a [`Source`] or a [`Sink`]
//! against the cluster with the project's client — a source's offsets go to the compacted
//! topic `connect-offsets` (a standalone worker's, to its local offsets file), a sink's progress is committed as the offsets of group
//! `connect-<name>`; a node keeps its connectors in the compacted topic `connect-configs`
//! and starts them again when it restarts. Failed tasks are restarted with exponential
//! back-off; one that keeps failing is FAILED with its last error. [`rest::router`] serves
//! Kafka Connect's REST API over a handle; `eddy connect run` runs connectors standalone
//! from files, Kafka's worker file first.
//!
//! Code map: `properties` reads `.properties` and JSON configurations, `config` validates
//! them (every faulty key listed at once), `converter` turns data into record bytes and
//! back; `source` and `sink` are the traits, `file_source`, `file_sink`, `generator` and
//! `postgres_sink` the built-in classes (`plugins` picks one per configuration);
//! `worker` reads a standalone worker's file (what its connectors inherit),
//! `offsets` stores source offsets (in `connect-offsets`, or in a standalone worker's
//! local file: `offset_file`), `configs` a node's connectors (`connect-configs`),
//! `topics` creates the topics connectors need and reads them back,
//! `dead_letter` is a sink's dead-letter topic; `source_runner` and `sink_runner` are a
//! task's work, `task` the actor around it, `restart` the pure restart decision,
//! `supervisor` the ConnectSupervisor (`connector_record` its record of a connector),
//! `status` what it reports, `handle` its typed front,
//! `rest` the HTTP routes (`rest_validate` the config validation, `offset_admin` the
//! offsets endpoints' reads and changes);
//! `transforms` is the single message transforms (`transforms`, `predicates`), which both
//! runners apply to each record.
//!
//! Delivery is at-least-once: after any failure a task handles again what it handled since
//! its last commit (bounded by `offset.flush.interval.ms` and `batch.size`), and never
//! skips a record.
//!
//! ```no_run
//! # async fn demo() -> Result<(), eddy_connect::ConnectError> {
//! use eddy_connect::{parse_properties, ConnectHandle, ConnectSettings, ConnectorConfig};
//!
//! let raw = parse_properties(
//!     "inline",
//!     "name=lines\nconnector.class=FileStreamSource\nfile=/tmp/in.txt\ntopic=lines\n",
//! );
//! let config = ConnectorConfig::validate(raw)?;
//! let connect = ConnectHandle::start(ConnectSettings::new("127.0.0.1:9092", "standalone"));
//! connect.create(config).await?;
//! let status = connect.status("lines").await?;
//! # Ok(()) }
//! ```

mod config;
mod configs;
mod connector_record;
mod converter;
mod dead_letter;
mod error;
mod file_sink;
mod file_source;
mod generator;
mod handle;
mod offset_admin;
mod offset_file;
mod offsets;
mod plugins;
mod postgres_sink;
mod properties;
pub mod rest;
mod rest_validate;
mod restart;
mod sink;
mod sink_runner;
mod source;
mod source_runner;
mod status;
mod supervisor;
mod task;
mod topics;
mod transforms;
mod worker;

pub use config::{
    topic_name_problem, ClassConfig, ConnectorClass, ConnectorConfig, ConnectorType, ErrorHandling,
    Quickstart, Tolerance,
};
pub use configs::CONFIGS_TOPIC;
pub use converter::{Converter, Data};
pub use dead_letter::{DeadLetterQueue, Stage};
pub use error::{ConfigProblem, ConfigProblems, ConnectError};
pub use file_sink::FileStreamSink;
pub use file_source::{FileStreamSource, LINE_BYTES_MAX};
pub use generator::{Generator, GeneratorSettings};
pub use handle::ConnectHandle;
pub use offset_admin::{ConnectorOffset, ConnectorOffsets};
pub use offset_file::OffsetFile;
pub use offsets::{
    offset_key, OffsetStorage, OffsetStore, OFFSETS_TOPIC, OFFSETS_TOPIC_PARTITIONS,
};
pub use postgres_sink::{InsertMode, PostgresSink, PostgresSinkConfig};
pub use properties::{
    from_json, parse_json, parse_properties, read_file, RawConfig, CONFIG_BYTES_MAX,
    CONFIG_KEYS_MAX,
};
pub use restart::{RestartHistory, RestartPolicy, Verdict};
pub use sink::{Sink, SinkRecord};
pub use source::{Source, SourceBatch, SourceOffset, SourcePartition, SourceRecord, StoredOffsets};
pub use status::{ConnectorInfo, ConnectorState, ConnectorStatus, State, TaskRef, TaskStatus};
pub use supervisor::{
    ConnectSettings, ConnectSupervisor, CreateConnector, DeleteConnector, GetConnector, GetOffsets,
    GetStatus, GetTopics, ListConnectors, ModifyOffsets, PutConnector, ReportConnectors,
    RestartConnector, SetTarget, StopConnectors, Target, CONNECTORS_MAX,
};
pub use task::ConnectorTask;
pub use transforms::{TransformChain, TransformError, PREDICATES_MAX, TRANSFORMS_MAX};
pub use worker::{WorkerConfig, WorkerDefaults, WORKER_KEYS};
