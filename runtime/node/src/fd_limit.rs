//! File descriptors: the node's budget, split between storage and client connections.
//!
//! fjall opens files while it runs (a new journal, a table per memtable flush, compaction
//! output, and reads through its cache of open table files). If client connections take the
//! last descriptor, fjall's flush worker fails with EMFILE and poisons the database for good
//! (see `Store::check_writable`). So at start the node raises its soft `RLIMIT_NOFILE` to the
//! hard limit (`raise_soft_limit`), caps fjall's file cache to a share of it
//! (`FdBudget::storage_cached_files`), and the Kafka listener asks
//! `client_connection_allowed` before it keeps an accepted connection: it refuses the
//! connection while fewer than `FdBudget::storage_reserve` descriptors would remain.
//!
//! The limit is a property of the process, so the budget is process-global (a `OnceLock`
//! set by the first node that starts; nodes sharing a process share the limit too).

use std::sync::OnceLock;

/// Descriptors fjall may need beyond its file cache: the journal and the next one, the
/// table and blob files a flush or compaction writes, version and lock files, directories
/// it syncs.
pub const STORAGE_FD_OVERHEAD: usize = 64;
/// Descriptors for everything that is neither storage nor a Kafka client: listeners, admin
/// HTTP connections, peer links, the runtime's own (epoll, eventfd, pipes), stdio.
pub const RUNTIME_FD_RESERVE: usize = 64;
/// The largest file cache fjall is given (its own default on Linux).
pub const STORAGE_CACHED_FILES_MAX: usize = eddy_actors::store::CACHED_FILES_DEFAULT;
/// The smallest file cache fjall is given (it refuses fewer than 10).
pub const STORAGE_CACHED_FILES_MIN: usize = eddy_actors::store::CACHED_FILES_MIN;
/// Where Linux lists a process's open descriptors.
const PROC_FD_DIR: &str = "/proc/self/fd";

/// How the node's descriptors are split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdBudget {
    /// The soft `RLIMIT_NOFILE` after start-up raised it.
    pub limit: usize,
    /// The files fjall keeps open at most (its descriptor table).
    pub storage_cached_files: usize,
    /// Descriptors kept free for storage and the runtime: a client connection is refused
    /// when fewer than this many would remain.
    pub storage_reserve: usize,
}

impl FdBudget {
    /// The split for a process limited to `limit` descriptors: fjall's file cache gets a
    /// quarter of them (between `STORAGE_CACHED_FILES_MIN` and `STORAGE_CACHED_FILES_MAX`),
    /// storage keeps that plus `STORAGE_FD_OVERHEAD`, the runtime `RUNTIME_FD_RESERVE`.
    pub fn for_limit(limit: usize) -> FdBudget {
        let storage_cached_files =
            (limit / 4).clamp(STORAGE_CACHED_FILES_MIN, STORAGE_CACHED_FILES_MAX);
        FdBudget {
            limit,
            storage_cached_files,
            storage_reserve: storage_cached_files + STORAGE_FD_OVERHEAD + RUNTIME_FD_RESERVE,
        }
    }
}

static BUDGET: OnceLock<FdBudget> = OnceLock::new();

/// Raises the soft `RLIMIT_NOFILE` to the hard limit (once per process) and returns the
/// budget for the resulting limit. Logs what it did; if the limit cannot be read or raised
/// it keeps the current one and says so.
pub fn raise_soft_limit() -> FdBudget {
    *BUDGET.get_or_init(|| {
        let limit = match raise_nofile() {
            Ok((before, after)) => {
                if after > before {
                    tracing::info!(
                        from = before,
                        to = after,
                        "raised the open-file limit (soft RLIMIT_NOFILE) to the hard limit"
                    );
                }
                after
            }
            Err((current, err)) => {
                tracing::warn!(limit = current, error = %err, "cannot raise the open-file limit; keeping it");
                current
            }
        };
        let budget = FdBudget::for_limit(limit);
        tracing::info!(
            limit = budget.limit,
            storage_cached_files = budget.storage_cached_files,
            storage_reserve = budget.storage_reserve,
            "file descriptors: client connections are refused when fewer than the reserve remain"
        );
        budget
    })
}

/// The budget set at start-up, if a node has started in this process.
pub fn budget() -> Option<FdBudget> {
    BUDGET.get().copied()
}

/// Sets the soft limit to the hard one; `(before, after)`, or the current soft limit and
/// the error.
fn raise_nofile() -> Result<(usize, usize), (usize, std::io::Error)> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass and nothing else.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err((1024, std::io::Error::last_os_error()));
    }
    let before = to_usize(lim.rlim_cur);
    if lim.rlim_cur >= lim.rlim_max {
        return Ok((before, before));
    }
    let raised = libc::rlimit {
        rlim_cur: lim.rlim_max,
        rlim_max: lim.rlim_max,
    };
    // SAFETY: setrlimit reads the struct we pass; raising the soft limit up to the hard
    // limit needs no privilege.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
        return Err((before, std::io::Error::last_os_error()));
    }
    Ok((before, to_usize(lim.rlim_max)))
}

fn to_usize(limit: libc::rlim_t) -> usize {
    if limit == libc::RLIM_INFINITY {
        usize::MAX
    } else {
        usize::try_from(limit).unwrap_or(usize::MAX)
    }
}

/// Why a client connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "{open} of {limit} file descriptors are open and {reserve} are kept for storage and the \
     runtime; refusing the client connection (raise the hard limit, `ulimit -Hn` or \
     LimitNOFILE=, or close idle clients)"
)]
pub struct FdShortage {
    /// Descriptors open in the process (the new connection's included).
    pub open: usize,
    /// The soft limit.
    pub limit: usize,
    /// The reserve that may not be used by clients.
    pub reserve: usize,
}

/// Whether the listener may keep a client connection it has just accepted: `Err` when
/// fewer than the storage reserve of descriptors would remain. Counts the process's open
/// descriptors (`/proc/self/fd`), so every user of descriptors is accounted for, not only
/// Kafka connections. Allows everything when the budget was never set (no node started
/// through `RunningNode::start`) or the count cannot be read (not Linux).
pub fn client_connection_allowed() -> Result<(), FdShortage> {
    let Some(budget) = BUDGET.get() else {
        return Ok(());
    };
    let Some(open) = open_fds() else {
        return Ok(());
    };
    if open.saturating_add(budget.storage_reserve) > budget.limit {
        return Err(FdShortage {
            open,
            limit: budget.limit,
            reserve: budget.storage_reserve,
        });
    }
    Ok(())
}

/// Minimum pause between two log lines about refused connections (each refusal is counted
/// in `eddy_connections_refused_total`; the log only samples them).
pub const REFUSAL_LOG_INTERVAL_MS: u64 = 1_000;

/// Counts a refused client connection and logs it, at most once per
/// `REFUSAL_LOG_INTERVAL_MS` (a connection flood must not flood the log).
pub fn note_refused(peer: std::net::SocketAddr, shortage: &FdShortage) {
    use std::sync::atomic::{AtomicU64, Ordering};
    static REFUSED: AtomicU64 = AtomicU64::new(0);
    static LAST_LOG_MS: AtomicU64 = AtomicU64::new(0);
    metrics::counter!("eddy_connections_refused_total", "reason" => "fd_limit").increment(1);
    let refused = REFUSED.fetch_add(1, Ordering::Relaxed) + 1;
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let last = LAST_LOG_MS.load(Ordering::Relaxed);
    if now_ms.saturating_sub(last) >= REFUSAL_LOG_INTERVAL_MS
        && LAST_LOG_MS
            .compare_exchange(last, now_ms, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    {
        tracing::warn!(%peer, refused_since_start = refused, "{shortage}");
    }
}

/// The number of descriptors the process has open, or `None` where `/proc` is missing.
pub fn open_fds() -> Option<usize> {
    // The directory handle itself is one of the entries; it is counted, which only makes
    // the check more careful by one.
    std::fs::read_dir(PROC_FD_DIR).ok().map(|d| d.count())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_limit_still_leaves_room_for_clients() {
        let b = FdBudget::for_limit(1024);
        assert_eq!(b.storage_cached_files, 256);
        assert_eq!(
            b.storage_reserve,
            256 + STORAGE_FD_OVERHEAD + RUNTIME_FD_RESERVE
        );
        assert!(b.storage_reserve < b.limit / 2);
    }

    #[test]
    fn the_file_cache_is_bounded_both_ways() {
        assert_eq!(
            FdBudget::for_limit(1 << 20).storage_cached_files,
            STORAGE_CACHED_FILES_MAX
        );
        assert_eq!(
            FdBudget::for_limit(20).storage_cached_files,
            STORAGE_CACHED_FILES_MIN
        );
    }
}
