//! Stream–stream join buffers are laid out key first, with an index by time
//! (`StoreKind::JoinBuffer`), as Kafka's window key schema: a record looks up the other
//! side's records of its own key only, whatever else the window holds; expiry by stream
//! time goes through the index and removes both; a buffer rebuilt from its changelog is
//! the same store, index included; a changelog record in the old `time ‖ key` layout is
//! refused instead of being stored where no lookup finds it.
//!
//! The stores are in-memory ones wrapped to count the entries each range read returns
//! and to show their contents.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use eddy_topologies::{
    ChangelogRecord, InMemoryStore, InputRecord, JoinWindows, StateStore, StoreEntry, StoreError,
    StoreKind, StoreSpec, StoreSupplier, StreamsBuilder, StreamsConfig, Task, TaskId, Topology,
};

/// What the tests see of one store: its entries and how many entries range reads have
/// returned.
#[derive(Default)]
struct Seen {
    store: InMemoryStore,
    scanned: usize,
}

struct Watched(Arc<Mutex<Seen>>);

impl StateStore for Watched {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.0.lock().unwrap().store.get(key)
    }

    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        self.0.lock().unwrap().store.put(key, value)
    }

    fn delete(&mut self, key: &[u8]) -> Result<(), StoreError> {
        self.0.lock().unwrap().store.delete(key)
    }

    fn range(
        &self,
        from: &[u8],
        to: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<StoreEntry>, StoreError> {
        let mut seen = self.0.lock().unwrap();
        let page = seen.store.range(from, to, limit)?;
        seen.scanned += page.len();
        Ok(page)
    }

    fn wipe(&mut self) -> Result<(), StoreError> {
        self.0.lock().unwrap().store.wipe()
    }
}

/// Opens watched in-memory stores and keeps a handle on each, by store name.
#[derive(Default)]
struct Stores(BTreeMap<String, Arc<Mutex<Seen>>>);

impl StoreSupplier for Stores {
    fn open(&mut self, _task: TaskId, spec: &StoreSpec) -> Result<Box<dyn StateStore>, StoreError> {
        let seen = Arc::new(Mutex::new(Seen::default()));
        self.0.insert(spec.name.clone(), seen.clone());
        Ok(Box::new(Watched(seen)))
    }
}

impl Stores {
    fn scanned(&self, name: &str) -> usize {
        self.0[name].lock().unwrap().scanned
    }

    fn entries(&self, name: &str) -> Vec<StoreEntry> {
        let seen = self.0[name].lock().unwrap();
        seen.store.range(&[], None, usize::MAX).unwrap()
    }
}

/// Left and right streams of strings, joined within 10 s either way, no grace.
fn join() -> Topology {
    let builder = StreamsBuilder::new();
    let left = builder.stream::<String, String>("left");
    let right = builder.stream::<String, String>("right");
    left.join_stream(
        &right,
        JoinWindows::of(Duration::from_secs(10)).grace(Duration::ZERO),
        |l, r| format!("{l}+{r}"),
    )
    .to("out");
    builder.build().expect("the join builds")
}

fn task(topology: &Topology, stores: &mut Stores) -> Task {
    let id = TaskId {
        subtopology: 0,
        partition: 0,
    };
    Task::new(topology, &StreamsConfig::new("jb"), id, stores).expect("the task opens")
}

/// The names of the task's two join buffers: (left's, right's).
fn buffers(task: &Task) -> (String, String) {
    let names: Vec<String> = task
        .stores()
        .into_iter()
        .filter(|s| matches!(s.kind, StoreKind::JoinBuffer { .. }))
        .map(|s| s.name)
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    let this = names
        .iter()
        .find(|n| n.contains("THIS"))
        .expect("this side");
    let other = names
        .iter()
        .find(|n| n.contains("OTHER"))
        .expect("other side");
    (this.clone(), other.clone())
}

fn input(topic: &str, offset: i64, key: &str, value: &str, timestamp: i64) -> InputRecord {
    InputRecord {
        topic: topic.to_string(),
        partition: 0,
        offset,
        key: Some(key.as_bytes().to_vec()),
        value: Some(value.as_bytes().to_vec()),
        timestamp,
        headers: Vec::new(),
    }
}

/// 200 right records, keys `k0`..`k199` at 1.000 s .. 1.199 s, all in every window
/// below; returns their changelog.
fn fill_right(task: &mut Task) -> Vec<ChangelogRecord> {
    let mut changelog = Vec::new();
    for i in 0..200 {
        let out = task
            .process(input(
                "right",
                i,
                &format!("k{i}"),
                &format!("r{i}"),
                1_000 + i,
            ))
            .unwrap();
        assert!(out.records.is_empty());
        changelog.extend(out.changelog);
    }
    changelog
}

fn values(out: &eddy_topologies::TaskOutput) -> Vec<(String, i64)> {
    out.records
        .iter()
        .map(|r| {
            let value = String::from_utf8(r.value.clone().unwrap()).unwrap();
            (value, r.timestamp)
        })
        .collect()
}

#[test]
fn a_lookup_reads_only_the_records_of_its_key() {
    let topology = join();
    let mut stores = Stores::default();
    let mut task = task(&topology, &mut stores);
    let (_, right) = buffers(&task);
    fill_right(&mut task);
    // Primary entry and index entry per buffered record.
    assert_eq!(stores.entries(&right).len(), 400);

    let before = stores.scanned(&right);
    let out = task.process(input("left", 0, "k7", "l7", 1_500)).unwrap();
    assert_eq!(values(&out), vec![("l7+r7".to_string(), 1_500)]);
    // The right buffer holds 200 records in the window; the lookup read k7's only.
    assert_eq!(stores.scanned(&right) - before, 1);

    let before = stores.scanned(&right);
    let out = task.process(input("left", 1, "k", "l", 1_500)).unwrap();
    assert!(
        out.records.is_empty(),
        "`k` is a prefix of every key, not one"
    );
    assert_eq!(stores.scanned(&right) - before, 0);
}

#[test]
fn expiry_removes_records_with_their_index_entries() {
    let topology = join();
    let mut stores = Stores::default();
    let mut task = task(&topology, &mut stores);
    let (left, right) = buffers(&task);
    fill_right(&mut task);
    task.process(input("left", 0, "k7", "l7", 1_500)).unwrap();
    assert_eq!(stores.entries(&left).len(), 2);

    // Stream time 21.1 s: records before 1.1 s (stream time - before - after - grace)
    // can no longer join and leave; k100..k199 (1.1 s .. 1.199 s) and l7 (1.5 s) stay.
    let out = task.process(input("left", 1, "x", "lx", 21_100)).unwrap();
    assert!(out.records.is_empty());
    assert_eq!(stores.entries(&right).len(), 200);
    assert_eq!(stores.entries(&left).len(), 4);
    let kept = task
        .process(input("left", 2, "k150", "l150", 11_150))
        .unwrap();
    assert_eq!(values(&kept), vec![("l150+r150".to_string(), 11_150)]);

    // Far later: everything before expires, in both buffers, index entries included.
    task.process(input("right", 200, "y", "ry", 100_000))
        .unwrap();
    assert_eq!(stores.entries(&right).len(), 2, "only y's entry and index");
    assert_eq!(stores.entries(&left).len(), 0);
}

#[test]
fn a_buffer_rebuilt_from_its_changelog_is_the_same_store() {
    let topology = join();
    let mut stores = Stores::default();
    let mut first = task(&topology, &mut stores);
    let (_, right) = buffers(&first);
    let changelog = fill_right(&mut first);
    // One record per buffered record: the index is not logged.
    assert_eq!(changelog.len(), 200);

    let mut restored_stores = Stores::default();
    let mut restored = task(&topology, &mut restored_stores);
    for record in &changelog {
        restored.restore(record).unwrap();
    }
    restored.restore_stream_time(first.stream_time().unwrap());
    assert_eq!(restored_stores.entries(&right), stores.entries(&right));

    let out = restored
        .process(input("left", 0, "k42", "l42", 1_500))
        .unwrap();
    assert_eq!(values(&out), vec![("l42+r42".to_string(), 1_500)]);
    restored
        .process(input("left", 1, "x", "lx", 100_000))
        .unwrap();
    assert!(restored_stores.entries(&right).is_empty());
}

#[test]
fn a_changelog_record_in_the_time_first_layout_is_refused() {
    let topology = join();
    let mut stores = Stores::default();
    let mut task = task(&topology, &mut stores);
    let (_, right) = buffers(&task);
    let changelog_topic = task
        .stores()
        .into_iter()
        .find(|s| s.name == right)
        .unwrap()
        .changelog_topic;
    // `time (sign bit flipped) ‖ key`, as join buffers were laid out before.
    let mut old_key = ((1_000u64) ^ (1 << 63)).to_be_bytes().to_vec();
    old_key.extend_from_slice(b"k1");
    let list = [&2u32.to_be_bytes()[..], b"r1"].concat();
    let record = ChangelogRecord {
        topic: changelog_topic,
        partition: 0,
        key: old_key,
        value: Some(list),
        timestamp: 1_000,
    };
    let err = task.restore(&record).unwrap_err();
    assert!(err.to_string().contains("store layout"), "{err}");
    assert!(stores.entries(&right).is_empty());
}
