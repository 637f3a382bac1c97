//! The process's metrics, in one registry that `GET /metrics` renders for Prometheus.
//!
//! Whatever counts calls a small function here, so names, labels and buckets are defined once.
//! Label values come from fixed sets (`CacheName`s, route patterns, status codes):
//! a label fed from a URL or a user's input would make a new series per value and swamp Prometheus.
//! A labelled series appears at its first count.

use std::sync::LazyLock;
use std::time::Duration;

use prometheus::core::Collector;
use prometheus::{
    Gauge, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};
use sqlx::PgPool;

use crate::cache::CacheName;

/// The media type of the text exposition format `render` writes.
pub const CONTENT_TYPE: &str = prometheus::TEXT_FORMAT;

/// What a cache lookup found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheOutcome {
    Hit,
    Miss,
    /// Redis was unavailable: the value came from the store as if there were no cache.
    Error,
}

impl CacheOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            CacheOutcome::Hit => "hit",
            CacheOutcome::Miss => "miss",
            CacheOutcome::Error => "error",
        }
    }
}

/// A lookup in `cache` found the value.
pub fn cache_hit(cache: CacheName) {
    cache_lookup(cache, CacheOutcome::Hit);
}

/// A lookup in `cache` did not find the value.
pub fn cache_miss(cache: CacheName) {
    cache_lookup(cache, CacheOutcome::Miss);
}

/// A lookup in `cache` could not ask Redis (down, slow, cooling down).
pub fn cache_error(cache: CacheName) {
    cache_lookup(cache, CacheOutcome::Error);
}

fn cache_lookup(cache: CacheName, outcome: CacheOutcome) {
    METRICS
        .cache_requests
        .with_label_values(&[cache.as_str(), outcome.as_str()])
        .inc();
}

/// A value of `cache` was recomputed from the store. Fewer than the misses when concurrent misses
/// share one recomputation (no stampede).
pub fn cache_rebuild(cache: CacheName) {
    METRICS
        .cache_rebuilds
        .with_label_values(&[cache.as_str()])
        .inc();
}

/// Lookups in `cache` with `outcome` so far in this process (for tests and load scenarios).
pub fn cache_requests(cache: CacheName, outcome: CacheOutcome) -> u64 {
    METRICS
        .cache_requests
        .with_label_values(&[cache.as_str(), outcome.as_str()])
        .get()
}

/// Recomputations of `cache` values so far in this process (for tests and load scenarios).
pub fn cache_rebuilds(cache: CacheName) -> u64 {
    METRICS
        .cache_rebuilds
        .with_label_values(&[cache.as_str()])
        .get()
}

/// One SQL statement was sent to PostgreSQL (called by the web app's statement counter).
pub fn postgres_query() {
    METRICS.postgres_queries.inc();
}

/// SQL statements sent to PostgreSQL so far in this process.
pub fn postgres_queries() -> u64 {
    METRICS.postgres_queries.get()
}

/// One HTTP request answered. `method` and `route` must come from bounded sets: the route's
/// pattern (`/courses/{slug}`), never the raw path.
pub fn http_request(method: &str, route: &str, status: u16, elapsed: Duration) {
    METRICS
        .http_requests
        .with_label_values(&[method, route, &status.to_string()])
        .inc();
    METRICS
        .http_request_duration
        .with_label_values(&[method, route])
        .observe(elapsed.as_secs_f64());
}

/// The pool's connections now, idle and in use; set when scraped, so a gauge is never stale.
pub fn observe_pool(pool: &PgPool) {
    let size = i64::from(pool.size());
    let idle = i64::try_from(pool.num_idle()).unwrap_or(i64::MAX);
    let gauges = &METRICS.postgres_pool_connections;
    gauges.with_label_values(&["idle"]).set(idle);
    // the two are read at different instants: a connection handed out in between is not negative
    gauges
        .with_label_values(&["in_use"])
        .set((size - idle).max(0));
}

/// The outbox as the relay last saw it: rows not yet confirmed by the broker, and the age of the
/// oldest (0 when none). A backlog that grows while its age climbs means the broker is unreachable.
pub fn outbox_backlog(pending: i64, oldest: Option<Duration>) {
    METRICS.outbox_pending.set(pending);
    METRICS
        .outbox_oldest_age
        .set(oldest.map_or(0.0, |age| age.as_secs_f64()));
}

/// Orders paid and not yet enrolled, and how long the oldest has waited (0 when none): the
/// checkout-to-enrolled lag as ops watch it.
pub fn orders_awaiting_enrollment(orders: i64, oldest: Option<Duration>) {
    METRICS.orders_awaiting_enrollment.set(orders);
    METRICS
        .oldest_awaiting_enrollment
        .set(oldest.map_or(0.0, |age| age.as_secs_f64()));
}

/// An outbox row was confirmed by the broker.
pub fn outbox_published(events: u64) {
    METRICS.outbox_published.inc_by(events);
}

/// A round of the relay failed: `reason` is `unavailable` (no connection, or it broke), `timeout`
/// (the broker did not confirm a batch in time) or `not_taken` (the broker refused events or they
/// reached no queue). Counted per round, not per event: the events stay pending either way.
pub fn outbox_publish_failure(reason: &'static str) {
    METRICS
        .outbox_publish_failures
        .with_label_values(&[reason])
        .inc();
}

/// Outbox rows confirmed by the broker so far in this process.
pub fn outbox_published_so_far() -> u64 {
    METRICS.outbox_published.get()
}

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

/// The worker received a message from its queue.
pub fn message_consumed() {
    METRICS.messages_consumed.inc();
}

/// The worker finished a message with `outcome` after `elapsed` (from delivery to ack).
pub fn message_processed(outcome: MessageOutcome, elapsed: Duration) {
    METRICS
        .messages_processed
        .with_label_values(&[outcome.as_str()])
        .inc();
    METRICS
        .message_processing
        .with_label_values(&[outcome.as_str()])
        .observe(elapsed.as_secs_f64());
}

/// Messages the worker received so far in this process.
pub fn messages_consumed() -> u64 {
    METRICS.messages_consumed.get()
}

/// Messages the worker finished with `outcome` so far in this process.
pub fn messages_processed(outcome: MessageOutcome) -> u64 {
    METRICS
        .messages_processed
        .with_label_values(&[outcome.as_str()])
        .get()
}

/// Every metric in the Prometheus text format (`CONTENT_TYPE`).
pub fn render() -> Result<String, prometheus::Error> {
    TextEncoder::new().encode_to_string(&METRICS.registry.gather())
}

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

struct Metrics {
    registry: Registry,
    /// `courseshop_cache_requests_total{cache, outcome}`: how often the cache spared the store.
    cache_requests: IntCounterVec,
    /// `courseshop_cache_rebuilds_total{cache}`: how often the store was asked for a cached value.
    cache_rebuilds: IntCounterVec,
    /// `courseshop_postgres_queries_total`: the load on PostgreSQL each step takes away.
    postgres_queries: IntCounter,
    /// `courseshop_postgres_pool_connections{state}`: a pool always in use means requests queue.
    postgres_pool_connections: IntGaugeVec,
    /// `courseshop_http_requests_total{method, route, status}`: traffic and errors per page.
    http_requests: IntCounterVec,
    /// `courseshop_http_request_duration_seconds{method, route}`: latency per page.
    http_request_duration: HistogramVec,
    /// `courseshop_outbox_pending_events`: events written and not yet confirmed by the broker.
    outbox_pending: IntGauge,
    /// `courseshop_outbox_oldest_pending_age_seconds`: how late the oldest of them is.
    outbox_oldest_age: Gauge,
    /// `courseshop_orders_awaiting_enrollment`: paid, not yet enrolled (step 4).
    orders_awaiting_enrollment: IntGauge,
    /// `courseshop_orders_oldest_awaiting_enrollment_age_seconds`.
    oldest_awaiting_enrollment: Gauge,
    /// `courseshop_outbox_published_total`: events the broker confirmed.
    outbox_published: IntCounter,
    /// `courseshop_outbox_publish_failures_total{reason}`.
    outbox_publish_failures: IntCounterVec,
    /// `courseshop_enrollment_messages_consumed_total` (worker).
    messages_consumed: IntCounter,
    /// `courseshop_enrollment_messages_total{outcome}` (worker).
    messages_processed: IntCounterVec,
    /// `courseshop_enrollment_message_processing_seconds{outcome}` (worker): delivery to ack.
    message_processing: HistogramVec,
}

/// From a cache hit (well under a millisecond) to a request that waited out the pool's timeout.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

impl Metrics {
    fn new() -> Metrics {
        let registry = Registry::new();
        Metrics {
            cache_requests: register(
                &registry,
                IntCounterVec::new(
                    Opts::new(
                        "courseshop_cache_requests_total",
                        "Cache lookups by cache and outcome (hit, miss, error: Redis unavailable).",
                    ),
                    &["cache", "outcome"],
                ),
            ),
            cache_rebuilds: register(
                &registry,
                IntCounterVec::new(
                    Opts::new(
                        "courseshop_cache_rebuilds_total",
                        "Cached values recomputed from the store, by cache.",
                    ),
                    &["cache"],
                ),
            ),
            postgres_queries: register(
                &registry,
                IntCounter::new(
                    "courseshop_postgres_queries_total",
                    "SQL statements sent to PostgreSQL.",
                ),
            ),
            postgres_pool_connections: register(
                &registry,
                IntGaugeVec::new(
                    Opts::new(
                        "courseshop_postgres_pool_connections",
                        "Connections in the PostgreSQL pool, by state (idle, in_use).",
                    ),
                    &["state"],
                ),
            ),
            http_requests: register(
                &registry,
                IntCounterVec::new(
                    Opts::new(
                        "courseshop_http_requests_total",
                        "HTTP requests answered, by method, route pattern and status.",
                    ),
                    &["method", "route", "status"],
                ),
            ),
            http_request_duration: register(
                &registry,
                HistogramVec::new(
                    HistogramOpts::new(
                        "courseshop_http_request_duration_seconds",
                        "Time to answer an HTTP request, by method and route pattern.",
                    )
                    .buckets(LATENCY_BUCKETS.to_vec()),
                    &["method", "route"],
                ),
            ),
            outbox_pending: register(
                &registry,
                IntGauge::new(
                    "courseshop_outbox_pending_events",
                    "Outbox events not yet confirmed by the broker, as the relay last counted.",
                ),
            ),
            outbox_oldest_age: register(
                &registry,
                Gauge::new(
                    "courseshop_outbox_oldest_pending_age_seconds",
                    "Age of the oldest outbox event not yet confirmed by the broker (0: none).",
                ),
            ),
            orders_awaiting_enrollment: register(
                &registry,
                IntGauge::new(
                    "courseshop_orders_awaiting_enrollment",
                    "Orders paid and not yet enrolled by the worker, as the relay last counted.",
                ),
            ),
            oldest_awaiting_enrollment: register(
                &registry,
                Gauge::new(
                    "courseshop_orders_oldest_awaiting_enrollment_age_seconds",
                    "How long the oldest order not yet enrolled has waited (0: none).",
                ),
            ),
            outbox_published: register(
                &registry,
                IntCounter::new(
                    "courseshop_outbox_published_total",
                    "Outbox events published and confirmed by the broker.",
                ),
            ),
            outbox_publish_failures: register(
                &registry,
                IntCounterVec::new(
                    Opts::new(
                        "courseshop_outbox_publish_failures_total",
                        "Relay rounds that failed, by reason (unavailable, timeout, not_taken); their events stay pending.",
                    ),
                    &["reason"],
                ),
            ),
            messages_consumed: register(
                &registry,
                IntCounter::new(
                    "courseshop_enrollment_messages_consumed_total",
                    "OrderPlaced messages the enrollment worker received.",
                ),
            ),
            messages_processed: register(
                &registry,
                IntCounterVec::new(
                    Opts::new(
                        "courseshop_enrollment_messages_total",
                        "OrderPlaced messages the enrollment worker finished, by outcome \
                         (enrolled, duplicate, retried, dead_lettered).",
                    ),
                    &["outcome"],
                ),
            ),
            message_processing: register(
                &registry,
                HistogramVec::new(
                    HistogramOpts::new(
                        "courseshop_enrollment_message_processing_seconds",
                        "Time from a message's delivery to its ack, by outcome.",
                    )
                    .buckets(LATENCY_BUCKETS.to_vec()),
                    &["outcome"],
                ),
            ),
            registry,
        }
    }
}

/// A metric defined above, registered. Both steps fail only for a malformed definition (a bad
/// name, a duplicate), which is a bug here that every test would show, never a runtime condition.
fn register<M: Collector + Clone + 'static>(
    registry: &Registry,
    metric: prometheus::Result<M>,
) -> M {
    let metric = metric.expect("metric definitions are valid");
    registry
        .register(Box::new(metric.clone()))
        .expect("metric names are unique");
    metric
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_family_is_defined_once_and_renders() {
        cache_hit(CacheName::Course);
        cache_rebuild(CacheName::Course);
        http_request("GET", "/courses/{slug}", 200, Duration::from_millis(3));
        let text = render().expect("renders");
        for family in [
            "courseshop_cache_requests_total",
            "courseshop_cache_rebuilds_total",
            "courseshop_postgres_queries_total",
            "courseshop_http_requests_total",
            "courseshop_http_request_duration_seconds",
        ] {
            assert!(text.contains(&format!("# TYPE {family} ")), "{family}");
        }
        assert!(
            text.contains(r#"courseshop_cache_requests_total{cache="course",outcome="hit"} 1"#)
        );
        assert!(text.contains(
            r#"courseshop_http_request_duration_seconds_bucket{method="GET",route="/courses/{slug}",le="0.005"} 1"#
        ));
    }
}
