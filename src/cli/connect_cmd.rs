//! `eddy connect`: run Kafka Connect connectors standalone from their configuration files
//! (`run`, with Kafka's worker file first), or manage the connectors of a node through
//! its Connect REST API (`create`, `list`, `status`, `pause`, `resume`, `stop`,
//! `restart`, `delete`).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{anyhow, Context as _};
use clap::{Args, Subcommand};
use eddy::connect::{
    read_file, rest, ConnectHandle, ConnectSettings, ConnectorConfig, ConnectorInfo,
    ConnectorStatus, ConnectorType, OffsetFile, OffsetStorage, State, WorkerConfig, WorkerDefaults,
};
use reqwest::Method;
use serde_json::{json, Value};

use super::admin_client::{AdminArgs, AdminClient};
use super::node_access::{block_on, table};

/// The Connect REST API as these commands call it (a delete waits for tasks to commit,
/// hence the longer timeout).
const CLIENT: AdminClient = AdminClient {
    serves: "the Connect REST API",
    request_timeout: Duration::from_secs(30),
    response_bytes_max: 8 * 1024 * 1024,
    unreachable_hint: |admin| {
        format!(
            "is a node running with `eddy start --admin {admin}`, or `eddy connect run --admin {admin}`?"
        )
    },
};

/// `eddy connect` subcommands.
#[derive(Subcommand, Debug)]
pub enum ConnectCommand {
    /// Run connectors from .properties or .json files in this process, against a
    /// cluster, until Ctrl-C (Kafka's connect-standalone: `eddy connect run
    /// worker.properties connector1.properties …`).
    Run(RunArgs),
    /// Create a connector on a node from a .properties or .json file.
    Create(CreateArgs),
    /// List a node's connectors with their states.
    List(ListArgs),
    /// Show a connector's state and its tasks' states, with their last errors.
    Status(NameArgs),
    /// Pause a connector: its tasks commit their progress and stop reading.
    Pause(NameArgs),
    /// Resume a paused or stopped connector.
    Resume(NameArgs),
    /// Stop a connector: its tasks commit their progress and shut down, and it keeps its
    /// configuration (Kafka's STOPPED state, KIP-875; its offsets can then be changed).
    Stop(NameArgs),
    /// Restart a connector's tasks (all, one, or only the failed ones).
    Restart(RestartArgs),
    /// Delete a connector (its stored offsets stay, as in Kafka).
    Delete(NameArgs),
}

/// The cluster `eddy connect run` uses when neither `-b` nor the worker file names one.
const DEFAULT_BOOTSTRAP: &str = "127.0.0.1:9092";

/// Arguments of `eddy connect run`.
#[derive(Args, Debug)]
pub struct RunArgs {
    /// As Kafka's connect-standalone: a worker file (connect-standalone.properties, told
    /// apart by its worker keys and no connector.class), then connector configurations
    /// (.properties, or .json in the REST form {"name": …, "config": {…}}). Without a
    /// worker file, connector files alone run with StringConverter and keep source
    /// offsets in the cluster's connect-offsets topic.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Kafka address(es) of the cluster: HOST:PORT[,HOST:PORT...]; overrides the worker
    /// file's bootstrap.servers [default: 127.0.0.1:9092].
    #[arg(
        long = "bootstrap-server",
        short = 'b',
        env = "EDDY_BOOTSTRAP_SERVER",
        value_name = "HOST:PORT[,...]"
    )]
    pub bootstrap_server: Option<String>,
    /// Also serve the Connect REST API on this address, for `eddy connect status` and
    /// friends.
    #[arg(long, value_name = "HOST:PORT")]
    pub admin: Option<String>,
}

/// Arguments of `eddy connect create`.
#[derive(Args, Debug)]
pub struct CreateArgs {
    /// The connector's configuration (.properties or .json).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    #[command(flatten)]
    pub admin: AdminArgs,
}

/// Arguments of `eddy connect list`.
#[derive(Args, Debug)]
pub struct ListArgs {
    #[command(flatten)]
    pub admin: AdminArgs,
}

/// Arguments of the commands about one connector.
#[derive(Args, Debug)]
pub struct NameArgs {
    /// The connector's name.
    pub name: String,
    #[command(flatten)]
    pub admin: AdminArgs,
}

/// Arguments of `eddy connect restart`.
#[derive(Args, Debug)]
pub struct RestartArgs {
    /// The connector's name.
    pub name: String,
    /// Restart only this task.
    #[arg(long)]
    pub task: Option<u32>,
    /// Restart only the tasks that are FAILED.
    #[arg(long, conflicts_with = "task")]
    pub only_failed: bool,
    #[command(flatten)]
    pub admin: AdminArgs,
}

/// Runs `eddy connect`.
pub fn run(command: ConnectCommand) -> anyhow::Result<()> {
    match command {
        ConnectCommand::Run(args) => run_standalone(args),
        ConnectCommand::Create(args) => block_on(create(args)),
        ConnectCommand::List(args) => block_on(list(args.admin)),
        ConnectCommand::Status(args) => block_on(status(args)),
        ConnectCommand::Pause(args) => block_on(simple(args, Method::PUT, "pause", "paused")),
        ConnectCommand::Resume(args) => block_on(simple(args, Method::PUT, "resume", "resumed")),
        ConnectCommand::Stop(args) => block_on(simple(args, Method::PUT, "stop", "stopped")),
        ConnectCommand::Restart(args) => block_on(restart(args)),
        ConnectCommand::Delete(args) => block_on(delete(args)),
    }
}

/// The worker file of `files`, if the first one is one, and the connector files.
fn split_worker(files: &[PathBuf]) -> anyhow::Result<(Option<WorkerConfig>, &[PathBuf])> {
    let Some((first, rest)) = files.split_first() else {
        return Ok((None, files));
    };
    let raw = read_file(first).map_err(|err| anyhow!("{err}"))?;
    if !WorkerConfig::is_worker_file(&raw) {
        return Ok((None, files));
    }
    let worker = WorkerConfig::validate(raw).map_err(|err| anyhow!("{err}"))?;
    Ok((Some(worker), rest))
}

/// Reads and validates every file; the error lists every problem of every file.
fn load_configs(
    files: &[PathBuf],
    defaults: &WorkerDefaults,
) -> anyhow::Result<Vec<ConnectorConfig>> {
    let mut configs = Vec::new();
    let mut problems = Vec::new();
    let mut names = BTreeSet::new();
    for file in files {
        match read_file(file).and_then(|raw| ConnectorConfig::validate_for(raw, defaults)) {
            Ok(config) if !names.insert(config.name.clone()) => problems.push(format!(
                "{}: connector name `{}` is used by another file",
                file.display(),
                config.name
            )),
            Ok(config) => configs.push(config),
            Err(err) => problems.push(format!("{}: {err}", file.display())),
        }
    }
    if problems.is_empty() {
        Ok(configs)
    } else {
        Err(anyhow!(problems.join("\n")))
    }
}

fn run_standalone(args: RunArgs) -> anyhow::Result<()> {
    // Colour only on a terminal: `eddy connect run` usually logs to a file.
    eddy::streams::init_logging("info");
    let (worker, connector_files) = split_worker(&args.files)?;
    let defaults = worker.as_ref().map(|w| w.defaults).unwrap_or_default();
    let configs = load_configs(connector_files, &defaults)?;
    let bootstrap = args
        .bootstrap_server
        .clone()
        .or_else(|| worker.as_ref().and_then(|w| w.bootstrap_servers.clone()))
        .unwrap_or_else(|| DEFAULT_BOOTSTRAP.to_owned());
    let worker_id = args
        .admin
        .clone()
        .unwrap_or_else(|| "standalone".to_owned());
    let mut settings = ConnectSettings::new(bootstrap.clone(), worker_id);
    settings.defaults = defaults;
    match &worker {
        Some(worker) => {
            log_worker_notes(worker, args.bootstrap_server.as_deref());
            let file =
                OffsetFile::open(&worker.offset_storage_file).map_err(|err| anyhow!("{err}"))?;
            tracing::info!(file = %worker.offset_storage_file.display(), "source offsets are kept in the worker's offsets file (offset.storage.file.filename)");
            settings.offsets = OffsetStorage::File(file);
        }
        None => tracing::info!(
            "no worker file: source offsets are kept in the cluster's connect-offsets topic"
        ),
    }
    let system = actix_rt::System::new();
    system.block_on(async move {
        let handle = ConnectHandle::start(settings);
        let server = match &args.admin {
            Some(addr) => {
                let listener = tokio::net::TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("cannot listen on {addr} for the Connect REST API"))?;
                tracing::info!(%addr, "Connect REST API listening");
                Some(actix_rt::spawn(rest::serve(listener, handle.clone())))
            }
            None => None,
        };
        for config in configs {
            let name = config.name.clone();
            let info = handle
                .create(config)
                .await
                .with_context(|| format!("cannot start connector {name}"))?;
            tracing::info!(connector = %name, tasks = info.tasks.len(), "connector running against {bootstrap}");
        }
        wait_for_signal().await;
        tracing::info!("signal received: stopping connectors (each commits its progress)");
        handle.shutdown().await;
        if let Some(server) = server {
            server.abort();
        }
        Ok(())
    })
}

/// Logs what a worker file asks that Eddy ignores, and which `bootstrap.servers` won.
fn log_worker_notes(worker: &WorkerConfig, flag: Option<&str>) {
    for (key, why) in &worker.ignored {
        tracing::info!("worker config {key} is ignored: {why}");
    }
    if !worker.unknown.is_empty() {
        let hint = if worker
            .unknown
            .iter()
            .any(|k| k == "listeners" || k.starts_with("rest."))
        {
            " (serve the REST API with --admin HOST:PORT)"
        } else {
            ""
        };
        tracing::warn!(
            "unknown worker configs ignored: {}{hint}",
            worker.unknown.join(", ")
        );
    }
    if let (Some(flag), Some(file)) = (flag, &worker.bootstrap_servers) {
        if flag != file {
            tracing::info!("-b {flag} overrides the worker file's bootstrap.servers={file}");
        }
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    // Without a SIGTERM handler, Ctrl-C alone stops the process.
    let _ = tokio::signal::ctrl_c().await;
}

async fn create(args: CreateArgs) -> anyhow::Result<()> {
    // Validating here gives the same full list of faulty keys without a round trip.
    let config = read_file(&args.file)
        .and_then(ConnectorConfig::validate)
        .map_err(|err| anyhow!("{}: {err}", args.file.display()))?;
    let body = json!({"name": config.name, "config": config.raw});
    let admin = args.admin.resolve().await?;
    let answer = call(&admin, Method::POST, "/connectors", Some(body)).await?;
    if args.admin.json {
        println!("{answer}");
        return Ok(());
    }
    let info: ConnectorInfo =
        serde_json::from_value(answer).context("the node sent an unexpected answer")?;
    println!(
        "created connector {} ({}, {} task(s))",
        info.name,
        type_name(info.connector_type),
        info.tasks.len()
    );
    Ok(())
}

async fn list(args: AdminArgs) -> anyhow::Result<()> {
    let admin = args.resolve().await?;
    let answer = call(&admin, Method::GET, "/connectors?expand=status", None).await?;
    if args.json {
        println!("{answer}");
        return Ok(());
    }
    let mut out = table(&["NAME", "TYPE", "STATE", "TASKS RUNNING"]);
    if let Value::Object(connectors) = answer {
        for (name, entry) in connectors {
            let Ok(status) = serde_json::from_value::<ConnectorStatus>(entry["status"].clone())
            else {
                out.add_row(vec![name, "?".into(), "?".into(), "?".into()]);
                continue;
            };
            let running = status
                .tasks
                .iter()
                .filter(|t| t.state == State::Running)
                .count();
            out.add_row(vec![
                name,
                type_name(status.connector_type).to_owned(),
                state_name(status.connector.state),
                format!("{running}/{}", status.tasks.len()),
            ]);
        }
    }
    println!("{out}");
    Ok(())
}

async fn status(args: NameArgs) -> anyhow::Result<()> {
    let path = format!("/connectors/{}/status", args.name);
    let admin = args.admin.resolve().await?;
    let answer = call(&admin, Method::GET, &path, None).await?;
    if args.admin.json {
        println!("{answer}");
        return Ok(());
    }
    let status: ConnectorStatus =
        serde_json::from_value(answer).context("the node sent an unexpected answer")?;
    print_status(&status);
    Ok(())
}

fn print_status(status: &ConnectorStatus) {
    println!(
        "connector {} ({}) {} on {}",
        status.name,
        type_name(status.connector_type),
        state_name(status.connector.state),
        status.connector.worker_id
    );
    if let Some(trace) = &status.connector.trace {
        println!("last error: {trace}");
    }
    let mut out = table(&["TASK", "STATE", "RESTARTS", "WORKER", "LAST ERROR"]);
    for task in &status.tasks {
        out.add_row(vec![
            task.id.to_string(),
            state_name(task.state),
            task.restarts.to_string(),
            task.worker_id.clone(),
            task.trace.clone().unwrap_or_else(|| "-".to_owned()),
        ]);
    }
    println!("{out}");
}

fn type_name(connector_type: ConnectorType) -> &'static str {
    match connector_type {
        ConnectorType::Source => "source",
        ConnectorType::Sink => "sink",
    }
}

fn state_name(state: State) -> String {
    serde_json::to_value(state)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| format!("{state:?}"))
}

async fn simple(args: NameArgs, method: Method, action: &str, done: &str) -> anyhow::Result<()> {
    let path = format!("/connectors/{}/{action}", args.name);
    let admin = args.admin.resolve().await?;
    call(&admin, method, &path, None).await?;
    println!("{done} connector {}", args.name);
    Ok(())
}

async fn restart(args: RestartArgs) -> anyhow::Result<()> {
    let path = match args.task {
        Some(task) => format!("/connectors/{}/tasks/{task}/restart", args.name),
        None if args.only_failed => format!("/connectors/{}/restart?onlyFailed=true", args.name),
        None => format!("/connectors/{}/restart", args.name),
    };
    let admin = args.admin.resolve().await?;
    let answer = call(&admin, Method::POST, &path, None).await?;
    if args.admin.json {
        println!("{answer}");
        return Ok(());
    }
    match serde_json::from_value::<ConnectorStatus>(answer) {
        Ok(status) => print_status(&status),
        Err(_) => println!("restarted connector {}", args.name),
    }
    Ok(())
}

async fn delete(args: NameArgs) -> anyhow::Result<()> {
    let path = format!("/connectors/{}", args.name);
    let admin = args.admin.resolve().await?;
    call(&admin, Method::DELETE, &path, None).await?;
    println!("deleted connector {}", args.name);
    Ok(())
}

/// Sends one request to the Connect REST API; the JSON answer (`null` when empty), or the
/// node's error message.
async fn call(
    admin: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> anyhow::Result<Value> {
    let answer = CLIENT.send(admin, method, path, body.as_ref()).await?;
    let value: Value = if answer.body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&answer.body).with_context(|| {
            format!(
                "{} answered {} with something not JSON",
                answer.request, answer.status
            )
        })?
    };
    if answer.status.is_success() {
        return Ok(value);
    }
    Err(answer.refusal(&format!("does {admin} serve the Connect REST API?")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_problem_of_every_file_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("bad.properties");
        std::fs::write(
            &bad,
            "name=bad\nconnector.class=FileStreamSink\ntasks.max=0\nerrors.tolerance=all\n",
        )
        .unwrap();
        let good = dir.path().join("good.json");
        std::fs::write(
            &good,
            r#"{"name":"good","config":{"connector.class":"FileStreamSource","file":"/tmp/x","topic":"t"}}"#,
        )
        .unwrap();
        let twin = dir.path().join("twin.json");
        std::fs::copy(&good, &twin).unwrap();
        let err = load_configs(&[bad, good, twin], &WorkerDefaults::default())
            .unwrap_err()
            .to_string();
        for expected in [
            "tasks.max",
            "file",
            "topics",
            "errors.tolerance",
            "used by another file",
        ] {
            assert!(err.contains(expected), "{expected} missing from: {err}");
        }
    }

    #[test]
    fn a_worker_file_first_is_told_apart_from_connector_files() {
        let dir = tempfile::tempdir().unwrap();
        let worker = dir.path().join("connect-standalone.properties");
        std::fs::write(
            &worker,
            "bootstrap.servers=localhost:9092
\
             value.converter=org.apache.kafka.connect.json.JsonConverter
\
             offset.storage.file.filename=/tmp/connect.offsets
",
        )
        .unwrap();
        let source = dir.path().join("connect-file-source.properties");
        std::fs::write(
            &source,
            "name=local-file-source\nconnector.class=FileStreamSource\nfile=test.txt\n\
             topic=connect-test",
        )
        .unwrap();
        let files = [worker, source.clone()];
        let (found, connectors) = split_worker(&files).unwrap();
        let found = found.expect("the worker file");
        assert_eq!(found.bootstrap_servers.as_deref(), Some("localhost:9092"));
        assert_eq!(connectors, std::slice::from_ref(&source));
        let configs = load_configs(connectors, &found.defaults).unwrap();
        assert_eq!(
            configs[0].value_converter,
            eddy::connect::Converter::Json {
                schemas_enable: true
            }
        );
        // The old form: connector files alone.
        let alone = [source];
        let (none, connectors) = split_worker(&alone).unwrap();
        assert!(none.is_none());
        assert_eq!(connectors.len(), 1);
    }
}
