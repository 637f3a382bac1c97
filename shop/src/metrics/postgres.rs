//! PostgreSQL's family: the statements sent (the load each tutorial step takes away) and the
//! pool's connections.
//!
//! sqlx reports each statement as a `tracing` event, which the process-wide subscriber sees
//! (`telemetry.rs`). The event says nothing of which app sent it, and a test process runs many
//! apps: so the work that sends statements (a request, the relay, a message) runs inside
//! [`PostgresMetrics::counting_statements`], and the subscriber counts each statement on the
//! counter of the task it was sent from. Statements outside such work (migrations at start) are
//! not counted.

use std::future::Future;

use prometheus::{IntCounter, IntGaugeVec, Opts};
use sqlx::PgPool;
use tokio::task::futures::TaskLocalFuture;

use super::MetricsRegistry;

tokio::task_local! {
    /// The statement counter of the work this task is doing.
    static STATEMENTS: IntCounter;
}

/// `courseshop_postgres_queries_total` and `courseshop_postgres_pool_connections{state}`.
#[derive(Clone, Debug)]
pub struct PostgresMetrics {
    statements: IntCounter,
    pool_connections: IntGaugeVec,
}

impl PostgresMetrics {
    pub fn new(registry: &MetricsRegistry) -> PostgresMetrics {
        PostgresMetrics {
            statements: registry.register(IntCounter::new(
                "courseshop_postgres_queries_total",
                "SQL statements sent to PostgreSQL.",
            )),
            pool_connections: registry.register(IntGaugeVec::new(
                Opts::new(
                    "courseshop_postgres_pool_connections",
                    "Connections in the PostgreSQL pool, by state (idle, in_use).",
                ),
                &["state"],
            )),
        }
    }

    /// `work`, counting the statements it sends here (a future of its own, so it may be spawned).
    pub fn counting_statements<F: Future>(&self, work: F) -> TaskLocalFuture<IntCounter, F> {
        STATEMENTS.scope(self.statements.clone(), work)
    }

    /// SQL statements counted so far.
    pub fn statements(&self) -> u64 {
        self.statements.get()
    }

    /// The pool's connections now, idle and in use; set when scraped, so a gauge is never stale.
    pub fn observe_pool(&self, pool: &PgPool) {
        let size = i64::from(pool.size());
        let idle = i64::try_from(pool.num_idle()).unwrap_or(i64::MAX);
        self.pool_connections.with_label_values(&["idle"]).set(idle);
        // the two are read at different instants: a connection handed out in between is not negative
        self.pool_connections
            .with_label_values(&["in_use"])
            .set((size - idle).max(0));
    }
}

/// One statement was sent (the telemetry's statement counter): counted for the work it was sent
/// from, if that work is counted.
pub(crate) fn statement_sent() {
    let _ = STATEMENTS.try_with(IntCounter::inc);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn statements_count_for_the_work_they_are_sent_from() {
        let registry = MetricsRegistry::new();
        let (one, other) = (PostgresMetrics::new(&registry), {
            PostgresMetrics::new(&MetricsRegistry::new())
        });
        one.counting_statements(async { statement_sent() }).await;
        other
            .counting_statements(async {
                statement_sent();
                statement_sent();
            })
            .await;
        statement_sent();
        assert_eq!((one.statements(), other.statements()), (1, 2));
    }
}
