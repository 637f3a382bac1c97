//! Counts the SQL statements the process sends to PostgreSQL, for
//! `courseshop_postgres_queries_total`: the number each tutorial step's cache should bring down.
//!
//! sqlx reports every statement it executes as one `tracing` event with the target `sqlx::query`
//! (at DEBUG, its default `log_statements` level; at WARN when slower than a second). Counting
//! those events counts statements without touching a query. The layer has a filter of its own, so
//! it sees the events however quiet the log filter is, and they still do not reach the log.

use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::filter::{LevelFilter, filter_fn};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

/// sqlx's target for its one-event-per-statement log (sqlx-core `logger.rs`).
const STATEMENT_TARGET: &str = "sqlx::query";

/// The counting layer with its filter: only sqlx's statement events, up to DEBUG. If sqlx's
/// statement level were lowered to TRACE (or turned off), statements would stop being counted.
pub fn layer<S>() -> impl Layer<S>
where
    S: Subscriber + for<'lookup> LookupSpan<'lookup>,
{
    // a filter on metadata alone: tracing caches the verdict per call site, so every other
    // event in the process is rejected once, not on each call
    let statements = filter_fn(|metadata: &Metadata<'_>| {
        metadata.target() == STATEMENT_TARGET && *metadata.level() <= Level::DEBUG
    })
    .with_max_level_hint(LevelFilter::DEBUG);
    StatementCounter.with_filter(statements)
}

struct StatementCounter;

impl<S: Subscriber> Layer<S> for StatementCounter {
    fn on_event(&self, _event: &Event<'_>, _context: Context<'_, S>) {
        shop::metrics::postgres_query();
    }
}
