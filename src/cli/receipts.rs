//! Following the delivery receipts of many sends without keeping the delivered ones.
//!
//! Receipts are checked in send order; the ones already resolved are counted (and handed
//! to a callback) and dropped, so memory holds only records not yet acknowledged, which
//! the producer's own buffer bound limits.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use eddy::client::{ClientError, DeliveryReceipt, RecordMetadata};

/// Receipts of records sent and not yet known delivered, with running counts.
#[derive(Debug, Default)]
pub struct Receipts {
    pending: VecDeque<(Instant, DeliveryReceipt)>,
    delivered: u64,
    failed: u64,
    first_error: Option<ClientError>,
    /// With `timed`: each delivered record's latency from its send to its
    /// acknowledgement, in microseconds (4 bytes a record).
    latencies_us: Option<Vec<u32>>,
}

impl Receipts {
    /// Receipts that also keep every delivered record's latency (as Kafka's
    /// `kafka-producer-perf-test` reports it: send to acknowledgement, per record).
    pub fn timed() -> Self {
        Receipts {
            latencies_us: Some(Vec::new()),
            ..Receipts::default()
        }
    }

    /// Follows one more receipt, for a record sent just now.
    pub fn push(&mut self, receipt: DeliveryReceipt) {
        self.pending.push_back((Instant::now(), receipt));
    }

    /// The per-record latencies kept so far (`timed` receipts), sorted.
    pub fn take_sorted_latencies(&mut self) -> Vec<Duration> {
        let mut micros = self.latencies_us.take().unwrap_or_default();
        micros.sort_unstable();
        micros
            .into_iter()
            .map(|us| Duration::from_micros(u64::from(us)))
            .collect()
    }

    /// Settles the receipts at the front that are resolved already.
    pub fn settle_ready(&mut self, on_delivered: &mut impl FnMut(&RecordMetadata)) {
        while let Some((_, front)) = self.pending.front_mut() {
            let Some(outcome) = front.try_result() else {
                break;
            };
            let (sent_at, _) = self.pending.pop_front().expect("the front exists");
            self.record(sent_at, outcome, on_delivered);
        }
    }

    /// Waits for every receipt (call after the producer's flush).
    pub async fn settle_all(&mut self, on_delivered: &mut impl FnMut(&RecordMetadata)) {
        while let Some((sent_at, receipt)) = self.pending.pop_front() {
            let outcome = receipt.wait().await;
            self.record(sent_at, outcome, on_delivered);
        }
    }

    /// Records delivered so far.
    pub fn delivered(&self) -> u64 {
        self.delivered
    }

    /// Records failed so far.
    pub fn failed(&self) -> u64 {
        self.failed
    }

    /// The first delivery error, if any record failed.
    pub fn take_first_error(&mut self) -> Option<ClientError> {
        self.first_error.take()
    }

    fn record(
        &mut self,
        sent_at: Instant,
        outcome: Result<RecordMetadata, ClientError>,
        on_delivered: &mut impl FnMut(&RecordMetadata),
    ) {
        match outcome {
            Ok(metadata) => {
                self.delivered += 1;
                if let Some(latencies) = &mut self.latencies_us {
                    let us = sent_at.elapsed().as_micros();
                    latencies.push(u32::try_from(us).unwrap_or(u32::MAX));
                }
                on_delivered(&metadata);
            }
            Err(err) => {
                self.failed += 1;
                self.first_error.get_or_insert(err);
            }
        }
    }
}
