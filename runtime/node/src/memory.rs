//! Memory handed back to the operating system. glibc's allocator keeps what the node frees
//! in its arenas for reuse, so after a burst (large batches produced and fetched) the
//! process stays as large as at its peak although the memory is free. Every
//! `memory.trim.interval.ms` the node asks it to return free memory (`malloc_trim`), off
//! the arbiters (it walks the heap). What stays is live: the storage's block cache and
//! memtable (`storage.cache.bytes`, `log.memtable.bytes`) and the buffers in use.

use std::time::Duration;

/// Runs until the node stops: trims every `interval` (never with a zero interval).
pub async fn trim_loop(interval: Duration) {
    if interval.is_zero() {
        return std::future::pending().await;
    }
    loop {
        actix_rt::time::sleep(interval).await;
        let trimmed = tokio::task::spawn_blocking(trim).await;
        if let Err(err) = trimmed {
            tracing::debug!(error = %err, "memory trim did not run");
        }
    }
}

/// Returns free heap memory to the operating system (glibc only; elsewhere nothing).
fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory of glibc's own arenas; it takes the
    // arena locks itself and touches no memory the program holds.
    unsafe {
        libc::malloc_trim(0);
    }
}
