//! A node's services — the Kafka and peer listeners, the admin HTTP endpoint, the cluster
//! loops, the quorum and storage watchdogs — are tasks, not actors. Each runs under
//! [`spawn_service`], which reports its real state to the NodeSupervisor, so that
//! `/supervisors` shows a dead service as failed with the reason instead of "running"
//! forever: running when it starts, failed when it panics or ends while the node is up. At
//! shutdown the node aborts the tasks, which reports nothing.

use std::future::Future;
use std::panic::AssertUnwindSafe;

use actix::Addr;
use eddy_actors::node_supervisor::{NodeSupervisor, ServiceState};
use eddy_actors::supervision::{panic_message, ChildState};
use futures::FutureExt as _;

/// How a service's future ends: `()` (it returned, which a service should never do while
/// the node is up) or `Err(reason)`.
pub trait ServiceEnd {
    /// Why the service is no longer running.
    fn reason(self) -> String;
}

impl ServiceEnd for () {
    fn reason(self) -> String {
        "stopped while the node was running".into()
    }
}

impl ServiceEnd for Result<(), String> {
    fn reason(self) -> String {
        match self {
            Ok(()) => ().reason(),
            Err(reason) => reason,
        }
    }
}

/// Spawns `service` on the current arbiter, reported to `node` as `name`.
pub fn spawn_service<F>(
    node: Addr<NodeSupervisor>,
    name: &'static str,
    service: F,
) -> actix_rt::task::JoinHandle<()>
where
    F: Future + 'static,
    F::Output: ServiceEnd,
{
    spawn_reporting(name, service, move |state| node.do_send(state))
}

/// [`spawn_service`] with the report sent through `report`.
fn spawn_reporting<F, R>(
    name: &'static str,
    service: F,
    report: R,
) -> actix_rt::task::JoinHandle<()>
where
    F: Future + 'static,
    F::Output: ServiceEnd,
    R: Fn(ServiceState) + 'static,
{
    report(ServiceState {
        name: name.into(),
        state: ChildState::Running,
        error: None,
    });
    actix_rt::spawn(async move {
        let error = match AssertUnwindSafe(service).catch_unwind().await {
            Ok(end) => end.reason(),
            Err(panic) => format!("panicked: {}", panic_message(panic.as_ref())),
        };
        tracing::error!(service = name, %error, "node service failed");
        report(ServiceState {
            name: name.into(),
            state: ChildState::Failed,
            error: Some(error),
        });
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    type Reports = Arc<Mutex<Vec<(ChildState, Option<String>)>>>;

    fn recorder() -> (Reports, impl Fn(ServiceState) + 'static) {
        let reports: Reports = Default::default();
        let sink = reports.clone();
        (reports, move |s: ServiceState| {
            sink.lock().unwrap().push((s.state, s.error))
        })
    }

    #[actix_rt::test]
    async fn a_panicking_service_is_reported_failed_with_its_message() {
        let (reports, report) = recorder();
        spawn_reporting("svc", async { panic!("listener exploded") as () }, report)
            .await
            .expect("the watcher itself never panics");
        let reports = reports.lock().unwrap().clone();
        assert_eq!(reports[0], (ChildState::Running, None));
        assert_eq!(
            reports[1],
            (
                ChildState::Failed,
                Some("panicked: listener exploded".into())
            )
        );
    }

    #[actix_rt::test]
    async fn a_service_that_ends_is_failed_with_its_reason() {
        let (reports, report) = recorder();
        spawn_reporting(
            "svc",
            async { Err::<(), _>("raft stopped".to_string()) },
            report,
        )
        .await
        .unwrap();
        let (reports2, report2) = recorder();
        spawn_reporting("svc", async {}, report2).await.unwrap();
        assert_eq!(
            reports.lock().unwrap()[1],
            (ChildState::Failed, Some("raft stopped".into()))
        );
        assert_eq!(
            reports2.lock().unwrap()[1],
            (
                ChildState::Failed,
                Some("stopped while the node was running".into())
            )
        );
    }

    #[actix_rt::test]
    async fn an_aborted_service_reports_nothing_more() {
        let (reports, report) = recorder();
        let handle = spawn_reporting("svc", std::future::pending::<()>(), report);
        handle.abort();
        let _ = handle.await;
        assert_eq!(reports.lock().unwrap().len(), 1, "only Running");
    }
}
