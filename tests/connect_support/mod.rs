//! What the Kafka Connect tests (`tests/connect_*.rs`) share on top of `tests/common/`: a
//! standalone `eddy connect run` process that can be stopped or killed, bounded waits, the
//! REST status of a connector, HTTP requests, the lines a file sink wrote checked against
//! its input, a bad configuration refused by `eddy connect run`, and a throwaway
//! PostgreSQL server (`postgres.rs`).

// Each test crate uses a different subset of these helpers.
#![allow(dead_code)]

pub mod postgres;

use std::collections::{HashMap, HashSet};
use std::fs::{self, OpenOptions};
use std::io::{Read, Write};
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
        let bootstrap = node.bootstrap();
        let args = ["--bootstrap-server", bootstrap.as_str()];
        Self::start_in(None, &args, admin, files, log)
    }

    /// Runs `eddy connect run ARGS --admin ADMIN FILES…` in `cwd` (the test's own by
    /// default), as Kafka's quickstart runs connect-standalone from its directory; waits
    /// until the REST API answers.
    pub fn start_in(
        cwd: Option<&Path>,
        args: &[&str],
        admin: SocketAddr,
        files: &[&Path],
        log: PathBuf,
    ) -> Self {
        let out = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("open the connect log");
        let err = out.try_clone().expect("clone the connect log handle");
        let mut command = Command::new(env!("CARGO_BIN_EXE_eddy"));
        if let Some(cwd) = cwd {
            command.current_dir(cwd);
        }
        let child = command
            .args(["connect", "run"])
            .args(args)
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

    /// What the process logged so far.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
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

/// How long one REST request may take to connect, and to answer.
pub const REQUEST_TIMEOUT_MS: u64 = 30_000;

/// Sends `method path` with a JSON body to `addr` over HTTP/1.1; returns status and body.
pub fn http(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, String) {
    let timeout = Duration::from_millis(REQUEST_TIMEOUT_MS);
    let mut stream = TcpStream::connect_timeout(&addr, timeout).expect("connect to the admin port");
    stream
        .set_read_timeout(Some(timeout))
        .expect("read timeout");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .expect("send the request");
    let mut raw = String::new();
    stream.read_to_string(&mut raw).expect("read the answer");
    let status = raw
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{method} {path}: bad answer {raw:?}"));
    let body = raw
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// The complete lines of a file a sink writes; none while it does not exist.
pub fn file_lines(path: &Path) -> Vec<String> {
    match fs::read_to_string(path) {
        // A line still being written has no newline yet: leave it for the next look.
        Ok(text) => text
            .split_inclusive('\n')
            .filter(|l| l.ends_with('\n'))
            .map(|l| l.trim_end_matches('\n').to_owned())
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// How many different lines `lines` holds.
pub fn distinct(lines: &[String]) -> usize {
    lines.iter().collect::<HashSet<_>>().len()
}

/// Checks that `seen` holds `line(0..count)` and nothing else, the first copy of each in
/// input order; returns the number of duplicates.
pub fn check_lines(seen: &[String], count: usize, line: impl Fn(usize) -> String) -> usize {
    let mut copies: HashMap<&str, usize> = HashMap::new();
    let mut next_new = 0;
    for text in seen {
        let copy = copies.entry(text.as_str()).or_default();
        *copy += 1;
        if *copy == 1 {
            assert_eq!(
                *text,
                line(next_new),
                "a line skipped or out of order: the first copy of each line must arrive in \
                 input order"
            );
            next_new += 1;
        }
    }
    assert_eq!(
        next_new, count,
        "lines lost: only {next_new} of {count} arrived"
    );
    seen.len() - count
}

/// Runs `eddy connect run` on the bad configuration `config`: it must be refused before
/// anything runs, with exactly `faulty.len()` errors, each faulty key listed. Returns the
/// command's stderr.
pub fn assert_refused_by_connect_run(node: &EddyNode, config: &Path, faulty: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_eddy"))
        .args(["connect", "run", "--bootstrap-server", &node.bootstrap()])
        .arg(config)
        .output()
        .expect("run eddy connect run");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !out.status.success(),
        "a bad configuration was accepted: {stderr}"
    );
    assert!(
        stderr.contains(&format!("contains the following {} error(s)", faulty.len())),
        "{stderr}"
    );
    for key in faulty {
        assert!(
            stderr.contains(&format!("\n  - {key} ")),
            "{key} not listed in:\n{stderr}"
        );
    }
    stderr
}
