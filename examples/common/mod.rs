//! Shared by the examples: where the cluster is (an embedded node by default), topic
//! creation, and reading an output topic until it goes quiet.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use eddy::client::{Admin, ConsumedRecord, Consumer, ResponseError, StartOffset};
use eddy::node::{NodeConfig, NodeThread};

/// The options every example takes: where the cluster is, and where state stores live.
#[derive(clap::Args)]
pub struct ClusterArgs {
    /// A running cluster (HOST:PORT[,…]); without it, an embedded node is started.
    #[arg(long)]
    pub bootstrap_server: Option<String>,
    /// Where the state stores live (Kafka's `state.dir`); default: beside the embedded
    /// node's data, or `eddy-streams` in the temp directory with `--bootstrap-server`.
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
}

/// The cluster the example talks to; an embedded node lives as long as this value.
pub struct Cluster {
    /// `bootstrap.servers`.
    pub bootstrap: String,
    /// Whether the example started its own node (and so feeds sample input itself).
    pub embedded: bool,
    state_dir: PathBuf,
    _node: Option<(NodeThread, tempfile::TempDir)>,
}

impl Cluster {
    /// `--bootstrap-server` if given, else a single-node cluster with a data dir of its own.
    pub fn connect_or_embed(args: ClusterArgs) -> anyhow::Result<Cluster> {
        if let Some(bootstrap) = args.bootstrap_server {
            return Ok(Cluster {
                bootstrap,
                embedded: false,
                state_dir: args
                    .state_dir
                    .unwrap_or_else(eddy::streams::default_state_dir),
                _node: None,
            });
        }
        let dir = tempfile::tempdir().context("temp data dir")?;
        let config = NodeConfig {
            data_dir: dir.path().to_path_buf(),
            listen: "127.0.0.1:0".into(),
            admin: "127.0.0.1:0".into(),
            ..NodeConfig::default()
        };
        let node = NodeThread::spawn(config).context("start the embedded node")?;
        let bootstrap = node.kafka_addr.to_string();
        println!(
            "embedded Eddy node on {bootstrap} (data in {})",
            dir.path().display()
        );
        Ok(Cluster {
            bootstrap,
            embedded: true,
            state_dir: args
                .state_dir
                .unwrap_or_else(|| dir.path().join("streams-state")),
            _node: Some((node, dir)),
        })
    }

    /// Where the application keeps its state stores: `--state-dir`, else beside the
    /// embedded node's data (gone with it), else Kafka Streams' default place.
    pub fn state_dir(&self) -> PathBuf {
        self.state_dir.clone()
    }
}

/// Runs the application until Ctrl-C or SIGTERM, then closes it (see
/// `KafkaStreams::run_until_signal`).
pub async fn run_until_signal(streams: eddy::streams::KafkaStreams) -> anyhow::Result<()> {
    let tasks: Vec<String> = streams.tasks().iter().map(|t| t.to_string()).collect();
    println!("running task(s) {}; Ctrl-C to stop", tasks.join(", "));
    let signal = streams.run_until_signal().await;
    println!("closed on {signal}: the tasks stopped and the instance left the group");
    Ok(())
}

/// A topic to create: name, partitions, configs.
pub type TopicSpec<'a> = (&'a str, i32, &'a [(&'a str, &'a str)]);

/// Creates topics that do not exist yet.
pub async fn ensure_topics(bootstrap: &str, topics: &[TopicSpec<'_>]) -> anyhow::Result<()> {
    let mut admin = Admin::connect(bootstrap).await?;
    for (name, partitions, configs) in topics {
        let configs: Vec<(String, String)> = configs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        match admin.create_topic(name, *partitions, 1, &configs).await {
            Ok(()) => {}
            Err(err) if err.kafka_error() == Some(ResponseError::TopicAlreadyExists) => {}
            Err(err) => return Err(err).with_context(|| format!("create topic {name}")),
        }
    }
    Ok(())
}

/// Reads every partition of `topic` from the start until nothing new arrives for `quiet`
/// (or `deadline` passes).
pub async fn read_until_quiet(
    bootstrap: &str,
    topic: &str,
    quiet: Duration,
    deadline: Duration,
) -> anyhow::Result<Vec<ConsumedRecord>> {
    let mut consumer = Consumer::connect(bootstrap).await?;
    let partitions = consumer.partitions(topic).await?;
    consumer
        .assign(topic, &partitions, StartOffset::Earliest)
        .await?;
    let started = Instant::now();
    let mut last_new = Instant::now();
    let mut out = Vec::new();
    while last_new.elapsed() < quiet && started.elapsed() < deadline {
        let records = consumer.poll(Duration::from_millis(200)).await?;
        if !records.is_empty() {
            last_new = Instant::now();
            out.extend(records);
        }
    }
    Ok(out)
}
