//! `PUT /connector-plugins/<plugin>/config/validate`: a configuration checked without
//! creating anything, answered in Kafka's `ConfigInfos` shape:
//!
//! ```json
//! {"name": "<connector class>", "error_count": 1, "groups": ["Common", …],
//!  "configs": [{"definition": {"name", "type", "required", "default_value", "importance",
//!                              "documentation", "group", "width", "display_name",
//!                              "dependents", "order"},
//!               "value": {"name", "value", "recommended_values", "errors", "visible"}}]}
//! ```
//!
//! Every key the class takes is listed with its definition and the value given (or its
//! default); each problem validation finds is an error of its key. A key Eddy does not
//! know is an error too (creating the connector would fail with it), listed after the
//! known ones. Pure: no I/O.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::config::{
    ConnectorClass, ConnectorConfig, ConnectorType, COMMON_KEYS, DEFAULT_SINK_BATCH_SIZE,
    DEFAULT_SOURCE_BATCH_SIZE,
};
use super::error::ConnectError;
use super::properties::RawConfig;
use super::worker::WorkerDefaults;

/// One key's definition: type, whether required, default, importance, documentation,
/// group and display name, as Kafka's `ConfigDef` describes it.
struct KeyDef {
    kind: &'static str,
    required: bool,
    default: Option<String>,
    importance: &'static str,
    documentation: &'static str,
    group: Option<&'static str>,
    display_name: &'static str,
}

/// The definition of `key` for `class`.
fn definition(key: &str, class: ConnectorClass, defaults: &WorkerDefaults) -> KeyDef {
    let def = |kind,
               required,
               default: Option<String>,
               importance,
               documentation,
               group,
               display_name| KeyDef {
        kind,
        required,
        default,
        importance,
        documentation,
        group,
        display_name,
    };
    let common = Some("Common");
    let errors = Some("Error Handling");
    let creation = Some("Topic Creation");
    let some = |s: &str| Some(s.to_owned());
    match key {
        "name" => def("STRING", true, None, "HIGH", "Globally unique name to use for this connector.", common, "Connector name"),
        "connector.class" => def("STRING", true, None, "HIGH", "Name or alias of the class for this connector.", common, "Connector class"),
        "tasks.max" => def("INT", false, some("1"), "HIGH", "Maximum number of tasks to use for this connector.", common, "Tasks max"),
        "key.converter" => def("CLASS", false, some(defaults.key_converter.class_name()), "LOW", "Converter class used to convert between Kafka Connect format and the serialized form that is written to Kafka (keys); the worker's when unset.", common, "Key converter class"),
        "value.converter" => def("CLASS", false, some(defaults.value_converter.class_name()), "LOW", "Converter class used to convert between Kafka Connect format and the serialized form that is written to Kafka (values); the worker's when unset.", common, "Value converter class"),
        "key.converter.schemas.enable" | "value.converter.schemas.enable" => def("BOOLEAN", false, some("true"), "LOW", "Whether JsonConverter writes and expects the schema envelope (applies to a converter the connector sets).", common, "Schemas enable"),
        "offset.flush.interval.ms" => def("LONG", false, Some(defaults.offset_flush_interval_ms.to_string()), "LOW", "Interval at which to commit the connector's progress (an Eddy per-connector override of the worker setting).", common, "Offset flush interval (ms)"),
        "batch.size" => {
            let default = match class.connector_type() {
                ConnectorType::Source => DEFAULT_SOURCE_BATCH_SIZE,
                ConnectorType::Sink => DEFAULT_SINK_BATCH_SIZE,
            };
            def("INT", false, Some(default.to_string()), "LOW", "The most records a task handles between two checks of its progress.", common, "Batch size")
        }
        "errors.tolerance" => def("STRING", false, some("none"), "MEDIUM", "Behavior for tolerating errors during connector operation: none or all.", errors, "Error Tolerance"),
        "errors.deadletterqueue.topic.name" => def("STRING", false, some(""), "MEDIUM", "The name of the topic to be used as the dead letter queue (DLQ) for messages that result in an error when processed by this sink connector.", errors, "Dead Letter Queue Topic Name"),
        "errors.deadletterqueue.context.headers.enable" => def("BOOLEAN", false, some("false"), "MEDIUM", "If true, add headers containing error context to the messages written to the dead letter queue.", errors, "Enable Error Context Headers"),
        "topic.creation.default.partitions" => def("INT", false, some("-1"), "LOW", "The number of partitions of topics the connector creates (-1: the broker's default).", creation, "Partitions"),
        "topic.creation.default.replication.factor" => def("SHORT", false, some("-1"), "LOW", "The replication factor of topics the connector creates (-1: the broker's default).", creation, "Replication factor"),
        "transforms" => def("LIST", false, some(""), "LOW", "Aliases for the transformations to be applied to records.", Some("Transforms"), "Transforms"),
        "predicates" => def("LIST", false, some(""), "LOW", "Aliases for the predicates used by transformations.", Some("Predicates"), "Predicates"),
        "file" => match class {
            ConnectorClass::FileStreamSource => def("STRING", true, None, "HIGH", "Source filename (required by Eddy: a node has no standard input).", None, "file"),
            _ => def("STRING", true, None, "HIGH", "Destination filename (required by Eddy: a node has no standard output).", None, "file"),
        },
        "topic" => def("STRING", true, None, "HIGH", "The topic to publish data to.", None, "topic"),
        "topics" => def("LIST", true, None, "HIGH", "List of topics to consume, separated by commas.", None, "topics"),
        _ => def("STRING", false, None, "MEDIUM", "See the connector's documentation.", None, "")
    }
}

/// Validates `raw` as a configuration of `plugin` and answers Kafka's `ConfigInfos`; `Err`
/// for a plugin Eddy does not have, or a `connector.class` that is not `plugin`.
pub(crate) fn validate(
    plugin: &str,
    mut raw: RawConfig,
    defaults: &WorkerDefaults,
) -> Result<Value, ConnectError> {
    let Some(class) = ConnectorClass::parse(plugin) else {
        return Err(ConnectError::NotFoundPlugin(plugin.to_owned()));
    };
    match raw.entries.get("connector.class") {
        Some(given) if ConnectorClass::parse(given) != Some(class) => {
            return Err(ConnectError::BadRequest(format!(
                "Included connector type {given} does not match request type {plugin}"
            )))
        }
        Some(_) => {}
        None => {
            raw.entries
                .insert("connector.class".to_owned(), class.class_name().to_owned());
        }
    }
    let given = raw.entries.clone();
    let mut errors: BTreeMap<String, Vec<String>> = BTreeMap::new();
    match ConnectorConfig::validate_for(raw, defaults) {
        Ok(_) => {}
        Err(ConnectError::InvalidConfig { problems, .. }) => {
            for problem in problems.0 {
                errors.entry(problem.key).or_default().push(problem.reason);
            }
        }
        Err(other) => return Err(other),
    }
    let mut keys: Vec<String> = COMMON_KEYS
        .iter()
        .chain(class.keys())
        .map(|k| (*k).to_owned())
        .collect();
    keys.push("transforms".to_owned());
    keys.push("predicates".to_owned());
    for key in given.keys().chain(errors.keys()) {
        if !keys.contains(key) {
            keys.push(key.clone());
        }
    }
    let mut groups: Vec<&str> = Vec::new();
    let mut configs = Vec::with_capacity(keys.len());
    for (order, key) in keys.iter().enumerate() {
        let def = definition(key, class, defaults);
        if let Some(group) = def.group {
            if !groups.contains(&group) {
                groups.push(group);
            }
        }
        let value = given.get(key).cloned().or_else(|| def.default.clone());
        configs.push(json!({
            "definition": {
                "name": key,
                "type": def.kind,
                "required": def.required,
                "default_value": def.default,
                "importance": def.importance,
                "documentation": def.documentation,
                "group": def.group,
                "width": "NONE",
                "display_name": if def.display_name.is_empty() { key.as_str() } else { def.display_name },
                "dependents": [],
                "order": order,
            },
            "value": {
                "name": key,
                "value": value,
                "recommended_values": [],
                "errors": errors.get(key).cloned().unwrap_or_default(),
                "visible": true,
            },
        }));
    }
    let error_count = errors.values().filter(|e| !e.is_empty()).count();
    Ok(json!({
        "name": class.class_name(),
        "error_count": error_count,
        "groups": groups,
        "configs": configs,
    }))
}

#[cfg(test)]
mod tests {
    use super::super::properties::parse_properties;
    use super::*;

    fn value_of<'v>(infos: &'v Value, key: &str) -> &'v Value {
        infos["configs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["definition"]["name"] == key)
            .map(|c| &c["value"])
            .unwrap_or_else(|| panic!("{key} not listed: {infos}"))
    }

    #[test]
    fn errors_are_counted_per_key() {
        let raw = parse_properties("v", "name=a\ntasks.max=0\ntopci=x\nfile=/tmp/in\n");
        let infos = validate("FileStreamSource", raw, &WorkerDefaults::default()).unwrap();
        assert_eq!(
            infos["name"],
            "org.apache.kafka.connect.file.FileStreamSourceConnector"
        );
        assert_eq!(infos["error_count"], 3, "{infos}");
        assert_eq!(value_of(&infos, "tasks.max")["value"], "0");
        assert_eq!(
            value_of(&infos, "topic")["errors"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
        assert!(value_of(&infos, "topci")["errors"][0]
            .as_str()
            .unwrap()
            .contains("did you mean `topic`?"));
        assert_eq!(value_of(&infos, "name")["errors"], json!([]));
        assert_eq!(infos["groups"][0], "Common");
    }

    #[test]
    fn a_mismatched_class_is_refused() {
        let raw = parse_properties("v", "connector.class=FileStreamSink\n");
        let err = validate("FileStreamSource", raw, &WorkerDefaults::default()).unwrap_err();
        assert_eq!(err.http_status(), 400);
        let raw = parse_properties("v", "");
        let err = validate("Nope", raw, &WorkerDefaults::default()).unwrap_err();
        assert_eq!(err.http_status(), 404);
    }
}
