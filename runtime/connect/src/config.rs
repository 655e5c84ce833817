//! A connector's configuration, validated: Kafka Connect's key names and meanings, every
//! faulty key reported at once.
//!
//! Keys every connector takes: `name`, `connector.class`, `tasks.max`, `key.converter`,
//! `value.converter` (with `*.converter.schemas.enable`), `errors.tolerance`,
//! `errors.deadletterqueue.topic.name`, `errors.deadletterqueue.context.headers.enable`,
//! `offset.flush.interval.ms` and `batch.size`. Per class:
//!
//! | class | keys |
//! |---|---|
//! | `FileStreamSource` | `file`, `topic`, `topic.creation.default.partitions`, `topic.creation.default.replication.factor` |
//! | `FileStreamSink` | `file`, `topics` |
//! | `generator` | `topic`, `records.per.second`, `iterations`, `quickstart`, `topic.creation.default.*` |
//! | `PostgresSink` | `connection.url`, `connection.user`, `connection.password`, `topics`, `table.name.format`, `insert.mode`, `pk.mode`, `pk.fields`, `auto.create`, `delete.enabled` (see `postgres_sink.rs`) |
//!
//! Where Eddy differs from Kafka, on purpose:
//! - `file` is required (Kafka falls back to stdin/stdout, which a node does not have).
//! - `errors.tolerance=all` on a sink requires `errors.deadletterqueue.topic.name`: a bad
//!   record is never dropped silently.
//! - `offset.flush.interval.ms` (a worker setting in Kafka, 60 s there) may also be set
//!   per connector; it defaults to the worker's (`worker.rs`), 1 s on a node; 0 commits
//!   after every batch.
//! - Converters default to the worker's (`worker.rs`, as in Kafka); a node, which has no
//!   worker file, defaults to `StringConverter`, so a file's lines travel unchanged. As in
//!   Kafka, a connector's `*.converter.schemas.enable` applies only to a converter the
//!   connector sets itself (without it, it is ignored with a warning).
//! - Unknown keys are errors, with the closest known key suggested; `topics.regex` is
//!   reported as not supported yet.
//!
//! `transforms` and `predicates` (single message transforms) are validated by
//! `transforms.rs`, their problems listed with the others.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::converter::Converter;
use super::error::{ConfigProblem, ConfigProblems, ConnectError};
use super::postgres_sink::{self, InsertMode, PostgresSinkConfig};
use super::properties::RawConfig;
use super::transforms::{is_chain_key, TransformChain};
use super::worker::WorkerDefaults;

/// The most tasks one connector may run.
pub const TASKS_MAX: u32 = 64;
/// The largest `batch.size`.
pub const BATCH_SIZE_MAX: usize = 100_000;
/// The largest `offset.flush.interval.ms` (one day).
pub const OFFSET_FLUSH_INTERVAL_MS_MAX: u64 = 86_400_000;
/// The highest `records.per.second` of the generator.
pub const RECORDS_PER_SECOND_MAX: u64 = 10_000_000;
/// Kafka's longest legal topic name.
const TOPIC_NAME_BYTES_MAX: usize = 249;
/// The longest connector name (it is part of a group id and of URLs).
const CONNECTOR_NAME_BYTES_MAX: usize = 200;

/// Defaults.
pub(crate) const DEFAULT_SOURCE_BATCH_SIZE: usize = 2_000;
pub(crate) const DEFAULT_SINK_BATCH_SIZE: usize = 500;
/// `offset.flush.interval.ms` when neither the connector nor its worker sets it.
pub(crate) const DEFAULT_OFFSET_FLUSH_INTERVAL_MS: u64 = 1_000;
const DEFAULT_RECORDS_PER_SECOND: u64 = 1_000;

/// Whether a connector reads into Kafka or writes out of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConnectorType {
    /// Reads an outside system, writes topics.
    Source,
    /// Reads topics, writes an outside system.
    Sink,
}

/// The built-in connector classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectorClass {
    /// Tails a file, one record per line.
    FileStreamSource,
    /// Appends one line per record to a file.
    FileStreamSink,
    /// Generates records at a fixed rate, for demos and benchmarks.
    Generator,
    /// Inserts or upserts records by key into PostgreSQL tables.
    PostgresSink,
}

impl ConnectorClass {
    /// Every class, for error messages and `GET /connector-plugins`.
    pub const ALL: [Self; 4] = [
        Self::FileStreamSource,
        Self::FileStreamSink,
        Self::Generator,
        Self::PostgresSink,
    ];

    /// Parses Kafka's full class name, the short name with or without `Connector`, or
    /// `generator`; case-insensitive. `PostgresSink` is also `PostgresqlSink` and, for
    /// configurations written for Confluent's JDBC sink, `JdbcSinkConnector`.
    pub fn parse(name: &str) -> Option<Self> {
        let short = name.rsplit('.').next().unwrap_or(name).to_ascii_lowercase();
        let short = short.strip_suffix("connector").unwrap_or(&short);
        match short {
            "filestreamsource" => Some(Self::FileStreamSource),
            "filestreamsink" => Some(Self::FileStreamSink),
            "generator" | "generatorsource" => Some(Self::Generator),
            "postgressink" | "postgresqlsink" | "jdbcsink" => Some(Self::PostgresSink),
            _ => None,
        }
    }

    /// The class name as Kafka reports it.
    pub fn class_name(self) -> &'static str {
        match self {
            Self::FileStreamSource => "org.apache.kafka.connect.file.FileStreamSourceConnector",
            Self::FileStreamSink => "org.apache.kafka.connect.file.FileStreamSinkConnector",
            Self::Generator => "generator",
            Self::PostgresSink => "PostgresSink",
        }
    }

    /// The class of its tasks as Kafka names it (`GET /connectors/<name>/tasks`).
    pub fn task_class_name(self) -> &'static str {
        match self {
            Self::FileStreamSource => "org.apache.kafka.connect.file.FileStreamSourceTask",
            Self::FileStreamSink => "org.apache.kafka.connect.file.FileStreamSinkTask",
            Self::Generator => "generatorTask",
            Self::PostgresSink => "PostgresSinkTask",
        }
    }

    /// Source or sink.
    pub fn connector_type(self) -> ConnectorType {
        match self {
            Self::FileStreamSink | Self::PostgresSink => ConnectorType::Sink,
            Self::FileStreamSource | Self::Generator => ConnectorType::Source,
        }
    }

    /// The keys this class takes on top of the common ones.
    pub(crate) fn keys(self) -> &'static [&'static str] {
        match self {
            Self::FileStreamSource => &["file", "topic", TOPIC_PARTITIONS, TOPIC_REPLICATION],
            Self::FileStreamSink => &["file", "topics"],
            Self::Generator => &[
                "topic",
                "records.per.second",
                "iterations",
                "quickstart",
                TOPIC_PARTITIONS,
                TOPIC_REPLICATION,
            ],
            Self::PostgresSink => &[
                "connection.url",
                "connection.user",
                "connection.password",
                "topics",
                "table.name.format",
                "insert.mode",
                "pk.mode",
                "pk.fields",
                "auto.create",
                "delete.enabled",
            ],
        }
    }
}

const TOPIC_PARTITIONS: &str = "topic.creation.default.partitions";
const TOPIC_REPLICATION: &str = "topic.creation.default.replication.factor";

/// Keys of every connector.
pub(crate) const COMMON_KEYS: &[&str] = &[
    "name",
    "connector.class",
    "tasks.max",
    "key.converter",
    "value.converter",
    "key.converter.schemas.enable",
    "value.converter.schemas.enable",
    "errors.tolerance",
    "errors.deadletterqueue.topic.name",
    "errors.deadletterqueue.context.headers.enable",
    "offset.flush.interval.ms",
    "batch.size",
];

/// Kafka keys accepted and ignored because Eddy already behaves as they ask or they only
/// tune Kafka's worker: errors are always logged, headers travel as bytes, restarts are
/// the supervisor's.
const IGNORED_KEYS: &[&str] = &[
    "errors.log.enable",
    "errors.log.include.messages",
    "errors.retry.timeout",
    "errors.retry.delay.max.ms",
    "errors.deadletterqueue.topic.replication.factor",
    "header.converter",
    "config.action.reload",
];

/// Kafka keys Eddy does not implement yet; setting them is an error, not a silent no-op.
const UNSUPPORTED_KEYS: &[(&str, &str)] = &[(
    "topics.regex",
    "not supported yet: list the topics in `topics`",
)];

/// What happens to a record a sink cannot convert or write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Tolerance {
    /// The task fails with the record's error.
    None,
    /// The record goes to the dead-letter topic and the task goes on.
    All,
}

/// The `errors.*` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorHandling {
    /// `errors.tolerance`.
    pub tolerance: Tolerance,
    /// `errors.deadletterqueue.topic.name`.
    pub dead_letter_topic: Option<String>,
    /// `errors.deadletterqueue.context.headers.enable`: add `__connect.errors.*` headers.
    pub context_headers: bool,
}

/// What the generator writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quickstart {
    /// The seed's payments: key a payer, value a JSON payment.
    Payments,
    /// Key null, value the sequence number as text.
    Counter,
}

/// The class-specific part of a configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClassConfig {
    /// `FileStreamSource`.
    FileSource {
        /// The file to tail.
        file: PathBuf,
        /// The topic to write.
        topic: String,
    },
    /// `FileStreamSink`.
    FileSink {
        /// The file to append to.
        file: PathBuf,
        /// The topics to read.
        topics: Vec<String>,
    },
    /// `generator`.
    Generator {
        /// The topic to write.
        topic: String,
        /// Records per second, over all tasks.
        records_per_second: u64,
        /// Records to write in total over all tasks; `None` runs forever.
        iterations: Option<u64>,
        /// What to write.
        quickstart: Quickstart,
    },
    /// `PostgresSink`.
    PostgresSink(PostgresSinkConfig),
}

/// A validated connector configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectorConfig {
    /// `name`.
    pub name: String,
    /// `connector.class`.
    pub class: ConnectorClass,
    /// `tasks.max`.
    pub tasks_max: u32,
    /// `key.converter`.
    pub key_converter: Converter,
    /// `value.converter`.
    pub value_converter: Converter,
    /// `errors.*`.
    pub errors: ErrorHandling,
    /// `offset.flush.interval.ms`: how often progress is committed (0: every batch).
    pub offset_flush_interval_ms: u64,
    /// `batch.size`: the most records a task handles between two checks of its progress.
    pub batch_size: usize,
    /// `topic.creation.default.partitions` (-1: the broker's default).
    pub topic_partitions: i32,
    /// `topic.creation.default.replication.factor` (-1: the broker's default).
    pub topic_replication_factor: i16,
    /// The class's own settings.
    pub class_config: ClassConfig,
    /// `transforms` and `predicates`: the single message transforms, in order.
    pub transforms: TransformChain,
    /// Every key as given, for `GET /connectors/<name>/config`.
    pub raw: BTreeMap<String, String>,
}

impl ConnectorConfig {
    /// Validates `raw` for a node (no worker file: [`WorkerDefaults::default`]); the error
    /// lists every faulty key (syntax problems included).
    pub fn validate(raw: RawConfig) -> Result<Self, ConnectError> {
        Self::validate_for(raw, &WorkerDefaults::default())
    }

    /// Validates `raw` for a worker whose connectors inherit `defaults`.
    pub fn validate_for(raw: RawConfig, defaults: &WorkerDefaults) -> Result<Self, ConnectError> {
        let mut v = Validator {
            raw: &raw.entries,
            problems: raw.problems.clone(),
            defaults,
        };
        let config = v.config();
        match config {
            Some(config) if v.problems.is_empty() => Ok(config),
            _ => {
                let source_name = raw
                    .entries
                    .get("name")
                    .filter(|n| !n.trim().is_empty())
                    .cloned()
                    .unwrap_or(raw.source_name);
                Err(ConnectError::InvalidConfig {
                    source_name,
                    problems: ConfigProblems(v.problems),
                })
            }
        }
    }

    /// Source or sink.
    pub fn connector_type(&self) -> ConnectorType {
        self.class.connector_type()
    }

    /// How many tasks run: `tasks.max`, except for the file connectors, which run one (a
    /// file has one reader and one writer), as in Kafka.
    pub fn task_count(&self) -> u32 {
        match self.class {
            ConnectorClass::FileStreamSource | ConnectorClass::FileStreamSink => 1,
            ConnectorClass::Generator | ConnectorClass::PostgresSink => self.tasks_max,
        }
    }

    /// The consumer group a sink commits its progress under: `connect-<name>`, as in Kafka.
    pub fn group_id(&self) -> String {
        format!("connect-{}", self.name)
    }
}

struct Validator<'a> {
    raw: &'a BTreeMap<String, String>,
    problems: Vec<ConfigProblem>,
    defaults: &'a WorkerDefaults,
}

impl Validator<'_> {
    fn config(&mut self) -> Option<ConnectorConfig> {
        let name = self.name();
        let class = self.class();
        self.check_keys(class);
        let tasks_max = self.integer("tasks.max", 1, 1, u64::from(TASKS_MAX));
        let key_converter = self.converter("key");
        let value_converter = self.converter("value");
        let offset_flush_interval_ms = self.integer(
            "offset.flush.interval.ms",
            self.defaults.offset_flush_interval_ms,
            0,
            OFFSET_FLUSH_INTERVAL_MS_MAX,
        );
        let default_batch = match class.map(ConnectorClass::connector_type) {
            Some(ConnectorType::Sink) => DEFAULT_SINK_BATCH_SIZE,
            _ => DEFAULT_SOURCE_BATCH_SIZE,
        };
        let batch_size = self.integer("batch.size", default_batch as u64, 1, BATCH_SIZE_MAX as u64);
        let topic_partitions = self.optional_count(TOPIC_PARTITIONS, i32::MAX as i64);
        let topic_replication_factor = self.optional_count(TOPIC_REPLICATION, i16::MAX as i64);
        let class_config = class.and_then(|c| self.class_config(c));
        let errors = self.errors(class.map(ConnectorClass::connector_type), &class_config);
        let transforms = TransformChain::parse(self.raw)
            .map_err(|problems| self.problems.extend(problems))
            .ok();
        Some(ConnectorConfig {
            name: name?,
            class: class?,
            tasks_max: u32::try_from(tasks_max).ok()?,
            key_converter: key_converter?,
            value_converter: value_converter?,
            errors: errors?,
            offset_flush_interval_ms,
            batch_size: usize::try_from(batch_size).ok()?,
            topic_partitions: i32::try_from(topic_partitions).ok()?,
            topic_replication_factor: i16::try_from(topic_replication_factor).ok()?,
            class_config: class_config?,
            transforms: transforms?,
            raw: self.raw.clone(),
        })
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.raw.get(key).map(|v| v.trim())
    }

    fn problem(&mut self, key: &str, reason: impl Into<String>) {
        let problem = match self.raw.get(key) {
            Some(value) => ConfigProblem::invalid(key, value, reason),
            None => ConfigProblem::missing(key, reason),
        };
        self.problems.push(problem);
    }

    fn name(&mut self) -> Option<String> {
        let Some(name) = self.get("name").map(str::to_owned) else {
            self.problem("name", "required: the connector's unique name");
            return None;
        };
        let reason = if name.is_empty() {
            Some("must not be empty".to_owned())
        } else if name.len() > CONNECTOR_NAME_BYTES_MAX {
            Some(format!("longer than {CONNECTOR_NAME_BYTES_MAX} bytes"))
        } else if name
            .chars()
            .any(|c| c.is_control() || c == '/' || c == '\\')
        {
            Some("must not contain control characters, `/` or `\\`".to_owned())
        } else {
            None
        };
        match reason {
            Some(reason) => {
                self.problem("name", reason);
                None
            }
            None => Some(name),
        }
    }

    fn class(&mut self) -> Option<ConnectorClass> {
        let Some(value) = self.get("connector.class") else {
            self.problem(
                "connector.class",
                format!("required: one of {}", class_list()),
            );
            return None;
        };
        let class = ConnectorClass::parse(value);
        if class.is_none() {
            self.problem(
                "connector.class",
                format!("unknown connector class: expected one of {}", class_list()),
            );
        }
        class
    }

    /// Reports keys that no connector of `class` takes.
    fn check_keys(&mut self, class: Option<ConnectorClass>) {
        let class_keys: &[&str] = class.map_or(&[], ConnectorClass::keys);
        let all_class_keys: Vec<&str> = ConnectorClass::ALL
            .iter()
            .flat_map(|c| c.keys().iter().copied())
            .collect();
        for key in self.raw.keys() {
            if COMMON_KEYS.contains(&key.as_str())
                || class_keys.contains(&key.as_str())
                || IGNORED_KEYS.contains(&key.as_str())
                || is_chain_key(key)
            {
                continue;
            }
            let reason = if let Some((_, why)) = UNSUPPORTED_KEYS.iter().find(|(k, _)| k == key) {
                if self.get(key).is_some_and(str::is_empty) {
                    continue;
                }
                (*why).to_owned()
            } else if all_class_keys.contains(&key.as_str()) {
                let class_name = class.map_or("this connector", ConnectorClass::class_name);
                format!("{class_name} does not take this key")
            } else {
                let known = COMMON_KEYS.iter().chain(class_keys).copied();
                match closest(key, known) {
                    Some(suggestion) => format!("unknown key: did you mean `{suggestion}`?"),
                    None => "unknown key".to_owned(),
                }
            };
            let problem = ConfigProblem::invalid(key, &self.raw[key], reason);
            self.problems.push(problem);
        }
    }

    fn integer(&mut self, key: &str, default: u64, min: u64, max: u64) -> u64 {
        let Some(value) = self.get(key) else {
            return default;
        };
        match value.parse::<u64>() {
            Ok(n) if (min..=max).contains(&n) => n,
            _ => {
                self.problem(key, format!("must be an integer from {min} to {max}"));
                default
            }
        }
    }

    /// A count where -1 means "the broker's default".
    fn optional_count(&mut self, key: &str, max: i64) -> i64 {
        let Some(value) = self.get(key) else {
            return -1;
        };
        match value.parse::<i64>() {
            Ok(n) if n == -1 || (1..=max).contains(&n) => n,
            _ => {
                self.problem(key, format!("must be -1 (broker default) or 1 to {max}"));
                -1
            }
        }
    }

    fn boolean(&mut self, key: &str, default: bool) -> bool {
        match self.get(key).map(str::to_ascii_lowercase).as_deref() {
            None => default,
            Some("true") => true,
            Some("false") => false,
            Some(_) => {
                self.problem(key, "must be true or false");
                default
            }
        }
    }

    fn converter(&mut self, which: &str) -> Option<Converter> {
        let key = format!("{which}.converter");
        let schemas_key = format!("{key}.schemas.enable");
        let schemas_enable = self.boolean(&schemas_key, true);
        let Some(class) = self.get(&key).map(str::to_owned) else {
            if self.raw.contains_key(&schemas_key) {
                tracing::warn!(
                    "{schemas_key} is ignored: without {key} the connector uses its worker's \
                     converter with the worker's settings, as in Kafka"
                );
            }
            return Some(match which {
                "key" => self.defaults.key_converter,
                _ => self.defaults.value_converter,
            });
        };
        match Converter::parse(&class, schemas_enable) {
            Ok(converter) => Some(converter),
            Err(reason) => {
                self.problem(&key, reason);
                None
            }
        }
    }

    fn topic(&mut self, key: &str, what: &str) -> Option<String> {
        let Some(topic) = self.get(key).map(str::to_owned) else {
            self.problem(key, format!("required: {what}"));
            return None;
        };
        match topic_name_problem(&topic) {
            Some(reason) => {
                self.problem(key, reason);
                None
            }
            None => Some(topic),
        }
    }

    fn file(&mut self, what: &str) -> Option<PathBuf> {
        match self.get("file") {
            None => {
                self.problem("file", format!("required: {what}"));
                None
            }
            Some("") => {
                self.problem("file", "must not be empty");
                None
            }
            Some(path) => Some(PathBuf::from(path)),
        }
    }

    fn class_config(&mut self, class: ConnectorClass) -> Option<ClassConfig> {
        match class {
            ConnectorClass::FileStreamSource => {
                let file = self.file("the file to read, one record per line");
                let topic = self.topic("topic", "the topic to write the lines to");
                Some(ClassConfig::FileSource {
                    file: file?,
                    topic: topic?,
                })
            }
            ConnectorClass::FileStreamSink => {
                let file = self.file("the file to append one line per record to");
                let topics = self.topics();
                Some(ClassConfig::FileSink {
                    file: file?,
                    topics: topics?,
                })
            }
            ConnectorClass::Generator => self.generator(),
            ConnectorClass::PostgresSink => self.postgres_sink(),
        }
    }

    fn topics(&mut self) -> Option<Vec<String>> {
        let Some(list) = self.get("topics").map(str::to_owned) else {
            self.problem("topics", "required: the comma-separated topics to read");
            return None;
        };
        let topics: Vec<String> = list
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect();
        let bad: Vec<String> = topics
            .iter()
            .filter_map(|t| topic_name_problem(t).map(|why| format!("`{t}`: {why}")))
            .collect();
        if topics.is_empty() {
            self.problem("topics", "must name at least one topic");
            None
        } else if !bad.is_empty() {
            self.problem("topics", bad.join("; "));
            None
        } else {
            Some(topics)
        }
    }

    fn generator(&mut self) -> Option<ClassConfig> {
        let topic = self.topic("topic", "the topic to write the generated records to");
        let records_per_second = self.integer(
            "records.per.second",
            DEFAULT_RECORDS_PER_SECOND,
            1,
            RECORDS_PER_SECOND_MAX,
        );
        let iterations = match self.get("iterations") {
            None | Some("-1") => None,
            Some(value) => match value.parse::<u64>() {
                Ok(n) => Some(n),
                Err(_) => {
                    self.problem("iterations", "must be -1 (forever) or a count of records");
                    None
                }
            },
        };
        let quickstart = match self
            .get("quickstart")
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("payments") => Some(Quickstart::Payments),
            Some("counter") => Some(Quickstart::Counter),
            Some(_) => {
                self.problem("quickstart", "must be payments or counter");
                None
            }
        };
        Some(ClassConfig::Generator {
            topic: topic?,
            records_per_second,
            iterations,
            quickstart: quickstart?,
        })
    }

    fn postgres_sink(&mut self) -> Option<ClassConfig> {
        let connection_url = self.postgres_url();
        let topics = self.topics();
        let format_key = "table.name.format";
        let table_name_format = self.get(format_key).unwrap_or("${topic}").to_owned();
        for topic in topics.iter().flatten() {
            let table = postgres_sink::table_name(&table_name_format, topic);
            if let Some(reason) = postgres_sink::identifier_problem(&table) {
                self.problem(format_key, format!("the table for topic {topic}: {reason}"));
                break;
            }
        }
        let insert_mode = match self.get("insert.mode") {
            None => Some(InsertMode::Upsert),
            Some(mode) => InsertMode::parse(mode).or_else(|| {
                self.problem("insert.mode", "must be insert or upsert");
                None
            }),
        };
        match self.get("pk.mode").map(str::to_ascii_lowercase).as_deref() {
            None | Some("record_key") => {}
            Some(_) => self.problem(
                "pk.mode",
                "only record_key is supported: the record key is the primary key",
            ),
        }
        let key_column = self.get("pk.fields").unwrap_or("key").to_owned();
        let key_column_problem = if key_column.contains(',') {
            Some("one column only: the record key is a single value".to_owned())
        } else {
            postgres_sink::identifier_problem(&key_column)
        };
        if let Some(reason) = key_column_problem {
            self.problem("pk.fields", reason);
        }
        let auto_create = self.boolean("auto.create", true);
        let delete_enabled = self.boolean("delete.enabled", true);
        let optional = |key| self.get(key).filter(|v| !v.is_empty()).map(str::to_owned);
        let (user, password) = (optional("connection.user"), optional("connection.password"));
        Some(ClassConfig::PostgresSink(PostgresSinkConfig {
            connection_url: connection_url?,
            user,
            password,
            topics: topics?,
            table_name_format,
            insert_mode: insert_mode?,
            key_column,
            auto_create,
            delete_enabled,
        }))
    }

    /// `connection.url`: parsed, naming a host and (here or in `connection.user`) a user.
    fn postgres_url(&mut self) -> Option<String> {
        let url_key = "connection.url";
        match self.get(url_key).map(str::to_owned) {
            None => {
                self.problem(
                    url_key,
                    "required: the database, as postgresql://USER@HOST:PORT/DATABASE",
                );
                None
            }
            Some(url) => {
                let user = self.get("connection.user").filter(|u| !u.is_empty());
                let problem = match postgres_sink::parse_connection_url(&url) {
                    Err(reason) => Some(reason),
                    Ok(parsed) if parsed.get_user().is_none() && user.is_none() => Some(
                        "names no user: write postgresql://USER@HOST… or set connection.user"
                            .to_owned(),
                    ),
                    Ok(_) => None,
                };
                match problem {
                    // The value is shown with its password masked.
                    Some(reason) => {
                        let shown = postgres_sink::redact_password(&url);
                        let problem = ConfigProblem::invalid(url_key, &shown, reason);
                        self.problems.push(problem);
                        None
                    }
                    None => Some(url),
                }
            }
        }
    }

    fn errors(
        &mut self,
        kind: Option<ConnectorType>,
        class_config: &Option<ClassConfig>,
    ) -> Option<ErrorHandling> {
        let tolerance = match self.get("errors.tolerance").map(str::to_ascii_lowercase) {
            None => Some(Tolerance::None),
            Some(t) if t == "none" => Some(Tolerance::None),
            Some(t) if t == "all" => Some(Tolerance::All),
            Some(_) => {
                self.problem("errors.tolerance", "must be none or all");
                None
            }
        };
        let context_headers = self.boolean("errors.deadletterqueue.context.headers.enable", false);
        let dlq_key = "errors.deadletterqueue.topic.name";
        let dead_letter_topic = match self.get(dlq_key) {
            None | Some("") => None,
            Some(_) => self.topic(dlq_key, "the dead-letter topic"),
        };
        if dead_letter_topic.is_some() && kind == Some(ConnectorType::Source) {
            self.problem(dlq_key, "only sink connectors have a dead-letter topic");
        }
        let sink_topics = match class_config {
            Some(ClassConfig::FileSink { topics, .. }) => Some(topics),
            Some(ClassConfig::PostgresSink(postgres)) => Some(&postgres.topics),
            _ => None,
        };
        if let (Some(dlq), Some(topics)) = (&dead_letter_topic, sink_topics) {
            if topics.contains(dlq) {
                self.problem(dlq_key, "must not be one of the topics the sink reads");
            }
        }
        if tolerance == Some(Tolerance::All)
            && kind == Some(ConnectorType::Sink)
            && dead_letter_topic.is_none()
            && self.get(dlq_key).is_none()
        {
            self.problem(
                "errors.tolerance",
                "`all` needs errors.deadletterqueue.topic.name: Eddy never drops a bad record \
                 silently",
            );
        }
        Some(ErrorHandling {
            tolerance: tolerance?,
            dead_letter_topic,
            context_headers,
        })
    }
}

fn class_list() -> String {
    ConnectorClass::ALL
        .iter()
        .map(|c| match c {
            ConnectorClass::FileStreamSource => "FileStreamSource",
            ConnectorClass::FileStreamSink => "FileStreamSink",
            ConnectorClass::Generator => "generator",
            ConnectorClass::PostgresSink => "PostgresSink",
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Why `topic` is not a legal Kafka topic name, if it is not.
pub fn topic_name_problem(topic: &str) -> Option<String> {
    if topic.is_empty() {
        Some("a topic name must not be empty".to_owned())
    } else if topic == "." || topic == ".." {
        Some("a topic may not be named `.` or `..`".to_owned())
    } else if topic.len() > TOPIC_NAME_BYTES_MAX {
        Some(format!(
            "a topic name is at most {TOPIC_NAME_BYTES_MAX} characters"
        ))
    } else if !topic
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        Some("a topic name may only hold ASCII letters, digits, `.`, `_` and `-`".to_owned())
    } else {
        None
    }
}

/// The known key closest to `key` by edit distance, if it is close enough to be a typo.
pub(super) fn closest<'k>(key: &str, known: impl Iterator<Item = &'k str>) -> Option<&'k str> {
    known
        .map(|k| (edit_distance(key, k), k))
        .filter(|(d, k)| *d <= 3.max(k.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous + usize::from(ca != *cb);
            previous = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(previous + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::super::properties::parse_properties;
    use super::*;

    fn validate(text: &str) -> Result<ConnectorConfig, ConnectError> {
        ConnectorConfig::validate(parse_properties("test.properties", text))
    }

    fn faulty_keys(err: ConnectError) -> Vec<String> {
        match err {
            ConnectError::InvalidConfig { problems, .. } => {
                problems.0.into_iter().map(|p| p.key).collect()
            }
            other => panic!("not a validation error: {other}"),
        }
    }

    #[test]
    fn kafkas_quickstart_source_is_valid() {
        let config = validate(
            "name=local-file-source\n\
             connector.class=FileStreamSource\n\
             tasks.max=1\n\
             file=test.txt\n\
             topic=connect-test\n",
        )
        .unwrap();
        assert_eq!(config.class, ConnectorClass::FileStreamSource);
        assert_eq!(config.connector_type(), ConnectorType::Source);
        assert_eq!(config.batch_size, DEFAULT_SOURCE_BATCH_SIZE);
        assert_eq!(config.value_converter, Converter::String);
        assert_eq!(
            config.class_config,
            ClassConfig::FileSource {
                file: "test.txt".into(),
                topic: "connect-test".into()
            }
        );
    }

    #[test]
    fn kafkas_quickstart_sink_is_valid() {
        let config = validate(
            "name=local-file-sink\n\
             connector.class=org.apache.kafka.connect.file.FileStreamSinkConnector\n\
             tasks.max=1\nfile=test.sink.txt\ntopics=connect-test, other\n\
             value.converter=org.apache.kafka.connect.json.JsonConverter\n\
             value.converter.schemas.enable=false\n",
        )
        .unwrap();
        assert_eq!(config.group_id(), "connect-local-file-sink");
        assert_eq!(
            config.value_converter,
            Converter::Json {
                schemas_enable: false
            }
        );
        let ClassConfig::FileSink { topics, .. } = config.class_config else {
            panic!("not a sink");
        };
        assert_eq!(topics, ["connect-test", "other"]);
    }

    #[test]
    fn converters_default_to_the_workers_and_a_connector_may_override_them() {
        let json = |schemas_enable| Converter::Json { schemas_enable };
        let worker = WorkerDefaults {
            key_converter: json(true),
            value_converter: json(true),
            offset_flush_interval_ms: 10_000,
        };
        let base = "name=s\nconnector.class=FileStreamSource\nfile=/tmp/x\ntopic=t\n";
        let inherit = |text: &str| {
            ConnectorConfig::validate_for(parse_properties("c", text), &worker).unwrap()
        };
        let config = inherit(base);
        assert_eq!(
            (config.key_converter, config.value_converter),
            (json(true), json(true))
        );
        assert_eq!(config.offset_flush_interval_ms, 10_000);
        // A connector's own converter takes its own settings (schemas.enable defaults true).
        let config = inherit(&format!(
            "{base}value.converter=StringConverter\nkey.converter=JsonConverter\n\
             key.converter.schemas.enable=false\noffset.flush.interval.ms=0\n"
        ));
        assert_eq!(config.value_converter, Converter::String);
        assert_eq!(config.key_converter, json(false));
        assert_eq!(config.offset_flush_interval_ms, 0);
        // Without its own converter, a connector's schemas.enable is ignored, as in Kafka.
        let config = inherit(&format!("{base}value.converter.schemas.enable=false\n"));
        assert_eq!(config.value_converter, json(true));
        // A node's connectors keep StringConverter.
        assert_eq!(validate(base).unwrap().value_converter, Converter::String);
    }

    #[test]
    fn every_faulty_key_is_listed() {
        let err = validate(
            "name=broken\nconnector.class=FileStreamSource\ntasks.max=zero\n\
             topic=bad topic!\nkey.converter=AvroConverter\nerrors.tolerance=some\n\
             tasks.maxx=1\ntransforms=route\n",
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("`broken`"), "{text}");
        let mut keys = faulty_keys(err);
        keys.sort();
        assert_eq!(
            keys,
            [
                "errors.tolerance",
                "file",
                "key.converter",
                "tasks.max",
                "tasks.maxx",
                "topic",
                "transforms.route.type"
            ],
            "{text}"
        );
        assert!(text.contains("did you mean `tasks.max`?"), "{text}");
    }

    #[test]
    fn transforms_are_part_of_the_config() {
        let config = validate(
            "name=s\nconnector.class=FileStreamSource\nfile=/tmp/x\ntopic=t\n\
             transforms=route\ntransforms.route.type=TimestampRouter\n",
        )
        .unwrap();
        assert_eq!(config.transforms.aliases().collect::<Vec<_>>(), ["route"]);
        assert!(
            validate("name=s\nconnector.class=FileStreamSource\nfile=/tmp/x\ntopic=t\n")
                .unwrap()
                .transforms
                .is_empty()
        );
    }

    #[test]
    fn missing_basics_are_listed() {
        let keys = faulty_keys(validate("").unwrap_err());
        assert_eq!(keys, ["name", "connector.class"]);
        let keys = faulty_keys(validate("name=x\nconnector.class=Jdbc\n").unwrap_err());
        assert_eq!(keys, ["connector.class"]);
    }

    #[test]
    fn sink_error_rules() {
        let base = "name=s\nconnector.class=FileStreamSink\nfile=/tmp/x\ntopics=a\n";
        let keys = faulty_keys(validate(&format!("{base}errors.tolerance=all\n")).unwrap_err());
        assert_eq!(keys, ["errors.tolerance"]);
        let keys = faulty_keys(
            validate(&format!(
                "{base}errors.tolerance=all\nerrors.deadletterqueue.topic.name=a\n"
            ))
            .unwrap_err(),
        );
        assert_eq!(keys, ["errors.deadletterqueue.topic.name"]);
        let ok = validate(&format!(
            "{base}errors.tolerance=all\nerrors.deadletterqueue.topic.name=dlq\n"
        ))
        .unwrap();
        assert_eq!(ok.errors.tolerance, Tolerance::All);
        assert_eq!(ok.errors.dead_letter_topic.as_deref(), Some("dlq"));
        let keys = faulty_keys(
            validate(
                "name=g\nconnector.class=generator\ntopic=t\n\
                 errors.deadletterqueue.topic.name=dlq\ntopics=a\n",
            )
            .unwrap_err(),
        );
        assert_eq!(keys, ["topics", "errors.deadletterqueue.topic.name"]);
    }

    #[test]
    fn generator_settings() {
        let config = validate(
            "name=g\nconnector.class=generator\ntopic=payments\ntasks.max=4\n\
             records.per.second=5000\niterations=100\nquickstart=counter\n",
        )
        .unwrap();
        assert_eq!(config.task_count(), 4);
        assert_eq!(
            config.class_config,
            ClassConfig::Generator {
                topic: "payments".into(),
                records_per_second: 5000,
                iterations: Some(100),
                quickstart: Quickstart::Counter
            }
        );
    }

    #[test]
    fn topic_names_follow_kafka() {
        assert!(topic_name_problem("orders.v1_x-2").is_none());
        assert!(topic_name_problem("a b").is_some());
        assert!(topic_name_problem("..").is_some());
        assert!(topic_name_problem(&"x".repeat(250)).is_some());
    }

    #[test]
    fn suggestions_are_typos_only() {
        assert_eq!(
            closest("topci", ["topic", "file"].into_iter()),
            Some("topic")
        );
        assert_eq!(closest("zzzzzzzz", ["topic", "file"].into_iter()), None);
    }
}
