//! The peer listener: one task per connection, requests answered in order. Raft RPCs go to
//! the local Raft core; joins, proposals and heartbeats to the cluster layer; replica
//! fetches to the local partition leaders.

use std::sync::Arc;

use tokio::net::TcpListener;

use super::messages::{PeerRequest, PeerResponse};
use super::{frame, replica_fetcher, Cluster};
use crate::kafka::Broker;

/// Accepts peer connections until the task is aborted.
pub async fn serve_peers(listener: TcpListener, cluster: Arc<Cluster>, broker: Arc<Broker>) {
    loop {
        let (mut stream, addr) = match listener.accept().await {
            Ok(conn) => conn,
            Err(e) => {
                tracing::warn!(error = %e, "peer accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let (cluster, broker) = (cluster.clone(), broker.clone());
        actix_rt::spawn(async move {
            loop {
                let req: PeerRequest = match frame::read(&mut stream).await {
                    Ok(req) => req,
                    Err(frame::FrameError::Io(_)) => return,
                    Err(e) => {
                        tracing::warn!(peer = %addr, error = %e, "bad peer frame; closing the connection");
                        return;
                    }
                };
                let resp = handle(&cluster, &broker, req).await;
                if let Err(e) = frame::write(&mut stream, &resp).await {
                    tracing::debug!(peer = %addr, error = %e, "peer connection closed");
                    return;
                }
            }
        });
    }
}

async fn handle(cluster: &Cluster, broker: &Broker, req: PeerRequest) -> PeerResponse {
    let raft = cluster.raft();
    match req {
        PeerRequest::Vote(r) => PeerResponse::Vote(raft.vote(r).await.map_err(|e| e.to_string())),
        PeerRequest::AppendEntries(r) => {
            PeerResponse::AppendEntries(raft.append_entries(r).await.map_err(|e| e.to_string()))
        }
        PeerRequest::InstallSnapshot(r) => {
            PeerResponse::InstallSnapshot(raft.install_snapshot(r).await.map_err(|e| e.to_string()))
        }
        PeerRequest::Join(member) => PeerResponse::Joined(cluster.handle_join(member).await),
        PeerRequest::Propose(cmd) if cluster.is_leader() => {
            PeerResponse::Proposed(cluster.propose_indexed(cmd).await)
        }
        PeerRequest::Propose(_) => PeerResponse::Refused("not the quorum leader".into()),
        PeerRequest::ClusterInfo => PeerResponse::ClusterInfo {
            initialized: raft.is_initialized().await.unwrap_or(false),
        },
        PeerRequest::Heartbeat { node_id } => {
            cluster.heartbeat(node_id);
            PeerResponse::HeartbeatAck
        }
        PeerRequest::ReplicaFetch(r) => {
            PeerResponse::ReplicaFetched(replica_fetcher::serve_fetch(broker, r).await)
        }
        PeerRequest::EpochEndOffset {
            topic,
            partition,
            epoch,
        } => PeerResponse::EpochEnd(
            replica_fetcher::serve_epoch_end(broker, &topic, partition, epoch).await,
        ),
    }
}
