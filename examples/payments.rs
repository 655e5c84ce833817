//! The seed's event, end to end: payments keyed by user (key "Alice", value "made a payment
//! of 200 dollars to Bob") are totalled per user in 1-minute tumbling windows, and enriched
//! with the payer's details from a compacted `users` topic (a stream–table join).
//!
//! `cargo run --example payments` runs on an embedded single-node cluster, feeds sample
//! users and payments, and prints the totals and the enriched payments. With
//! `--bootstrap-server 127.0.0.1:9092` it runs against a running node until Ctrl-C.

mod common;

use std::time::Duration;

use clap::Parser;
use eddy::catalog::payments::{self, User, ENRICHED, PAYMENTS, TOTALS, USERS};
use eddy::client::{Producer, ProducerConfig, ProducerRecord};
use eddy::streams::{KafkaStreams, StreamsSettings};
/// 2020-06-25T14:06:00Z, the seed's example time.
const T0: i64 = 1_593_093_960_000;

/// Payments on Eddy.
#[derive(Parser)]
struct Args {
    #[command(flatten)]
    cluster: common::ClusterArgs,
    /// The application id (consumer group and internal-topic prefix).
    #[arg(long, default_value = "payments-app")]
    application_id: String,
}

async fn feed(bootstrap: &str) -> anyhow::Result<()> {
    let mut producer = Producer::connect(bootstrap, ProducerConfig::default()).await?;
    let users = [
        ("Alice", "Alice Liddell", "UK"),
        ("Bob", "Bob Marley", "JM"),
    ];
    for (id, name, country) in users {
        let user = serde_json::to_vec(&User {
            name: name.into(),
            country: country.into(),
        })?;
        // Event time drives the windows; stream time is per task (table and stream sides
        // alike), so the users carry the example's time too, not today's.
        let mut record = ProducerRecord::new(USERS, user).with_key(id.to_string());
        record.timestamp_ms = Some(T0);
        producer.send(record).await?;
    }
    producer.flush().await?;
    // Let the table side be read before the payments arrive.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let payments = [
        ("Alice", "made a payment of 200 dollars to Bob", 5_000),
        ("Bob", "made a payment of 50 dollars to Alice", 20_000),
        ("Alice", "made a payment of 100 dollars to Carol", 50_000),
        ("Alice", "made a payment of 30 dollars to Bob", 65_000),
    ];
    for (user, text, after_ms) in payments {
        let mut record = ProducerRecord::new(PAYMENTS, text.to_string()).with_key(user.to_string());
        record.timestamp_ms = Some(T0 + after_ms);
        producer.send(record).await?;
    }
    producer.flush().await?;
    Ok(())
}

/// A windowed key as Kafka's time-windowed serde writes it: the key, then the window start.
fn windowed_key(bytes: &[u8]) -> (String, i64) {
    let split = bytes.len().saturating_sub(8);
    let start = bytes[split..]
        .try_into()
        .map(i64::from_be_bytes)
        .unwrap_or(0);
    (String::from_utf8_lossy(&bytes[..split]).into_owned(), start)
}

async fn run(args: Args) -> anyhow::Result<()> {
    let cluster = common::Cluster::connect_or_embed(args.cluster)?;
    let compacted: &[(&str, &str)] = &[("cleanup.policy", "compact")];
    common::ensure_topics(
        &cluster.bootstrap,
        &[
            (PAYMENTS, 1, &[]),
            (USERS, 1, compacted),
            (TOTALS, 1, &[]),
            (ENRICHED, 1, &[]),
        ],
    )
    .await?;
    // The topology is the stock catalog's `payments` (`eddy topology run payments`).
    let topology = payments::topology(&payments::Topics::default())?;
    println!("{}", topology.describe());
    let mut settings = StreamsSettings::new(&args.application_id, &cluster.bootstrap);
    settings.state_dir = cluster.state_dir();
    settings.commit_interval = Duration::from_millis(500);
    let streams = KafkaStreams::start(topology, settings).await?;
    if !cluster.embedded {
        return common::run_until_signal(streams).await;
    }
    feed(&cluster.bootstrap).await?;
    let quiet = Duration::from_secs(2);
    let totals =
        common::read_until_quiet(&cluster.bootstrap, TOTALS, quiet, Duration::from_secs(30))
            .await?;
    println!("per-user totals per minute (every update):");
    for r in &totals {
        let (Some(key), Some(value)) = (&r.key, &r.value) else {
            continue;
        };
        let (user, start) = windowed_key(key);
        let total = u64::from_be_bytes(value.as_ref().try_into().unwrap_or([0; 8]));
        println!(
            "  {user:6} window +{:>3}s  total {total}",
            (start - T0) / 1000
        );
    }
    let enriched =
        common::read_until_quiet(&cluster.bootstrap, ENRICHED, quiet, Duration::from_secs(30))
            .await?;
    println!("payments enriched with the payer:");
    for r in &enriched {
        if let Some(value) = &r.value {
            println!("  {}", String::from_utf8_lossy(value));
        }
    }
    if let Some((_, tasks)) = streams.report().await {
        for t in tasks {
            println!(
                "{}: processed {}, dropped late {}, last error {:?}",
                t.supervision.name,
                t.processed_records,
                t.dropped_late_records,
                t.supervision.last_error
            );
        }
    }
    anyhow::ensure!(
        !totals.is_empty() && enriched.len() == 4,
        "expected totals and 4 enriched payments"
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
