//! The `generator` source: records at a fixed rate, for demos and benchmarks.
//!
//! Settings: `topic`, `records.per.second` (over all tasks), `iterations` (records in
//! total over all tasks; -1 runs forever) and `quickstart`: `payments` (the seed's
//! example: key the payer, value `{"seq":…,"from":"Alice","to":"Bob","amount":200}`) or
//! `counter` (no key, the sequence number as text). With `tasks.max` = N, task i writes the
//! sequence numbers i, i+N, i+2N… at 1/N of the rate, so together the tasks write
//! 0, 1, 2… once each.
//!
//! Every record is a pure function of its sequence number, and the offset is the number of
//! records the task wrote (`{"count": n}` under the partition `{"task": i}`), so a
//! restarted generator goes on where it stopped and writes the same records it would have.
//! The rate is kept by a token bucket over the time since the task started: a slow
//! cluster makes it catch up in bursts of at most `batch.size`, never more.

use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use futures::FutureExt;
use serde_json::{json, Value};

use super::config::Quickstart;
use super::converter::Data;
use super::error::ConnectError;
use super::source::{
    Source, SourceBatch, SourceOffset, SourcePartition, SourceRecord, StoredOffsets,
};

/// The longest a poll sleeps waiting for the next record to be due.
const WAIT_MS_MAX: u64 = 100;
/// The people of the payments quickstart.
const PEOPLE: [&str; 8] = [
    "Alice", "Bob", "Carol", "Dave", "Erin", "Frank", "Grace", "Heidi",
];
/// The largest payment amount.
const AMOUNT_MAX: u64 = 500;

/// What one generator task writes, and how fast.
#[derive(Debug, Clone)]
pub struct GeneratorSettings {
    /// The topic.
    pub topic: String,
    /// Records per second over all tasks.
    pub records_per_second: u64,
    /// Records in total over all tasks, `None` for no end.
    pub iterations: Option<u64>,
    /// What to write.
    pub quickstart: Quickstart,
    /// The most records per batch.
    pub batch_size: usize,
    /// This task's index.
    pub task: u32,
    /// How many tasks share the work.
    pub tasks: u32,
}

/// One generator task.
#[derive(Debug)]
pub struct Generator {
    settings: GeneratorSettings,
    partition: SourcePartition,
    /// Records this task wrote so far (across restarts).
    count: u64,
    /// This task's share of the rate, records per second.
    rate: f64,
    /// This task's share of the iterations.
    limit: Option<u64>,
    /// When this incarnation started, and the count then (the token bucket's origin).
    origin: Option<(Instant, u64)>,
}

impl Generator {
    /// A generator task.
    pub fn new(settings: GeneratorSettings) -> Self {
        let tasks = u64::from(settings.tasks.max(1));
        let task = u64::from(settings.task);
        let mut partition = SourcePartition::new();
        partition.insert("task".to_owned(), json!(task));
        let rate = settings.records_per_second as f64 / tasks as f64;
        // Task i writes the sequence numbers below `iterations` that are ≡ i (mod tasks).
        let limit = settings
            .iterations
            .map(|n| n / tasks + u64::from(task < n % tasks));
        Self {
            settings,
            partition,
            count: 0,
            rate,
            limit,
            origin: None,
        }
    }

    /// The sequence number of this task's `index`-th record.
    fn sequence(&self, index: u64) -> u64 {
        index * u64::from(self.settings.tasks.max(1)) + u64::from(self.settings.task)
    }

    fn record(&self, seq: u64) -> SourceRecord {
        let (key, value) = match self.settings.quickstart {
            Quickstart::Counter => (Data::Null, Data::Text(seq.to_string())),
            Quickstart::Payments => {
                let mixed = mix(seq);
                let from = PEOPLE[(mixed % PEOPLE.len() as u64) as usize];
                let step = 1 + (mixed >> 8) % (PEOPLE.len() as u64 - 1);
                let to =
                    PEOPLE[((mixed % PEOPLE.len() as u64 + step) % PEOPLE.len() as u64) as usize];
                let amount = 1 + (mixed >> 16) % AMOUNT_MAX;
                let value = json!({"seq": seq, "from": from, "to": to, "amount": amount});
                (Data::Text(from.to_owned()), Data::Json(value))
            }
        };
        SourceRecord {
            topic: self.settings.topic.clone(),
            key,
            value,
            timestamp_ms: None,
            headers: Vec::new(),
        }
    }

    /// How many records are due now, and how long until the next one if none is.
    fn due(&mut self) -> (u64, Duration) {
        let (start, count_then) = *self.origin.get_or_insert((Instant::now(), self.count));
        let elapsed = start.elapsed().as_secs_f64();
        let allowed = count_then + (elapsed * self.rate) as u64;
        let due = allowed.saturating_sub(self.count);
        let next_at = (self.count + 1 - count_then) as f64 / self.rate;
        let wait = Duration::from_secs_f64((next_at - elapsed).max(0.0));
        (due, wait.min(Duration::from_millis(WAIT_MS_MAX)))
    }

    async fn next_batch(&mut self) -> Result<SourceBatch, ConnectError> {
        let remaining = self
            .limit
            .map_or(u64::MAX, |l| l.saturating_sub(self.count));
        if remaining == 0 {
            tokio::time::sleep(Duration::from_millis(WAIT_MS_MAX)).await;
            return Ok(SourceBatch {
                finished: true,
                ..SourceBatch::default()
            });
        }
        let (due, wait) = self.due();
        if due == 0 {
            tokio::time::sleep(wait).await;
            return Ok(SourceBatch::default());
        }
        let n = due.min(remaining).min(self.settings.batch_size as u64);
        let records = (self.count..self.count + n)
            .map(|index| self.record(self.sequence(index)))
            .collect();
        self.count += n;
        let mut offset = SourceOffset::new();
        offset.insert("count".to_owned(), json!(self.count));
        Ok(SourceBatch {
            records,
            offsets: vec![(self.partition.clone(), offset)],
            finished: false,
        })
    }
}

impl Source for Generator {
    fn start<'a>(
        &'a mut self,
        offsets: &'a StoredOffsets,
    ) -> BoxFuture<'a, Result<(), ConnectError>> {
        async move {
            self.count = offsets
                .get(&self.partition)
                .and_then(|o| o.get("count"))
                .and_then(Value::as_u64)
                .unwrap_or(0);
            self.origin = None;
            Ok(())
        }
        .boxed()
    }

    fn poll(&mut self) -> BoxFuture<'_, Result<SourceBatch, ConnectError>> {
        self.next_batch().boxed()
    }
}

/// SplitMix64's finalizer: spreads a sequence number over 64 bits.
fn mix(seq: u64) -> u64 {
    let mut z = seq.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(task: u32, tasks: u32, iterations: Option<u64>) -> GeneratorSettings {
        GeneratorSettings {
            topic: "t".into(),
            records_per_second: 1_000_000,
            iterations,
            quickstart: Quickstart::Counter,
            batch_size: 1_000,
            task,
            tasks,
        }
    }

    async fn drain(generator: &mut Generator) -> Vec<u64> {
        let mut seqs = Vec::new();
        loop {
            let batch = generator.poll().await.unwrap();
            if batch.finished {
                return seqs;
            }
            for r in batch.records {
                let Data::Text(text) = r.value else {
                    panic!("counter writes text")
                };
                seqs.push(text.parse().unwrap());
            }
        }
    }

    #[tokio::test]
    async fn tasks_share_the_sequence_exactly() {
        let mut all = Vec::new();
        for task in 0..3 {
            let mut g = Generator::new(settings(task, 3, Some(10)));
            g.start(&StoredOffsets::default()).await.unwrap();
            all.extend(drain(&mut g).await);
        }
        all.sort_unstable();
        assert_eq!(all, (0..10).collect::<Vec<u64>>());
    }

    #[tokio::test]
    async fn resumes_from_its_offset() {
        let mut g = Generator::new(settings(0, 1, Some(2_500)));
        g.start(&StoredOffsets::default()).await.unwrap();
        let mut batch = g.poll().await.unwrap();
        while batch.records.is_empty() {
            batch = g.poll().await.unwrap();
        }
        let mut stored = StoredOffsets::default();
        let (partition, offset) = batch.offsets[0].clone();
        stored.insert(&partition, Some(offset));
        let written = batch.records.len() as u64;
        let mut restarted = Generator::new(settings(0, 1, Some(2_500)));
        restarted.start(&stored).await.unwrap();
        let rest = drain(&mut restarted).await;
        assert_eq!(rest.first(), Some(&written));
        assert_eq!(rest.len() as u64 + written, 2_500);
    }

    #[test]
    fn payments_are_deterministic_and_never_to_oneself() {
        let mut s = settings(0, 1, None);
        s.quickstart = Quickstart::Payments;
        let g = Generator::new(s);
        for seq in 0..1_000 {
            let r = g.record(seq);
            assert_eq!(r, g.record(seq));
            let Data::Json(value) = &r.value else {
                panic!("payments are JSON")
            };
            assert_ne!(value["from"], value["to"], "{value}");
            assert_eq!(
                r.key,
                Data::Text(value["from"].as_str().unwrap().to_owned())
            );
        }
    }

    /// The generator never runs ahead of its rate: after every poll, the records so far
    /// are at most what the rate allows since the start. A loaded machine only makes it
    /// slower, which this cannot fail on; how long the records took is printed instead.
    #[tokio::test]
    async fn keeps_the_rate() {
        const RATE_PER_S: u64 = 200;
        const RECORDS: usize = 100;
        const TIMEOUT: Duration = Duration::from_secs(30);
        let mut s = settings(0, 1, None);
        s.records_per_second = RATE_PER_S;
        let mut g = Generator::new(s);
        g.start(&StoredOffsets::default()).await.unwrap();
        let start = Instant::now();
        let mut n = 0;
        while n < RECORDS {
            assert!(
                start.elapsed() < TIMEOUT,
                "only {n} records in {TIMEOUT:?} at {RATE_PER_S}/s"
            );
            n += g.poll().await.unwrap().records.len();
            let allowed = start.elapsed().as_secs_f64() * RATE_PER_S as f64;
            assert!(
                n as f64 <= allowed + 1.0,
                "{n} records after {:?} at {RATE_PER_S}/s: ahead of the rate",
                start.elapsed()
            );
        }
        println!("{n} records in {:?} at {RATE_PER_S}/s", start.elapsed());
    }
}
