//! The node's admin HTTP view of the streams applications reporting to its cluster (read
//! from the registry, see [`registry`](super::registry)):
//!
//! - `GET /topologies`: every application's latest report (live instances merged), as
//!   JSON, by application id;
//! - `GET /topologies/<app>`: one application's report; 404 if it never reported;
//! - `GET /topologies/<app>/stores/<store>?key=…` (or `key_hex=…`): an interactive query,
//!   answered by a 307 redirect to the same path on the application's `application.server`
//!   (which redirects again if another instance owns the key); 404 for an unknown
//!   application, 503 if it serves no queries.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::{header, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use super::registry::{self, AppRecord};

/// The routes, reading the registry through the Kafka listener at `bootstrap`.
pub fn router(bootstrap: String) -> Router {
    Router::new()
        .route("/topologies", get(list))
        .route("/topologies/{application}", get(describe))
        .route("/topologies/{application}/stores/{store}", get(query))
        .with_state(bootstrap)
}

fn failure(status: StatusCode, message: impl std::fmt::Display) -> Response {
    (status, Json(json!({ "error": message.to_string() }))).into_response()
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
        Ok(apps) => Json(apps).into_response(),
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
