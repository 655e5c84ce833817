//! What the Kafka Connect tests (`tests/connect_*.rs`) share on top of `tests/common/`: a
//! standalone `eddy connect run` process that can be stopped or killed, bounded waits, the
//! REST status of a connector, and a throwaway PostgreSQL server (`postgres.rs`).

// Each test crate uses a different subset of these helpers.
#![allow(dead_code)]

pub mod postgres;

use std::fs::{self, OpenOptions};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{http_get, EddyNode};

/// How long `eddy connect run` may take to stop after SIGTERM.
pub const CONNECT_STOP_TIMEOUT_MS: u64 = 30_000;
/// How long the REST API of `eddy connect run` may take to come up.
pub const REST_READY_TIMEOUT_MS: u64 = 30_000;
/// The pause between two looks of a bounded wait.
const WAIT_POLL_MS: u64 = 100;

/// A running `eddy connect run`, killed when dropped; its log is printed on failure.
pub struct ConnectProcess {
    child: Option<Child>,
    log: PathBuf,
}

impl ConnectProcess {
    /// Runs the connectors of `files` against `node`, with the REST API on `admin`; waits
    /// until the REST API answers.
    pub fn start(node: &EddyNode, admin: SocketAddr, files: &[&Path], log: PathBuf) -> Self {
        let out = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("open the connect log");
        let err = out.try_clone().expect("clone the connect log handle");
        let child = Command::new(env!("CARGO_BIN_EXE_eddy"))
            .args(["connect", "run", "--bootstrap-server", &node.bootstrap()])
            .args(["--admin", &admin.to_string()])
            .args(files)
            .env_remove("EDDY_BOOTSTRAP_SERVER")
            .env_remove("EDDY_ADMIN")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .expect("spawn eddy connect run");
        let process = Self {
            child: Some(child),
            log,
        };
        wait_for(
            REST_READY_TIMEOUT_MS,
            "the Connect REST API to answer",
            || TcpStream::connect_timeout(&admin, Duration::from_millis(200)).is_ok(),
        );
        process
    }

    /// Panics unless the process still runs.
    pub fn assert_running(&mut self) {
        let status = self
            .child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten());
        assert!(
            status.is_none(),
            "eddy connect run exited early: {status:?}"
        );
    }

    /// SIGTERM, then waits: the connectors commit their progress and the process exits 0.
    pub fn stop(&mut self) {
        let mut child = self.child.take().expect("connect process running");
        let killed = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(killed.success());
        let deadline = Instant::now() + Duration::from_millis(CONNECT_STOP_TIMEOUT_MS);
        loop {
            if let Some(status) = child.try_wait().expect("wait for eddy connect run") {
                assert!(status.success(), "eddy connect run exited with {status}");
                return;
            }
            assert!(
                Instant::now() < deadline,
                "eddy connect run did not stop after SIGTERM"
            );
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL: nothing is committed on the way out.
    pub fn kill9(&mut self) {
        let mut child = self.child.take().expect("connect process running");
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for ConnectProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if thread::panicking() {
            let log = fs::read_to_string(&self.log).unwrap_or_default();
            eprintln!("----- eddy connect log -----\n{log}\n----- end of eddy connect log -----");
        }
    }
}

/// Waits until `done`, panicking after `timeout_ms`.
pub fn wait_for(timeout_ms: u64, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_millis(timeout_ms);
    while !done() {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout_ms} ms waiting for {what}"
        );
        thread::sleep(Duration::from_millis(WAIT_POLL_MS));
    }
}

/// The REST status of `connector` as JSON.
pub fn connector_status(admin: SocketAddr, connector: &str) -> Value {
    let response = http_get(admin, &format!("/connectors/{connector}/status"));
    assert_eq!(
        response.status, 200,
        "status of {connector}: {}",
        response.body
    );
    serde_json::from_str(&response.body).expect("the status is JSON")
}

/// Panics with its trace if a task of `connector` is FAILED (so a wait ends early).
pub fn assert_not_failed(admin: SocketAddr, connector: &str) {
    let status = connector_status(admin, connector);
    let failed = status["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .find(|t| t["state"] == "FAILED");
    if let Some(task) = failed {
        panic!("a task of {connector} FAILED: {task}");
    }
}

/// The restarts of every task of `connector`, summed.
pub fn restarts(admin: SocketAddr, connector: &str) -> u64 {
    connector_status(admin, connector)["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .map(|t| t["restarts"].as_u64().unwrap_or(0))
        .sum()
}
