//! Session windows: sessions grow, merge (old sessions become tombstones), and late
//! records are dropped.

mod common;

use std::time::Duration;

use common::{check, long, rec, s, Case, Rec};
use eddy_topologies::{
    SessionWindows, StreamsBuilder, StreamsConfig, Topology, TopologyTestDriver, Window, Windowed,
};

fn sessions() -> Topology {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, String>("clicks")
        .group_by_key()
        .windowed_by_session(
            SessionWindows::with_inactivity_gap(Duration::from_secs(10))
                .grace(Duration::from_secs(5)),
        )
        .count()
        .named("sessions")
        .to_stream()
        .to("clicks-per-session");
    builder.build().expect("sessions build")
}

/// A session key as Kafka's session-windowed serde writes it: key ‖ end ‖ start.
fn session(key: &str, start: i64, end: i64) -> Option<Vec<u8>> {
    let mut bytes = key.as_bytes().to_vec();
    bytes.extend_from_slice(&end.to_be_bytes());
    bytes.extend_from_slice(&start.to_be_bytes());
    Some(bytes)
}

fn click(user: &str, at: i64) -> Rec {
    rec("clicks", s(user), s("/"), at)
}

fn out(user: &str, start: i64, end: i64, count: Option<u64>, at: i64) -> Rec {
    rec(
        "clicks-per-session",
        session(user, start, end),
        count.and_then(long),
        at,
    )
}

#[test]
fn sessions_merge_and_drop_late_records_across_restarts() {
    check(&Case {
        name: "sessions",
        topology: sessions,
        inputs: vec![
            click("u", 0),
            click("u", 4_000),
            click("u", 30_000),
            click("u", 20_000),
            // Its session would end at 1 s, before stream time (30 s) minus gap and grace.
            click("u", 1_000),
            click("v", 31_000),
        ],
        outputs: vec!["clicks-per-session"],
        golden: vec![
            out("u", 0, 0, Some(1), 0),
            out("u", 0, 0, None, 4_000),
            out("u", 0, 4_000, Some(2), 4_000),
            out("u", 30_000, 30_000, Some(1), 30_000),
            out("u", 30_000, 30_000, None, 20_000),
            out("u", 20_000, 30_000, Some(2), 30_000),
            out("v", 31_000, 31_000, Some(1), 31_000),
        ],
        dropped_late: 1,
    });
}

/// KAFKA-12718: a session closes at its end + gap + grace, not at its end + grace. With
/// a gap of 10 s and a grace of 5 s, stream time 30 s closes the sessions ending before
/// 15 s. Eddy used to drop every record whose session ended before 25 s.
#[test]
fn kafka_12718_sessions_close_after_gap_plus_grace() {
    check(&Case {
        name: "sessions-close-after-gap-plus-grace",
        topology: sessions,
        inputs: vec![
            click("u", 30_000),
            // Ends at 17 s, after the close time (15 s): a new session, not late.
            click("u", 17_000),
            // Ends at 4 s, before the close time: late.
            click("u", 4_000),
            // Ends exactly at the close time: still open.
            click("v", 15_000),
            // Ends 1 ms before the close time: late.
            click("w", 14_999),
        ],
        outputs: vec!["clicks-per-session"],
        golden: vec![
            out("u", 30_000, 30_000, Some(1), 30_000),
            out("u", 17_000, 17_000, Some(1), 17_000),
            out("v", 15_000, 15_000, Some(1), 15_000),
        ],
        dropped_late: 2,
    });
}

#[test]
fn the_session_store_keeps_live_sessions_only() {
    let mut driver = TopologyTestDriver::new(sessions(), StreamsConfig::new("app")).unwrap();
    for (user, at) in [("u", 0), ("u", 4_000), ("u", 30_000), ("v", 31_000)] {
        driver
            .pipe_input("clicks", user.to_string(), "/".to_string(), at)
            .unwrap();
    }
    let rows = driver.window_store::<String, u64>("sessions").unwrap();
    let expected = [("u", 30_000, 30_000, 1), ("v", 31_000, 31_000, 1)].map(|(k, s, e, n)| {
        (
            Windowed {
                key: k.to_string(),
                window: Window::new(s, e),
            },
            n,
        )
    });
    assert_eq!(rows, expected.to_vec());
}

#[test]
fn sessions_past_gap_plus_grace_no_longer_merge() {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, String>("clicks")
        .group_by_key()
        .windowed_by_session(SessionWindows::with_inactivity_gap(Duration::from_secs(5)))
        .count()
        .to_stream()
        .to("sessions");
    let mut driver =
        TopologyTestDriver::new(builder.build().unwrap(), StreamsConfig::new("app")).unwrap();
    for at in [1_000, 9_000, 5_000] {
        driver
            .pipe_input("clicks", "a".to_string(), "/".to_string(), at)
            .unwrap();
    }
    // At stream time 9 s the session [1 s, 1 s] is past its retention (gap 5 s, no
    // grace): the record at 5 s joins only [9 s, 9 s], which keeps it from being late.
    let out = driver
        .read_output::<Windowed<String>, u64>("sessions")
        .unwrap();
    let last = out.last().unwrap();
    assert_eq!(
        (last.key.window, last.value),
        (Window::new(5_000, 9_000), Some(2))
    );
    assert_eq!(driver.dropped_late_records(), 0);
}

#[test]
fn suppressed_sessions_are_final_only_after_gap_plus_grace() {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, String>("clicks")
        .group_by_key()
        .windowed_by_session(SessionWindows::with_inactivity_gap(Duration::from_secs(5)))
        .count()
        .suppress(eddy_topologies::Suppressed::until_window_closes())
        .to_stream()
        .to("final-sessions");
    let mut driver =
        TopologyTestDriver::new(builder.build().unwrap(), StreamsConfig::new("app")).unwrap();
    // At stream time 3 s, a's session [1 s, 1 s] has passed its end + grace (0) but not its
    // end + gap: the click at 4 s still merges into it, so it must not be final yet.
    for (user, at) in [("a", 1_000), ("b", 3_000), ("a", 4_000), ("b", 20_000)] {
        driver
            .pipe_input("clicks", user.to_string(), "/".to_string(), at)
            .unwrap();
    }
    let mut finals: Vec<(String, Window, Option<u64>)> = driver
        .read_output::<Windowed<String>, u64>("final-sessions")
        .unwrap()
        .into_iter()
        .map(|r| (r.key.key, r.key.window, r.value))
        .collect();
    finals.sort_by_key(|(k, w, _)| (k.clone(), w.start_ms));
    assert_eq!(
        finals,
        vec![
            ("a".to_string(), Window::new(1_000, 4_000), Some(2)),
            ("b".to_string(), Window::new(3_000, 3_000), Some(1)),
        ]
    );
}
