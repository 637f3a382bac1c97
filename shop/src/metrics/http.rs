//! The web app's request family: traffic, errors and latency per page.

use std::time::Duration;

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts};

use super::{LATENCY_BUCKETS, MetricsRegistry};

/// `courseshop_http_requests_total{method, route, status}` and
/// `courseshop_http_request_duration_seconds{method, route}`.
#[derive(Clone, Debug)]
pub struct HttpMetrics {
    requests: IntCounterVec,
    duration: HistogramVec,
}

impl HttpMetrics {
    pub fn new(registry: &MetricsRegistry) -> HttpMetrics {
        HttpMetrics {
            requests: registry.register(IntCounterVec::new(
                Opts::new(
                    "courseshop_http_requests_total",
                    "HTTP requests answered, by method, route pattern and status.",
                ),
                &["method", "route", "status"],
            )),
            duration: registry.register(HistogramVec::new(
                HistogramOpts::new(
                    "courseshop_http_request_duration_seconds",
                    "Time to answer an HTTP request, by method and route pattern.",
                )
                .buckets(LATENCY_BUCKETS.to_vec()),
                &["method", "route"],
            )),
        }
    }

    /// One HTTP request answered. `method` and `route` must come from bounded sets: the route's
    /// pattern (`/courses/{slug}`), never the raw path.
    pub fn request(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        self.requests
            .with_label_values(&[method, route, &status.to_string()])
            .inc();
        self.duration
            .with_label_values(&[method, route])
            .observe(elapsed.as_secs_f64());
    }
}
