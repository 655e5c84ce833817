//! What a deployment means on this node, as pure functions: whether this binary can run it,
//! the [`StreamsSettings`] its instance here runs with, and what the [`TopologyHost`]
//! must do to bring the hosted instances in line with the deployments the metadata holds.
//!
//! [`TopologyHost`]: super::host::TopologyHost

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use eddy_actors::store::DeploymentRecord;
use eddy_streams::{settings_from_configs, Catalog, Configs, StreamsSettings};
use eddy_topologies::Topology;

/// Configs a deployment may not set: every node runs its own instance, so one address or
/// one directory for all of them cannot work.
pub const PER_NODE_CONFIGS: [(&str, &str); 2] = [
    (
        "application.server",
        "each node's instance would bind the same address; query a deployed application through a node's admin port instead",
    ),
    (
        "state.dir",
        "each node keeps a deployed application's stores under its own data dir (<data-dir>/streams)",
    ),
];

/// Checks a deployment against this binary's catalog: the topology exists, takes these
/// configs, builds, and its Kafka Streams configs parse. The error says what to change.
pub fn check(catalog: &Catalog, topology: &str, configs: &Configs) -> Result<Topology, String> {
    if let Some((key, why)) = PER_NODE_CONFIGS
        .iter()
        .find(|(key, _)| configs.contains_key(*key))
    {
        return Err(format!(
            "config {key} cannot be set on a deployed topology: {why}"
        ));
    }
    let built = catalog
        .build(topology, configs)
        .map_err(|e| e.to_string())?;
    settings_from_configs("check", "127.0.0.1:9092", configs).map_err(|e| e.to_string())?;
    Ok(built)
}

/// The settings of this node's instance of `deployment`: its configs over Kafka Streams'
/// defaults, except that the instance reads and writes through `bootstrap` (this node's
/// own listener), keeps its stores under `<data_dir>/streams`, runs as `node_id` (so its
/// tasks sit beside their partitions' leaders), logs through the node's subscriber, and —
/// unless `session.timeout.ms` is given — is dropped from its group as soon as the cluster
/// fences a silent node (`broker_session_timeout`, but at least the group coordinator's
/// `group.min.session.timeout.ms`), so its tasks move with the leaders;
/// unless `replication.factor` is given, creates its internal topics with a replica on up
/// to three of the `cluster_nodes` nodes (a changelog on one node dies with it); and,
/// unless `num.standby.replicas` is given, keeps one standby of every stateful task on
/// another node when there is one.
pub fn instance_settings(
    deployment: &DeploymentRecord,
    bootstrap: &str,
    data_dir: &Path,
    node_id: i32,
    broker_session_timeout: Duration,
    cluster_nodes: usize,
) -> Result<StreamsSettings, String> {
    let configs = &deployment.configs;
    let mut settings = settings_from_configs(&deployment.application_id, bootstrap, configs)
        .map_err(|e| e.to_string())?;
    settings.state_dir = data_dir.join("streams");
    settings.node = Some(node_id);
    settings.default_logging = false;
    if !configs.contains_key("num.standby.replicas") && cluster_nodes >= 2 {
        // A warm copy of every stateful task on another node: a task whose node dies
        // resumes without replaying its whole changelog.
        settings.num_standby_replicas = 1;
    }
    if !configs.contains_key("replication.factor") {
        settings.replication_factor = cluster_nodes.clamp(1, 3) as i16;
    }
    if !configs.contains_key("session.timeout.ms") {
        // Never below what the group coordinator accepts (`group.min.session.timeout.ms`),
        // or the instance could never join its group.
        let least = Duration::from_millis(eddy_actors::group::SESSION_TIMEOUT_MS_MIN as u64);
        settings.session_timeout = broker_session_timeout.max(least);
    }
    if !configs.contains_key("heartbeat.interval.ms") {
        settings.heartbeat_interval = settings
            .heartbeat_interval
            .min(settings.session_timeout / 3)
            .max(Duration::from_millis(100));
    }
    Ok(settings)
}

/// What the host does for one application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Start this node's instance.
    Start(String),
    /// Close this node's instance (undeployed).
    Stop(String),
}

/// The steps that bring `hosted` (the applications this node runs or is starting, each
/// with the deployment it runs) in line with `deployed`: start what is deployed and not
/// hosted, stop what is hosted and no longer deployed (or deployed anew under the same id).
/// Applications waiting to be retried (`waiting`) are not started again yet.
pub fn steps(
    deployed: &BTreeMap<String, DeploymentRecord>,
    hosted: &BTreeMap<String, DeploymentRecord>,
    waiting: &BTreeSet<String>,
) -> Vec<Step> {
    let mut out = Vec::new();
    for (app, record) in hosted {
        if deployed.get(app) != Some(record) {
            out.push(Step::Stop(app.clone()));
        }
    }
    for (app, record) in deployed {
        let runs = hosted.get(app) == Some(record);
        if !runs && !waiting.contains(app) {
            out.push(Step::Start(app.clone()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(app: &str, topology: &str) -> DeploymentRecord {
        DeploymentRecord {
            application_id: app.into(),
            topology: topology.into(),
            configs: Configs::new(),
            deployed_at_ms: 1,
        }
    }

    fn map(records: &[DeploymentRecord]) -> BTreeMap<String, DeploymentRecord> {
        records
            .iter()
            .map(|r| (r.application_id.clone(), r.clone()))
            .collect()
    }

    #[test]
    fn deployed_apps_start_undeployed_ones_stop_and_waiting_ones_wait() {
        let deployed = map(&[record("a", "wordcount"), record("b", "payments")]);
        let hosted = map(&[record("a", "wordcount"), record("old", "sessions")]);
        assert_eq!(
            steps(&deployed, &hosted, &BTreeSet::new()),
            vec![Step::Stop("old".into()), Step::Start("b".into())]
        );
        assert_eq!(
            steps(&deployed, &hosted, &["b".to_string()].into()),
            vec![Step::Stop("old".into())]
        );
        // Undeployed and deployed again as another topology: the old instance stops first.
        let redeployed = map(&[record("a", "sessions")]);
        assert_eq!(
            steps(
                &redeployed,
                &map(&[record("a", "wordcount")]),
                &BTreeSet::new()
            ),
            vec![Step::Stop("a".into()), Step::Start("a".into())]
        );
    }

    #[test]
    fn per_node_configs_and_unknown_names_are_refused_with_the_reason() {
        let mut catalog = Catalog::new();
        catalog.register("pass", "copies in to out", |_| {
            let builder = eddy_topologies::StreamsBuilder::new();
            builder.stream::<String, String>("in").to("out");
            Ok(builder.build()?)
        });
        assert!(check(&catalog, "pass", &Configs::new()).is_ok());
        let err = check(&catalog, "nope", &Configs::new()).unwrap_err();
        assert!(err.contains("pass"), "{err}");
        let configs: Configs = [("state.dir".to_string(), "/x".to_string())].into();
        let err = check(&catalog, "pass", &configs).unwrap_err();
        assert!(err.contains("state.dir"), "{err}");
        let configs: Configs = [("commit.interval.ms".to_string(), "soon".to_string())].into();
        assert!(check(&catalog, "pass", &configs).is_err());
    }

    #[test]
    fn an_instance_runs_as_its_node_under_the_data_dir_and_the_broker_session() {
        let mut deployment = record("wc", "wordcount");
        let session = Duration::from_millis(9_000);
        let s = instance_settings(&deployment, "127.0.0.1:1", Path::new("/d"), 2, session, 5)
            .expect("settings");
        assert_eq!(s.node, Some(2));
        assert_eq!(s.replication_factor, 3, "internal topics survive a node");
        assert_eq!(s.num_standby_replicas, 1, "a warm copy on another node");
        assert_eq!(s.state_dir, Path::new("/d/streams"));
        assert_eq!(s.session_timeout, session);
        assert_eq!(s.heartbeat_interval, Duration::from_millis(3_000));
        deployment
            .configs
            .insert("session.timeout.ms".into(), "30000".into());
        let s = instance_settings(&deployment, "127.0.0.1:1", Path::new("/d"), 2, session, 1)
            .expect("settings");
        assert_eq!(s.session_timeout, Duration::from_millis(30_000));
        deployment.configs.clear();
        let short = Duration::from_millis(3_000);
        let s = instance_settings(&deployment, "127.0.0.1:1", Path::new("/d"), 2, short, 1)
            .expect("settings");
        assert_eq!(
            s.session_timeout,
            Duration::from_millis(6_000),
            "a group must accept it: group.min.session.timeout.ms"
        );
        assert_eq!(s.replication_factor, 1);
        assert_eq!(s.num_standby_replicas, 0, "no other node to keep it on");
    }
}
