//! Topology tests as data: a topology, the input records, and the golden output. Each
//! case runs straight through, then once with a restart before every input record (the
//! driver rebuilds the stores from the changelog and restores stream time); every run
//! must give the golden output.

#![allow(dead_code)]

use std::fmt;

use eddy_topologies::{StreamsConfig, Topology, TopologyTestDriver};

/// One record, as bytes, with Kafka's nullable key and value.
#[derive(Clone, PartialEq, Eq)]
pub struct Rec {
    pub topic: String,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub timestamp: i64,
}

/// A string.
pub fn s(text: &str) -> Option<Vec<u8>> {
    Some(text.as_bytes().to_vec())
}

/// A long, as `Serdes::long()` writes it.
pub fn long(n: u64) -> Option<Vec<u8>> {
    Some(n.to_be_bytes().to_vec())
}

/// A windowed string key, as `Serdes::windowed(Serdes::string(), ..)` writes it.
pub fn windowed(key: &str, start_ms: i64) -> Option<Vec<u8>> {
    let mut bytes = key.as_bytes().to_vec();
    bytes.extend_from_slice(&start_ms.to_be_bytes());
    Some(bytes)
}

pub fn rec(topic: &str, key: Option<Vec<u8>>, value: Option<Vec<u8>>, timestamp: i64) -> Rec {
    Rec {
        topic: topic.to_string(),
        key,
        value,
        timestamp,
    }
}

fn show(bytes: &Option<Vec<u8>>) -> String {
    match bytes {
        None => "null".to_string(),
        Some(b) => match std::str::from_utf8(b) {
            Ok(text) if !text.chars().any(char::is_control) => format!("{text:?}"),
            _ => format!(
                "0x{}",
                b.iter().map(|x| format!("{x:02x}")).collect::<String>()
            ),
        },
    }
}

impl fmt::Debug for Rec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} → {} @{}",
            self.topic,
            show(&self.key),
            show(&self.value),
            self.timestamp
        )
    }
}

pub struct Case {
    pub name: &'static str,
    pub topology: fn() -> Topology,
    pub inputs: Vec<Rec>,
    /// The topics whose records are compared, in this order after each input.
    pub outputs: Vec<&'static str>,
    pub golden: Vec<Rec>,
    /// Records dropped for arriving after their window closed.
    pub dropped_late: u64,
}

/// Pipes the inputs (restarting before input `restart_before`, if any) and collects the
/// output topics after each input.
pub fn run(case: &Case, restart_before: Option<usize>) -> (Vec<Rec>, u64) {
    let mut driver =
        TopologyTestDriver::new((case.topology)(), StreamsConfig::new("app")).expect("driver");
    let mut out = Vec::new();
    for (i, input) in case.inputs.iter().enumerate() {
        if restart_before == Some(i) {
            driver.restart().expect("restart");
        }
        driver
            .pipe_raw(
                &input.topic,
                input.key.clone(),
                input.value.clone(),
                input.timestamp,
                Vec::new(),
            )
            .expect("pipe");
        for topic in &case.outputs {
            out.extend(
                driver
                    .read_raw(topic)
                    .into_iter()
                    .map(|r| rec(&r.topic, r.key, r.value, r.timestamp)),
            );
        }
    }
    (out, driver.dropped_late_records())
}

/// Checks the golden output, straight and with a restart before each input.
pub fn check(case: &Case) {
    let (out, dropped) = run(case, None);
    assert_eq!(out, case.golden, "{}: output", case.name);
    assert_eq!(
        dropped, case.dropped_late,
        "{}: dropped late records",
        case.name
    );
    for at in 1..case.inputs.len() {
        let (out, dropped) = run(case, Some(at));
        assert_eq!(
            out, case.golden,
            "{}: output with a restart before input {at}",
            case.name
        );
        assert_eq!(
            dropped, case.dropped_late,
            "{}: dropped with a restart before input {at}",
            case.name
        );
    }
}
