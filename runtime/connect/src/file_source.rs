//! `FileStreamSource`: tails a file, one record per line, as Kafka's connector of that name.
//!
//! The source partition is `{"filename": <file>}` and the offset `{"position": <byte>}`,
//! the byte after the last line handed out, exactly as Kafka stores them, so a restarted
//! task goes on at the first line not yet committed. A line ends at `\n` (a `\r` before it
//! is dropped); a last line without its newline is not read until the newline arrives, so
//! a line being written is never cut in two. Lines that are UTF-8 become text values,
//! others travel as bytes, unchanged.
//!
//! A file that does not exist yet is waited for; a file that became shorter than the
//! position read so far (truncated, or replaced by a new file, as log rotation does) while
//! the task reads it is read again from its start, like `tail -F`. Reading goes through
//! tokio's file API, which runs the reads on the blocking pool, never on the task's arbiter.
//!
//! The offset also records the file's identity: its absolute path (`path`) and a
//! fingerprint of its head, the CRC-32C of its first `head.bytes` bytes (the bytes before
//! the position, at most `HEAD_BYTES_MAX`). A task that resumes checks that the file it
//! opens starts with those bytes and is at least as long as the position, and otherwise
//! fails, naming both files, instead of resuming at a byte of another file (Kafka's task
//! skips to the position in whatever file it finds; with a relative `file` read from two
//! working directories under one connector name, that is the middle of a line of another
//! file). The fingerprint is of content, not of the inode: an inode changes when a file
//! is copied, restored or saved by an editor that writes a new file, without the bytes
//! read so far changing, and a deleted file's inode may be reused by an unrelated one.
//! Offsets without a fingerprint (written by Kafka, or altered through the REST API) are
//! trusted, as Kafka trusts them.

use std::path::PathBuf;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::FutureExt;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::converter::Data;
use super::error::ConnectError;
use super::source::{
    Source, SourceBatch, SourceOffset, SourcePartition, SourceRecord, StoredOffsets,
};

/// The longest line read; a longer one fails the task (it could not be one record anyway).
pub const LINE_BYTES_MAX: usize = 1024 * 1024;
/// Bytes read from the file at a time.
const READ_CHUNK_BYTES: usize = 64 * 1024;
/// How long a poll that found nothing new waits before answering an empty batch.
const IDLE_WAIT_MS: u64 = 100;
/// How long a poll waits for a file that does not exist yet.
const MISSING_FILE_WAIT_MS: u64 = 1_000;

/// The most bytes of a file's head its fingerprint covers.
const HEAD_BYTES_MAX: usize = 4096;

/// The key of the source partition and offset, as Kafka's FileStreamSource names them.
const FILENAME_FIELD: &str = "filename";
const POSITION_FIELD: &str = "position";
/// The identity fields Eddy adds to the offset: the absolute path it was read at, and
/// how many of its first bytes the fingerprint covers, with their CRC-32C.
const PATH_FIELD: &str = "path";
const HEAD_BYTES_FIELD: &str = "head.bytes";
const HEAD_CRC_FIELD: &str = "head.crc32c";

/// Tails one file.
#[derive(Debug)]
pub struct FileStreamSource {
    file: PathBuf,
    topic: String,
    batch_size: usize,
    partition: SourcePartition,
    reader: Option<tokio::fs::File>,
    /// The byte position of the first byte of `pending`: where the next line starts.
    position: u64,
    /// Bytes read after `position` that do not end in a newline yet.
    pending: Vec<u8>,
    /// Whether the missing file was reported already (reported once, not every poll).
    reported_missing: bool,
    /// The file's absolute path, for the offset and error messages.
    absolute: PathBuf,
    /// The file's first `min(position, HEAD_BYTES_MAX)` bytes: what the fingerprint covers.
    head: Vec<u8>,
    /// The stored offset to check the file against when it is first opened.
    resume: Option<SourceOffset>,
}

impl FileStreamSource {
    /// A source that tails `file` into `topic`, at most `batch_size` lines per batch.
    pub fn new(file: PathBuf, topic: String, batch_size: usize) -> Self {
        let mut partition = SourcePartition::new();
        partition.insert(
            FILENAME_FIELD.to_owned(),
            Value::String(file.display().to_string()),
        );
        let absolute = std::path::absolute(&file).unwrap_or_else(|_| file.clone());
        Self {
            file,
            topic,
            batch_size: batch_size.max(1),
            partition,
            reader: None,
            position: 0,
            pending: Vec::new(),
            reported_missing: false,
            absolute,
            head: Vec::new(),
            resume: None,
        }
    }

    /// The source partition of this file.
    pub fn partition(&self) -> &SourcePartition {
        &self.partition
    }

    fn context(&self, what: &str) -> String {
        format!("FileStreamSource: {what} {}", self.file.display())
    }

    /// Opens the file at `position`; `Ok(false)` when it does not exist yet.
    async fn open(&mut self) -> Result<bool, ConnectError> {
        let mut file = match tokio::fs::File::open(&self.file).await {
            Ok(file) => file,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                if !self.reported_missing {
                    tracing::warn!(file = %self.file.display(), "source file does not exist yet; waiting for it");
                    self.reported_missing = true;
                }
                return Ok(false);
            }
            Err(err) => return Err(ConnectError::io(self.context("cannot open"), err)),
        };
        self.reported_missing = false;
        let len = file
            .metadata()
            .await
            .map_err(|err| ConnectError::io(self.context("cannot stat"), err))?
            .len();
        if let Some(stored) = self.resume.take() {
            self.check_identity(&mut file, len, &stored).await?;
        } else if len < self.position {
            tracing::warn!(
                file = %self.file.display(), len, position = self.position,
                "source file is shorter than the position read (truncated or replaced); reading it from the start"
            );
            self.position = 0;
        }
        self.head = self.read_head(&mut file).await?;
        file.seek(std::io::SeekFrom::Start(self.position))
            .await
            .map_err(|err| ConnectError::io(self.context("cannot seek in"), err))?;
        self.pending.clear();
        self.reader = Some(file);
        Ok(true)
    }

    /// The file's first `min(position, HEAD_BYTES_MAX)` bytes.
    async fn read_head(&self, file: &mut tokio::fs::File) -> Result<Vec<u8>, ConnectError> {
        let len = head_len(self.position);
        let mut head = vec![0u8; len];
        file.seek(std::io::SeekFrom::Start(0))
            .await
            .map_err(|err| ConnectError::io(self.context("cannot seek in"), err))?;
        file.read_exact(&mut head)
            .await
            .map_err(|err| ConnectError::io(self.context("cannot read the head of"), err))?;
        Ok(head)
    }

    /// Fails unless the file just opened (`len` bytes long) is the one `stored` was
    /// recorded for: at least as long as the position, starting with the fingerprinted
    /// bytes.
    async fn check_identity(
        &self,
        file: &mut tokio::fs::File,
        len: u64,
        stored: &SourceOffset,
    ) -> Result<(), ConnectError> {
        let recorded = stored.get(PATH_FIELD).and_then(Value::as_str);
        let fingerprint = stored
            .get(HEAD_BYTES_FIELD)
            .and_then(Value::as_u64)
            .zip(stored.get(HEAD_CRC_FIELD).and_then(Value::as_u64));
        let changed = |reason: String| ConnectError::SourceFileChanged {
            file: self.file.display().to_string(),
            path: self.absolute.display().to_string(),
            recorded: recorded.unwrap_or("an unrecorded path").to_owned(),
            position: self.position,
            reason,
        };
        if len < self.position {
            return Err(changed(format!(
                "it is {len} bytes long, shorter than the position"
            )));
        }
        let Some((head_bytes, head_crc)) = fingerprint else {
            tracing::info!(file = %self.file.display(), position = self.position, "the stored offset has no fingerprint (written by Kafka or through the REST API); resuming at its position");
            return Ok(());
        };
        let head_bytes = match usize::try_from(head_bytes) {
            Ok(n) if head_bytes <= len => n,
            _ => {
                return Err(changed(format!(
                    "it is {len} bytes long, shorter than the {head_bytes} bytes read before"
                )))
            }
        };
        let mut head = vec![0u8; head_bytes];
        file.seek(std::io::SeekFrom::Start(0))
            .await
            .map_err(|err| ConnectError::io(self.context("cannot seek in"), err))?;
        file.read_exact(&mut head)
            .await
            .map_err(|err| ConnectError::io(self.context("cannot read the head of"), err))?;
        if u64::from(crc32c::crc32c(&head)) != head_crc {
            return Err(changed(format!(
                "its first {head_bytes} bytes differ from those read before"
            )));
        }
        if recorded.is_some_and(|r| r != self.absolute.display().to_string()) {
            tracing::info!(file = %self.absolute.display(), recorded, "the file moved, but starts with the bytes read before; resuming");
        }
        Ok(())
    }

    /// Whether the file on disk is no longer the one being read, or became shorter.
    async fn replaced_or_truncated(&self) -> bool {
        let Some(reader) = &self.reader else {
            return false;
        };
        let read_up_to = self.position + self.pending.len() as u64;
        let Ok(on_disk) = tokio::fs::metadata(&self.file).await else {
            // Gone (rotated away, not yet recreated): keep reading the open file.
            return false;
        };
        if on_disk.len() < read_up_to {
            return true;
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            if let Ok(open) = reader.metadata().await {
                return open.ino() != on_disk.ino() || open.dev() != on_disk.dev();
            }
        }
        false
    }

    /// Reads lines into `lines` until `batch_size` or the end of the file.
    async fn read_lines(&mut self, lines: &mut Vec<SourceRecord>) -> Result<(), ConnectError> {
        let mut chunk = vec![0u8; READ_CHUNK_BYTES];
        let mut consumed = 0;
        loop {
            while lines.len() < self.batch_size {
                let Some(newline) = self.pending[consumed..].iter().position(|b| *b == b'\n')
                else {
                    break;
                };
                let mut line = &self.pending[consumed..consumed + newline];
                if let [head @ .., b'\r'] = line {
                    line = head;
                }
                lines.push(self.record(line));
                consumed += newline + 1;
            }
            if lines.len() >= self.batch_size {
                break;
            }
            self.advance(consumed);
            consumed = 0;
            if self.pending.len() > LINE_BYTES_MAX {
                return Err(ConnectError::LineTooLong {
                    file: self.file.display().to_string(),
                    position: self.position,
                    line_bytes_max: LINE_BYTES_MAX,
                });
            }
            let Some(reader) = self.reader.as_mut() else {
                break;
            };
            let read = reader.read(&mut chunk).await.map_err(|err| {
                ConnectError::io(
                    format!("FileStreamSource: cannot read {}", self.file.display()),
                    err,
                )
            })?;
            if read == 0 {
                break;
            }
            self.pending.extend_from_slice(&chunk[..read]);
        }
        self.advance(consumed);
        Ok(())
    }

    /// Moves the position past the first `consumed` bytes of `pending`, keeping the head.
    fn advance(&mut self, consumed: usize) {
        debug_assert_eq!(self.head.len(), head_len(self.position));
        let wanted = HEAD_BYTES_MAX.saturating_sub(self.head.len()).min(consumed);
        self.head.extend_from_slice(&self.pending[..wanted]);
        self.pending.drain(..consumed);
        self.position += consumed as u64;
    }

    fn record(&self, line: &[u8]) -> SourceRecord {
        let value = match std::str::from_utf8(line) {
            Ok(text) => Data::Text(text.to_owned()),
            Err(_) => Data::Bytes(bytes::Bytes::copy_from_slice(line)),
        };
        SourceRecord {
            topic: self.topic.clone(),
            key: Data::Null,
            value,
            timestamp_ms: None,
            headers: Vec::new(),
        }
    }

    fn offset(&self) -> SourceOffset {
        let mut offset = SourceOffset::new();
        offset.insert(POSITION_FIELD.to_owned(), json!(self.position));
        offset.insert(
            PATH_FIELD.to_owned(),
            json!(self.absolute.display().to_string()),
        );
        offset.insert(HEAD_BYTES_FIELD.to_owned(), json!(self.head.len()));
        offset.insert(HEAD_CRC_FIELD.to_owned(), json!(crc32c::crc32c(&self.head)));
        offset
    }

    async fn poll_batch(&mut self) -> Result<SourceBatch, ConnectError> {
        if self.reader.is_none() && !self.open().await? {
            tokio::time::sleep(Duration::from_millis(MISSING_FILE_WAIT_MS)).await;
            return Ok(SourceBatch::default());
        }
        let mut records = Vec::new();
        self.read_lines(&mut records).await?;
        if records.is_empty() {
            if self.replaced_or_truncated().await {
                tracing::info!(file = %self.file.display(), "source file was replaced or truncated; reopening it");
                self.reader = None;
                let read_up_to = self.position + self.pending.len() as u64;
                let replaced_len = tokio::fs::metadata(&self.file).await.map_or(0, |m| m.len());
                if replaced_len >= read_up_to {
                    // A new file at least as long as the old one: start it from the top.
                    self.position = 0;
                }
            } else {
                tokio::time::sleep(Duration::from_millis(IDLE_WAIT_MS)).await;
            }
            return Ok(SourceBatch::default());
        }
        Ok(SourceBatch {
            records,
            offsets: vec![(self.partition.clone(), self.offset())],
            finished: false,
        })
    }
}

impl Source for FileStreamSource {
    fn start<'a>(
        &'a mut self,
        offsets: &'a StoredOffsets,
    ) -> BoxFuture<'a, Result<(), ConnectError>> {
        async move {
            let stored = offsets.get(&self.partition);
            self.position = stored
                .and_then(|o| o.get(POSITION_FIELD))
                .and_then(Value::as_u64)
                .unwrap_or(0);
            self.resume = stored.cloned();
            tracing::info!(file = %self.file.display(), position = self.position, "FileStreamSource starts");
            Ok(())
        }
        .boxed()
    }

    fn poll(&mut self) -> BoxFuture<'_, Result<SourceBatch, ConnectError>> {
        self.poll_batch().boxed()
    }
}

/// How many bytes of a file's head the fingerprint covers at `position`.
fn head_len(position: u64) -> usize {
    usize::try_from(position).map_or(HEAD_BYTES_MAX, |p| p.min(HEAD_BYTES_MAX))
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn values(batch: &SourceBatch) -> Vec<String> {
        batch
            .records
            .iter()
            .map(|r| String::from_utf8(r.value.to_line_bytes().to_vec()).unwrap())
            .collect()
    }

    fn position(batch: &SourceBatch) -> u64 {
        batch.offsets[0].1[POSITION_FIELD].as_u64().unwrap()
    }

    #[tokio::test]
    async fn tails_lines_and_resumes_from_the_offset() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in.txt");
        std::fs::write(&path, "one\r\ntwo\nthr").unwrap();
        let mut source = FileStreamSource::new(path.clone(), "t".into(), 10);
        source.start(&StoredOffsets::default()).await.unwrap();
        let batch = source.poll().await.unwrap();
        assert_eq!(values(&batch), ["one", "two"]);
        assert_eq!(position(&batch), 9);
        // The unfinished line waits for its newline.
        assert!(source.poll().await.unwrap().records.is_empty());
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        file.write_all(b"ee\nfour\n").unwrap();
        let batch = source.poll().await.unwrap();
        assert_eq!(values(&batch), ["three", "four"]);
        assert_eq!(position(&batch), 20);

        let mut stored = StoredOffsets::default();
        stored.insert(source.partition(), Some(batch.offsets[0].1.clone()));
        file.write_all(b"five\n").unwrap();
        let mut restarted = FileStreamSource::new(path, "t".into(), 10);
        restarted.start(&stored).await.unwrap();
        assert_eq!(values(&restarted.poll().await.unwrap()), ["five"]);
    }

    #[tokio::test]
    async fn batches_are_bounded_and_positions_exact() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in.txt");
        let text: String = (0..25).map(|i| format!("line {i}\n")).collect();
        std::fs::write(&path, &text).unwrap();
        let mut source = FileStreamSource::new(path, "t".into(), 10);
        source.start(&StoredOffsets::default()).await.unwrap();
        let mut all = Vec::new();
        for expected in [10, 10, 5] {
            let batch = source.poll().await.unwrap();
            assert_eq!(batch.records.len(), expected);
            all.extend(values(&batch));
            let consumed: usize = all.iter().map(|l| l.len() + 1).sum();
            assert_eq!(position(&batch), consumed as u64);
        }
        assert_eq!(all.len(), 25);
        assert_eq!(all[24], "line 24");
    }

    #[tokio::test]
    async fn waits_for_a_missing_file_and_restarts_a_truncated_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("later.txt");
        let mut source = FileStreamSource::new(path.clone(), "t".into(), 10);
        source.start(&StoredOffsets::default()).await.unwrap();
        assert!(source.poll().await.unwrap().records.is_empty());
        std::fs::write(&path, "a\nb\n").unwrap();
        assert_eq!(values(&source.poll().await.unwrap()), ["a", "b"]);
        std::fs::write(&path, "c\n").unwrap();
        assert!(source.poll().await.unwrap().records.is_empty());
        assert_eq!(values(&source.poll().await.unwrap()), ["c"]);
    }

    #[tokio::test]
    async fn refuses_to_resume_into_a_different_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("test.txt");
        std::fs::write(&path, "the first file's line\nsecond\n").unwrap();
        let mut source = FileStreamSource::new(path.clone(), "t".into(), 1);
        source.start(&StoredOffsets::default()).await.unwrap();
        let batch = source.poll().await.unwrap();
        let offset = batch.offsets[0].1.clone();
        assert_eq!(offset[POSITION_FIELD], json!(22));
        assert_eq!(offset[HEAD_BYTES_FIELD], json!(22));
        assert_eq!(offset[PATH_FIELD], json!(path.display().to_string()));
        let mut stored = StoredOffsets::default();
        stored.insert(source.partition(), Some(offset.clone()));

        // The same file resumes at the next line.
        let mut same = FileStreamSource::new(path.clone(), "t".into(), 10);
        same.start(&stored).await.unwrap();
        assert_eq!(values(&same.poll().await.unwrap()), ["second"]);

        // Another file under the same name (longer, other bytes) is refused.
        std::fs::write(&path, "another file, longer than the first one\nmore\n").unwrap();
        let mut other = FileStreamSource::new(path.clone(), "t".into(), 10);
        other.start(&stored).await.unwrap();
        let err = other.poll().await.unwrap_err();
        assert!(
            matches!(err, ConnectError::SourceFileChanged { .. }),
            "{err}"
        );
        assert!(!err.is_retriable());
        let text = err.to_string();
        assert!(text.contains("first 22 bytes differ"), "{text}");
        assert!(text.contains(&path.display().to_string()), "{text}");

        // A file shorter than the position is refused too.
        std::fs::write(&path, "short\n").unwrap();
        let mut short = FileStreamSource::new(path.clone(), "t".into(), 10);
        short.start(&stored).await.unwrap();
        let text = short.poll().await.unwrap_err().to_string();
        assert!(text.contains("shorter than the position"), "{text}");

        // An offset without a fingerprint (Kafka's) is trusted.
        std::fs::write(&path, "0123456789abcdefghijklmnopqrstu\nnext\n").unwrap();
        let mut kafkas = StoredOffsets::default();
        let mut position = SourceOffset::new();
        position.insert(POSITION_FIELD.to_owned(), json!(32));
        kafkas.insert(source.partition(), Some(position));
        let mut trusted = FileStreamSource::new(path, "t".into(), 10);
        trusted.start(&kafkas).await.unwrap();
        assert_eq!(values(&trusted.poll().await.unwrap()), ["next"]);
    }

    #[tokio::test]
    async fn non_utf8_lines_travel_as_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bin.txt");
        std::fs::write(&path, b"\xff\xfe\n").unwrap();
        let mut source = FileStreamSource::new(path, "t".into(), 10);
        source.start(&StoredOffsets::default()).await.unwrap();
        let batch = source.poll().await.unwrap();
        assert_eq!(
            batch.records[0].value,
            Data::Bytes(bytes::Bytes::from_static(b"\xff\xfe"))
        );
    }
}
