//! Source offsets in a local file: a standalone worker's `offset.storage.file.filename`,
//! as Kafka's standalone mode keeps them (its `FileOffsetBackingStore`), so a standalone
//! run never touches the cluster's `connect-offsets` (which node-hosted connectors share).
//!
//! The file holds every connector's offsets of the worker, as one JSON document:
//! `{"format":"eddy-connect-offsets","version":1,"offsets":[{"connector":…,"partition":{…},
//! "offset":{…}}]}` (Kafka writes Java serialization; a file of Kafka's is not read, and
//! the error says so). It is rewritten whole at every commit of a source task (every
//! `offset.flush.interval.ms`, at a pause and at a stop): written to `<file>.tmp`, synced,
//! renamed over the file, and the directory synced, so a crash leaves the old file or the
//! new one, never half of one. Writers take turns (one async lock around update, write
//! and rename), so a slower writer can never rename an older state over a newer one; the
//! disk work runs on the blocking pool.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{json, Value};
use tokio::sync::Mutex;

use super::error::ConnectError;
use super::source::{SourceOffset, SourcePartition, StoredOffsets};

/// The `format` field of the file.
const FORMAT: &str = "eddy-connect-offsets";
/// The version of the file's layout.
const VERSION: u64 = 1;
/// The largest offsets file read (it holds one small object per source partition).
const OFFSETS_FILE_BYTES_MAX: u64 = 64 * 1024 * 1024;

/// Every connector's offsets, by connector, then by the partition's canonical text.
type Offsets = BTreeMap<String, BTreeMap<String, (SourcePartition, SourceOffset)>>;

/// A worker's offsets file; cheap to clone (all clones share the file and its lock).
#[derive(Debug, Clone)]
pub struct OffsetFile {
    path: PathBuf,
    // Held across a whole write (update, temp file, rename) so writes reach the disk in
    // the order their states were made.
    offsets: Arc<Mutex<Offsets>>,
}

impl OffsetFile {
    /// Opens `path`, reading the offsets it holds; a missing file holds none. Blocking (a
    /// worker opens it once, before it starts).
    pub fn open(path: &Path) -> Result<Self, ConnectError> {
        let offsets = match std::fs::metadata(path) {
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Offsets::new(),
            Err(err) => return Err(io(path, "cannot read", err)),
            Ok(meta) if meta.len() > OFFSETS_FILE_BYTES_MAX => {
                return Err(invalid(
                    path,
                    &format!("{} bytes, more than {OFFSETS_FILE_BYTES_MAX}", meta.len()),
                ))
            }
            Ok(_) => {
                let bytes = std::fs::read(path).map_err(|err| io(path, "cannot read", err))?;
                parse(path, &bytes)?
            }
        };
        Ok(Self {
            path: path.to_owned(),
            offsets: Arc::new(Mutex::new(offsets)),
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The offsets stored for `connector`.
    pub async fn read(&self, connector: &str) -> StoredOffsets {
        let offsets = self.offsets.lock().await;
        let mut stored = StoredOffsets::default();
        for (partition, offset) in offsets.get(connector).into_iter().flat_map(|m| m.values()) {
            stored.insert(partition, Some(offset.clone()));
        }
        stored
    }

    /// Stores `offsets` of `connector` (`None` forgets a partition's), then rewrites the
    /// file; resolves once the new file is in place.
    pub async fn write(
        &self,
        connector: &str,
        offsets: &[(SourcePartition, Option<SourceOffset>)],
    ) -> Result<(), ConnectError> {
        let mut all = self.offsets.lock().await;
        let mut updated = all.clone();
        let of_connector = updated.entry(connector.to_owned()).or_default();
        for (partition, offset) in offsets {
            let key = Value::Object(partition.clone()).to_string();
            match offset {
                Some(offset) => {
                    of_connector.insert(key, (partition.clone(), offset.clone()));
                }
                None => {
                    of_connector.remove(&key);
                }
            }
        }
        if of_connector.is_empty() {
            updated.remove(connector);
        }
        let bytes = render(&updated);
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || replace(&path, &bytes))
            .await
            .map_err(|err| ConnectError::Offsets {
                reason: format!("writing {} stopped: {err}", self.path.display()),
                retriable: true,
            })??;
        *all = updated;
        Ok(())
    }

    /// Forgets every offset of `connector`, then rewrites the file.
    pub async fn reset(&self, connector: &str) -> Result<(), ConnectError> {
        let partitions: Vec<(SourcePartition, Option<SourceOffset>)> = self
            .read(connector)
            .await
            .entries()
            .into_iter()
            .map(|(partition, _)| (partition, None))
            .collect();
        self.write(connector, &partitions).await
    }
}

/// The file's bytes for `offsets`.
fn render(offsets: &Offsets) -> Vec<u8> {
    let entries: Vec<Value> = offsets
        .iter()
        .flat_map(|(connector, partitions)| {
            partitions.values().map(move |(partition, offset)| {
                json!({"connector": connector, "partition": partition, "offset": offset})
            })
        })
        .collect();
    let document = json!({"format": FORMAT, "version": VERSION, "offsets": entries});
    let mut bytes = serde_json::to_vec_pretty(&document).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

fn parse(path: &Path, bytes: &[u8]) -> Result<Offsets, ConnectError> {
    let document: Value = serde_json::from_slice(bytes).map_err(|err| {
        invalid(
            path,
            &format!(
                "not an Eddy offsets file ({err}); a file Kafka's worker wrote cannot be read: \
                 point offset.storage.file.filename at a new file"
            ),
        )
    })?;
    if document["format"] != FORMAT || document["version"] != VERSION {
        return Err(invalid(
            path,
            &format!("not an {FORMAT} file of version {VERSION}"),
        ));
    }
    let mut offsets = Offsets::new();
    for entry in document["offsets"].as_array().into_iter().flatten() {
        match (&entry["connector"], &entry["partition"], &entry["offset"]) {
            (Value::String(connector), Value::Object(partition), Value::Object(offset)) => {
                let key = Value::Object(partition.clone()).to_string();
                offsets
                    .entry(connector.clone())
                    .or_default()
                    .insert(key, (partition.clone(), offset.clone()));
            }
            _ => return Err(invalid(path, &format!("malformed entry {entry}"))),
        }
    }
    Ok(offsets)
}

/// Writes `bytes` to `path` atomically: a synced temporary file renamed over it, then the
/// directory synced so the rename itself is durable.
fn replace(path: &Path, bytes: &[u8]) -> Result<(), ConnectError> {
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(".tmp");
    let tmp = PathBuf::from(tmp_name);
    let written = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)?;
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        std::fs::File::open(dir)?.sync_all()
    })();
    written.map_err(|err| io(path, "cannot write", err))
}

fn io(path: &Path, what: &str, err: std::io::Error) -> ConnectError {
    ConnectError::Io {
        context: format!("offsets file: {what} {}", path.display()),
        source: err,
    }
}

fn invalid(path: &Path, reason: &str) -> ConnectError {
    ConnectError::Offsets {
        reason: format!("{}: {reason}", path.display()),
        retriable: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(value: Value) -> serde_json::Map<String, Value> {
        match value {
            Value::Object(map) => map,
            other => panic!("not an object: {other}"),
        }
    }

    #[tokio::test]
    async fn offsets_survive_a_reopen_and_connectors_stay_apart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("connect.offsets");
        let file = OffsetFile::open(&path).unwrap();
        let partition = object(json!({"filename": "test.txt"}));
        let offset = object(json!({"position": 37}));
        file.write("a", &[(partition.clone(), Some(offset.clone()))])
            .await
            .unwrap();
        file.write(
            "b",
            &[(partition.clone(), Some(object(json!({"position": 1}))))],
        )
        .await
        .unwrap();
        assert!(!dir.path().join("connect.offsets.tmp").exists());
        let reopened = OffsetFile::open(&path).unwrap();
        assert_eq!(reopened.read("a").await.get(&partition), Some(&offset));
        assert_eq!(reopened.read("b").await.len(), 1);
        assert!(reopened.read("c").await.is_empty());
        reopened.reset("a").await.unwrap();
        let again = OffsetFile::open(&path).unwrap();
        assert!(again.read("a").await.is_empty());
        assert_eq!(again.read("b").await.len(), 1);
    }

    /// Version 1 of the file, frozen: a later Eddy must still read what this one wrote.
    #[tokio::test]
    async fn the_version_1_layout_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("connect.offsets");
        let v1 = r#"{
  "format": "eddy-connect-offsets",
  "offsets": [
    {
      "connector": "local-file-source",
      "offset": {"head.bytes": 8, "head.crc32c": 1474927885, "path": "/tmp/qs/test.txt", "position": 8},
      "partition": {"filename": "test.txt"}
    }
  ],
  "version": 1
}
"#;
        std::fs::write(&path, v1).unwrap();
        let file = OffsetFile::open(&path).unwrap();
        let stored = file.read("local-file-source").await;
        let partition = object(json!({"filename": "test.txt"}));
        assert_eq!(stored.get(&partition).unwrap()["position"], json!(8));
        let broken = v1
            .replace("\"offset\": {", "\"offset\": [{")
            .replace("8},", "8}],");
        std::fs::write(&path, broken).unwrap();
        let err = OffsetFile::open(&path).unwrap_err().to_string();
        assert!(err.contains("malformed entry"), "{err}");
    }

    #[test]
    fn a_foreign_file_is_refused_with_its_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kafka.offsets");
        std::fs::write(&path, b"\xac\xed\x00\x05sr\x00\x11java.util.HashMap").unwrap();
        let err = OffsetFile::open(&path).unwrap_err().to_string();
        assert!(err.contains("kafka.offsets"), "{err}");
        assert!(err.contains("Kafka's worker"), "{err}");
        assert!(OffsetFile::open(&dir.path().join("missing")).is_ok());
    }
}
