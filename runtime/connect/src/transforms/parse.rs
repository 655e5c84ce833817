//! Validating `transforms` and `predicates` into a [`TransformChain`], every faulty key
//! reported at once, as the rest of a connector's configuration is.
//!
//! Faulty: a type missing or unknown, a required option missing, an option the type does
//! not take, an alias listed twice, a `predicate` that `predicates` does not list, and any
//! `transforms.<alias>.*` or `predicates.<name>.*` key whose alias or name is not listed
//! (Kafka ignores those; Eddy reports every key it would not use, as for the other keys).

use std::collections::BTreeMap;

use super::super::config::closest;
use super::super::error::ConfigProblem;
use super::date_format::DateFormat;
use super::{
    Condition, InsertFields, Predicate, Replacements, Side, Step, TopicPattern, Transform,
    TransformChain, PREDICATES_MAX, TRANSFORMS_MAX,
};

const TRANSFORMS: &str = "transforms";
const PREDICATES: &str = "predicates";
/// The packages of Kafka's built-in transforms and predicates.
const TRANSFORMS_PACKAGE: &str = "org.apache.kafka.connect.transforms.";
const PREDICATES_PACKAGE: &str = "org.apache.kafka.connect.transforms.predicates.";
/// Kafka's defaults for TimestampRouter.
const DEFAULT_TOPIC_FORMAT: &str = "${topic}-${timestamp}";
const DEFAULT_TIMESTAMP_FORMAT: &str = "yyyyMMdd";
/// Options every transform takes.
const CONDITION_OPTIONS: &[&str] = &["predicate", "negate"];

/// Whether `key` belongs to the transform configuration (validated here, not by the
/// connector's key list).
pub(crate) fn is_chain_key(key: &str) -> bool {
    [TRANSFORMS, PREDICATES].into_iter().any(|section| {
        key == section
            || key
                .strip_prefix(section)
                .is_some_and(|rest| rest.starts_with('.'))
    })
}

/// The built-in transform types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TransformKind {
    InsertFieldKey,
    InsertFieldValue,
    ReplaceFieldKey,
    ReplaceFieldValue,
    Filter,
    TimestampRouter,
}

impl TransformKind {
    const ALL: [Self; 6] = [
        Self::InsertFieldKey,
        Self::InsertFieldValue,
        Self::ReplaceFieldKey,
        Self::ReplaceFieldValue,
        Self::Filter,
        Self::TimestampRouter,
    ];

    fn short_name(self) -> &'static str {
        match self {
            Self::InsertFieldKey => "InsertField$Key",
            Self::InsertFieldValue => "InsertField$Value",
            Self::ReplaceFieldKey => "ReplaceField$Key",
            Self::ReplaceFieldValue => "ReplaceField$Value",
            Self::Filter => "Filter",
            Self::TimestampRouter => "TimestampRouter",
        }
    }

    /// Kafka's class name or the short name, case-insensitive.
    fn parse(name: &str) -> Option<Self> {
        let short = name.strip_prefix(TRANSFORMS_PACKAGE).unwrap_or(name);
        Self::ALL
            .into_iter()
            .find(|kind| kind.short_name().eq_ignore_ascii_case(short))
    }

    fn options(self) -> &'static [&'static str] {
        match self {
            Self::InsertFieldKey | Self::InsertFieldValue => &[
                "topic.field",
                "partition.field",
                "offset.field",
                "timestamp.field",
                "static.field",
                "static.value",
            ],
            Self::ReplaceFieldKey | Self::ReplaceFieldValue => {
                &["renames", "include", "exclude", "whitelist", "blacklist"]
            }
            Self::Filter => &[],
            Self::TimestampRouter => &["topic.format", "timestamp.format"],
        }
    }
}

/// The built-in predicate types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PredicateKind {
    TopicNameMatches,
    HasHeaderKey,
    RecordIsTombstone,
}

impl PredicateKind {
    const ALL: [Self; 3] = [
        Self::TopicNameMatches,
        Self::HasHeaderKey,
        Self::RecordIsTombstone,
    ];

    fn short_name(self) -> &'static str {
        match self {
            Self::TopicNameMatches => "TopicNameMatches",
            Self::HasHeaderKey => "HasHeaderKey",
            Self::RecordIsTombstone => "RecordIsTombstone",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        let short = name.strip_prefix(PREDICATES_PACKAGE).unwrap_or(name);
        Self::ALL
            .into_iter()
            .find(|kind| kind.short_name().eq_ignore_ascii_case(short))
    }

    fn options(self) -> &'static [&'static str] {
        match self {
            Self::TopicNameMatches => &["pattern"],
            Self::HasHeaderKey => &["name"],
            Self::RecordIsTombstone => &[],
        }
    }
}

impl TransformChain {
    /// Validates the `transforms` and `predicates` keys of a connector configuration (the
    /// other keys are ignored); `Err` lists every faulty key.
    pub fn parse(raw: &BTreeMap<String, String>) -> Result<Self, Vec<ConfigProblem>> {
        let mut parser = Parser {
            raw,
            problems: Vec::new(),
        };
        let names = parser.list(PREDICATES, PREDICATES_MAX);
        let aliases = parser.list(TRANSFORMS, TRANSFORMS_MAX);
        parser.unowned_keys(PREDICATES, &names);
        parser.unowned_keys(TRANSFORMS, &aliases);
        let predicates: BTreeMap<&str, Option<Predicate>> = names
            .iter()
            .map(|name| (name.as_str(), parser.predicate(name, &names)))
            .collect();
        let steps: Vec<Option<Step>> = aliases
            .iter()
            .map(|alias| parser.step(alias, &aliases, &predicates))
            .collect();
        let steps: Option<Vec<Step>> = steps.into_iter().collect();
        match steps {
            Some(steps) if parser.problems.is_empty() => Ok(Self { steps }),
            _ => {
                debug_assert!(!parser.problems.is_empty(), "a step failed silently");
                Err(parser.problems)
            }
        }
    }
}

struct Parser<'a> {
    raw: &'a BTreeMap<String, String>,
    problems: Vec<ConfigProblem>,
}

impl Parser<'_> {
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

    /// A comma-separated list of names (`transforms`, `predicates`), each once.
    fn list(&mut self, key: &str, max: usize) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for name in comma_list(self.get(key).unwrap_or_default()) {
            if names.contains(&name) {
                self.problem(key, format!("`{name}` is listed twice"));
            } else {
                names.push(name);
            }
        }
        if names.len() > max {
            self.problem(key, format!("at most {max} names"));
            names.truncate(max);
        }
        names
    }

    /// The name among `names` that `key` (under `section.`) configures: the longest
    /// `section.<name>.` prefix, since a name may itself contain dots.
    fn owner<'n>(section: &str, key: &str, names: &'n [String]) -> Option<&'n str> {
        let rest = key.strip_prefix(section)?.strip_prefix('.')?;
        names
            .iter()
            .filter(|name| {
                rest.strip_prefix(name.as_str())
                    .is_some_and(|option| option.starts_with('.'))
            })
            .max_by_key(|name| name.len())
            .map(String::as_str)
    }

    /// Reports `section.*` keys that no listed name owns.
    fn unowned_keys(&mut self, section: &str, names: &[String]) {
        let unowned: Vec<&String> = self
            .raw
            .keys()
            .filter(|key| key.starts_with(&format!("{section}.")))
            .filter(|key| Self::owner(section, key, names).is_none())
            .collect();
        for key in unowned {
            let listed = if names.is_empty() {
                "it lists none".to_owned()
            } else {
                format!("it lists {}", names.join(","))
            };
            self.problem(
                key,
                format!("configures a name that `{section}` does not list ({listed})"),
            );
        }
    }

    /// Reports the options of `name` under `section` that `allowed` does not hold.
    fn check_options(
        &mut self,
        section: &str,
        name: &str,
        names: &[String],
        allowed: &[&str],
        kind: &str,
    ) {
        let prefix = format!("{section}.{name}.");
        let unknown: Vec<(String, String)> = self
            .raw
            .keys()
            .filter(|key| Self::owner(section, key, names) == Some(name))
            .filter_map(|key| {
                let option = &key[prefix.len()..];
                (option != "type" && !allowed.contains(&option))
                    .then(|| (key.clone(), option.to_owned()))
            })
            .collect();
        for (key, option) in unknown {
            let reason = match closest(&option, allowed.iter().copied()) {
                Some(suggestion) => {
                    format!("{kind} has no option `{option}`: did you mean `{suggestion}`?")
                }
                None if allowed.is_empty() => format!("{kind} has no options"),
                None => format!(
                    "{kind} has no option `{option}`; it takes {}",
                    allowed.join(", ")
                ),
            };
            self.problem(&key, reason);
        }
    }

    fn predicate(&mut self, name: &str, names: &[String]) -> Option<Predicate> {
        let prefix = format!("{PREDICATES}.{name}.");
        let type_key = format!("{prefix}type");
        let kinds = PredicateKind::ALL.map(PredicateKind::short_name).join(", ");
        let Some(type_name) = self.get(&type_key).map(str::to_owned) else {
            self.problem(
                &type_key,
                format!("required: the predicate's class, one of {kinds}"),
            );
            return None;
        };
        let Some(kind) = PredicateKind::parse(&type_name) else {
            self.problem(
                &type_key,
                format!("unknown predicate: expected one of {kinds}"),
            );
            return None;
        };
        self.check_options(PREDICATES, name, names, kind.options(), kind.short_name());
        match kind {
            PredicateKind::TopicNameMatches => {
                let key = format!("{prefix}pattern");
                let pattern =
                    self.required(&key, "the regular expression topic names must match")?;
                match TopicPattern::new(&pattern) {
                    Ok(pattern) => Some(Predicate::TopicNameMatches(pattern)),
                    Err(reason) => {
                        self.problem(&key, reason);
                        None
                    }
                }
            }
            PredicateKind::HasHeaderKey => {
                let key = format!("{prefix}name");
                let header = self.required(&key, "the header key to look for")?;
                Some(Predicate::HasHeaderKey(header))
            }
            PredicateKind::RecordIsTombstone => Some(Predicate::RecordIsTombstone),
        }
    }

    fn step(
        &mut self,
        alias: &str,
        aliases: &[String],
        predicates: &BTreeMap<&str, Option<Predicate>>,
    ) -> Option<Step> {
        let prefix = format!("{TRANSFORMS}.{alias}.");
        let type_key = format!("{prefix}type");
        let kinds = TransformKind::ALL.map(TransformKind::short_name).join(", ");
        let kind = match self.get(&type_key).map(str::to_owned) {
            None => {
                self.problem(
                    &type_key,
                    format!("required: the transform's class, one of {kinds}"),
                );
                None
            }
            Some(name) => {
                let kind = TransformKind::parse(&name);
                if kind.is_none() {
                    self.problem(
                        &type_key,
                        format!("unknown transform: expected one of {kinds}"),
                    );
                }
                kind
            }
        };
        let condition = self.condition(&prefix, predicates);
        let kind = kind?;
        let allowed: Vec<&str> = kind
            .options()
            .iter()
            .chain(CONDITION_OPTIONS)
            .copied()
            .collect();
        self.check_options(TRANSFORMS, alias, aliases, &allowed, kind.short_name());
        let transform = self.transform(kind, &prefix);
        Some(Step {
            alias: alias.to_owned(),
            kind: kind.short_name(),
            transform: transform?,
            condition: condition?,
        })
    }

    /// `predicate` and `negate`: `Some(None)` when the transform applies to every record.
    fn condition(
        &mut self,
        prefix: &str,
        predicates: &BTreeMap<&str, Option<Predicate>>,
    ) -> Option<Option<Condition>> {
        let negate_key = format!("{prefix}negate");
        let negate = match self
            .get(&negate_key)
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("false") => false,
            Some("true") => true,
            Some(_) => {
                self.problem(&negate_key, "must be true or false");
                return None;
            }
        };
        let predicate_key = format!("{prefix}predicate");
        let Some(name) = self.get(&predicate_key).map(str::to_owned) else {
            if negate {
                self.problem(&negate_key, "negates a predicate: set `predicate` too");
                return None;
            }
            return Some(None);
        };
        match predicates.get(name.as_str()) {
            Some(Some(predicate)) => Some(Some(Condition {
                predicate: predicate.clone(),
                negate,
            })),
            // Its own keys are reported already.
            Some(None) => None,
            None => {
                self.problem(
                    &predicate_key,
                    format!(
                        "unknown predicate `{name}`: list it in `predicates` and set \
                         `predicates.{name}.type`"
                    ),
                );
                None
            }
        }
    }

    fn transform(&mut self, kind: TransformKind, prefix: &str) -> Option<Transform> {
        match kind {
            TransformKind::InsertFieldKey | TransformKind::InsertFieldValue => {
                let side = side_of(kind);
                let fields = self.insert_fields(prefix, kind.short_name())?;
                Some(Transform::InsertField { side, fields })
            }
            TransformKind::ReplaceFieldKey | TransformKind::ReplaceFieldValue => {
                let side = side_of(kind);
                let fields = self.replacements(prefix, kind.short_name())?;
                Some(Transform::ReplaceField { side, fields })
            }
            TransformKind::Filter => Some(Transform::Filter),
            TransformKind::TimestampRouter => self.timestamp_router(prefix),
        }
    }

    fn insert_fields(&mut self, prefix: &str, kind: &str) -> Option<InsertFields> {
        let before = self.problems.len();
        let field =
            |parser: &mut Self, option: &str| parser.field_name(&format!("{prefix}{option}"));
        let topic = field(self, "topic.field");
        let partition = field(self, "partition.field");
        let offset = field(self, "offset.field");
        let timestamp = field(self, "timestamp.field");
        let static_field = field(self, "static.field");
        let value_key = format!("{prefix}static.value");
        let static_value = self.get(&value_key).map(str::to_owned);
        let constant = match (static_field, static_value) {
            (Some(name), Some(value)) => Some((name, value)),
            (None, None) => None,
            (Some(_), None) => {
                self.problem(
                    &value_key,
                    "required with static.field: the value to insert",
                );
                None
            }
            (None, Some(_)) => {
                let reason = "static.value needs static.field: the field to insert it as";
                self.problem(&value_key, reason);
                None
            }
        };
        let fields = InsertFields {
            topic,
            partition,
            offset,
            timestamp,
            constant,
        };
        if fields == InsertFields::default() && self.problems.len() == before {
            self.problem(
                &format!("{prefix}static.field"),
                format!(
                    "{kind} inserts nothing: set at least one of topic.field, partition.field, \
                     offset.field, timestamp.field, static.field"
                ),
            );
        }
        (self.problems.len() == before).then_some(fields)
    }

    /// A required option that must not be empty.
    fn required(&mut self, key: &str, what: &str) -> Option<String> {
        match self.get(key) {
            Some("") => {
                self.problem(key, "must not be empty");
                None
            }
            Some(value) => Some(value.to_owned()),
            None => {
                self.problem(key, format!("required: {what}"));
                None
            }
        }
    }

    /// A field name option; Kafka's `!` (required) and `?` (optional) suffixes are
    /// accepted and mean nothing without schemas.
    fn field_name(&mut self, key: &str) -> Option<String> {
        let value = self.get(key)?;
        let name = value.strip_suffix(['!', '?']).unwrap_or(value).to_owned();
        if name.is_empty() {
            self.problem(key, "must name a field");
            return None;
        }
        Some(name)
    }

    fn replacements(&mut self, prefix: &str, kind: &str) -> Option<Replacements> {
        let before = self.problems.len();
        let list = |parser: &Self, options: [&str; 2]| -> Vec<String> {
            options
                .iter()
                .flat_map(|option| {
                    comma_list(parser.get(&format!("{prefix}{option}")).unwrap_or_default())
                })
                .collect()
        };
        let include = list(self, ["include", "whitelist"]);
        let exclude = list(self, ["exclude", "blacklist"]);
        let renames_key = format!("{prefix}renames");
        let mut renames: Vec<(String, String)> = Vec::new();
        for pair in comma_list(self.get(&renames_key).unwrap_or_default()) {
            match pair.split_once(':').map(|(f, t)| (f.trim(), t.trim())) {
                Some((from, to)) if !from.is_empty() && !to.is_empty() && !to.contains(':') => {
                    if renames.iter().any(|(f, _)| f == from) {
                        self.problem(&renames_key, format!("`{from}` is renamed twice"));
                    }
                    renames.push((from.to_owned(), to.to_owned()));
                }
                _ => self.problem(
                    &renames_key,
                    format!("`{pair}` is not `from:to` (renames is a list such as old:new,a:b)"),
                ),
            }
        }
        let fields = Replacements {
            include,
            exclude,
            renames,
        };
        if fields == Replacements::default() && self.problems.len() == before {
            self.problem(
                &renames_key,
                format!("{kind} changes nothing: set renames, include or exclude"),
            );
        }
        (self.problems.len() == before).then_some(fields)
    }

    fn timestamp_router(&mut self, prefix: &str) -> Option<Transform> {
        let before = self.problems.len();
        let topic_key = format!("{prefix}topic.format");
        let topic_format = self
            .get(&topic_key)
            .unwrap_or(DEFAULT_TOPIC_FORMAT)
            .to_owned();
        let fixed = topic_format
            .replace("${topic}", "")
            .replace("${timestamp}", "");
        if let Some(c) = illegal_topic_char(&fixed) {
            self.problem(&topic_key, illegal_topic_char_reason(c));
        }
        let format_key = format!("{prefix}timestamp.format");
        let pattern = self
            .get(&format_key)
            .unwrap_or(DEFAULT_TIMESTAMP_FORMAT)
            .to_owned();
        let timestamp_format = match DateFormat::parse(&pattern) {
            Ok(format) => {
                let literals: String = format.literals().collect();
                if let Some(c) = illegal_topic_char(&literals) {
                    self.problem(&format_key, illegal_topic_char_reason(c));
                }
                Some(format)
            }
            Err(reason) => {
                self.problem(&format_key, reason);
                None
            }
        };
        if self.problems.len() != before {
            return None;
        }
        Some(Transform::TimestampRouter {
            topic_format,
            timestamp_format: timestamp_format?,
        })
    }
}

fn side_of(kind: TransformKind) -> Side {
    match kind {
        TransformKind::InsertFieldKey | TransformKind::ReplaceFieldKey => Side::Key,
        _ => Side::Value,
    }
}

fn comma_list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The first character of `text` that a topic name may not hold.
fn illegal_topic_char(text: &str) -> Option<char> {
    text.chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
}

fn illegal_topic_char_reason(c: char) -> String {
    format!(
        "would put `{c}` in topic names, which may only hold ASCII letters, digits, `.`, `_` \
         and `-`"
    )
}

#[cfg(test)]
mod tests {
    use super::super::super::properties::parse_properties;
    use super::*;

    fn parse(text: &str) -> Result<TransformChain, Vec<ConfigProblem>> {
        TransformChain::parse(&parse_properties("test", text).entries)
    }

    /// The faulty keys, sorted, with the reasons for failure messages.
    fn faulty(text: &str) -> (Vec<String>, String) {
        let problems = parse(text).expect_err("the configuration was accepted");
        let listed = problems
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n");
        let mut keys: Vec<String> = problems.into_iter().map(|p| p.key).collect();
        keys.sort();
        (keys, listed)
    }

    fn reason_of(text: &str, key: &str) -> String {
        parse(text)
            .expect_err("the configuration was accepted")
            .into_iter()
            .find(|p| p.key == key)
            .unwrap_or_else(|| panic!("{key} not listed"))
            .reason
    }

    #[test]
    fn chain_keys_are_recognized() {
        for key in [
            "transforms",
            "predicates",
            "transforms.a.type",
            "predicates.p.x",
        ] {
            assert!(is_chain_key(key), "{key}");
        }
        for key in ["transformsx", "predicate", "topics", "transforms_a"] {
            assert!(!is_chain_key(key), "{key}");
        }
    }

    #[test]
    fn short_long_and_any_case_names() {
        for name in [
            "org.apache.kafka.connect.transforms.InsertField$Value",
            "InsertField$Value",
            "insertfield$value",
        ] {
            assert_eq!(
                TransformKind::parse(name),
                Some(TransformKind::InsertFieldValue)
            );
        }
        assert_eq!(TransformKind::parse("Filter"), Some(TransformKind::Filter));
        assert_eq!(TransformKind::parse("InsertField"), None);
        assert_eq!(TransformKind::parse("org.example.Filter"), None);
        assert_eq!(
            PredicateKind::parse("org.apache.kafka.connect.transforms.predicates.HasHeaderKey"),
            Some(PredicateKind::HasHeaderKey)
        );
        assert_eq!(
            PredicateKind::parse("RecordIsTombstone"),
            Some(PredicateKind::RecordIsTombstone)
        );
    }

    #[test]
    fn nothing_configured_is_an_empty_chain() {
        assert_eq!(parse("name=x\n"), Ok(TransformChain::default()));
        assert_eq!(
            parse("transforms=\npredicates= ,\n"),
            Ok(TransformChain::default())
        );
    }

    #[test]
    fn unknown_and_missing_types() {
        let (keys, text) = faulty(
            "transforms=a,b\ntransforms.a.type=Flatten$Value\npredicates=p\n\
             predicates.p.type=HasHeader\n",
        );
        assert_eq!(
            keys,
            [
                "predicates.p.type",
                "transforms.a.type",
                "transforms.b.type"
            ],
            "{text}"
        );
        assert!(
            text.contains("unknown transform: expected one of InsertField$Key"),
            "{text}"
        );
        assert!(
            text.contains("transforms.b.type (missing): required"),
            "{text}"
        );
        assert!(
            text.contains("unknown predicate: expected one of TopicNameMatches"),
            "{text}"
        );
    }

    #[test]
    fn required_options() {
        let (keys, text) = faulty(
            "transforms=i,r,s\ntransforms.i.type=InsertField$Value\n\
             transforms.r.type=ReplaceField$Key\ntransforms.s.type=InsertField$Key\n\
             transforms.s.static.field=f\npredicates=m,h\npredicates.m.type=TopicNameMatches\n\
             predicates.h.type=HasHeaderKey\n",
        );
        assert_eq!(
            keys,
            [
                "predicates.h.name",
                "predicates.m.pattern",
                "transforms.i.static.field",
                "transforms.r.renames",
                "transforms.s.static.value",
            ],
            "{text}"
        );
        assert!(text.contains("InsertField$Value inserts nothing"), "{text}");
        assert!(text.contains("ReplaceField$Key changes nothing"), "{text}");
        let reason = reason_of(
            "transforms=s\ntransforms.s.type=InsertField$Value\ntransforms.s.static.value=v\n",
            "transforms.s.static.value",
        );
        assert!(reason.contains("needs static.field"), "{reason}");
        let reason = reason_of(
            "transforms=s\ntransforms.s.type=InsertField$Value\ntransforms.s.topic.field=!\n",
            "transforms.s.topic.field",
        );
        assert_eq!(reason, "must name a field");
    }

    #[test]
    fn unknown_options_are_listed_with_a_suggestion() {
        let (keys, text) = faulty(
            "transforms=i,f\ntransforms.i.type=InsertField$Value\n\
             transforms.i.static.feild=f\ntransforms.i.static.value=v\n\
             transforms.i.topic.field=t\ntransforms.f.type=Filter\ntransforms.f.pattern=x\n\
             predicates=t\npredicates.t.type=RecordIsTombstone\npredicates.t.name=x\n",
        );
        assert_eq!(
            keys,
            [
                "predicates.t.name",
                "transforms.f.pattern",
                "transforms.i.static.feild",
                "transforms.i.static.value",
            ],
            "{text}"
        );
        assert!(text.contains("did you mean `static.field`?"), "{text}");
        assert!(text.contains("RecordIsTombstone has no options"), "{text}");
    }

    #[test]
    fn predicates_must_be_listed_and_valid() {
        let (keys, text) = faulty(
            "transforms=f,g\ntransforms.f.type=Filter\ntransforms.f.predicate=isTest\n\
             transforms.g.type=Filter\ntransforms.g.predicate=bad\npredicates=bad\n\
             predicates.bad.type=TopicNameMatches\npredicates.bad.pattern=a)|(b\n",
        );
        assert_eq!(
            keys,
            ["predicates.bad.pattern", "transforms.f.predicate"],
            "{text}"
        );
        assert!(text.contains("unknown predicate `isTest`"), "{text}");
        assert!(text.contains("not a regular expression"), "{text}");
    }

    #[test]
    fn negate_needs_a_predicate_and_a_boolean() {
        let (keys, text) = faulty(
            "transforms=a,b\ntransforms.a.type=Filter\ntransforms.a.negate=true\n\
             transforms.b.type=Filter\ntransforms.b.negate=yes\n",
        );
        assert_eq!(
            keys,
            ["transforms.a.negate", "transforms.b.negate"],
            "{text}"
        );
    }

    #[test]
    fn aliases_are_listed_once_and_keys_must_belong_to_one() {
        let (keys, text) = faulty(
            "transforms=f,f\ntransforms.f.type=Filter\ntransforms.g.type=Filter\n\
             predicates.p.type=RecordIsTombstone\n",
        );
        assert_eq!(
            keys,
            ["predicates.p.type", "transforms", "transforms.g.type"],
            "{text}"
        );
        assert!(text.contains("`f` is listed twice"), "{text}");
        assert!(
            text.contains("`transforms` does not list (it lists f)"),
            "{text}"
        );
        assert!(
            text.contains("`predicates` does not list (it lists none)"),
            "{text}"
        );
        let many: Vec<String> = (0..=TRANSFORMS_MAX).map(|i| format!("t{i}")).collect();
        let text = format!("transforms={}\n", many.join(","));
        let reason = reason_of(&text, "transforms");
        assert!(reason.contains("at most 64"), "{reason}");
    }

    #[test]
    fn an_alias_may_contain_dots() {
        let chain = parse(
            "transforms=a,a.b\ntransforms.a.type=Filter\ntransforms.a.b.type=TimestampRouter\n\
             transforms.a.b.topic.format=x\n",
        )
        .unwrap();
        assert_eq!(chain.aliases().collect::<Vec<_>>(), ["a", "a.b"]);
    }

    #[test]
    fn renames_syntax() {
        let (keys, text) = faulty(
            "transforms=r\ntransforms.r.type=ReplaceField$Value\n\
             transforms.r.renames=a:b,c,:d,e:,f:g:h,a:z\n",
        );
        assert_eq!(keys.len(), 5, "{text}");
        for bad in ["`c`", "`:d`", "`e:`", "`f:g:h`", "`a` is renamed twice"] {
            assert!(text.contains(bad), "{bad} not in {text}");
        }
    }

    #[test]
    fn router_formats_must_make_topic_names() {
        let (keys, text) = faulty(
            "transforms=r,s,t\ntransforms.r.type=TimestampRouter\n\
             transforms.r.topic.format=${topic}/${timestamp}\n\
             transforms.s.type=TimestampRouter\ntransforms.s.timestamp.format=yyyy MM\n\
             transforms.t.type=TimestampRouter\ntransforms.t.timestamp.format=EEE\n",
        );
        assert_eq!(
            keys,
            [
                "transforms.r.topic.format",
                "transforms.s.timestamp.format",
                "transforms.t.timestamp.format"
            ],
            "{text}"
        );
        assert!(text.contains("would put `/` in topic names"), "{text}");
        assert!(text.contains("would put ` ` in topic names"), "{text}");
        assert!(text.contains("`E` is not supported"), "{text}");
    }
}
