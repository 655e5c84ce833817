//! How every subcommand reaches a node, and what they all share: the `--bootstrap-server`
//! option, the tokio runtime, plain tables, and turning client errors into advice on what
//! to do next. (The admin HTTP side, `--admin` and its discovery, is in `admin_client`.)

use std::fmt::Display;
use std::future::Future;
use std::io::Write as _;

use anyhow::anyhow;
use clap::Args;
use comfy_table::{presets, Table};
use eddy::client::{ClientError, ResponseError};

/// Where `-b` points unless told.
pub const DEFAULT_BOOTSTRAP: &str = "127.0.0.1:9092";

/// The `--bootstrap-server` option.
#[derive(Args, Debug, Clone)]
pub struct BootstrapArgs {
    /// Kafka address(es) of the cluster: HOST:PORT[,HOST:PORT...].
    #[arg(
        long = "bootstrap-server",
        short = 'b',
        env = "EDDY_BOOTSTRAP_SERVER",
        default_value = DEFAULT_BOOTSTRAP,
        value_name = "HOST:PORT[,...]"
    )]
    pub bootstrap_server: String,
}

/// Runs `future` to completion on a single-threaded tokio runtime (the client needs no more).
pub fn block_on<F: Future<Output = anyhow::Result<()>>>(future: F) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|err| anyhow!("could not start the tokio runtime: {err}"))?;
    runtime.block_on(future)
}

/// An admin client for the nodes of `--bootstrap-server`, with an error that says what to do.
pub async fn connect_admin(bootstrap: &BootstrapArgs) -> anyhow::Result<eddy::client::Admin> {
    let servers = &bootstrap.bootstrap_server;
    eddy::client::Admin::connect(servers)
        .await
        .map_err(|err| explain(err, servers))
}

/// A table without borders, headed by `header`, in the style of `kubectl get`.
pub fn table(header: &[&str]) -> Table {
    let mut table = Table::new();
    table
        .load_preset(presets::NOTHING)
        .set_header(header.to_vec());
    table
}

/// Turns a client error into an error that says what to do next.
pub fn explain(err: ClientError, bootstrap: &str) -> anyhow::Error {
    explain_for_topic(err, bootstrap, None)
}

/// Like [`explain`], naming `topic` in the advice.
pub fn explain_for_topic(err: ClientError, bootstrap: &str, topic: Option<&str>) -> anyhow::Error {
    if err.is_unreachable() {
        return anyhow!(
            "could not connect to {bootstrap}: is a node running? start one with `eddy start` ({})",
            root_cause(&err)
        );
    }
    if let Some(addr) = answered_http(&err) {
        return anyhow!(
            "{addr} answered HTTP: that is probably the admin port; the Kafka port is {}",
            kafka_ports_of(addr)
        );
    }
    let topic = topic.unwrap_or("TOPIC");
    let hint = match err.kafka_error() {
        Some(ResponseError::UnknownTopicOrPartition) => Some(format!(
            "topic {topic} does not exist: create it with `eddy topic create {topic}`"
        )),
        Some(ResponseError::TopicAlreadyExists) => Some(format!(
            "topic {topic} already exists: see it with `eddy topic describe {topic}`"
        )),
        Some(ResponseError::InvalidReplicationFactor) => Some(
            "the replication factor is larger than the number of nodes: lower --replication-factor"
                .to_owned(),
        ),
        _ => None,
    };
    let hint = hint.or_else(|| match &err {
        ClientError::UnsupportedApi { .. } => {
            Some("the node does not speak this request: is it an Eddy or Kafka node?".to_owned())
        }
        ClientError::Timeout { .. } => {
            Some("the node did not answer in time: is it overloaded or stuck?".to_owned())
        }
        ClientError::UnknownPartition { .. } => Some(format!(
            "list the partitions with `eddy topic describe {topic}`"
        )),
        _ => None,
    });
    match hint {
        Some(hint) => anyhow::Error::new(err).context(hint),
        None => anyhow::Error::new(err),
    }
}

/// The address that answered a Kafka request in HTTP, if that is what went wrong.
fn answered_http(err: &ClientError) -> Option<&str> {
    match err {
        ClientError::AnsweredHttp { addr, .. } => Some(addr),
        ClientError::NoBrokerReachable { last, .. } => answered_http(last),
        _ => None,
    }
}

/// The limit on each step of asking an admin port for the node's Kafka listeners.
const ADMIN_PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// The Kafka listeners of the cluster whose admin HTTP port is `admin` (from its
/// `/cluster`), or where to find them when it does not say. Blocking, and only on the way
/// out with an error, so that the explanation needs no async caller.
fn kafka_ports_of(admin: &str) -> String {
    let fallback = "the node's --listen address (127.0.0.1:9092 unless set)".to_owned();
    let ask = || -> Option<Vec<String>> {
        let addr = std::net::ToSocketAddrs::to_socket_addrs(admin)
            .ok()?
            .next()?;
        let mut stream = std::net::TcpStream::connect_timeout(&addr, ADMIN_PROBE_TIMEOUT).ok()?;
        stream.set_read_timeout(Some(ADMIN_PROBE_TIMEOUT)).ok()?;
        stream.set_write_timeout(Some(ADMIN_PROBE_TIMEOUT)).ok()?;
        write!(stream, "GET /cluster HTTP/1.0\r\nHost: {admin}\r\n\r\n").ok()?;
        let mut response = Vec::new();
        // The answer is one small JSON document; the bound keeps a stranger's stream short.
        std::io::Read::read_to_end(&mut std::io::Read::take(stream, 1 << 20), &mut response)
            .ok()?;
        let start = response.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
        let cluster: serde_json::Value = serde_json::from_slice(&response[start..]).ok()?;
        let ports: Vec<String> = cluster["members"]
            .as_array()?
            .iter()
            .filter_map(|member| member["kafka"].as_str().map(str::to_owned))
            .collect();
        (!ports.is_empty()).then_some(ports)
    };
    ask().map_or(fallback, |ports| {
        format!("{}; try -b {}", ports[0], ports.join(","))
    })
}

/// The innermost cause of an error, e.g. "Connection refused (os error 111)".
pub fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = err;
    while let Some(source) = cause.source() {
        cause = source;
    }
    cause.to_string()
}

/// Writes one line to stdout; `Ok(false)` once the reader went away (a closed pipe, as
/// with `| head`), so that the caller can stop quietly instead of panicking in `println!`.
pub fn print_line(line: impl Display) -> anyhow::Result<bool> {
    let mut stdout = std::io::stdout().lock();
    match writeln!(stdout, "{line}") {
        Ok(()) => Ok(true),
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
        Err(err) => Err(anyhow!("could not write to stdout: {err}")),
    }
}

/// Splits `k=v` (for `--config` and `--header`).
pub fn parse_key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(format!("`{s}` is not KEY=VALUE")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_values_split_at_the_first_equals() {
        assert_eq!(
            parse_key_value("retention.ms=a=b"),
            Ok(("retention.ms".into(), "a=b".into()))
        );
        assert_eq!(parse_key_value("k="), Ok(("k".into(), String::new())));
        assert!(parse_key_value("=v").is_err());
        assert!(parse_key_value("novalue").is_err());
    }
}
