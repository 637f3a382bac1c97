//! The enrollment worker's family: messages received, finished by outcome, and how long each took.

use std::time::Duration;

use prometheus::{HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts};

use super::{LATENCY_BUCKETS, MetricsRegistry};

/// What the enrollment worker did with one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageOutcome {
    /// Enrolled now.
    Enrolled,
    /// Enrolled before (a duplicate or a redelivery): acked, nothing written.
    Duplicate,
    /// Failed for a passing reason; sent to a retry queue.
    Retried,
    /// Malformed, unknown, or out of attempts; sent to the dead-letter queue.
    DeadLettered,
}

impl MessageOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageOutcome::Enrolled => "enrolled",
            MessageOutcome::Duplicate => "duplicate",
            MessageOutcome::Retried => "retried",
            MessageOutcome::DeadLettered => "dead_lettered",
        }
    }
}

/// `courseshop_enrollment_messages_consumed_total`, `courseshop_enrollment_messages_total{outcome}`
/// and `courseshop_enrollment_message_processing_seconds{outcome}` (delivery to ack).
#[derive(Clone, Debug)]
pub struct EnrollmentMetrics {
    consumed: IntCounter,
    processed: IntCounterVec,
    processing: HistogramVec,
}

impl EnrollmentMetrics {
    pub fn new(registry: &MetricsRegistry) -> EnrollmentMetrics {
        EnrollmentMetrics {
            consumed: registry.register(IntCounter::new(
                "courseshop_enrollment_messages_consumed_total",
                "OrderPlaced messages the enrollment worker received.",
            )),
            processed: registry.register(IntCounterVec::new(
                Opts::new(
                    "courseshop_enrollment_messages_total",
                    "OrderPlaced messages the enrollment worker finished, by outcome \
                     (enrolled, duplicate, retried, dead_lettered).",
                ),
                &["outcome"],
            )),
            processing: registry.register(HistogramVec::new(
                HistogramOpts::new(
                    "courseshop_enrollment_message_processing_seconds",
                    "Time from a message's delivery to its ack, by outcome.",
                )
                .buckets(LATENCY_BUCKETS.to_vec()),
                &["outcome"],
            )),
        }
    }

    /// The worker received a message from its queue.
    pub fn consumed(&self) {
        self.consumed.inc();
    }

    /// The worker finished a message with `outcome` after `elapsed` (from delivery to ack).
    pub fn processed(&self, outcome: MessageOutcome, elapsed: Duration) {
        self.processed.with_label_values(&[outcome.as_str()]).inc();
        self.processing
            .with_label_values(&[outcome.as_str()])
            .observe(elapsed.as_secs_f64());
    }

    /// Messages received so far.
    pub fn messages_consumed(&self) -> u64 {
        self.consumed.get()
    }

    /// Messages finished with `outcome` so far.
    pub fn messages_processed(&self, outcome: MessageOutcome) -> u64 {
        self.processed.with_label_values(&[outcome.as_str()]).get()
    }
}
