//! The admin HTTP API of deployments (what `eddy topology deploy|undeploy` call):
//!
//! - `GET /deployments`: every deployed application, sorted by id;
//! - `GET /deployments/<app>`: one; 404 if it is not deployed;
//! - `POST /deployments` with `{"application_id", "topology", "configs": {…}}`: checks the
//!   deployment against this node's catalog (the topology exists, takes these configs and
//!   builds) and against every node's (a node whose binary lacks the topology refuses it:
//!   409 naming the nodes), then records it in the metadata (the quorum's in a cluster) and
//!   answers 201 with the record; deploying the same again answers 200; another topology or
//!   other configs under a deployed id answer 409 (undeploy first);
//! - `DELETE /deployments/<app>`: undeploys (every node's instance commits, stops and
//!   leaves the group; the topics stay); 404 if it is not deployed.
//!
//! Errors are `{"error_code": <status>, "message": …}`, as everywhere on the admin port.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use eddy_actors::deployments::{Colocate, Deploy, Undeploy};
use eddy_actors::error::ActorError;
use eddy_actors::store::DeploymentRecord;
use eddy_streams::{Catalog, Configs};
use serde::{Deserialize, Serialize};

use super::deployment;
use crate::admin_http::error_response;
use crate::kafka::Broker;

#[derive(Clone)]
struct DeployState {
    broker: Arc<Broker>,
    catalog: Arc<Catalog>,
}

/// The deployment routes, for the admin endpoint to merge.
pub fn router(broker: Arc<Broker>, catalog: Arc<Catalog>) -> Router {
    Router::new()
        .route("/deployments", get(list).post(deploy))
        .route("/deployments/{app}", get(describe).delete(undeploy))
        .with_state(DeployState { broker, catalog })
}

/// A deployment as the API shows it.
#[derive(Debug, Serialize, Deserialize)]
pub struct DeploymentView {
    /// `application.id`.
    pub application_id: String,
    /// The catalog name.
    pub topology: String,
    /// Its configs.
    pub configs: Configs,
    /// When it was deployed (ms since the epoch).
    pub deployed_at_ms: i64,
    /// Nodes whose binary cannot run it (their catalog lacks the topology).
    pub unable_nodes: Vec<i32>,
}

fn view(record: &DeploymentRecord, catalogs: &BTreeMap<i32, Vec<String>>) -> DeploymentView {
    DeploymentView {
        application_id: record.application_id.clone(),
        topology: record.topology.clone(),
        configs: record.configs.clone(),
        deployed_at_ms: record.deployed_at_ms,
        unable_nodes: unable_nodes(&record.topology, catalogs),
    }
}

/// The nodes whose reported catalog lacks `topology`.
fn unable_nodes(topology: &str, catalogs: &BTreeMap<i32, Vec<String>>) -> Vec<i32> {
    catalogs
        .iter()
        .filter(|(_, names)| !names.iter().any(|n| n == topology))
        .map(|(node, _)| *node)
        .collect()
}

async fn list(State(state): State<DeployState>) -> Response {
    let snapshot = state.broker.snapshot();
    let views: Vec<DeploymentView> = snapshot
        .deployments
        .values()
        .map(|r| view(r, &snapshot.catalogs))
        .collect();
    Json(views).into_response()
}

async fn describe(State(state): State<DeployState>, Path(app): Path<String>) -> Response {
    let snapshot = state.broker.snapshot();
    match snapshot.deployments.get(&app) {
        Some(record) => Json(view(record, &snapshot.catalogs)).into_response(),
        None => not_deployed(&app),
    }
}

fn not_deployed(app: &str) -> Response {
    error_response(
        StatusCode::NOT_FOUND,
        format!("no application {app:?} is deployed; `eddy topology list` shows what runs"),
    )
}

/// The body of `POST /deployments`.
#[derive(Debug, Deserialize)]
struct DeployRequest {
    application_id: String,
    topology: String,
    #[serde(default)]
    configs: Configs,
}

async fn deploy(
    State(state): State<DeployState>,
    body: Result<Json<DeployRequest>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Json(request) = match body {
        Ok(body) => body,
        Err(rejection) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                format!("the body must be {{\"application_id\": …, \"topology\": …, \"configs\": {{…}}}}: {rejection}"),
            )
        }
    };
    let app = request.application_id.trim().to_string();
    if app.is_empty() || app.contains(|c: char| !(c.is_ascii_alphanumeric() || "._-".contains(c))) {
        return error_response(
            StatusCode::BAD_REQUEST,
            format!("application id {app:?} must be non-empty ASCII letters, digits, '.', '_' or '-' (it names the group and the internal topics)"),
        );
    }
    let topology = match deployment::check(&state.catalog, &request.topology, &request.configs) {
        Ok(topology) => topology,
        Err(reason) => return error_response(StatusCode::BAD_REQUEST, reason),
    };
    let snapshot = state.broker.snapshot();
    let unable = unable_nodes(&request.topology, &snapshot.catalogs);
    if !unable.is_empty() {
        let nodes: Vec<String> = unable.iter().map(i32::to_string).collect();
        return error_response(
            StatusCode::CONFLICT,
            format!(
                "node(s) {} cannot run topology {:?}: their binary's catalog lacks it; run a binary that registers it on every node (or decommission those nodes), then deploy again",
                nodes.join(", "),
                request.topology
            ),
        );
    }
    let existed = snapshot.deployments.contains_key(&app);
    let record = DeploymentRecord {
        application_id: app.clone(),
        topology: request.topology,
        configs: request.configs,
        deployed_at_ms: eddy_streams::registry::now_ms(),
    };
    match state
        .broker
        .actors
        .metadata
        .send(Deploy(record.clone()))
        .await
    {
        Ok(Ok(())) => {
            // Its co-partitioned topics go onto one replica set (the controller moves them);
            // recorded again by a repeated deploy, so a failure here is retried by that.
            let colocate = Colocate {
                application_id: app.clone(),
                groups: topology.copartition_groups(&app),
            };
            match state.broker.actors.metadata.send(colocate).await {
                Ok(Ok(())) => {}
                Ok(Err(err)) => {
                    return error_response(
                        StatusCode::SERVICE_UNAVAILABLE,
                        format!("{app} is deployed, but its co-partitioned topics could not be recorded ({err}): deploy it again with the same configs"),
                    )
                }
                Err(err) => {
                    return error_response(
                        StatusCode::SERVICE_UNAVAILABLE,
                        format!("{app} is deployed, but the metadata actor does not answer ({err}): deploy it again with the same configs"),
                    )
                }
            }
            let snapshot = state.broker.snapshot();
            let stored = snapshot.deployments.get(&app).unwrap_or(&record);
            let status = if existed {
                StatusCode::OK
            } else {
                StatusCode::CREATED
            };
            (status, Json(view(stored, &snapshot.catalogs))).into_response()
        }
        Ok(Err(err)) => actor_error(err),
        Err(err) => error_response(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the metadata actor does not answer: {err}"),
        ),
    }
}

async fn undeploy(State(state): State<DeployState>, Path(app): Path<String>) -> Response {
    let undeploy = Undeploy {
        application_id: app.clone(),
    };
    match state.broker.actors.metadata.send(undeploy).await {
        Ok(Ok(())) => StatusCode::NO_CONTENT.into_response(),
        Ok(Err(ActorError::UnknownDeployment(_))) => not_deployed(&app),
        Ok(Err(err)) => actor_error(err),
        Err(err) => error_response(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the metadata actor does not answer: {err}"),
        ),
    }
}

fn actor_error(err: ActorError) -> Response {
    let status = match &err {
        ActorError::DeploymentExists(_) | ActorError::DeploymentUnrunnable(_) => {
            StatusCode::CONFLICT
        }
        ActorError::UnknownDeployment(_) => StatusCode::NOT_FOUND,
        ActorError::Quorum(_) | ActorError::Timeout(_) | ActorError::Unavailable(_) => {
            StatusCode::SERVICE_UNAVAILABLE
        }
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    error_response(status, err)
}
