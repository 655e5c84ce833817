//! The interactive-query HTTP server of one application instance, on its
//! `application.server` address (axum). One route:
//!
//! `GET /topologies/<application.id>/stores/<store>?key=<UTF-8 key>` (or
//! `&key_hex=<hex>` for a binary key: exactly one of the two). The key is the store's key
//! serde bytes, which for string keys is the UTF-8 text.
//!
//! - 200, key-value store: `{"key": …, "value": …, "value_hex": "…"}`;
//!   window or session store: `{"key": …, "windows": [{"start", "end", "value",
//!   "value_hex"}, …]}` by start time.
//! - Errors, JSON in the shape of every Eddy admin error and of Kafka Connect's REST API,
//!   `{"error_code": <status>, "message": …, "retriable": bool}`.
//! - 404: another application, an unknown store, a missing key (or a key
//!   with no window); 400: a malformed request or a store that cannot be queried (an
//!   operator's buffer); 503 (with `"retriable": true`): the owning task is restoring,
//!   restarting or busy; 500: the store failed.
//! - 307 to the same path on another instance's `application.server`: the key belongs to a
//!   task the group assigned to that instance (HTTP clients follow it, `eddy topology
//!   query` included); 503 if that instance serves no queries.
//!
//! `value` is the value decoded with the store's value serde when the store holds `u64`,
//! `i64` (a JSON number) or `String`; otherwise the bytes as a string if they are UTF-8,
//! else as hex. `value_hex` is always the raw bytes (the value serde's bytes) in lower-case
//! hex. `key` is the key as given (a `key_hex` key as text when it is UTF-8).

use std::collections::HashMap;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use eddy_topologies::{StoreLookup, Topology};
use serde_json::{json, Value};
use tokio::net::TcpListener;

use super::{QueryError, StoreQueries};

/// The longest key a request may carry, in bytes.
pub const KEY_BYTES_MAX: usize = 64 * 1024;

type Answer = (StatusCode, Json<Value>);

/// Serves interactive queries on `listener` until the task is dropped or aborted.
pub(crate) async fn serve(listener: TcpListener, queries: StoreQueries) {
    let app = Router::new()
        .route("/topologies/{application}/stores/{store}", get(query_store))
        .with_state(queries);
    if let Err(err) = axum::serve(listener, app).await {
        tracing::error!(error = %err, "interactive-query HTTP server stopped");
    }
}

fn error(status: StatusCode, message: impl std::fmt::Display, retriable: bool) -> Answer {
    (
        status,
        Json(json!({
            "error_code": status.as_u16(),
            "message": message.to_string(),
            "retriable": retriable,
        })),
    )
}

async fn query_store(
    State(queries): State<StoreQueries>,
    Path((application, store)): Path<(String, String)>,
    uri: Uri,
    params: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Response {
    match answer(&queries, &application, &store, params).await {
        Err(QueryError::NotLocal {
            host: Some(host), ..
        }) => {
            let target = uri.path_and_query().map_or("/", |p| p.as_str());
            let location = format!("http://{host}{target}");
            (
                StatusCode::TEMPORARY_REDIRECT,
                [(header::LOCATION, location)],
            )
                .into_response()
        }
        Err(err) => error(status_of(&err), &err, err.is_retriable()).into_response(),
        Ok(answer) => answer.into_response(),
    }
}

/// The answer to one query; a failed lookup is the error, for the caller to render or
/// redirect.
async fn answer(
    queries: &StoreQueries,
    application: &str,
    store: &str,
    params: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Answer, QueryError> {
    if application != queries.application_id() {
        let message = format!(
            "this query server belongs to application '{}', not '{application}'",
            queries.application_id()
        );
        return Ok(error(StatusCode::NOT_FOUND, message, false));
    }
    let key = match params
        .map_err(|err| err.body_text())
        .and_then(|Query(params)| request_key(&params))
    {
        Ok(key) => key,
        Err(message) => return Ok(error(StatusCode::BAD_REQUEST, message, false)),
    };
    let key_text = text_or_hex(&key);
    Ok(match queries.lookup(store, &key).await? {
        StoreLookup::Value(Some(value)) => (
            StatusCode::OK,
            Json(json!({
                "key": key_text,
                "value": render(queries.topology(), store, &value),
                "value_hex": hex(&value),
            })),
        ),
        StoreLookup::Value(None) => error(
            StatusCode::NOT_FOUND,
            format!("key '{key_text}' is not in store '{store}'"),
            false,
        ),
        StoreLookup::Windows(windows) if windows.is_empty() => error(
            StatusCode::NOT_FOUND,
            format!("key '{key_text}' has no window in store '{store}'"),
            false,
        ),
        StoreLookup::Windows(windows) => {
            let windows: Vec<Value> = windows
                .iter()
                .map(|w| {
                    json!({
                        "start": w.start,
                        "end": w.end,
                        "value": render(queries.topology(), store, &w.value),
                        "value_hex": hex(&w.value),
                    })
                })
                .collect();
            (
                StatusCode::OK,
                Json(json!({ "key": key_text, "windows": windows })),
            )
        }
    })
}

/// The key bytes of a request: `key` (UTF-8) or `key_hex`, exactly one, bounded.
fn request_key(params: &HashMap<String, String>) -> Result<Vec<u8>, String> {
    let key = match (params.get("key"), params.get("key_hex")) {
        (Some(key), None) => key.as_bytes().to_vec(),
        (None, Some(hex_key)) => unhex(hex_key)
            .ok_or_else(|| format!("key_hex '{hex_key}' is not an even number of hex digits"))?,
        (Some(_), Some(_)) => return Err("give either key or key_hex, not both".into()),
        (None, None) => {
            return Err("missing key: add ?key=<UTF-8 key> or ?key_hex=<hex bytes>".into())
        }
    };
    if key.len() > KEY_BYTES_MAX {
        return Err(format!(
            "the key has {} bytes; at most {KEY_BYTES_MAX} are accepted",
            key.len()
        ));
    }
    Ok(key)
}

fn status_of(err: &QueryError) -> StatusCode {
    match err {
        QueryError::UnknownStore { .. } => StatusCode::NOT_FOUND,
        QueryError::WrongStoreKind { .. } | QueryError::NotQueryable { .. } => {
            StatusCode::BAD_REQUEST
        }
        QueryError::NotRunning { .. }
        | QueryError::Busy { .. }
        | QueryError::Timeout { .. }
        | QueryError::NotLocal { .. } => StatusCode::SERVICE_UNAVAILABLE,
        QueryError::Store { .. } | QueryError::Serde(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// A value as JSON: typed by the store's serde for the built-in types, else text or hex.
fn render(topology: &Topology, store: &str, bytes: &[u8]) -> Value {
    if let Ok(n) = topology.deserialize_store_value::<u64>(store, bytes) {
        return json!(n);
    }
    if let Ok(n) = topology.deserialize_store_value::<i64>(store, bytes) {
        return json!(n);
    }
    if let Ok(s) = topology.deserialize_store_value::<String>(store, bytes) {
        return json!(s);
    }
    json!(text_or_hex(bytes))
}

fn text_or_hex(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) => text.to_string(),
        Err(_) => hex(bytes),
    }
}

/// Lower-case hex.
fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

/// Hex (either case) back to bytes; `None` if it is not an even number of hex digits.
fn unhex(text: &str) -> Option<Vec<u8>> {
    let pairs = text.as_bytes().chunks_exact(2);
    if !pairs.remainder().is_empty() {
        return None;
    }
    let digit = |b: u8| char::from(b).to_digit(16);
    pairs
        .map(|pair| Some((digit(pair[0])? * 16 + digit(pair[1])?) as u8))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_refuses_odd_or_foreign_digits() {
        assert_eq!(hex(&[0, 0x0f, 0xa5, 0xff]), "000fa5ff");
        assert_eq!(unhex("000FA5ff"), Some(vec![0, 0x0f, 0xa5, 0xff]));
        assert_eq!(unhex(""), Some(Vec::new()));
        assert_eq!(unhex("abc"), None);
        assert_eq!(unhex("zz"), None);
        assert_eq!(unhex("+1"), None);
    }

    #[test]
    fn a_request_names_its_key_exactly_once() {
        let params = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<HashMap<_, _>>()
        };
        assert_eq!(
            request_key(&params(&[("key", "héllo")])),
            Ok("héllo".into())
        );
        assert_eq!(
            request_key(&params(&[("key_hex", "00ff")])),
            Ok(vec![0, 255])
        );
        assert!(request_key(&params(&[])).is_err());
        assert!(request_key(&params(&[("key", "a"), ("key_hex", "61")])).is_err());
        assert!(request_key(&params(&[("key_hex", "0")])).is_err());
        let long = "x".repeat(KEY_BYTES_MAX + 1);
        assert!(request_key(&params(&[("key", &long)])).is_err());
    }
}
