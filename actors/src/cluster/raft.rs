//! openraft's storage for the metadata quorum: the log store and the state machine, both
//! on the node's fjall database (`store::RaftStore`), encoded with postcard. The state
//! machine applies [`Command`]s to [`ClusterState`] and publishes every new state through a
//! `watch` channel, which is how the rest of the node learns about topics, leaders and ISRs.

// openraft's traits fix the error type (`StorageError`, ~224 bytes); the helpers return it too.
#![allow(clippy::result_large_err)]

use std::fmt::Debug;
use std::io::Cursor;
use std::ops::{Bound, RangeBounds};
use std::sync::Arc;

use openraft::storage::{LogFlushed, LogState, RaftLogStorage, RaftStateMachine, Snapshot};
use openraft::{
    AnyError, BasicNode, Entry, EntryPayload, LogId, OptionalSend, RaftLogReader,
    RaftSnapshotBuilder, SnapshotMeta, StorageError, StorageIOError, StoredMembership, Vote,
};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::state::{ClusterState, Command, Outcome};
use crate::store::{raft_keys, RaftStore};

openraft::declare_raft_types!(
    /// The metadata quorum's types: commands in, outcomes out, nodes named by peer address.
    pub TypeConfig:
        D = Command,
        R = Outcome,
        NodeId = u64,
        Node = BasicNode,
);

/// A Raft handle for the metadata quorum.
pub type MetadataRaft = openraft::Raft<TypeConfig>;
/// The storage error type of this config.
pub type RaftStorageError = StorageError<u64>;

fn io_err(e: impl ToString) -> RaftStorageError {
    StorageIOError::write(AnyError::error(e.to_string())).into()
}

fn read_err(e: impl ToString) -> RaftStorageError {
    StorageIOError::read(AnyError::error(e.to_string())).into()
}

/// Runs a storage call that fsyncs on the blocking pool: the Raft core shares its thread
/// with the node's connections, which must not wait for the disk.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> crate::error::ActorResult<T> + Send + 'static,
) -> Result<T, RaftStorageError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(io_err)?
        .map_err(io_err)
}

fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, RaftStorageError> {
    postcard::from_bytes(bytes).map_err(read_err)
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, RaftStorageError> {
    postcard::to_stdvec(value).map_err(io_err)
}

/// The Raft log on fjall.
#[derive(Clone)]
pub struct LogStore {
    store: RaftStore,
}

impl LogStore {
    /// A log store over the node's Raft keyspaces.
    pub fn new(store: RaftStore) -> Self {
        LogStore { store }
    }

    fn meta<T: for<'de> Deserialize<'de>>(&self, key: &str) -> Result<Option<T>, RaftStorageError> {
        match self.store.get(key).map_err(read_err)? {
            Some(bytes) => decode(&bytes).map(Some),
            None => Ok(None),
        }
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry<TypeConfig>>, RaftStorageError> {
        let from = match range.start_bound() {
            Bound::Included(i) => *i,
            Bound::Excluded(i) => i.saturating_add(1),
            Bound::Unbounded => 0,
        };
        let to = match range.end_bound() {
            Bound::Included(i) => i.saturating_add(1),
            Bound::Excluded(i) => *i,
            Bound::Unbounded => u64::MAX,
        };
        self.store
            .range(from, to)
            .map_err(read_err)?
            .iter()
            .map(|(_, bytes)| decode(bytes))
            .collect()
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, RaftStorageError> {
        let last_purged: Option<LogId<u64>> = self.meta(raft_keys::PURGED)?;
        let last = match self.store.last().map_err(read_err)? {
            Some(bytes) => Some(decode::<Entry<TypeConfig>>(&bytes)?.log_id),
            None => last_purged,
        };
        Ok(LogState {
            last_purged_log_id: last_purged,
            last_log_id: last,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<u64>) -> Result<(), RaftStorageError> {
        let (store, bytes) = (self.store.clone(), encode(vote)?);
        blocking(move || store.put(raft_keys::VOTE, &bytes)).await
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<u64>>, RaftStorageError> {
        self.meta(raft_keys::VOTE)
    }

    async fn save_committed(
        &mut self,
        committed: Option<LogId<u64>>,
    ) -> Result<(), RaftStorageError> {
        self.store
            .put_lazy(raft_keys::COMMITTED, &encode(&committed)?)
            .map_err(io_err)
    }

    async fn read_committed(&mut self) -> Result<Option<LogId<u64>>, RaftStorageError> {
        Ok(self
            .meta::<Option<LogId<u64>>>(raft_keys::COMMITTED)?
            .flatten())
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), RaftStorageError>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut rows = Vec::new();
        for entry in entries {
            rows.push((entry.log_id.index, encode(&entry)?));
        }
        let store = self.store.clone();
        let result = blocking(move || store.append(&rows)).await;
        callback.log_io_completed(
            result
                .as_ref()
                .map(|_| ())
                .map_err(|e| std::io::Error::other(e.to_string())),
        );
        result
    }

    async fn truncate(&mut self, log_id: LogId<u64>) -> Result<(), RaftStorageError> {
        let store = self.store.clone();
        blocking(move || store.truncate_from(log_id.index)).await
    }

    async fn purge(&mut self, log_id: LogId<u64>) -> Result<(), RaftStorageError> {
        let (store, bytes) = (self.store.clone(), encode(&log_id)?);
        blocking(move || {
            store.put(raft_keys::PURGED, &bytes)?;
            store.purge_upto(log_id.index)
        })
        .await
    }
}

/// What the state machine persists (and what a snapshot carries).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Applied {
    last_applied: Option<LogId<u64>>,
    membership: StoredMembership<u64, BasicNode>,
    state: ClusterState,
}

/// `ClusterState` as the first release stored it, before deployments and catalogs: the
/// same fields in the same order, so postcard reads its bytes.
#[derive(Deserialize)]
#[cfg_attr(test, derive(Serialize))]
struct LegacyClusterState {
    cluster_id: String,
    members: std::collections::BTreeMap<i32, super::state::Member>,
    topics: std::collections::BTreeMap<String, crate::store::TopicRecord>,
    next_uid: u64,
    next_producer_id: i64,
    group_offsets: std::collections::BTreeMap<
        String,
        std::collections::BTreeMap<(String, i32), crate::store::CommittedOffset>,
    >,
}

/// `Applied` as the first release stored it (and sent it in snapshots).
#[derive(Deserialize)]
#[cfg_attr(test, derive(Serialize))]
struct LegacyApplied {
    last_applied: Option<LogId<u64>>,
    membership: StoredMembership<u64, BasicNode>,
    state: LegacyClusterState,
}

impl From<LegacyApplied> for Applied {
    fn from(old: LegacyApplied) -> Self {
        let state = old.state;
        Applied {
            last_applied: old.last_applied,
            membership: old.membership,
            state: ClusterState {
                cluster_id: state.cluster_id,
                members: state.members,
                topics: state.topics,
                next_uid: state.next_uid,
                next_producer_id: state.next_producer_id,
                group_offsets: state.group_offsets,
                deployments: Default::default(),
                catalogs: Default::default(),
                coordinators: Default::default(),
                pinned: Default::default(),
                colocations: Default::default(),
                reassignments: Default::default(),
                racks: Default::default(),
            },
        }
    }
}

/// `ClusterState` as the second release stored it: before co-location groups and
/// reassignments.
#[derive(Deserialize)]
#[cfg_attr(test, derive(Serialize))]
struct SecondClusterState {
    cluster_id: String,
    members: std::collections::BTreeMap<i32, super::state::Member>,
    topics: std::collections::BTreeMap<String, crate::store::TopicRecord>,
    next_uid: u64,
    next_producer_id: i64,
    group_offsets: std::collections::BTreeMap<
        String,
        std::collections::BTreeMap<(String, i32), crate::store::CommittedOffset>,
    >,
    deployments: std::collections::BTreeMap<String, crate::store::DeploymentRecord>,
    catalogs: std::collections::BTreeMap<i32, Vec<String>>,
    coordinators: std::collections::BTreeMap<String, i32>,
    pinned: std::collections::BTreeSet<String>,
}

/// `Applied` as the second release stored it.
#[derive(Deserialize)]
#[cfg_attr(test, derive(Serialize))]
struct SecondApplied {
    last_applied: Option<LogId<u64>>,
    membership: StoredMembership<u64, BasicNode>,
    state: SecondClusterState,
}

impl From<SecondApplied> for Applied {
    fn from(old: SecondApplied) -> Self {
        let state = old.state;
        Applied {
            last_applied: old.last_applied,
            membership: old.membership,
            state: ClusterState {
                cluster_id: state.cluster_id,
                members: state.members,
                topics: state.topics,
                next_uid: state.next_uid,
                next_producer_id: state.next_producer_id,
                group_offsets: state.group_offsets,
                deployments: state.deployments,
                catalogs: state.catalogs,
                coordinators: state.coordinators,
                pinned: state.pinned,
                colocations: Default::default(),
                reassignments: Default::default(),
                racks: Default::default(),
            },
        }
    }
}

/// Decodes a stored (or received) applied state: the current format, else the second
/// release's, else the first's — each older one's bytes end before the fields added since
/// (postcard then runs out of input), and is converted with those fields empty. A data dir
/// of an earlier version thus loses nothing.
fn decode_applied(bytes: &[u8]) -> Result<Applied, RaftStorageError> {
    let current = match postcard::from_bytes::<Applied>(bytes) {
        Ok(applied) => return Ok(applied),
        Err(err) => err,
    };
    if let Ok(second) = postcard::from_bytes::<SecondApplied>(bytes) {
        return Ok(second.into());
    }
    match postcard::from_bytes::<LegacyApplied>(bytes) {
        Ok(old) => Ok(old.into()),
        // None: report the current format's error, the one a reader expects.
        Err(_) => Err(read_err(current)),
    }
}

/// The metadata state machine on fjall.
pub struct StateMachine {
    store: RaftStore,
    applied: Applied,
    snapshot: Option<(SnapshotMeta<u64, BasicNode>, Vec<u8>)>,
    publish: watch::Sender<Arc<ClusterState>>,
}

impl StateMachine {
    /// Loads the applied state from fjall (empty on a new node); `publish` receives every
    /// state after it changes, starting with the loaded one.
    pub fn load(
        store: RaftStore,
        publish: watch::Sender<Arc<ClusterState>>,
    ) -> Result<Self, RaftStorageError> {
        let applied: Applied = match store.get(raft_keys::STATE_MACHINE).map_err(read_err)? {
            Some(bytes) => decode_applied(&bytes)?,
            None => Applied::default(),
        };
        publish.send_replace(Arc::new(applied.state.clone()));
        Ok(StateMachine {
            store,
            applied,
            snapshot: None,
            publish,
        })
    }

    fn persist(&self) -> Result<(), RaftStorageError> {
        self.store
            .put_lazy(raft_keys::STATE_MACHINE, &encode(&self.applied)?)
            .map_err(io_err)
    }

    fn snapshot_of(&self) -> Result<Snapshot<TypeConfig>, RaftStorageError> {
        let bytes = encode(&self.applied)?;
        let meta = SnapshotMeta {
            last_log_id: self.applied.last_applied,
            last_membership: self.applied.membership.clone(),
            snapshot_id: format!(
                "{}",
                self.applied.last_applied.map(|l| l.index).unwrap_or(0)
            ),
        };
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(bytes)),
        })
    }
}

/// Builds snapshots from a copy of the applied state.
pub struct SnapshotBuilder {
    snapshot: Result<Snapshot<TypeConfig>, String>,
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, RaftStorageError> {
        match &self.snapshot {
            Ok(s) => Ok(Snapshot {
                meta: s.meta.clone(),
                snapshot: Box::new(Cursor::new(s.snapshot.get_ref().clone())),
            }),
            Err(e) => Err(io_err(e)),
        }
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogId<u64>>, StoredMembership<u64, BasicNode>), RaftStorageError> {
        Ok((self.applied.last_applied, self.applied.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Outcome>, RaftStorageError>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut out = Vec::new();
        let mut changed = false;
        for entry in entries {
            self.applied.last_applied = Some(entry.log_id);
            match entry.payload {
                EntryPayload::Blank => out.push(Outcome::Done),
                EntryPayload::Normal(cmd) => {
                    out.push(self.applied.state.apply(cmd));
                    changed = true;
                }
                EntryPayload::Membership(m) => {
                    self.applied.membership = StoredMembership::new(Some(entry.log_id), m);
                    out.push(Outcome::Done);
                }
            }
        }
        self.persist()?;
        if changed {
            self.publish
                .send_replace(Arc::new(self.applied.state.clone()));
        }
        Ok(out)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        SnapshotBuilder {
            snapshot: self.snapshot_of().map_err(|e| e.to_string()),
        }
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, RaftStorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<u64, BasicNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), RaftStorageError> {
        let bytes = snapshot.into_inner();
        let applied = decode_applied(&bytes)?;
        self.applied = Applied {
            last_applied: meta.last_log_id,
            membership: meta.last_membership.clone(),
            state: applied.state,
        };
        self.persist()?;
        self.snapshot = Some((meta.clone(), bytes));
        self.publish
            .send_replace(Arc::new(self.applied.state.clone()));
        Ok(())
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> Result<Option<Snapshot<TypeConfig>>, RaftStorageError> {
        // The applied state is always a valid snapshot of everything up to `last_applied`:
        // a leader that purged its log sends it to a follower that needs older entries.
        if self.applied.last_applied.is_some() {
            return self.snapshot_of().map(Some);
        }
        match &self.snapshot {
            Some((meta, bytes)) => Ok(Some(Snapshot {
                meta: meta.clone(),
                snapshot: Box::new(Cursor::new(bytes.clone())),
            })),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::cluster::{Command, Member};

    fn member(node_id: i32) -> Member {
        Member {
            node_id,
            kafka_host: "127.0.0.1".into(),
            kafka_port: 9092,
            peer_addr: "127.0.0.1:9500".into(),
            fenced: false,
            decommissioning: false,
        }
    }

    #[test]
    fn a_state_of_the_first_release_still_loads() {
        let log_id = LogId::new(openraft::CommittedLeaderId::new(3, 1), 42);
        let old = LegacyApplied {
            last_applied: Some(log_id),
            membership: StoredMembership::default(),
            state: LegacyClusterState {
                cluster_id: "c1".into(),
                members: BTreeMap::from([(1, member(1))]),
                topics: BTreeMap::new(),
                next_uid: 7,
                next_producer_id: 11,
                group_offsets: BTreeMap::new(),
            },
        };
        let bytes = postcard::to_stdvec(&old).expect("encode");
        assert!(
            postcard::from_bytes::<Applied>(&bytes).is_err(),
            "the old bytes do not read as the current format, so the fallback is needed"
        );
        let applied = decode_applied(&bytes).expect("decode through the fallback");
        assert_eq!(applied.last_applied, Some(log_id));
        assert_eq!(applied.state.cluster_id, "c1");
        assert_eq!(applied.state.members[&1], member(1));
        assert_eq!(
            (applied.state.next_uid, applied.state.next_producer_id),
            (7, 11)
        );
        assert!(applied.state.deployments.is_empty() && applied.state.catalogs.is_empty());
    }

    #[test]
    fn a_state_of_the_second_release_still_loads_with_its_deployments() {
        let old = SecondApplied {
            last_applied: None,
            membership: StoredMembership::default(),
            state: SecondClusterState {
                cluster_id: "c2".into(),
                members: BTreeMap::from([(1, member(1))]),
                topics: BTreeMap::new(),
                next_uid: 3,
                next_producer_id: 4,
                group_offsets: BTreeMap::new(),
                deployments: BTreeMap::from([(
                    "wc".to_string(),
                    crate::store::DeploymentRecord {
                        application_id: "wc".into(),
                        topology: "wordcount".into(),
                        configs: BTreeMap::new(),
                        deployed_at_ms: 5,
                    },
                )]),
                catalogs: BTreeMap::from([(1, vec!["wordcount".to_string()])]),
                coordinators: BTreeMap::from([("wc".to_string(), 1)]),
                pinned: ["t".to_string()].into(),
            },
        };
        let bytes = postcard::to_stdvec(&old).expect("encode");
        assert!(postcard::from_bytes::<Applied>(&bytes).is_err());
        let applied = decode_applied(&bytes).expect("decode through the fallback");
        assert_eq!(applied.state.cluster_id, "c2");
        assert_eq!(applied.state.deployments["wc"].topology, "wordcount");
        assert_eq!(applied.state.coordinators["wc"], 1);
        assert!(applied.state.pinned.contains("t"));
        assert!(applied.state.colocations.is_empty());
    }

    #[test]
    fn the_current_format_round_trips_with_deployments_and_catalogs() {
        let mut state = ClusterState::default();
        state.apply(Command::Register(member(1)));
        state.apply(Command::SetCatalog {
            node_id: 1,
            names: vec!["wordcount".into()],
        });
        state.apply(Command::Deploy(crate::store::DeploymentRecord {
            application_id: "wc".into(),
            topology: "wordcount".into(),
            configs: BTreeMap::new(),
            deployed_at_ms: 5,
        }));
        state.apply(Command::Colocate {
            application_id: "wc".into(),
            groups: vec![vec!["a".into(), "b".into()]],
        });
        assert_eq!(state.colocations["wc"].len(), 1);
        let applied = Applied {
            state,
            ..Applied::default()
        };
        let decoded =
            decode_applied(&postcard::to_stdvec(&applied).expect("encode")).expect("decode");
        assert_eq!(decoded.state, applied.state);
        assert!(decode_applied(&[0xff, 0xff]).is_err(), "garbage is refused");
    }
}
