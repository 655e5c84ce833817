//! Storage health: a watchdog that notices when the node's fjall database stops taking
//! writes, says so everywhere an operator looks, and makes the node exit for a restart.
//!
//! What fjall 3.1 does on a failed write (read in its source, `keyspace/mod.rs`,
//! `batch/mod.rs`, `worker_pool.rs`, `poison.rs`): a journal write or persist that fails
//! (ENOSPC, EIO), and a flush or compaction whose worker fails (EMFILE opening a new table
//! file, ENOSPC writing it), set the database's poison flag. The flag is never cleared, the
//! failed worker thread is not restarted, and every later write answers `Poisoned`; a write
//! that was already past its journal step can even wait forever for the dead flush worker
//! (`local_backpressure`). So fjall cannot recover in-process, whatever happens to the
//! cause: the only way back is to reopen the database, which here means restarting the
//! node, and fjall's journal recovery then brings back every acknowledged write (each
//! commit handed its journal bytes to the OS before the ack).
//!
//! The watchdog (one tokio task on the main arbiter) asks `Store::check_writable` every
//! `STORAGE_PROBE_INTERVAL_MS` on the blocking pool. On the first failure, or a probe that
//! does not answer within `STORAGE_PROBE_TIMEOUT_MS`, it publishes a `StorageFault` on a
//! `watch` (read by `/health`, which then answers 503, and by the broker, which then
//! answers every partition request at once with KAFKA_STORAGE_ERROR), marks the `storage`
//! service failed in the supervision tree (so `/supervisors` and `eddy supervisors` show
//! the cause), sets `eddy_storage_healthy` to 0 and counts `eddy_storage_errors_total`.
//! `run_until_signal` then waits `STORAGE_FAILED_EXIT_DELAY_MS`, shuts down within a bound
//! and returns an error, so the process exits non-zero and systemd or Kubernetes restarts
//! it. A fault is final: the watchdog stops probing after it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix::Addr;
use actix_rt::task::JoinHandle;
use eddy_actors::node_supervisor::{NodeSupervisor, ServiceState};
use eddy_actors::store::Store;
use eddy_actors::supervision::ChildState;
use serde::Serialize;
use tokio::sync::watch;

/// How often the watchdog asks fjall whether it still takes writes.
pub const STORAGE_PROBE_INTERVAL_MS: u64 = 500;
/// A probe that takes longer than this counts as a failure (fjall stuck on its journal).
pub const STORAGE_PROBE_TIMEOUT_MS: u64 = 10_000;
/// How long a node whose storage failed keeps answering (`/health` 503, writes refused at
/// once) before it shuts down and exits non-zero, so that a monitor can see why.
pub const STORAGE_FAILED_EXIT_DELAY_MS: u64 = 3_000;
/// The bound on the shutdown of a node whose storage failed: a partition arbiter may be
/// stuck inside fjall and never finish its message.
pub const STORAGE_FAILED_SHUTDOWN_MS: u64 = 10_000;
/// Free space below which the disk is named as the probable cause.
const DISK_FULL_BYTES: u64 = 1024 * 1024;
/// The service name of the watchdog in the supervision tree.
pub const SERVICE_NAME: &str = "storage";

/// Why the node's storage stopped taking writes.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct StorageFault {
    /// What fjall answered (or that it did not answer).
    pub error: String,
    /// What the node found when it looked: a full disk, the open-file limit, or neither.
    pub cause: String,
    /// What is affected: the one database holds every partition, group and the metadata.
    pub affected: String,
    /// When the watchdog saw it, milliseconds since the Unix epoch.
    pub since_unix_ms: u64,
    /// What the node does about it.
    pub action: String,
}

impl StorageFault {
    /// One line for logs and the supervision tree.
    pub fn summary(&self) -> String {
        format!("{} ({})", self.error, self.cause)
    }
}

/// The latest storage state: `None` while healthy.
pub type StorageState = watch::Receiver<Option<Arc<StorageFault>>>;

/// A receiver that always says healthy (for brokers built without a watchdog).
pub fn always_healthy() -> StorageState {
    watch::channel(None).1
}

/// Starts the watchdog over `store`, whose files live under `data_dir`, reporting to the
/// node supervisor `node`. Returns its task and the state it publishes.
pub fn spawn_watchdog(
    store: Store,
    data_dir: PathBuf,
    node: Addr<NodeSupervisor>,
) -> (JoinHandle<()>, StorageState) {
    let (tx, rx) = watch::channel(None);
    metrics::gauge!("eddy_storage_healthy").set(1.0);
    node.do_send(ServiceState {
        name: SERVICE_NAME.into(),
        state: ChildState::Running,
        error: None,
    });
    let task = actix_rt::spawn(async move {
        let fault = watch_until_failed(&store, &data_dir).await;
        tracing::error!(
            error = %fault.error,
            cause = %fault.cause,
            "storage failed: {}; {}",
            fault.affected,
            fault.action
        );
        metrics::gauge!("eddy_storage_healthy").set(0.0);
        metrics::counter!("eddy_storage_errors_total").increment(1);
        node.do_send(ServiceState {
            name: SERVICE_NAME.into(),
            state: ChildState::Failed,
            error: Some(fault.summary()),
        });
        let _ = tx.send(Some(Arc::new(fault)));
    });
    (task, rx)
}

/// Probes until the store fails, then says how.
async fn watch_until_failed(store: &Store, data_dir: &Path) -> StorageFault {
    let timeout = Duration::from_millis(STORAGE_PROBE_TIMEOUT_MS);
    loop {
        actix_rt::time::sleep(Duration::from_millis(STORAGE_PROBE_INTERVAL_MS)).await;
        let probe = store.clone();
        let answer = tokio::time::timeout(
            timeout,
            tokio::task::spawn_blocking(move || probe.check_writable()),
        )
        .await;
        let error = match answer {
            Ok(Ok(Ok(()))) => continue,
            Ok(Ok(Err(err))) => err.to_string(),
            Ok(Err(join)) => format!("the storage probe failed: {join}"),
            Err(_) => format!("fjall did not answer a probe within {STORAGE_PROBE_TIMEOUT_MS} ms"),
        };
        return StorageFault {
            error,
            cause: probable_cause(data_dir),
            affected: "every partition, consumer group and the metadata of this node (one \
                       fjall database holds them all)"
                .into(),
            since_unix_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0),
            action: format!(
                "fjall cannot take writes again in this process (its database stays poisoned \
                 after a failed write); the node exits non-zero in {STORAGE_FAILED_EXIT_DELAY_MS} \
                 ms so that its service manager restarts it, and acknowledged writes come back \
                 from the journal; free the disk or raise the file limit first"
            ),
        };
    }
}

/// What the node sees when it looks for the usual causes: a full disk under `data_dir`,
/// the process at its open-file limit, or neither (then an I/O error; fjall logged it).
pub fn probable_cause(data_dir: &Path) -> String {
    let mut causes = Vec::new();
    if let Some((free, total)) = disk_space(data_dir) {
        if free < DISK_FULL_BYTES {
            causes.push(format!(
                "the disk holding {} is full: {free} of {total} bytes free",
                data_dir.display()
            ));
        }
    }
    if let (Some(budget), Some(open)) = (crate::fd_limit::budget(), crate::fd_limit::open_fds()) {
        if open + crate::fd_limit::STORAGE_FD_OVERHEAD >= budget.limit {
            causes.push(format!(
                "the process is at its open-file limit: {open} of {} descriptors open",
                budget.limit
            ));
        }
    }
    if causes.is_empty() {
        "neither a full disk nor the open-file limit now: an I/O error or a cause that has \
         cleared; fjall's error is in the log above"
            .into()
    } else {
        causes.join("; ")
    }
}

/// Free (for unprivileged users) and total bytes of the file system holding `dir`.
pub(crate) fn disk_space(dir: &Path) -> Option<(u64, u64)> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    // SAFETY: an all-zero statvfs is a valid value for the call to overwrite.
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `path` is a NUL-terminated string that outlives the call; `stat` is writable.
    if unsafe { libc::statvfs(path.as_ptr(), &mut stat) } != 0 {
        return None;
    }
    let block = stat.f_frsize as u64;
    Some((
        (stat.f_bavail as u64).saturating_mul(block),
        (stat.f_blocks as u64).saturating_mul(block),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_with_room_is_not_called_full() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (free, total) = disk_space(dir.path()).expect("statvfs");
        assert!(total >= free);
        if free >= DISK_FULL_BYTES {
            assert!(!probable_cause(dir.path()).contains("is full"));
        }
    }
}
