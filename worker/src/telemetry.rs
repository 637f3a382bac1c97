//! The worker's logs: `shop::telemetry`, with its own quiet defaults.

use shop::settings::LogFormat;

/// Installs the global subscriber (logs and the statement counter). `RUST_LOG` filters as usual
/// (default: info, quieter libraries; lapin logs every lost connection as an ERROR, which the worker
/// reports itself as a WARN with what it does about it).
pub fn init(format: LogFormat) {
    shop::telemetry::init(format, "info,sqlx=warn,lapin=off,actix_server=warn");
}
