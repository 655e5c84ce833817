//! Topic configs with Kafka's names, types and defaults. A topic stores only what was set on
//! it; the effective value falls back to the node's broker-level default, then to Kafka's.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{ActorError, ActorResult};

/// The type of a config value, as DescribeConfigs v3+ reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigType {
    /// `true` / `false`.
    Boolean,
    /// A 32-bit integer.
    Int,
    /// A 64-bit integer.
    Long,
    /// A floating point number.
    Double,
    /// One of a fixed set of words.
    String,
    /// A comma-separated list of words.
    List,
}

/// One known topic config.
#[derive(Debug, Clone, Copy)]
pub struct ConfigDef {
    /// Kafka's name.
    pub name: &'static str,
    /// Value type.
    pub kind: ConfigType,
    /// Kafka's default.
    pub default: &'static str,
    /// For string configs: the accepted words.
    pub choices: &'static [&'static str],
    /// Whether Eddy enforces it yet (reported in docs; accepted either way).
    pub enforced: bool,
}

const fn def(
    name: &'static str,
    kind: ConfigType,
    default: &'static str,
    enforced: bool,
) -> ConfigDef {
    ConfigDef {
        name,
        kind,
        default,
        choices: &[],
        enforced,
    }
}

/// Every topic config Eddy accepts, with Kafka's defaults.
pub const TOPIC_CONFIGS: &[ConfigDef] = &[
    ConfigDef {
        name: "cleanup.policy",
        kind: ConfigType::List,
        default: "delete",
        choices: &["delete", "compact"],
        enforced: true,
    },
    ConfigDef {
        name: "compression.type",
        kind: ConfigType::String,
        default: "producer",
        choices: &["producer", "uncompressed", "gzip", "snappy", "lz4", "zstd"],
        enforced: false,
    },
    def("delete.retention.ms", ConfigType::Long, "86400000", true),
    def(
        "flush.messages",
        ConfigType::Long,
        "9223372036854775807",
        true,
    ),
    def("flush.ms", ConfigType::Long, "9223372036854775807", true),
    def("max.message.bytes", ConfigType::Int, "1048588", true),
    ConfigDef {
        name: "message.timestamp.type",
        kind: ConfigType::String,
        default: "CreateTime",
        choices: &["CreateTime", "LogAppendTime"],
        enforced: true,
    },
    def("min.cleanable.dirty.ratio", ConfigType::Double, "0.5", true),
    def("min.compaction.lag.ms", ConfigType::Long, "0", true),
    def("min.insync.replicas", ConfigType::Int, "1", false),
    def("retention.bytes", ConfigType::Long, "-1", true),
    def("retention.ms", ConfigType::Long, "604800000", true),
    def("segment.bytes", ConfigType::Int, "1073741824", false),
    def("segment.ms", ConfigType::Long, "604800000", false),
    def(
        "unclean.leader.election.enable",
        ConfigType::Boolean,
        "false",
        false,
    ),
];

/// Looks up a config definition by Kafka name.
pub fn find(name: &str) -> Option<&'static ConfigDef> {
    TOPIC_CONFIGS.iter().find(|d| d.name == name)
}

/// Checks that `name` is a known topic config and `value` parses as its type.
pub fn validate(name: &str, value: &str) -> ActorResult<()> {
    let invalid = |reason: String| ActorError::InvalidConfig {
        name: name.to_string(),
        value: value.to_string(),
        reason,
    };
    let def = find(name).ok_or_else(|| invalid("unknown topic config".into()))?;
    let ok = match def.kind {
        ConfigType::Boolean => value == "true" || value == "false",
        ConfigType::Int => value.parse::<i32>().is_ok(),
        ConfigType::Long => value.parse::<i64>().is_ok(),
        ConfigType::Double => value.parse::<f64>().is_ok(),
        ConfigType::String => def.choices.contains(&value),
        ConfigType::List => value
            .split(',')
            .map(str::trim)
            .all(|v| def.choices.contains(&v)),
    };
    if ok {
        Ok(())
    } else if def.choices.is_empty() {
        Err(invalid(format!("expected a value of type {:?}", def.kind)))
    } else {
        Err(invalid(format!(
            "expected one of {}",
            def.choices.join(", ")
        )))
    }
}

/// Where an effective config value comes from (DescribeConfigs' `config_source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigSource {
    /// Set on the topic (Kafka: DYNAMIC_TOPIC_CONFIG = 1).
    Topic,
    /// From the node's config (Kafka: STATIC_BROKER_CONFIG = 4).
    Broker,
    /// Kafka's default (Kafka: DEFAULT_CONFIG = 5).
    Default,
}

impl ConfigSource {
    /// Kafka's numeric code for the source.
    pub fn code(self) -> i8 {
        match self {
            ConfigSource::Topic => 1,
            ConfigSource::Broker => 4,
            ConfigSource::Default => 5,
        }
    }
}

/// The configs set on one topic (only overrides are stored).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicConfig {
    /// Overrides by Kafka name.
    pub overrides: BTreeMap<String, String>,
}

/// Broker-level defaults for topic configs (from the node config), by Kafka topic name.
pub type BrokerDefaults = BTreeMap<String, String>;

impl TopicConfig {
    /// The effective value and its source for a known config.
    pub fn effective(&self, def: &ConfigDef, broker: &BrokerDefaults) -> (String, ConfigSource) {
        if let Some(v) = self.overrides.get(def.name) {
            (v.clone(), ConfigSource::Topic)
        } else if let Some(v) = broker.get(def.name) {
            (v.clone(), ConfigSource::Broker)
        } else {
            (def.default.to_string(), ConfigSource::Default)
        }
    }

    /// The effective value of a numeric config, parsed as i64.
    pub fn effective_i64(&self, name: &str, broker: &BrokerDefaults) -> i64 {
        find(name)
            .map(|def| self.effective(def, broker).0)
            .and_then(|v| v.parse().ok())
            .unwrap_or(i64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_names_and_types() {
        assert!(validate("retention.ms", "1000").is_ok());
        assert!(validate("retention.ms", "soon").is_err());
        assert!(validate("cleanup.policy", "compact,delete").is_ok());
        assert!(validate("cleanup.policy", "shred").is_err());
        assert!(validate("no.such.config", "1").is_err());
    }

    #[test]
    fn effective_prefers_topic_then_broker_then_default() {
        let mut topic = TopicConfig::default();
        let mut broker = BrokerDefaults::new();
        let def = find("flush.messages").expect("known");
        assert_eq!(topic.effective(def, &broker).1, ConfigSource::Default);
        broker.insert("flush.messages".into(), "10".into());
        assert_eq!(
            topic.effective(def, &broker),
            ("10".into(), ConfigSource::Broker)
        );
        topic.overrides.insert("flush.messages".into(), "1".into());
        assert_eq!(topic.effective_i64("flush.messages", &broker), 1);
    }
}
