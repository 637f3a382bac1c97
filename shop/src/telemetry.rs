//! Logs and the statement count, the same in every binary (the shop and the enrollment worker):
//! `tracing`, human-readable in a terminal or one JSON object a line in production, beside a layer
//! that counts the SQL statements the process sends to PostgreSQL for
//! `courseshop_postgres_queries_total` (the number each tutorial step's cache should bring down).
//!
//! sqlx reports every statement it executes as one `tracing` event with the target `sqlx::query`
//! (at DEBUG, its default `log_statements` level; at WARN when slower than a second). Counting
//! those events counts statements without touching a query. The layer has a filter of its own, so
//! it sees the events however quiet the log filter is, and they still do not reach the log.

use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::filter::{LevelFilter, filter_fn};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, fmt};

use crate::settings::LogFormat;

/// Installs the global subscriber: the logs, filtered by `RUST_LOG` or else by `default_filter`,
/// and the statement counter. A filter per layer, not one for the subscriber: sqlx's statement
/// events are counted although the log filter hides them.
pub fn init(format: LogFormat, default_filter: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let logs = match format {
        LogFormat::Pretty => fmt::layer().with_target(false).boxed(),
        LogFormat::Json => fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .boxed(),
    };
    // try_init: the tests start many apps and workers in one process, and only the first may
    let _ = tracing_subscriber::registry()
        .with(logs.with_filter(filter))
        .with(statement_counter())
        .try_init();
}

/// Installs only the statement counter, for a process that writes no logs (the tests, unless
/// `TEST_LOG` is set): without a subscriber, sqlx's statement events go nowhere.
pub fn init_without_logs() {
    let _ = tracing_subscriber::registry()
        .with(statement_counter())
        .try_init();
}

/// sqlx's target for its one-event-per-statement log (sqlx-core `logger.rs`).
const STATEMENT_TARGET: &str = "sqlx::query";

/// The counting layer with its filter: only sqlx's statement events, up to DEBUG. If sqlx's
/// statement level were lowered to TRACE (or turned off), statements would stop being counted.
fn statement_counter<S>() -> impl Layer<S>
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
        crate::metrics::statement_sent();
    }
}
