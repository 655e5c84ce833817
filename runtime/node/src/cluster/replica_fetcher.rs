//! Replication, Kafka's pull model. For every partition this node follows, a fetcher task
//! pulls from the leader over the peer link: first it asks where the leader's copy of its
//! last epoch ends and truncates anything past that (so a former leader never keeps
//! records the new leader does not have), then it fetches from its log end offset and
//! appends what comes back, offsets unchanged. The leader serves these fetches
//! (`serve_fetch`), which is how it learns each follower's end offset.
//!
//! `run_fetchers` keeps one task per followed partition, restarting it when the leader or
//! the leader epoch changes.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use eddy_actors::cluster::ClusterState;
use eddy_actors::error::ActorError;
use eddy_actors::partition::{
    AppendReplica, EpochEndOffset, LastEpoch, ReplicaFetch, TruncateTo, WaitForReplicaData,
};
use eddy_actors::partition_supervisor::PartitionHandle;
use eddy_actors::TopicPartition;

use super::messages::{PeerError, PeerRequest, PeerResponse, ReplicaData, ReplicaFetchRequest};
use super::peer_client::PeerClient;
use super::Cluster;
use crate::error::kafka_error;
use crate::kafka::Broker;

/// Bytes per replica fetch.
const FETCH_BYTES_MAX: u32 = 1024 * 1024;
/// How long a leader holds a fetch that finds nothing new.
const FETCH_WAIT_MS: u32 = 500;
/// Back-off after an error.
const RETRY: Duration = Duration::from_millis(200);
/// Truncation rounds before a follower gives up and retries from scratch.
const TRUNCATION_ROUNDS_MAX: usize = 8;

fn peer_error(err: &ActorError) -> PeerError {
    PeerError {
        code: kafka_error(err).code(),
        message: err.to_string(),
    }
}

fn local(broker: &Broker, topic: &str, partition: i32) -> Result<PartitionHandle, PeerError> {
    broker
        .partition(topic, partition)
        .ok_or_else(|| peer_error(&ActorError::NotLeader(format!("{topic}-{partition}"))))
}

/// Leader side: one replica fetch, held up to `max_wait_ms` while there is nothing new.
pub async fn serve_fetch(
    broker: &Broker,
    req: ReplicaFetchRequest,
) -> Result<ReplicaData, PeerError> {
    let handle = local(broker, &req.topic, req.partition)?;
    let fetch = || ReplicaFetch {
        replica: req.replica,
        leader_epoch: req.leader_epoch,
        offset: req.offset,
        max_bytes: req.max_bytes as usize,
    };
    let mut out = handle
        .send(fetch())
        .await
        .and_then(|r| r)
        .map_err(|e| peer_error(&e))?;
    if out.records.is_empty() && req.max_wait_ms > 0 {
        let wait = handle
            .send(WaitForReplicaData { offset: req.offset })
            .await
            .and_then(|r| r);
        if let Ok(rx) = wait {
            let _ = tokio::time::timeout(Duration::from_millis(req.max_wait_ms.into()), rx).await;
            out = handle
                .send(fetch())
                .await
                .and_then(|r| r)
                .map_err(|e| peer_error(&e))?;
        }
    }
    Ok(ReplicaData {
        records: out.records.to_vec(),
        high_watermark: out.high_watermark,
        log_start_offset: out.log_start_offset,
        log_end_offset: out.log_end_offset,
    })
}

/// Leader side: where this leader's copy of `epoch` ends.
pub async fn serve_epoch_end(
    broker: &Broker,
    topic: &str,
    partition: i32,
    epoch: i32,
) -> Result<(i32, i64), PeerError> {
    let handle = local(broker, topic, partition)?;
    handle
        .send(EpochEndOffset {
            epoch,
            leader: true,
        })
        .await
        .and_then(|r| r)
        .map_err(|e| peer_error(&e))
}

/// What a fetcher follows.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Follow {
    leader: i32,
    leader_epoch: i32,
    leader_addr: String,
}

fn wanted(state: &ClusterState, me: i32) -> HashMap<TopicPartition, Follow> {
    let mut out = HashMap::new();
    for topic in state.topics.values() {
        for p in &topic.partitions {
            if p.leader == me || p.leader < 0 || !p.replicas.contains(&me) {
                continue;
            }
            let Some(leader) = state.members.get(&p.leader) else {
                continue;
            };
            out.insert(
                TopicPartition::new(&topic.name, p.index),
                Follow {
                    leader: p.leader,
                    leader_epoch: p.leader_epoch,
                    leader_addr: leader.peer_addr.clone(),
                },
            );
        }
    }
    out
}

/// Keeps one fetcher per followed partition in step with the applied metadata.
pub async fn run_fetchers(cluster: Arc<Cluster>, broker: Arc<Broker>) {
    let me = cluster.node_id();
    let mut states = cluster.subscribe();
    let mut running: HashMap<TopicPartition, (Follow, actix_rt::task::JoinHandle<()>)> =
        HashMap::new();
    loop {
        let state = states.borrow_and_update().clone();
        let want = wanted(&state, me);
        running.retain(|tp, (follow, task)| {
            let keep = want.get(tp) == Some(follow);
            if !keep {
                task.abort();
            }
            keep
        });
        for (tp, follow) in want {
            if running.contains_key(&tp) {
                continue;
            }
            let task = actix_rt::spawn(fetch_loop(me, tp.clone(), follow.clone(), broker.clone()));
            running.insert(tp, (follow, task));
        }
        if states.changed().await.is_err() {
            for (_, (_, task)) in running {
                task.abort();
            }
            return;
        }
    }
}

/// Follower side: truncate to the leader's epoch end, then fetch and append, forever (the
/// task is aborted when leadership changes).
async fn fetch_loop(me: i32, tp: TopicPartition, follow: Follow, broker: Arc<Broker>) {
    let client = PeerClient::new(follow.leader_addr.clone());
    let timeout = Duration::from_millis(u64::from(FETCH_WAIT_MS) + 5_000);
    tracing::info!(partition = %tp, leader = follow.leader, epoch = follow.leader_epoch, "following");
    'session: loop {
        // The local replica may not have started, or not yet learned its role.
        let Some(handle) = broker.partition(&tp.topic, tp.partition) else {
            tokio::time::sleep(RETRY).await;
            continue;
        };
        if let Err(e) =
            truncate_to_leader(&client, &handle, &tp, follow.leader_epoch, timeout).await
        {
            tracing::debug!(partition = %tp, error = %e, "truncation check failed; retrying");
            tokio::time::sleep(RETRY).await;
            continue;
        }
        let mut offset = match handle.send(LastEpoch).await.and_then(|r| r) {
            Ok((_, end)) => end,
            Err(_) => {
                tokio::time::sleep(RETRY).await;
                continue;
            }
        };
        loop {
            let req = PeerRequest::ReplicaFetch(ReplicaFetchRequest {
                topic: tp.topic.clone(),
                partition: tp.partition,
                replica: me,
                leader_epoch: follow.leader_epoch,
                offset,
                max_bytes: FETCH_BYTES_MAX,
                max_wait_ms: FETCH_WAIT_MS,
            });
            let data = match client.call(&req, timeout).await {
                Ok(PeerResponse::ReplicaFetched(Ok(data))) => data,
                Ok(PeerResponse::ReplicaFetched(Err(e))) => {
                    tracing::debug!(partition = %tp, code = e.code, error = %e.message, "replica fetch refused");
                    tokio::time::sleep(RETRY).await;
                    // An out-of-range offset means our log diverged: check again.
                    continue 'session;
                }
                Ok(other) => {
                    tracing::warn!(partition = %tp, answer = ?other, "unexpected fetch answer");
                    tokio::time::sleep(RETRY).await;
                    continue;
                }
                Err(e) => {
                    tracing::debug!(partition = %tp, error = %e, "leader unreachable");
                    tokio::time::sleep(RETRY).await;
                    continue;
                }
            };
            let append = AppendReplica {
                leader_epoch: follow.leader_epoch,
                records: Bytes::from(data.records),
                leader_high_watermark: data.high_watermark,
                leader_log_start_offset: data.log_start_offset,
            };
            match handle.send(append).await.and_then(|r| r) {
                Ok(end) => offset = end,
                Err(e) => {
                    tracing::debug!(partition = %tp, error = %e, "replica append refused; retrying");
                    tokio::time::sleep(RETRY).await;
                    continue 'session;
                }
            }
        }
    }
}

/// Kafka's truncation (KIP-101/279): ask the leader for the largest epoch at or below our
/// last one and where it ends there; if the leader does not hold our last epoch, compare
/// with where that older epoch ends in our own log; drop everything past the smaller end,
/// and repeat until the log agrees with the leader's (a few rounds at most).
async fn truncate_to_leader(
    client: &PeerClient,
    handle: &PartitionHandle,
    tp: &TopicPartition,
    leader_epoch: i32,
    timeout: Duration,
) -> Result<(), String> {
    for _ in 0..TRUNCATION_ROUNDS_MAX {
        let (last_epoch, end) = handle
            .send(LastEpoch)
            .await
            .and_then(|r| r)
            .map_err(|e| e.to_string())?;
        if last_epoch < 0 {
            return Ok(());
        }
        let req = PeerRequest::EpochEndOffset {
            topic: tp.topic.clone(),
            partition: tp.partition,
            epoch: last_epoch,
        };
        let (leader_has, leader_end) = match client
            .call(&req, timeout)
            .await
            .map_err(|e| e.to_string())?
        {
            PeerResponse::EpochEnd(Ok(answer)) => answer,
            PeerResponse::EpochEnd(Err(e)) => return Err(e.message),
            other => return Err(format!("unexpected answer {other:?}")),
        };
        let keep = if leader_has == last_epoch || leader_has < 0 {
            leader_end.min(end)
        } else {
            // The leader never had our last epoch: keep what we hold of its older one.
            let (_, own_end) = handle
                .send(EpochEndOffset {
                    epoch: leader_has,
                    leader: false,
                })
                .await
                .and_then(|r| r)
                .map_err(|e| e.to_string())?;
            leader_end.min(own_end)
        };
        if keep >= end {
            return Ok(());
        }
        handle
            .send(TruncateTo {
                leader_epoch,
                offset: keep,
            })
            .await
            .and_then(|r| r)
            .map_err(|e| e.to_string())?;
    }
    Err(format!("{tp}: the log still disagrees with the leader after {TRUNCATION_ROUNDS_MAX} truncation rounds"))
}
