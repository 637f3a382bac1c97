//! The tests' telemetry: silent unless asked for (`TEST_LOG=1`), and the SQL statement counter
//! behind `courseshop_postgres_queries_total` installed either way.

use shop::settings::LogFormat;

/// Sets up the test process's telemetry once (later calls do nothing): with `TEST_LOG` set, the
/// logs of the binary under test through its own `init` (`app::telemetry::init`,
/// `worker::telemetry::init`: each with its default filter), human-readable; otherwise only the
/// statement counter (`shop::telemetry::init_without_logs`), which counts through `tracing`.
pub fn telemetry_for_tests(init_logs: fn(LogFormat)) {
    if std::env::var("TEST_LOG").is_ok() {
        init_logs(LogFormat::Pretty);
    } else {
        shop::telemetry::init_without_logs();
    }
}
