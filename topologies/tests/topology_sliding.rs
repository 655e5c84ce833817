//! Sliding windows (Kafka's `SlidingWindows`): a window `[t - d, t]` per record, the
//! windows that open right after each record, early records sharing `[0, d]`, and late
//! records dropped per window or whole.

mod common;

use std::time::Duration;

use common::{check, long, rec, s, windowed, Case, Rec};
use eddy_topologies::{
    SlidingWindows, StreamsBuilder, StreamsConfig, Topology, TopologyTestDriver, Window, Windowed,
};

/// The time difference `d`: windows are `[start, start + 10 s]`, both ends included.
const D_MS: i64 = 10_000;

fn clicks_in_ten_seconds() -> Topology {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, String>("clicks")
        .group_by_key()
        .windowed_by_sliding(SlidingWindows::of_time_difference_and_grace(
            Duration::from_millis(D_MS as u64),
            Duration::from_secs(5),
        ))
        .count()
        .named("recent-clicks")
        .to_stream()
        .to("clicks-in-ten-seconds");
    builder.build().expect("sliding count builds")
}

fn click(user: &str, at: i64) -> Rec {
    rec("clicks", s(user), s("/"), at)
}

/// The count of `user`'s window starting at `start` (it ends `d` later), stamped with the
/// latest record time in it.
fn count(user: &str, start: i64, n: u64, at: i64) -> Rec {
    rec("clicks-in-ten-seconds", windowed(user, start), long(n), at)
}

/// d = 10 s, grace = 5 s: a window `[s, s + 10 s]` takes updates while
/// `s + 10 s >= stream time - 5 s`. The window that opens after a record at `t` starts at
/// `t + 1 ms`.
#[test]
fn sliding_counts_follow_kafka_with_out_of_order_and_late_records() {
    check(&Case {
        name: "sliding",
        topology: clicks_in_ten_seconds,
        inputs: vec![
            // Early records (before d): their windows would start before 0, so they
            // share [0, 10 s].
            click("c", 3_000),
            click("c", 8_000),
            click("c", 5_000),
            // In order.
            click("a", 20_000),
            click("a", 25_000),
            click("a", 40_000),
            // Out of order (stream time 40 s: windows ending before 35 s are closed).
            click("a", 32_000),
            // Stream time 50 s: windows ending before 45 s are closed.
            click("b", 50_000),
            // The window after it, [38.001, 48.001], is open: accepted, but every other
            // window it falls into has closed.
            click("a", 38_000),
            // Even the window after it, [30.001, 40.001], has closed: dropped whole.
            click("a", 30_000),
            click("a", 55_000),
            // The same time again: its window exists already and is updated.
            click("a", 55_000),
        ],
        outputs: vec!["clicks-in-ten-seconds"],
        golden: vec![
            // c@3: the shared early window.
            count("c", 0, 1, 3_000),
            // c@8: the window after c@3, [3.001, 13.001], opens with c@8; then [0, 10]
            // grows to {3, 8}.
            count("c", 3_001, 1, 8_000),
            count("c", 0, 2, 8_000),
            // c@5 (out of order): it falls into [3.001, 13.001] ({5, 8}); the window
            // after it, [5.001, 15.001], holds what that window held after 5 ({8});
            // [0, 10] is {3, 5, 8}. Every window is stamped with its latest record (8).
            count("c", 3_001, 2, 8_000),
            count("c", 5_001, 1, 8_000),
            count("c", 0, 3, 8_000),
            // a@20: its window [10, 20].
            count("a", 10_000, 1, 20_000),
            // a@25: the window after a@20, [20.001, 30.001], opens with it; its own
            // window [15, 25] starts from the previous window's count (a@20 is within d).
            count("a", 20_001, 1, 25_000),
            count("a", 15_000, 2, 25_000),
            // a@40: a@25 is more than d back and [25.001, 35.001] would not hold a@40, so
            // only [30, 40] opens, with a@40 alone.
            count("a", 30_000, 1, 40_000),
            // a@32: [30, 40] now holds {32, 40} (stamped 40, its latest record); the
            // window after a@25 opens as [25.001, 35.001] = {32} (it ends at 35.001, not
            // before 35: still open); a@32's own window [22, 32] ended before 35 s:
            // dropped (1); the window after a@32, [32.001, 42.001], holds what [30, 40]
            // held after 32 ({40}).
            count("a", 30_000, 2, 40_000),
            count("a", 25_001, 1, 32_000),
            count("a", 32_001, 1, 40_000),
            count("b", 40_000, 1, 50_000),
            // a@38: [30, 40] and [32.001, 42.001] end before 45 s, and so does its own
            // window [28, 38]: three updates dropped (4 so far). Only the window after
            // it, [38.001, 48.001] = {40}, is new and open.
            count("a", 38_001, 1, 40_000),
            // a@30 is dropped (5). a@55: a@40 is more than d back: [45, 55] = {55}.
            count("a", 45_000, 1, 55_000),
            count("a", 45_000, 2, 55_000),
        ],
        dropped_late: 5,
    });
}

/// `aggregate` and `reduce` see the same windows as `count`; a new record's window
/// starts from the aggregate of the window before it, not from the initializer.
#[test]
fn sliding_sums_and_maxima_and_the_window_store() {
    let builder = StreamsBuilder::new();
    let amounts = builder.stream::<String, u64>("amounts").group_by_key();
    let windows = SlidingWindows::of_time_difference_without_grace(Duration::from_secs(10));
    amounts
        .windowed_by_sliding(windows)
        .aggregate(|| 0u64, |_, amount, total| total + amount)
        .named("sums")
        .to_stream()
        .to("sums");
    amounts
        .windowed_by_sliding(windows)
        .reduce(|a, b| a.max(b))
        .named("maxima");
    let mut driver =
        TopologyTestDriver::new(builder.build().unwrap(), StreamsConfig::new("app")).unwrap();
    for (amount, at) in [(5u64, 20_000), (7, 25_000), (1, 28_000)] {
        driver
            .pipe_input("amounts", "k".to_string(), amount, at)
            .unwrap();
        driver.restart().unwrap();
    }
    let sums: Vec<(i64, i64, u64)> = driver
        .read_key_values::<Windowed<String>, u64>("sums")
        .unwrap()
        .into_iter()
        .map(|(w, sum)| (w.window.start_ms, w.window.end_ms, sum))
        .collect();
    assert_eq!(
        sums,
        vec![
            (10_000, 20_000, 5),
            // 7@25: the window after 5@20 opens with 7; its own window is 5 + 7.
            (20_001, 30_001, 7),
            (15_000, 25_000, 12),
            // 1@28: it joins [20.001, 30.001]; the window after 7@25 opens with it; its
            // own window [18, 28] holds 5, 7 and 1.
            (20_001, 30_001, 8),
            (25_001, 35_001, 1),
            (18_000, 28_000, 13),
        ]
    );
    let window = |start: i64| Windowed {
        key: "k".to_string(),
        window: Window::new(start, start + 10_000),
    };
    assert_eq!(
        driver.window_store::<String, u64>("maxima").unwrap(),
        vec![
            (window(10_000), 5),
            (window(15_000), 7),
            (window(18_000), 7),
            (window(20_001), 7),
            (window(25_001), 1),
        ]
    );
}
