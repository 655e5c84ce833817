//! What the ConnectSupervisor reports about connectors, shaped like Kafka Connect's REST
//! answers (`GET /connectors/<name>`, `/status`), so its clients read them unchanged.
//!
//! A task's lifecycle, with its legal transitions:
//!
//! ```text
//! UNASSIGNED ──start──▶ RUNNING ⇄ PAUSED        (pause / resume)
//!      ▲                  │
//!      │            fails (retriable)
//!      │                  ▼
//!      └──back-off── RESTARTING ──too often / not retriable──▶ FAILED
//! FAILED ──restart (user)──▶ UNASSIGNED
//! ```
//!
//! A connector (not a task) may also be STOPPED (KIP-875): it has no task at all until it
//! is resumed or paused, and only then may its offsets be altered or reset.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::config::ConnectorType;

/// A connector's or a task's state, with Kafka Connect's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum State {
    /// Created, not (yet) running: starting, or between two incarnations.
    Unassigned,
    /// Running.
    Running,
    /// Paused by a user: alive, reading nothing.
    Paused,
    /// Failed: stopped for good until a user restarts it; `trace` says why.
    Failed,
    /// Failed and waiting for its restart back-off.
    Restarting,
    /// A connector stopped by a user: no task runs (KIP-875).
    Stopped,
}

/// The state of a connector as a whole.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectorState {
    /// RUNNING, PAUSED, or FAILED once every task failed.
    pub state: State,
    /// Where it runs (the node or the standalone process).
    pub worker_id: String,
    /// The last error, when FAILED.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub trace: Option<String>,
}

/// The state of one task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskStatus {
    /// The task's index.
    pub id: u32,
    /// Its state.
    pub state: State,
    /// Where it runs.
    pub worker_id: String,
    /// Its last error: why it failed, or why it is restarting.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub trace: Option<String>,
    /// How many times it was restarted (an Eddy addition to Kafka's answer).
    #[serde(default)]
    pub restarts: u64,
}

/// `GET /connectors/<name>/status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectorStatus {
    /// The connector's name.
    pub name: String,
    /// The connector's state.
    pub connector: ConnectorState,
    /// Its tasks' states.
    pub tasks: Vec<TaskStatus>,
    /// Source or sink.
    #[serde(rename = "type")]
    pub connector_type: ConnectorType,
}

/// A task's identity, as Kafka lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskRef {
    /// The connector.
    pub connector: String,
    /// The task's index.
    pub task: u32,
}

/// `GET /connectors/<name>` and the answer to `POST /connectors`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectorInfo {
    /// The connector's name.
    pub name: String,
    /// Its configuration as given.
    pub config: BTreeMap<String, String>,
    /// Its tasks.
    pub tasks: Vec<TaskRef>,
    /// Source or sink.
    #[serde(rename = "type")]
    pub connector_type: ConnectorType,
}
