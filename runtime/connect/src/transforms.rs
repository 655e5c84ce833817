//! Single Message Transforms: Kafka Connect's built-in transforms and predicates, configured
//! with Kafka Connect's keys, applied to one record at a time.
//!
//! ```properties
//! transforms=addSource,rename,dropTest,route
//! transforms.addSource.type=org.apache.kafka.connect.transforms.InsertField$Value
//! transforms.addSource.static.field=source
//! transforms.addSource.static.value=eddy
//! transforms.rename.type=ReplaceField$Value
//! transforms.rename.renames=old:new,a:b
//! transforms.dropTest.type=Filter
//! transforms.dropTest.predicate=isTest
//! predicates=isTest
//! predicates.isTest.type=TopicNameMatches
//! predicates.isTest.pattern=test-.*
//! transforms.route.type=TimestampRouter
//! transforms.route.topic.format=${topic}-${timestamp}
//! transforms.route.timestamp.format=yyyyMMdd
//! ```
//!
//! | transform | options |
//! |---|---|
//! | `InsertField$Key`, `InsertField$Value` | `topic.field`, `partition.field`, `offset.field`, `timestamp.field`, `static.field` + `static.value` (at least one) |
//! | `ReplaceField$Key`, `ReplaceField$Value` | `renames` (`from:to,…`), `include`, `exclude` (at least one; `whitelist`/`blacklist` are the old names) |
//! | `Filter` | none: drops every record its predicate selects (all of them without one) |
//! | `TimestampRouter` | `topic.format` (`${topic}-${timestamp}`), `timestamp.format` (`yyyyMMdd`, UTC) |
//!
//! Predicates (`predicates.<name>.type`): `TopicNameMatches` (`pattern`, a regular
//! expression the whole topic name must match), `HasHeaderKey` (`name`) and
//! `RecordIsTombstone`. Any transform takes `predicate=<name>` (it then applies only to the
//! records the predicate selects, the others pass unchanged) and `negate=true` (it applies
//! to the others instead). Types take Kafka's class names or the short names above.
//!
//! A source task applies the chain to each record its source produced, before the record
//! is converted and written; a sink task applies it to each record after conversion,
//! before the sink checks and gets it — where Kafka Connect applies it. A record a
//! transform fails on is a bad record: a sink sends it to its dead-letter topic (stage
//! `TRANSFORMATION`) with `errors.tolerance=all` and fails otherwise; a source task fails.
//! Offsets move past filtered records, so they are not read again.
//!
//! Where Eddy differs from Kafka: the field transforms are schemaless only — they work on
//! JSON objects (what `JsonConverter` with `schemas.enable=false` reads, or a source such
//! as the payments generator writes); a null key or value passes unchanged (as in Kafka),
//! and any other value (text, bytes, a JSON array or number) fails the record, naming
//! what it found. `timestamp.field` inserts the timestamp as epoch milliseconds. A source
//! record without a timestamp gets the time it passes the chain (Kafka's TimestampRouter
//! fails such records; a file source has no other time to offer), and a routed topic that
//! is not a legal topic name fails the record.
//!
//! Parsing and application are pure functions: `parse` validates a configuration into a
//! [`TransformChain`], reporting every faulty key; applying it does no I/O.

mod date_format;
mod parse;

use regex::Regex;
use serde_json::Value;

use eddy_client::Header;

use super::config::topic_name_problem;
use super::converter::Data;
use super::sink::SinkRecord;
use super::source::SourceRecord;

use date_format::DateFormat;
pub(crate) use parse::is_chain_key;

/// The most transforms one connector may list in `transforms`.
pub const TRANSFORMS_MAX: usize = 64;
/// The most predicates one connector may list in `predicates`.
pub const PREDICATES_MAX: usize = 64;

/// The transforms of a connector, in the order `transforms` lists them; empty when it
/// lists none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TransformChain {
    steps: Vec<Step>,
}

impl TransformChain {
    /// Whether the chain has no transform.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// How many transforms the chain has.
    pub fn len(&self) -> usize {
        self.steps.len()
    }

    /// The transforms' aliases, in order.
    pub fn aliases(&self) -> impl Iterator<Item = &str> {
        self.steps.iter().map(|step| step.alias.as_str())
    }

    /// Runs `record` through every transform in order: `Ok(None)` when a `Filter` dropped
    /// it, `Err` when a transform cannot handle it (the record is bad).
    pub(crate) fn apply<R: ConnectRecord>(
        &self,
        mut record: R,
    ) -> Result<Option<R>, TransformError> {
        for step in &self.steps {
            if !step.condition.as_ref().is_none_or(|c| c.holds(&record)) {
                continue;
            }
            match step.transform.apply(record) {
                Ok(Some(next)) => record = next,
                Ok(None) => return Ok(None),
                Err(reason) => {
                    return Err(TransformError {
                        alias: step.alias.clone(),
                        kind: step.kind,
                        reason,
                    })
                }
            }
        }
        Ok(Some(record))
    }
}

/// Why a transform could not handle a record. It is about the record's data, so retrying
/// cannot help: the record is bad (dead-letter topic or a failed task).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("transform `{alias}` ({kind}): {reason}")]
pub struct TransformError {
    /// The transform's alias in `transforms`.
    pub alias: String,
    /// Its type, by its short name (`InsertField$Value`).
    pub kind: &'static str,
    /// What it found and what it needs.
    pub reason: String,
}

/// A record as the transforms see it: the common part of a source and a sink record.
pub(crate) trait ConnectRecord {
    fn topic(&self) -> &str;
    fn set_topic(&mut self, topic: String);
    fn key(&self) -> &Data;
    fn key_mut(&mut self) -> &mut Data;
    fn value(&self) -> &Data;
    fn value_mut(&mut self) -> &mut Data;
    /// `None` when the record has none.
    fn timestamp_ms(&self) -> Option<i64>;
    fn headers(&self) -> &[Header];
    /// The Kafka partition: known for a consumed record, not for one still to be written.
    fn kafka_partition(&self) -> Option<i32>;
    /// The Kafka offset, as for the partition.
    fn kafka_offset(&self) -> Option<i64>;
}

impl ConnectRecord for SourceRecord {
    fn topic(&self) -> &str {
        &self.topic
    }
    fn set_topic(&mut self, topic: String) {
        self.topic = topic;
    }
    fn key(&self) -> &Data {
        &self.key
    }
    fn key_mut(&mut self) -> &mut Data {
        &mut self.key
    }
    fn value(&self) -> &Data {
        &self.value
    }
    fn value_mut(&mut self) -> &mut Data {
        &mut self.value
    }
    fn timestamp_ms(&self) -> Option<i64> {
        self.timestamp_ms
    }
    fn headers(&self) -> &[Header] {
        &self.headers
    }
    fn kafka_partition(&self) -> Option<i32> {
        None
    }
    fn kafka_offset(&self) -> Option<i64> {
        None
    }
}

impl ConnectRecord for SinkRecord {
    fn topic(&self) -> &str {
        &self.topic
    }
    fn set_topic(&mut self, topic: String) {
        self.topic = topic;
    }
    fn key(&self) -> &Data {
        &self.key
    }
    fn key_mut(&mut self) -> &mut Data {
        &mut self.key
    }
    fn value(&self) -> &Data {
        &self.value
    }
    fn value_mut(&mut self) -> &mut Data {
        &mut self.value
    }
    /// Kafka's "no timestamp" is -1.
    fn timestamp_ms(&self) -> Option<i64> {
        (self.timestamp_ms >= 0).then_some(self.timestamp_ms)
    }
    fn headers(&self) -> &[Header] {
        &self.headers
    }
    fn kafka_partition(&self) -> Option<i32> {
        Some(self.partition)
    }
    fn kafka_offset(&self) -> Option<i64> {
        Some(self.offset)
    }
}

/// One entry of `transforms`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Step {
    alias: String,
    /// The type's short name, for errors.
    kind: &'static str,
    transform: Transform,
    /// `predicate` and `negate`; `None` applies the transform to every record.
    condition: Option<Condition>,
}

/// `transforms.<alias>.predicate` with `negate`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Condition {
    predicate: Predicate,
    negate: bool,
}

impl Condition {
    fn holds<R: ConnectRecord>(&self, record: &R) -> bool {
        self.predicate.test(record) != self.negate
    }
}

/// Which part of the record a field transform works on (`$Key` or `$Value`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Key,
    Value,
}

impl Side {
    fn data<R: ConnectRecord>(self, record: &R) -> &Data {
        match self {
            Self::Key => record.key(),
            Self::Value => record.value(),
        }
    }

    fn data_mut<R: ConnectRecord>(self, record: &mut R) -> &mut Data {
        match self {
            Self::Key => record.key_mut(),
            Self::Value => record.value_mut(),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Key => "key",
            Self::Value => "value",
        }
    }
}

/// A configured transform.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Transform {
    InsertField {
        side: Side,
        fields: InsertFields,
    },
    ReplaceField {
        side: Side,
        fields: Replacements,
    },
    Filter,
    TimestampRouter {
        topic_format: String,
        timestamp_format: DateFormat,
    },
}

/// The fields `InsertField` adds, by their names in the record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct InsertFields {
    topic: Option<String>,
    partition: Option<String>,
    offset: Option<String>,
    timestamp: Option<String>,
    /// `static.field` and `static.value`.
    constant: Option<(String, String)>,
}

/// What `ReplaceField` keeps and renames.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Replacements {
    /// Only these fields are kept, when not empty.
    include: Vec<String>,
    /// These fields are dropped.
    exclude: Vec<String>,
    /// `(from, to)`.
    renames: Vec<(String, String)>,
}

impl Replacements {
    /// Kafka's rule: excluded fields go, and when `include` is set only its fields stay.
    fn keeps(&self, field: &str) -> bool {
        let listed = |list: &[String]| list.iter().any(|f| f == field);
        !listed(&self.exclude) && (self.include.is_empty() || listed(&self.include))
    }

    fn renamed(&self, field: String) -> String {
        match self.renames.iter().find(|(from, _)| *from == field) {
            Some((_, to)) => to.clone(),
            None => field,
        }
    }
}

/// A configured predicate.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Predicate {
    TopicNameMatches(TopicPattern),
    HasHeaderKey(String),
    RecordIsTombstone,
}

impl Predicate {
    fn test<R: ConnectRecord>(&self, record: &R) -> bool {
        match self {
            Self::TopicNameMatches(pattern) => pattern.matches(record.topic()),
            Self::HasHeaderKey(name) => record.headers().iter().any(|h| h.key == *name),
            Self::RecordIsTombstone => *record.value() == Data::Null,
        }
    }
}

/// `TopicNameMatches.pattern`: the whole topic name must match, as Java's
/// `Matcher.matches()` asks.
#[derive(Debug, Clone)]
struct TopicPattern {
    pattern: String,
    anchored: Regex,
}

impl TopicPattern {
    fn new(pattern: &str) -> Result<Self, String> {
        // Compiled alone first, so a pattern such as `a)|(b` is refused rather than
        // changing the meaning of the anchors around it.
        Regex::new(pattern).map_err(|err| format!("not a regular expression: {err}"))?;
        let anchored = Regex::new(&format!(r"\A(?:{pattern})\z"))
            .map_err(|err| format!("not a regular expression: {err}"))?;
        Ok(Self {
            pattern: pattern.to_owned(),
            anchored,
        })
    }

    fn matches(&self, topic: &str) -> bool {
        self.anchored.is_match(topic)
    }
}

impl PartialEq for TopicPattern {
    fn eq(&self, other: &Self) -> bool {
        self.pattern == other.pattern
    }
}

impl Eq for TopicPattern {}

impl Transform {
    fn apply<R: ConnectRecord>(&self, mut record: R) -> Result<Option<R>, String> {
        match self {
            Self::InsertField { side, fields } => insert_fields(*side, fields, &mut record)?,
            Self::ReplaceField { side, fields } => replace_fields(*side, fields, &mut record)?,
            Self::Filter => return Ok(None),
            Self::TimestampRouter {
                topic_format,
                timestamp_format,
            } => {
                let timestamp = record
                    .timestamp_ms()
                    .ok_or_else(|| "the record has no timestamp to route by".to_owned())?;
                let topic = topic_format
                    .replace("${topic}", record.topic())
                    .replace("${timestamp}", &timestamp_format.format(timestamp));
                if let Some(problem) = topic_name_problem(&topic) {
                    return Err(format!("routed to `{topic}`: {problem}"));
                }
                record.set_topic(topic);
            }
        }
        Ok(Some(record))
    }
}

fn insert_fields<R: ConnectRecord>(
    side: Side,
    fields: &InsertFields,
    record: &mut R,
) -> Result<(), String> {
    // As in Kafka, a null key or value (a tombstone) passes unchanged.
    if !is_object(side, record)? {
        return Ok(());
    }
    let mut additions: Vec<(&str, Value)> = Vec::new();
    if let Some(name) = &fields.topic {
        additions.push((name, Value::from(record.topic())));
    }
    if let Some(name) = &fields.partition {
        additions.push((
            name,
            record.kafka_partition().map_or(Value::Null, Value::from),
        ));
    }
    if let Some(name) = &fields.offset {
        let offset = record.kafka_offset().ok_or_else(|| {
            "offset.field applies to sink connectors only: a source record has no offset yet"
                .to_owned()
        })?;
        additions.push((name, Value::from(offset)));
    }
    if let Some(name) = &fields.timestamp {
        additions.push((name, record.timestamp_ms().map_or(Value::Null, Value::from)));
    }
    if let Some((name, value)) = &fields.constant {
        additions.push((name, Value::from(value.as_str())));
    }
    if let Data::Json(Value::Object(map)) = side.data_mut(record) {
        for (name, value) in additions {
            map.insert(name.to_owned(), value);
        }
    }
    Ok(())
}

fn replace_fields<R: ConnectRecord>(
    side: Side,
    fields: &Replacements,
    record: &mut R,
) -> Result<(), String> {
    if !is_object(side, record)? {
        return Ok(());
    }
    if let Data::Json(Value::Object(map)) = side.data_mut(record) {
        for (name, value) in std::mem::take(map) {
            if fields.keeps(&name) {
                map.insert(fields.renamed(name), value);
            }
        }
    }
    Ok(())
}

/// Whether the key or value is a JSON object (`Ok(false)`: null); `Err` for anything else.
fn is_object<R: ConnectRecord>(side: Side, record: &R) -> Result<bool, String> {
    let found = match side.data(record) {
        Data::Null => return Ok(false),
        Data::Json(Value::Object(_)) => return Ok(true),
        Data::Json(Value::Array(_)) => "a JSON array",
        Data::Json(Value::Number(_)) => "a JSON number",
        Data::Json(Value::Bool(_)) => "a JSON boolean",
        Data::Json(Value::String(_)) | Data::Text(_) => "text",
        Data::Json(Value::Null) => "null",
        Data::Bytes(_) => "bytes",
    };
    Err(format!(
        "the {} must be a JSON object (a map; use JsonConverter with schemas.enable=false), \
         found {found}",
        side.name()
    ))
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use serde_json::json;

    use super::super::properties::parse_properties;
    use super::*;

    fn chain(text: &str) -> TransformChain {
        let raw = parse_properties("test", text);
        TransformChain::parse(&raw.entries).unwrap_or_else(|problems| panic!("{problems:?}"))
    }

    fn sink_record(topic: &str, value: Data) -> SinkRecord {
        SinkRecord {
            topic: topic.to_owned(),
            partition: 2,
            offset: 41,
            timestamp_ms: 1_700_000_000_000,
            key: Data::Text("k".into()),
            value,
            headers: Vec::new(),
        }
    }

    fn source_record(value: Data) -> SourceRecord {
        SourceRecord {
            topic: "lines".to_owned(),
            key: Data::Null,
            value,
            timestamp_ms: Some(0),
            headers: Vec::new(),
        }
    }

    fn value_of(record: Option<SinkRecord>) -> Value {
        match record.expect("record kept").value {
            Data::Json(value) => value,
            other => panic!("not JSON: {other:?}"),
        }
    }

    const ISSUE_CHAIN: &str = "transforms=addSource,rename,dropTest,route\n\
        transforms.addSource.type=org.apache.kafka.connect.transforms.InsertField$Value\n\
        transforms.addSource.static.field=source\n\
        transforms.addSource.static.value=eddy\n\
        transforms.rename.type=org.apache.kafka.connect.transforms.ReplaceField$Value\n\
        transforms.rename.renames=old:new,a:b\n\
        transforms.dropTest.type=org.apache.kafka.connect.transforms.Filter\n\
        transforms.dropTest.predicate=isTest\n\
        predicates=isTest\n\
        predicates.isTest.type=org.apache.kafka.connect.transforms.predicates.TopicNameMatches\n\
        predicates.isTest.pattern=test-.*\n\
        transforms.route.type=org.apache.kafka.connect.transforms.TimestampRouter\n\
        transforms.route.topic.format=${topic}-${timestamp}\n\
        transforms.route.timestamp.format=yyyyMMdd\n";

    #[test]
    fn the_issues_chain_runs_in_order() {
        let chain = chain(ISSUE_CHAIN);
        assert_eq!(
            chain.aliases().collect::<Vec<_>>(),
            ["addSource", "rename", "dropTest", "route"]
        );
        let record = sink_record("orders", Data::Json(json!({"old": 1, "a": 2, "c": 3})));
        let out = chain.apply(record).unwrap().unwrap();
        assert_eq!(out.topic, "orders-20231114");
        assert_eq!(
            value_of(Some(out)),
            json!({"new": 1, "b": 2, "c": 3, "source": "eddy"})
        );
        let test = sink_record("test-orders", Data::Json(json!({"old": 1})));
        assert_eq!(chain.apply(test), Ok(None));
        // The predicate matches the whole name only.
        let near = sink_record("my-test-orders", Data::Json(json!({})));
        assert_eq!(
            chain.apply(near).unwrap().unwrap().topic,
            "my-test-orders-20231114"
        );
    }

    #[test]
    fn an_empty_chain_changes_nothing() {
        let chain = chain("name=x\n");
        assert!(chain.is_empty());
        let record = sink_record("t", Data::Bytes(Bytes::from_static(b"\xff")));
        assert_eq!(chain.apply(record.clone()), Ok(Some(record)));
    }

    #[test]
    fn insert_field_adds_metadata_and_a_constant() {
        let chain = chain(
            "transforms=meta\ntransforms.meta.type=InsertField$Value\n\
             transforms.meta.topic.field=t\ntransforms.meta.partition.field=p\n\
             transforms.meta.offset.field=o!\ntransforms.meta.timestamp.field=ts?\n\
             transforms.meta.static.field=source\ntransforms.meta.static.value=eddy\n",
        );
        let record = sink_record("orders", Data::Json(json!({"id": 7, "t": "old"})));
        assert_eq!(
            value_of(chain.apply(record).unwrap()),
            json!({"id": 7, "t": "orders", "p": 2, "o": 41, "ts": 1_700_000_000_000_i64,
                   "source": "eddy"})
        );
    }

    #[test]
    fn insert_field_on_a_source_record() {
        let chain = chain(
            "transforms=meta\ntransforms.meta.type=InsertField$Value\n\
             transforms.meta.partition.field=p\ntransforms.meta.timestamp.field=ts\n",
        );
        let out = chain
            .apply(source_record(Data::Json(json!({"x": 1}))))
            .unwrap()
            .unwrap();
        assert_eq!(out.value, Data::Json(json!({"x": 1, "p": null, "ts": 0})));
        let offsets = chain_with("offset.field=o", "InsertField$Value");
        let err = offsets
            .apply(source_record(Data::Json(json!({}))))
            .unwrap_err();
        assert!(err.reason.contains("sink connectors only"), "{err}");
    }

    fn chain_with(option: &str, kind: &str) -> TransformChain {
        chain(&format!(
            "transforms=t\ntransforms.t.type={kind}\ntransforms.t.{option}\n"
        ))
    }

    #[test]
    fn insert_field_on_the_key() {
        let chain = chain_with(
            "static.field=k\ntransforms.t.static.value=v",
            "InsertField$Key",
        );
        let mut record = sink_record("t", Data::Json(json!({"v": 1})));
        record.key = Data::Json(json!({"id": 1}));
        let out = chain.apply(record).unwrap().unwrap();
        assert_eq!(out.key, Data::Json(json!({"id": 1, "k": "v"})));
        assert_eq!(out.value, Data::Json(json!({"v": 1})));
    }

    #[test]
    fn field_transforms_pass_nulls_and_refuse_other_data() {
        for kind in ["InsertField$Value", "ReplaceField$Value"] {
            let option = if kind.starts_with("Insert") {
                "static.field=f\ntransforms.t.static.value=v"
            } else {
                "renames=a:b"
            };
            let chain = chain_with(option, kind);
            let tombstone = sink_record("t", Data::Null);
            assert_eq!(chain.apply(tombstone.clone()), Ok(Some(tombstone)));
            for (data, found) in [
                (Data::Text("line".into()), "found text"),
                (Data::Bytes(Bytes::from_static(b"x")), "found bytes"),
                (Data::Json(json!([1])), "found a JSON array"),
                (Data::Json(json!(3)), "found a JSON number"),
                (Data::Json(json!(true)), "found a JSON boolean"),
            ] {
                let err = chain.apply(sink_record("t", data)).unwrap_err();
                assert_eq!(err.alias, "t");
                assert_eq!(err.kind, kind);
                let text = err.to_string();
                assert!(
                    text.starts_with(&format!("transform `t` ({kind}): the value must be"))
                        && text.contains(found)
                        && text.contains("schemas.enable=false"),
                    "{text}"
                );
            }
        }
        // The key side names the key, and a null key passes.
        let chain = chain_with(
            "static.field=f\ntransforms.t.static.value=v",
            "InsertField$Key",
        );
        let err = chain
            .apply(sink_record("t", Data::Json(json!({}))))
            .unwrap_err();
        assert!(err.reason.starts_with("the key must be"), "{err}");
        assert!(chain.apply(source_record(Data::Text("x".into()))).is_ok());
    }

    #[test]
    fn replace_field_renames_includes_and_excludes() {
        let record = || {
            sink_record(
                "t",
                Data::Json(json!({"old": 1, "a": 2, "keep": 3, "drop": 4})),
            )
        };
        let renames = chain_with("renames=old:new, a:b", "ReplaceField$Value");
        assert_eq!(
            value_of(renames.apply(record()).unwrap()),
            json!({"new": 1, "b": 2, "keep": 3, "drop": 4})
        );
        let exclude = chain_with("exclude=drop,absent", "ReplaceField$Value");
        assert_eq!(
            value_of(exclude.apply(record()).unwrap()),
            json!({"old": 1, "a": 2, "keep": 3})
        );
        let include = chain(
            "transforms=t\ntransforms.t.type=ReplaceField$Value\n\
             transforms.t.include=keep,old,drop\ntransforms.t.blacklist=drop\n\
             transforms.t.renames=old:new\n",
        );
        assert_eq!(
            value_of(include.apply(record()).unwrap()),
            json!({"new": 1, "keep": 3})
        );
        let whitelist = chain_with("whitelist=a", "ReplaceField$Value");
        assert_eq!(
            value_of(whitelist.apply(record()).unwrap()),
            json!({"a": 2})
        );
    }

    #[test]
    fn filter_without_a_predicate_drops_everything() {
        let chain = chain("transforms=all\ntransforms.all.type=Filter\n");
        assert_eq!(chain.apply(sink_record("t", Data::Null)), Ok(None));
        assert_eq!(chain.apply(source_record(Data::Text("x".into()))), Ok(None));
    }

    #[test]
    fn predicates_and_negate() {
        let text = |predicate: &str, options: &str, negate: bool| {
            format!(
                "transforms=f\ntransforms.f.type=Filter\ntransforms.f.predicate=p\n\
                 transforms.f.negate={negate}\npredicates=p\npredicates.p.type={predicate}\n\
                 {options}"
            )
        };
        let mut with_header = sink_record("t", Data::Json(json!({})));
        with_header.headers.push(Header::new("trace", "1"));
        let plain = sink_record("t", Data::Json(json!({})));
        let tombstone = sink_record("t", Data::Null);
        let cases = [
            (
                "HasHeaderKey",
                "predicates.p.name=trace\n",
                &with_header,
                &plain,
            ),
            ("RecordIsTombstone", "", &tombstone, &plain),
            (
                "TopicNameMatches",
                "predicates.p.pattern=t|u\n",
                &plain,
                &sink_record("tu", Data::Null),
            ),
        ];
        for (predicate, options, selected, other) in cases {
            let drop = chain(&text(predicate, options, false));
            assert_eq!(drop.apply(selected.clone()), Ok(None), "{predicate}");
            assert_eq!(
                drop.apply(other.clone()),
                Ok(Some(other.clone())),
                "{predicate}"
            );
            let keep = chain(&text(predicate, options, true));
            assert_eq!(
                keep.apply(selected.clone()),
                Ok(Some(selected.clone())),
                "{predicate} negated"
            );
            assert_eq!(keep.apply(other.clone()), Ok(None), "{predicate} negated");
        }
    }

    #[test]
    fn a_predicate_guards_a_field_transform() {
        // Records without the header get a default; those with it pass unchanged, so the
        // transform never meets the text value it would refuse.
        let chain = chain(
            "transforms=mark\ntransforms.mark.type=InsertField$Value\n\
             transforms.mark.static.field=priority\ntransforms.mark.static.value=normal\n\
             transforms.mark.predicate=hasPriority\ntransforms.mark.negate=true\n\
             predicates=hasPriority\npredicates.hasPriority.type=HasHeaderKey\n\
             predicates.hasPriority.name=priority\n",
        );
        let plain = sink_record("t", Data::Json(json!({"n": 1})));
        assert_eq!(
            value_of(chain.apply(plain).unwrap()),
            json!({"n": 1, "priority": "normal"})
        );
        let mut marked = sink_record("t", Data::Text("not json".into()));
        marked.headers.push(Header::new("priority", "high"));
        assert_eq!(chain.apply(marked.clone()), Ok(Some(marked)));
    }

    #[test]
    fn order_matters() {
        let text = |order: &str| {
            format!(
                "transforms={order}\ntransforms.route.type=TimestampRouter\n\
                 transforms.drop.type=Filter\ntransforms.drop.predicate=routed\n\
                 predicates=routed\npredicates.routed.type=TopicNameMatches\n\
                 predicates.routed.pattern=.*-\\\\d{{8}}\n"
            )
        };
        let record = || sink_record("orders", Data::Json(json!({})));
        // Routed first, the record then matches the predicate and is dropped.
        assert_eq!(chain(&text("route,drop")).apply(record()), Ok(None));
        let kept = chain(&text("drop,route")).apply(record()).unwrap().unwrap();
        assert_eq!(kept.topic, "orders-20231114");
        // A later transform sees what an earlier one inserted.
        let chain = chain(
            "transforms=add,rename\ntransforms.add.type=InsertField$Value\n\
             transforms.add.topic.field=from\ntransforms.rename.type=ReplaceField$Value\n\
             transforms.rename.renames=from:origin\n",
        );
        assert_eq!(
            value_of(chain.apply(record()).unwrap()),
            json!({"origin": "orders"})
        );
    }

    #[test]
    fn timestamp_router_formats_and_checks_the_topic() {
        let chain = chain(
            "transforms=r\ntransforms.r.type=TimestampRouter\n\
             transforms.r.topic.format=archive.${timestamp}.${topic}\n\
             transforms.r.timestamp.format=yyyy-MM-dd_HH\n",
        );
        let out = chain
            .apply(sink_record("orders", Data::Null))
            .unwrap()
            .unwrap();
        assert_eq!(out.topic, "archive.2023-11-14_22.orders");
        // Kafka's "no timestamp" (-1) cannot be routed.
        let mut untimed = sink_record("orders", Data::Null);
        untimed.timestamp_ms = -1;
        let err = chain.apply(untimed).unwrap_err();
        assert!(err.reason.contains("no timestamp"), "{err}");
        let mut source = source_record(Data::Null);
        source.timestamp_ms = None;
        assert!(chain.apply(source).is_err());
        // A routed name longer than Kafka allows fails the record.
        let long = sink_record(&"t".repeat(240), Data::Null);
        let err = chain.apply(long).unwrap_err();
        assert!(err.reason.contains("at most 249"), "{err}");
    }

    #[test]
    fn timestamp_router_defaults_are_kafkas() {
        let chain = chain("transforms=r\ntransforms.r.type=TimestampRouter\n");
        let out = chain
            .apply(source_record(Data::Text("x".into())))
            .unwrap()
            .unwrap();
        assert_eq!(out.topic, "lines-19700101");
        assert_eq!(out.value, Data::Text("x".into()));
    }
}
