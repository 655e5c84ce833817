//! Shared by the end-to-end benches (`streams`, `nexmark` and `nexmark_deployed`): the
//! node run in this process, the run's size, the process's CPU time and peak memory, and
//! when a Nexmark query's group has caught up.

use std::collections::BTreeMap;
use std::time::Duration;

use eddy::client::Admin;
use eddy::node::{NodeConfig, NodeThread};
use eddy::topologies::nexmark::EVENTS_TOPIC;

/// A fresh node on ephemeral loopback ports, with its data in the returned directory.
pub fn embedded_node() -> (tempfile::TempDir, NodeThread) {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = NodeConfig {
        data_dir: dir.path().to_path_buf(),
        listen: "127.0.0.1:0".into(),
        admin: "127.0.0.1:0".into(),
        ..NodeConfig::default()
    };
    let node = NodeThread::spawn(config).expect("embedded node");
    (dir, node)
}

/// The size of a run: `var` if set, else `full` under `cargo bench` (which passes
/// `--bench`) and `smoke` under `cargo test --benches`, which only checks that it runs.
pub fn run_size<T: std::str::FromStr>(var: &str, full: T, smoke: T) -> T {
    let benching = std::env::args().any(|a| a == "--bench");
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if benching { full } else { smoke })
}

/// The process's CPU time so far, user plus system (`getrusage(RUSAGE_SELF)`: every thread,
/// the embedded node's included). `None` if the call fails.
pub fn cpu_time() -> Option<Duration> {
    // SAFETY: getrusage only writes the struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
        return None;
    }
    let micros = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    Some(Duration::from_micros(
        micros(usage.ru_utime) + micros(usage.ru_stime),
    ))
}

/// The process's peak resident set (VmHWM), in KiB.
// Only the nexmark bench reports it; each bench compiles this module.
#[allow(dead_code)]
pub fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Whether the application's group committed `input_end` on the input partition and the
/// end of every repartition topic that has records.
// Only the Nexmark benches ask; each bench compiles this module.
#[allow(dead_code)]
pub async fn caught_up(admin: &mut Admin, app: &str, input_end: i64) -> bool {
    let Ok(committed) = admin.group_offsets(app).await else {
        return false;
    };
    let committed: BTreeMap<(String, i32), i64> = committed
        .into_iter()
        .map(|o| ((o.topic, o.partition), o.committed_offset))
        .collect();
    if committed.get(&(EVENTS_TOPIC.to_string(), 0)).copied() != Some(input_end) {
        return false;
    }
    let Ok(topics) = admin.list_topics().await else {
        return false;
    };
    let repartitions: Vec<(String, i32)> = topics
        .iter()
        .filter(|t| t.name.starts_with(app) && t.name.ends_with("-repartition"))
        .flat_map(|t| t.partitions.iter().map(|p| (t.name.clone(), p.partition)))
        .collect();
    let Ok(ends) = admin.log_end_offsets(&repartitions).await else {
        return false;
    };
    ends.iter()
        .all(|(tp, end)| *end == 0 || committed.get(tp) == Some(end))
}
