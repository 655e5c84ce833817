//! Following the delivery receipts of many sends without keeping the delivered ones.
//!
//! Receipts are checked in send order; the ones already resolved are counted (and handed
//! to a callback) and dropped, so memory holds only records not yet acknowledged, which
//! the producer's own buffer bound limits.

use std::collections::VecDeque;

use eddy::client::{ClientError, DeliveryReceipt, RecordMetadata};

/// Receipts of records sent and not yet known delivered, with running counts.
#[derive(Debug, Default)]
pub struct Receipts {
    pending: VecDeque<DeliveryReceipt>,
    delivered: u64,
    failed: u64,
    first_error: Option<ClientError>,
}

impl Receipts {
    /// Follows one more receipt.
    pub fn push(&mut self, receipt: DeliveryReceipt) {
        self.pending.push_back(receipt);
    }

    /// Settles the receipts at the front that are resolved already.
    pub fn settle_ready(&mut self, on_delivered: &mut impl FnMut(&RecordMetadata)) {
        while let Some(front) = self.pending.front_mut() {
            let Some(outcome) = front.try_result() else {
                break;
            };
            self.pending.pop_front();
            self.record(outcome, on_delivered);
        }
    }

    /// Waits for every receipt (call after the producer's flush).
    pub async fn settle_all(&mut self, on_delivered: &mut impl FnMut(&RecordMetadata)) {
        while let Some(receipt) = self.pending.pop_front() {
            let outcome = receipt.wait().await;
            self.record(outcome, on_delivered);
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
        outcome: Result<RecordMetadata, ClientError>,
        on_delivered: &mut impl FnMut(&RecordMetadata),
    ) {
        match outcome {
            Ok(metadata) => {
                self.delivered += 1;
                on_delivered(&metadata);
            }
            Err(err) => {
                self.failed += 1;
                self.first_error.get_or_insert(err);
            }
        }
    }
}
