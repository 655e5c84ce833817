//! Kafka Connect's REST API over a ConnectSupervisor (axum), so Kafka's tooling and
//! `eddy connect …` manage connectors the same way:
//!
//! | request | answer |
//! |---|---|
//! | `GET /connectors` (`?expand=status`, `?expand=info`) | names, or a map of name → details |
//! | `POST /connectors` `{"name":…,"config":{…}}` | 201 + the connector, 400 listing every faulty key, 409 if it exists |
//! | `GET /connectors/<name>` | configuration and tasks |
//! | `GET /connectors/<name>/config` | configuration |
//! | `PUT /connectors/<name>/config` `{…}` | 201 + the connector if created, 200 if its configuration was replaced |
//! | `GET /connectors/<name>/status` | connector and task states, with the last error |
//! | `PUT /connectors/<name>/pause`, `/resume` | 202 |
//! | `POST /connectors/<name>/restart` (`?onlyFailed=true`) | 202 + status: restarts its tasks |
//! | `POST /connectors/<name>/tasks/<task>/restart` | 204 |
//! | `DELETE /connectors/<name>` | 204 once its tasks have committed and stopped |
//! | `GET /connector-plugins` | the built-in classes |
//!
//! On a node every change (create, replace, pause, resume, delete) is stored in
//! `connect-configs` before it is answered. Requests wait while the node reads that topic
//! at start; if reading fails, changes answer 503 until a later attempt succeeds.
//!
//! Errors answer `{"error_code": <status>, "message": "…"}` as Kafka does. A restart
//! always restarts tasks: an Eddy connector has no instance of its own besides them, so
//! Kafka's `includeTasks` is accepted and implied.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde_json::{json, Value};

use super::config::{ConnectorClass, ConnectorConfig};
use super::error::{ConfigProblem, ConnectError};
use super::handle::ConnectHandle;
use super::properties::{parse_json, CONFIG_BYTES_MAX};

/// The Connect routes, ready to be merged into an axum server.
pub fn router(handle: ConnectHandle) -> Router {
    Router::new()
        .route("/connectors", get(list).post(create))
        .route("/connectors/{name}", get(info).delete(delete))
        .route("/connectors/{name}/config", get(config).put(put_config))
        .route("/connectors/{name}/status", get(status))
        .route("/connectors/{name}/pause", put(pause))
        .route("/connectors/{name}/resume", put(resume))
        .route("/connectors/{name}/restart", post(restart))
        .route(
            "/connectors/{name}/tasks/{task}/restart",
            post(restart_task),
        )
        .route("/connector-plugins", get(plugins))
        .with_state(handle)
}

/// Serves the Connect routes alone on `listener` (what `eddy connect run --admin` does)
/// until the task is dropped or the server fails.
pub async fn serve(
    listener: tokio::net::TcpListener,
    handle: ConnectHandle,
) -> std::io::Result<()> {
    axum::serve(listener, router(handle)).await
}

/// Kafka Connect's error body.
fn error(err: &ConnectError) -> Response {
    let status =
        StatusCode::from_u16(err.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = json!({"error_code": status.as_u16(), "message": err.to_string()});
    (status, Json(body)).into_response()
}

fn answer<T: serde::Serialize>(status: StatusCode, result: Result<T, ConnectError>) -> Response {
    match result {
        Ok(body) => (status, Json(body)).into_response(),
        Err(err) => error(&err),
    }
}

/// The values of `key` in a query string (`expand=status&expand=info`).
fn query_values<'q>(query: &'q Option<String>, key: &'q str) -> impl Iterator<Item = &'q str> {
    query
        .as_deref()
        .unwrap_or("")
        .split('&')
        .filter_map(move |pair| match pair.split_once('=') {
            Some((k, v)) if k == key => Some(v),
            _ => None,
        })
}

async fn list(State(handle): State<ConnectHandle>, RawQuery(query): RawQuery) -> Response {
    let names = match handle.list().await {
        Ok(names) => names,
        Err(err) => return error(&err),
    };
    let expand: Vec<&str> = query_values(&query, "expand").collect();
    if expand.is_empty() {
        return Json(names).into_response();
    }
    let mut expanded = BTreeMap::new();
    for name in names {
        let mut entry = serde_json::Map::new();
        if expand.contains(&"status") {
            if let Ok(status) = handle.status(&name).await {
                entry.insert("status".into(), json!(status));
            }
        }
        if expand.contains(&"info") {
            if let Ok(info) = handle.info(&name).await {
                entry.insert("info".into(), json!(info));
            }
        }
        expanded.insert(name, Value::Object(entry));
    }
    Json(expanded).into_response()
}

/// The body of a request, refused if it is bigger than `CONFIG_BYTES_MAX`.
fn body_text(source_name: &str, body: &Bytes) -> Result<String, ConnectError> {
    if body.len() > CONFIG_BYTES_MAX {
        return Err(ConnectError::Unreadable {
            source_name: source_name.to_owned(),
            reason: format!(
                "{} bytes, more than the {CONFIG_BYTES_MAX} allowed",
                body.len()
            ),
        });
    }
    Ok(String::from_utf8_lossy(body).into_owned())
}

async fn create(State(handle): State<ConnectHandle>, body: Bytes) -> Response {
    let result = async {
        let text = body_text("POST /connectors", &body)?;
        let raw = parse_json("POST /connectors", &text)?;
        let config = ConnectorConfig::validate(raw)?;
        handle.create(config).await
    };
    answer(StatusCode::CREATED, result.await)
}

/// Kafka's create-or-update: the body is the configuration's keys; its `name`, if set,
/// must be the one in the path.
async fn put_config(
    State(handle): State<ConnectHandle>,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    let source_name = format!("PUT /connectors/{name}/config");
    let result = async {
        let text = body_text(&source_name, &body)?;
        let mut raw = parse_json(&source_name, &text)?;
        match raw.entries.get("name") {
            None => {
                raw.entries.insert("name".to_owned(), name.clone());
            }
            Some(given) if *given != name => raw.problems.push(ConfigProblem::invalid(
                "name",
                given,
                format!("differs from the connector name \"{name}\" in the path"),
            )),
            Some(_) => {}
        }
        let config = ConnectorConfig::validate(raw)?;
        handle.put(config).await
    };
    match result.await {
        Ok((true, info)) => (StatusCode::CREATED, Json(info)).into_response(),
        Ok((false, info)) => (StatusCode::OK, Json(info)).into_response(),
        Err(err) => error(&err),
    }
}

async fn info(State(handle): State<ConnectHandle>, Path(name): Path<String>) -> Response {
    answer(StatusCode::OK, handle.info(&name).await)
}

async fn config(State(handle): State<ConnectHandle>, Path(name): Path<String>) -> Response {
    answer(StatusCode::OK, handle.info(&name).await.map(|i| i.config))
}

async fn status(State(handle): State<ConnectHandle>, Path(name): Path<String>) -> Response {
    answer(StatusCode::OK, handle.status(&name).await)
}

async fn pause(State(handle): State<ConnectHandle>, Path(name): Path<String>) -> Response {
    match handle.pause(&name).await {
        Ok(()) => StatusCode::ACCEPTED.into_response(),
        Err(err) => error(&err),
    }
}

async fn resume(State(handle): State<ConnectHandle>, Path(name): Path<String>) -> Response {
    match handle.resume(&name).await {
        Ok(()) => StatusCode::ACCEPTED.into_response(),
        Err(err) => error(&err),
    }
}

async fn restart(
    State(handle): State<ConnectHandle>,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let only_failed = query_values(&query, "onlyFailed").any(|v| v.eq_ignore_ascii_case("true"));
    answer(
        StatusCode::ACCEPTED,
        handle.restart(&name, None, only_failed).await,
    )
}

async fn restart_task(
    State(handle): State<ConnectHandle>,
    Path((name, task)): Path<(String, u32)>,
) -> Response {
    match handle.restart(&name, Some(task), false).await {
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(err) => error(&err),
    }
}

async fn delete(State(handle): State<ConnectHandle>, Path(name): Path<String>) -> Response {
    match handle.delete(&name).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(err) => error(&err),
    }
}

async fn plugins() -> Response {
    let plugins: Vec<Value> = ConnectorClass::ALL
        .iter()
        .map(|c| {
            json!({
                "class": c.class_name(),
                "type": c.connector_type(),
                "version": env!("CARGO_PKG_VERSION"),
            })
        })
        .collect();
    Json(plugins).into_response()
}
