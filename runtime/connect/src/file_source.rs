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
//! position read so far (truncated, or replaced by a new file, as log rotation does) is
//! read again from its start, like `tail -F`. Reading goes through tokio's file API, which
//! runs the reads on the blocking pool, never on the task's arbiter.

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

/// The key of the source partition and offset, as Kafka's FileStreamSource names them.
const FILENAME_FIELD: &str = "filename";
const POSITION_FIELD: &str = "position";

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
}

impl FileStreamSource {
    /// A source that tails `file` into `topic`, at most `batch_size` lines per batch.
    pub fn new(file: PathBuf, topic: String, batch_size: usize) -> Self {
        let mut partition = SourcePartition::new();
        partition.insert(
            FILENAME_FIELD.to_owned(),
            Value::String(file.display().to_string()),
        );
        Self {
            file,
            topic,
            batch_size: batch_size.max(1),
            partition,
            reader: None,
            position: 0,
            pending: Vec::new(),
            reported_missing: false,
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
        if len < self.position {
            tracing::warn!(
                file = %self.file.display(), len, position = self.position,
                "source file is shorter than the stored position (truncated or replaced); reading it from the start"
            );
            self.position = 0;
        }
        file.seek(std::io::SeekFrom::Start(self.position))
            .await
            .map_err(|err| ConnectError::io(self.context("cannot seek in"), err))?;
        self.pending.clear();
        self.reader = Some(file);
        Ok(true)
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
            self.pending.drain(..consumed);
            self.position += consumed as u64;
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
        self.pending.drain(..consumed);
        self.position += consumed as u64;
        Ok(())
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
            self.position = offsets
                .get(&self.partition)
                .and_then(|o| o.get(POSITION_FIELD))
                .and_then(Value::as_u64)
                .unwrap_or(0);
            tracing::info!(file = %self.file.display(), position = self.position, "FileStreamSource starts");
            Ok(())
        }
        .boxed()
    }

    fn poll(&mut self) -> BoxFuture<'_, Result<SourceBatch, ConnectError>> {
        self.poll_batch().boxed()
    }
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
