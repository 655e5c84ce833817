//! The dead-letter topic of a sink (`errors.deadletterqueue.topic.name`): a bad record is
//! written there unchanged — key, value and headers as consumed — when
//! `errors.tolerance=all`. With `errors.deadletterqueue.context.headers.enable=true` it
//! carries Kafka's `__connect.errors.*` headers saying where it came from and why.
//!
//! The topic is created if missing (one partition, the broker's replication factor).
//! `flush` waits for every record sent so far; the runner calls it before committing the
//! group offsets, so a bad record is committed only once it is in the dead-letter topic.

use eddy_client::{
    Acks, ConsumedRecord, DeliveryReceipt, Header, Producer, ProducerConfig, ProducerRecord,
};

use super::config::ErrorHandling;
use super::error::ConnectError;
use super::topics::ensure_topic;

/// Where in the pipeline a record went bad (Kafka's `__connect.errors.stage` values).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// The key converter refused the key.
    KeyConverter,
    /// The value converter refused the value.
    ValueConverter,
    /// A single message transform refused the record.
    Transformation,
    /// The sink refused the record.
    TaskPut,
}

impl Stage {
    fn name(self) -> &'static str {
        match self {
            Self::KeyConverter => "KEY_CONVERTER",
            Self::ValueConverter => "VALUE_CONVERTER",
            Self::Transformation => "TRANSFORMATION",
            Self::TaskPut => "TASK_PUT",
        }
    }
}

/// A sink task's dead-letter queue.
#[derive(Debug)]
pub struct DeadLetterQueue {
    topic: String,
    connector: String,
    task: u32,
    context_headers: bool,
    producer: Producer,
    receipts: Vec<DeliveryReceipt>,
}

impl DeadLetterQueue {
    /// Opens the dead-letter queue `errors` names, if any (creating its topic).
    pub async fn open(
        bootstrap: &str,
        connector: &str,
        task: u32,
        errors: &ErrorHandling,
    ) -> Result<Option<Self>, ConnectError> {
        let Some(topic) = errors.dead_letter_topic.clone() else {
            return Ok(None);
        };
        ensure_topic(bootstrap, &topic, 1, -1, &[]).await?;
        let config = ProducerConfig {
            acks: Acks::All,
            ..ProducerConfig::default()
        };
        let producer = Producer::connect(bootstrap, config)
            .await
            .map_err(|err| ConnectError::client(format!("open dead-letter topic {topic}"), err))?;
        Ok(Some(Self {
            topic,
            connector: connector.to_owned(),
            task,
            context_headers: errors.context_headers,
            producer,
            receipts: Vec::new(),
        }))
    }

    /// Sends `record` to the dead-letter topic; `reason` says why it is there.
    pub async fn send(
        &mut self,
        record: &ConsumedRecord,
        stage: Stage,
        reason: &str,
    ) -> Result<(), ConnectError> {
        tracing::warn!(
            connector = %self.connector, topic = %record.topic, partition = record.partition,
            offset = record.offset, dead_letter_topic = %self.topic, %reason,
            "bad record sent to the dead-letter topic"
        );
        let mut headers = record.headers.clone();
        if self.context_headers {
            headers.extend(self.context(record, stage, reason));
        }
        let out = ProducerRecord {
            topic: self.topic.clone(),
            partition: None,
            key: record.key.clone(),
            value: record.value.clone(),
            headers,
            timestamp_ms: Some(record.timestamp),
        };
        let receipt = self
            .producer
            .send(out)
            .await
            .map_err(|err| self.error(err))?;
        self.receipts.push(receipt);
        metrics::counter!("eddy_connect_dead_letter_records_total", "connector" => self.connector.clone())
            .increment(1);
        Ok(())
    }

    /// Waits until every record sent so far is acknowledged.
    pub async fn flush(&mut self) -> Result<(), ConnectError> {
        self.producer.flush().await.map_err(|err| self.error(err))?;
        for receipt in std::mem::take(&mut self.receipts) {
            receipt.wait().await.map_err(|err| self.error(err))?;
        }
        Ok(())
    }

    fn context(&self, record: &ConsumedRecord, stage: Stage, reason: &str) -> Vec<Header> {
        vec![
            Header::new("__connect.errors.topic", record.topic.clone()),
            Header::new("__connect.errors.partition", record.partition.to_string()),
            Header::new("__connect.errors.offset", record.offset.to_string()),
            Header::new("__connect.errors.connector.name", self.connector.clone()),
            Header::new("__connect.errors.task.id", self.task.to_string()),
            Header::new("__connect.errors.stage", stage.name()),
            Header::new("__connect.errors.exception.message", reason.to_owned()),
        ]
    }

    fn error(&self, err: eddy_client::ClientError) -> ConnectError {
        ConnectError::client(format!("write to dead-letter topic {}", self.topic), err)
    }
}
