//! `TopologyHost`: the actor that runs this node's instance of every topology deployed to
//! the cluster. It watches the deployments in the metadata (the quorum's, or a single
//! node's own), builds each from the node's catalog, and starts a [`KafkaStreams`]
//! instance that runs as this node ([`StreamsSettings::node`]): the instances of all nodes
//! form the application's group, whose leader places every task on the node leading its
//! input partition, and every instance rejoins when a leader moves, so tasks follow
//! leadership. An undeployed application's instance commits, stops and leaves its group.
//!
//! Today an instance reaches the partitions through the node's own Kafka listener (the
//! same client path a Kafka Streams program takes), not by actor messages: the local data
//! path of issue #13 is not built yet.
//!
//! It runs on an arbiter of its own, so tasks never run on the arbiter serving connections.
//! A deployment this binary cannot run (its catalog lacks the name, or the configs do not
//! build) is shown failed with the reason; a start that fails (a source topic missing) is
//! retried with back-off.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use eddy_actors::deployments::ReportCatalog;
use eddy_actors::metadata::{MetadataActor, MetadataSnapshot};
use eddy_actors::store::DeploymentRecord;
use eddy_actors::supervision::{Backoff, ChildRecord, ChildState, SupervisorReport};
use eddy_streams::{Catalog, KafkaStreams, ReportHandle};
use tokio::sync::watch;

use super::deployment::{self, Step};

/// How often the host looks again at deployments waiting for a retry, and re-reports its
/// catalog until the metadata has it.
const RECONCILE_INTERVAL: Duration = Duration::from_secs(1);
/// Back-off between failed starts of one application.
const START_RETRY_MIN: Duration = Duration::from_secs(1);
const START_RETRY_MAX: Duration = Duration::from_secs(30);

/// What the host needs from the node.
pub struct HostSettings {
    /// This node.
    pub node_id: i32,
    /// The topologies this binary can run.
    pub catalog: Arc<Catalog>,
    /// This node's own Kafka listener, as instances reach it.
    pub bootstrap: String,
    /// The node's data dir; stores live under `<data_dir>/streams`.
    pub data_dir: PathBuf,
    /// `broker.session.timeout.ms`: the instances' default session timeout.
    pub broker_session_timeout: Duration,
}

/// One application on this node.
enum Hosted {
    /// `KafkaStreams::start` is under way.
    Starting { record: DeploymentRecord },
    /// Running.
    Running {
        record: DeploymentRecord,
        streams: Box<KafkaStreams>,
        reports: ReportHandle,
        since: Instant,
    },
    /// Its last start failed; retried at `retry_at` (never, for what this binary cannot
    /// run).
    Failed {
        record: DeploymentRecord,
        error: String,
        failures: u32,
        retry_at: Option<Instant>,
        since: Instant,
    },
}

impl Hosted {
    fn record(&self) -> &DeploymentRecord {
        match self {
            Hosted::Starting { record }
            | Hosted::Running { record, .. }
            | Hosted::Failed { record, .. } => record,
        }
    }
}

/// Runs this node's instances of the deployed topologies.
pub struct TopologyHost {
    settings: HostSettings,
    metadata: Addr<MetadataActor>,
    snapshots: watch::Receiver<Arc<MetadataSnapshot>>,
    hosted: BTreeMap<String, Hosted>,
    catalog_reported: bool,
    backoff: Backoff,
    closing: bool,
}

impl TopologyHost {
    /// Starts the host on an arbiter of its own.
    pub fn launch(
        settings: HostSettings,
        metadata: Addr<MetadataActor>,
        snapshots: watch::Receiver<Arc<MetadataSnapshot>>,
    ) -> Addr<TopologyHost> {
        let arbiter = actix::Arbiter::new();
        TopologyHost::start_in_arbiter(&arbiter.handle(), move |_| TopologyHost {
            settings,
            metadata,
            snapshots,
            hosted: BTreeMap::new(),
            catalog_reported: false,
            backoff: Backoff::new(START_RETRY_MIN, START_RETRY_MAX),
            closing: false,
        })
    }

    fn reconcile(&mut self, ctx: &mut Context<Self>) {
        if self.closing {
            return;
        }
        if !self.catalog_reported {
            self.report_catalog(ctx);
        }
        let now = Instant::now();
        let deployed = self.snapshots.borrow().deployments.clone();
        // A failed application no longer deployed has nothing to stop.
        self.hosted
            .retain(|app, h| deployed.contains_key(app) || !matches!(h, Hosted::Failed { .. }));
        // A failed start whose retry is due counts as not hosted: it starts again.
        let due = |h: &Hosted| matches!(h, Hosted::Failed { retry_at: Some(at), .. } if *at <= now);
        let hosted: BTreeMap<String, DeploymentRecord> = self
            .hosted
            .iter()
            .filter(|(_, h)| !due(h))
            .map(|(app, h)| (app.clone(), h.record().clone()))
            .collect();
        let waiting: BTreeSet<String> = self
            .hosted
            .iter()
            .filter_map(|(app, h)| match h {
                Hosted::Failed { retry_at: None, .. } => Some(app.clone()),
                _ => None,
            })
            .collect();
        for step in deployment::steps(&deployed, &hosted, &waiting) {
            match step {
                Step::Stop(app) => self.stop(&app, ctx),
                Step::Start(app) => {
                    if let Some(record) = deployed.get(&app) {
                        self.start_instance(record.clone(), ctx);
                    }
                }
            }
        }
    }

    fn report_catalog(&mut self, ctx: &mut Context<Self>) {
        let names = self.settings.catalog.names();
        let ask = self.metadata.send(ReportCatalog { names });
        ctx.spawn(ask.into_actor(self).map(|result, act, _| match result {
            Ok(Ok(())) => act.catalog_reported = true,
            Ok(Err(err)) => tracing::debug!(error = %err, "catalog not recorded yet; retrying"),
            Err(err) => tracing::debug!(error = %err, "catalog not recorded yet; retrying"),
        }));
    }

    fn stop(&mut self, app: &str, ctx: &mut Context<Self>) {
        let Some(hosted) = self.hosted.remove(app) else {
            return;
        };
        if let Hosted::Running { streams, .. } = hosted {
            tracing::info!(
                application = app,
                "undeployed: closing this node's instance"
            );
            ctx.spawn((*streams).close().into_actor(self));
        }
    }

    fn start_instance(&mut self, record: DeploymentRecord, ctx: &mut Context<Self>) {
        let app = record.application_id.clone();
        let failures = match self.hosted.get(&app) {
            Some(Hosted::Failed { failures, .. }) => *failures,
            _ => 0,
        };
        // Every node's host reports its catalog: as many catalogs as live nodes.
        let cluster_nodes = self.snapshots.borrow().catalogs.len();
        let prepared = deployment::check(&self.settings.catalog, &record.topology, &record.configs)
            .and_then(|topology| {
                deployment::instance_settings(
                    &record,
                    &self.settings.bootstrap,
                    &self.settings.data_dir,
                    self.settings.node_id,
                    self.settings.broker_session_timeout,
                    cluster_nodes,
                )
                .map(|settings| (topology, settings))
            });
        let (topology, settings) = match prepared {
            Ok(prepared) => prepared,
            Err(error) => {
                // This binary cannot run it: no retry helps (a node with another binary may).
                tracing::error!(application = %app, topology = %record.topology, %error, "cannot run this deployed topology on this node");
                let hosted = Hosted::Failed {
                    record,
                    error,
                    failures: failures + 1,
                    retry_at: None,
                    since: Instant::now(),
                };
                self.hosted.insert(app, hosted);
                return;
            }
        };
        tracing::info!(application = %app, topology = %record.topology, "starting this node's instance of a deployed topology");
        self.hosted.insert(
            app.clone(),
            Hosted::Starting {
                record: record.clone(),
            },
        );
        let start = KafkaStreams::start(topology, settings);
        ctx.spawn(start.into_actor(self).map(move |result, act, ctx| {
            let still_deployed = matches!(act.hosted.get(&app), Some(Hosted::Starting { record: r }) if *r == record);
            match result {
                Ok(streams) if still_deployed && !act.closing => {
                    let hosted = Hosted::Running {
                        record,
                        reports: streams.report_handle(),
                        streams: Box::new(streams),
                        since: Instant::now(),
                    };
                    act.hosted.insert(app, hosted);
                }
                Ok(streams) => {
                    // Undeployed (or the node closes) while it started.
                    ctx.spawn(streams.close().into_actor(act));
                }
                Err(err) if still_deployed => {
                    let pause = act.backoff.pause_after(failures + 1);
                    tracing::warn!(application = %app, error = %err, retry_in_ms = pause.as_millis() as u64, "this node's instance could not start; retrying");
                    let hosted = Hosted::Failed {
                        record,
                        error: err.to_string(),
                        failures: failures + 1,
                        retry_at: Some(Instant::now() + pause),
                        since: Instant::now(),
                    };
                    act.hosted.insert(app, hosted);
                }
                Err(_) => {}
            }
        }));
    }
}

impl Actor for TopologyHost {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let me = ctx.address();
        let mut changes = self.snapshots.clone();
        ctx.spawn(
            async move {
                while changes.changed().await.is_ok() {
                    me.do_send(Reconcile);
                }
            }
            .into_actor(self),
        );
        ctx.run_interval(RECONCILE_INTERVAL, |act, ctx| act.reconcile(ctx));
        self.reconcile(ctx);
    }
}

/// Look at the deployments again.
#[derive(Message)]
#[rtype(result = "()")]
struct Reconcile;

impl Handler<Reconcile> for TopologyHost {
    type Result = ();

    fn handle(&mut self, _msg: Reconcile, ctx: &mut Self::Context) {
        self.reconcile(ctx);
    }
}

/// The hosted applications as supervision-tree rows: one per application (`topology
/// <app>`) with its tasks on this node as children, live from their supervisor.
#[derive(Message)]
#[rtype(result = "Vec<SupervisorReport>")]
pub struct ReportHosted;

impl Handler<ReportHosted> for TopologyHost {
    type Result = ResponseFuture<Vec<SupervisorReport>>;

    fn handle(&mut self, _msg: ReportHosted, _ctx: &mut Self::Context) -> Self::Result {
        let rows: Vec<Row> = self
            .hosted
            .iter()
            .map(|(app, hosted)| match hosted {
                Hosted::Starting { .. } => {
                    Row::Fixed(row(app, ChildState::Starting, None, Instant::now(), 0))
                }
                Hosted::Running { reports, since, .. } => {
                    Row::Live(app.clone(), reports.clone(), *since)
                }
                Hosted::Failed {
                    error,
                    failures,
                    retry_at,
                    since,
                    ..
                } => {
                    let state = match retry_at {
                        Some(_) => ChildState::Restarting,
                        None => ChildState::Failed,
                    };
                    Row::Fixed(row(
                        app,
                        state,
                        Some(error.clone()),
                        *since,
                        u64::from(*failures),
                    ))
                }
            })
            .collect();
        Box::pin(async move {
            let mut out = Vec::new();
            for r in rows {
                match r {
                    Row::Fixed(report) => out.push(report),
                    Row::Live(app, streams, since) => match streams.report().await {
                        Some((mut report, _)) => {
                            report.uptime_ms = since.elapsed().as_millis() as u64;
                            out.push(report)
                        }
                        None => out.push(row(
                            &app,
                            ChildState::Failed,
                            Some("its task supervisor stopped".into()),
                            since,
                            0,
                        )),
                    },
                }
            }
            out
        })
    }
}

enum Row {
    Fixed(SupervisorReport),
    Live(String, ReportHandle, Instant),
}

fn row(
    app: &str,
    state: ChildState,
    error: Option<String>,
    since: Instant,
    restarts: u64,
) -> SupervisorReport {
    let mut record = ChildRecord::starting(format!("topology {app}"));
    record.state = state;
    record.last_error = error;
    record.since = since;
    record.restarts = restarts;
    record.report(0, Vec::new())
}

/// Close every instance (the node shuts down): their tasks commit through the listener,
/// which is why this comes before the listener stops.
#[derive(Message)]
#[rtype(result = "()")]
pub struct CloseAll;

impl Handler<CloseAll> for TopologyHost {
    type Result = ResponseActFuture<Self, ()>;

    fn handle(&mut self, _msg: CloseAll, _ctx: &mut Self::Context) -> Self::Result {
        self.closing = true;
        let running: Vec<Box<KafkaStreams>> = std::mem::take(&mut self.hosted)
            .into_values()
            .filter_map(|h| match h {
                Hosted::Running { streams, .. } => Some(streams),
                _ => None,
            })
            .collect();
        Box::pin(
            async move {
                futures::future::join_all(running.into_iter().map(|s| (*s).close())).await;
            }
            .into_actor(self),
        )
    }
}
