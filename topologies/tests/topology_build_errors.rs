//! `build()` refuses invalid topologies with errors that name the culprit.

use std::time::Duration;

use eddy_topologies::{
    Serdes, StreamsBuilder, StreamsConfig, TimeWindows, TopologyError, TopologyTestDriver,
};

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Payment {
    amount: u64,
}

#[test]
fn a_topology_needs_a_source_and_an_effect() {
    assert_eq!(
        StreamsBuilder::new().build().unwrap_err(),
        TopologyError::NoSource
    );
    let builder = StreamsBuilder::new();
    builder.stream::<String, String>("in").filter(|_, _| true);
    assert_eq!(builder.build().unwrap_err(), TopologyError::NoSink);
    // A table alone is fine: it keeps a store.
    let builder = StreamsBuilder::new();
    builder.table::<String, String>("users");
    assert!(builder.build().is_ok());
}

#[test]
fn duplicate_names_and_topics_are_refused() {
    let builder = StreamsBuilder::new();
    let s = builder.stream::<String, String>("in");
    s.filter(|_, _| true).named("f").to("a");
    s.filter(|_, _| false).named("f").to("b");
    let err = builder.build().unwrap_err();
    assert_eq!(
        err,
        TopologyError::DuplicateName {
            kind: "processor",
            name: "f".into()
        }
    );
    assert!(err.to_string().contains("duplicate processor name `f`"));

    let builder = StreamsBuilder::new();
    builder.stream::<String, String>("in").to("a");
    builder.stream::<String, String>("in").to("b");
    assert_eq!(
        builder.build().unwrap_err(),
        TopologyError::DuplicateSourceTopic { topic: "in".into() }
    );

    // Two aggregations named alike would share a store name.
    let builder = StreamsBuilder::new();
    let grouped = builder.stream::<String, String>("in").group_by_key();
    grouped.count().named("counts");
    grouped.reduce(|a, _| a).to_stream().named("counts").to("x");
    assert!(matches!(
        builder.build().unwrap_err(),
        TopologyError::DuplicateName {
            kind: "processor",
            ..
        }
    ));
}

#[test]
fn names_must_fit_in_topic_names() {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, String>("in")
        .group_by_key()
        .count()
        .named("my counts");
    let err = builder.build().unwrap_err();
    assert!(
        matches!(err, TopologyError::InvalidName { ref name, .. } if name == "my counts"),
        "{err}"
    );
    let builder = StreamsBuilder::new();
    builder.stream::<String, String>("in").to("");
    assert!(matches!(
        builder.build().unwrap_err(),
        TopologyError::InvalidName { .. }
    ));
    let config = StreamsConfig::new("bad/app");
    assert!(matches!(
        config.validate(),
        Err(TopologyError::InvalidConfig(_))
    ));
}

#[test]
fn missing_serdes_are_reported_where_they_are_needed() {
    let builder = StreamsBuilder::new();
    builder.stream::<String, Payment>("payments").to("out");
    let err = builder.build().unwrap_err();
    assert_eq!(
        err,
        TopologyError::MissingSerde {
            node: "KSTREAM-SOURCE-0000000000".into(),
            side: "value",
            type_name: std::any::type_name::<Payment>(),
        }
    );
    assert!(err.to_string().contains("with_value_serde"), "{err}");

    // A stateless chain needs no serde for its intermediate types...
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, String>("in")
        .map_values(|v| Payment {
            amount: v.len() as u64,
        })
        .map_values(|p| p.amount)
        .to("out");
    assert!(builder.build().is_ok());

    // ...but an aggregate type needs one, and setting it on the table fixes it.
    let builder = StreamsBuilder::new();
    let table = builder
        .stream::<String, u64>("in")
        .group_by_key()
        .aggregate(
            || Payment { amount: 0 },
            |_, v, p| Payment {
                amount: p.amount + v,
            },
        )
        .named("totals");
    let err = builder.build().unwrap_err();
    assert!(
        matches!(err, TopologyError::MissingSerde { ref node, side: "value", .. } if node == "totals"),
        "{err}"
    );
    table.with_value_serde(Serdes::json());
    assert!(builder.build().is_ok());
}

#[test]
fn invalid_windows_and_unjoinable_tables_are_refused() {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, String>("in")
        .group_by_key()
        .windowed_by(TimeWindows::of(Duration::from_secs(1)).advance_by(Duration::from_secs(2)))
        .count();
    assert!(matches!(
        builder.build().unwrap_err(),
        TopologyError::InvalidWindow { .. }
    ));

    let builder = StreamsBuilder::new();
    let windowed = builder
        .stream::<String, String>("in")
        .group_by_key()
        .windowed_by(TimeWindows::of(Duration::from_secs(1)))
        .count();
    let other = builder
        .table::<eddy_topologies::Windowed<String>, String>("other")
        .with_key_serde(Serdes::windowed(Serdes::string(), Duration::from_secs(1)));
    other
        .join(&windowed, |a, b| format!("{a}{b}"))
        .to_stream()
        .to("out");
    let err = builder.build().unwrap_err();
    assert!(
        matches!(err, TopologyError::InvalidOperation { .. }),
        "{err}"
    );
}

#[test]
fn records_that_do_not_decode_are_skipped_and_counted() {
    let builder = StreamsBuilder::new();
    builder.stream::<String, u64>("in").to("out");
    let mut driver =
        TopologyTestDriver::new(builder.build().unwrap(), StreamsConfig::new("app")).unwrap();
    driver
        .pipe_raw(
            "in",
            Some(b"k".to_vec()),
            Some(vec![1, 2, 3]),
            0,
            Vec::new(),
        )
        .unwrap();
    driver
        .pipe_raw("in", None, Some(vec![0; 8]), 0, Vec::new())
        .unwrap();
    driver
        .pipe_raw("in", Some(b"k".to_vec()), Some(vec![0; 8]), -1, Vec::new())
        .unwrap();
    driver
        .pipe_raw("in", Some(b"k".to_vec()), Some(vec![0; 8]), 1, Vec::new())
        .unwrap();
    // Undecodable value and negative timestamp are skipped; a null key reads as "".
    assert_eq!(driver.metrics().skipped_records, 2);
    assert_eq!(
        driver.read_key_values::<String, u64>("out").unwrap(),
        vec![(String::new(), 0), ("k".to_string(), 0)]
    );
    let err = driver
        .pipe_input("nowhere", "k".to_string(), 1u64, 0)
        .unwrap_err();
    assert!(
        err.to_string().contains("no source for topic `nowhere`"),
        "{err}"
    );
    let err = driver.pipe_input("in", 1u64, 1u64, 0).unwrap_err();
    assert!(
        err.to_string()
            .contains("holds `alloc::string::String`, not `u64`"),
        "{err}"
    );
}

#[test]
fn streams_of_two_builders_do_not_mix() {
    let a = StreamsBuilder::new();
    let b = StreamsBuilder::new();
    let left = a.stream::<String, String>("left");
    let right = b.stream::<String, String>("right");
    left.merge(&right).to("out");
    let err = a.build().unwrap_err();
    assert!(
        err.to_string().contains("different `StreamsBuilder`s"),
        "{err}"
    );
    let table = b.table::<String, String>("users");
    let c = StreamsBuilder::new();
    c.stream::<String, String>("in")
        .join(&table, |a, b| format!("{a}{b}"))
        .to("out");
    assert!(matches!(
        c.build().unwrap_err(),
        TopologyError::InvalidOperation { .. }
    ));
}
