//! Deployments through the MetadataActor, on a real store in a temporary data dir: on a
//! single node they are kept in fjall and come back after a reload and a reopen; in
//! cluster mode they travel as commands, are decided by the real `ClusterState::apply`,
//! and come back through `ApplyClusterState`.
//!
//! The cluster-mode test stands in for the Raft quorum with a proposer that applies each
//! command to one `ClusterState` and hands the new state to the actor, as the state
//! machine's watch does on a node; the quorum itself is tested in the node's cluster tests.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};

use actix::Addr;
use eddy_actors::cluster::{ClusterState, Command, Member, Outcome, Proposer};
use eddy_actors::deployments::{Deploy, ReportCatalog, Undeploy};
use eddy_actors::error::ActorError;
use eddy_actors::metadata::{
    ApplyClusterState, LoadTopics, MetadataActor, MetadataSnapshot, SubscribeMetadata,
    TopicDefaults,
};
use eddy_actors::node_supervisor::{ClusterLink, NodeSupervisor, TreeConfig};
use eddy_actors::store::{DeploymentRecord, Store};
use eddy_actors::supervision::RestartIntensity;

const NODE_ID: i32 = 1;

fn tree_config(cluster: Option<ClusterLink>) -> TreeConfig {
    TreeConfig {
        node_id: NODE_ID,
        partition_arbiters: 1,
        intensity: RestartIntensity::default(),
        retention_check_interval_ms: 60_000,
        cleaner_backoff_ms: 60_000,
        topic_defaults: TopicDefaults {
            num_partitions: 1,
            replication_factor: 1,
        },
        broker_defaults: BTreeMap::new(),
        replica_lag_max_ms: 30_000,
        broker_partitions_max: 1_000,
        cluster,
    }
}

fn wordcount(app: &str, threads: &str, at: i64) -> DeploymentRecord {
    DeploymentRecord {
        application_id: app.into(),
        topology: "wordcount".into(),
        configs: BTreeMap::from([("num.stream.threads".to_string(), threads.to_string())]),
        deployed_at_ms: at,
    }
}

/// The snapshot once every message sent before this one has been handled (the mailbox is
/// ordered, and the handlers publish before they answer).
async fn snapshot(metadata: &Addr<MetadataActor>) -> Arc<MetadataSnapshot> {
    let rx = metadata
        .send(SubscribeMetadata)
        .await
        .expect("metadata actor");
    let snapshot = rx.borrow().clone();
    snapshot
}

#[actix_rt::test]
async fn a_deployment_on_a_single_node_is_stored_reloaded_and_removed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open store");
    let first = NodeSupervisor::start_tree(tree_config(None), store.clone(), None);
    let metadata = first.metadata;
    metadata
        .send(LoadTopics)
        .await
        .expect("send")
        .expect("load");

    let deployed = wordcount("wc", "1", 10);
    metadata
        .send(Deploy(deployed.clone()))
        .await
        .expect("send")
        .expect("deploy");
    // A retry of the same deployment: Ok, and the first record stays.
    metadata
        .send(Deploy(wordcount("wc", "1", 20)))
        .await
        .expect("send")
        .expect("retry");
    let refused = metadata
        .send(Deploy(wordcount("wc", "4", 30)))
        .await
        .expect("send");
    assert_eq!(
        refused,
        Err(ActorError::DeploymentExists(
            "application wc is already deployed (topology wordcount); undeploy it first".into()
        ))
    );
    let names = vec!["wordcount".to_string(), "payments".to_string()];
    metadata
        .send(ReportCatalog {
            names: names.clone(),
        })
        .await
        .expect("send")
        .expect("report catalog");
    let seen = snapshot(&metadata).await;
    assert_eq!(
        seen.deployments,
        BTreeMap::from([("wc".to_string(), deployed.clone())])
    );
    assert_eq!(seen.catalogs, BTreeMap::from([(NODE_ID, names)]));

    // A new metadata actor over the same store finds the deployment at LoadTopics.
    let second = NodeSupervisor::start_tree(tree_config(None), store.clone(), None);
    assert!(snapshot(&second.metadata).await.deployments.is_empty());
    second
        .metadata
        .send(LoadTopics)
        .await
        .expect("send")
        .expect("load");
    let reloaded = snapshot(&second.metadata).await;
    assert_eq!(reloaded.deployments.get("wc"), Some(&deployed));
    assert!(
        reloaded.catalogs.is_empty(),
        "a catalog is reported again at start, not stored"
    );

    let undeploy = |id: &str| Undeploy {
        application_id: id.into(),
    };
    second
        .metadata
        .send(undeploy("wc"))
        .await
        .expect("send")
        .expect("undeploy");
    assert!(snapshot(&second.metadata).await.deployments.is_empty());
    assert_eq!(
        second.metadata.send(undeploy("wc")).await.expect("send"),
        Err(ActorError::UnknownDeployment("wc".into()))
    );
    assert!(
        store.meta().load_deployments().expect("load").is_empty(),
        "removed from fjall"
    );
}

#[test]
fn a_stored_deployment_survives_reopening_the_data_dir() {
    let dir = tempfile::tempdir().expect("tempdir");
    let deployed = wordcount("wc", "2", 10);
    {
        let store = Store::open(dir.path()).expect("open store");
        store.meta().put_deployment(&deployed).expect("put");
    }
    let store = Store::open(dir.path()).expect("reopen store");
    assert_eq!(
        store.meta().load_deployments().expect("load"),
        vec![deployed]
    );
}

/// A stand-in for the quorum: applies each command to one state, then sends the new state
/// to the metadata actor, before answering the outcome (as a node's state machine
/// publishes before the proposal's answer comes back).
fn local_quorum(
    state: Arc<Mutex<ClusterState>>,
    metadata: Arc<OnceLock<Addr<MetadataActor>>>,
    proposals: Arc<Mutex<Vec<Command>>>,
) -> Proposer {
    Arc::new(move |cmd: Command| {
        proposals.lock().expect("proposals").push(cmd.clone());
        let applied = {
            let mut state = state.lock().expect("state");
            let outcome = state.apply(cmd);
            (outcome, Arc::new(state.clone()))
        };
        let (outcome, new_state) = applied;
        if let Some(metadata) = metadata.get() {
            metadata.do_send(ApplyClusterState(new_state));
        }
        Box::pin(async move { Ok::<Outcome, ActorError>(outcome) })
    })
}

#[actix_rt::test]
async fn a_deployment_in_cluster_mode_goes_through_the_quorum() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open store");
    let state = Arc::new(Mutex::new(ClusterState::default()));
    let addr = Arc::new(OnceLock::new());
    let proposals = Arc::new(Mutex::new(Vec::new()));
    let proposer = local_quorum(state.clone(), addr.clone(), proposals.clone());
    let (_state_tx, state_rx) = tokio::sync::watch::channel(Arc::new(ClusterState::default()));
    let (isr_tx, _isr_rx) = tokio::sync::mpsc::unbounded_channel();
    let link = ClusterLink {
        proposer: proposer.clone(),
        isr_proposals: isr_tx,
        state: state_rx,
    };
    let tree = NodeSupervisor::start_tree(tree_config(Some(link)), store.clone(), None);
    let metadata = tree.metadata;
    addr.set(metadata.clone()).expect("set once");

    // Before this node is a member, its catalog is refused (the caller retries).
    let names = vec!["wordcount".to_string()];
    let report = || ReportCatalog {
        names: names.clone(),
    };
    assert!(metadata.send(report()).await.expect("send").is_err());
    let member = Member {
        node_id: NODE_ID,
        kafka_host: "127.0.0.1".into(),
        kafka_port: 9092,
        peer_addr: "127.0.0.1:9500".into(),
        fenced: false,
        decommissioning: false,
    };
    proposer(Command::Register(member)).await.expect("register");
    metadata
        .send(report())
        .await
        .expect("send")
        .expect("report catalog");
    let proposed = proposals.lock().expect("proposals").len();
    metadata
        .send(report())
        .await
        .expect("send")
        .expect("report again");
    assert_eq!(
        proposals.lock().expect("proposals").len(),
        proposed,
        "the same catalog again is not proposed"
    );

    let deployed = wordcount("wc", "1", 10);
    metadata
        .send(Deploy(deployed.clone()))
        .await
        .expect("send")
        .expect("deploy");
    let refused = metadata
        .send(Deploy(wordcount("wc", "3", 20)))
        .await
        .expect("send");
    assert!(
        matches!(refused, Err(ActorError::DeploymentExists(_))),
        "{refused:?}"
    );
    let seen = snapshot(&metadata).await;
    assert_eq!(seen.deployments.get("wc"), Some(&deployed));
    assert_eq!(seen.catalogs.get(&NODE_ID), Some(&names));
    assert_eq!(
        state.lock().expect("state").deployments.get("wc"),
        Some(&deployed)
    );
    assert!(
        store.meta().load_deployments().expect("load").is_empty(),
        "in cluster mode the quorum keeps deployments, not the node's keyspace"
    );

    metadata
        .send(Undeploy {
            application_id: "wc".into(),
        })
        .await
        .expect("send")
        .expect("undeploy");
    assert!(snapshot(&metadata).await.deployments.is_empty());
    let unknown = metadata
        .send(Undeploy {
            application_id: "wc".into(),
        })
        .await
        .expect("send");
    assert_eq!(unknown, Err(ActorError::UnknownDeployment("wc".into())));
}
