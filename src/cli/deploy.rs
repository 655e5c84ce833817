//! `eddy topology deploy|undeploy`: record (or remove) a topology deployed to the cluster,
//! through a node's admin port (`POST /deployments`, `DELETE /deployments/APP`). Every
//! node then runs the application's tasks beside their input partitions' leaders; the
//! node that takes the request checks the topology and configs against its catalog, and
//! refuses a topology some node's binary lacks.

use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::admin_client::{AdminArgs, AdminClient};
use super::node_access::block_on;

/// The admin endpoint as these commands call it (a deployment is recorded through the
/// quorum, which can take a few seconds while a leader is elected).
const CLIENT: AdminClient = AdminClient {
    serves: "the admin endpoint",
    request_timeout: Duration::from_secs(30),
    response_bytes_max: 1024 * 1024,
    unreachable_hint: |admin| {
        format!(
            "is a node running with `eddy start --admin {admin}`? (-b finds the admin \
             address the node advertises; --admin HOST:PORT sets it)"
        )
    },
};

/// Arguments of `eddy topology deploy`.
#[derive(Args, Debug)]
pub struct DeployArgs {
    /// The topology's name in the nodes' catalog (`eddy topology catalog` lists this
    /// binary's).
    name: String,
    /// The application id (Kafka's `application.id`: the consumer group and the prefix of
    /// the internal topics).
    #[arg(long)]
    application_id: String,
    /// A config, repeatable: Kafka Streams' (`commit.interval.ms`, `session.timeout.ms`,
    /// `heartbeat.interval.ms`) or the topology's own (`input.topic`, …).
    #[arg(long = "config", value_name = "KEY=VALUE", value_parser = super::topology::parse_config)]
    configs: Vec<(String, String)>,
    #[command(flatten)]
    admin: AdminArgs,
}

/// Arguments of `eddy topology undeploy`.
#[derive(Args, Debug)]
pub struct UndeployArgs {
    /// The application id.
    application_id: String,
    #[command(flatten)]
    admin: AdminArgs,
}

/// Runs `eddy topology deploy`.
pub fn deploy(args: DeployArgs) -> anyhow::Result<()> {
    block_on(async move {
        let admin = args.admin.resolve().await?;
        let configs: serde_json::Map<String, Value> = args
            .configs
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        let body = json!({
            "application_id": args.application_id,
            "topology": args.name,
            "configs": configs,
        });
        let answer = CLIENT
            .send(&admin, Method::POST, "/deployments", Some(&body))
            .await?;
        if !answer.status.is_success() {
            return Err(answer
                .refusal("this node's admin endpoint has no /deployments: is it an older Eddy?"));
        }
        if args.admin.json {
            println!("{}", String::from_utf8_lossy(&answer.body));
            return Ok(());
        }
        let verb = if answer.status == StatusCode::CREATED {
            "deployed"
        } else {
            "already deployed, unchanged:"
        };
        println!(
            "{verb} application {} (topology {}): every node runs its tasks beside their input \
             partitions' leaders; `eddy topology describe {}` shows where",
            args.application_id, args.name, args.application_id
        );
        Ok(())
    })
}

/// A deployment as `GET /deployments` lists it (the fields `list` shows).
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
pub struct Deployment {
    /// `application.id`.
    pub application_id: String,
    /// The catalog name.
    pub topology: String,
    /// Nodes whose binary cannot run it.
    #[serde(default)]
    pub unable_nodes: Vec<i32>,
}

/// The deployments of the cluster at `bootstrap`, read through the admin port the node
/// there advertises; `None` if it cannot be reached (an older node, a Kafka broker).
pub async fn deployments(bootstrap: &str) -> Option<Vec<Deployment>> {
    let args = AdminArgs {
        bootstrap_server: Some(bootstrap.to_string()),
        admin_override: None,
        json: false,
    };
    let admin = args.resolve().await.ok()?;
    let answer = CLIENT
        .send(&admin, Method::GET, "/deployments", None)
        .await
        .ok()?;
    if !answer.status.is_success() {
        return None;
    }
    serde_json::from_slice(&answer.body).ok()
}

/// Runs `eddy topology undeploy`.
pub fn undeploy(args: UndeployArgs) -> anyhow::Result<()> {
    block_on(async move {
        let admin = args.admin.resolve().await?;
        let path = format!("/deployments/{}", args.application_id);
        let answer = CLIENT
            .send(&admin, Method::DELETE, &path, None)
            .await
            .with_context(|| format!("undeploying {}", args.application_id))?;
        if !answer.status.is_success() {
            return Err(answer.refusal("`eddy topology list` shows what runs"));
        }
        if args.admin.json {
            println!("{}", json!({ "undeployed": args.application_id }));
            return Ok(());
        }
        println!(
            "undeployed application {}: every node's instance commits, stops and leaves the \
             group; its topics stay",
            args.application_id
        );
        Ok(())
    })
}
