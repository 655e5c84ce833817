//! Where serdes apply: sources, sinks, repartitions and stores.

use eddy_topologies::{Serdes, StreamsBuilder, StreamsConfig, TopologyError, TopologyTestDriver};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Payment {
    to: String,
    amount: u64,
}

#[test]
fn grouped_serdes_apply_to_the_store_not_upstream() {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, String>("in")
        .group_by_key()
        .with_key_serde(Serdes::json())
        .count()
        .named("counts")
        .to_stream()
        .to("out");
    let mut driver =
        TopologyTestDriver::new(builder.build().unwrap(), StreamsConfig::new("app")).unwrap();
    driver
        .pipe_raw(
            "in",
            Some(b"Alice".to_vec()),
            Some(b"x".to_vec()),
            0,
            Vec::new(),
        )
        .unwrap();
    let out = driver.read_raw("out");
    // The source read the plain key; the table (and what follows it) writes JSON keys.
    assert_eq!(out[0].key.as_deref(), Some(&br#""Alice""#[..]));
    assert_eq!(driver.changelog()[0].key, br#""Alice""#.to_vec());
    assert_eq!(
        driver.key_value_store::<String, u64>("counts").unwrap(),
        vec![("Alice".to_string(), 1)]
    );
}

#[test]
fn a_new_key_type_needs_a_serde_for_its_repartition() {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, String>("words")
        .group_by(|_, w| w.len() as u32)
        .count();
    let err = builder.build().unwrap_err();
    assert!(
        matches!(
            err,
            TopologyError::MissingSerde {
                side: "key",
                type_name: "u32",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn postcard_values_and_nullable_keys_round_trip() {
    let builder = StreamsBuilder::new();
    builder
        .stream::<Option<String>, Payment>("payments")
        .with_key_serde(Serdes::nullable(Serdes::string()))
        .with_value_serde(Serdes::postcard())
        .select_key(|_, p| p.to.clone())
        .map_values(|p| p.amount)
        .to("received");
    let mut driver =
        TopologyTestDriver::new(builder.build().unwrap(), StreamsConfig::new("app")).unwrap();
    let payment = Payment {
        to: "Bob".into(),
        amount: 200,
    };
    driver
        .pipe_input("payments", None::<String>, payment, 5)
        .unwrap();
    assert_eq!(
        driver.read_key_values::<String, u64>("received").unwrap(),
        vec![("Bob".to_string(), 200)]
    );
}
