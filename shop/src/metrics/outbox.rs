//! The outbox relay's family (web app, step 4): the backlog, the lag to enrollment, what the
//! broker confirmed and the rounds that failed.

use std::time::Duration;

use prometheus::{Gauge, IntCounter, IntCounterVec, IntGauge, Opts};

use super::MetricsRegistry;

/// Why a round of the relay failed. Counted per round, not per event: the events stay pending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublishFailure {
    /// No connection to the broker, or it broke.
    Unavailable,
    /// The broker did not confirm a batch in time.
    Timeout,
    /// The broker refused events, or they reached no queue.
    NotTaken,
}

impl PublishFailure {
    pub fn as_str(self) -> &'static str {
        match self {
            PublishFailure::Unavailable => "unavailable",
            PublishFailure::Timeout => "timeout",
            PublishFailure::NotTaken => "not_taken",
        }
    }
}

/// `courseshop_outbox_*` and `courseshop_orders_*awaiting_enrollment*`.
#[derive(Clone, Debug)]
pub struct OutboxMetrics {
    pending: IntGauge,
    oldest_pending_age: Gauge,
    awaiting_enrollment: IntGauge,
    oldest_awaiting_enrollment: Gauge,
    published: IntCounter,
    publish_failures: IntCounterVec,
}

impl OutboxMetrics {
    pub fn new(registry: &MetricsRegistry) -> OutboxMetrics {
        OutboxMetrics {
            pending: registry.register(IntGauge::new(
                "courseshop_outbox_pending_events",
                "Outbox events not yet confirmed by the broker, as the relay last counted.",
            )),
            oldest_pending_age: registry.register(Gauge::new(
                "courseshop_outbox_oldest_pending_age_seconds",
                "Age of the oldest outbox event not yet confirmed by the broker (0: none).",
            )),
            awaiting_enrollment: registry.register(IntGauge::new(
                "courseshop_orders_awaiting_enrollment",
                "Orders paid and not yet enrolled by the worker, as the relay last counted.",
            )),
            oldest_awaiting_enrollment: registry.register(Gauge::new(
                "courseshop_orders_oldest_awaiting_enrollment_age_seconds",
                "How long the oldest order not yet enrolled has waited (0: none).",
            )),
            published: registry.register(IntCounter::new(
                "courseshop_outbox_published_total",
                "Outbox events published and confirmed by the broker.",
            )),
            publish_failures: registry.register(IntCounterVec::new(
                Opts::new(
                    "courseshop_outbox_publish_failures_total",
                    "Relay rounds that failed, by reason (unavailable, timeout, not_taken); their events stay pending.",
                ),
                &["reason"],
            )),
        }
    }

    /// The outbox as the relay last saw it: rows not yet confirmed by the broker, and the age of
    /// the oldest (0 when none). A backlog that grows while its age climbs means the broker is
    /// unreachable.
    pub fn backlog(&self, pending: i64, oldest: Option<Duration>) {
        self.pending.set(pending);
        self.oldest_pending_age.set(seconds(oldest));
    }

    /// Orders paid and not yet enrolled, and how long the oldest has waited (0 when none): the
    /// checkout-to-enrolled lag as ops watch it.
    pub fn awaiting_enrollment(&self, orders: i64, oldest: Option<Duration>) {
        self.awaiting_enrollment.set(orders);
        self.oldest_awaiting_enrollment.set(seconds(oldest));
    }

    /// Outbox rows confirmed by the broker.
    pub fn published(&self, events: u64) {
        self.published.inc_by(events);
    }

    /// A round of the relay failed.
    pub fn publish_failed(&self, reason: PublishFailure) {
        self.publish_failures
            .with_label_values(&[reason.as_str()])
            .inc();
    }

    /// Outbox rows confirmed by the broker so far (`/about/architecture`).
    pub fn published_so_far(&self) -> u64 {
        self.published.get()
    }
}

fn seconds(age: Option<Duration>) -> f64 {
    age.map_or(0.0, |age| age.as_secs_f64())
}
