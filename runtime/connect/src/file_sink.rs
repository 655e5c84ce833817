//! `FileStreamSink`: appends one line per record to a file, as Kafka's connector of that
//! name: the value as text (JSON compact, bytes unchanged, a tombstone as `null`), then
//! `\n`.
//!
//! A value that holds a line break would become two lines, so `check` refuses it (a bad
//! record: dead-letter topic or task failure, never a silently split line). Each `put`
//! hands its lines to the operating system (so they show in the file at once, as with
//! Kafka's sink, whatever the commit interval); `flush` also fsyncs the file, so the
//! runner commits the group offsets only of lines that are on disk. The file is opened in append mode; lines written after the
//! last commit are written again after a restart (at-least-once).

use std::path::PathBuf;

use futures::future::BoxFuture;
use futures::FutureExt;
use tokio::io::{AsyncWriteExt, BufWriter};

use super::error::ConnectError;
use super::sink::{Sink, SinkRecord};

/// The write buffer in front of the file.
const WRITE_BUFFER_BYTES: usize = 256 * 1024;

/// Appends lines to one file.
#[derive(Debug)]
pub struct FileStreamSink {
    file: PathBuf,
    writer: Option<BufWriter<tokio::fs::File>>,
}

impl FileStreamSink {
    /// A sink appending to `file` (created if missing).
    pub fn new(file: PathBuf) -> Self {
        Self { file, writer: None }
    }

    fn context(&self, what: &str) -> String {
        format!("FileStreamSink: {what} {}", self.file.display())
    }

    fn writer(&mut self) -> Result<&mut BufWriter<tokio::fs::File>, ConnectError> {
        let context = self.context("not open:");
        self.writer
            .as_mut()
            .ok_or_else(|| ConnectError::io(context, std::io::ErrorKind::NotConnected.into()))
    }

    async fn open(&mut self) -> Result<(), ConnectError> {
        let file = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.file)
            .await
            .map_err(|err| ConnectError::io(self.context("cannot open"), err))?;
        self.writer = Some(BufWriter::with_capacity(WRITE_BUFFER_BYTES, file));
        Ok(())
    }

    async fn write(&mut self, records: &[SinkRecord]) -> Result<(), ConnectError> {
        let context = self.context("cannot write to");
        let writer = self.writer()?;
        for record in records {
            let line = record.value.to_line_bytes();
            let written = async {
                writer.write_all(&line).await?;
                writer.write_all(b"\n").await
            };
            written
                .await
                .map_err(|err| ConnectError::io(context.clone(), err))?;
        }
        writer
            .flush()
            .await
            .map_err(|err| ConnectError::io(context, err))
    }

    async fn sync(&mut self) -> Result<(), ConnectError> {
        let context = self.context("cannot flush");
        let writer = self.writer()?;
        writer
            .flush()
            .await
            .map_err(|err| ConnectError::io(context.clone(), err))?;
        writer
            .get_ref()
            .sync_data()
            .await
            .map_err(|err| ConnectError::io(context, err))
    }
}

impl Sink for FileStreamSink {
    fn start(&mut self) -> BoxFuture<'_, Result<(), ConnectError>> {
        self.open().boxed()
    }

    fn check(&self, record: &SinkRecord) -> Result<(), String> {
        let line = record.value.to_line_bytes();
        match line.iter().position(|b| *b == b'\n' || *b == b'\r') {
            Some(at) => Err(format!(
                "FileStreamSink writes one line per record, and this value holds a line break \
                 at byte {at}"
            )),
            None => Ok(()),
        }
    }

    fn put<'a>(&'a mut self, records: &'a [SinkRecord]) -> BoxFuture<'a, Result<(), ConnectError>> {
        self.write(records).boxed()
    }

    fn flush(&mut self) -> BoxFuture<'_, Result<(), ConnectError>> {
        self.sync().boxed()
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::super::converter::Data;
    use super::*;

    fn record(offset: i64, value: Data) -> SinkRecord {
        SinkRecord {
            topic: "t".into(),
            partition: 0,
            offset,
            timestamp_ms: 0,
            key: Data::Null,
            value,
            headers: Vec::new(),
        }
    }

    #[tokio::test]
    async fn appends_one_line_per_record() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.txt");
        std::fs::write(&path, "earlier\n").unwrap();
        let mut sink = FileStreamSink::new(path.clone());
        sink.start().await.unwrap();
        let records = [
            record(0, Data::Text("a".into())),
            record(1, Data::Null),
            record(2, Data::Bytes(Bytes::from_static(b"raw"))),
        ];
        for r in &records {
            sink.check(r).unwrap();
        }
        sink.put(&records).await.unwrap();
        sink.flush().await.unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "earlier\na\nnull\nraw\n"
        );
    }

    #[test]
    fn refuses_values_with_line_breaks() {
        let sink = FileStreamSink::new("unused".into());
        let err = sink
            .check(&record(0, Data::Text("two\nlines".into())))
            .unwrap_err();
        assert!(err.contains("byte 3"), "{err}");
        assert!(sink.check(&record(0, Data::Text("a\rb".into()))).is_err());
    }
}
