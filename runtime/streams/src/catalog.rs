//! A catalog of named topology builders: what a program can run (and, later, what a node
//! can host) by name. Each entry builds its [`Topology`] from the application's configs,
//! `KEY=VALUE` pairs that carry Kafka Streams' settings (`commit.interval.ms`, …, see
//! [`settings_from_configs`]) and the topology's own parameters (its topic names, …),
//! which the entry declares: a config that is neither is refused, so a typo does not
//! silently run with a default.
//!
//! ```
//! use eddy_streams::Catalog;
//! use eddy_topologies::StreamsBuilder;
//!
//! let mut catalog = Catalog::new();
//! catalog
//!     .register("shout", "upper-cases orders", |configs| {
//!         let input = configs.get("input.topic").map_or("orders", String::as_str);
//!         let output = configs.get("output.topic").map_or("orders-shouted", String::as_str);
//!         let builder = StreamsBuilder::new();
//!         builder
//!             .stream::<String, String>(input)
//!             .map_values(|order| order.to_uppercase())
//!             .to(output);
//!         Ok(builder.build()?)
//!     })
//!     .parameter("input.topic", "orders", "the topic read")
//!     .parameter("output.topic", "orders-shouted", "the topic written");
//! let topology = catalog.build("shout", &Default::default())?;
//! assert!(topology.describe().to_string().contains("orders"));
//! assert!(catalog.build("nope", &Default::default()).is_err());
//! // A config that is neither Kafka Streams' nor a parameter is refused (a typo).
//! let typo = [("input.topc".to_string(), "x".to_string())].into();
//! assert!(catalog.build("shout", &typo).is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use eddy_topologies::Topology;

use crate::StreamsSettings;

/// An application's configs: `KEY=VALUE` pairs, Kafka Streams' names where they exist.
pub type Configs = BTreeMap<String, String>;

/// What a builder's failure carries: any error (a [`TopologyError`](eddy_topologies::TopologyError)
/// converts with `?`, a bad parameter is a `String`).
pub type BuildError = Box<dyn std::error::Error + Send + Sync>;

/// Builds a topology from the application's configs.
pub type Builder = dyn Fn(&Configs) -> Result<Topology, BuildError> + Send + Sync;

/// One registered topology.
#[derive(Clone)]
pub struct CatalogEntry {
    /// The name it is run by (`wordcount`, `nexmark-q2`, …).
    pub name: String,
    /// One line saying what it computes, from which topics into which.
    pub description: String,
    /// The topology's own configs, in declaration order.
    pub parameters: Vec<Parameter>,
    builder: Arc<Builder>,
}

/// A config a topology's builder reads (beyond Kafka Streams' own).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parameter {
    /// Its name (`input.topic`, …).
    pub name: String,
    /// The value the builder uses without it.
    pub default: String,
    /// What it sets.
    pub description: String,
}

impl CatalogEntry {
    /// Declares a config the builder reads, with the value it uses by default.
    pub fn parameter(&mut self, name: &str, default: &str, description: &str) -> &mut Self {
        self.parameters.push(Parameter {
            name: name.to_string(),
            default: default.to_string(),
            description: description.to_string(),
        });
        self
    }

    /// Checks that every config of `configs` is a Kafka Streams config
    /// ([`STREAMS_CONFIG_NAMES`]) or one of the entry's parameters.
    pub fn check_configs(&self, configs: &Configs) -> Result<(), CatalogError> {
        let unknown: Vec<String> = configs
            .keys()
            .filter(|key| {
                !STREAMS_CONFIG_NAMES.contains(&key.as_str())
                    && !self.parameters.iter().any(|p| &p.name == *key)
            })
            .cloned()
            .collect();
        if unknown.is_empty() {
            return Ok(());
        }
        Err(CatalogError::UnknownConfigs {
            name: self.name.clone(),
            unknown,
            parameters: self.parameters.iter().map(|p| p.name.clone()).collect(),
        })
    }

    /// Builds the topology from `configs`, after [`check_configs`](Self::check_configs).
    pub fn build(&self, configs: &Configs) -> Result<Topology, CatalogError> {
        self.check_configs(configs)?;
        (self.builder)(configs).map_err(|source| CatalogError::Build {
            name: self.name.clone(),
            source,
        })
    }
}

impl std::fmt::Debug for CatalogEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CatalogEntry")
            .field("name", &self.name)
            .field("description", &self.description)
            .field("parameters", &self.parameters)
            .finish_non_exhaustive()
    }
}

/// Why a topology of the catalog could not be built or configured.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// No entry has this name.
    #[error("no topology named {name:?} in this binary's catalog; known: {}", known.join(", "))]
    Unknown {
        /// The name asked for.
        name: String,
        /// The registered names, in order.
        known: Vec<String>,
    },
    /// The entry's builder failed.
    #[error("topology {name:?} could not be built: {source}")]
    Build {
        /// The entry's name.
        name: String,
        /// The builder's error.
        source: BuildError,
    },
    /// Configs that are neither Kafka Streams' (that Eddy reads) nor the entry's
    /// parameters.
    #[error("topology {name:?} takes no config {}: its parameters are {}, and the Kafka Streams configs read are {}", unknown.join(", "), if parameters.is_empty() { "none".to_string() } else { parameters.join(", ") }, STREAMS_CONFIG_NAMES.join(", "))]
    UnknownConfigs {
        /// The entry's name.
        name: String,
        /// The configs it does not take.
        unknown: Vec<String>,
        /// The parameters it declares.
        parameters: Vec<String>,
    },
    /// A Kafka Streams config has a value that does not parse.
    #[error("config {key}={value:?}: {reason}")]
    BadConfig {
        /// The config's name.
        key: String,
        /// Its value.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// Named topology builders, in name order.
#[derive(Clone, Default, Debug)]
pub struct Catalog {
    entries: BTreeMap<String, CatalogEntry>,
}

impl Catalog {
    /// An empty catalog.
    pub fn new() -> Self {
        Catalog::default()
    }

    /// Registers `builder` as `name` (replacing an entry of that name), described by the
    /// one line `description`; returns the entry, to declare its
    /// [`parameter`](CatalogEntry::parameter)s.
    pub fn register<F>(&mut self, name: &str, description: &str, builder: F) -> &mut CatalogEntry
    where
        F: Fn(&Configs) -> Result<Topology, BuildError> + Send + Sync + 'static,
    {
        let entry = CatalogEntry {
            name: name.to_string(),
            description: description.to_string(),
            parameters: Vec::new(),
            builder: Arc::new(builder),
        };
        match self.entries.entry(name.to_string()) {
            std::collections::btree_map::Entry::Occupied(mut slot) => {
                slot.insert(entry);
                slot.into_mut()
            }
            std::collections::btree_map::Entry::Vacant(slot) => slot.insert(entry),
        }
    }

    /// The entry named `name`, or [`CatalogError::Unknown`] listing the known names.
    pub fn get(&self, name: &str) -> Result<&CatalogEntry, CatalogError> {
        self.entries.get(name).ok_or_else(|| CatalogError::Unknown {
            name: name.to_string(),
            known: self.names(),
        })
    }

    /// Builds the topology named `name` from `configs`.
    pub fn build(&self, name: &str, configs: &Configs) -> Result<Topology, CatalogError> {
        self.get(name)?.build(configs)
    }

    /// The registered names, in order.
    pub fn names(&self) -> Vec<String> {
        self.entries.keys().cloned().collect()
    }

    /// The entries, in name order.
    pub fn entries(&self) -> impl Iterator<Item = &CatalogEntry> {
        self.entries.values()
    }

    /// How many entries there are.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// The Kafka Streams configs [`settings_from_configs`] reads; the others are left to the
/// topology's builder.
pub const STREAMS_CONFIG_NAMES: [&str; 7] = [
    "commit.interval.ms",
    "num.standby.replicas",
    "replication.factor",
    "session.timeout.ms",
    "heartbeat.interval.ms",
    "application.server",
    "state.dir",
];

/// [`StreamsSettings`] for `application_id` on `bootstrap`, with Kafka Streams' defaults
/// overridden by the configs of [`STREAMS_CONFIG_NAMES`] present in `configs`.
pub fn settings_from_configs(
    application_id: &str,
    bootstrap: &str,
    configs: &Configs,
) -> Result<StreamsSettings, CatalogError> {
    let mut settings = StreamsSettings::new(application_id, bootstrap);
    let millis = |key: &str| -> Result<Option<Duration>, CatalogError> {
        let Some(value) = configs.get(key) else {
            return Ok(None);
        };
        value
            .parse::<u64>()
            .map(|ms| Some(Duration::from_millis(ms)))
            .map_err(|err| CatalogError::BadConfig {
                key: key.to_string(),
                value: value.clone(),
                reason: format!("not a number of milliseconds ({err})"),
            })
    };
    if let Some(d) = millis("commit.interval.ms")? {
        settings.commit_interval = d;
    }
    if let Some(d) = millis("session.timeout.ms")? {
        settings.session_timeout = d;
    }
    if let Some(d) = millis("heartbeat.interval.ms")? {
        settings.heartbeat_interval = d;
    }
    if let Some(value) = configs.get("num.standby.replicas") {
        settings.num_standby_replicas =
            value
                .parse::<usize>()
                .map_err(|err| CatalogError::BadConfig {
                    key: "num.standby.replicas".into(),
                    value: value.clone(),
                    reason: format!("not a count of standby replicas ({err})"),
                })?;
    }
    if let Some(value) = configs.get("replication.factor") {
        settings.replication_factor = match value.parse::<i16>() {
            Ok(rf) if rf == -1 || rf >= 1 => rf,
            _ => {
                return Err(CatalogError::BadConfig {
                    key: "replication.factor".into(),
                    value: value.clone(),
                    reason: "must be -1 (the cluster's default.replication.factor) or at least 1"
                        .into(),
                })
            }
        };
    }
    if let Some(server) = configs.get("application.server") {
        settings.application_server = Some(server.clone());
    }
    if let Some(dir) = configs.get("state.dir") {
        settings.state_dir = PathBuf::from(dir);
    }
    Ok(settings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use eddy_topologies::StreamsBuilder;

    fn passthrough(configs: &Configs) -> Result<Topology, BuildError> {
        let input = configs
            .get("input.topic")
            .ok_or("input.topic is required")?;
        let builder = StreamsBuilder::new();
        builder.stream::<String, String>(input).to("out");
        Ok(builder.build()?)
    }

    #[test]
    fn unknown_names_list_the_known_ones() {
        let mut catalog = Catalog::new();
        catalog.register("b", "second", passthrough);
        catalog.register("a", "first", passthrough);
        assert_eq!(catalog.names(), ["a", "b"]);
        let err = catalog.build("c", &Configs::new()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "no topology named \"c\" in this binary's catalog; known: a, b"
        );
    }

    #[test]
    fn builder_errors_name_the_entry() {
        let mut catalog = Catalog::new();
        catalog
            .register("p", "passthrough", passthrough)
            .parameter("input.topic", "", "the input");
        let err = catalog.build("p", &Configs::new()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "topology \"p\" could not be built: input.topic is required"
        );
        let configs = Configs::from([("input.topic".to_string(), "in".to_string())]);
        assert!(catalog.build("p", &configs).is_ok());
    }

    #[test]
    fn configs_neither_streams_nor_parameters_are_refused() {
        let mut catalog = Catalog::new();
        catalog
            .register("p", "passthrough", passthrough)
            .parameter("input.topic", "", "the input");
        let configs = Configs::from([
            ("input.topic".to_string(), "in".to_string()),
            ("commit.interval.ms".to_string(), "100".to_string()),
            ("input.topc".to_string(), "typo".to_string()),
        ]);
        let err = catalog.build("p", &configs).unwrap_err().to_string();
        assert!(
            err.starts_with(
                "topology \"p\" takes no config input.topc: its parameters are input.topic, \
                 and the Kafka Streams configs read are commit.interval.ms"
            ),
            "{err}"
        );
    }

    #[test]
    fn streams_configs_override_the_defaults() {
        let configs = Configs::from([
            ("commit.interval.ms".to_string(), "250".to_string()),
            ("state.dir".to_string(), "/tmp/x".to_string()),
            ("input.topic".to_string(), "in".to_string()),
        ]);
        let settings = settings_from_configs("app", "127.0.0.1:1", &configs).unwrap();
        assert_eq!(settings.commit_interval, Duration::from_millis(250));
        assert_eq!(settings.state_dir, PathBuf::from("/tmp/x"));
        assert_eq!(settings.config.application_id, "app");
        let bad = Configs::from([("session.timeout.ms".to_string(), "soon".to_string())]);
        assert!(matches!(
            settings_from_configs("app", "127.0.0.1:1", &bad),
            Err(CatalogError::BadConfig { .. })
        ));
    }
}
