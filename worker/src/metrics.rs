//! The worker's metrics, in a registry of its own: its `/metrics` shows its messages and its
//! PostgreSQL figures, none of the web app's series.

use shop::metrics::{EnrollmentMetrics, MetricsRegistry, PostgresMetrics};

#[derive(Clone, Debug)]
pub struct WorkerMetrics {
    pub registry: MetricsRegistry,
    pub enrollment: EnrollmentMetrics,
    pub postgres: PostgresMetrics,
}

impl WorkerMetrics {
    pub fn new() -> WorkerMetrics {
        let registry = MetricsRegistry::new();
        WorkerMetrics {
            enrollment: EnrollmentMetrics::new(&registry),
            postgres: PostgresMetrics::new(&registry),
            registry,
        }
    }
}

impl Default for WorkerMetrics {
    fn default() -> WorkerMetrics {
        WorkerMetrics::new()
    }
}
