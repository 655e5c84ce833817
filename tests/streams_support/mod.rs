//! What the word-count tests of the streams runtime share (`tests/streams_recovery.rs`,
//! `tests/streams_crash_points.rs`, `tests/streams_cooperative.rs`, …): deterministic
//! input lines, the counts an uninterrupted run over them produces, and the waits on a
//! running application's output and commits.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use eddy::client::{Admin, Consumer, Producer, ProducerConfig, ProducerRecord, StartOffset};

/// Bound of every wait for counts or commits.
pub const WAIT_LIMIT: Duration = Duration::from_secs(90);
/// Pause between two reads while waiting.
pub const POLL: Duration = Duration::from_millis(200);

/// A word-count application's topics and group, as a test feeds and reads them.
// Each test binary uses the part it needs.
#[allow(dead_code)]
pub struct WordCountRun {
    /// The input topic (lines keyed `line-<n>`).
    pub input: &'static str,
    /// The output topic (word → 8-byte big-endian count).
    pub output: &'static str,
    /// The application id (its consumer group).
    pub app: &'static str,
    /// Partitions of the input and output topics.
    pub partitions: i32,
}

#[allow(dead_code)]
impl WordCountRun {
    pub async fn produce(&self, bootstrap: &str, first_index: usize, lines: &[String]) {
        let mut producer = Producer::connect(bootstrap, ProducerConfig::default())
            .await
            .expect("producer connects");
        for (i, line) in lines.iter().enumerate() {
            let record = ProducerRecord::new(self.input, line.clone())
                .with_key(format!("line-{}", first_index + i));
            producer.send(record).await.expect("send a line");
        }
        producer.flush().await.expect("flush the lines");
    }

    /// The latest count per word in the output topic (all partitions, read to their end).
    pub async fn latest_counts(&self, bootstrap: &str) -> Result<BTreeMap<String, u64>, String> {
        let mut consumer = Consumer::connect(bootstrap)
            .await
            .map_err(|e| e.to_string())?;
        let partitions: Vec<i32> = (0..self.partitions).collect();
        consumer
            .assign(self.output, &partitions, StartOffset::Earliest)
            .await
            .map_err(|e| e.to_string())?;
        let mut counts = BTreeMap::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            for r in consumer.poll(POLL).await.map_err(|e| e.to_string())? {
                let key =
                    String::from_utf8_lossy(r.key.as_deref().unwrap_or_default()).into_owned();
                let value = r
                    .value
                    .as_deref()
                    .and_then(|v| v.try_into().ok())
                    .map(u64::from_be_bytes)
                    .ok_or_else(|| format!("output value of {key} is not an 8-byte count"))?;
                counts.insert(key, value);
            }
            let caught_up = partitions.iter().all(|p| {
                consumer.position(self.output, *p).unwrap_or(0)
                    >= consumer.high_watermark(self.output, *p).unwrap_or(i64::MAX)
            });
            if caught_up {
                return Ok(counts);
            }
            if Instant::now() >= deadline {
                return Err("the output topic was not read to its end in time".into());
            }
        }
    }

    /// Waits until the output shows exactly `expected`; fails fast on an over-count.
    pub async fn wait_for_counts(
        &self,
        bootstrap: &str,
        expected: &BTreeMap<String, u64>,
        what: &str,
    ) {
        let deadline = Instant::now() + WAIT_LIMIT;
        let mut last = Err("not read yet".to_string());
        while Instant::now() < deadline {
            last = self.latest_counts(bootstrap).await;
            if let Ok(counts) = &last {
                if counts == expected {
                    return;
                }
                let over: Vec<_> = counts
                    .iter()
                    .filter(|(w, c)| **c > expected.get(*w).copied().unwrap_or(0))
                    .collect();
                assert!(
                    over.is_empty(),
                    "{what}: words counted more often than they occur: {over:?}"
                );
            }
            tokio::time::sleep(POLL).await;
        }
        panic!("{what}: counts did not reach the expected ones within {WAIT_LIMIT:?}\nexpected {expected:?}\nlast read {last:?}");
    }

    /// Waits until the application's group has committed the whole input half it was given
    /// (`input_records`) and every committed partition (input and repartition topic) has no lag.
    pub async fn wait_for_commits(&self, bootstrap: &str, input_records: i64) {
        let deadline = Instant::now() + WAIT_LIMIT;
        let mut last = String::new();
        while Instant::now() < deadline {
            match Admin::connect(bootstrap).await {
                Ok(mut admin) => match admin.group_offsets(self.app).await {
                    Ok(offsets) => {
                        let input: i64 = offsets
                            .iter()
                            .filter(|o| o.topic == self.input)
                            .map(|o| o.committed_offset)
                            .sum();
                        if input == input_records && offsets.iter().all(|o| o.lag == Some(0)) {
                            return;
                        }
                        last = format!("{offsets:?}");
                    }
                    Err(err) => last = err.to_string(),
                },
                Err(err) => last = err.to_string(),
            }
            tokio::time::sleep(POLL).await;
        }
        panic!("the application did not commit its input within {WAIT_LIMIT:?}; last: {last}");
    }
}

/// Words a line draws from: `w00`..`w39`.
pub const VOCABULARY: u64 = 40;
/// Each line has 1..=this many words.
pub const WORDS_PER_LINE_MAX: u64 = 6;

/// `count` deterministic lines of 1..=`WORDS_PER_LINE_MAX` words from the vocabulary; the
/// same `seed` gives the same lines.
pub fn lines(seed: u64, count: usize) -> Vec<String> {
    let mut state = seed;
    let mut next = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        state >> 33
    };
    (0..count)
        .map(|_| {
            let n = 1 + next() % WORDS_PER_LINE_MAX;
            (0..n)
                .map(|_| format!("w{:02}", next() % VOCABULARY))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

/// The exact counts of an uninterrupted run over `lines`.
pub fn expected_counts(lines: &[String]) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for word in lines.iter().flat_map(|l| l.split_whitespace()) {
        *counts.entry(word.to_string()).or_insert(0) += 1;
    }
    counts
}
