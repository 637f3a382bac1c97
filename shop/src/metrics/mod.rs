//! Metrics for `GET /metrics`, in one registry per binary: the web app registers the families it
//! counts (HTTP, caches, PostgreSQL and where its reads went, the outbox relay), the enrollment worker its own (messages,
//! PostgreSQL), so each `/metrics` shows only its process's series. The registry and its families
//! are made once, where the binary builds its services, and handed to whatever counts; several
//! apps in one process (the tests) each count their own.
//!
//! Names, labels and buckets are defined once, in the family's file. Label values come from fixed
//! sets (`CacheName`s, route patterns, status codes): a label fed from a URL or a user's input
//! would make a new series per value and swamp Prometheus. A labelled series appears at its first
//! count.

mod cache;
mod enrollment;
mod http;
mod outbox;
mod postgres;
mod reads;

use prometheus::core::Collector;
use prometheus::{Registry, TextEncoder};

pub use self::cache::{CacheMetrics, CacheOutcome};
pub use self::enrollment::{EnrollmentMetrics, MessageOutcome};
pub use self::http::HttpMetrics;
pub use self::outbox::{OutboxMetrics, PublishFailure};
pub use self::postgres::PostgresMetrics;
pub(crate) use self::postgres::statement_sent;
pub use self::reads::{Fallback, ReadMetrics, ReadTarget};

/// The media type of the text exposition format `render` writes.
pub const CONTENT_TYPE: &str = prometheus::TEXT_FORMAT;

/// One binary's metrics: what is registered here is all its `/metrics` shows.
#[derive(Clone, Debug, Default)]
pub struct MetricsRegistry {
    registry: Registry,
}

impl MetricsRegistry {
    pub fn new() -> MetricsRegistry {
        MetricsRegistry::default()
    }

    /// Every metric registered here, in the Prometheus text format (`CONTENT_TYPE`).
    pub fn render(&self) -> Result<String, prometheus::Error> {
        TextEncoder::new().encode_to_string(&self.registry.gather())
    }

    /// A metric of a family, registered. Both steps fail only for a malformed definition (a bad
    /// name, a family registered twice in one registry), which is a bug here that every test would
    /// show, never a runtime condition.
    fn register<M: Collector + Clone + 'static>(&self, metric: prometheus::Result<M>) -> M {
        let metric = metric.expect("metric definitions are valid");
        self.registry
            .register(Box::new(metric.clone()))
            .expect("a family is registered once per registry");
        metric
    }
}

/// From a cache hit (well under a millisecond) to a request that waited out the pool's timeout.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::cache::CacheName;

    #[test]
    fn every_family_is_defined_once_and_renders() {
        let registry = MetricsRegistry::new();
        let cache = CacheMetrics::new(&registry);
        let http = HttpMetrics::new(&registry);
        PostgresMetrics::new(&registry);
        cache.hit(CacheName::Course);
        cache.rebuild(CacheName::Course);
        http.request("GET", "/courses/{slug}", 200, Duration::from_millis(3));
        let text = registry.render().expect("renders");
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

    #[test]
    fn two_registries_count_apart() {
        let (first, second) = (MetricsRegistry::new(), MetricsRegistry::new());
        let (one, other) = (CacheMetrics::new(&first), CacheMetrics::new(&second));
        one.hit(CacheName::Cart);
        assert_eq!(one.requests(CacheName::Cart, CacheOutcome::Hit), 1);
        assert_eq!(other.requests(CacheName::Cart, CacheOutcome::Hit), 0);
        let text = second.render().expect("renders");
        assert!(
            !text.contains(r#"courseshop_cache_requests_total{cache="cart",outcome="hit"} 1"#),
            "{text}"
        );
    }

    #[test]
    fn a_registry_shows_only_the_families_registered_in_it() {
        let worker = MetricsRegistry::new();
        EnrollmentMetrics::new(&worker);
        PostgresMetrics::new(&worker);
        let text = worker.render().expect("renders");
        assert!(text.contains("courseshop_enrollment_messages_consumed_total"));
        assert!(!text.contains("courseshop_outbox_pending_events"), "{text}");
    }
}
