//! Kafka Connect's REST API over a ConnectSupervisor (axum), so Kafka's tooling and
//! `eddy connect …` manage connectors the same way:
//!
//! | request | answer |
//! |---|---|
//! | `GET /` | `{"version":…,"commit":…,"kafka_cluster_id":…}` |
//! | `GET /connectors` (`?expand=status`, `?expand=info`) | names, or a map of name → details |
//! | `POST /connectors` `{"name":…,"config":{…}}` | 201 + the connector, 400 listing every faulty key, 409 if it exists |
//! | `GET /connectors/<name>` | configuration and tasks |
//! | `GET /connectors/<name>/config` | configuration |
//! | `PUT /connectors/<name>/config` `{…}` | 201 + the connector if created, 200 if its configuration was replaced |
//! | `GET /connectors/<name>/status` | connector and task states, with the last error |
//! | `GET /connectors/<name>/tasks` | `[{"id":{"connector":…,"task":0},"config":{…,"task.class":…}}]` |
//! | `GET /connectors/<name>/topics` | `{"<name>":{"topics":[…]}}`: the topics its tasks used (KIP-558) |
//! | `GET /connectors/<name>/offsets` | `{"offsets":[{"partition":{…},"offset":{…}}]}` (KIP-875) |
//! | `PATCH /connectors/<name>/offsets` `{"offsets":[…]}`, `DELETE …/offsets` | 200 `{"message":…}`; 400 unless STOPPED |
//! | `PUT /connectors/<name>/pause`, `/resume`, `/stop` | 202 |
//! | `POST /connectors/<name>/restart` (`?onlyFailed=true`) | 202 + status: restarts its tasks |
//! | `POST /connectors/<name>/tasks/<task>/restart` | 204 |
//! | `DELETE /connectors/<name>` | 204 once its tasks have committed and stopped |
//! | `GET /connector-plugins` | the built-in classes |
//! | `PUT /connector-plugins/<plugin>/config/validate` `{…}` | Kafka's `ConfigInfos` (`rest_validate.rs`) |
//!
//! On a node every change (create, replace, pause, resume, delete) is stored in
//! `connect-configs` before it is answered. Requests wait while the node reads that topic
//! at start; if reading fails, changes answer 503 until a later attempt succeeds.
//!
//! Errors answer `{"error_code": <status>, "message": "…"}` as Kafka does, an unknown
//! route and a wrong method included (`HTTP 404 Not Found`, `HTTP 405 Method Not Allowed`,
//! Jersey's words). A restart
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

use eddy_client::Admin;

use super::config::{ConnectorClass, ConnectorConfig};
use super::error::{ConfigProblem, ConnectError};
use super::handle::ConnectHandle;
use super::offset_admin::ConnectorOffsets;
use super::properties::{from_json, parse_json, CONFIG_BYTES_MAX};
use super::rest_validate;

/// The Connect routes, ready to be merged into an axum server.
pub fn router(handle: ConnectHandle) -> Router {
    Router::new()
        .route("/", get(server_info))
        .route("/connectors", get(list).post(create))
        .route("/connectors/{name}", get(info).delete(delete))
        .route("/connectors/{name}/config", get(config).put(put_config))
        .route("/connectors/{name}/status", get(status))
        .route("/connectors/{name}/pause", put(pause))
        .route("/connectors/{name}/resume", put(resume))
        .route("/connectors/{name}/stop", put(stop))
        .route("/connectors/{name}/tasks", get(tasks))
        .route("/connectors/{name}/topics", get(topics))
        .route(
            "/connectors/{name}/offsets",
            get(offsets).patch(alter_offsets).delete(reset_offsets),
        )
        .route("/connectors/{name}/restart", post(restart))
        .route(
            "/connectors/{name}/tasks/{task}/restart",
            post(restart_task),
        )
        .route("/connector-plugins", get(plugins))
        .route(
            "/connector-plugins/{plugin}/config/validate",
            put(validate_config),
        )
        // After every route: it applies to the routes added before it.
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(not_found)
        .with_state(handle)
}

/// Kafka's answer to an unknown route.
async fn not_found() -> Response {
    let body = json!({"error_code": 404, "message": "HTTP 404 Not Found"});
    (StatusCode::NOT_FOUND, Json(body)).into_response()
}

/// Kafka's answer to a known route asked with a method it does not serve.
async fn method_not_allowed() -> Response {
    let body = json!({"error_code": 405, "message": "HTTP 405 Method Not Allowed"});
    (StatusCode::METHOD_NOT_ALLOWED, Json(body)).into_response()
}

/// Kafka's `GET /`: the version, the commit it was built from, and the cluster's id.
async fn server_info(State(handle): State<ConnectHandle>) -> Response {
    let cluster_id = async {
        let mut admin = Admin::connect(handle.bootstrap()).await?;
        admin.describe_cluster().await
    };
    match cluster_id.await {
        Ok(cluster) => Json(json!({
            "version": env!("CARGO_PKG_VERSION"),
            "commit": option_env!("EDDY_GIT_COMMIT").unwrap_or("unknown"),
            "kafka_cluster_id": cluster.cluster_id,
        }))
        .into_response(),
        Err(err) => error(&ConnectError::Client {
            context: format!("ask {} for the cluster id", handle.bootstrap()),
            source: err,
        }),
    }
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
        let config = ConnectorConfig::validate_for(raw, handle.defaults())?;
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
        let config = ConnectorConfig::validate_for(raw, handle.defaults())?;
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
    Path((name, task)): Path<(String, String)>,
) -> Response {
    let Ok(task) = task.parse::<u32>() else {
        return error(&ConnectError::BadRequest(format!(
            "task id {task} is not a task number"
        )));
    };
    match handle.restart(&name, Some(task), false).await {
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(err) => error(&err),
    }
}

async fn stop(State(handle): State<ConnectHandle>, Path(name): Path<String>) -> Response {
    match handle.stop(&name).await {
        Ok(()) => StatusCode::ACCEPTED.into_response(),
        Err(err) => error(&err),
    }
}

/// Kafka's task list: each task's id and configuration (the connector's, with the
/// `task.class` its worker adds); none while the connector is STOPPED.
async fn tasks(State(handle): State<ConnectHandle>, Path(name): Path<String>) -> Response {
    let result = async {
        let info = handle.info(&name).await?;
        let status = handle.status(&name).await?;
        let class = info
            .config
            .get("connector.class")
            .and_then(|c| ConnectorClass::parse(c));
        let task_class = class.map_or("unknown", ConnectorClass::task_class_name);
        let mut config = info.config.clone();
        config.insert("task.class".to_owned(), task_class.to_owned());
        let tasks: Vec<Value> = status
            .tasks
            .iter()
            .map(|task| json!({"id": {"connector": name, "task": task.id}, "config": config}))
            .collect();
        Ok(tasks)
    };
    answer(StatusCode::OK, result.await)
}

async fn topics(State(handle): State<ConnectHandle>, Path(name): Path<String>) -> Response {
    let result = handle.topics(&name).await;
    answer(
        StatusCode::OK,
        result.map(|topics| json!({ name: {"topics": topics} })),
    )
}

async fn offsets(State(handle): State<ConnectHandle>, Path(name): Path<String>) -> Response {
    answer(StatusCode::OK, handle.offsets(&name).await)
}

async fn alter_offsets(
    State(handle): State<ConnectHandle>,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    let source_name = format!("PATCH /connectors/{name}/offsets");
    let result = async {
        let text = body_text(&source_name, &body)?;
        let offsets: ConnectorOffsets = serde_json::from_str(&text).map_err(|err| {
            ConnectError::BadRequest(format!(
                "the body must be {{\"offsets\":[{{\"partition\":{{…}},\"offset\":{{…}}}}]}}: {err}"
            ))
        })?;
        handle.modify_offsets(&name, Some(offsets.offsets)).await
    };
    answer(
        StatusCode::OK,
        result.await.map(|message| json!({ "message": message })),
    )
}

async fn reset_offsets(State(handle): State<ConnectHandle>, Path(name): Path<String>) -> Response {
    let result = handle.modify_offsets(&name, None).await;
    answer(
        StatusCode::OK,
        result.map(|message| json!({ "message": message })),
    )
}

async fn validate_config(
    State(handle): State<ConnectHandle>,
    Path(plugin): Path<String>,
    body: Bytes,
) -> Response {
    let source_name = format!("PUT /connector-plugins/{plugin}/config/validate");
    let result = async {
        let text = body_text(&source_name, &body)?;
        let value: Value = serde_json::from_str(&text).map_err(|err| ConnectError::Unreadable {
            source_name: source_name.clone(),
            reason: format!("not JSON: {err}"),
        })?;
        // The body is the configuration's keys (Kafka's form); `from_json` also takes
        // the REST form with "config".
        let raw = from_json(&source_name, value)?;
        rest_validate::validate(&plugin, raw, handle.defaults())
    };
    answer(StatusCode::OK, result.await)
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
