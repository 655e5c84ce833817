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
    /// Text checked by the config's own rule (DescribeConfigs reports it as a string).
    Free,
}

/// A config's own check of a value: the reason it is refused.
pub type ValueCheck = fn(&str) -> Result<(), String>;

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
    /// Kafka's bounds on a numeric value, inclusive.
    pub range: Option<(f64, f64)>,
    /// A check of its own, for values no type describes (Kafka's validators).
    pub check: Option<ValueCheck>,
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
        range: None,
        check: None,
    }
}

/// `def` with Kafka's inclusive bounds.
const fn ranged(
    name: &'static str,
    kind: ConfigType,
    default: &'static str,
    enforced: bool,
    range: (f64, f64),
) -> ConfigDef {
    ConfigDef {
        range: Some(range),
        ..def(name, kind, default, enforced)
    }
}

const LONG_MAX: f64 = i64::MAX as f64;
const INT_MAX: f64 = i32::MAX as f64;

/// Kafka's throttled-replicas lists: empty, `*`, or `partition:broker` pairs.
fn throttled_replicas(value: &str) -> Result<(), String> {
    let value = value.trim();
    if value.is_empty() || value == "*" {
        return Ok(());
    }
    let pair = |p: &str| {
        let (partition, broker) = p.trim().split_once(':')?;
        partition.trim().parse::<u32>().ok()?;
        broker.trim().parse::<u32>().ok()
    };
    if value.split(',').all(|p| pair(p).is_some()) {
        Ok(())
    } else {
        Err("expected '*' or a list of PARTITION:BROKER pairs, e.g. 0:101,0:102".into())
    }
}

/// A message format version (Kafka 3.x accepts its release names, e.g. `3.0-IV1`).
fn format_version(value: &str) -> Result<(), String> {
    let ok = value
        .split(['.', '-'])
        .next()
        .is_some_and(|major| major.parse::<u32>().is_ok());
    if ok {
        Ok(())
    } else {
        Err("expected a Kafka version such as 3.0-IV1".into())
    }
}

/// Every standard topic config of Kafka 3.x and 4.x, with Kafka's defaults and bounds.
/// Those `enforced: false` are accepted, stored and described but change nothing in Eddy
/// (docs/configs.md lists them).
pub const TOPIC_CONFIGS: &[ConfigDef] = &[
    ConfigDef {
        name: "cleanup.policy",
        kind: ConfigType::List,
        default: "delete",
        choices: &["delete", "compact"],
        enforced: true,
        range: None,
        check: None,
    },
    ConfigDef {
        name: "compression.type",
        kind: ConfigType::String,
        default: "producer",
        choices: &["producer", "uncompressed", "gzip", "snappy", "lz4", "zstd"],
        enforced: false,
        range: None,
        check: None,
    },
    ranged(
        "compression.gzip.level",
        ConfigType::Int,
        "-1",
        false,
        (-1.0, 9.0),
    ),
    ranged(
        "compression.lz4.level",
        ConfigType::Int,
        "9",
        false,
        (1.0, 17.0),
    ),
    ranged(
        "compression.zstd.level",
        ConfigType::Int,
        "3",
        false,
        (-131072.0, 22.0),
    ),
    ranged(
        "delete.retention.ms",
        ConfigType::Long,
        "86400000",
        true,
        (0.0, LONG_MAX),
    ),
    ranged(
        "file.delete.delay.ms",
        ConfigType::Long,
        "60000",
        false,
        (0.0, LONG_MAX),
    ),
    def(
        "flush.messages",
        ConfigType::Long,
        "9223372036854775807",
        true,
    ),
    def("flush.ms", ConfigType::Long, "9223372036854775807", true),
    ConfigDef {
        name: "follower.replication.throttled.replicas",
        check: Some(throttled_replicas),
        ..def(
            "follower.replication.throttled.replicas",
            ConfigType::List,
            "",
            false,
        )
    },
    ranged(
        "index.interval.bytes",
        ConfigType::Int,
        "4096",
        false,
        (0.0, INT_MAX),
    ),
    ConfigDef {
        name: "leader.replication.throttled.replicas",
        check: Some(throttled_replicas),
        ..def(
            "leader.replication.throttled.replicas",
            ConfigType::List,
            "",
            false,
        )
    },
    ranged(
        "local.retention.bytes",
        ConfigType::Long,
        "-2",
        false,
        (-2.0, LONG_MAX),
    ),
    ranged(
        "local.retention.ms",
        ConfigType::Long,
        "-2",
        false,
        (-2.0, LONG_MAX),
    ),
    ranged(
        "max.compaction.lag.ms",
        ConfigType::Long,
        "9223372036854775807",
        false,
        (1.0, LONG_MAX),
    ),
    ranged(
        "max.message.bytes",
        ConfigType::Int,
        "1048588",
        true,
        (0.0, INT_MAX),
    ),
    def(
        "message.downconversion.enable",
        ConfigType::Boolean,
        "true",
        false,
    ),
    ConfigDef {
        name: "message.format.version",
        check: Some(format_version),
        ..def("message.format.version", ConfigType::Free, "3.0-IV1", false)
    },
    ranged(
        "message.timestamp.after.max.ms",
        ConfigType::Long,
        "9223372036854775807",
        false,
        (0.0, LONG_MAX),
    ),
    ranged(
        "message.timestamp.before.max.ms",
        ConfigType::Long,
        "9223372036854775807",
        false,
        (0.0, LONG_MAX),
    ),
    ranged(
        "message.timestamp.difference.max.ms",
        ConfigType::Long,
        "9223372036854775807",
        false,
        (0.0, LONG_MAX),
    ),
    ConfigDef {
        name: "message.timestamp.type",
        kind: ConfigType::String,
        default: "CreateTime",
        choices: &["CreateTime", "LogAppendTime"],
        enforced: true,
        range: None,
        check: None,
    },
    ranged(
        "min.cleanable.dirty.ratio",
        ConfigType::Double,
        "0.5",
        true,
        (0.0, 1.0),
    ),
    ranged(
        "min.compaction.lag.ms",
        ConfigType::Long,
        "0",
        true,
        (0.0, LONG_MAX),
    ),
    ranged(
        "min.insync.replicas",
        ConfigType::Int,
        "1",
        true,
        (1.0, INT_MAX),
    ),
    def("preallocate", ConfigType::Boolean, "false", false),
    def(
        "remote.log.copy.disable",
        ConfigType::Boolean,
        "false",
        false,
    ),
    def(
        "remote.log.delete.on.disable",
        ConfigType::Boolean,
        "false",
        false,
    ),
    def("remote.storage.enable", ConfigType::Boolean, "false", false),
    def("retention.bytes", ConfigType::Long, "-1", true),
    ranged(
        "retention.ms",
        ConfigType::Long,
        "604800000",
        true,
        (-1.0, LONG_MAX),
    ),
    ranged(
        "segment.bytes",
        ConfigType::Int,
        "1073741824",
        false,
        (14.0, INT_MAX),
    ),
    ranged(
        "segment.index.bytes",
        ConfigType::Int,
        "10485760",
        false,
        (4.0, INT_MAX),
    ),
    ranged(
        "segment.jitter.ms",
        ConfigType::Long,
        "0",
        false,
        (0.0, LONG_MAX),
    ),
    ranged(
        "segment.ms",
        ConfigType::Long,
        "604800000",
        false,
        (1.0, LONG_MAX),
    ),
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

/// Checks that `name` is a known topic config and `value` parses as its type, within
/// Kafka's bounds.
pub fn validate(name: &str, value: &str) -> ActorResult<()> {
    let invalid = |reason: String| ActorError::InvalidConfig {
        name: name.to_string(),
        value: value.to_string(),
        reason,
    };
    let def = find(name).ok_or_else(|| invalid("unknown topic config".into()))?;
    let number = value.trim().parse::<f64>().ok();
    let ok = match def.kind {
        ConfigType::Boolean => value == "true" || value == "false",
        ConfigType::Int => value.parse::<i32>().is_ok(),
        ConfigType::Long => value.parse::<i64>().is_ok(),
        ConfigType::Double => number.is_some_and(f64::is_finite),
        ConfigType::String => def.choices.contains(&value),
        ConfigType::List if def.choices.is_empty() => true,
        ConfigType::List => value
            .split(',')
            .map(str::trim)
            .all(|v| def.choices.contains(&v)),
        ConfigType::Free => true,
    };
    if !ok {
        return Err(if def.choices.is_empty() {
            invalid(format!("expected a value of type {:?}", def.kind))
        } else {
            invalid(format!("expected one of {}", def.choices.join(", ")))
        });
    }
    if let (Some((low, high)), Some(n)) = (def.range, number) {
        if n < low || n > high {
            return Err(invalid(if high >= INT_MAX {
                format!("must be at least {low}")
            } else {
                format!("must be between {low} and {high}")
            }));
        }
    }
    if let Some(check) = def.check {
        check(value).map_err(invalid)?;
    }
    Ok(())
}

/// A list config's `current` value with the items of `add` appended (each once), as
/// IncrementalAlterConfigs' APPEND does.
pub fn list_append(current: &str, add: &str) -> String {
    let mut items: Vec<&str> = split_list(current);
    for item in split_list(add) {
        if !items.contains(&item) {
            items.push(item);
        }
    }
    items.join(",")
}

/// A list config's `current` value without the items of `remove` (SUBTRACT).
pub fn list_subtract(current: &str, remove: &str) -> String {
    let remove = split_list(remove);
    split_list(current)
        .into_iter()
        .filter(|item| !remove.contains(item))
        .collect::<Vec<_>>()
        .join(",")
}

fn split_list(value: &str) -> Vec<&str> {
    value
        .split(',')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .collect()
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
        // Every standard Kafka topic config is accepted, within Kafka's bounds.
        assert!(validate("file.delete.delay.ms", "60000").is_ok());
        assert!(validate("file.delete.delay.ms", "-1").is_err());
        assert!(validate("min.cleanable.dirty.ratio", "1.5").is_err());
        assert!(validate("segment.bytes", "13").is_err());
        assert!(validate("leader.replication.throttled.replicas", "0:1,1:2").is_ok());
        assert!(validate("leader.replication.throttled.replicas", "*").is_ok());
        assert!(validate("leader.replication.throttled.replicas", "0-1").is_err());
        assert!(validate("message.format.version", "2.8-IV1").is_ok());
        assert!(validate("message.format.version", "soon").is_err());
    }

    #[test]
    fn lists_append_and_subtract_each_item_once() {
        assert_eq!(list_append("delete", "compact"), "delete,compact");
        assert_eq!(list_append("delete,compact", "delete"), "delete,compact");
        assert_eq!(list_append("", "0:1"), "0:1");
        assert_eq!(list_subtract("delete,compact", "delete"), "compact");
        assert_eq!(list_subtract("compact", "delete"), "compact");
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
