//! The process's metrics, in one registry that `GET /metrics` renders for Prometheus.
//!
//! Whatever counts calls a small function here, so names, labels and buckets are defined once.
//! Label values come from fixed sets (`&'static str` cache names, route patterns, status codes):
//! a label fed from a URL or a user's input would make a new series per value and swamp Prometheus.
//! A labelled series appears at its first count.

use std::sync::LazyLock;
use std::time::Duration;

use prometheus::core::Collector;
use prometheus::{
    HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry,
    TextEncoder,
};
use sqlx::PgPool;

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

/// A lookup in `cache` (`course`, `catalog_page`, `cart`, …) found the value.
pub fn cache_hit(cache: &'static str) {
    cache_lookup(cache, CacheOutcome::Hit);
}

/// A lookup in `cache` did not find the value.
pub fn cache_miss(cache: &'static str) {
    cache_lookup(cache, CacheOutcome::Miss);
}

/// A lookup in `cache` could not ask Redis (down, slow, cooling down).
pub fn cache_error(cache: &'static str) {
    cache_lookup(cache, CacheOutcome::Error);
}

fn cache_lookup(cache: &'static str, outcome: CacheOutcome) {
    METRICS
        .cache_requests
        .with_label_values(&[cache, outcome.as_str()])
        .inc();
}

/// A value of `cache` was recomputed from the store. Fewer than the misses when concurrent misses
/// share one recomputation (no stampede).
pub fn cache_rebuild(cache: &'static str) {
    METRICS.cache_rebuilds.with_label_values(&[cache]).inc();
}

/// Lookups in `cache` with `outcome` so far in this process (for tests and load scenarios).
pub fn cache_requests(cache: &'static str, outcome: CacheOutcome) -> u64 {
    METRICS
        .cache_requests
        .with_label_values(&[cache, outcome.as_str()])
        .get()
}

/// Recomputations of `cache` values so far in this process (for tests and load scenarios).
pub fn cache_rebuilds(cache: &'static str) -> u64 {
    METRICS.cache_rebuilds.with_label_values(&[cache]).get()
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
        cache_hit("course");
        cache_rebuild("course");
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
