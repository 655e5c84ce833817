//! The admin HTTP endpoint (axum): `/health` (503 with the cause once storage failed),
//! `/supervisors` (the live actor tree as JSON), `/metrics` (Prometheus text), `/topics` and
//! `/cluster` (members, quorum, placement), plus
//! Kafka Connect's REST API and the streams applications' reports and interactive queries
//! (`/topologies…`, see `streams::admin_routes`).
//!
//! Every error answer is JSON in the shape of Kafka Connect's REST API,
//! `{"error_code":404,"message":"…"}`: the handlers write their own, and [`json_errors`]
//! turns the rest (an unknown route, a method not allowed, a malformed path) into it.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, MethodRouter};
use axum::{Json, Router};
use metrics_exporter_prometheus::PrometheusHandle;
use serde::Serialize;
use tokio::net::TcpListener;

use crate::kafka::Broker;
use crate::topologies::host::{ReportHosted, TopologyHost};
use actix::Addr;
use eddy_actors::node_supervisor::Report;
use eddy_actors::supervision::{ChildRecord, ChildState};
use eddy_connect::{ConnectHandle, ReportConnectors};
use eddy_streams::Catalog;

/// The read-only broker config (DescribeConfigs, broker resource) in which a node
/// advertises its admin HTTP address, so that the CLI needs only the Kafka address (`-b`).
pub const ADMIN_ADDRESS_CONFIG: &str = "eddy.admin.address";

/// The admin address a node advertises: the bound address, with the Kafka advertised host
/// in place of an unspecified IP (`0.0.0.0` or `::`), which no client can connect to. An
/// IPv6 literal host is bracketed (`[::1]:9644`). This is the one place the unspecified
/// host is replaced: the CLI uses the address as advertised.
pub fn advertised_admin_address(bound: SocketAddr, advertised_host: &str) -> String {
    if !bound.ip().is_unspecified() {
        return bound.to_string();
    }
    let port = bound.port();
    let bare = advertised_host
        .trim_start_matches('[')
        .trim_end_matches(']');
    if bare.parse::<std::net::Ipv6Addr>().is_ok() {
        format!("[{bare}]:{port}")
    } else {
        format!("{advertised_host}:{port}")
    }
}

/// The routes of this endpoint's own router: the one list that both builds the router and
/// names the routes in the answer to an unknown one.
fn own_routes() -> Vec<(&'static str, MethodRouter<AdminState>)> {
    vec![
        ("/health", get(health)),
        ("/supervisors", get(supervisors)),
        ("/metrics", get(render_metrics)),
        ("/topics", get(topics)),
        ("/cluster", get(cluster)),
        ("/cluster/moves", get(cluster_moves)),
        ("/cluster/decommission/{node_id}", post(decommission)),
    ]
}

/// The route prefixes of the routers merged in: Kafka Connect's REST API and the streams
/// applications'.
const MERGED_ROUTE_PREFIXES: [&str; 3] = ["/connectors…", "/topologies…", "/deployments…"];

/// What the answer to an unknown route lists: every route, a path parameter such as
/// `{node_id}` written `NODE_ID`.
fn served_routes(own: &[&str]) -> String {
    let shown: Vec<String> = own
        .iter()
        .map(|path| {
            path.split('/')
                .map(
                    |part| match part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                        Some(param) => param.to_uppercase(),
                        None => part.to_owned(),
                    },
                )
                .collect::<Vec<_>>()
                .join("/")
        })
        .collect();
    let [connect, topologies, deployments] = MERGED_ROUTE_PREFIXES;
    format!(
        "{}, {connect}, {topologies} and {deployments}",
        shown.join(", ")
    )
}

#[derive(Clone)]
struct AdminState {
    broker: Arc<Broker>,
    metrics: Option<PrometheusHandle>,
    connect: ConnectHandle,
    topologies: Addr<TopologyHost>,
    kafka_listener: String,
}

/// What the admin endpoint serves of the topologies deployed to the cluster: this node's
/// host (its instances, for `/supervisors`) and catalog (to check a deployment).
pub struct AdminTopologies {
    /// This node's TopologyHost.
    pub host: Addr<TopologyHost>,
    /// The topologies this binary can run.
    pub catalog: Arc<Catalog>,
}

/// Serves the admin endpoint until the task is dropped; `Err` with the reason if the
/// server stops (the supervision tree shows it as the `admin-http` service's error).
/// Kafka Connect's REST API (`/connectors…`) is served here too.
pub async fn serve_admin(
    listener: TcpListener,
    broker: Arc<Broker>,
    metrics: Option<PrometheusHandle>,
    connect: ConnectHandle,
    topologies: AdminTopologies,
    kafka_listener: String,
) -> Result<(), String> {
    let broker_for_routes = broker.clone();
    let routes = own_routes();
    let paths: Vec<&str> = routes.iter().map(|(path, _)| *path).collect();
    let not_found_message = Arc::new(served_routes(&paths));
    let app = routes
        .into_iter()
        .fold(Router::new(), |router, (path, method)| {
            router.route(path, method)
        })
        .with_state(AdminState {
            broker,
            metrics,
            connect: connect.clone(),
            topologies: topologies.host,
            kafka_listener: kafka_listener.clone(),
        })
        .merge(crate::topologies::routes::router(
            broker_for_routes,
            topologies.catalog,
        ))
        .merge(eddy_connect::rest::router(connect))
        .merge(eddy_streams::admin_routes::router(kafka_listener))
        // After the merges: this endpoint's own answer to an unknown route, in place of
        // the Connect router's (which names no route, as Kafka Connect's does).
        .fallback(move |request: Request| not_found(request, not_found_message.clone()))
        .layer(axum::middleware::from_fn(json_errors));
    axum::serve(listener, app).await.map_err(|err| {
        tracing::error!(error = %err, "admin HTTP server stopped");
        format!("admin HTTP server stopped: {err}")
    })
}

/// The largest error body [`json_errors`] reads to put into its message.
const ERROR_BODY_BYTES_MAX: usize = 64 * 1024;

/// An error answer: `{"error_code": <status>, "message": …}`.
pub(crate) fn error_response(status: StatusCode, message: impl std::fmt::Display) -> Response {
    let body = serde_json::json!({ "error_code": status.as_u16(), "message": message.to_string() });
    (status, Json(body)).into_response()
}

/// Turns every error answer that is not JSON already (axum's own: an unknown route, a
/// method not allowed, a path that does not parse) into `{"error_code", "message"}`,
/// with a message that names the request and what to do.
async fn json_errors(request: Request, next: Next) -> Response {
    let target = format!("{} {}", request.method(), request.uri().path());
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let text = axum::body::to_bytes(response.into_body(), ERROR_BODY_BYTES_MAX)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let message = match status {
        // axum adds the `Allow` header to the answer after this layer has run.
        StatusCode::METHOD_NOT_ALLOWED => {
            format!("{target}: method not allowed here (the Allow header lists those that are)")
        }
        _ if text.is_empty() => format!("{target}: {status}"),
        _ => format!("{target}: {text}"),
    };
    error_response(status, message)
}

/// An unknown route: what this endpoint serves (`routes`, from [`served_routes`]).
async fn not_found(request: Request, routes: Arc<String>) -> Response {
    let message = format!(
        "{} {}: no such route on this node's admin endpoint; it serves {routes}",
        request.method(),
        request.uri().path()
    );
    error_response(StatusCode::NOT_FOUND, message)
}

/// `ok` while the node can do its work; 503 with the storage fault as JSON once the
/// storage watchdog has reported one (the node then exits for a restart).
async fn health(State(state): State<AdminState>) -> axum::response::Response {
    match state.broker.storage_fault() {
        None => "ok".into_response(),
        Some(fault) => {
            let status = StatusCode::SERVICE_UNAVAILABLE;
            let body = serde_json::json!({
                "error_code": status.as_u16(),
                "message": format!("storage failed: {}", fault.summary()),
                "status": "failed",
                "storage": &*fault,
            });
            (status, Json(body)).into_response()
        }
    }
}

async fn supervisors(State(state): State<AdminState>) -> impl IntoResponse {
    match state.broker.actors.node.send(Report).await {
        Ok(mut report) => {
            // Connectors are supervised by the node's ConnectSupervisor, outside the actor
            // tree of eddy-actors: graft its report in as the "connect" child, failed with
            // the reason when the supervisor no longer answers.
            let (connectors, failure) = match state.connect.addr().send(ReportConnectors).await {
                Ok(connectors) => (connectors, None),
                Err(err) => (
                    Vec::new(),
                    Some(format!("the Connect supervisor does not answer: {err}")),
                ),
            };
            let children = &mut report.root.children;
            let child = match children.iter_mut().position(|c| c.name == "connect") {
                Some(at) => &mut children[at],
                None => {
                    let mut record = ChildRecord::starting("connect".into());
                    record.state = ChildState::Running;
                    children.push(record.report(0, Vec::new()));
                    children.last_mut().expect("just pushed")
                }
            };
            child.children = connectors;
            if let Some(reason) = failure {
                child.state = ChildState::Failed;
                child.last_error = Some(reason);
            }
            // Deployed topologies run in this node's TopologyHost, outside the tree of
            // eddy-actors: graft its applications and their tasks in as "topologies".
            let (hosted, failure) = match state.topologies.send(ReportHosted).await {
                Ok(hosted) => (hosted, None),
                Err(err) => (
                    Vec::new(),
                    Some(format!("the topology host does not answer: {err}")),
                ),
            };
            if let Some(child) = children.iter_mut().find(|c| c.name == "topologies") {
                child.children = hosted;
                if let Some(reason) = failure {
                    child.state = ChildState::Failed;
                    child.last_error = Some(reason);
                }
            }
            // Client programs' stream tasks run in their own processes; their instances
            // report to the cluster, and those reports are shown as another child.
            // (Deployed applications report too: they are left out here, shown above.)
            let deployed = state.broker.snapshot().deployments.clone();
            let reported: Vec<_> = eddy_streams::admin_routes::supervision(&state.kafka_listener)
                .await
                .into_iter()
                .filter(|r| {
                    let app = r.name.trim_start_matches("topology ");
                    !deployed.contains_key(app)
                })
                .collect();
            if !reported.is_empty() {
                let mut record = ChildRecord::starting("topologies (as reported)".into());
                record.state = ChildState::Running;
                children.push(record.report(0, reported));
            }
            Json(report).into_response()
        }
        Err(err) => error_response(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("node supervisor unavailable: {err}"),
        ),
    }
}

async fn render_metrics(State(state): State<AdminState>) -> impl IntoResponse {
    match &state.metrics {
        Some(handle) => (
            [(
                axum::http::header::CONTENT_TYPE,
                "text/plain; version=0.0.4",
            )],
            handle.render(),
        )
            .into_response(),
        None => error_response(
            StatusCode::SERVICE_UNAVAILABLE,
            "metrics recorder not installed in this process",
        ),
    }
}

#[derive(Serialize)]
struct TopicView {
    name: String,
    partitions: usize,
    replication_factor: i16,
    configs: std::collections::BTreeMap<String, String>,
}

async fn topics(State(state): State<AdminState>) -> impl IntoResponse {
    let snapshot = state.broker.snapshot();
    let topics: Vec<TopicView> = snapshot
        .topics
        .values()
        .map(|t| TopicView {
            name: t.name.clone(),
            partitions: t.partitions.len(),
            replication_factor: t.replication_factor,
            configs: t.config.overrides.clone(),
        })
        .collect();
    Json(topics)
}

async fn cluster(State(state): State<AdminState>) -> impl IntoResponse {
    Json(crate::cluster::status::status(&state.broker))
}

async fn cluster_moves(State(state): State<AdminState>) -> impl IntoResponse {
    Json(crate::cluster::status::moves(&state.broker))
}

async fn decommission(
    State(state): State<AdminState>,
    node_id: Result<Path<i32>, PathRejection>,
) -> impl IntoResponse {
    let error = error_response;
    let Path(node_id) = match node_id {
        Ok(id) => id,
        Err(rejection) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!(
                "the node id must be an integer, as `eddy cluster status` lists them ({rejection})"
            ),
            )
        }
    };
    let Some(cluster) = &state.broker.cluster else {
        return error(
            StatusCode::BAD_REQUEST,
            "this node runs alone; decommissioning needs a cluster (--peer-listen, --seeds)".into(),
        );
    };
    if !cluster.state().members.contains_key(&node_id) {
        return error(
            StatusCode::NOT_FOUND,
            format!("node {node_id} is not a member; see `eddy cluster status`"),
        );
    }
    match cluster.decommission(node_id).await {
        Ok(()) => {
            Json(serde_json::json!({ "node_id": node_id, "decommissioning": true })).into_response()
        }
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_advertised_admin_address_is_one_a_client_can_reach() {
        let bound = |text: &str| text.parse::<SocketAddr>().unwrap();
        assert_eq!(
            advertised_admin_address(bound("0.0.0.0:9644"), "kafka-1.example"),
            "kafka-1.example:9644"
        );
        assert_eq!(
            advertised_admin_address(bound("[::]:9644"), "kafka-1.example"),
            "kafka-1.example:9644"
        );
        assert_eq!(
            advertised_admin_address(bound("127.0.0.1:41000"), "kafka-1.example"),
            "127.0.0.1:41000"
        );
        assert_eq!(
            advertised_admin_address(bound("[::]:9644"), "::1"),
            "[::1]:9644"
        );
        assert_eq!(
            advertised_admin_address(bound("[::]:9644"), "[2001:db8::5]"),
            "[2001:db8::5]:9644"
        );
        assert_eq!(
            advertised_admin_address(bound("0.0.0.0:9644"), "10.0.0.5"),
            "10.0.0.5:9644"
        );
        assert_eq!(
            advertised_admin_address(bound("[::1]:9644"), "ignored"),
            "[::1]:9644"
        );
    }

    #[test]
    fn the_unknown_route_answer_names_every_route_of_the_router() {
        let paths: Vec<&str> = own_routes().iter().map(|(path, _)| *path).collect();
        assert_eq!(
            served_routes(&paths),
            "/health, /supervisors, /metrics, /topics, /cluster, /cluster/moves, \
             /cluster/decommission/NODE_ID, /connectors…, /topologies… and /deployments…"
        );
    }
}
