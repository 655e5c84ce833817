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
}
