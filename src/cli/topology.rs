//! `eddy topology run|catalog|list|describe|query`. `run NAME` runs a topology of this
//! binary's catalog ([`crate::catalog::stock`], or the one given to
//! [`crate::cli::main_with`]) as an application of its own, a client program like a Kafka
//! Streams application, until Ctrl-C or SIGTERM; `catalog` lists the names it can run.
//!
//! `list`, `describe` and `query` show the streams applications running against the
//! cluster, from the reports they write to the `__eddy_topologies` topic every few seconds
//! (their topology, their tasks' state, their `application.server`), joined with their
//! consumer group's committed offsets and lag. An application runs in its own program, so
//! this is how it is seen from outside; `query` asks its query server for a store's value.
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{anyhow, Context as _};
use clap::{Args, Subcommand};
use eddy::client::GroupPartitionOffset;
use eddy::streams::registry::{self, AppRecord};
use eddy::streams::{Catalog, Configs, KafkaStreams};
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde_json::Value;

use super::admin_client::AdminClient;
use super::node_access::{block_on, connect_admin, explain, table, BootstrapArgs};

/// An application's query server as `eddy topology query` calls it.
const QUERY_CLIENT: AdminClient = AdminClient {
    serves: "the application's query server",
    request_timeout: Duration::from_secs(10),
    response_bytes_max: 16 * 1024 * 1024,
    unreachable_hint: |server| {
        format!("is the application still running with application.server {server}?")
    },
};

/// A report older than this many report intervals means the application stopped (or
/// cannot reach the cluster).
const STALE_INTERVALS: u64 = 3;

/// `eddy topology` subcommands.
#[derive(Subcommand, Debug)]
pub enum TopologyCommand {
    /// Run a topology of this binary's catalog as an application, against the cluster,
    /// until Ctrl-C or SIGTERM.
    Run(RunArgs),
    /// List the topologies this binary can run (`topology run NAME`).
    Catalog(CatalogArgs),
    /// Deploy a topology of the nodes' catalog to the cluster: every node runs its tasks
    /// beside their input partitions' leaders, and the deployment survives restarts.
    Deploy(super::deploy::DeployArgs),
    /// Remove a deployed application: its tasks commit and stop on every node; its topics
    /// stay.
    Undeploy(super::deploy::UndeployArgs),
    /// List the streams applications that reported to the cluster, with their tasks and lag.
    List(ListArgs),
    /// Show an application's topology, its tasks' state and its input lag.
    Describe(DescribeArgs),
    /// Read a key's current value from a state store of a running application (an
    /// interactive query, through the application's `application.server`).
    Query(QueryArgs),
}

/// Arguments of `eddy topology run`.
#[derive(Args, Debug)]
pub struct RunArgs {
    /// The topology's name in this binary's catalog (`eddy topology catalog` lists them).
    name: String,
    /// The application id (Kafka's `application.id`: the consumer group and the prefix of
    /// the internal topics).
    #[arg(long)]
    application_id: String,
    /// A config, repeatable: Kafka Streams' (`commit.interval.ms`, `session.timeout.ms`,
    /// `heartbeat.interval.ms`, `application.server`, `state.dir`) or the topology's own
    /// (`input.topic`, …; `eddy topology catalog` says which).
    #[arg(long = "config", value_name = "KEY=VALUE", value_parser = parse_config)]
    configs: Vec<(String, String)>,
    /// Where the state stores live (Kafka's `state.dir`; default: `eddy-streams` in the
    /// system's temp directory).
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    #[command(flatten)]
    bootstrap: BootstrapArgs,
}

/// Arguments of `eddy topology catalog`.
#[derive(Args, Debug)]
pub struct CatalogArgs {
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

pub(super) fn parse_config(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => {
            Ok((key.trim().to_string(), value.to_string()))
        }
        _ => Err(format!("expected KEY=VALUE, got {text:?}")),
    }
}

/// Arguments of `eddy topology list`.
#[derive(Args, Debug)]
pub struct ListArgs {
    #[command(flatten)]
    bootstrap: BootstrapArgs,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// Arguments of `eddy topology describe`.
#[derive(Args, Debug)]
pub struct DescribeArgs {
    /// The application id.
    application_id: String,
    #[command(flatten)]
    bootstrap: BootstrapArgs,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// Arguments of `eddy topology query`.
#[derive(Args, Debug)]
pub struct QueryArgs {
    /// The application id.
    application_id: String,
    /// The state store (`eddy topology describe` lists them).
    store: String,
    /// The key, as UTF-8 text (the store's key serde bytes; for string keys, the text).
    key: String,
    /// KEY is hex (for binary keys).
    #[arg(long)]
    key_hex: bool,
    #[command(flatten)]
    bootstrap: BootstrapArgs,
    /// Print the query server's JSON answer.
    #[arg(long)]
    json: bool,
}

/// Runs an `eddy topology` subcommand.
pub fn run(command: TopologyCommand, catalog: &Catalog) -> anyhow::Result<()> {
    match command {
        TopologyCommand::Run(args) => run_topology(args, catalog),
        TopologyCommand::Catalog(args) => print_catalog(args, catalog),
        TopologyCommand::Deploy(args) => super::deploy::deploy(args),
        TopologyCommand::Undeploy(args) => super::deploy::undeploy(args),
        TopologyCommand::List(args) => block_on(list(args)),
        TopologyCommand::Describe(args) => block_on(describe(args)),
        TopologyCommand::Query(args) => block_on(query(args)),
    }
}

/// Builds the topology first (so an unknown name or a bad config fails before any
/// connection), then runs it in an actix system until a signal closes it.
fn run_topology(args: RunArgs, catalog: &Catalog) -> anyhow::Result<()> {
    let configs: Configs = args.configs.iter().cloned().collect();
    let topology = catalog.build(&args.name, &configs)?;
    let bootstrap = args.bootstrap.bootstrap_server.clone();
    let mut settings =
        eddy::streams::settings_from_configs(&args.application_id, &bootstrap, &configs)?;
    if let Some(dir) = args.state_dir {
        settings.state_dir = dir;
    }
    eddy::streams::init_default_logging();
    println!(
        "running topology {} as application {} against {bootstrap} (state in {})",
        args.name,
        args.application_id,
        settings.state_dir.display()
    );
    println!("{}", topology.describe());
    eddy::run(async move {
        let streams = KafkaStreams::start(topology, settings)
            .await
            .with_context(|| format!("starting application {}", args.application_id))?;
        let tasks: Vec<String> = streams.tasks().iter().map(|t| t.to_string()).collect();
        println!(
            "started: task(s) {}; Ctrl-C or SIGTERM to stop",
            if tasks.is_empty() {
                "none yet".to_string()
            } else {
                tasks.join(", ")
            }
        );
        let signal = streams.run_until_signal().await;
        println!("closed on {signal}: the tasks stopped and the instance left the group");
        Ok(())
    })
}

/// One catalog entry as `catalog --json` prints it.
#[derive(Debug, Serialize)]
struct CatalogRow<'a> {
    name: &'a str,
    description: &'a str,
    parameters: Vec<ParameterRow<'a>>,
}

/// One parameter of a catalog entry as `catalog --json` prints it.
#[derive(Debug, Serialize)]
struct ParameterRow<'a> {
    name: &'a str,
    default: &'a str,
    description: &'a str,
}

fn print_catalog(args: CatalogArgs, catalog: &Catalog) -> anyhow::Result<()> {
    let rows: Vec<CatalogRow<'_>> = catalog
        .entries()
        .map(|e| CatalogRow {
            name: &e.name,
            description: &e.description,
            parameters: e
                .parameters
                .iter()
                .map(|p| ParameterRow {
                    name: &p.name,
                    default: &p.default,
                    description: &p.description,
                })
                .collect(),
        })
        .collect();
    if args.json {
        println!(
            "{}",
            serde_json::to_string(&rows).context("encoding the catalog")?
        );
        return Ok(());
    }
    if rows.is_empty() {
        println!("this binary's catalog has no topologies");
        return Ok(());
    }
    let mut out = table(&["NAME", "DESCRIPTION", "PARAMETERS (--config, default)"]);
    for row in &rows {
        let parameters: Vec<String> = row
            .parameters
            .iter()
            .map(|p| format!("{}={}", p.name, p.default))
            .collect();
        out.add_row(vec![
            row.name.to_string(),
            row.description.to_string(),
            parameters.join(" "),
        ]);
    }
    println!("{out}");
    println!(
        "\nKafka Streams configs read by `topology run --config`: {}",
        eddy::streams::STREAMS_CONFIG_NAMES.join(", ")
    );
    Ok(())
}

/// One application as `list` shows it.
#[derive(Debug, Serialize)]
struct AppSummary {
    application_id: String,
    /// The catalog topology it was deployed as (`None`: a client program).
    deployed: Option<String>,
    tasks: usize,
    running: usize,
    restarts: u64,
    lag: i64,
    instance: String,
    report_age_ms: i64,
    stale: bool,
}

fn summarize(app: &AppRecord, lag: i64, now_ms: i64) -> AppSummary {
    let age = (now_ms - app.reported_at_ms).max(0);
    AppSummary {
        application_id: app.application_id.clone(),
        deployed: None,
        tasks: app.tasks.len(),
        running: app.tasks.iter().filter(|t| t.state == "running").count(),
        restarts: app.tasks.iter().map(|t| t.restarts).sum(),
        lag,
        instance: app.instance.clone(),
        report_age_ms: age,
        stale: age as u128 > registry::REPORT_INTERVAL.as_millis() * u128::from(STALE_INTERVALS),
    }
}

fn total_lag(offsets: &[GroupPartitionOffset]) -> i64 {
    offsets.iter().filter_map(|o| o.lag).sum()
}

fn age_text(ms: i64) -> String {
    if ms < 60_000 {
        format!("{} s ago", ms / 1000)
    } else {
        format!("{} min ago", ms / 60_000)
    }
}

async fn list(args: ListArgs) -> anyhow::Result<()> {
    let servers = &args.bootstrap.bootstrap_server;
    let apps = registry::read_all(servers)
        .await
        .map_err(|err| explain(err, servers))?;
    let mut admin = connect_admin(&args.bootstrap).await?;
    let now = registry::now_ms();
    let mut rows = Vec::with_capacity(apps.len());
    for app in apps.values() {
        let offsets = admin
            .group_offsets(&app.application_id)
            .await
            .unwrap_or_default();
        rows.push(summarize(app, total_lag(&offsets), now));
    }
    // Deployed applications: named as such, and listed before their first report.
    for deployment in super::deploy::deployments(servers)
        .await
        .unwrap_or_default()
    {
        match rows
            .iter_mut()
            .find(|r| r.application_id == deployment.application_id)
        {
            Some(row) => row.deployed = Some(deployment.topology),
            None => rows.push(AppSummary {
                application_id: deployment.application_id,
                deployed: Some(deployment.topology),
                tasks: 0,
                running: 0,
                restarts: 0,
                lag: 0,
                instance: "-".into(),
                report_age_ms: -1,
                stale: false,
            }),
        }
    }
    rows.sort_by(|a, b| a.application_id.cmp(&b.application_id));
    if args.json {
        println!(
            "{}",
            serde_json::to_string(&rows).context("encoding the list")?
        );
        return Ok(());
    }
    if rows.is_empty() {
        println!("no streams application has reported to this cluster (applications report every {} s while they run)", registry::REPORT_INTERVAL.as_secs());
        return Ok(());
    }
    let mut out = table(&[
        "APPLICATION",
        "DEPLOYED AS",
        "TASKS RUNNING",
        "RESTARTS",
        "INPUT LAG",
        "INSTANCE",
        "LAST REPORT",
    ]);
    for r in &rows {
        let report = if r.report_age_ms < 0 {
            "none yet (starting)".to_string()
        } else if r.stale {
            format!("{} (stopped?)", age_text(r.report_age_ms))
        } else {
            age_text(r.report_age_ms)
        };
        out.add_row(vec![
            r.application_id.clone(),
            r.deployed
                .clone()
                .unwrap_or_else(|| "- (client program)".into()),
            format!("{}/{}", r.running, r.tasks),
            r.restarts.to_string(),
            r.lag.to_string(),
            r.instance.clone(),
            report,
        ]);
    }
    println!("{out}");
    Ok(())
}

/// What `describe --json` prints.
#[derive(Debug, Serialize)]
struct DescribeOutput<'a> {
    application: &'a AppRecord,
    input_offsets: BTreeMap<String, (i64, Option<i64>, Option<i64>)>,
    /// The node leading each task input (`topic-partition`) now.
    leaders: BTreeMap<String, i32>,
}

/// The node leading each input partition of `app`'s tasks now, by `topic-partition`.
async fn input_leaders(admin: &mut eddy::client::Admin, app: &AppRecord) -> BTreeMap<String, i32> {
    let mut topics: Vec<String> = app
        .tasks
        .iter()
        .flat_map(|t| t.inputs.iter())
        .filter_map(|input| input.rsplit_once('-').map(|(topic, _)| topic.to_string()))
        .collect();
    topics.sort();
    topics.dedup();
    let names: Vec<&str> = topics.iter().map(String::as_str).collect();
    let described = admin.describe_topics(&names).await.unwrap_or_default();
    described
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(move |p| (format!("{}-{}", t.name, p.partition), p.leader))
        })
        .collect()
}

/// The latest report of `application_id`, or an error that says where to look.
async fn read_app(bootstrap: &BootstrapArgs, application_id: &str) -> anyhow::Result<AppRecord> {
    let servers = &bootstrap.bootstrap_server;
    let mut apps = registry::read_all(servers)
        .await
        .map_err(|err| explain(err, servers))?;
    apps.remove(application_id).ok_or_else(|| {
        anyhow!(
            "no streams application '{application_id}' has reported to this cluster; `eddy topology list` shows those that have"
        )
    })
}

async fn describe(args: DescribeArgs) -> anyhow::Result<()> {
    let app = &read_app(&args.bootstrap, &args.application_id).await?;
    let mut admin = connect_admin(&args.bootstrap).await?;
    let offsets = admin
        .group_offsets(&app.application_id)
        .await
        .unwrap_or_default();
    let leaders = input_leaders(&mut admin, app).await;
    if args.json {
        let output = DescribeOutput {
            leaders,
            application: app,
            input_offsets: offsets
                .iter()
                .map(|o| {
                    (
                        format!("{}-{}", o.topic, o.partition),
                        (o.committed_offset, o.log_end_offset, o.lag),
                    )
                })
                .collect(),
        };
        println!(
            "{}",
            serde_json::to_string(&output).context("encoding the description")?
        );
        return Ok(());
    }
    let summary = summarize(app, total_lag(&offsets), registry::now_ms());
    println!(
        "application {} on {} — last report {}{}",
        app.application_id,
        app.instance,
        age_text(summary.report_age_ms),
        if summary.stale { " (stopped?)" } else { "" }
    );
    println!("\n{}", app.description.trim_end());
    if !app.internal_topics.is_empty() {
        println!("\ninternal topics: {}", app.internal_topics.join(", "));
    }
    if let Some(server) = &app.application_server {
        println!("interactive queries: http://{server} (`eddy topology query`)");
    }
    let mut tasks = table(&[
        "TASK",
        "NODE",
        "INPUT (LEADER)",
        "STATE",
        "RESTARTS",
        "PROCESSED",
        "DROPPED LATE",
        "LAST ERROR",
    ]);
    for t in &app.tasks {
        let inputs: Vec<String> = t
            .inputs
            .iter()
            .map(|i| match leaders.get(i) {
                Some(leader) => format!("{i} ({leader})"),
                None => i.clone(),
            })
            .collect();
        tasks.add_row(vec![
            if t.standby {
                format!("{} (standby)", t.task)
            } else {
                t.task.clone()
            },
            t.node_id
                .map_or_else(|| format!("- ({})", t.instance), |n| n.to_string()),
            inputs.join(" "),
            t.state.clone(),
            t.restarts.to_string(),
            t.processed_records.to_string(),
            t.dropped_late_records.to_string(),
            t.last_error.clone().unwrap_or_else(|| "-".into()),
        ]);
    }
    println!("\n{tasks}");
    let mut lag = table(&["TOPIC", "PARTITION", "COMMITTED", "END", "LAG"]);
    for o in &offsets {
        let show = |v: Option<i64>| v.map_or("-".to_string(), |v| v.to_string());
        lag.add_row(vec![
            o.topic.clone(),
            o.partition.to_string(),
            o.committed_offset.to_string(),
            show(o.log_end_offset),
            show(o.lag),
        ]);
    }
    if !offsets.is_empty() {
        println!("\n{lag}");
    }
    Ok(())
}

async fn query(args: QueryArgs) -> anyhow::Result<()> {
    let app = read_app(&args.bootstrap, &args.application_id).await?;
    let Some(server) = app.application_server.as_deref() else {
        return Err(anyhow!(
            "application '{}' does not serve interactive queries: start it with application.server \
             set (`StreamsSettings::application_server`; the examples take `--application-server HOST:PORT`)",
            app.application_id
        ));
    };
    let summary = summarize(&app, 0, registry::now_ms());
    let key_param = if args.key_hex { "key_hex" } else { "key" };
    let path = format!(
        "/topologies/{}/stores/{}?{key_param}={}",
        percent_encode(&app.application_id),
        percent_encode(&args.store),
        percent_encode(&args.key)
    );
    let answer = QUERY_CLIENT
        .send(server, Method::GET, &path, None)
        .await
        .map_err(|err| {
            if summary.stale {
                anyhow!(
                    "{err}; application '{}' last reported {} (stopped?)",
                    app.application_id,
                    age_text(summary.report_age_ms)
                )
            } else {
                err
            }
        })?;
    if answer.status != StatusCode::OK {
        return Err(answer.refusal("is that address still this application's query server?"));
    }
    if args.json {
        println!("{}", String::from_utf8_lossy(&answer.body));
        return Ok(());
    }
    let body: Value = serde_json::from_slice(&answer.body)
        .with_context(|| format!("{} sent an answer that is not JSON", answer.request))?;
    match body.get("windows").and_then(Value::as_array) {
        Some(windows) => {
            let mut out = table(&["WINDOW START", "WINDOW END", "VALUE"]);
            for w in windows {
                out.add_row(vec![
                    w.get("start").map_or_else(String::new, Value::to_string),
                    w.get("end").map_or_else(String::new, Value::to_string),
                    plain(w.get("value")),
                ]);
            }
            println!("{out}");
        }
        None => println!("{}", plain(body.get("value"))),
    }
    Ok(())
}

/// A JSON value as a user reads it: strings without quotes.
fn plain(value: Option<&Value>) -> String {
    match value {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    }
}

/// `text` for a URL path segment or query value: every byte but the unreserved ones as
/// `%XX`.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use eddy::streams::registry::TaskRow;

    fn task(state: &str, restarts: u64) -> TaskRow {
        TaskRow {
            task: "0_0".into(),
            state: state.into(),
            restarts,
            last_error: None,
            processed_records: 0,
            dropped_late_records: 0,
            committed: BTreeMap::new(),
            instance: "h:1".into(),
            node_id: None,
            inputs: Vec::new(),
            restored_records: 0,
            starts: 1,
            standby: false,
        }
    }

    #[test]
    fn summaries_count_running_tasks_restarts_and_staleness() {
        let app = AppRecord {
            application_id: "wc".into(),
            description: String::new(),
            internal_topics: vec![],
            tasks: vec![task("running", 1), task("restarting", 2)],
            instance: "h:1".into(),
            application_server: None,
            reported_at_ms: 1_000,
            node_id: None,
        };
        let fresh = summarize(&app, 7, 2_000);
        assert_eq!(
            (fresh.tasks, fresh.running, fresh.restarts, fresh.lag),
            (2, 1, 3, 7)
        );
        assert!(!fresh.stale);
        assert!(summarize(&app, 0, 1_000 + 60_000).stale);
    }

    #[test]
    fn lag_sums_known_lags_only() {
        let o = |lag| GroupPartitionOffset {
            topic: "t".into(),
            partition: 0,
            committed_offset: 0,
            log_end_offset: lag,
            lag,
        };
        assert_eq!(total_lag(&[o(Some(3)), o(None), o(Some(4))]), 7);
    }

    #[test]
    fn query_urls_encode_every_reserved_byte() {
        assert_eq!(percent_encode("word-count_1.x~"), "word-count_1.x~");
        assert_eq!(percent_encode("a b/c?d&é"), "a%20b%2Fc%3Fd%26%C3%A9");
        assert_eq!(plain(Some(&Value::from("kafka"))), "kafka");
        assert_eq!(plain(Some(&Value::from(3))), "3");
    }
}
