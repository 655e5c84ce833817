//! `eddy connect`: run Kafka Connect connectors standalone from their configuration files
//! (`run`), or manage the connectors of a node through its Connect REST API (`create`,
//! `list`, `status`, `pause`, `resume`, `restart`, `delete`).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{anyhow, Context as _};
use clap::{Args, Subcommand};
use eddy::connect::{
    read_file, rest, ConnectHandle, ConnectSettings, ConnectorConfig, ConnectorInfo,
    ConnectorStatus, ConnectorType, State,
};
use reqwest::Method;
use serde_json::{json, Value};

use super::admin_client::AdminClient;
use super::connect::{block_on, table, AdminArgs, BootstrapArgs};

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
    /// cluster, until Ctrl-C (Kafka's connect-standalone).
    Run(RunArgs),
    /// Create a connector on a node from a .properties or .json file.
    Create(CreateArgs),
    /// List a node's connectors with their states.
    List(ListArgs),
    /// Show a connector's state and its tasks' states, with their last errors.
    Status(NameArgs),
    /// Pause a connector: its tasks commit their progress and stop reading.
    Pause(NameArgs),
    /// Resume a paused connector.
    Resume(NameArgs),
    /// Restart a connector's tasks (all, one, or only the failed ones).
    Restart(RestartArgs),
    /// Delete a connector (its stored offsets stay, as in Kafka).
    Delete(NameArgs),
}

/// Arguments of `eddy connect run`.
#[derive(Args, Debug)]
pub struct RunArgs {
    /// Connector configurations: Kafka Connect .properties files, or .json files in the
    /// REST form {"name": …, "config": {…}}.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    #[command(flatten)]
    pub bootstrap: BootstrapArgs,
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
        ConnectCommand::Restart(args) => block_on(restart(args)),
        ConnectCommand::Delete(args) => block_on(delete(args)),
    }
}

/// Reads and validates every file; the error lists every problem of every file.
fn load_configs(files: &[PathBuf]) -> anyhow::Result<Vec<ConnectorConfig>> {
    let mut configs = Vec::new();
    let mut problems = Vec::new();
    let mut names = BTreeSet::new();
    for file in files {
        match read_file(file).and_then(ConnectorConfig::validate) {
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
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("EDDY_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        // Colour only on a terminal: `eddy connect run` usually logs to a file.
        .with_ansi(super::start::log_colours())
        .init();
    let configs = load_configs(&args.files)?;
    let worker_id = args
        .admin
        .clone()
        .unwrap_or_else(|| "standalone".to_owned());
    let settings = ConnectSettings::new(args.bootstrap.bootstrap_server.clone(), worker_id);
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
            tracing::info!(connector = %name, tasks = info.tasks.len(), "connector running against {}", args.bootstrap.bootstrap_server);
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
    let answer = call(&args.admin.admin, Method::POST, "/connectors", Some(body)).await?;
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

async fn list(admin: AdminArgs) -> anyhow::Result<()> {
    let answer = call(&admin.admin, Method::GET, "/connectors?expand=status", None).await?;
    if admin.json {
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
    let answer = call(&args.admin.admin, Method::GET, &path, None).await?;
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
    call(&args.admin.admin, method, &path, None).await?;
    println!("{done} connector {}", args.name);
    Ok(())
}

async fn restart(args: RestartArgs) -> anyhow::Result<()> {
    let path = match args.task {
        Some(task) => format!("/connectors/{}/tasks/{task}/restart", args.name),
        None if args.only_failed => format!("/connectors/{}/restart?onlyFailed=true", args.name),
        None => format!("/connectors/{}/restart", args.name),
    };
    let answer = call(&args.admin.admin, Method::POST, &path, None).await?;
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
    call(&args.admin.admin, Method::DELETE, &path, None).await?;
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
        let err = load_configs(&[bad, good, twin]).unwrap_err().to_string();
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
}
