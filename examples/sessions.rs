//! User activity sessions: clicks from `user-clicks` (key: the user; value: the page) are
//! grouped into sessions that end after 5 minutes without a click, and the click count of
//! each session is written to `user-sessions`. Keys are written as Kafka's
//! session-windowed serde writes them (the user, then the session's last and first click
//! time as 8-byte big-endian milliseconds); values are the count as an 8-byte big-endian
//! integer, like Kafka's LongSerde. A click that bridges two sessions merges them: the
//! old sessions are deleted (tombstones) and the merged one is written.
//!
//! `cargo run --example sessions` runs on an embedded single-node cluster, feeds sample
//! clicks (one of them late-arriving and bridging two sessions, one too late to count)
//! and prints the sessions. With `--bootstrap-server 127.0.0.1:9092` it runs against a
//! running node until Ctrl-C; feed it with
//! `echo "alice:/home" | kcat -b 127.0.0.1:9092 -P -t user-clicks -K:` and watch with
//! `kcat -b 127.0.0.1:9092 -C -t user-sessions -s value=Q -f '%k %s\n'`.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::Parser;
use eddy::catalog::sessions::{self, CLICKS, SESSIONS};
use eddy::client::{Producer, ProducerConfig, ProducerRecord};
use eddy::streams::{KafkaStreams, StreamsSettings};

const MINUTE_MS: i64 = 60_000;

/// User sessions on Eddy.
#[derive(Parser)]
struct Args {
    #[command(flatten)]
    cluster: common::ClusterArgs,
    /// The application id (consumer group and internal-topic prefix).
    #[arg(long, default_value = "user-sessions-app")]
    application_id: String,
}

/// The sample clicks: (user, time after the base in seconds, page), in the order they
/// arrive.
const SAMPLE_CLICKS: [(&str, i64, &str); 11] = [
    ("alice", 0, "/home"),
    ("alice", 90, "/search"),
    ("bob", 120, "/home"),
    ("alice", 240, "/product/42"),
    ("bob", 360, "/cart"),
    // 5½ minutes after alice's last click: a new session.
    ("alice", 570, "/home"),
    // Arrives late, but within 5 minutes of both of alice's sessions: merges them.
    ("alice", 420, "/product/7"),
    ("carol", 1_260, "/home"),
    ("alice", 1_800, "/home"),
    ("bob", 1_860, "/home"),
    // Its session ended long before stream time minus grace: dropped and counted.
    ("alice", 120, "/search"),
];

/// A minute-aligned base an hour in the past, so the clicks are recent (no retention
/// applies) while what the example prints stays the same.
fn base_ms() -> anyhow::Result<i64> {
    let now = i64::try_from(SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis())?;
    Ok(now / MINUTE_MS * MINUTE_MS - 60 * MINUTE_MS)
}

async fn feed(bootstrap: &str, base: i64) -> anyhow::Result<()> {
    let mut producer = Producer::connect(bootstrap, ProducerConfig::default()).await?;
    for (user, after_s, page) in SAMPLE_CLICKS {
        let mut record = ProducerRecord::new(CLICKS, page.to_string()).with_key(user.to_string());
        record.timestamp_ms = Some(base + after_s * 1_000);
        producer.send(record).await?;
    }
    producer.flush().await?;
    Ok(())
}

/// A session key as Kafka's session-windowed serde writes it: user ‖ end ‖ start.
fn session_key(bytes: &[u8]) -> Option<(String, i64, i64)> {
    let split = bytes.len().checked_sub(16)?;
    let (user, times) = bytes.split_at(split);
    let end = i64::from_be_bytes(times[..8].try_into().ok()?);
    let start = i64::from_be_bytes(times[8..].try_into().ok()?);
    Some((String::from_utf8_lossy(user).into_owned(), start, end))
}

/// `mm:ss` after the base.
fn clock(base: i64, t: i64) -> String {
    let s = (t - base) / 1_000;
    format!("{:02}:{:02}", s / 60, s % 60)
}

async fn run(args: Args) -> anyhow::Result<()> {
    let cluster = common::Cluster::connect_or_embed(args.cluster)?;
    common::ensure_topics(&cluster.bootstrap, &[(CLICKS, 1, &[]), (SESSIONS, 1, &[])]).await?;
    // The topology is the stock catalog's `sessions` (`eddy topology run sessions`).
    let topology = sessions::topology(CLICKS, SESSIONS)?;
    println!("{}", topology.describe());
    let mut settings = StreamsSettings::new(&args.application_id, &cluster.bootstrap);
    settings.state_dir = cluster.state_dir();
    settings.commit_interval = Duration::from_millis(500);
    let streams = KafkaStreams::start(topology, settings).await?;
    if !cluster.embedded {
        return common::run_until_signal(streams).await;
    }
    let base = base_ms()?;
    feed(&cluster.bootstrap, base).await?;
    let records = common::read_until_quiet(
        &cluster.bootstrap,
        SESSIONS,
        Duration::from_secs(2),
        Duration::from_secs(30),
    )
    .await?;
    // Replay the updates: a tombstone deletes a session that was merged into another.
    let mut sessions = BTreeMap::new();
    for r in &records {
        let Some(session) = r.key.as_deref().and_then(session_key) else {
            continue;
        };
        match &r.value {
            Some(count) => {
                let count = u64::from_be_bytes(count.as_ref().try_into().unwrap_or([0; 8]));
                sessions.insert(session, count);
            }
            None => {
                sessions.remove(&session);
            }
        }
    }
    println!("sessions ({} updates, tombstones included):", records.len());
    let mut lines = Vec::new();
    for ((user, start, end), count) in &sessions {
        let line = format!(
            "{user}\t{}-{}\t{count}",
            clock(base, *start),
            clock(base, *end)
        );
        println!("{line}");
        lines.push(line);
    }
    if let Some((_, tasks)) = streams.report().await {
        for t in tasks {
            println!(
                "{}: processed {}, dropped late {}",
                t.supervision.name, t.processed_records, t.dropped_late_records
            );
        }
    }
    anyhow::ensure!(
        lines.len() == 5 && lines.contains(&"alice\t00:00-09:30\t5".to_string()),
        "expected 5 sessions, alice's first with 5 clicks; got {lines:?}"
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // The streams runtime's log from the start, so the embedded node's warnings show too
    // (KafkaStreams::start would install it otherwise).
    eddy::streams::init_default_logging();
    eddy::run(run(args))
}
