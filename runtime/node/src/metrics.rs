//! Metrics through the `metrics` facade, rendered as Prometheus text by
//! `metrics-exporter-prometheus` for `GET /metrics`. The recorder is process-global, so it is
//! installed once; every node in the process shares it.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the Prometheus recorder (once per process) and returns its handle.
pub fn install() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| match PrometheusBuilder::new().install_recorder() {
            Ok(handle) => {
                describe();
                Some(handle)
            }
            Err(err) => {
                tracing::warn!(error = %err, "metrics recorder not installed; /metrics will be empty");
                None
            }
        })
        .clone()
}

fn describe() {
    metrics::describe_counter!("eddy_requests_total", "Kafka requests handled, by API");
    metrics::describe_histogram!(
        "eddy_request_duration_seconds",
        "Kafka request latency, by API"
    );
    metrics::describe_counter!("eddy_bytes_in_total", "Record batch bytes appended");
    metrics::describe_counter!("eddy_bytes_out_total", "Response bytes written to clients");
    metrics::describe_gauge!("eddy_connections_active", "Open client connections");
    metrics::describe_gauge!(
        "eddy_partition_log_end_offset",
        "Log end offset per partition"
    );
    metrics::describe_gauge!(
        "eddy_partition_log_start_offset",
        "Log start offset per partition"
    );
    metrics::describe_counter!("eddy_actor_restarts_total", "Actor restarts, by supervisor");
    metrics::describe_gauge!(
        "eddy_storage_healthy",
        "1 while the node's fjall database takes writes, 0 once it has failed (the node then exits for a restart)"
    );
    metrics::describe_counter!(
        "eddy_storage_errors_total",
        "Storage failures the watchdog detected (fjall poisoned or not answering)"
    );
    metrics::describe_counter!(
        "eddy_connections_refused_total",
        "Client connections closed right after accept, by reason (fd_limit: too few file descriptors would be left for storage; limit: max.connections or max.connections.per.ip reached)"
    );
    metrics::describe_counter!(
        "eddy_connections_closed_total",
        "Client connections the node closed, by reason (write_stalled: the client read none of a response for response-write-timeout-ms)"
    );
    metrics::describe_counter!(
        "eddy_journal_bytes_discarded_total",
        "Bytes of storage journal fjall could not read and discarded at start (the writes in them are lost on this node; the original is saved under journal-recovery/)"
    );
}
