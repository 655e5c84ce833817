//! Joins: payments enriched with a users table (inner and left, with and without a
//! repartition), a windowed stream–stream join, and table–table joins.

mod common;

use std::time::Duration;

use common::{check, rec, s, Case, Rec};
use eddy_topologies::{
    JoinWindows, Serdes, StreamsBuilder, StreamsConfig, Topology, TopologyTestDriver,
};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct User {
    name: String,
    country: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Enriched {
    user: String,
    country: String,
    amount: u64,
}

fn parse_amount(text: &str) -> Option<u64> {
    let mut words = text.split_whitespace();
    words.find(|w| *w == "of")?;
    words.next()?.parse().ok()
}

fn recipient(text: &str) -> String {
    text.rsplit(' ').next().unwrap_or_default().to_string()
}

/// Payments (keyed by payer) joined with the payer's user row, and left-joined with the
/// recipient's row after re-keying by recipient (which repartitions).
fn enrich() -> Topology {
    let builder = StreamsBuilder::new();
    builder
        .default_serde::<User>(Serdes::json())
        .default_serde::<Enriched>(Serdes::json());
    let users = builder.table::<String, User>("users").named("users");
    let payments = builder.stream::<String, String>("payments");
    payments
        .flat_map_values(|text| parse_amount(&text))
        .join(&users, |amount, user| Enriched {
            user: user.name.clone(),
            country: user.country.clone(),
            amount: *amount,
        })
        .named("enrich-payer")
        .to("payments-enriched");
    payments
        .select_key(|_, text| recipient(text))
        .left_join(&users, |text, user| match user {
            Some(u) => format!("{} ({}) receives: {text}", u.name, u.country),
            None => format!("unknown user receives: {text}"),
        })
        .to("payments-received");
    builder.build().expect("enrich builds")
}

fn user(id: &str, name: &str, country: &str, at: i64) -> Rec {
    let json = format!(r#"{{"name":"{name}","country":"{country}"}}"#);
    rec("users", s(id), s(&json), at)
}

fn enriched(payer: &str, name: &str, country: &str, amount: u64, at: i64) -> Rec {
    let json = format!(r#"{{"user":"{name}","country":"{country}","amount":{amount}}}"#);
    rec("payments-enriched", s(payer), s(&json), at)
}

#[test]
fn stream_table_join_enriches_payments_and_survives_restarts() {
    let pay = |from: &str, text: &str, at| rec("payments", s(from), s(text), at);
    let received = |to: &str, text: &str, at| rec("payments-received", s(to), s(text), at);
    check(&Case {
        name: "enrich",
        topology: enrich,
        inputs: vec![
            user("Alice", "Alice Liddell", "UK", 1),
            user("Bob", "Bob Dylan", "US", 2),
            pay("Alice", "made a payment of 200 dollars to Bob", 10),
            // Carol has no user row: the inner join drops the payment.
            pay("Carol", "made a payment of 5 dollars to Alice", 11),
            // A table update changes later joins only.
            user("Alice", "Alice Liddell", "FR", 12),
            pay("Alice", "made a payment of 7 dollars to Dan", 13),
            // Deleting Bob: his payments no longer join.
            rec("users", s("Bob"), None, 14),
            pay("Bob", "made a payment of 1 dollars to Alice", 15),
        ],
        outputs: vec!["payments-enriched", "payments-received"],
        golden: vec![
            enriched("Alice", "Alice Liddell", "UK", 200, 10),
            received(
                "Bob",
                "Bob Dylan (US) receives: made a payment of 200 dollars to Bob",
                10,
            ),
            received(
                "Alice",
                "Alice Liddell (UK) receives: made a payment of 5 dollars to Alice",
                11,
            ),
            enriched("Alice", "Alice Liddell", "FR", 7, 13),
            received(
                "Dan",
                "unknown user receives: made a payment of 7 dollars to Dan",
                13,
            ),
            received(
                "Alice",
                "Alice Liddell (FR) receives: made a payment of 1 dollars to Alice",
                15,
            ),
        ],
        dropped_late: 0,
    });
}

#[test]
fn a_rekeyed_join_is_repartitioned_into_the_table_subtopology() {
    let expected = "\
Topologies:
  Sub-topology: 0
    Source: KSTREAM-SOURCE-0000000000 (topics: [users])
      --> users
    Source: KSTREAM-SOURCE-0000000002 (topics: [payments])
      --> KSTREAM-FLATMAPVALUES-0000000003, KSTREAM-KEY-SELECT-0000000006
    Source: KSTREAM-SOURCE-0000000008 (topics: [KSTREAM-REPARTITION-0000000007-repartition])
      --> KSTREAM-LEFTJOIN-0000000009
    Processor: users (stores: [users])
      --> none
      <-- KSTREAM-SOURCE-0000000000
    Processor: KSTREAM-FLATMAPVALUES-0000000003 (stores: [])
      --> enrich-payer
      <-- KSTREAM-SOURCE-0000000002
    Processor: KSTREAM-KEY-SELECT-0000000006 (stores: [])
      --> KSTREAM-SINK-0000000007
      <-- KSTREAM-SOURCE-0000000002
    Processor: KSTREAM-LEFTJOIN-0000000009 (stores: [users])
      --> KSTREAM-SINK-0000000010
      <-- KSTREAM-SOURCE-0000000008
    Processor: enrich-payer (stores: [users])
      --> KSTREAM-SINK-0000000005
      <-- KSTREAM-FLATMAPVALUES-0000000003
    Sink: KSTREAM-SINK-0000000007 (topic: KSTREAM-REPARTITION-0000000007-repartition)
      <-- KSTREAM-KEY-SELECT-0000000006
    Sink: KSTREAM-SINK-0000000010 (topic: payments-received)
      <-- KSTREAM-LEFTJOIN-0000000009
    Sink: KSTREAM-SINK-0000000005 (topic: payments-enriched)
      <-- enrich-payer
";
    assert_eq!(enrich().describe().to_string(), expected);
}

#[test]
fn stream_stream_join_matches_within_the_window_both_ways() {
    let builder = StreamsBuilder::new();
    let orders = builder.stream::<String, String>("orders");
    let payments = builder.stream::<String, u64>("payments");
    orders
        .join_stream(
            &payments,
            JoinWindows::of(Duration::from_secs(60)),
            |item, amount| format!("{item}: {amount}"),
        )
        .named("paid")
        .to("paid-orders");
    let topology = builder.build().unwrap();
    assert_eq!(
        topology.store_names(),
        vec!["paid-this-join-store", "paid-other-join-store"]
    );
    let mut driver = TopologyTestDriver::new(topology, StreamsConfig::new("shop")).unwrap();
    driver
        .pipe_input("payments", "o1".to_string(), 12u64, 10_000)
        .unwrap();
    driver
        .pipe_input("orders", "o1".to_string(), "book".to_string(), 50_000)
        .unwrap();
    driver
        .pipe_input("orders", "o2".to_string(), "pen".to_string(), 60_000)
        .unwrap();
    driver
        .pipe_input("payments", "o1".to_string(), 3u64, 100_000)
        .unwrap();
    driver.restart().unwrap();
    driver
        .pipe_input("payments", "o2".to_string(), 2u64, 61_000)
        .unwrap();
    // Later than window + grace for every buffered record: dropped and counted.
    driver
        .pipe_input("orders", "o1".to_string(), "late".to_string(), 30_000)
        .unwrap();
    let out: Vec<(String, String, i64)> = driver
        .read_output::<String, String>("paid-orders")
        .unwrap()
        .into_iter()
        .map(|r| (r.key, r.value.unwrap_or_default(), r.timestamp))
        .collect();
    let expected = [
        ("o1", "book: 12", 50_000),
        ("o1", "book: 3", 100_000),
        ("o2", "pen: 2", 61_000),
    ];
    assert_eq!(
        out,
        expected
            .map(|(k, v, t)| (k.to_string(), v.to_string(), t))
            .to_vec()
    );
    assert_eq!(driver.dropped_late_records(), 1);
}

fn profiles(kind: &str) -> TopologyTestDriver {
    let builder = StreamsBuilder::new();
    let names = builder.table::<String, String>("names");
    let cities = builder.table::<String, String>("cities");
    let show = |n: Option<&String>, c: Option<&String>| {
        format!(
            "{}@{}",
            n.map_or("-", |s| s.as_str()),
            c.map_or("-", |s| s.as_str())
        )
    };
    let joined = match kind {
        "inner" => names.join(&cities, move |n, c| show(Some(n), Some(c))),
        "left" => names.left_join(&cities, move |n, c| show(Some(n), c)),
        _ => names.outer_join(&cities, show),
    };
    joined.to_stream().to("profiles");
    TopologyTestDriver::new(builder.build().unwrap(), StreamsConfig::new("app")).unwrap()
}

fn table_join_run(kind: &str) -> Vec<(String, Option<String>)> {
    let mut driver = profiles(kind);
    driver
        .pipe_input("names", "u1".to_string(), "Alice".to_string(), 1)
        .unwrap();
    driver
        .pipe_input("cities", "u1".to_string(), "Paris".to_string(), 2)
        .unwrap();
    driver
        .pipe_input("cities", "u2".to_string(), "Rome".to_string(), 3)
        .unwrap();
    driver.pipe_tombstone("names", "u1".to_string(), 4).unwrap();
    let out = driver.read_output::<String, String>("profiles").unwrap();
    out.into_iter().map(|r| (r.key, r.value)).collect()
}

#[test]
fn table_table_joins_follow_kafka_semantics() {
    let row = |k: &str, v: Option<&str>| (k.to_string(), v.map(str::to_string));
    assert_eq!(
        table_join_run("inner"),
        vec![row("u1", Some("Alice@Paris")), row("u1", None)]
    );
    assert_eq!(
        table_join_run("left"),
        vec![
            row("u1", Some("Alice@-")),
            row("u1", Some("Alice@Paris")),
            row("u1", None)
        ]
    );
    assert_eq!(
        table_join_run("outer"),
        vec![
            row("u1", Some("Alice@-")),
            row("u1", Some("Alice@Paris")),
            row("u2", Some("-@Rome")),
            row("u1", Some("-@Paris"))
        ]
    );
}

#[test]
fn a_stream_joins_a_filtered_and_mapped_table_through_its_parent_store() {
    let builder = StreamsBuilder::new();
    let adults = builder
        .table::<String, u64>("ages")
        .named("ages")
        .filter(|_, age| *age >= 18)
        .map_values(|age| format!("{age} years"));
    builder
        .stream::<String, String>("visits")
        .join(&adults, |page, age| format!("{page} by {age}"))
        .to("adult-visits");
    let mut driver =
        TopologyTestDriver::new(builder.build().unwrap(), StreamsConfig::new("app")).unwrap();
    driver
        .pipe_input("ages", "kid".to_string(), 9u64, 0)
        .unwrap();
    driver
        .pipe_input("ages", "mum".to_string(), 41u64, 0)
        .unwrap();
    driver
        .pipe_input("visits", "kid".to_string(), "/toys".to_string(), 1)
        .unwrap();
    driver
        .pipe_input("visits", "mum".to_string(), "/news".to_string(), 2)
        .unwrap();
    let out = driver
        .read_key_values::<String, String>("adult-visits")
        .unwrap();
    assert_eq!(
        out,
        vec![("mum".to_string(), "/news by 41 years".to_string())]
    );
}
