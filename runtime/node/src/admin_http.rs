//! The admin HTTP endpoint (axum): `/health` (503 with the cause once storage failed),
//! `/supervisors` (the live actor tree as JSON), `/metrics` (Prometheus text), `/topics` and
//! `/cluster` (members, quorum, placement), plus
//! Kafka Connect's REST API and the streams applications' reports and interactive queries
//! (`/topologies…`, see `streams::admin_routes`).

use std::sync::Arc;

use axum::extract::Path;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use metrics_exporter_prometheus::PrometheusHandle;
use serde::Serialize;
use tokio::net::TcpListener;

use crate::kafka::Broker;
use eddy_actors::node_supervisor::Report;
use eddy_actors::supervision::{ChildRecord, ChildState};
use eddy_connect::ConnectHandle;

#[derive(Clone)]
struct AdminState {
    broker: Arc<Broker>,
    metrics: Option<PrometheusHandle>,
    connect: ConnectHandle,
    kafka_listener: String,
}

/// Serves the admin endpoint until the task is dropped.
/// Kafka Connect's REST API (`/connectors…`) is served here too.
pub async fn serve_admin(
    listener: TcpListener,
    broker: Arc<Broker>,
    metrics: Option<PrometheusHandle>,
    connect: ConnectHandle,
    kafka_listener: String,
) {
    let app = Router::new()
        .route("/health", get(health))
        .route("/supervisors", get(supervisors))
        .route("/metrics", get(render_metrics))
        .route("/topics", get(topics))
        .route("/cluster", get(cluster))
        .route("/cluster/moves", get(cluster_moves))
        .route("/cluster/decommission/{node_id}", post(decommission))
        .with_state(AdminState {
            broker,
            metrics,
            connect: connect.clone(),
            kafka_listener: kafka_listener.clone(),
        })
        .merge(eddy_connect::rest::router(connect))
        .merge(eddy_streams::admin_routes::router(kafka_listener));
    if let Err(err) = axum::serve(listener, app).await {
        tracing::error!(error = %err, "admin HTTP server stopped");
    }
}

/// `ok` while the node can do its work; 503 with the storage fault as JSON once the
/// storage watchdog has reported one (the node then exits for a restart).
async fn health(State(state): State<AdminState>) -> axum::response::Response {
    match state.broker.storage_fault() {
        None => "ok".into_response(),
        Some(fault) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({ "status": "failed", "storage": &*fault })),
        )
            .into_response(),
    }
}

async fn supervisors(State(state): State<AdminState>) -> impl IntoResponse {
    match state.broker.actors.node.send(Report).await {
        Ok(mut report) => {
            // Connectors are supervised by the node's ConnectSupervisor, outside the actor
            // tree of eddy-actors: graft its report in as the "connect" child.
            let connectors = state.connect.report().await;
            let children = &mut report.root.children;
            match children.iter_mut().find(|c| c.name == "connect") {
                Some(child) => child.children = connectors,
                None => {
                    let mut record = ChildRecord::starting("connect".into());
                    record.state = ChildState::Running;
                    children.push(record.report(0, connectors));
                }
            }
            // Stream tasks run in the applications' own processes; their instances report
            // to the cluster, and those reports are shown as the "topologies" child.
            let topologies = eddy_streams::admin_routes::supervision(&state.kafka_listener).await;
            if !topologies.is_empty() {
                let mut record = ChildRecord::starting("topologies (as reported)".into());
                record.state = ChildState::Running;
                children.push(record.report(0, topologies));
            }
            Json(report).into_response()
        }
        Err(err) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("node supervisor unavailable: {err}"),
        )
            .into_response(),
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
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            "metrics recorder not installed in this process",
        )
            .into_response(),
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
    Path(node_id): Path<i32>,
) -> impl IntoResponse {
    let error = |status: StatusCode, message: String| {
        (status, Json(serde_json::json!({ "error": message }))).into_response()
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
