//! The seed's payments: key "Alice", value "made a payment of 200 dollars to Bob" →
//! parse the amount → per-user totals in 1-minute tumbling windows with a 10 s grace
//! period; every update, and (suppressed) each window's final total.

mod common;

use std::time::Duration;

use common::{check, long, rec, s, windowed, Case, Rec};
use eddy_topologies::{
    StreamsBuilder, StreamsConfig, Suppressed, TimeWindows, Topology, TopologyTestDriver, Window,
    Windowed,
};

/// 2020-06-25T14:06:00Z, the seed's example time.
const T0: i64 = 1_593_093_960_000;
const MINUTE: i64 = 60_000;

fn parse_amount(text: &str) -> Option<u64> {
    let mut words = text.split_whitespace();
    words.find(|w| *w == "of")?;
    words.next()?.parse().ok()
}

fn payments() -> Topology {
    let builder = StreamsBuilder::new();
    let totals = builder
        .stream::<String, String>("payments")
        .flat_map_values(|text| parse_amount(&text))
        .group_by_key()
        .windowed_by(TimeWindows::of(Duration::from_secs(60)).grace(Duration::from_secs(10)))
        .aggregate(|| 0u64, |_, amount, total| total + amount)
        .named("payment-totals");
    totals.to_stream().to("payment-totals-per-minute");
    totals
        .suppress(Suppressed::until_window_closes())
        .named("final-totals")
        .to_stream()
        .to("payment-final-totals");
    builder.build().expect("payments builds")
}

fn pay(user: &str, text: &str, after_ms: i64) -> Rec {
    rec("payments", s(user), s(text), T0 + after_ms)
}

fn total(topic: &str, user: &str, window_start: i64, amount: u64, timestamp: i64) -> Rec {
    rec(topic, windowed(user, window_start), long(amount), timestamp)
}

fn update(user: &str, window_start: i64, amount: u64, after_ms: i64) -> Rec {
    total(
        "payment-totals-per-minute",
        user,
        window_start,
        amount,
        T0 + after_ms,
    )
}

fn final_total(user: &str, window_start: i64, amount: u64, after_ms: i64) -> Rec {
    total(
        "payment-final-totals",
        user,
        window_start,
        amount,
        T0 + after_ms,
    )
}

#[test]
fn payments_per_user_per_minute_golden_output_survives_restarts() {
    let (w1, w2) = (T0, T0 + MINUTE);
    check(&Case {
        name: "payments",
        topology: payments,
        inputs: vec![
            pay("Alice", "made a payment of 200 dollars to Bob", 5_000),
            pay("Bob", "made a payment of 50 dollars to Carol", 20_000),
            pay("Alice", "made a payment of 100 dollars to Carol", 50_000),
            pay("Alice", "made a payment of 30 dollars to Dave", 65_000),
            // Out of order but within the grace period: window 1 closes at T0 + 70 s.
            pay("Bob", "made a payment of 25 dollars to Alice", 55_000),
            // Stream time passes T0 + 70 s: window 1 closes and its final totals go out.
            pay("Carol", "made a payment of 10 dollars to Bob", 80_000),
            // Too late for window 1: dropped and counted.
            pay("Alice", "made a payment of 999 dollars to Eve", 30_000),
            // Not a payment: no amount, no update.
            pay("Dave", "sent a postcard", 85_000),
            // Stream time reaches T0 + 130 s: window 2 closes.
            pay("Eve", "made a payment of 1 dollars to Bob", 130_000),
        ],
        outputs: vec!["payment-totals-per-minute", "payment-final-totals"],
        golden: vec![
            update("Alice", w1, 200, 5_000),
            update("Bob", w1, 50, 20_000),
            update("Alice", w1, 300, 50_000),
            update("Alice", w2, 30, 65_000),
            update("Bob", w1, 75, 55_000),
            update("Carol", w2, 10, 80_000),
            final_total("Alice", w1, 300, 50_000),
            final_total("Bob", w1, 75, 55_000),
            update("Eve", T0 + 2 * MINUTE, 1, 130_000),
            final_total("Alice", w2, 30, 65_000),
            final_total("Carol", w2, 10, 80_000),
        ],
        dropped_late: 1,
    });
}

#[test]
fn typed_reads_give_windowed_keys_and_the_window_store_drops_closed_windows() {
    let mut driver = TopologyTestDriver::new(payments(), StreamsConfig::new("bank")).unwrap();
    driver
        .pipe_input(
            "payments",
            "Alice".to_string(),
            "made a payment of 200 dollars to Bob".to_string(),
            T0 + 5_000,
        )
        .unwrap();
    let updates = driver
        .read_key_values::<Windowed<String>, u64>("payment-totals-per-minute")
        .unwrap();
    let window = Window::new(T0, T0 + MINUTE);
    assert_eq!(
        updates,
        vec![(
            Windowed {
                key: "Alice".to_string(),
                window
            },
            200
        )]
    );
    assert_eq!(
        driver
            .window_store::<String, u64>("payment-totals")
            .unwrap()
            .len(),
        1
    );
    driver
        .pipe_input(
            "payments",
            "Bob".to_string(),
            "made a payment of 1 dollars to Bob".to_string(),
            T0 + 3 * MINUTE,
        )
        .unwrap();
    let rows = driver
        .window_store::<String, u64>("payment-totals")
        .unwrap();
    assert_eq!(
        rows.iter().map(|(w, _)| w.key.as_str()).collect::<Vec<_>>(),
        vec!["Bob"]
    );
    let finals = driver
        .read_output::<Windowed<String>, u64>("payment-final-totals")
        .unwrap();
    assert_eq!(finals.len(), 1);
    assert_eq!(
        (finals[0].key.key.as_str(), finals[0].value),
        ("Alice", Some(200))
    );
}

#[test]
fn hopping_windows_drop_and_count_each_closed_window() {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, String>("clicks")
        .group_by_key()
        .windowed_by(TimeWindows::of(Duration::from_secs(10)).advance_by(Duration::from_secs(5)))
        .count()
        .to_stream()
        .to("clicks-per-10s");
    let mut driver =
        TopologyTestDriver::new(builder.build().unwrap(), StreamsConfig::new("app")).unwrap();
    let click = |driver: &mut TopologyTestDriver, at: i64| {
        driver
            .pipe_input("clicks", "a".to_string(), "/".to_string(), at)
            .unwrap()
    };
    click(&mut driver, 12_000); // windows [5 s, 15 s) and [10 s, 20 s)
    click(&mut driver, 4_000); // only [0 s, 10 s), closed: dropped
    click(&mut driver, 9_000); // [0 s, 10 s) closed (dropped), [5 s, 15 s) open
    let starts: Vec<(i64, u64)> = driver
        .read_key_values::<Windowed<String>, u64>("clicks-per-10s")
        .unwrap()
        .into_iter()
        .map(|(w, n)| (w.window.start_ms, n))
        .collect();
    assert_eq!(starts, vec![(5_000, 1), (10_000, 1), (5_000, 2)]);
    assert_eq!(driver.dropped_late_records(), 2);
    assert_eq!(driver.metrics().processed_records, 3);
}

#[test]
fn payments_describe_one_subtopology_with_window_and_buffer_stores() {
    let expected = "\
Topologies:
  Sub-topology: 0
    Source: KSTREAM-SOURCE-0000000000 (topics: [payments])
      --> KSTREAM-FLATMAPVALUES-0000000001
    Processor: KSTREAM-FLATMAPVALUES-0000000001 (stores: [])
      --> payment-totals
      <-- KSTREAM-SOURCE-0000000000
    Processor: payment-totals (stores: [payment-totals])
      --> KTABLE-TOSTREAM-0000000003, final-totals
      <-- KSTREAM-FLATMAPVALUES-0000000001
    Processor: KTABLE-TOSTREAM-0000000003 (stores: [])
      --> KSTREAM-SINK-0000000004
      <-- payment-totals
    Processor: final-totals (stores: [final-totals-store])
      --> KTABLE-TOSTREAM-0000000006
      <-- payment-totals
    Sink: KSTREAM-SINK-0000000004 (topic: payment-totals-per-minute)
      <-- KTABLE-TOSTREAM-0000000003
    Processor: KTABLE-TOSTREAM-0000000006 (stores: [])
      --> KSTREAM-SINK-0000000007
      <-- final-totals
    Sink: KSTREAM-SINK-0000000007 (topic: payment-final-totals)
      <-- KTABLE-TOSTREAM-0000000006
";
    assert_eq!(payments().describe().to_string(), expected);
}
