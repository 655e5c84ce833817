//! `eddy supervisors`: a node's supervision tree, read from its admin HTTP endpoint.

use std::time::Duration;

use anyhow::{anyhow, Context as _};
use reqwest::{Method, StatusCode};
use serde::Deserialize;

use super::admin_client::{AdminArgs, AdminClient};
use super::node_access::{block_on, table};

/// The admin endpoint as this command calls it.
const CLIENT: AdminClient = AdminClient {
    serves: "the admin endpoint",
    request_timeout: Duration::from_secs(10),
    response_bytes_max: 8 * 1024 * 1024,
    unreachable_hint: |admin| {
        format!(
            "is a node running with `eddy start --admin {admin}`? (-b finds the admin \
             address the node advertises; --admin HOST:PORT sets it)"
        )
    },
};
/// The deepest tree printed; deeper children are summarised.
const TREE_DEPTH_MAX: usize = 32;

/// Arguments of `eddy supervisors`: `-b` (or the admin address) and `--json`.
pub type SupervisorsArgs = AdminArgs;

/// The `/supervisors` document.
#[derive(Debug, Deserialize)]
struct SupervisorsReport {
    node_id: i64,
    root: SupervisorNode,
}

/// One supervisor or actor of the tree.
#[derive(Debug, Deserialize)]
struct SupervisorNode {
    name: String,
    state: String,
    #[serde(default)]
    restarts: u64,
    #[serde(default)]
    last_error: Option<String>,
    #[serde(default)]
    mailbox_depth: u64,
    #[serde(default)]
    uptime_ms: u64,
    #[serde(default)]
    children: Vec<SupervisorNode>,
}

/// Runs `eddy supervisors`.
pub fn run(args: SupervisorsArgs) -> anyhow::Result<()> {
    block_on(async move {
        let admin = args.resolve().await?;
        let body = fetch(&admin).await?;
        if args.json {
            println!("{}", String::from_utf8_lossy(&body));
            return Ok(());
        }
        let report: SupervisorsReport = serde_json::from_slice(&body)
            .with_context(|| format!("the admin endpoint {admin} sent an unexpected document"))?;
        println!("node {}", report.node_id);
        let mut out = table(&[
            "NAME",
            "STATE",
            "RESTARTS",
            "LAST ERROR",
            "MAILBOX",
            "UPTIME",
        ]);
        add_rows(&mut out, &report.root, "", "", 0);
        println!("{out}");
        Ok(())
    })
}

/// GETs `/supervisors` from `admin`.
async fn fetch(admin: &str) -> anyhow::Result<Vec<u8>> {
    let answer = CLIENT
        .send(admin, Method::GET, "/supervisors", None)
        .await?;
    if answer.status == StatusCode::NOT_FOUND && serves_connect_only(admin).await {
        return Err(anyhow!(
            "{admin} serves the Connect REST API only (an `eddy connect run --admin` worker?), \
             not a node's admin endpoint, so it has no supervision tree: give the node's Kafka \
             address with -b HOST:PORT (its admin port is found from it), or its admin \
             address with --admin HOST:PORT; `eddy connect list --admin {admin}` shows \
             that worker's connectors"
        ));
    }
    if !answer.status.is_success() {
        return Err(answer.refusal(&format!("is {admin} an Eddy node's admin endpoint?")));
    }
    Ok(answer.body)
}

/// Whether `admin` answers the Connect REST API (`GET /connectors`), as a standalone
/// Connect worker does, having answered 404 to `/supervisors`.
async fn serves_connect_only(admin: &str) -> bool {
    match CLIENT.send(admin, Method::GET, "/connectors", None).await {
        Ok(answer) => {
            answer.status.is_success()
                && serde_json::from_slice::<serde_json::Value>(&answer.body).is_ok()
        }
        Err(_) => false,
    }
}

/// Adds `node` and its children, drawing the tree in the name column.
fn add_rows(
    out: &mut comfy_table::Table,
    node: &SupervisorNode,
    prefix: &str,
    child_prefix: &str,
    depth: usize,
) {
    out.add_row(vec![
        format!("{prefix}{}", node.name),
        node.state.clone(),
        node.restarts.to_string(),
        node.last_error.clone().unwrap_or_else(|| "-".to_owned()),
        node.mailbox_depth.to_string(),
        format_uptime(node.uptime_ms),
    ]);
    if depth >= TREE_DEPTH_MAX {
        if !node.children.is_empty() {
            let more = format!("{child_prefix}… {} more", node.children.len());
            out.add_row(vec![more]);
        }
        return;
    }
    let count = node.children.len();
    for (index, child) in node.children.iter().enumerate() {
        let last = index + 1 == count;
        let branch = if last { "└─ " } else { "├─ " };
        let next = if last { "   " } else { "│  " };
        let prefix = format!("{child_prefix}{branch}");
        let nested = format!("{child_prefix}{next}");
        add_rows(out, child, &prefix, &nested, depth + 1);
    }
}

/// An uptime as `1d2h`, `3h04m`, `5m06s` or `7.8s`.
fn format_uptime(uptime_ms: u64) -> String {
    let seconds = uptime_ms / 1000;
    let (days, hours, minutes) = (seconds / 86_400, seconds / 3600 % 24, seconds / 60 % 60);
    if days > 0 {
        format!("{days}d{hours}h")
    } else if hours > 0 {
        format!("{hours}h{minutes:02}m")
    } else if minutes > 0 {
        format!("{minutes}m{:02}s", seconds % 60)
    } else {
        format!("{}.{}s", seconds, uptime_ms % 1000 / 100)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uptimes_read_at_a_glance() {
        assert_eq!(format_uptime(7_850), "7.8s");
        assert_eq!(format_uptime(306_000), "5m06s");
        assert_eq!(format_uptime(3 * 3_600_000 + 4 * 60_000), "3h04m");
        assert_eq!(format_uptime(26 * 3_600_000), "1d2h");
    }

    #[test]
    fn draws_the_tree() {
        let json = r#"{"node_id":1,"root":{"name":"node","state":"running","restarts":0,
            "last_error":null,"mailbox_depth":0,"uptime_ms":1000,"children":[
              {"name":"a","state":"running","restarts":1,"last_error":"boom","mailbox_depth":2,
               "uptime_ms":10,"children":[{"name":"a1","state":"failed","restarts":0,
               "last_error":null,"mailbox_depth":0,"uptime_ms":0,"children":[]}]},
              {"name":"b","state":"stopped","restarts":0,"last_error":null,"mailbox_depth":0,
               "uptime_ms":0,"children":[]}]}}"#;
        let report: SupervisorsReport = serde_json::from_str(json).unwrap();
        let mut out = table(&[
            "NAME",
            "STATE",
            "RESTARTS",
            "LAST ERROR",
            "MAILBOX",
            "UPTIME",
        ]);
        add_rows(&mut out, &report.root, "", "", 0);
        let text = out.to_string();
        assert!(text.contains("├─ a"), "{text}");
        assert!(text.contains("│  └─ a1"), "{text}");
        assert!(text.contains("└─ b"), "{text}");
        assert!(text.contains("boom"), "{text}");
    }
}
