//! The canonical Kafka Streams demo: lines from `streams-plaintext-input` are split into
//! lower-case words, counted, and the running count per word is written to
//! `streams-wordcount-output` (key: the word; value: the count as an 8-byte big-endian
//! integer, like Kafka's LongSerde, so `kcat -s value=Q` prints it).
//!
//! `cargo run --example wordcount` runs on an embedded single-node cluster, feeds a few
//! lines and prints the counts. With `--bootstrap-server 127.0.0.1:9092` it runs against a
//! running node until Ctrl-C; feed it with
//! `echo "all streams lead to kafka" | kcat -b 127.0.0.1:9092 -P -t streams-plaintext-input`
//! and watch with `kcat -b 127.0.0.1:9092 -C -t streams-wordcount-output -s value=Q -f '%k %s\n'`.
//!
//! The counts are also a queryable store, `counts`: the example reads `kafka` from it
//! in-process, and with `--application-server 127.0.0.1:7070` it serves interactive queries
//! (and, on an embedded node, keeps running after printing the counts) so that
//! `eddy topology query streams-wordcount counts kafka -b <bootstrap>` or
//! `curl '127.0.0.1:7070/topologies/streams-wordcount/stores/counts?key=kafka'` read them.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use clap::Parser;
use eddy::catalog::wordcount::{self, INPUT, OUTPUT};
use eddy::client::{Producer, ProducerConfig, ProducerRecord};
use eddy::streams::{KafkaStreams, StreamsSettings};

/// Word count on Eddy.
#[derive(Parser)]
struct Args {
    #[command(flatten)]
    cluster: common::ClusterArgs,
    /// The application id (consumer group and internal-topic prefix).
    #[arg(long, default_value = "streams-wordcount")]
    application_id: String,
    /// Serve interactive queries of the `counts` store over HTTP on HOST:PORT (Kafka's
    /// `application.server`).
    #[arg(long, value_name = "HOST:PORT")]
    application_server: Option<String>,
}

/// Tells the user how to query the counts while the application runs.
fn print_query_hint(streams: &KafkaStreams, application_id: &str, bootstrap: &str) {
    if let Some(server) = streams.application_server() {
        println!(
            "serving interactive queries on {server}: `eddy topology query {application_id} counts kafka -b {bootstrap}` \
             or `curl 'http://{server}/topologies/{application_id}/stores/counts?key=kafka'`"
        );
    }
}

async fn feed(bootstrap: &str) -> anyhow::Result<()> {
    let mut producer = Producer::connect(bootstrap, ProducerConfig::default()).await?;
    for line in [
        "all streams lead to Kafka",
        "hello kafka streams",
        "join kafka summit",
    ] {
        producer
            .send(ProducerRecord::new(INPUT, line.to_string()))
            .await?;
    }
    producer.flush().await?;
    Ok(())
}

async fn run(args: Args) -> anyhow::Result<()> {
    let cluster = common::Cluster::connect_or_embed(args.cluster)?;
    common::ensure_topics(&cluster.bootstrap, &[(INPUT, 1, &[]), (OUTPUT, 1, &[])]).await?;
    // The topology is the stock catalog's `wordcount` (`eddy topology run wordcount`).
    let topology = wordcount::topology(INPUT, OUTPUT)?;
    println!("{}", topology.describe());
    let mut settings = StreamsSettings::new(&args.application_id, &cluster.bootstrap);
    settings.state_dir = cluster.state_dir();
    settings.commit_interval = Duration::from_millis(500);
    settings.application_server = args.application_server.clone();
    let streams = KafkaStreams::start(topology, settings).await?;
    if !cluster.embedded {
        print_query_hint(&streams, &args.application_id, &cluster.bootstrap);
        return common::run_until_signal(streams).await;
    }
    feed(&cluster.bootstrap).await?;
    let records = common::read_until_quiet(
        &cluster.bootstrap,
        OUTPUT,
        Duration::from_secs(2),
        Duration::from_secs(30),
    )
    .await?;
    let mut counts = BTreeMap::new();
    for r in records {
        let (Some(key), Some(value)) = (r.key, r.value) else {
            continue;
        };
        let count = u64::from_be_bytes(value.as_ref().try_into().unwrap_or([0; 8]));
        counts.insert(String::from_utf8_lossy(&key).into_owned(), count);
    }
    for (word, count) in &counts {
        println!("{word}\t{count}");
    }
    if let Some((tree, _)) = streams.report().await {
        println!(
            "{}: {} task(s), state {:?}",
            tree.name,
            tree.children.len(),
            tree.state
        );
    }
    anyhow::ensure!(
        counts.get("kafka") == Some(&3),
        "expected kafka=3, got {counts:?}"
    );
    // The same count, read from the task's store: an interactive query.
    let stored = streams
        .query_typed::<String, u64>("counts", &"kafka".to_string())
        .await?;
    println!("store counts: kafka = {}", stored.unwrap_or(0));
    anyhow::ensure!(
        stored == Some(3),
        "expected kafka=3 in the store, got {stored:?}"
    );
    if args.application_server.is_some() {
        print_query_hint(&streams, &args.application_id, &cluster.bootstrap);
        return common::run_until_signal(streams).await;
    }
    streams.close().await;
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // The streams runtime's log from the start, so the embedded node's warnings show too
    // (KafkaStreams::start would install it otherwise).
    eddy::streams::init_default_logging();
    eddy::run(run(args))
}
