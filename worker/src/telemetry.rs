//! Logs: `tracing`, human-readable in a terminal, one JSON object a line in production.

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, fmt};

use shop::settings::LogFormat;

/// Installs the global subscriber. `RUST_LOG` filters as usual (default: info, quieter libraries;
/// lapin logs every lost connection as an ERROR, which the worker reports itself as a WARN).
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,lapin=off,actix_server=warn"));
    let logs = match format {
        LogFormat::Pretty => fmt::layer().with_target(false).boxed(),
        LogFormat::Json => fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .boxed(),
    };
    // try_init: the tests run many workers in one process, and only the first may install it
    let _ = tracing_subscriber::registry()
        .with(logs.with_filter(filter))
        .try_init();
}
