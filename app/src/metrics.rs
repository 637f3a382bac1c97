//! The web app's metrics: the families it counts, in a registry of its own (what its `/metrics`
//! shows; the worker has another). `request_metrics.rs` counts the requests.

use shop::metrics::{
    CacheMetrics, HttpMetrics, MetricsRegistry, OutboxMetrics, PostgresMetrics, ReadMetrics,
};

/// The families the web app counts, in a registry of its own (the worker has another).
#[derive(Clone, Debug)]
pub struct AppMetrics {
    pub registry: MetricsRegistry,
    pub http: HttpMetrics,
    pub cache: CacheMetrics,
    pub postgres: PostgresMetrics,
    /// Where the catalog's reads went (step 5's replica), registered at every step.
    pub reads: ReadMetrics,
    /// The outbox relay's (step 4); registered at every step, so the families never come and go.
    pub outbox: OutboxMetrics,
}

impl AppMetrics {
    pub fn new() -> AppMetrics {
        let registry = MetricsRegistry::new();
        AppMetrics {
            http: HttpMetrics::new(&registry),
            cache: CacheMetrics::new(&registry),
            postgres: PostgresMetrics::new(&registry),
            reads: ReadMetrics::new(&registry),
            outbox: OutboxMetrics::new(&registry),
            registry,
        }
    }
}

impl Default for AppMetrics {
    fn default() -> AppMetrics {
        AppMetrics::new()
    }
}
