//! A standalone worker's configuration: Kafka's `connect-standalone.properties`, the first
//! file of `eddy connect run worker.properties connector1.properties …`, as Kafka's
//! `connect-standalone.sh` takes it.
//!
//! Keys read: `bootstrap.servers`, `key.converter`, `value.converter`,
//! `key.converter.schemas.enable`, `value.converter.schemas.enable`,
//! `offset.storage.file.filename` (required, as in Kafka's standalone mode: source offsets
//! are kept in that file, not in the cluster) and `offset.flush.interval.ms`.
//! `plugin.path` is accepted and ignored (Eddy's connectors are built in); any other key
//! is ignored with a warning naming it, as Kafka warns about unknown worker configs.
//!
//! [`WorkerDefaults`] is what connectors inherit from their worker: the converters (a
//! connector that sets `key.converter` or `value.converter` uses its own, configured by
//! its own `*.converter.*` keys, as Kafka does) and `offset.flush.interval.ms`. A node
//! has no worker file: its connectors inherit `StringConverter` and 1 s.
//!
//! No I/O here: the file is read by the caller.

use std::path::PathBuf;

use super::config::{DEFAULT_OFFSET_FLUSH_INTERVAL_MS, OFFSET_FLUSH_INTERVAL_MS_MAX};
use super::converter::Converter;
use super::error::{ConfigProblem, ConfigProblems, ConnectError};
use super::properties::RawConfig;

/// The keys of a worker file that Eddy reads.
pub const WORKER_KEYS: &[&str] = &[
    "bootstrap.servers",
    "key.converter",
    "value.converter",
    "key.converter.schemas.enable",
    "value.converter.schemas.enable",
    "offset.storage.file.filename",
    "offset.flush.interval.ms",
];

/// Worker keys accepted and ignored, with why.
const IGNORED_WORKER_KEYS: &[(&str, &str)] = &[(
    "plugin.path",
    "Eddy's connectors are built in; there are no plugins to load",
)];

/// What a worker's connectors inherit unless they set it themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkerDefaults {
    /// `key.converter` (with its `schemas.enable`).
    pub key_converter: Converter,
    /// `value.converter` (with its `schemas.enable`).
    pub value_converter: Converter,
    /// `offset.flush.interval.ms`.
    pub offset_flush_interval_ms: u64,
}

impl Default for WorkerDefaults {
    /// A node's: strings travel unchanged, progress is committed every second.
    fn default() -> Self {
        Self {
            key_converter: Converter::String,
            value_converter: Converter::String,
            offset_flush_interval_ms: DEFAULT_OFFSET_FLUSH_INTERVAL_MS,
        }
    }
}

/// A validated worker file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerConfig {
    /// `bootstrap.servers`, if set (`-b` overrides it).
    pub bootstrap_servers: Option<String>,
    /// `offset.storage.file.filename`.
    pub offset_storage_file: PathBuf,
    /// What its connectors inherit.
    pub defaults: WorkerDefaults,
    /// Keys accepted and ignored, with why (to be logged).
    pub ignored: Vec<(String, String)>,
    /// Keys Eddy does not know (to be warned about), sorted.
    pub unknown: Vec<String>,
}

impl WorkerConfig {
    /// Whether `raw` is a worker file rather than a connector's: it has no
    /// `connector.class` and at least one worker key.
    pub fn is_worker_file(raw: &RawConfig) -> bool {
        !raw.entries.contains_key("connector.class")
            && raw.entries.keys().any(|k| {
                WORKER_KEYS.contains(&k.as_str())
                    || IGNORED_WORKER_KEYS.iter().any(|(ignored, _)| ignored == k)
            })
    }

    /// Validates a worker file; the error lists every faulty key.
    pub fn validate(raw: RawConfig) -> Result<Self, ConnectError> {
        let mut problems = raw.problems.clone();
        let get = |key: &str| raw.entries.get(key).map(|v| v.trim().to_owned());
        let converter = |which: &str, problems: &mut Vec<ConfigProblem>| {
            let key = format!("{which}.converter");
            let schemas_key = format!("{key}.schemas.enable");
            let schemas_enable = match get(&schemas_key).map(|v| v.to_ascii_lowercase()) {
                None => true,
                Some(v) if v == "true" => true,
                Some(v) if v == "false" => false,
                Some(v) => {
                    problems.push(ConfigProblem::invalid(
                        &schemas_key,
                        &v,
                        "must be true or false",
                    ));
                    true
                }
            };
            match get(&key) {
                None => Converter::String,
                Some(class) => Converter::parse(&class, schemas_enable).unwrap_or_else(|reason| {
                    problems.push(ConfigProblem::invalid(&key, &class, reason));
                    Converter::String
                }),
            }
        };
        let key_converter = converter("key", &mut problems);
        let value_converter = converter("value", &mut problems);
        let flush_key = "offset.flush.interval.ms";
        let offset_flush_interval_ms = match get(flush_key) {
            None => DEFAULT_OFFSET_FLUSH_INTERVAL_MS,
            Some(v) => match v.parse::<u64>() {
                Ok(n) if n <= OFFSET_FLUSH_INTERVAL_MS_MAX => n,
                _ => {
                    problems.push(ConfigProblem::invalid(
                        flush_key,
                        &v,
                        format!("must be an integer from 0 to {OFFSET_FLUSH_INTERVAL_MS_MAX}"),
                    ));
                    DEFAULT_OFFSET_FLUSH_INTERVAL_MS
                }
            },
        };
        let file_key = "offset.storage.file.filename";
        let offset_storage_file = match get(file_key) {
            Some(path) if !path.is_empty() => Some(PathBuf::from(path)),
            _ => {
                problems.push(ConfigProblem::missing(
                    file_key,
                    "required: a standalone worker keeps its source offsets in this local \
                     file, as Kafka's does (e.g. /tmp/connect.offsets)",
                ));
                None
            }
        };
        let bootstrap_servers = get("bootstrap.servers").filter(|b| !b.is_empty());
        let ignored = IGNORED_WORKER_KEYS
            .iter()
            .filter(|(key, _)| raw.entries.contains_key(*key))
            .map(|(key, why)| ((*key).to_owned(), (*why).to_owned()))
            .collect();
        let unknown = raw
            .entries
            .keys()
            .filter(|k| {
                !WORKER_KEYS.contains(&k.as_str())
                    && !IGNORED_WORKER_KEYS.iter().any(|(ignored, _)| ignored == k)
            })
            .cloned()
            .collect();
        match offset_storage_file {
            Some(offset_storage_file) if problems.is_empty() => Ok(Self {
                bootstrap_servers,
                offset_storage_file,
                defaults: WorkerDefaults {
                    key_converter,
                    value_converter,
                    offset_flush_interval_ms,
                },
                ignored,
                unknown,
            }),
            _ => Err(ConnectError::InvalidConfig {
                source_name: format!("worker {}", raw.source_name),
                problems: ConfigProblems(problems),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::properties::parse_properties;
    use super::*;

    /// Kafka's `config/connect-standalone.properties`, less its comments.
    const KAFKAS_WORKER: &str = "bootstrap.servers=localhost:9092\n\
        key.converter=org.apache.kafka.connect.json.JsonConverter\n\
        value.converter=org.apache.kafka.connect.json.JsonConverter\n\
        key.converter.schemas.enable=true\n\
        value.converter.schemas.enable=true\n\
        offset.storage.file.filename=/tmp/connect.offsets\n\
        offset.flush.interval.ms=10000\n\
        #plugin.path=\n";

    #[test]
    fn kafkas_standalone_worker_file_is_read() {
        let raw = parse_properties("connect-standalone.properties", KAFKAS_WORKER);
        assert!(WorkerConfig::is_worker_file(&raw));
        let worker = WorkerConfig::validate(raw).unwrap();
        assert_eq!(worker.bootstrap_servers.as_deref(), Some("localhost:9092"));
        assert_eq!(
            worker.offset_storage_file,
            PathBuf::from("/tmp/connect.offsets")
        );
        let json = Converter::Json {
            schemas_enable: true,
        };
        assert_eq!(
            worker.defaults,
            WorkerDefaults {
                key_converter: json,
                value_converter: json,
                offset_flush_interval_ms: 10_000
            }
        );
        assert!(worker.unknown.is_empty() && worker.ignored.is_empty());
    }

    #[test]
    fn connector_files_are_not_worker_files() {
        let connector = parse_properties(
            "c",
            "name=a\nconnector.class=FileStreamSource\nvalue.converter=JsonConverter\n",
        );
        assert!(!WorkerConfig::is_worker_file(&connector));
        assert!(!WorkerConfig::is_worker_file(&parse_properties("e", "")));
    }

    #[test]
    fn unknown_keys_are_named_and_plugin_path_ignored() {
        let raw = parse_properties(
            "w",
            "offset.storage.file.filename=/x\nplugin.path=/opt\nlisteners=http://:8083\n\
             rest.port=1\n",
        );
        let worker = WorkerConfig::validate(raw).unwrap();
        assert_eq!(worker.unknown, ["listeners", "rest.port"]);
        assert_eq!(worker.ignored[0].0, "plugin.path");
        assert_eq!(worker.defaults, WorkerDefaults::default());
    }

    #[test]
    fn faulty_worker_keys_are_all_listed() {
        let raw = parse_properties(
            "w",
            "bootstrap.servers=a:1\nvalue.converter=Avro\nkey.converter.schemas.enable=maybe\n\
             offset.flush.interval.ms=-1\n",
        );
        let text = WorkerConfig::validate(raw).unwrap_err().to_string();
        for key in [
            "value.converter",
            "key.converter.schemas.enable",
            "offset.flush.interval.ms",
            "offset.storage.file.filename",
        ] {
            assert!(text.contains(&format!("  - {key} ")), "{key}: {text}");
        }
        assert!(text.contains("4 error(s)"), "{text}");
    }
}
