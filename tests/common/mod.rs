//! Harness shared by the integration tests of the `eddy` package.
//!
//! `EddyNode` runs the real `eddy` binary as a separate process on loopback ports with its
//! own temporary data directory, so tests exercise exactly what a user runs. The external
//! clients the interop tests drive (kcat, kafka-python, confluent-kafka) are located by
//! `kcat()` and `python()`, which fail the test — never skip it — when a tool is missing:
//! `scripts/test.sh` installs them.
//!
//! Every wait in here is bounded by a named limit, and a node dropped while its test
//! panics prints its whole log, so a red test explains itself.

// Each integration test is its own crate and uses a different subset of these helpers, so
// the ones a given test does not call would otherwise be reported as dead code there.
#![allow(dead_code)]

use std::fs::{self, OpenOptions};
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchRequest, FetchTopic};
use kafka_protocol::messages::{RequestHeader, ResponseHeader, TopicName};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};

/// How long a node may take from spawn until its Kafka port accepts TCP connections.
pub const NODE_READY_TIMEOUT_MS: u64 = 30_000;
/// Pause between two readiness probes of a starting node.
pub const NODE_READY_POLL_MS: u64 = 50;
/// How many times a node start is tried when its ports were taken in the meantime.
pub const NODE_START_ATTEMPTS_MAX: u32 = 3;
/// Pause before a restart on the same ports is tried again after one of them was taken.
pub const NODE_RESTART_RETRY_PAUSE_MS: u64 = 500;
/// What a node logs when a listener cannot bind because its port is taken (the OS error
/// text inside `NodeError::Bind`): the one start-up failure the helpers retry.
pub const PORT_IN_USE: &str = "Address already in use";
/// How long a node may take to shut down after SIGTERM.
pub const NODE_STOP_TIMEOUT_MS: u64 = 30_000;
/// How long a killed node may take to be reaped.
pub const NODE_EXIT_TIMEOUT_MS: u64 = 10_000;
/// Default limit for one request/response exchange on a raw Kafka connection.
pub const KAFKA_IO_TIMEOUT_MS: u64 = 10_000;
/// Largest response frame the raw test client accepts.
pub const KAFKA_FRAME_BYTES_MAX: usize = 64 * 1024 * 1024;

/// A running `eddy` node: one process, loopback ports, a private data directory.
pub struct EddyNode {
    child: Option<Child>,
    dir: tempfile::TempDir,
    kafka_port: u16,
    admin_port: u16,
    extra_args: Vec<String>,
    /// Environment variables set for the node process (e.g. `EDDY_FAULT_POINT`).
    env: Vec<(String, String)>,
    /// `(soft, hard)` RLIMIT_NOFILE the node process starts with, if not inherited.
    nofile_limit: Option<(u64, u64)>,
    starts: u32,
}

impl EddyNode {
    /// Starts a node with default settings.
    pub fn start() -> Self {
        Self::start_with_args(&[])
    }

    /// Starts a node with extra `eddy start` arguments, e.g.
    /// `["--log-flush-interval-messages", "1"]` to fsync every append.
    pub fn start_with_args(extra_args: &[&str]) -> Self {
        Self::start_prepared(extra_args, None, |_| {})
    }

    /// Starts a node with extra arguments and environment variables (kept for restarts
    /// until `set_env` changes them), e.g. `[("EDDY_FAULT_POINT", "…")]` to make it abort at
    /// a fault point (`eddy_actors::fault`).
    pub fn start_with_env(extra_args: &[&str], env: &[(&str, &str)]) -> Self {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Self::launch(extra_args, env, None, |_| {})
    }

    /// Replaces the extra `eddy start` arguments for the node's next starts.
    pub fn set_args(&mut self, extra_args: &[&str]) {
        self.extra_args = extra_args.iter().map(|a| a.to_string()).collect();
    }

    /// Sets (`Some`) or removes (`None`) an environment variable for the node's next starts.
    pub fn set_env(&mut self, key: &str, value: Option<&str>) {
        self.env.retain(|(k, _)| k != key);
        if let Some(value) = value {
            self.env.push((key.to_string(), value.to_string()));
        }
    }

    /// Starts a node with extra arguments and, if given, a `(soft, hard)` open-file limit
    /// (RLIMIT_NOFILE) for its process, after `prepare` has run on the (not yet created)
    /// data directory path — e.g. to mount a small tmpfs there.
    pub fn start_prepared(
        extra_args: &[&str],
        nofile_limit: Option<(u64, u64)>,
        prepare: impl FnOnce(&Path),
    ) -> Self {
        Self::launch(extra_args, Vec::new(), nofile_limit, prepare)
    }

    fn launch(
        extra_args: &[&str],
        env: Vec<(String, String)>,
        nofile_limit: Option<(u64, u64)>,
        prepare: impl FnOnce(&Path),
    ) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("eddy-test-")
            .tempdir()
            .expect("create a temporary directory for the node");
        let mut node = EddyNode {
            child: None,
            dir,
            kafka_port: 0,
            admin_port: 0,
            extra_args: extra_args.iter().map(|a| a.to_string()).collect(),
            env,
            nofile_limit,
            starts: 0,
        };
        prepare(&node.data_dir());
        for attempt in 1..=NODE_START_ATTEMPTS_MAX {
            node.kafka_port = free_port();
            node.admin_port = free_port();
            match node.spawn_and_wait() {
                Ok(()) => return node,
                // The one expected failure: `free_port` releases its port before the node
                // binds it, so another process may take it in between. It is retried on
                // fresh ports; any other start-up failure fails the test at once.
                Err(err) if attempt < NODE_START_ATTEMPTS_MAX && node.port_was_taken() => {
                    eprintln!("node start attempt {attempt} lost its ports, retrying: {err}");
                }
                Err(err) => panic!("node start #{} failed: {err}", node.starts),
            }
        }
        unreachable!("the last start attempt either returns or panics")
    }

    /// The Kafka bootstrap address, `127.0.0.1:<port>`.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.kafka_port)
    }

    /// The Kafka listener as a socket address.
    pub fn kafka_addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.kafka_port))
    }

    /// Base URL of the admin HTTP endpoint, `http://127.0.0.1:<port>`.
    pub fn admin_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.admin_port)
    }

    /// The admin HTTP listener as a socket address.
    pub fn admin_addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.admin_port))
    }

    /// The node's data directory (kept across `restart`).
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// A scratch directory for the test's own files, removed with the node.
    pub fn scratch_dir(&self) -> &Path {
        self.dir.path()
    }

    /// The node process's id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The node process's resident memory in bytes (VmRSS), while it runs.
    pub fn rss_bytes(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()?)).ok()?;
        let kib: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        Some(kib * 1024)
    }

    /// Path of the file that collects the node's stdout and stderr across restarts.
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("eddy.log")
    }

    /// Everything the node printed so far (all starts).
    pub fn log(&self) -> String {
        fs::read(self.log_path())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_else(|err| format!("<no log: {err}>"))
    }

    /// What the node printed since its latest start began (the log of earlier starts cut
    /// off), so a start is judged by its own output only.
    pub fn start_log(&self) -> String {
        let log = self.log();
        let banner = format!("===== eddy start #{} ", self.starts);
        match log.rfind(&banner) {
            Some(at) => log[at..].to_string(),
            None => log,
        }
    }

    /// Whether the latest start failed because a port was taken (see `PORT_IN_USE`).
    fn port_was_taken(&self) -> bool {
        self.start_log().contains(PORT_IN_USE)
    }

    /// Whether the node process is still running (it has not exited on its own).
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            None => false,
            Some(child) => matches!(child.try_wait(), Ok(None)),
        }
    }

    /// Panics with the log unless the process is alive, its log (all starts) shows no
    /// panic, and it logged no ERROR line of its own (see `unexpected_error_lines`).
    pub fn assert_healthy(&mut self) {
        self.assert_healthy_except(&[]);
    }

    /// Like `assert_healthy`, for a test that provokes errors on purpose: an ERROR line
    /// that contains one of `expected` (e.g. `"storage"`) is allowed, any other fails.
    pub fn assert_healthy_except(&mut self, expected: &[&str]) {
        if !self.is_running() {
            let status = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            panic!("the eddy node exited unexpectedly (status {status:?})");
        }
        let log = self.log();
        assert!(
            !log.contains("panicked"),
            "the eddy node log contains a panic"
        );
        let unexpected = unexpected_error_lines(&log, expected);
        assert!(
            unexpected.is_empty(),
            "the eddy node logged {} unexpected ERROR line(s) (allowed: {expected:?}):\n{}",
            unexpected.len(),
            unexpected.join("\n")
        );
    }

    /// Stops the node with SIGTERM, as an operator does, and waits (bounded) until it has
    /// gone through its shutdown and exited cleanly.
    pub fn stop(&mut self) {
        let mut child = self
            .child
            .take()
            .expect("stop on a node that is not running");
        let sent = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("run kill -TERM");
        assert!(sent.success(), "kill -TERM {} failed", child.id());
        let timeout = Duration::from_millis(NODE_STOP_TIMEOUT_MS);
        match wait_bounded(&mut child, timeout) {
            Some(status) => assert!(status.success(), "eddy exited with {status} after SIGTERM"),
            None => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("eddy did not stop within {NODE_STOP_TIMEOUT_MS} ms of SIGTERM");
            }
        }
    }

    /// Waits (bounded) for a node to exit on its own and returns how it exited, or `None`
    /// if it still runs after `timeout`. The node can then be `restart`ed.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let child = self.child.as_mut()?;
        let status = wait_bounded(child, timeout)?;
        self.child = None;
        Some(status)
    }

    /// Waits (bounded) for the node to die at the fault point it was started with
    /// (`EDDY_FAULT_POINT`, see `eddy_actors::fault`): it must exit by SIGABRT after
    /// printing that it reached `point`. Panics otherwise. The node can then be `restart`ed.
    pub fn expect_fault_abort(&mut self, point: &str, timeout: Duration) {
        use std::os::unix::process::ExitStatusExt;
        let status = self
            .wait_exit(timeout)
            .unwrap_or_else(|| panic!("the node did not abort at {point} within {timeout:?}"));
        assert_eq!(
            status.signal(),
            Some(libc::SIGABRT),
            "the node was to abort at {point}, it exited with {status}"
        );
        let reached = format!("fault point {point} reached");
        assert!(
            self.start_log().contains(&reached),
            "the node aborted, but its log does not say {reached:?}"
        );
    }

    /// Kills the node with SIGKILL (no shutdown code runs) and reaps it.
    pub fn kill9(&mut self) {
        let mut child = self
            .child
            .take()
            .expect("kill9 on a node that is not running");
        // A node that died by itself before the kill crashed unnoticed: a kill and restart
        // must not hide that.
        if let Ok(Some(status)) = child.try_wait() {
            panic!("kill9 of a node that had already exited on its own with {status}");
        }
        // `Child::kill` sends SIGKILL on Unix: the process gets no chance to flush anything.
        let _ = child.kill();
        let deadline = Instant::now() + Duration::from_millis(NODE_EXIT_TIMEOUT_MS);
        loop {
            match child.try_wait() {
                Ok(Some(_)) => return,
                Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(10)),
                other => panic!("killed node was not reaped within the limit: {other:?}"),
            }
        }
    }

    /// Starts the node again on the same data directory and the same ports (killing it
    /// first with SIGKILL if it still runs). The first start-up failure fails the test — a
    /// recovery that only works on a second try is a failed recovery — except a taken port.
    pub fn restart(&mut self) {
        if self.child.is_some() {
            self.kill9();
        }
        for attempt in 1..=NODE_START_ATTEMPTS_MAX {
            match self.spawn_and_wait() {
                Ok(()) => return,
                // The one expected failure: another process (a client's ephemeral port,
                // another test's `free_port`) holds one of the node's ports for a moment.
                // The ports stay the same, as clients know them, so it waits and tries again.
                Err(err) if attempt < NODE_START_ATTEMPTS_MAX && self.port_was_taken() => {
                    eprintln!("restart attempt {attempt} found a port taken, retrying: {err}");
                    thread::sleep(Duration::from_millis(NODE_RESTART_RETRY_PAUSE_MS));
                }
                Err(err) => panic!("node start #{} (a restart) failed: {err}", self.starts),
            }
        }
        unreachable!("the last restart attempt either returns or panics")
    }

    fn spawn_and_wait(&mut self) -> Result<(), String> {
        self.starts += 1;
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("open the node log file");
        writeln!(
            log,
            "===== eddy start #{} (kafka {}, admin {}) =====",
            self.starts,
            self.bootstrap(),
            self.admin_url()
        )
        .expect("write the node log file");
        let stderr = log.try_clone().expect("clone the node log file handle");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_eddy"));
        // Settings come from the arguments only, never from the caller's `EDDY_*` variables.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("EDDY_") {
                cmd.env_remove(key);
            }
        }
        if let Some((soft, hard)) = self.nofile_limit {
            use std::os::unix::process::CommandExt;
            let limit = libc::rlimit {
                rlim_cur: soft,
                rlim_max: hard,
            };
            // SAFETY: runs in the forked child before exec; setrlimit is async-signal-safe
            // and touches only the struct copied into the closure.
            unsafe {
                cmd.pre_exec(move || {
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0 {
                        Ok(())
                    } else {
                        Err(std::io::Error::last_os_error())
                    }
                });
            }
        }
        let child = cmd
            .arg("start")
            .args(["--node-id", "1"])
            .args(["--listen", &format!("127.0.0.1:{}", self.kafka_port)])
            .args(["--admin", &format!("127.0.0.1:{}", self.admin_port)])
            .arg("--data-dir")
            .arg(self.data_dir())
            .args(&self.extra_args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .env("RUST_BACKTRACE", "1")
            // The log is a file: keep terminal colour codes out of it.
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(stderr))
            .spawn()
            .map_err(|err| format!("cannot spawn {}: {err}", env!("CARGO_BIN_EXE_eddy")))?;
        self.child = Some(child);

        let deadline = Instant::now() + Duration::from_millis(NODE_READY_TIMEOUT_MS);
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                self.child = None;
                return Err(format!("eddy exited during start-up with {status}"));
            }
            let probe = Duration::from_millis(200);
            if TcpStream::connect_timeout(&self.kafka_addr(), probe).is_ok()
                && TcpStream::connect_timeout(&self.admin_addr(), probe).is_ok()
            {
                return Ok(());
            }
            if Instant::now() >= deadline {
                if let Some(mut child) = self.child.take() {
                    let _ = child.kill();
                    let _ = child.wait();
                }
                return Err(format!(
                    "eddy did not accept connections on {} and {} within {NODE_READY_TIMEOUT_MS} ms",
                    self.bootstrap(),
                    self.admin_url()
                ));
            }
            thread::sleep(Duration::from_millis(NODE_READY_POLL_MS));
        }
    }

    /// The log framed for printing after a failure.
    fn log_banner(&self) -> String {
        format!(
            "----- eddy log ({}) -----\n{}\n----- end of eddy log -----",
            self.log_path().display(),
            self.log()
        )
    }
}

impl Drop for EddyNode {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if thread::panicking() {
            eprintln!("{}", self.log_banner());
        }
    }
}

/// The node's own ERROR lines in its log — tracing's level field (the second word of a
/// line) is ERROR and its target (the third) one of Eddy's crates — that contain none of
/// `expected`. Libraries' ERROR lines are left out: openraft logs one for every RPC to a
/// peer that a test killed or paused, and what matters about a library's failure is what
/// the node then does, which its own lines and its exit status show.
pub fn unexpected_error_lines(log: &str, expected: &[&str]) -> Vec<String> {
    log.lines()
        .filter(|line| {
            let mut words = line.split_whitespace().skip(1);
            words.next() == Some("ERROR") && words.next().is_some_and(|t| t.starts_with("eddy"))
        })
        .filter(|line| !expected.iter().any(|allowed| line.contains(allowed)))
        .map(str::to_string)
        .collect()
}

/// A loopback port that was free a moment ago (bind to port 0, read it, release it).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind an ephemeral loopback port")
        .port()
}

/// Repository root (the root package's manifest directory).
/// One HTTP/1.0 `METHOD PATH` exchange with an admin endpoint (with `body` as JSON, or
/// none): the answer's status and body, whatever the status; only a failed exchange is an
/// `Err`.
pub fn http_exchange(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&str>,
    timeout: Duration,
) -> Result<(u16, String), String> {
    let mut stream = TcpStream::connect_timeout(&addr, timeout)
        .map_err(|err| format!("connect {addr}: {err}"))?;
    stream
        .set_read_timeout(Some(timeout))
        .and_then(|()| stream.set_write_timeout(Some(timeout)))
        .map_err(|err| format!("socket timeouts: {err}"))?;
    let body = body.unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.0\r\nHost: {addr}\r\nAccept: */*\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .map_err(|err| format!("send {method} {path} to {addr}: {err}"))?;
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .map_err(|err| format!("read {method} {path} from {addr}: {err}"))?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("{method} {path} from {addr}: no end of headers in {text:?}"))?;
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("{method} {path} from {addr}: no status in {head:?}"))?;
    Ok((status, body.to_string()))
}

/// Waits until `probe` returns `Ok`, checking every `poll`; after `timeout` panics with
/// `what` and the last reason `probe` gave for not being done.
pub fn wait_until_ok<T>(
    what: &str,
    timeout: Duration,
    poll: Duration,
    mut probe: impl FnMut() -> Result<T, String>,
) -> T {
    let started = Instant::now();
    loop {
        let last = match probe() {
            Ok(value) => return value,
            Err(reason) => reason,
        };
        assert!(
            started.elapsed() < timeout,
            "timed out after {timeout:?} waiting until {what}; last state: {last}"
        );
        thread::sleep(poll);
    }
}

/// The example `own_catalog` (a program whose `main` is `eddy::cli::main_with(stock +
/// shout)`), built by `cargo build --examples`, which scripts/test.sh runs first.
pub fn own_catalog_program() -> PathBuf {
    // Test binaries live in target/<profile>/deps; examples in target/<profile>/examples.
    let exe = std::env::current_exe().expect("test binary path");
    let path = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target dir")
        .join("examples")
        .join("own_catalog");
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --examples` (scripts/test.sh does)",
        path.display()
    );
    path
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Path of a helper script in `tests/python/`.
pub fn python_script(name: &str) -> PathBuf {
    let path = repo_root().join("tests").join("python").join(name);
    assert!(path.is_file(), "missing test script {}", path.display());
    path
}

/// The Python interpreter of the test virtualenv (`EDDY_TEST_PYTHON` or `.venv/bin/python`).
pub fn python() -> PathBuf {
    let path = std::env::var_os("EDDY_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".venv").join("bin").join("python"));
    assert!(
        path.is_file(),
        "no test Python at {}: run scripts/test.sh to install the test dependencies",
        path.display()
    );
    path
}

/// The `kcat` executable (`EDDY_TEST_KCAT` or the first `kcat` on `PATH`).
pub fn kcat() -> PathBuf {
    if let Some(path) = std::env::var_os("EDDY_TEST_KCAT") {
        return PathBuf::from(path);
    }
    let path_var = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path_var)
        .map(|dir| dir.join("kcat"))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!("kcat not found on PATH: run scripts/test.sh to install the test dependencies")
        })
}

/// Runs a command to completion with optional standard input, killing it and panicking
/// if it takes longer than `timeout`.
pub fn run_with_timeout(cmd: &mut Command, stdin: Option<Vec<u8>>, timeout: Duration) -> Output {
    let description = format!("{cmd:?}");
    let mut child = cmd
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|err| panic!("cannot spawn {description}: {err}"));
    let writer = stdin.map(|input| {
        let mut pipe = child.stdin.take().expect("piped stdin");
        thread::spawn(move || {
            // A write error means the child exited early; its status tells the story.
            let _ = pipe.write_all(&input);
        })
    });
    let stdout = drain(child.stdout.take().expect("piped stdout"));
    let stderr = drain(child.stderr.take().expect("piped stderr"));
    let status = wait_bounded(&mut child, timeout);
    if let Some(writer) = writer {
        let _ = writer.join();
    }
    let output = Output {
        status: status.unwrap_or_else(|| {
            let _ = child.kill();
            child.wait().expect("reap a killed child")
        }),
        stdout: stdout.join().expect("stdout reader thread"),
        stderr: stderr.join().expect("stderr reader thread"),
    };
    if status.is_none() {
        panic!(
            "{description} did not finish within {timeout:?}\nstdout:\n{}\nstderr:\n{}",
            tail(&output.stdout),
            tail(&output.stderr)
        );
    }
    output
}

/// Waits for a child to exit for at most `timeout`; `None` if it is still running.
pub fn wait_bounded(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(20)),
            Ok(None) => return None,
            Err(err) => panic!("cannot wait for a child process: {err}"),
        }
    }
}

fn drain<R: Read + Send + 'static>(mut source: R) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = source.read_to_end(&mut buf);
        buf
    })
}

/// The last few KiB of a command's output, for failure messages.
pub fn tail(bytes: &[u8]) -> String {
    const TAIL_BYTES_MAX: usize = 8 * 1024;
    let start = bytes.len().saturating_sub(TAIL_BYTES_MAX);
    String::from_utf8_lossy(&bytes[start..]).into_owned()
}

/// Runs a script from `tests/python/` with the test interpreter and asserts it succeeds;
/// returns its standard output.
pub fn run_python(script: &str, args: &[&str], timeout: Duration) -> String {
    let mut cmd = Command::new(python());
    cmd.arg(python_script(script)).args(args);
    let output = run_with_timeout(&mut cmd, None, timeout);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{script} {args:?} failed with {}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        tail(&output.stdout),
        tail(&output.stderr)
    );
    stdout
}

/// Creates topics with the given partition counts through kafka-python's admin client.
pub fn create_topics(node: &EddyNode, topics: &[(&str, u32)]) {
    let specs: Vec<String> = topics.iter().map(|(t, p)| format!("{t}:{p}")).collect();
    let mut args = vec![node.bootstrap()];
    args.extend(specs);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run_python("create_topics.py", &args, Duration::from_secs(60));
    assert!(out.contains("created"), "create_topics.py printed: {out}");
}

/// Runs kcat with the given arguments and optional stdin; asserts success, returns stdout.
pub fn run_kcat(args: &[&str], stdin: Option<Vec<u8>>, timeout: Duration) -> String {
    let mut cmd = Command::new(kcat());
    cmd.args(args);
    let output = run_with_timeout(&mut cmd, stdin, timeout);
    assert!(
        output.status.success(),
        "kcat {args:?} failed with {}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        tail(&output.stdout),
        tail(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("kcat printed UTF-8")
}

/// A minimal blocking Kafka protocol client over one TCP connection, for tests that need
/// to look at exact bytes (batch attributes) or send malformed frames.
pub struct KafkaConn {
    stream: TcpStream,
    correlation_id: i32,
}

impl KafkaConn {
    /// Connects with read and write timeouts of `KAFKA_IO_TIMEOUT_MS`.
    pub fn connect(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_millis(KAFKA_IO_TIMEOUT_MS))
            .unwrap_or_else(|err| panic!("connect to {addr}: {err}"));
        let timeout = Some(Duration::from_millis(KAFKA_IO_TIMEOUT_MS));
        stream.set_read_timeout(timeout).expect("set read timeout");
        stream
            .set_write_timeout(timeout)
            .expect("set write timeout");
        stream.set_nodelay(true).expect("set TCP_NODELAY");
        KafkaConn {
            stream,
            correlation_id: 0,
        }
    }

    /// Sends one well-formed request and decodes its response; panics on any failure.
    pub fn request<R: Request>(&mut self, version: i16, request: &R) -> R::Response {
        self.correlation_id += 1;
        let correlation_id = self.correlation_id;
        let frame = encode_request(correlation_id, version, request);
        self.stream
            .write_all(&frame)
            .unwrap_or_else(|err| panic!("send request key {} v{version}: {err}", R::KEY));
        let mut body = match read_frame(&mut self.stream) {
            FrameRead::Frame(body) => Bytes::from(body),
            other => panic!(
                "request key {} v{version}: no response frame: {other:?}",
                R::KEY
            ),
        };
        let header_version = R::Response::header_version(version);
        let header = ResponseHeader::decode(&mut body, header_version)
            .unwrap_or_else(|err| panic!("decode response header of key {}: {err}", R::KEY));
        assert_eq!(
            header.correlation_id,
            correlation_id,
            "response to key {} v{version} has the wrong correlation id",
            R::KEY
        );
        R::Response::decode(&mut body, version)
            .unwrap_or_else(|err| panic!("decode response of key {} v{version}: {err}", R::KEY))
    }
}

/// Encodes a request with its header and 4-byte size prefix.
pub fn encode_request<R: Request>(correlation_id: i32, version: i16, request: &R) -> Vec<u8> {
    let header = RequestHeader::default()
        .with_request_api_key(R::KEY)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(StrBytes::from_static_str("eddy-tests")));
    let mut body = BytesMut::new();
    header
        .encode(&mut body, R::header_version(version))
        .expect("encode request header");
    request
        .encode(&mut body, version)
        .unwrap_or_else(|err| panic!("encode request key {} v{version}: {err}", R::KEY));
    let mut frame = Vec::with_capacity(body.len() + 4);
    frame.put_i32(i32::try_from(body.len()).expect("request fits in a frame"));
    frame.extend_from_slice(&body);
    frame
}

/// What reading one response frame produced.
#[derive(Debug)]
pub enum FrameRead {
    /// A complete frame (without its size prefix).
    Frame(Vec<u8>),
    /// The peer closed (EOF or reset) before a complete frame; `partial` bytes had arrived.
    Closed { partial: usize },
    /// Neither a frame nor a close within the socket's read timeout.
    TimedOut { partial: usize },
}

/// Reads one size-prefixed frame, honouring the socket's read timeout.
pub fn read_frame(stream: &mut TcpStream) -> FrameRead {
    let mut size = [0u8; 4];
    if let Err(read) = read_full(stream, &mut size) {
        return read;
    }
    let len = i32::from_be_bytes(size);
    let len = usize::try_from(len)
        .ok()
        .filter(|l| *l <= KAFKA_FRAME_BYTES_MAX)
        .unwrap_or_else(|| panic!("response frame announces an impossible size {len}"));
    let mut body = vec![0u8; len];
    match read_full(stream, &mut body) {
        Ok(()) => FrameRead::Frame(body),
        Err(FrameRead::Closed { partial }) => FrameRead::Closed {
            partial: partial + 4,
        },
        Err(FrameRead::TimedOut { partial }) => FrameRead::TimedOut {
            partial: partial + 4,
        },
        Err(frame) => frame,
    }
}

fn read_full(stream: &mut TcpStream, buf: &mut [u8]) -> Result<(), FrameRead> {
    let mut filled = 0;
    while filled < buf.len() {
        match stream.read(&mut buf[filled..]) {
            Ok(0) => return Err(FrameRead::Closed { partial: filled }),
            Ok(n) => filled += n,
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
            Err(err)
                if matches!(
                    err.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Err(FrameRead::TimedOut { partial: filled })
            }
            Err(_) => return Err(FrameRead::Closed { partial: filled }),
        }
    }
    Ok(())
}

/// Closes the write half so the peer sees end-of-stream after what was sent.
pub fn half_close(stream: &TcpStream) {
    // Failure means the peer already closed the connection, which the caller observes next.
    let _ = stream.shutdown(Shutdown::Write);
}

/// A consumer's Fetch request (v4+ fields, read_uncommitted, no fetch session) for one
/// partition, with `max_bytes` both for the response and the partition.
pub fn fetch_request(
    topic: &str,
    partition: i32,
    offset: i64,
    max_bytes: i32,
    max_wait_ms: i32,
) -> FetchRequest {
    FetchRequest::default()
        .with_replica_id((-1).into())
        .with_max_wait_ms(max_wait_ms)
        .with_min_bytes(1)
        .with_max_bytes(max_bytes)
        .with_isolation_level(0)
        .with_session_id(0)
        .with_session_epoch(-1)
        .with_topics(vec![FetchTopic::default()
            .with_topic(TopicName(StrBytes::from_string(topic.to_string())))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(partition)
                .with_current_leader_epoch(-1)
                .with_fetch_offset(offset)
                .with_log_start_offset(-1)
                .with_partition_max_bytes(max_bytes)])])
}

/// Fetches raw record bytes of one partition from `offset` (Fetch v11, read_uncommitted).
pub fn fetch_raw(node: &EddyNode, topic: &str, partition: i32, offset: i64) -> Bytes {
    const FETCH_VERSION: i16 = 11;
    let mut request = fetch_request(topic, partition, offset, 16 * 1024 * 1024, 500);
    request.topics[0].partitions[0].partition_max_bytes = 8 * 1024 * 1024;
    let mut conn = KafkaConn::connect(node.kafka_addr());
    let response = conn.request(FETCH_VERSION, &request);
    assert_eq!(
        response.error_code, 0,
        "fetch {topic}/{partition} top-level error"
    );
    let data = response
        .responses
        .iter()
        .flat_map(|t| t.partitions.iter())
        .find(|p| p.partition_index == partition)
        .unwrap_or_else(|| panic!("fetch response lacks {topic}/{partition}: {response:?}"));
    assert_eq!(
        data.error_code, 0,
        "fetch {topic}/{partition} returned error code {}",
        data.error_code
    );
    data.records.clone().unwrap_or_default()
}

/// Header facts of one record batch, read straight from its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    pub base_offset: i64,
    pub magic: i8,
    /// Compression codec from the attributes: 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd.
    pub compression: i16,
    pub last_offset_delta: i32,
    /// The greatest record timestamp, as the stored header says.
    pub max_timestamp: i64,
    /// -1 unless the batch came from an idempotent or transactional producer.
    pub producer_id: i64,
    pub base_sequence: i32,
    pub record_count: i32,
}

/// Parses the headers of the complete record batches in `records` (a trailing partial
/// batch, which a fetch may return, is ignored).
pub fn batch_headers(records: &Bytes) -> Vec<BatchHeader> {
    const BATCH_HEADER_BYTES: usize = 61;
    let mut rest = records.clone();
    let mut headers = Vec::new();
    while rest.len() >= BATCH_HEADER_BYTES {
        let mut h = rest.clone();
        let base_offset = h.get_i64();
        let batch_len = usize::try_from(h.get_i32()).expect("non-negative batch length");
        let total = 12 + batch_len;
        if rest.len() < total {
            break;
        }
        let _partition_leader_epoch = h.get_i32();
        let magic = h.get_i8();
        let _crc = h.get_u32();
        let attributes = h.get_i16();
        let last_offset_delta = h.get_i32();
        let _base_timestamp = h.get_i64();
        let max_timestamp = h.get_i64();
        let producer_id = h.get_i64();
        let _producer_epoch = h.get_i16();
        let base_sequence = h.get_i32();
        let record_count = h.get_i32();
        headers.push(BatchHeader {
            base_offset,
            magic,
            compression: attributes & 0x7,
            last_offset_delta,
            max_timestamp,
            producer_id,
            base_sequence,
            record_count,
        });
        rest.advance(total);
    }
    headers
}

/// Reads the batch headers of one partition from offset 0 up to `end_offset` with raw
/// fetches, so a test can check how the data is stored (e.g. its compression codec).
pub fn fetch_batch_headers(
    node: &EddyNode,
    topic: &str,
    partition: i32,
    end_offset: i64,
) -> Vec<BatchHeader> {
    const FETCH_ROUNDS_MAX: usize = 1_000;
    let mut headers: Vec<BatchHeader> = Vec::new();
    let mut offset = 0;
    for _ in 0..FETCH_ROUNDS_MAX {
        if offset >= end_offset {
            return headers;
        }
        let batches = batch_headers(&fetch_raw(node, topic, partition, offset));
        assert!(
            !batches.is_empty(),
            "fetch of {topic}/{partition} at offset {offset} returned no complete batch \
             (end offset {end_offset})"
        );
        for batch in batches {
            let next = batch.base_offset + i64::from(batch.last_offset_delta) + 1;
            if next > offset {
                offset = next;
                headers.push(batch);
            }
        }
    }
    panic!("{topic}/{partition}: offset {end_offset} not reached in {FETCH_ROUNDS_MAX} fetches");
}

/// A response from the admin HTTP endpoint.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

/// Sends `GET <path>` over HTTP/1.1 to a loopback address and reads the whole response
/// (the request asks the server to close the connection after it).
pub fn http_get(addr: SocketAddr, path: &str) -> HttpResponse {
    let timeout = Duration::from_millis(KAFKA_IO_TIMEOUT_MS);
    let mut stream = TcpStream::connect_timeout(&addr, timeout)
        .unwrap_or_else(|err| panic!("connect to admin endpoint {addr}: {err}"));
    stream
        .set_read_timeout(Some(timeout))
        .expect("read timeout");
    stream
        .set_write_timeout(Some(timeout))
        .expect("write timeout");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nAccept: */*\r\n\r\n"
    )
    .unwrap_or_else(|err| panic!("send GET {path}: {err}"));
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .unwrap_or_else(|err| panic!("read the response to GET {path}: {err}"));
    let text = String::from_utf8(raw).unwrap_or_else(|err| panic!("GET {path}: not UTF-8: {err}"));
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("GET {path}: no end of headers in {text:?}"));
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("GET {path}: bad status line {status_line:?}"));
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    let body = if chunked {
        dechunk(body, path)
    } else {
        body.to_string()
    };
    HttpResponse {
        status,
        headers,
        body,
    }
}

fn dechunk(mut rest: &str, path: &str) -> String {
    let mut body = String::new();
    loop {
        let (size_line, after) = rest
            .split_once("\r\n")
            .unwrap_or_else(|| panic!("GET {path}: truncated chunked body"));
        let size_hex = size_line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_hex, 16)
            .unwrap_or_else(|_| panic!("GET {path}: bad chunk size {size_line:?}"));
        if size == 0 {
            return body;
        }
        assert!(after.len() >= size + 2, "GET {path}: truncated chunk");
        body.push_str(&after[..size]);
        rest = &after[size + 2..];
    }
}

/// A node inside the test process (`NodeThread`) on free loopback ports, with a data dir of
/// its own (also where the tests' streams keep their state). The directory comes first, so
/// a `let (dir, node)` binding stops the node before the directory goes.
pub fn embedded_node() -> (tempfile::TempDir, eddy::node::NodeThread) {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = eddy::node::NodeConfig {
        data_dir: dir.path().to_path_buf(),
        listen: "127.0.0.1:0".into(),
        admin: "127.0.0.1:0".into(),
        ..eddy::node::NodeConfig::default()
    };
    let node = eddy::node::NodeThread::spawn(config).expect("node");
    (dir, node)
}

/// Commits `offset` for `topic` partition 0 as a simple consumer of `group` (no member, as
/// Kafka's admin tools commit), which creates the group; blocks until it is acknowledged.
pub fn commit_simple(bootstrap: &str, group: &str, topic: &str, offset: i64) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        let mut offsets = eddy::client::GroupOffsets::connect(bootstrap, group)
            .await
            .expect("group offsets client");
        let commit = std::collections::BTreeMap::from([((topic.to_owned(), 0), offset)]);
        offsets.commit_offsets(&commit).await.expect("commit");
    });
}

/// [`embedded_node`] as node `node_id` (an [`EddyNode`] is always node 1), its own
/// single-node cluster.
pub fn embedded_node_with_id(node_id: i32) -> (tempfile::TempDir, eddy::node::NodeThread) {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = eddy::node::NodeConfig {
        node_id,
        data_dir: dir.path().to_path_buf(),
        listen: "127.0.0.1:0".into(),
        admin: "127.0.0.1:0".into(),
        ..eddy::node::NodeConfig::default()
    };
    let node = eddy::node::NodeThread::spawn(config).expect("node");
    (dir, node)
}
