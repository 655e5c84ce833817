//! Stream processing throughput, CPU cost and end-to-end latency on one embedded node
//! (`NodeThread`), with the application (`KafkaStreams`) in this process. Two workloads,
//! each on a fresh node, over `EDDY_BENCH_STREAMS_RECORDS` input records (default
//! 1,000,000), each into a 1-partition input topic:
//! - `wordcount`: lines of a few words from a small vocabulary, counted per word as in
//!   `examples/wordcount.rs` (split, repartition by word, count). An input record is a
//!   line; the counting task processes the words;
//! - `windowed`: events keyed by one of `USERS` user ids with an amount as value, summed per
//!   user in 1-minute tumbling windows without grace. Event time advances `EVENT_STEP_MS`
//!   per event, so many windows open and close.
//!
//! Each workload reports:
//! - throughput: input records per second from the first send until the output topic shows
//!   every key's final value (every word's count; every user's total in every window);
//! - CPU cost: the process's user + system CPU time over that same interval, and input
//!   records per CPU-second. The broker runs in this process, so that CPU time covers the
//!   broker, the application, the producer and the output reader together;
//! - end-to-end latency under load: every `MARK_EVERY`-th input record carries a key of its
//!   own (a word `mark<i>`; a user id no other event has, whose only window total is
//!   therefore the first output record with that key), timed from just before its send
//!   until that output record arrives, p50 / p99 / max — it includes the backlog;
//! - the same latency unloaded: `PROBES` records sent one at a time, each awaited.
//!
//! A run stops early, with the tasks' report, when a task gives up past its restart limit,
//! and is bounded by `RUN_LIMIT_BASE` plus the input's time at `THROUGHPUT_MIN_PER_S`.
//!
//! Run: `cargo bench --bench streams`. `EDDY_BENCH_STREAMS_WORKLOAD=wordcount|windowed|all`
//! (default all) picks the workloads. Not a criterion bench: one run, figures printed, and
//! a summary block per workload at the end.

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use eddy::actors::supervision::ChildState;
use eddy::client::{
    Admin, ConsumedRecord, Consumer, Producer, ProducerConfig, ProducerRecord, StartOffset,
};
use eddy::streams::{KafkaStreams, StreamsSettings};
use eddy::topologies::{StreamsBuilder, TimeWindows, Topology};
use embedded::{cpu_time, embedded_node, run_size};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};

mod embedded;

const RECORDS_DEFAULT: usize = 1_000_000;
/// Input records per workload under `cargo test --benches`, which only checks that it runs.
const RECORDS_TEST: usize = 2_000;
/// One input record in this many carries a marker key whose output time is measured.
const MARK_EVERY: usize = 1_000;
/// Records sent one at a time after the run, for the latency of an idle application.
const PROBES: usize = 100;
const PROBE_LIMIT: Duration = Duration::from_secs(30);
/// Bound of a run, from the first send until the output is complete: this much, plus
/// the time the input takes at `THROUGHPUT_MIN_PER_S`.
const RUN_LIMIT_BASE: Duration = Duration::from_secs(300);
const THROUGHPUT_MIN_PER_S: usize = 2_000;
const OUTPUT_POLL: Duration = Duration::from_millis(50);
/// How often the output reader checks that no task has given up, to fail fast.
const TASK_CHECK_INTERVAL: Duration = Duration::from_secs(5);
const COMMIT_INTERVAL: Duration = Duration::from_millis(1_000);
const LINES: &str = "bench-lines";
const COUNTS: &str = "bench-counts";
const VOCABULARY: u64 = 1_000;
const WORDS_PER_LINE_MAX: u64 = 4;

const EVENTS: &str = "bench-events";
const TOTALS: &str = "bench-totals";
/// Regular user ids; marker and probe users are numbered from here on.
const USERS: u64 = 2_000;
const WINDOW_MS: i64 = 60_000;
/// Event time between two events: 10,000 events, about 5 per user, in a 1-minute window.
const EVENT_STEP_MS: i64 = 6;
const AMOUNT_MAX: u64 = 100;

/// One input record, and the mark it carries if it is timed.
struct Input {
    record: ProducerRecord,
    mark: Option<u64>,
}

/// What the shared run needs from a workload. Its output values are 8-byte big-endian
/// counts or sums.
trait Workload {
    type Key: Hash + Eq;
    const NAME: &'static str;
    const INPUT: &'static str;
    const OUTPUT: &'static str;
    /// What an input record is, plural.
    const INPUT_UNIT: &'static str;

    fn topology(&self) -> Topology;
    /// The number of input records.
    fn records(&self) -> usize;
    /// The final value of every output key.
    fn expected(&self) -> HashMap<Self::Key, u64>;
    /// The input; called once, after `expected`.
    fn inputs(&mut self) -> Box<dyn Iterator<Item = Input>>;
    /// Records the tasks process beside the input records, with their name, if any.
    fn secondary(&self) -> Option<(&'static str, u64)>;
    fn output_key(&self, key: &[u8]) -> Option<Self::Key>;
    fn mark_of(&self, key: &Self::Key) -> Option<u64>;
    /// The `index`-th unloaded probe, and the output key that shows it was processed.
    fn probe(&self, index: usize) -> (ProducerRecord, Self::Key);
}

/// A deterministic generator (a 64-bit LCG), so every run sends the same input.
struct Generator {
    state: u64,
}

impl Generator {
    const SEED: u64 = 0x9e37_79b9_7f4a_7c15;

    fn new() -> Self {
        Generator { state: Self::SEED }
    }

    fn next_u64(&mut self) -> u64 {
        self.state = self
            .state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.state >> 33
    }

    fn line(&mut self) -> String {
        let n = 1 + self.next_u64() % WORDS_PER_LINE_MAX;
        (0..n)
            .map(|_| format!("w{}", self.next_u64() % VOCABULARY))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Word count; the lines are generated before the run so that the timed loop only sends.
struct WordCount {
    lines: Vec<String>,
    words: u64,
}

impl WordCount {
    fn new(records: usize) -> Self {
        let mut generator = Generator::new();
        let lines: Vec<String> = (0..records)
            .map(|i| {
                let mut line = generator.line();
                if i % MARK_EVERY == 0 {
                    line.push_str(&format!(" mark{i}"));
                }
                line
            })
            .collect();
        let words = lines
            .iter()
            .map(|l| l.split_whitespace().count() as u64)
            .sum();
        WordCount { lines, words }
    }
}

impl Workload for WordCount {
    type Key = String;
    const NAME: &'static str = "wordcount";
    const INPUT: &'static str = LINES;
    const OUTPUT: &'static str = COUNTS;
    const INPUT_UNIT: &'static str = "lines";

    fn topology(&self) -> Topology {
        let builder = StreamsBuilder::new();
        builder
            .stream::<String, String>(LINES)
            .flat_map_values(|line| {
                line.split_whitespace()
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
            .group_by(|_, word| word.clone())
            .count()
            .named("counts")
            .to_stream()
            .to(COUNTS);
        builder.build().expect("topology builds")
    }

    fn records(&self) -> usize {
        self.lines.len()
    }

    fn expected(&self) -> HashMap<String, u64> {
        let mut expected = HashMap::new();
        for word in self.lines.iter().flat_map(|l| l.split_whitespace()) {
            *expected.entry(word.to_string()).or_insert(0) += 1;
        }
        expected
    }

    fn inputs(&mut self) -> Box<dyn Iterator<Item = Input>> {
        let lines = std::mem::take(&mut self.lines);
        Box::new(lines.into_iter().enumerate().map(|(i, line)| Input {
            record: ProducerRecord::new(LINES, line),
            mark: (i % MARK_EVERY == 0).then_some(i as u64),
        }))
    }

    fn secondary(&self) -> Option<(&'static str, u64)> {
        Some(("words (records of the counting task)", self.words))
    }

    fn output_key(&self, key: &[u8]) -> Option<String> {
        String::from_utf8(key.to_vec()).ok()
    }

    fn mark_of(&self, word: &String) -> Option<u64> {
        word.strip_prefix("mark")?.parse().ok()
    }

    fn probe(&self, index: usize) -> (ProducerRecord, String) {
        let word = format!("probe{index}");
        (ProducerRecord::new(LINES, word.clone()), word)
    }
}

/// Amounts per user in 1-minute windows. Event `i` has event time `t0_ms + i *
/// EVENT_STEP_MS`; marker event `i` has the user id `USERS + i`, probe `p` the user id
/// `USERS + records + p`: ids no other record has.
struct Windowed {
    records: usize,
    t0_ms: i64,
}

/// A user id and the start of a window.
type UserWindow = (u64, i64);

struct Event {
    user: u64,
    amount: u64,
    timestamp_ms: i64,
}

impl Windowed {
    fn new(records: usize) -> Self {
        // Event time starts now, not at a fixed date: the topics' time retention would
        // delete batches dated years back.
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        Windowed {
            records,
            t0_ms: now_ms - now_ms.rem_euclid(WINDOW_MS),
        }
    }

    fn events(&self) -> impl Iterator<Item = Event> {
        let t0_ms = self.t0_ms;
        let mut generator = Generator::new();
        (0..self.records).map(move |i| {
            let user = generator.next_u64() % USERS;
            let amount = 1 + generator.next_u64() % AMOUNT_MAX;
            Event {
                user: if i % MARK_EVERY == 0 {
                    USERS + i as u64
                } else {
                    user
                },
                amount,
                timestamp_ms: t0_ms + i as i64 * EVENT_STEP_MS,
            }
        })
    }

    fn record(event: &Event) -> ProducerRecord {
        let mut record = ProducerRecord::new(EVENTS, event.amount.to_be_bytes().to_vec())
            .with_key(format!("u{}", event.user));
        record.timestamp_ms = Some(event.timestamp_ms);
        record
    }
}

fn window_start(timestamp_ms: i64) -> i64 {
    timestamp_ms - timestamp_ms.rem_euclid(WINDOW_MS)
}

impl Workload for Windowed {
    type Key = UserWindow;
    const NAME: &'static str = "windowed";
    const INPUT: &'static str = EVENTS;
    const OUTPUT: &'static str = TOTALS;
    const INPUT_UNIT: &'static str = "events";

    fn topology(&self) -> Topology {
        let builder = StreamsBuilder::new();
        builder
            .stream::<String, u64>(EVENTS)
            .group_by_key()
            .windowed_by(TimeWindows::of(Duration::from_millis(WINDOW_MS as u64)))
            .aggregate(|| 0u64, |_, amount, total| total + amount)
            .named("totals")
            .to_stream()
            .to(TOTALS);
        builder.build().expect("topology builds")
    }

    fn records(&self) -> usize {
        self.records
    }

    fn expected(&self) -> HashMap<UserWindow, u64> {
        let mut expected = HashMap::new();
        for e in self.events() {
            *expected
                .entry((e.user, window_start(e.timestamp_ms)))
                .or_insert(0) += e.amount;
        }
        expected
    }

    fn inputs(&mut self) -> Box<dyn Iterator<Item = Input>> {
        Box::new(self.events().map(|e| Input {
            record: Self::record(&e),
            mark: (e.user >= USERS).then(|| e.user - USERS),
        }))
    }

    fn secondary(&self) -> Option<(&'static str, u64)> {
        None
    }

    /// A windowed key as Kafka's time-windowed serde writes it: the key, then the window
    /// start as 8 big-endian bytes.
    fn output_key(&self, key: &[u8]) -> Option<UserWindow> {
        let split = key.len().checked_sub(8)?;
        let start = i64::from_be_bytes(key[split..].try_into().ok()?);
        let user = std::str::from_utf8(&key[..split]).ok()?;
        Some((user.strip_prefix('u')?.parse().ok()?, start))
    }

    fn mark_of(&self, key: &UserWindow) -> Option<u64> {
        let mark = key.0.checked_sub(USERS)?;
        (mark < self.records as u64).then_some(mark)
    }

    fn probe(&self, index: usize) -> (ProducerRecord, UserWindow) {
        let event = Event {
            user: USERS + (self.records + index) as u64,
            amount: 1,
            timestamp_ms: self.t0_ms + (self.records + index) as i64 * EVENT_STEP_MS,
        };
        let key = (event.user, window_start(event.timestamp_ms));
        (Self::record(&event), key)
    }
}

/// Which output keys show their final value, updated one output record at a time.
struct Tracker<K> {
    expected: HashMap<K, u64>,
    latest: HashMap<K, u64>,
    at_final: usize,
    unexpected: u64,
}

impl<K: Hash + Eq> Tracker<K> {
    fn new(expected: HashMap<K, u64>) -> Self {
        Tracker {
            latest: HashMap::with_capacity(expected.len()),
            expected,
            at_final: 0,
            unexpected: 0,
        }
    }

    fn update(&mut self, key: K, value: u64) {
        let Some(&wanted) = self.expected.get(&key) else {
            self.unexpected += 1;
            return;
        };
        if self.latest.insert(key, value) == Some(wanted) {
            self.at_final -= 1;
        }
        if value == wanted {
            self.at_final += 1;
        }
    }

    fn complete(&self) -> bool {
        self.at_final == self.expected.len()
    }
}

/// What the output reader saw.
struct Watch {
    /// When the output became complete, and the process's CPU time then.
    done: Option<(Instant, Option<Duration>)>,
    /// Per marked record, from just before its send to its first output record; sorted.
    latencies: Vec<Duration>,
    at_final: usize,
    expected: usize,
    unexpected: u64,
}

async fn watch_output<W: Workload>(
    workload: &W,
    streams: &KafkaStreams,
    consumer: &mut Consumer,
    expected: HashMap<W::Key, u64>,
    mut marks: UnboundedReceiver<(u64, Instant)>,
    deadline: Instant,
) -> Watch {
    let mut tracker = Tracker::new(expected);
    let mut sent_at: HashMap<u64, Instant> = HashMap::new();
    let mut seen_at: HashMap<u64, Instant> = HashMap::new();
    let mut done = None;
    let mut checked = Instant::now();
    while Instant::now() < deadline {
        if checked.elapsed() >= TASK_CHECK_INTERVAL {
            if a_task_gave_up(streams).await {
                break;
            }
            checked = Instant::now();
        }
        let batch = consumer.poll(OUTPUT_POLL).await.expect("poll output");
        let now = Instant::now();
        while let Ok((mark, at)) = marks.try_recv() {
            sent_at.insert(mark, at);
        }
        for r in batch {
            let Some(key) = r.key.as_deref().and_then(|k| workload.output_key(k)) else {
                tracker.unexpected += 1;
                continue;
            };
            if let Some(mark) = workload.mark_of(&key) {
                seen_at.entry(mark).or_insert(now);
            }
            tracker.update(key, output_value(&r));
        }
        if tracker.complete() {
            done = Some((Instant::now(), cpu_time()));
            break;
        }
    }
    while let Ok((mark, at)) = marks.try_recv() {
        sent_at.insert(mark, at);
    }
    let mut latencies: Vec<Duration> = seen_at
        .iter()
        .filter_map(|(m, seen)| sent_at.get(m).map(|sent| seen.duration_since(*sent)))
        .collect();
    latencies.sort();
    Watch {
        done,
        latencies,
        at_final: tracker.at_final,
        expected: tracker.expected.len(),
        unexpected: tracker.unexpected,
    }
}

/// Whether a task failed past its restart limit: the output will not complete then.
async fn a_task_gave_up(streams: &KafkaStreams) -> bool {
    streams.report().await.is_some_and(|(_, tasks)| {
        tasks
            .iter()
            .any(|t| t.supervision.state == ChildState::Failed)
    })
}

fn output_value(r: &ConsumedRecord) -> u64 {
    r.value
        .as_deref()
        .and_then(|v| v.try_into().ok())
        .map(u64::from_be_bytes)
        .unwrap_or(0)
}

/// Sends every input record, then flushes; the time that took.
async fn produce(
    producer: &mut Producer,
    inputs: Box<dyn Iterator<Item = Input>>,
    marks: UnboundedSender<(u64, Instant)>,
    started: Instant,
) -> Duration {
    for input in inputs {
        if let Some(mark) = input.mark {
            // Sent without waiting for earlier batches: the mark leaves with the next flush.
            let _ = marks.send((mark, Instant::now()));
        }
        producer.send(input.record).await.expect("send");
    }
    producer.flush().await.expect("flush");
    started.elapsed()
}

/// Latency of an idle application: one record at a time, each sent, flushed, and awaited
/// in the output. Sorted.
async fn probe_latencies<W: Workload>(
    workload: &W,
    producer: &mut Producer,
    bootstrap: &str,
) -> Vec<Duration> {
    let mut consumer = Consumer::connect(bootstrap).await.expect("consumer");
    consumer
        .assign(W::OUTPUT, &[0], StartOffset::Latest)
        .await
        .expect("assign");
    let mut probes = Vec::with_capacity(PROBES);
    for i in 0..PROBES {
        let (record, key) = workload.probe(i);
        let sent = Instant::now();
        producer.send(record).await.expect("send probe");
        producer.flush().await.expect("flush probe");
        let deadline = sent + PROBE_LIMIT;
        'wait: loop {
            assert!(
                Instant::now() < deadline,
                "probe {i} not in the output in time"
            );
            for r in consumer
                .poll(Duration::from_millis(20))
                .await
                .expect("poll")
            {
                let got = r.key.as_deref().and_then(|k| workload.output_key(k));
                if got.is_some_and(|got| got == key) {
                    probes.push(sent.elapsed());
                    break 'wait;
                }
            }
        }
    }
    probes.sort();
    probes
}

/// The figures of one workload.
struct Figures {
    workload: &'static str,
    input_unit: &'static str,
    records: usize,
    secondary: Option<(&'static str, u64)>,
    output_keys: usize,
    produce: Duration,
    wall: Duration,
    cpu: Option<Duration>,
    loaded: Vec<Duration>,
    unloaded: Vec<Duration>,
}

async fn run<W: Workload>(mut workload: W, bootstrap: String, state_dir: PathBuf) -> Figures {
    let mut admin = Admin::connect(&bootstrap).await.expect("admin");
    for topic in [W::INPUT, W::OUTPUT] {
        admin.create_topic(topic, 1, 1, &[]).await.expect("topic");
    }
    let mut settings = StreamsSettings::new(&format!("bench-{}", W::NAME), &bootstrap);
    settings.commit_interval = COMMIT_INTERVAL;
    settings.state_dir = state_dir;
    let streams = KafkaStreams::start(workload.topology(), settings)
        .await
        .expect("streams start");
    let records = workload.records();
    let expected = workload.expected();
    let output_keys = expected.len();
    let inputs = workload.inputs();
    let mut consumer = Consumer::connect(&bootstrap).await.expect("consumer");
    consumer
        .assign(W::OUTPUT, &[0], StartOffset::Earliest)
        .await
        .expect("assign");
    let mut producer = Producer::connect(&bootstrap, ProducerConfig::default())
        .await
        .expect("producer");
    let (marks_tx, marks_rx) = tokio::sync::mpsc::unbounded_channel();
    let deadline = Instant::now() + RUN_LIMIT_BASE + run_time_max(records);
    let cpu_start = cpu_time();
    let started = Instant::now();
    // The output reader runs beside the producer, in the same task.
    let (produced, watch) = tokio::join!(
        produce(&mut producer, inputs, marks_tx, started),
        watch_output(
            &workload,
            &streams,
            &mut consumer,
            expected,
            marks_rx,
            deadline
        ),
    );
    let Some((done_at, cpu_done)) = watch.done else {
        let report = streams.report().await;
        panic!(
            "{} output incomplete (a task gave up, or the run limit passed): {} of {} keys at their final value, {} unexpected \
             records; {report:?}",
            W::NAME,
            watch.at_final,
            watch.expected,
            watch.unexpected
        );
    };
    let unloaded = probe_latencies(&workload, &mut producer, &bootstrap).await;
    print_tasks(W::NAME, &streams).await;
    Figures {
        workload: W::NAME,
        input_unit: W::INPUT_UNIT,
        records,
        secondary: workload.secondary(),
        output_keys,
        produce: produced,
        wall: done_at.duration_since(started),
        cpu: cpu_start.zip(cpu_done).map(|(a, b)| b.saturating_sub(a)),
        loaded: watch.latencies,
        unloaded,
    }
}

fn run_time_max(records: usize) -> Duration {
    Duration::from_secs((records / THROUGHPUT_MIN_PER_S) as u64)
}

async fn print_tasks(workload: &str, streams: &KafkaStreams) {
    if let Some((_, tasks)) = streams.report().await {
        let per_task: BTreeMap<String, u64> = tasks
            .iter()
            .map(|t| (t.supervision.name.clone(), t.processed_records))
            .collect();
        let restarts: u64 = tasks.iter().map(|t| t.supervision.restarts).sum();
        let late: u64 = tasks.iter().map(|t| t.dropped_late_records).sum();
        println!(
            "{workload}: processed records (last commit) per task: {per_task:?}; restarts \
             {restarts}; late records dropped {late}"
        );
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn latency_line(sorted: &[Duration]) -> String {
    format!(
        "p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        ms(percentile(sorted, 50.0)),
        ms(percentile(sorted, 99.0)),
        ms(sorted.last().copied().unwrap_or_default()),
    )
}

impl Figures {
    /// A block to paste into the docs.
    fn print_summary(&self, cores: usize) {
        let wall = self.wall.as_secs_f64();
        let unit = self.input_unit;
        println!();
        println!(
            "streams bench: {} on 1 node, application in the same process, {cores} cores \
             available",
            self.workload
        );
        let cpu_s = self.cpu.map(|c| c.as_secs_f64());
        let rates = |n: u64, unit: &str| {
            let per_cpu = cpu_s
                .map(|c| format!("{:.0} {unit}/CPU-s", n as f64 / c))
                .unwrap_or_else(|| "n/a (getrusage failed)".into());
            format!("{:.0} {unit}/s wall, {per_cpu}", n as f64 / wall)
        };
        println!("  input records ({unit}): {}", self.records);
        if let Some((label, count)) = self.secondary {
            println!("  {label}: {count}");
        }
        println!("  output keys (final values awaited): {}", self.output_keys);
        println!(
            "  produce time (first send -> all sent and flushed): {:.2} s",
            self.produce.as_secs_f64()
        );
        println!("  wall time (first send -> every final value visible): {wall:.2} s");
        match cpu_s {
            Some(c) => println!(
                "  CPU time, whole process (broker + application + clients): {c:.2} s = {:.2} \
                 cores busy on average",
                c / wall
            ),
            None => println!("  CPU time: n/a (getrusage failed)"),
        }
        println!(
            "  throughput, input records: {}",
            rates(self.records as u64, unit)
        );
        if let Some((label, count)) = self.secondary {
            let short = label.split_whitespace().next().unwrap_or(label);
            println!("  throughput, {short}: {}", rates(count, short));
        }
        println!(
            "  latency send -> output visible, under load ({} marked records): {}",
            self.loaded.len(),
            latency_line(&self.loaded)
        );
        println!(
            "  latency send -> output visible, unloaded ({} probes, one at a time): {}",
            self.unloaded.len(),
            latency_line(&self.unloaded)
        );
    }
}

/// Runs one workload on a node of its own, in an actix system of its own, so that the
/// previous workload's node and tasks are gone.
fn on_fresh_node<W: Workload>(workload: W) -> Figures {
    let (dir, node) = embedded_node();
    let bootstrap = node.kafka_addr.to_string();
    let state_dir = dir.path().join("streams-state");
    let figures = actix_rt::System::new().block_on(run(workload, bootstrap, state_dir));
    node.shutdown();
    println!(
        "{}: {} input records done in {:.2} s",
        figures.workload,
        figures.records,
        figures.wall.as_secs_f64()
    );
    figures
}

fn main() {
    let records = run_size("EDDY_BENCH_STREAMS_RECORDS", RECORDS_DEFAULT, RECORDS_TEST);
    let workload = std::env::var("EDDY_BENCH_STREAMS_WORKLOAD").unwrap_or_else(|_| "all".into());
    let (wordcount, windowed) = match workload.as_str() {
        "wordcount" => (true, false),
        "windowed" => (false, true),
        "all" => (true, true),
        other => panic!("EDDY_BENCH_STREAMS_WORKLOAD is wordcount, windowed or all, not {other:?}"),
    };
    let mut figures = Vec::new();
    if wordcount {
        figures.push(on_fresh_node(WordCount::new(records)));
    }
    if windowed {
        figures.push(on_fresh_node(Windowed::new(records)));
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    for f in &figures {
        f.print_summary(cores);
    }
}
