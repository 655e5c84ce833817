//! Metrics through the `metrics` facade, rendered as Prometheus text by
//! `metrics-exporter-prometheus` for `GET /metrics`. The recorder is process-global, so it is
//! installed once; every node in the process shares it.
//!
//! Every metric of the workspace is described in [`METRICS`], so that `/metrics` gives each
//! a `# HELP` line; a unit test reads the workspace's sources and fails on a metric
//! recorded but not listed there.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// What a metric is, as the `metrics` macros record it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    /// `counter!`: only goes up.
    Counter,
    /// `gauge!`: a value that goes up and down.
    Gauge,
    /// `histogram!`: a distribution.
    Histogram,
}

/// Every metric recorded anywhere in the workspace (the actors, the node, Connect, streams
/// tasks), with its kind and the help text `/metrics` shows.
pub const METRICS: &[(&str, MetricKind, &str)] = &[
    ("eddy_requests_total", MetricKind::Counter, "Kafka requests handled, by API"),
    (
        "eddy_local_requests_total",
        MetricKind::Counter,
        "Kafka requests from clients in the node's own process (a deployed topology, Connect), handed over without a socket, by API",
    ),
    ("eddy_request_duration_seconds", MetricKind::Histogram, "Kafka request latency, by API"),
    ("eddy_bytes_in_total", MetricKind::Counter, "Record batch bytes appended"),
    ("eddy_bytes_out_total", MetricKind::Counter, "Response bytes written to clients"),
    ("eddy_connections_active", MetricKind::Gauge, "Open client connections"),
    (
        "eddy_connections_refused_total",
        MetricKind::Counter,
        "Client connections closed right after accept, by reason (fd_limit: too few file descriptors would be left for storage; limit: max.connections or max.connections.per.ip reached)",
    ),
    (
        "eddy_connections_closed_total",
        MetricKind::Counter,
        "Client connections the node closed, by reason (write_stalled: the client read none of a response for response-write-timeout-ms)",
    ),
    (
        "eddy_partition_records_in_total",
        MetricKind::Counter,
        "Records appended by partition leaders (produced, not replicated)",
    ),
    ("eddy_partition_log_end_offset", MetricKind::Gauge, "Log end offset per partition"),
    ("eddy_partition_log_start_offset", MetricKind::Gauge, "Log start offset per partition"),
    (
        "eddy_log_flushes_total",
        MetricKind::Counter,
        "fsyncs of the partition logs' storage (flush.messages, flush.ms, acks), counted after each returned",
    ),
    (
        "eddy_compaction_records_scanned_total",
        MetricKind::Counter,
        "Records the compactor read while compacting partitions",
    ),
    (
        "eddy_compaction_records_removed_total",
        MetricKind::Counter,
        "Records compaction removed (superseded keys, expired tombstones)",
    ),
    (
        "eddy_group_lag",
        MetricKind::Gauge,
        "A consumer group's lag per partition: high watermark minus committed offset",
    ),
    ("eddy_actor_restarts_total", MetricKind::Counter, "Actor restarts, by supervisor"),
    (
        "eddy_storage_healthy",
        MetricKind::Gauge,
        "1 while the node's fjall database takes writes, 0 once it has failed (the node then exits for a restart)",
    ),
    (
        "eddy_storage_errors_total",
        MetricKind::Counter,
        "Storage failures the watchdog detected (fjall poisoned or not answering)",
    ),
    (
        "eddy_journal_bytes_discarded_total",
        MetricKind::Counter,
        "Bytes of storage journal fjall could not read and discarded at start (the writes in them are lost on this node; the original is saved under journal-recovery/)",
    ),
    (
        "eddy_connect_source_records_total",
        MetricKind::Counter,
        "Records Connect source tasks wrote to Kafka, by connector",
    ),
    (
        "eddy_connect_sink_records_total",
        MetricKind::Counter,
        "Records Connect sink tasks delivered to their sink, by connector",
    ),
    (
        "eddy_connect_dead_letter_records_total",
        MetricKind::Counter,
        "Records Connect sent to a dead-letter topic (errors.tolerance=all), by connector",
    ),
    (
        "eddy_connect_task_restarts_total",
        MetricKind::Counter,
        "Connect task restarts after a failure, by connector",
    ),
    (
        "eddy_streams_records_processed_total",
        MetricKind::Counter,
        "Input records a streams task processed, by task",
    ),
    (
        "eddy_streams_skipped_records_total",
        MetricKind::Counter,
        "Input records a streams task skipped (undeserializable, or late past the grace period), by task",
    ),
];

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
    for &(name, kind, help) in METRICS {
        match kind {
            MetricKind::Counter => metrics::describe_counter!(name, help),
            MetricKind::Gauge => metrics::describe_gauge!(name, help),
            MetricKind::Histogram => metrics::describe_histogram!(name, help),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use std::path::{Path, PathBuf};

    /// The `.rs` files under `dir`, recursively.
    fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                sources(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    /// The metric kinds, as their macros are named.
    const KINDS: [&str; 3] = ["counter", "gauge", "histogram"];

    /// The metrics `text` records: every call of a `counter`, `gauge` or `histogram` macro
    /// (`metrics::` or not, its arguments on one line or several) with the kind its macro
    /// records; `Err` lists the calls whose name is not a string literal, which no scan can
    /// check against `METRICS`. Whole-line comments are skipped.
    fn scan(text: &str) -> Result<BTreeSet<(String, &'static str)>, Vec<String>> {
        let code: String = text
            .lines()
            .map(|line| match line.trim_start().starts_with("//") {
                true => "\n".to_owned(),
                false => format!("{line}\n"),
            })
            .collect();
        let mut found = BTreeSet::new();
        let mut unnamed = Vec::new();
        for kind in KINDS {
            let needle = format!("{kind}!");
            for (at, _) in code.match_indices(&needle) {
                let identifier = |c: char| c.is_alphanumeric() || c == '_';
                if code[..at].chars().next_back().is_some_and(identifier) {
                    continue; // `describe_counter!` and the like
                }
                let rest = code[at + needle.len()..].trim_start();
                let Some(args) = rest.strip_prefix(['(', '[', '{']) else {
                    continue; // the name in prose or a doc string, not a call
                };
                let args = args.trim_start();
                let name = args
                    .strip_prefix('"')
                    .and_then(|quoted| quoted.split_once('"'))
                    .map(|(name, _)| name.to_owned());
                match name {
                    Some(name) => {
                        found.insert((name, kind));
                    }
                    None => {
                        let call: String = code[at..].chars().take(80).collect();
                        unnamed.push(call.split_whitespace().collect::<Vec<_>>().join(" "));
                    }
                }
            }
        }
        match unnamed.is_empty() {
            true => Ok(found),
            false => Err(unnamed),
        }
    }

    /// Every metric the workspace's crates record, with the kind its macro records; panics
    /// naming the calls whose metric name is not a string literal.
    fn recorded_metrics() -> BTreeSet<(String, &'static str)> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut files = Vec::new();
        for dir in ["actors/src", "runtime", "topologies/src", "src"] {
            sources(&root.join(dir), &mut files);
        }
        let mut found = BTreeSet::new();
        let mut unnamed = Vec::new();
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap_or_default();
            match scan(&text) {
                Ok(metrics) => found.extend(metrics),
                Err(calls) => unnamed.extend(
                    calls
                        .into_iter()
                        .map(|c| format!("{}: {c}", file.display())),
                ),
            }
        }
        assert!(
            unnamed.is_empty(),
            "metric macros whose name is not a string literal (write the name in the call, \
             so that this test can check it is described): {unnamed:#?}"
        );
        found
    }

    #[test]
    fn the_scan_finds_calls_over_several_lines_and_refuses_unnamed_ones() {
        // Built from parts, so that the scan of this very file does not see these calls.
        let [counter, gauge, histogram] = KINDS;
        let text = format!(
            "metrics::{counter}!(\"eddy_a_total\").increment(1);\n\
             let g = metrics::{gauge}!(\n    \"eddy_b\",\n    \"k\" => v);\n\
             {histogram}! ( \"eddy_c_ms\" ).record(1.0);\n\
             metrics::describe_{counter}!(name, help);\n\
             // metrics::{counter}!(NOT_SCANNED);\n"
        );
        let expected: BTreeSet<(String, &str)> = [
            ("eddy_a_total".to_owned(), counter),
            ("eddy_b".to_owned(), gauge),
            ("eddy_c_ms".to_owned(), histogram),
        ]
        .into();
        assert_eq!(scan(&text), Ok(expected));
        let unnamed = format!("metrics::{counter}!(NAME).increment(1);\n");
        assert_eq!(
            scan(&unnamed),
            Err(vec![format!("{counter}!(NAME).increment(1);")])
        );
    }

    #[test]
    fn every_recorded_metric_is_described_with_its_kind() {
        let recorded = recorded_metrics();
        assert!(
            recorded
                .iter()
                .any(|(name, _)| name == "eddy_requests_total"),
            "the source scan found nothing: {recorded:?}"
        );
        let described: BTreeSet<(String, &'static str)> = METRICS
            .iter()
            .map(|&(name, kind, _)| {
                let kind = match kind {
                    MetricKind::Counter => "counter",
                    MetricKind::Gauge => "gauge",
                    MetricKind::Histogram => "histogram",
                };
                (name.to_owned(), kind)
            })
            .collect();
        let missing: Vec<_> = recorded.difference(&described).collect();
        assert!(
            missing.is_empty(),
            "recorded but not described in METRICS: {missing:?}"
        );
        let stale: Vec<_> = described.difference(&recorded).collect();
        assert!(stale.is_empty(), "described but never recorded: {stale:?}");
    }
}
