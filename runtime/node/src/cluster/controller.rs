//! The cluster's control loops: every node heartbeats the quorum leader; the quorum leader
//! fences nodes silent past `broker.session.timeout.ms` (their partitions get new leaders
//! from the ISR, in `ClusterState::apply`) and unfences them when they heartbeat again,
//! drives replica moves after joins and decommissions (`rebalance::next_steps`), removes
//! decommissioned nodes once empty, and moves leadership back to preferred replicas;
//! leaders' ISR changes go to the quorum; every applied state goes to the MetadataActor.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use eddy_actors::cluster::{rebalance, Command};
use eddy_actors::metadata::ApplyClusterState;
use eddy_actors::partition::IsrProposal;

use super::messages::{PeerRequest, PeerResponse};
use super::peer_client::PeerClient;
use super::Cluster;
use crate::kafka::Broker;

/// How often the quorum leader looks for silent nodes.
const CONTROLLER_TICK: Duration = Duration::from_millis(200);
/// Replica moves advance every this many ticks.
const MOVE_TICKS: u64 = 3;
/// Preferred leaders are restored every this many ticks (Kafka's
/// `leader.imbalance.check.interval.seconds`, shortened).
const PREFERRED_TICKS: u64 = 50;

/// Sends a heartbeat to the quorum leader every `broker.heartbeat.interval.ms`.
///
/// Heartbeats go to every voter, not only the current leader, so that a voter elected
/// after the leader dies already knows when each node was last heard from and fences a
/// dead node one session after its last heartbeat, not one session after the election.
pub async fn heartbeat_loop(cluster: Arc<Cluster>) {
    let me = cluster.node_id();
    let mut clients: HashMap<String, Arc<PeerClient>> = HashMap::new();
    let interval = cluster.settings().heartbeat_interval;
    let timeout = interval.max(Duration::from_millis(500));
    loop {
        cluster.heartbeat(me);
        report_rack(&cluster, me).await;
        let mut targets = cluster.voter_addrs();
        if let Some(leader) = cluster.leader_addr() {
            targets.push(leader);
        }
        targets.sort();
        targets.dedup();
        let calls = targets
            .into_iter()
            .filter(|(id, _)| *id != me)
            .map(|(_, addr)| {
                let client = clients
                    .entry(addr.clone())
                    .or_insert_with(|| Arc::new(PeerClient::new(addr)))
                    .clone();
                async move {
                    let req = PeerRequest::Heartbeat { node_id: me };
                    match client.call(&req, timeout).await {
                        Ok(PeerResponse::HeartbeatAck) => {}
                        Ok(other) => tracing::debug!(answer = ?other, "heartbeat refused"),
                        Err(e) => tracing::debug!(error = %e, "heartbeat failed"),
                    }
                }
            });
        futures::future::join_all(calls).await;
        tokio::time::sleep(interval).await;
    }
}

/// Records this node's `broker.rack` in the metadata once it is a member, and again if
/// the metadata says otherwise (a restart with another rack); retried every heartbeat.
async fn report_rack(cluster: &Cluster, me: i32) {
    let state = cluster.state();
    let wanted = cluster.settings().rack.clone();
    if !state.members.contains_key(&me) || state.racks.get(&me) == wanted.as_ref() {
        return;
    }
    let cmd = eddy_actors::cluster::Command::SetRack {
        node_id: me,
        rack: wanted,
    };
    if let Err(e) = cluster.propose(cmd).await {
        tracing::debug!(error = %e, "rack not recorded yet");
    }
}

/// On the quorum leader: fences silent nodes, unfences returning ones, promotes voters.
pub async fn controller_loop(cluster: Arc<Cluster>) {
    let timeout = cluster.settings().session_timeout;
    let mut leading = false;
    let mut tick = 0u64;
    loop {
        tokio::time::sleep(CONTROLLER_TICK).await;
        tick += 1;
        if !cluster.is_leader() {
            leading = false;
            continue;
        }
        let state = cluster.state();
        if !leading {
            // A new quorum leader judges live members by the heartbeats it received as a
            // voter; one it never heard from gets a full session first.
            leading = true;
            let seen = cluster.heartbeats();
            for m in state.members.values().filter(|m| !m.fenced) {
                if !seen.contains_key(&m.node_id) {
                    cluster.heartbeat(m.node_id);
                }
            }
            tracing::info!(node = cluster.node_id(), "leading the metadata quorum");
        }
        let seen = cluster.heartbeats();
        let now = Instant::now();
        for m in state.members.values() {
            let recent = seen
                .get(&m.node_id)
                .is_some_and(|at| now.duration_since(*at) < timeout);
            let cmd = match (m.fenced, recent) {
                (false, false) => Command::Fence { node_id: m.node_id },
                (true, true) => Command::Unfence { node_id: m.node_id },
                _ => continue,
            };
            tracing::warn!(node = m.node_id, command = ?cmd, "node liveness changed");
            if let Err(e) = cluster.propose_here(cmd).await {
                tracing::warn!(error = %e, "could not record a liveness change");
            }
        }
        cluster.promote_voters().await;
        // (Elections on their own ticks: taken only when both divided the tick, they ran
        // every MOVE_TICKS * PREFERRED_TICKS ticks, 30 s instead of 10.)
        let elect = tick.is_multiple_of(PREFERRED_TICKS);
        if tick.is_multiple_of(MOVE_TICKS) || elect {
            advance_moves(&cluster, elect).await;
        }
    }
}

/// One step of every replica move; removal of emptied decommissioned nodes; and, when no
/// move is in flight and `elect` is set, preferred-leader elections.
async fn advance_moves(cluster: &Cluster, elect: bool) {
    let state = cluster.state();
    let steps = rebalance::next_steps(&state);
    let idle = rebalance::planned_moves(&state).is_empty();
    for cmd in steps {
        tracing::info!(step = ?cmd, "replica move");
        if let Err(e) = cluster.propose_here(cmd).await {
            tracing::warn!(error = %e, "replica move step not recorded");
        }
    }
    for node_id in rebalance::removable_members(&state) {
        tracing::info!(
            node = node_id,
            "decommissioned node holds no replica; removing it"
        );
        if let Err(e) = cluster.remove_member(node_id).await {
            tracing::warn!(node = node_id, error = %e, "could not remove the node");
        }
    }
    if elect && idle {
        for cmd in rebalance::preferred_elections(&state) {
            tracing::info!(step = ?cmd, "preferred leader election");
            if let Err(e) = cluster.propose_here(cmd).await {
                tracing::warn!(error = %e, "preferred leader election not recorded");
            }
        }
    }
}

/// Sends partition leaders' ISR changes to the quorum.
pub async fn forward_isr_changes(
    cluster: Arc<Cluster>,
    mut proposals: tokio::sync::mpsc::UnboundedReceiver<IsrProposal>,
) {
    while let Some(first) = proposals.recv().await {
        // Only the latest wish per partition matters: what queued up while the quorum was
        // slow is coalesced before it is proposed (leaders re-propose anyway).
        let mut latest = HashMap::new();
        latest.insert(first.tp.clone(), first);
        while let Ok(p) = proposals.try_recv() {
            latest.insert(p.tp.clone(), p);
        }
        for (tp, p) in latest {
            let cmd = Command::AlterIsr {
                topic: tp.topic.clone(),
                partition: tp.partition,
                leader_epoch: p.leader_epoch,
                leader: p.leader,
                isr: p.isr,
            };
            match cluster.propose(cmd).await {
                Ok(outcome) => tracing::debug!(partition = %tp, ?outcome, "ISR change"),
                Err(e) => tracing::warn!(partition = %tp, error = %e, "ISR change not recorded"),
            }
        }
    }
}

/// Hands every applied state to the MetadataActor (which starts, updates or removes this
/// node's replicas), in order.
pub async fn apply_states(cluster: Arc<Cluster>, broker: Arc<Broker>) {
    let mut states = cluster.subscribe();
    loop {
        let state = states.borrow_and_update().clone();
        if let Err(e) = broker.actors.metadata.send(ApplyClusterState(state)).await {
            tracing::error!(error = %e, "metadata actor did not take the cluster state");
        }
        if states.changed().await.is_err() {
            return;
        }
    }
}
