//! `eddy` as a library, from outside this workspace: the program in
//! `tests/fixtures/library/shouter/` — which depends on `eddy` by path and on nothing else,
//! no actix, no tokio — is copied to a temporary directory, built offline with the
//! workspace's `Cargo.lock` (so versions match) and target directory (so the dependencies
//! the workspace built are reused), and run against a real node process: its output
//! topic must hold its input upper-cased, it must log its lifecycle without setting up any
//! logging, stop cleanly on SIGTERM, and it must have built Eddy's bounded copy of
//! kafka-protocol (`eddy-kafka-protocol`), not the crates.io release.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{repo_root, run_kcat, run_with_timeout, wait_bounded, EddyNode};

/// The fixture's package (and so binary) name.
const PROGRAM: &str = "eddy-outside-shouter";
/// A cold build compiles every dependency: bounded well under CI's 30 minutes.
const BUILD_TIMEOUT: Duration = Duration::from_secs(20 * 60);
/// How long the program may take to start its application (join the group, get tasks).
const START_TIMEOUT: Duration = Duration::from_secs(90);
/// How long its output may take to reach the output topic.
const OUTPUT_TIMEOUT: Duration = Duration::from_secs(60);
/// How long it may take to close after SIGTERM (stop tasks, leave the group).
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

fn cargo() -> PathBuf {
    std::env::var_os("CARGO")
        .map(PathBuf::from)
        .unwrap_or_else(|| "cargo".into())
}

/// The fixture, copied to `dir` with the repository's path filled in, beside a copy of
/// the workspace's lock file.
fn write_program(dir: &Path) {
    let fixture = repo_root().join("tests/fixtures/library/shouter");
    let manifest = std::fs::read_to_string(fixture.join("Cargo.toml.in")).expect("fixture");
    let root = repo_root().display().to_string();
    std::fs::write(
        dir.join("Cargo.toml"),
        manifest.replace("@EDDY_PATH@", &root),
    )
    .expect("write Cargo.toml");
    std::fs::create_dir_all(dir.join("src")).expect("src dir");
    std::fs::copy(fixture.join("src/main.rs"), dir.join("src/main.rs")).expect("main.rs");
    std::fs::copy(repo_root().join("Cargo.lock"), dir.join("Cargo.lock")).expect("Cargo.lock");
}

/// The workspace's target directory: `CARGO_TARGET_DIR` if the build that runs this test
/// set it, else `target/` in the repository.
fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => {
            let dir = PathBuf::from(dir);
            // A relative CARGO_TARGET_DIR is relative to where cargo ran: the repository.
            if dir.is_relative() {
                repo_root().join(dir)
            } else {
                dir
            }
        }
        _ => repo_root().join("target"),
    }
}

/// `cargo <args> --offline` in `dir`, with the workspace's target directory.
fn cargo_offline(dir: &Path, args: &[&str], timeout: Duration) -> std::process::Output {
    let mut cmd = Command::new(cargo());
    cmd.args(args)
        .arg("--offline")
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", target_dir());
    let output = run_with_timeout(&mut cmd, None, timeout);
    assert!(
        output.status.success(),
        "cargo {args:?} failed with {}\n{}",
        output.status,
        common::tail(&output.stderr)
    );
    output
}

/// Reads `path` until it contains `needle`, while `child` runs; bounded by `timeout`.
fn wait_for_line(path: &Path, needle: &str, child: &mut std::process::Child, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if text.contains(needle) {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the program exited ({status}) before printing {needle:?}:\n{text}");
        }
        assert!(
            Instant::now() < deadline,
            "no {needle:?} within {timeout:?} in {}:\n{text}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_program_outside_the_workspace_runs_a_topology_with_eddy_alone() {
    let dir = tempfile::Builder::new()
        .prefix("eddy-outside-")
        .tempdir()
        .expect("temp dir");
    write_program(dir.path());
    let manifest = std::fs::read_to_string(dir.path().join("Cargo.toml")).expect("manifest");
    let dependencies = manifest
        .split("[dependencies]")
        .nth(1)
        .and_then(|rest| rest.split("\n[").next())
        .expect("a [dependencies] table");
    let names: Vec<&str> = dependencies
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(name, _)| name.trim())
        .collect();
    assert_eq!(names, ["eddy"], "the program depends on eddy alone");

    let started = Instant::now();
    cargo_offline(dir.path(), &["build"], BUILD_TIMEOUT);
    println!("offline build of the program: {:?}", started.elapsed());

    // Eddy's bounded kafka-protocol, from the vendor directory, and not the release.
    let tree = cargo_offline(
        dir.path(),
        &[
            "tree",
            "-i",
            "eddy-kafka-protocol",
            "-e",
            "normal",
            "--depth",
            "0",
        ],
        Duration::from_secs(120),
    );
    let tree = String::from_utf8_lossy(&tree.stdout);
    let vendored = repo_root().join("vendor/kafka-protocol");
    assert!(
        tree.contains(&format!(
            "eddy-kafka-protocol v0.18.0 ({})",
            vendored.display()
        )),
        "cargo tree: {tree}"
    );
    let lock = std::fs::read_to_string(dir.path().join("Cargo.lock")).expect("lock");
    assert!(lock.contains("name = \"eddy-kafka-protocol\""), "{lock}");
    assert!(
        !lock.contains("name = \"kafka-protocol\""),
        "the crates.io kafka-protocol is in the program's lock file"
    );

    let node = EddyNode::start();
    let bootstrap = node.bootstrap();
    // The input topic exists (a missing one would stop the program at start); the output
    // topic does not: the node auto-creates it when the application starts.
    let create = run_with_timeout(
        Command::new(env!("CARGO_BIN_EXE_eddy")).args([
            "topic",
            "create",
            "outside-in",
            "--partitions",
            "1",
            "-b",
            &bootstrap,
        ]),
        None,
        Duration::from_secs(30),
    );
    assert!(create.status.success(), "{}", common::tail(&create.stderr));

    let program = target_dir().join("debug").join(PROGRAM);
    let stdout_path = dir.path().join("stdout.log");
    let stderr_path = dir.path().join("stderr.log");
    let state_dir = dir.path().join("state");
    let mut child = Command::new(&program)
        .args([
            bootstrap.as_str(),
            "outside-in",
            "outside-out",
            state_dir.to_str().expect("UTF-8 path"),
        ])
        .env_remove("EDDY_LOG")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout_path).expect("stdout file"))
        .stderr(std::fs::File::create(&stderr_path).expect("stderr file"))
        .spawn()
        .expect("start the program");
    wait_for_line(&stdout_path, "running 1 task(s)", &mut child, START_TIMEOUT);

    let input = b"all streams\nlead to\nkafka\n".to_vec();
    run_kcat(
        &["-b", &bootstrap, "-P", "-t", "outside-in"],
        Some(input),
        Duration::from_secs(30),
    );
    let expected = ["ALL STREAMS", "LEAD TO", "KAFKA"];
    let deadline = Instant::now() + OUTPUT_TIMEOUT;
    let output = loop {
        let out = run_kcat(
            &[
                "-b",
                &bootstrap,
                "-C",
                "-t",
                "outside-out",
                "-o",
                "beginning",
                "-e",
                "-q",
                "-f",
                "%s\n",
            ],
            None,
            Duration::from_secs(30),
        );
        let lines: Vec<String> = out.lines().map(str::to_string).collect();
        if lines.len() >= expected.len() || Instant::now() >= deadline {
            break lines;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(output, expected, "the program's output topic");

    let pid = child.id() as libc::pid_t;
    // SAFETY: kill(2) with a pid this test spawned and has not reaped yet.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0, "send SIGTERM");
    let status = wait_bounded(&mut child, STOP_TIMEOUT);
    if status.is_none() {
        let _ = child.kill();
    }
    let stdout = std::fs::read_to_string(&stdout_path).unwrap_or_default();
    let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    assert!(
        status.is_some_and(|s| s.success()),
        "the program did not stop cleanly on SIGTERM ({status:?}):\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("stopped on SIGTERM"), "{stdout}");
    // Its lifecycle, logged although the program set up no logging (and off a terminal,
    // without ANSI colour codes).
    for line in [
        "created the missing sink topic(s)",
        "application started with 1 of its 1 task(s)",
        "stopping: closing the tasks and leaving the group",
        "application stopped",
    ] {
        assert!(stderr.contains(line), "no {line:?} in the log:\n{stderr}");
    }
    assert!(
        !stderr.contains('\u{1b}'),
        "ANSI codes in the log:\n{stderr}"
    );
}
