//! A throwaway PostgreSQL server for a test: `initdb` into a temporary directory, then
//! `pg_ctl start` on a free loopback port with its unix socket in that directory, stopped
//! (`pg_ctl stop -m immediate`) when dropped.
//!
//! The binaries come from the Debian `postgresql` package that `scripts/test.sh` installs
//! (`/usr/lib/postgresql/<version>/bin`, the newest version), or from `EDDY_TEST_PG_BIN`, or
//! from `PATH`; when there are none the test fails, never skips. PostgreSQL refuses to run
//! as root, so as root the server runs as the `postgres` user (`runuser`), which then owns
//! the temporary directory.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::common::{free_port, run_with_timeout, tail};

/// How long `initdb` may take.
const INITDB_TIMEOUT_MS: u64 = 120_000;
/// How long `pg_ctl start` waits for the server to accept connections (seconds, as
/// `pg_ctl -t` takes it), and `pg_ctl stop` for it to go.
const PG_CTL_WAIT_S: u64 = 60;
/// How long one `psql` command may take.
const PSQL_TIMEOUT_MS: u64 = 60_000;
/// How many ports a start tries when the one picked was taken in the meantime.
const START_ATTEMPTS_MAX: u32 = 3;
/// The user the server runs as when the test runs as root (the Debian package's).
const SERVER_USER: &str = "postgres";

/// A running PostgreSQL server; the superuser is `postgres`, trusted on loopback.
pub struct PostgresServer {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    /// Whether the server runs (stopped by `stop_immediate`, started again by `start`).
    running: bool,
    as_root: bool,
}

impl PostgresServer {
    /// Creates a cluster in a new temporary directory and starts it.
    pub fn start() -> Self {
        let bin = binaries();
        let dir = tempfile::Builder::new()
            .prefix("eddy-pg-")
            .tempdir()
            .expect("create a temporary directory for PostgreSQL");
        let as_root = fs::metadata("/proc/self")
            .map(|m| m.uid() == 0)
            .unwrap_or(false);
        let mut server = Self {
            bin,
            dir,
            port: 0,
            running: false,
            as_root,
        };
        if as_root {
            let chown = Command::new("chown")
                .arg(format!("{SERVER_USER}:"))
                .arg(server.dir.path())
                .status()
                .expect("run chown");
            assert!(
                chown.success(),
                "chown {SERVER_USER}: {} failed: does the `{SERVER_USER}` user exist? \
                 run `bash scripts/test.sh`, which installs the postgresql package",
                server.dir.path().display()
            );
        }
        let data = server.data_dir();
        server.pg(
            "initdb",
            &[
                "-D",
                &data.display().to_string(),
                "--username=postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ],
            INITDB_TIMEOUT_MS,
        );
        for attempt in 1..=START_ATTEMPTS_MAX {
            server.port = free_port();
            match server.try_start() {
                Ok(()) => return server,
                Err(err) if attempt < START_ATTEMPTS_MAX => {
                    eprintln!("PostgreSQL start attempt {attempt} failed, retrying: {err}");
                }
                Err(err) => panic!("{err}"),
            }
        }
        unreachable!("the last start attempt either returns or panics")
    }

    /// The loopback port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A `connection.url` for database `postgres` as user `postgres`.
    pub fn url(&self) -> String {
        format!("postgresql://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Runs `sql` with psql; returns its unaligned output (`|` between columns), trimmed.
    pub fn psql(&self, sql: &str) -> String {
        let mut cmd = Command::new(self.bin.join("psql"));
        cmd.args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["-U", "postgres", "-d", "postgres", "-c", sql])
            .env("PGCONNECT_TIMEOUT", "10");
        let out = run_with_timeout(&mut cmd, None, Duration::from_millis(PSQL_TIMEOUT_MS));
        assert!(
            out.status.success(),
            "psql `{sql}` failed with {}:\n{}\n{}",
            out.status,
            tail(&out.stderr),
            self.log()
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Stops the server at once, as a crash would (no checkpoint, connections cut).
    pub fn stop_immediate(&mut self) {
        if self.running {
            let data = self.data_dir().display().to_string();
            let wait = PG_CTL_WAIT_S.to_string();
            self.pg(
                "pg_ctl",
                &["-D", &data, "-m", "immediate", "-w", "-t", &wait, "stop"],
                PG_CTL_WAIT_S * 1_000 + 10_000,
            );
            self.running = false;
        }
    }

    /// Starts the server again on the same port after `stop_immediate`.
    pub fn restart(&mut self) {
        self.stop_immediate();
        if let Err(err) = self.try_start() {
            panic!("{err}");
        }
    }

    /// The server's log.
    pub fn log(&self) -> String {
        let log = fs::read_to_string(self.log_path()).unwrap_or_default();
        format!("----- postgres log -----\n{log}\n----- end of postgres log -----")
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("postgres.log")
    }

    fn try_start(&mut self) -> Result<(), String> {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories={}",
            self.port,
            self.dir.path().display()
        );
        let data = self.data_dir().display().to_string();
        let log = self.log_path().display().to_string();
        let wait = PG_CTL_WAIT_S.to_string();
        let args = [
            "-D", &data, "-l", &log, "-o", &options, "-w", "-t", &wait, "start",
        ];
        let out = run_with_timeout(
            &mut self.command("pg_ctl", &args),
            None,
            Duration::from_millis(PG_CTL_WAIT_S * 1_000 + 10_000),
        );
        if !out.status.success() {
            return Err(format!(
                "pg_ctl start on port {} failed with {}:\n{}\n{}",
                self.port,
                out.status,
                tail(&out.stderr),
                self.log()
            ));
        }
        self.running = true;
        Ok(())
    }

    /// Runs one of the server binaries (as `postgres` when root) and asserts it succeeds.
    fn pg(&self, program: &str, args: &[&str], timeout_ms: u64) {
        let out = run_with_timeout(
            &mut self.command(program, args),
            None,
            Duration::from_millis(timeout_ms),
        );
        assert!(
            out.status.success(),
            "{program} {args:?} failed with {}:\n{}\n{}\n{}",
            out.status,
            tail(&out.stdout),
            tail(&out.stderr),
            self.log()
        );
    }

    fn command(&self, program: &str, args: &[&str]) -> Command {
        let path = self.bin.join(program);
        let mut cmd = if self.as_root {
            let mut cmd = Command::new("runuser");
            cmd.args(["-u", SERVER_USER, "--"]).arg(path);
            cmd
        } else {
            Command::new(path)
        };
        cmd.args(args).current_dir(self.dir.path());
        cmd
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.log());
        }
        if self.running {
            let data = self.data_dir().display().to_string();
            let _ = self
                .command("pg_ctl", &["-D", &data, "-m", "immediate", "-w", "stop"])
                .output();
        }
    }
}

/// The directory holding `initdb`, `pg_ctl` and `psql`; fails the test when there is none.
fn binaries() -> PathBuf {
    let has_server = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    if let Some(dir) = std::env::var_os("EDDY_TEST_PG_BIN").map(PathBuf::from) {
        assert!(
            has_server(&dir),
            "EDDY_TEST_PG_BIN={} holds no initdb and pg_ctl",
            dir.display()
        );
        return dir;
    }
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            has_server(&bin).then_some((version, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return bin;
    }
    let path_var = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path_var)
        .find(|dir| has_server(dir))
        .unwrap_or_else(|| {
            panic!(
                "PostgreSQL server binaries (initdb, pg_ctl) not found under \
                 /usr/lib/postgresql/*/bin, EDDY_TEST_PG_BIN or PATH: run `bash scripts/test.sh`, \
                 which installs the postgresql Debian package"
            )
        })
}
