//! How the commands that talk to a node's admin endpoint (`eddy cluster`, `eddy connect
//! create|list|…`, `eddy supervisors`) reach it: the `-b`/`--admin` options, finding the
//! admin address from the node at `-b` and making sure the endpoint found is that node,
//! and the HTTP client (one request, an answer read up to a limit, and errors that say
//! what to do next when nothing answers).

use std::fmt;
use std::time::Duration;

use anyhow::{anyhow, bail, Context as _};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::Value;

use super::node_access::{connect_admin, explain, root_cause, BootstrapArgs, DEFAULT_BOOTSTRAP};

/// The `-b`, `--admin` and `--json` options of the commands that talk to a node's admin
/// HTTP endpoint. The node at `-b` advertises its admin address (the read-only broker config
/// `eddy.admin.address`), so `-b` alone is enough; `--admin` overrides it, and reaches what
/// `-b` cannot (`eddy connect run --admin`). An admin endpoint that is not the node at `-b`
/// is refused: see [`AdminArgs::resolve`].
#[derive(clap::Args, Debug, Clone)]
pub struct AdminArgs {
    /// Kafka address(es) of the cluster: HOST:PORT[,HOST:PORT...]; the node that answers
    /// says where its admin endpoint is [default: 127.0.0.1:9092].
    #[arg(
        long = "bootstrap-server",
        short = 'b',
        env = "EDDY_BOOTSTRAP_SERVER",
        value_name = "HOST:PORT[,...]"
    )]
    pub bootstrap_server: Option<String>,
    /// The admin HTTP address to use instead of the one the node at -b advertises (or that
    /// of `eddy connect run --admin`). Its own variable, not `eddy start`'s EDDY_ADMIN, so
    /// that the shell that started a node does not redirect commands meant for another.
    #[arg(long = "admin", env = "EDDY_ADMIN_ADDRESS", value_name = "HOST:PORT")]
    pub admin_override: Option<String>,
    /// Print the JSON the node answers, unchanged.
    #[arg(long)]
    pub json: bool,
}

/// The one request that asks an admin endpoint which node it is (`GET /cluster`, which
/// lists every partition, hence the larger answers).
const IDENTITY_CLIENT: AdminClient = AdminClient {
    serves: "the admin endpoint",
    request_timeout: Duration::from_secs(10),
    response_bytes_max: 32 * 1024 * 1024,
    unreachable_hint: |admin| {
        format!(
            "is a node running with `eddy start --admin {admin}`? (-b finds the admin \
             address the node advertises; --admin HOST:PORT sets it)"
        )
    },
};

/// A node, as it names itself.
#[derive(Debug, Clone, PartialEq, Eq)]
struct NodeIdentity {
    node_id: i32,
    /// `None` when the Kafka listener reports no cluster id.
    cluster_id: Option<String>,
}

impl NodeIdentity {
    /// Whether `other` is this node: the same id, in the same cluster when both say.
    fn is(&self, other: &NodeIdentity) -> bool {
        self.node_id == other.node_id
            && match (&self.cluster_id, &other.cluster_id) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            }
    }
}

impl fmt::Display for NodeIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.cluster_id {
            Some(cluster) => write!(f, "node {} of cluster {cluster}", self.node_id),
            None => write!(f, "node {}", self.node_id),
        }
    }
}

/// What the node that answered at `-b` says about itself.
struct AskedNode {
    /// `None` from a Kafka broker that reports no `node.id` (not an Eddy node).
    identity: Option<NodeIdentity>,
    /// Its `eddy.admin.address`.
    admin: Option<String>,
}

impl AdminArgs {
    /// The `-b` servers as given, or the default.
    fn servers(&self) -> &str {
        self.bootstrap_server
            .as_deref()
            .unwrap_or(DEFAULT_BOOTSTRAP)
    }

    /// The admin HTTP address to talk to: `--admin` if given, else the address the node
    /// at `-b` advertises. Either way, when a node answers at `-b` (asked with `--admin`
    /// only if `-b` or `EDDY_BOOTSTRAP_SERVER` was given) and another node answers at the
    /// admin address, it refuses, naming both, rather than send a command (a
    /// decommission) to the wrong node. An advertised loopback address is refused unless
    /// `-b` is on this machine too.
    pub async fn resolve(&self) -> anyhow::Result<String> {
        let servers = self.servers();
        if let Some(admin) = &self.admin_override {
            // A standalone Connect worker's REST API names no node: nothing to compare.
            let Some(serving) = admin_identity(admin).await? else {
                return Ok(admin.clone());
            };
            if self.bootstrap_server.is_none() {
                return Ok(admin.clone());
            }
            // With --admin, -b names a node only if one answers there.
            let Ok(AskedNode {
                identity: Some(asked),
                ..
            }) = ask_bootstrap(servers).await
            else {
                return Ok(admin.clone());
            };
            if !asked.is(&serving) {
                bail!(given_mismatch(admin, &serving, servers, &asked));
            }
            return Ok(admin.clone());
        }
        let asked = ask_bootstrap(servers).await?;
        let advertised = asked
            .admin
            .ok_or_else(|| anyhow!("{}", no_admin_address(servers)))?;
        let asked = asked
            .identity
            .ok_or_else(|| anyhow!("{}", no_node_id(servers)))?;
        if is_loopback(&advertised).await && !any_loopback(servers).await {
            bail!(loopback_refusal(servers, &asked, &advertised));
        }
        let serving = admin_identity(&advertised)
            .await
            .with_context(|| {
                format!("the node at {servers} advertises its admin endpoint at {advertised}")
            })?
            .ok_or_else(|| {
                anyhow!(
                    "{advertised}, the admin address the node at {servers} advertises, is not \
                     an Eddy node's admin endpoint (GET /cluster answered 404): pass the \
                     node's admin address with --admin HOST:PORT"
                )
            })?;
        if !asked.is(&serving) {
            bail!(discovered_mismatch(servers, &asked, &advertised, &serving));
        }
        Ok(advertised)
    }
}

/// Asks the node that answers at `servers` for its id, its cluster's id and its admin
/// address (DescribeConfigs and Metadata, both on the one connection the client keeps to
/// the node that answered first).
async fn ask_bootstrap(servers: &str) -> anyhow::Result<AskedNode> {
    let bootstrap = BootstrapArgs {
        bootstrap_server: servers.to_owned(),
    };
    let mut admin = connect_admin(&bootstrap).await?;
    let configs = admin
        .describe_node_configs()
        .await
        .map_err(|err| explain(err, servers))?;
    let value = |name: &str| {
        configs
            .iter()
            .find(|c| c.name == name)
            .and_then(|c| c.value.clone())
            .filter(|v| !v.is_empty())
    };
    let node_id = value("node.id").and_then(|v| v.parse::<i32>().ok());
    let admin_address = value(eddy::node::admin_http::ADMIN_ADDRESS_CONFIG);
    let cluster_id = admin
        .describe_cluster()
        .await
        .map_err(|err| explain(err, servers))?
        .cluster_id;
    Ok(AskedNode {
        identity: node_id.map(|node_id| NodeIdentity {
            node_id,
            cluster_id,
        }),
        admin: admin_address,
    })
}

/// Which node serves the admin endpoint at `admin` (its `GET /cluster`); `None` when it
/// serves no `/cluster`, as a standalone Connect worker's REST API does not.
async fn admin_identity(admin: &str) -> anyhow::Result<Option<NodeIdentity>> {
    /// The fields of `GET /cluster` that name the node.
    #[derive(Deserialize)]
    struct Identity {
        node_id: i32,
        cluster_id: String,
    }
    let answer = IDENTITY_CLIENT
        .send(admin, Method::GET, "/cluster", None)
        .await?;
    if answer.status == StatusCode::NOT_FOUND {
        return Ok(None);
    }
    if !answer.status.is_success() {
        return Err(answer.refusal(&format!("is {admin} an Eddy node's admin endpoint?")));
    }
    let identity: Identity = serde_json::from_slice(&answer.body)
        .with_context(|| format!("{} sent an unexpected document", answer.request))?;
    Ok(Some(NodeIdentity {
        node_id: identity.node_id,
        cluster_id: Some(identity.cluster_id),
    }))
}

/// Whether every address `addr` (`HOST:PORT`) resolves to is a loopback address.
async fn is_loopback(addr: &str) -> bool {
    let Some((host, _)) = addr.trim().rsplit_once(':') else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        return ip.is_loopback();
    }
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    match tokio::net::lookup_host(addr.trim()).await {
        Ok(addrs) => {
            let addrs: Vec<_> = addrs.collect();
            !addrs.is_empty() && addrs.iter().all(|a| a.ip().is_loopback())
        }
        Err(_) => false,
    }
}

/// Whether one of the comma-separated `servers` is on this machine.
async fn any_loopback(servers: &str) -> bool {
    for server in servers.split(',') {
        if is_loopback(server).await {
            return true;
        }
    }
    false
}

/// The refusal when the node at `servers` advertises no admin address.
fn no_admin_address(servers: &str) -> String {
    let name = eddy::node::admin_http::ADMIN_ADDRESS_CONFIG;
    format!(
        "the node at {servers} advertises no admin HTTP address (broker config {name}): \
         it is not an Eddy node, or an older one; pass its admin address with \
         --admin HOST:PORT (what `eddy start --admin` was given)"
    )
}

/// The refusal when the node at `servers` reports no `node.id`.
fn no_node_id(servers: &str) -> String {
    format!(
        "the node at {servers} reports no node.id, so its admin endpoint cannot be told \
         apart from another node's: pass its admin address with --admin HOST:PORT"
    )
}

/// The refusal of an advertised loopback admin address seen from another machine.
fn loopback_refusal(servers: &str, asked: &NodeIdentity, advertised: &str) -> String {
    format!(
        "the node at {servers} ({asked}) advertises its admin endpoint at {advertised}, a \
         loopback address: from here that is this machine, not that node, so the command \
         is not sent; pass the node's admin address as reachable from here with \
         --admin HOST:PORT (or start the node with --admin on an address other machines \
         reach)"
    )
}

/// The refusal when the node at the advertised admin address is not the node at `-b`.
fn discovered_mismatch(
    servers: &str,
    asked: &NodeIdentity,
    advertised: &str,
    serving: &NodeIdentity,
) -> String {
    format!(
        "the node at {servers} is {asked} and advertises its admin endpoint at \
         {advertised}, but {serving} answers there: the command is not sent to the wrong \
         node; pass the admin address of {asked} with --admin HOST:PORT"
    )
}

/// The refusal when `--admin` is another node than the one at `-b`.
fn given_mismatch(
    admin: &str,
    serving: &NodeIdentity,
    servers: &str,
    asked: &NodeIdentity,
) -> String {
    format!(
        "--admin {admin} is {serving}, but the node at -b {servers} is {asked}: the \
         command is not sent to the wrong node; pass the admin address of {asked} with \
         --admin HOST:PORT, or the -b of {serving}"
    )
}

/// How one command talks to admin endpoints: its limits, and what it asks the user when
/// nothing answers. Each command keeps one as a constant.
pub struct AdminClient {
    /// What answers, as the messages name it: "the admin endpoint", "the Connect REST API".
    pub serves: &'static str,
    /// How long the endpoint may take to answer.
    pub request_timeout: Duration,
    /// The largest answer read.
    pub response_bytes_max: usize,
    /// What to ask when nothing answers at the given `--admin` address, e.g. "is a node
    /// running? start one with `eddy start`".
    pub unreachable_hint: fn(admin: &str) -> String,
}

/// What the endpoint answered, whatever its status.
pub struct Answer {
    /// The request as the messages name it: `GET http://127.0.0.1:9644/cluster`.
    pub request: String,
    pub status: StatusCode,
    /// At most `response_bytes_max` bytes.
    pub body: Vec<u8>,
}

impl AdminClient {
    /// Sends `method path` (with `body` as JSON) to `admin` and reads the answer.
    pub async fn send(
        &self,
        admin: &str,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Answer> {
        let url = format!("http://{admin}{path}");
        let client = reqwest::Client::builder()
            .timeout(self.request_timeout)
            .build()
            .context("building the HTTP client")?;
        let mut request = client.request(method.clone(), &url);
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let mut response = request
            .send()
            .await
            .map_err(|err| self.unreachable(&err, admin, &url))?;
        let status = response.status();
        let mut bytes = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .with_context(|| format!("reading {url}"))?
        {
            if bytes.len() + chunk.len() > self.response_bytes_max {
                return Err(anyhow!(
                    "{method} {url} sent more than {} bytes",
                    self.response_bytes_max
                ));
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(Answer {
            request: format!("{method} {url}"),
            status,
            body: bytes,
        })
    }

    /// What to do when the request got no answer.
    fn unreachable(&self, err: &reqwest::Error, admin: &str, url: &str) -> anyhow::Error {
        if err.is_timeout() {
            return anyhow!(
                "{url} did not answer within {} s: is the node overloaded or stuck?",
                self.request_timeout.as_secs()
            );
        }
        anyhow!(
            "could not reach {} at {url}: {} ({})",
            self.serves,
            (self.unreachable_hint)(admin),
            root_cause(err)
        )
    }
}

impl Answer {
    /// The error a non-2xx answer stands for: the node's own message when it sent one,
    /// else the status, followed by `not_found_hint` after a 404.
    pub fn refusal(&self, not_found_hint: &str) -> anyhow::Error {
        let Answer {
            request, status, ..
        } = self;
        match error_message(&self.body) {
            Some(message) => anyhow!("{message}"),
            None if *status == StatusCode::NOT_FOUND => {
                anyhow!("{request} answered 404: {not_found_hint}")
            }
            None => anyhow!("{request} answered {status}"),
        }
    }
}

/// The `error` of a JSON error answer (`message` as the Connect REST API says it).
fn error_message(body: &[u8]) -> Option<String> {
    let answer: Value = serde_json::from_slice(body).ok()?;
    ["error", "message"]
        .iter()
        .find_map(|key| answer.get(key).and_then(Value::as_str))
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_read_as_one_sentence() {
        assert_eq!(
            no_admin_address("kafka1:9092"),
            "the node at kafka1:9092 advertises no admin HTTP address (broker config \
             eddy.admin.address): it is not an Eddy node, or an older one; pass its admin \
             address with --admin HOST:PORT (what `eddy start --admin` was given)"
        );
        let one = NodeIdentity {
            node_id: 1,
            cluster_id: Some("c1".into()),
        };
        let two = NodeIdentity {
            node_id: 2,
            cluster_id: Some("c2".into()),
        };
        for message in [
            no_admin_address("h:1"),
            no_node_id("h:1"),
            loopback_refusal("h:1", &one, "127.0.0.1:9644"),
            discovered_mismatch("h:1", &one, "127.0.0.1:9644", &two),
            given_mismatch("127.0.0.1:9644", &two, "h:1", &one),
        ] {
            assert!(!message.contains("  "), "double space in {message:?}");
            assert!(message.contains("--admin HOST:PORT"), "{message}");
        }
        assert_eq!(
            given_mismatch("a:2", &two, "h:1", &one),
            "--admin a:2 is node 2 of cluster c2, but the node at -b h:1 is node 1 of cluster \
             c1: the command is not sent to the wrong node; pass the admin address of node 1 \
             of cluster c1 with --admin HOST:PORT, or the -b of node 2 of cluster c2"
        );
    }

    #[test]
    fn a_node_is_its_id_in_its_cluster() {
        let node = |id, cluster: Option<&str>| NodeIdentity {
            node_id: id,
            cluster_id: cluster.map(str::to_owned),
        };
        assert!(node(1, Some("a")).is(&node(1, Some("a"))));
        assert!(!node(1, Some("a")).is(&node(1, Some("b"))));
        assert!(!node(1, Some("a")).is(&node(2, Some("a"))));
        assert!(node(1, None).is(&node(1, Some("a"))));
    }

    #[test]
    fn loopback_addresses_are_told_from_others() {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(async {
                assert!(is_loopback("127.0.0.1:9644").await);
                assert!(is_loopback("[::1]:9644").await);
                assert!(is_loopback("localhost:9644").await);
                assert!(!is_loopback("10.0.0.5:9644").await);
                assert!(!is_loopback("[2001:db8::1]:9644").await);
                assert!(any_loopback("10.0.0.5:9092, 127.0.0.1:9092").await);
                assert!(!any_loopback("10.0.0.5:9092,192.168.1.2:9092").await);
            });
    }

    #[test]
    fn error_answers_give_their_message() {
        assert_eq!(
            error_message(br#"{"error":"node 9 is not a member"}"#).as_deref(),
            Some("node 9 is not a member")
        );
        assert_eq!(error_message(br#"{"message":"x"}"#).as_deref(), Some("x"));
        assert_eq!(error_message(b"not json"), None);
        assert_eq!(error_message(br#"{"code":1}"#), None);
    }

    #[test]
    fn refusals_without_a_message_name_the_request_and_status() {
        let answer = |status, body: &[u8]| Answer {
            request: "GET http://h:1/x".to_owned(),
            status,
            body: body.to_vec(),
        };
        let refusal = |status, body| answer(status, body).refusal("is h:1 a node?").to_string();
        assert_eq!(
            refusal(StatusCode::NOT_FOUND, b""),
            "GET http://h:1/x answered 404: is h:1 a node?"
        );
        assert_eq!(
            refusal(StatusCode::BAD_GATEWAY, b"<html>"),
            "GET http://h:1/x answered 502 Bad Gateway"
        );
        assert_eq!(
            refusal(
                StatusCode::NOT_FOUND,
                br#"{"error_code":404,"message":"no c"}"#
            ),
            "no c"
        );
    }
}
