//! Interactive queries: which task owns a key, what a query needs of a running
//! application, and why a query got no answer.

use std::sync::Arc;
use std::time::Duration;

use actix::Addr;
use eddy_topologies::{StoreKind, StoreLookup, StoreSerdeError, TaskError, TaskId, Topology};

use crate::stream_task::QueryStore;
use crate::topology_supervisor::TopologySupervisor;
use eddy_client::partition_for_key;

/// How long an interactive query waits for the task that owns the key: a task answers
/// between two batches of input, but not while it waits for the cluster to acknowledge a
/// commit.
pub const QUERY_WAIT_MS_MAX: u64 = 5_000;

/// Why an interactive query got no answer. `is_retriable` says whether asking again later
/// may succeed (a task restoring or restarting); the HTTP status derives from the variant.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The topology has no store by that name.
    #[error("application '{application}' has no state store '{store}' (its stores: {known})")]
    UnknownStore {
        /// The application id.
        application: String,
        /// The store asked for.
        store: String,
        /// The topology's stores, comma-separated.
        known: String,
    },
    /// `query` was asked of a window or session store, or `query_windows` of a key-value
    /// store.
    #[error("store '{store}' is not a {expected} store; use {instead}")]
    WrongStoreKind {
        /// The store.
        store: String,
        /// The kind the call reads: "key-value" or "window or session".
        expected: &'static str,
        /// The call that reads it.
        instead: &'static str,
    },
    /// The store is an operator's buffer (suppression, join), not a table.
    #[error("store '{store}' is an operator's buffer and cannot be queried")]
    NotQueryable {
        /// The store.
        store: String,
    },
    /// The task owning the key is not processing: restoring, restarting, failed, stopped.
    #[error("task {task}, which owns the key, is {state}; try again later")]
    NotRunning {
        /// The task owning the key.
        task: TaskId,
        /// What it is doing instead.
        state: &'static str,
    },
    /// The task has too many queries waiting.
    #[error("task {task} has {pending} queries waiting; try again later")]
    Busy {
        /// The task owning the key.
        task: TaskId,
        /// The bound that was reached.
        pending: usize,
    },
    /// Another instance of the application runs the task owning the key; `host` is its
    /// `application.server` (`None`: it serves no queries).
    #[error("task {task}, which owns the key, runs in another instance of the application{}", match host { Some(h) => format!(", which serves queries on {h}"), None => " that serves no queries (give it application.server)".to_string() })]
    NotLocal {
        /// The task owning the key.
        task: TaskId,
        /// Where its instance serves queries.
        host: Option<String>,
    },
    /// The task did not answer in time.
    #[error("task {task} did not answer within {waited_ms} ms")]
    Timeout {
        /// The task owning the key.
        task: TaskId,
        /// How long the query waited.
        waited_ms: u64,
    },
    /// The store failed to read.
    #[error("task {task} could not read store '{store}': {error}")]
    Store {
        /// The task owning the key.
        task: TaskId,
        /// The store.
        store: String,
        /// The store's error.
        error: TaskError,
    },
    /// The typed helper's key or value did not match the store's serdes.
    #[error(transparent)]
    Serde(#[from] StoreSerdeError),
}

impl QueryError {
    /// Whether the same query may succeed later.
    pub fn is_retriable(&self) -> bool {
        match self {
            QueryError::NotRunning { state, .. } => *state != TASK_FAILED,
            QueryError::Busy { .. } | QueryError::Timeout { .. } => true,
            QueryError::Store { error, .. } => error.is_retriable(),
            _ => false,
        }
    }

    /// The error of a task's failed store read.
    pub(crate) fn from_task(task: TaskId, store: &str, error: TaskError) -> QueryError {
        match error {
            TaskError::NotQueryable { store } => QueryError::NotQueryable { store },
            error => QueryError::Store {
                task,
                store: store.to_string(),
                error,
            },
        }
    }
}

/// `QueryError::NotRunning`'s state of a task past its restart intensity.
pub(crate) const TASK_FAILED: &str = "failed (past its restart intensity)";

/// The task that owns `key` (its key serde's bytes) in the store `store`: the store's
/// sub-topology, at the partition Kafka's default partitioner picks for the key among
/// that sub-topology's partitions — where the key's records went, so where its state is.
pub fn task_for_key(
    topology: &Topology,
    application: &str,
    tasks: &[TaskId],
    store: &str,
    key: &[u8],
) -> Result<(TaskId, StoreKind), QueryError> {
    let (subtopology, kind) = topology
        .store_owner(store)
        .ok_or_else(|| unknown_store(topology, application, store))?;
    let partitions = tasks
        .iter()
        .filter(|t| t.subtopology == subtopology)
        .count();
    let partitions = i32::try_from(partitions).unwrap_or(i32::MAX).max(1);
    let task = TaskId {
        subtopology,
        partition: partition_for_key(key, partitions),
    };
    Ok((task, kind))
}

pub(crate) fn unknown_store(topology: &Topology, application: &str, store: &str) -> QueryError {
    QueryError::UnknownStore {
        application: application.to_string(),
        store: store.to_string(),
        known: topology.store_names().join(", "),
    }
}

/// What an interactive query needs of a running application; cloned into the query
/// server.
#[derive(Clone)]
pub(crate) struct StoreQueries {
    pub(crate) application_id: String,
    pub(crate) topology: Topology,
    pub(crate) tasks: Arc<[TaskId]>,
    pub(crate) supervisor: Addr<TopologySupervisor>,
}

impl StoreQueries {
    /// What the store `store` holds for `key`, read by the task that owns the key.
    pub(crate) async fn lookup(&self, store: &str, key: &[u8]) -> Result<StoreLookup, QueryError> {
        let (task, _) = task_for_key(
            &self.topology,
            &self.application_id,
            &self.tasks,
            store,
            key,
        )?;
        let ask = self.supervisor.send(QueryStore {
            task,
            store: store.to_string(),
            key: key.to_vec(),
        });
        match tokio::time::timeout(Duration::from_millis(QUERY_WAIT_MS_MAX), ask).await {
            Err(_) => Err(QueryError::Timeout {
                task,
                waited_ms: QUERY_WAIT_MS_MAX,
            }),
            Ok(Err(_)) => Err(QueryError::NotRunning {
                task,
                state: "stopped",
            }),
            Ok(Ok(answer)) => answer,
        }
    }

    pub(crate) fn application_id(&self) -> &str {
        &self.application_id
    }

    pub(crate) fn topology(&self) -> &Topology {
        &self.topology
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use eddy_topologies::StreamsBuilder;

    /// Words re-keyed and counted: the count store lives in sub-topology 1, behind a
    /// repartition topic; sub-topology 0 has no store.
    fn word_count() -> Topology {
        let builder = StreamsBuilder::new();
        builder
            .stream::<String, String>("lines")
            .group_by(|_, word| word.clone())
            .count()
            .named("counts");
        builder.build().expect("topology builds")
    }

    fn tasks(partitions: i32) -> Vec<TaskId> {
        (0..2)
            .flat_map(|subtopology| {
                (0..partitions).map(move |partition| TaskId {
                    subtopology,
                    partition,
                })
            })
            .collect()
    }

    #[test]
    fn a_key_is_routed_to_the_task_its_records_were_partitioned_to() {
        let topology = word_count();
        assert_eq!(topology.store_owner("counts").map(|(s, _)| s), Some(1));
        for partitions in [1, 3, 8] {
            let tasks = tasks(partitions);
            for word in ["kafka", "streams", "", "héllo", "foobar"] {
                let (task, kind) =
                    task_for_key(&topology, "wc", &tasks, "counts", word.as_bytes()).unwrap();
                assert_eq!(kind, StoreKind::KeyValue);
                assert_eq!(
                    task,
                    TaskId {
                        subtopology: 1,
                        // Where the producer's default partitioner sent the word's records.
                        partition: partition_for_key(word.as_bytes(), partitions),
                    }
                );
            }
        }
        // Kafka's murmur2 of "foobar" is 1357151166, so with 10 partitions: partition 6.
        let (task, _) = task_for_key(&topology, "wc", &tasks(10), "counts", b"foobar").unwrap();
        assert_eq!(task.partition, 6);
        let err = task_for_key(&topology, "wc", &tasks(1), "nope", b"k").unwrap_err();
        assert!(matches!(err, QueryError::UnknownStore { .. }), "{err}");
        assert!(err.to_string().contains("its stores: counts"), "{err}");
        assert!(!err.is_retriable());
    }
}
