//! Cluster mode: the metadata quorum (openraft over the peer link), joining, heartbeats and
//! fencing, and replication. A node with a peer listener opens its Raft log in fjall and:
//! bootstraps a new cluster when its peer address is the first seed and its log is empty;
//! otherwise joins through the seeds (the quorum leader adds it as a learner, and as a voter
//! while there are fewer than `--controller-voters`). Every applied state is handed to the
//! MetadataActor, which starts, updates or removes this node's replicas; the replica
//! fetchers follow leaders; the controller (on the quorum leader) fences silent nodes.
//!
//! Files: `frame.rs` (peer frames), `messages.rs` (what peers say), `peer_client.rs`,
//! `peer_server.rs`, `raft_network.rs`, `controller.rs` (heartbeats, fencing, voters,
//! ISR changes), `replica_fetcher.rs` (followers pulling from leaders), `status.rs` (the
//! view `GET /cluster` serves).

mod controller;
pub mod frame;
pub mod messages;
mod peer_client;
mod peer_server;
mod raft_network;
mod replica_fetcher;
pub mod status;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use eddy_actors::cluster::raft::{LogStore, MetadataRaft, StateMachine};
use eddy_actors::cluster::{ClusterState, Command, Member, Outcome, Proposer};
use eddy_actors::error::{ActorError, ActorResult};
use eddy_actors::store::Store;
use openraft::error::{ClientWriteError, RaftError};
use openraft::BasicNode;
use tokio::sync::watch;

use crate::config::NodeConfig;
use crate::error::NodeError;
use messages::{PeerRequest, PeerResponse};
use peer_client::PeerClient;

pub use peer_server::serve_peers;

/// How long a proposal waits for a quorum leader before giving up.
const PROPOSE_WAIT: Duration = Duration::from_secs(10);
/// How long one forwarded call may take.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(5);

/// Timing and identity of this cluster node.
#[derive(Debug, Clone)]
pub struct ClusterSettings {
    /// This node.
    pub me: Member,
    /// Seeds other than this node.
    pub seeds: Vec<String>,
    /// Whether this node bootstraps a new cluster (it is the first seed, or there are none).
    pub bootstrap: bool,
    /// Voters wanted in the quorum.
    pub controller_voters: usize,
    /// `broker.session.timeout.ms`.
    pub session_timeout: Duration,
    /// `broker.heartbeat.interval.ms`.
    pub heartbeat_interval: Duration,
    /// `broker.rack`.
    pub rack: Option<String>,
}

impl ClusterSettings {
    /// Settings from the node config and the advertised Kafka address.
    pub fn from_config(config: &NodeConfig, advertised: (String, i32)) -> Option<Self> {
        let peer = config.peer_listen.clone()?;
        let first = config.seeds.first().cloned();
        let seeds: Vec<String> = config
            .seeds
            .iter()
            .filter(|s| **s != peer)
            .cloned()
            .collect();
        Some(ClusterSettings {
            me: Member {
                node_id: config.node_id,
                kafka_host: advertised.0,
                kafka_port: advertised.1,
                peer_addr: peer.clone(),
                fenced: false,
                decommissioning: false,
            },
            bootstrap: seeds.is_empty() || first.as_deref() == Some(peer.as_str()),
            seeds,
            controller_voters: config.controller_voters,
            session_timeout: Duration::from_millis(config.broker_session_timeout_ms),
            heartbeat_interval: Duration::from_millis(config.broker_heartbeat_interval_ms),
            rack: config.rack.clone(),
        })
    }
}

/// A service future and the name the supervision tree shows it under.
pub type NamedService = (
    &'static str,
    futures::future::LocalBoxFuture<'static, Result<(), String>>,
);

/// The cluster layer of one node.
pub struct Cluster {
    settings: ClusterSettings,
    raft: MetadataRaft,
    state: watch::Receiver<Arc<ClusterState>>,
    clients: Mutex<HashMap<String, Arc<PeerClient>>>,
    /// On the quorum leader: when each node last heartbeated.
    heartbeats: Mutex<HashMap<i32, Instant>>,
}

impl Cluster {
    /// Opens the Raft log and state machine in `store` and starts the Raft core.
    pub async fn open(settings: ClusterSettings, store: &Store) -> Result<Arc<Cluster>, NodeError> {
        let raft_config = openraft::Config {
            cluster_name: "eddy".into(),
            heartbeat_interval: 150,
            election_timeout_min: 800,
            election_timeout_max: 1600,
            install_snapshot_timeout: 5_000,
            snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(5_000),
            max_in_snapshot_log_to_keep: 1_000,
            ..Default::default()
        }
        .validate()
        .map_err(|e| NodeError::Runtime(format!("raft config: {e}")))?;
        let (publish, state) = watch::channel(Arc::new(ClusterState::default()));
        let log = LogStore::new(store.raft().clone());
        let machine = StateMachine::load(store.raft().clone(), publish)
            .map_err(|e| NodeError::Runtime(format!("cannot load the cluster metadata: {e}")))?;
        let raft = openraft::Raft::new(
            settings.me.node_id as u64,
            Arc::new(raft_config),
            raft_network::RaftPeers,
            log,
            machine,
        )
        .await
        .map_err(|e| NodeError::Runtime(format!("cannot start raft: {e}")))?;
        Ok(Arc::new(Cluster {
            settings,
            raft,
            state,
            clients: Mutex::new(HashMap::new()),
            heartbeats: Mutex::new(HashMap::new()),
        }))
    }

    /// This node's id.
    pub fn node_id(&self) -> i32 {
        self.settings.me.node_id
    }

    /// The settings.
    pub fn settings(&self) -> &ClusterSettings {
        &self.settings
    }

    /// The Raft handle.
    pub fn raft(&self) -> &MetadataRaft {
        &self.raft
    }

    /// The latest applied metadata.
    pub fn state(&self) -> Arc<ClusterState> {
        self.state.borrow().clone()
    }

    /// A receiver of applied metadata.
    pub fn subscribe(&self) -> watch::Receiver<Arc<ClusterState>> {
        self.state.clone()
    }

    /// The quorum leader's id, if one is known.
    pub fn leader(&self) -> Option<i32> {
        self.raft
            .metrics()
            .borrow()
            .current_leader
            .map(|id| id as i32)
    }

    /// The quorum's voters and learners.
    pub fn voters_and_learners(&self) -> (Vec<i32>, Vec<i32>) {
        let metrics = self.raft.metrics().borrow().clone();
        let membership = metrics.membership_config.membership();
        (
            membership.voter_ids().map(|id| id as i32).collect(),
            membership.learner_ids().map(|id| id as i32).collect(),
        )
    }

    /// Whether this node leads the quorum.
    pub fn is_leader(&self) -> bool {
        self.leader() == Some(self.node_id())
    }

    /// The voters' ids and peer addresses.
    fn voter_addrs(&self) -> Vec<(i32, String)> {
        let metrics = self.raft.metrics().borrow().clone();
        let membership = metrics.membership_config.membership();
        membership
            .voter_ids()
            .filter_map(|id| {
                membership
                    .get_node(&id)
                    .map(|n| (id as i32, n.addr.clone()))
            })
            .collect()
    }

    fn leader_addr(&self) -> Option<(i32, String)> {
        let metrics = self.raft.metrics().borrow().clone();
        let id = metrics.current_leader?;
        let node = metrics
            .membership_config
            .membership()
            .get_node(&id)?
            .clone();
        Some((id as i32, node.addr))
    }

    /// A shared client of the peer at `addr`.
    fn client(&self, addr: &str) -> Arc<PeerClient> {
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        clients
            .entry(addr.to_string())
            .or_insert_with(|| Arc::new(PeerClient::new(addr)))
            .clone()
    }

    /// The peer address of a member.
    pub fn peer_addr_of(&self, node_id: i32) -> Option<String> {
        self.state()
            .members
            .get(&node_id)
            .map(|m| m.peer_addr.clone())
    }

    /// Proposes `cmd`: applied locally when this node leads the quorum, else forwarded to
    /// the leader. Waits (bounded) for a leader to exist.
    pub async fn propose(&self, cmd: Command) -> ActorResult<Outcome> {
        let deadline = Instant::now() + PROPOSE_WAIT;
        loop {
            let last_error = match self.raft.client_write(cmd.clone()).await {
                Ok(resp) => return Ok(resp.data),
                Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => {
                    match f.leader_node {
                        Some(node) => {
                            let req = PeerRequest::Propose(cmd.clone());
                            match self.client(&node.addr).call(&req, FORWARD_TIMEOUT).await {
                                Ok(PeerResponse::Proposed(Ok((outcome, index)))) => {
                                    // Read your writes: wait until this node has applied the
                                    // entry too, so what it serves next includes it.
                                    self.wait_applied(index).await;
                                    return Ok(outcome);
                                }
                                Ok(PeerResponse::Proposed(Err(e)))
                                | Ok(PeerResponse::Refused(e)) => e,
                                Ok(other) => format!("unexpected answer {other:?}"),
                                Err(e) => e.to_string(),
                            }
                        }
                        None => "no quorum leader yet".to_string(),
                    }
                }
                Err(e) => e.to_string(),
            };
            if Instant::now() >= deadline {
                return Err(ActorError::Quorum(last_error));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Proposes only on the quorum leader (the controller's own commands).
    pub async fn propose_here(&self, cmd: Command) -> Result<Outcome, String> {
        self.propose_indexed(cmd).await.map(|(outcome, _)| outcome)
    }

    /// Proposes only on the quorum leader and answers the entry's log index too (for
    /// forwarded proposals, so a proposal is forwarded at most once and its proposer can
    /// wait until it has applied the entry itself).
    pub async fn propose_indexed(&self, cmd: Command) -> Result<(Outcome, u64), String> {
        self.raft
            .client_write(cmd)
            .await
            .map(|r| (r.data, r.log_id.index))
            .map_err(|e| e.to_string())
    }

    /// Waits (bounded) until this node has applied the log up to `index`.
    async fn wait_applied(&self, index: u64) {
        let waited = self
            .raft
            .wait(Some(FORWARD_TIMEOUT))
            .applied_index_at_least(Some(index), "forwarded proposal")
            .await;
        if let Err(e) = waited {
            tracing::warn!(index, error = %e, "a forwarded proposal is not applied here yet");
        }
    }

    /// The proposer handed to the actor tree.
    pub fn proposer(self: &Arc<Self>) -> Proposer {
        let cluster = self.clone();
        Arc::new(move |cmd| {
            let cluster = cluster.clone();
            Box::pin(async move { cluster.propose(cmd).await })
        })
    }

    /// Bootstraps the quorum or joins it; retries until it succeeds. The bootstrapping
    /// node also names the cluster with `cluster_id` (its own store's id).
    pub async fn bootstrap_or_join(self: Arc<Self>, cluster_id: String) {
        let me = self.settings.me.clone();
        let initialized = self.raft.is_initialized().await.unwrap_or(false);
        if !initialized && self.settings.bootstrap && self.a_seed_is_initialized().await {
            tracing::warn!(
                node = me.node_id,
                "this node's data is empty but the seeds already form a cluster: joining it instead of bootstrapping another"
            );
        } else if !initialized && self.settings.bootstrap {
            let mut voters = BTreeMap::new();
            voters.insert(me.node_id as u64, BasicNode::new(me.peer_addr.clone()));
            match self.raft.initialize(voters).await {
                Ok(()) => tracing::info!(node = me.node_id, "bootstrapped a new cluster"),
                Err(e) => tracing::warn!(error = %e, "cluster bootstrap"),
            }
        }
        // Register (or re-register with new addresses) until the state holds this node as
        // it is now; a known node re-registering also unfences.
        let mut attempt = 0u32;
        loop {
            let current = self.state().members.get(&me.node_id).cloned();
            let registered = current.as_ref().is_some_and(|m| {
                m.kafka_host == me.kafka_host
                    && m.kafka_port == me.kafka_port
                    && m.peer_addr == me.peer_addr
            });
            let in_quorum = {
                let (voters, learners) = self.voters_and_learners();
                voters.contains(&me.node_id) || learners.contains(&me.node_id)
            };
            if registered && in_quorum {
                if self.state().cluster_id.is_empty() && self.settings.bootstrap {
                    let _ = self
                        .propose(Command::SetClusterId(cluster_id.clone()))
                        .await;
                    continue;
                }
                tracing::info!(node = me.node_id, "registered with the cluster");
                return;
            }
            let result = if self.is_leader() {
                self.handle_join(me.clone()).await
            } else {
                self.join_through_seeds(&me).await
            };
            if let Err(e) = result {
                attempt += 1;
                if attempt % 10 == 1 {
                    tracing::info!(error = %e, "waiting to join the cluster");
                }
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    /// Whether any seed answers that it belongs to an initialized cluster.
    async fn a_seed_is_initialized(&self) -> bool {
        let asks = self.settings.seeds.iter().map(|addr| {
            let client = self.client(addr);
            async move {
                matches!(
                    client
                        .call(&PeerRequest::ClusterInfo, Duration::from_secs(1))
                        .await,
                    Ok(PeerResponse::ClusterInfo { initialized: true })
                )
            }
        });
        futures::future::join_all(asks)
            .await
            .into_iter()
            .any(|yes| yes)
    }

    async fn join_through_seeds(&self, me: &Member) -> Result<(), String> {
        let mut targets: Vec<String> = self.leader_addr().map(|(_, a)| a).into_iter().collect();
        targets.extend(self.settings.seeds.iter().cloned());
        let mut last = "no seeds".to_string();
        for addr in targets {
            if addr == me.peer_addr {
                continue;
            }
            match self
                .client(&addr)
                .call(&PeerRequest::Join(me.clone()), FORWARD_TIMEOUT)
                .await
            {
                Ok(PeerResponse::Joined(Ok(()))) => return Ok(()),
                Ok(PeerResponse::Joined(Err(e))) | Ok(PeerResponse::Refused(e)) => last = e,
                Ok(other) => last = format!("unexpected answer {other:?}"),
                Err(e) => last = e.to_string(),
            }
        }
        Err(last)
    }

    /// A node asks to join: on the quorum leader add it as a learner (and as a voter while
    /// voters are fewer than wanted), then register it; elsewhere forward to the leader.
    pub async fn handle_join(&self, member: Member) -> Result<(), String> {
        if !self.is_leader() {
            let (_, addr) = self.leader_addr().ok_or("no quorum leader yet")?;
            if addr == self.settings.me.peer_addr {
                return Err("no quorum leader yet".into());
            }
            return match self
                .client(&addr)
                .call(&PeerRequest::Join(member), FORWARD_TIMEOUT)
                .await
                .map_err(|e| e.to_string())?
            {
                PeerResponse::Joined(r) => r,
                PeerResponse::Refused(e) => Err(e),
                other => Err(format!("unexpected answer {other:?}")),
            };
        }
        let id = member.node_id as u64;
        let (voters, learners) = self.voters_and_learners();
        if !voters.contains(&member.node_id) && !learners.contains(&member.node_id) {
            self.raft
                .add_learner(id, BasicNode::new(member.peer_addr.clone()), true)
                .await
                .map_err(|e| e.to_string())?;
            tracing::info!(node = member.node_id, addr = %member.peer_addr, "node joined the quorum as learner");
        }
        self.promote_voters().await;
        self.heartbeat(member.node_id);
        match self.propose_here(Command::Register(member)).await? {
            Outcome::Refused(r) => Err(format!("{r:?}")),
            _ => Ok(()),
        }
    }

    /// On the quorum leader: makes learners voters while there are fewer voters than
    /// wanted (lowest ids first).
    pub async fn promote_voters(&self) {
        let (voters, learners) = self.voters_and_learners();
        let wanted = self.settings.controller_voters;
        if voters.len() >= wanted || learners.is_empty() {
            return;
        }
        let mut next: BTreeSet<u64> = voters.iter().map(|v| *v as u64).collect();
        let mut learners = learners;
        learners.sort_unstable();
        for l in learners.into_iter().take(wanted - voters.len()) {
            next.insert(l as u64);
        }
        match self.raft.change_membership(next.clone(), true).await {
            Ok(_) => tracing::info!(voters = ?next, "quorum voters changed"),
            Err(e) => tracing::warn!(error = %e, "could not promote voters"),
        }
    }

    /// Starts decommissioning a node: its replicas move away, then it is removed.
    pub async fn decommission(&self, node_id: i32) -> ActorResult<()> {
        match self.propose(Command::Decommission { node_id }).await? {
            Outcome::Refused(r) => Err(ActorError::Quorum(format!("{r:?}"))),
            _ => Ok(()),
        }
    }

    /// On the quorum leader: removes an emptied, decommissioned node from the members and
    /// from the quorum.
    pub async fn remove_member(&self, node_id: i32) -> Result<(), String> {
        if let Outcome::Refused(r) = self.propose_here(Command::RemoveMember { node_id }).await? {
            return Err(format!("{r:?}"));
        }
        let (voters, learners) = self.voters_and_learners();
        let set: BTreeSet<u64> = [node_id as u64].into_iter().collect();
        let change = if voters.contains(&node_id) {
            openraft::ChangeMembers::RemoveVoters(set)
        } else if learners.contains(&node_id) {
            openraft::ChangeMembers::RemoveNodes(set)
        } else {
            return Ok(());
        };
        self.raft
            .change_membership(change, false)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// Records a heartbeat (on the quorum leader).
    pub fn heartbeat(&self, node_id: i32) {
        self.heartbeats
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(node_id, Instant::now());
    }

    /// When each node last heartbeated, as seen by this node (meaningful on the leader).
    fn heartbeats(&self) -> HashMap<i32, Instant> {
        self.heartbeats
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Starts joining (or bootstrapping) the cluster, and returns the services to run,
    /// named as the supervision tree shows them: the quorum watch, heartbeats, the
    /// controller, ISR forwarding, applying states to the actor tree, the replica fetchers.
    pub fn start_services(
        self: &Arc<Self>,
        broker: Arc<crate::kafka::Broker>,
        cluster_id: String,
        isr_proposals: tokio::sync::mpsc::UnboundedReceiver<eddy_actors::partition::IsrProposal>,
    ) -> (actix_rt::task::JoinHandle<()>, Vec<NamedService>) {
        use futures::FutureExt as _;
        // Joining ends once joined (it retries until then), so it is not a service.
        let join = actix_rt::spawn(self.clone().bootstrap_or_join(cluster_id));
        let forever =
            |f: futures::future::LocalBoxFuture<'static, ()>| f.map(|()| Ok(())).boxed_local();
        let services = vec![
            ("metadata-quorum", self.clone().quorum_watch().boxed_local()),
            (
                "cluster-heartbeat",
                forever(controller::heartbeat_loop(self.clone()).boxed_local()),
            ),
            (
                "cluster-controller",
                forever(controller::controller_loop(self.clone()).boxed_local()),
            ),
            (
                "isr-proposals",
                forever(controller::forward_isr_changes(self.clone(), isr_proposals).boxed_local()),
            ),
            (
                "cluster-state",
                forever(controller::apply_states(self.clone(), broker.clone()).boxed_local()),
            ),
            (
                "replica-fetchers",
                forever(replica_fetcher::run_fetchers(self.clone(), broker).boxed_local()),
            ),
        ];
        (join, services)
    }

    /// Ends, with openraft's reason, only when the Raft core stops with a fatal error (it
    /// then refuses every proposal until the node restarts).
    async fn quorum_watch(self: Arc<Self>) -> Result<(), String> {
        let mut metrics = self.raft.metrics();
        loop {
            if let Err(fatal) = &metrics.borrow().running_state {
                return Err(format!("the Raft core stopped: {fatal}"));
            }
            if metrics.changed().await.is_err() {
                return Err("the Raft core stopped".into());
            }
        }
    }

    /// Stops the Raft core.
    pub async fn shutdown(&self) {
        let _ = self.raft.shutdown().await;
    }
}
