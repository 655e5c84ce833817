//! The topics an application needs, checked and made before any task starts, as Kafka
//! Streams does:
//! - every source topic must exist, or the start fails naming all missing ones (Kafka's
//!   `MissingSourceTopicException`). The check reads metadata with
//!   `allow_auto_topic_creation` off, so a cluster that auto-creates topics does not
//!   create a misspelt source topic behind the user's back;
//! - a missing sink (output) topic is created the way the application's producer would
//!   create it on its first record — through a producer's metadata request, so only where
//!   the cluster auto-creates topics (`auto.create.topics.enable`) — and otherwise the
//!   start fails naming it, instead of tasks retrying a topic that will never come;
//! - repartition and changelog topics are created with as many partitions as the largest
//!   source topic (changelogs compacted). For an application deployed to the cluster
//!   (`co_place`), partition *i* of each is put on the replicas of that source topic's
//!   partition *i*, its current leader first ([`co_placed`]): a sub-topology's tasks of
//!   partition *i* then all sit on one node, beside their inputs and their changelogs.

use std::collections::{BTreeMap, BTreeSet};

use eddy_client::{Admin, ClientError, Producer, ProducerConfig, ResponseError};
use eddy_topologies::{InternalTopic, InternalTopicKind, NodeKind, TaskId, Topology};

use super::StreamsError;

/// How many times the sink check's producer asks for a missing topic's metadata: a topic
/// auto-created by the first request may need another before it has partitions.
const SINK_METADATA_RETRIES_MAX: u32 = 5;

/// What `prepare` found and made.
pub(crate) struct Prepared {
    /// One task per (sub-topology, partition).
    pub(crate) tasks: Vec<TaskId>,
    /// The repartition and changelog topics.
    pub(crate) internal: Vec<InternalTopic>,
    /// The sink topics this start created (auto-created by the cluster).
    pub(crate) created_sinks: Vec<String>,
}

/// Checks the source topics, creates the missing sink and internal topics, and returns
/// the application's tasks.
pub(crate) async fn prepare(
    topology: &Topology,
    app: &str,
    bootstrap: &str,
    replication_factor: i16,
    co_place: bool,
) -> Result<Prepared, StreamsError> {
    let mut admin = Admin::connect(bootstrap).await?;
    // Every topic's metadata at once: a Metadata request for all topics never creates one.
    let mut counts = partition_counts(&mut admin).await?;
    let internal = topology.internal_topics(app);
    let is_internal = |topic: &str| internal.iter().any(|t| t.name == topic);
    let sources: BTreeSet<String> = (0..topology.subtopology_count() as u32)
        .flat_map(|s| topology.source_topics(s, app))
        .filter(|t| !is_internal(t))
        .collect();
    let missing: Vec<String> = sources
        .iter()
        .filter(|t| !counts.contains_key(*t))
        .cloned()
        .collect();
    if !missing.is_empty() {
        return Err(StreamsError::MissingSourceTopics { topics: missing });
    }
    let user_max = sources
        .iter()
        .filter_map(|t| counts.get(t))
        .copied()
        .max()
        .unwrap_or(1);
    let missing_sinks: Vec<String> = sink_topics(topology, app)
        .into_iter()
        .filter(|t| !is_internal(t) && !counts.contains_key(t))
        .collect();
    let created_sinks = create_sinks(bootstrap, &missing_sinks).await?;
    // The source topic whose partitions the internal topics follow, when co-placed.
    let anchor = sources
        .iter()
        .find(|t| counts.get(*t) == Some(&user_max))
        .cloned();
    let assignment = match (co_place, anchor) {
        (true, Some(anchor)) => {
            let described = admin.describe_topics(&[anchor.as_str()]).await?;
            described
                .first()
                .and_then(|t| co_placed(&t.partitions, replication_factor))
        }
        _ => None,
    };
    for t in &internal {
        if counts.contains_key(&t.name) {
            continue;
        }
        let configs = match t.kind {
            InternalTopicKind::Changelog => {
                vec![("cleanup.policy".to_string(), "compact".to_string())]
            }
            InternalTopicKind::Repartition => Vec::new(),
        };
        // Kafka Streams' `replication.factor`; -1: the cluster's default.replication.factor.
        let created = match &assignment {
            Some(assignment) => {
                admin
                    .create_topic_assigned(&t.name, assignment, &configs)
                    .await
            }
            None => {
                admin
                    .create_topic(&t.name, user_max, replication_factor, &configs)
                    .await
            }
        };
        match created {
            Ok(()) => {}
            Err(err) if err.kafka_error() == Some(ResponseError::TopicAlreadyExists) => {}
            Err(err) => return Err(err.into()),
        }
    }
    counts = partition_counts(&mut admin).await?;
    let mut tasks = Vec::new();
    for s in 0..topology.subtopology_count() as u32 {
        let partitions = topology
            .source_topics(s, app)
            .iter()
            .filter_map(|t| counts.get(t))
            .copied()
            .max()
            .unwrap_or(1);
        tasks.extend((0..partitions).map(|partition| TaskId {
            subtopology: s,
            partition,
        }));
    }
    Ok(Prepared {
        tasks,
        internal,
        created_sinks,
    })
}

/// The replica assignment that puts partition *i* of a new topic on the replicas of
/// `partitions[i]` (another topic's), its current leader first (so it leads both), with
/// `replication_factor` replicas; `None` (placement decides) when a partition has no
/// leader or fewer replicas than asked, or the factor is the cluster default (-1).
pub(crate) fn co_placed(
    partitions: &[eddy_client::PartitionInfo],
    replication_factor: i16,
) -> Option<Vec<Vec<i32>>> {
    let factor = usize::try_from(replication_factor).ok()?;
    let mut sorted: Vec<&eddy_client::PartitionInfo> = partitions.iter().collect();
    sorted.sort_by_key(|p| p.partition);
    sorted
        .iter()
        .enumerate()
        .map(|(i, p)| {
            if p.partition != i as i32 || p.leader < 0 || p.replicas.len() < factor {
                return None;
            }
            let mut replicas = vec![p.leader];
            replicas.extend(p.replicas.iter().filter(|r| **r != p.leader));
            replicas.truncate(factor);
            Some(replicas)
        })
        .collect()
}

/// The topics the topology's sinks write, internal ones with the application id prefix.
fn sink_topics(topology: &Topology, app: &str) -> BTreeSet<String> {
    let internal: BTreeSet<String> = topology
        .internal_topics(app)
        .into_iter()
        .map(|t| t.name)
        .collect();
    topology
        .describe()
        .subtopologies
        .into_iter()
        .flat_map(|s| s.nodes)
        .filter_map(|n| match n.kind {
            // The description names internal topics without the prefix.
            NodeKind::Sink { topic } => {
                let prefixed = format!("{app}-{topic}");
                Some(if internal.contains(&prefixed) {
                    prefixed
                } else {
                    topic
                })
            }
            _ => None,
        })
        .collect()
}

/// Asks for the missing sink topics as a producer does (so the cluster creates them if it
/// auto-creates topics); fails naming those that still do not exist.
async fn create_sinks(bootstrap: &str, missing: &[String]) -> Result<Vec<String>, StreamsError> {
    if missing.is_empty() {
        return Ok(Vec::new());
    }
    let config = ProducerConfig {
        retries_max: SINK_METADATA_RETRIES_MAX,
        ..ProducerConfig::default()
    };
    let mut producer = Producer::connect(bootstrap, config).await?;
    let mut still_missing = Vec::new();
    for topic in missing {
        match producer.partition_count(topic).await {
            Ok(_) => {}
            Err(err) if err.kafka_error() == Some(ResponseError::UnknownTopicOrPartition) => {
                still_missing.push(topic.clone());
            }
            Err(err) => return Err(err.into()),
        }
    }
    if !still_missing.is_empty() {
        return Err(StreamsError::MissingSinkTopics {
            topics: still_missing,
        });
    }
    Ok(missing.to_vec())
}

async fn partition_counts(admin: &mut Admin) -> Result<BTreeMap<String, i32>, ClientError> {
    Ok(admin
        .list_topics()
        .await?
        .into_iter()
        .map(|t| (t.name.clone(), t.partitions.len() as i32))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use eddy_client::PartitionInfo;

    fn partition(partition: i32, leader: i32, replicas: &[i32]) -> PartitionInfo {
        PartitionInfo {
            partition,
            leader,
            leader_epoch: 0,
            replicas: replicas.to_vec(),
            isr: replicas.to_vec(),
            error_code: 0,
        }
    }

    #[test]
    fn internal_partitions_follow_the_sources_replicas_leader_first() {
        let source = [partition(1, 3, &[1, 2, 3]), partition(0, 2, &[2, 3, 1])];
        assert_eq!(
            co_placed(&source, 3),
            Some(vec![vec![2, 3, 1], vec![3, 1, 2]])
        );
        assert_eq!(co_placed(&source, 1), Some(vec![vec![2], vec![3]]));
        assert_eq!(
            co_placed(&source, 4),
            None,
            "more replicas than the source has"
        );
        assert_eq!(
            co_placed(&source, -1),
            None,
            "the cluster's default: unknown here"
        );
        let leaderless = [partition(0, -1, &[1, 2])];
        assert_eq!(co_placed(&leaderless, 2), None);
    }
}
