//! Consumer-group state in fjall: committed offsets (key `group ‖ 0 ‖ topic ‖ 0 ‖ partition`)
//! and each group's last generation and protocol type (so generations only go up across
//! restarts). Written only by the group's coordinator.

use serde::{Deserialize, Serialize};

use crate::error::ActorResult;
use crate::TopicPartition;

/// One committed offset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommittedOffset {
    /// The next offset the group will read.
    pub offset: i64,
    /// Leader epoch the client saw (-1 if unknown).
    pub leader_epoch: i32,
    /// Client metadata string.
    pub metadata: Option<String>,
    /// When it was committed (ms since the epoch).
    pub commit_timestamp_ms: i64,
}

/// What is kept of a group between restarts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupRecord {
    /// Last generation.
    pub generation_id: i32,
    /// Protocol type of its members.
    pub protocol_type: Option<String>,
}

/// Access to the group keyspaces.
#[derive(Clone)]
pub struct GroupStore {
    db: fjall::Database,
    offsets: fjall::Keyspace,
    groups: fjall::Keyspace,
}

fn offset_key(group: &str, tp: &TopicPartition) -> Vec<u8> {
    let mut k = Vec::with_capacity(group.len() + tp.topic.len() + 6);
    k.extend_from_slice(group.as_bytes());
    k.push(0);
    k.extend_from_slice(tp.topic.as_bytes());
    k.push(0);
    k.extend_from_slice(&tp.partition.to_be_bytes());
    k
}

fn group_prefix(group: &str) -> Vec<u8> {
    let mut k = group.as_bytes().to_vec();
    k.push(0);
    k
}

fn parse_offset_key(group: &str, key: &[u8]) -> Option<TopicPartition> {
    let rest = key.get(group.len() + 1..)?;
    let split = rest.iter().position(|b| *b == 0)?;
    let topic = std::str::from_utf8(&rest[..split]).ok()?;
    let p = rest.get(split + 1..split + 5)?;
    Some(TopicPartition::new(
        topic,
        i32::from_be_bytes([p[0], p[1], p[2], p[3]]),
    ))
}

impl GroupStore {
    pub(crate) fn new(
        db: fjall::Database,
        offsets: fjall::Keyspace,
        groups: fjall::Keyspace,
    ) -> Self {
        GroupStore {
            db,
            offsets,
            groups,
        }
    }

    /// The group's record, if it was ever stored.
    pub fn load_group(&self, group: &str) -> ActorResult<Option<GroupRecord>> {
        Ok(self
            .groups
            .get(group)?
            .map(|v| postcard::from_bytes(&v))
            .transpose()?)
    }

    /// Every group id ever stored.
    pub fn group_ids(&self) -> ActorResult<Vec<String>> {
        let mut out = Vec::new();
        for item in self.groups.iter() {
            let key = item.key()?;
            out.push(String::from_utf8_lossy(&key).into_owned());
        }
        Ok(out)
    }

    /// Stores the group's record.
    pub fn put_group(&self, group: &str, record: &GroupRecord) -> ActorResult<()> {
        self.groups.insert(group, postcard::to_stdvec(record)?)?;
        Ok(())
    }

    /// All committed offsets of a group.
    pub fn load_offsets(&self, group: &str) -> ActorResult<Vec<(TopicPartition, CommittedOffset)>> {
        let mut out = Vec::new();
        for item in self.offsets.prefix(group_prefix(group)) {
            let (key, value) = item.into_inner()?;
            if let Some(tp) = parse_offset_key(group, &key) {
                out.push((tp, postcard::from_bytes(&value)?));
            }
        }
        Ok(out)
    }

    /// Commits offsets atomically (one write batch).
    pub fn commit(
        &self,
        group: &str,
        offsets: &[(TopicPartition, CommittedOffset)],
    ) -> ActorResult<()> {
        let mut wb = self.db.batch();
        // A group that only ever commits (no member ever joined) still needs a record, or its
        // coordinator would not be started at node start and its offsets would seem gone.
        if !self.groups.contains_key(group)? {
            wb.insert(
                &self.groups,
                group,
                postcard::to_stdvec(&GroupRecord::default())?,
            );
        }
        for (tp, committed) in offsets {
            wb.insert(
                &self.offsets,
                offset_key(group, tp),
                postcard::to_stdvec(committed)?,
            );
        }
        wb.commit()?;
        Ok(())
    }

    /// Removes offsets.
    pub fn delete_offsets(&self, group: &str, partitions: &[TopicPartition]) -> ActorResult<()> {
        let mut wb = self.db.batch();
        for tp in partitions {
            wb.remove(&self.offsets, offset_key(group, tp));
        }
        wb.commit()?;
        Ok(())
    }

    /// Removes a group and all its offsets.
    pub fn delete_group(&self, group: &str) -> ActorResult<()> {
        let tps: Vec<TopicPartition> = self
            .load_offsets(group)?
            .into_iter()
            .map(|(tp, _)| tp)
            .collect();
        self.delete_offsets(group, &tps)?;
        self.groups.remove(group)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    #[test]
    fn offsets_round_trip_per_group() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open");
        let groups = store.groups();
        let c = |o| CommittedOffset {
            offset: o,
            leader_epoch: -1,
            metadata: None,
            commit_timestamp_ms: 0,
        };
        groups
            .commit(
                "g",
                &[
                    (TopicPartition::new("t", 0), c(5)),
                    (TopicPartition::new("t", 1), c(7)),
                ],
            )
            .expect("commit");
        groups
            .commit("g2", &[(TopicPartition::new("t", 0), c(1))])
            .expect("commit");
        let ids = groups.group_ids().expect("ids");
        assert_eq!(
            ids,
            vec!["g".to_string(), "g2".to_string()],
            "commit-only groups are listed"
        );
        let mut got = groups.load_offsets("g").expect("load");
        got.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(
            got,
            vec![
                (TopicPartition::new("t", 0), c(5)),
                (TopicPartition::new("t", 1), c(7))
            ]
        );
        groups.delete_group("g").expect("delete");
        assert!(groups.load_offsets("g").expect("load").is_empty());
        assert_eq!(groups.load_offsets("g2").expect("load").len(), 1);
    }
}
