//! The node's admin HTTP view of the streams applications reporting to its cluster (read
//! from the registry, see [`registry`](super::registry)):
//!
//! - `GET /topologies`: every application's latest report (live instances merged), as a
//!   JSON list of objects sorted by `application_id` (as `/topics` lists topics);
//! - `GET /topologies/<app>`: one application's report; 404 if it never reported;
//! - `GET /topologies/<app>/stores/<store>?key=…` (or `key_hex=…`): an interactive query,
//!   answered by a 307 redirect to the same path on the application's `application.server`
//!   (which redirects again if another instance owns the key); 404 for an unknown
//!   application, 503 if it serves no queries.
//!
//! Errors are `{"error_code": <status>, "message": …}`, as everywhere on the admin port.
//!
//! [`supervision`] turns the same reports into supervision-tree rows, which the node grafts
//! into `GET /supervisors` (and so `eddy supervisors`) as its `topologies` child.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{header, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use eddy_actors::supervision::{ChildState, SupervisorReport};

use super::registry::{self, AppRecord};

/// How long `supervision` waits for the registry before leaving the applications out.
const SUPERVISION_READ_MAX: Duration = Duration::from_secs(2);

/// The streams applications reporting to the cluster as supervision-tree rows: one per
/// application (`topology <app>`), with one per task (`task <id> on <instance>`) in the
/// state, restarts and last error its instance last reported. An application whose reports
/// stopped is shown stopped. Empty if the registry cannot be read within a moment.
pub async fn supervision(bootstrap: &str) -> Vec<SupervisorReport> {
    let apps = match tokio::time::timeout(SUPERVISION_READ_MAX, registry::read_all(bootstrap)).await
    {
        Ok(Ok(apps)) => apps,
        Ok(Err(err)) => {
            tracing::debug!(error = %err, "topology registry unreadable");
            return Vec::new();
        }
        Err(_) => return Vec::new(),
    };
    let now = registry::now_ms();
    let horizon =
        registry::REPORT_INTERVAL.as_millis() as i64 * i64::from(registry::STALE_INTERVALS);
    apps.into_values()
        .map(|app| {
            let stale = now - app.reported_at_ms > horizon;
            let tasks: Vec<SupervisorReport> = app
                .tasks
                .iter()
                .map(|t| SupervisorReport {
                    name: format!(
                        "{} {} on {}",
                        if t.standby { "standby" } else { "task" },
                        t.task,
                        t.instance
                    ),
                    state: if stale {
                        ChildState::Stopped
                    } else {
                        child_state(&t.state)
                    },
                    restarts: t.restarts,
                    last_error: t.last_error.clone(),
                    mailbox_depth: 0,
                    uptime_ms: 0,
                    children: Vec::new(),
                })
                .collect();
            SupervisorReport {
                name: format!("topology {}", app.application_id),
                state: if stale {
                    ChildState::Stopped
                } else {
                    ChildState::Running
                },
                restarts: tasks.iter().map(|t| t.restarts).sum(),
                last_error: None,
                mailbox_depth: 0,
                uptime_ms: 0,
                children: tasks,
            }
        })
        .collect()
}

/// A reported task state (`ChildState` in lower case) back as the state.
fn child_state(reported: &str) -> ChildState {
    match reported {
        "running" => ChildState::Running,
        "restarting" => ChildState::Restarting,
        "failed" => ChildState::Failed,
        "stopped" => ChildState::Stopped,
        _ => ChildState::Starting,
    }
}

/// The routes, reading the registry through the Kafka listener at `bootstrap`.
pub fn router(bootstrap: String) -> Router {
    Router::new()
        .route("/topologies", get(list))
        .route("/topologies/{application}", get(describe))
        .route("/topologies/{application}/stores/{store}", get(query))
        .with_state(bootstrap)
}

/// An error answer in the shape of every admin HTTP error (Kafka Connect's):
/// `{"error_code": <status>, "message": …}`.
fn failure(status: StatusCode, message: impl std::fmt::Display) -> Response {
    let body = json!({ "error_code": status.as_u16(), "message": message.to_string() });
    (status, Json(body)).into_response()
}

async fn read(bootstrap: &str) -> Result<BTreeMap<String, AppRecord>, Response> {
    registry::read_all(bootstrap).await.map_err(|err| {
        let message = format!("could not read the topology registry: {err}");
        failure(StatusCode::SERVICE_UNAVAILABLE, message)
    })
}

async fn find(bootstrap: &str, application: &str) -> Result<AppRecord, Response> {
    read(bootstrap).await?.remove(application).ok_or_else(|| {
        let message = format!(
            "no streams application '{application}' has reported to this cluster; GET /topologies lists those that have"
        );
        failure(StatusCode::NOT_FOUND, message)
    })
}

async fn list(State(bootstrap): State<String>) -> Response {
    match read(&bootstrap).await {
        Ok(apps) => Json(apps.into_values().collect::<Vec<_>>()).into_response(),
        Err(response) => response,
    }
}

async fn describe(State(bootstrap): State<String>, Path(application): Path<String>) -> Response {
    match find(&bootstrap, &application).await {
        Ok(app) => Json(app).into_response(),
        Err(response) => response,
    }
}

async fn query(
    State(bootstrap): State<String>,
    Path((application, _store)): Path<(String, String)>,
    uri: Uri,
) -> Response {
    let app = match find(&bootstrap, &application).await {
        Ok(app) => app,
        Err(response) => return response,
    };
    let Some(server) = app.application_server else {
        let message = format!(
            "application '{application}' serves no interactive queries: start it with application.server set (the examples take --application-server HOST:PORT)"
        );
        return failure(StatusCode::SERVICE_UNAVAILABLE, message);
    };
    let target = uri.path_and_query().map_or("/", |p| p.as_str());
    let location = format!("http://{server}{target}");
    (
        StatusCode::TEMPORARY_REDIRECT,
        [(header::LOCATION, location)],
    )
        .into_response()
}
