//! Courseshop's shared test harness: a PostgreSQL database of each test's own (empty and migrated,
//! or a copy of the seeded test catalog, dropped when the test ends) and a TCP proxy a test can cut,
//! stall and restore to take a store away. It is dev-only: crates use it as a dev-dependency from
//! their integration tests (`app/tests/`, `worker/tests/`), and it is never published or shipped.
//! Beside them, what both test trees need: settings built from a test's own values, polling for a
//! background outcome, the tests' telemetry, and the handle of a worker running in the test.
//!
//! testkit depends on `shop` only, never on `app` or `worker`: both have testkit as a
//! dev-dependency, so depending on them would make a cycle (which Cargo tolerates, at the price of a
//! second copy of the crate in its unit tests and of testkit waiting for it to build). What needs
//! them stays in their test trees: `TestApp`, and each tree's `TestWorker`, which builds a
//! `worker::Worker` and runs it through [`InProcess`].

mod cleanup;
mod cosmos_local;
mod database;
mod haproxy;
mod in_process;
mod pgbouncer;
mod polling;
mod proxy;
mod rabbit;
mod replication;
mod server_process;
mod settings;
mod telemetry;
mod tls_redis;

pub use cosmos_local::TestCosmosServer;
pub use database::{
    TEST_CATALOG_COURSES, TestDatabase, admin_url, database_url, database_url_on, url_through,
};
pub use haproxy::TestHaproxy;
pub use in_process::{InProcess, StopSignal};
pub use pgbouncer::{PoolerSettings, TestPgBouncer};
pub use polling::{PATIENCE, eventually, wait_until};
pub use proxy::TcpProxy;
pub use rabbit::{TestMessage, TestRabbit, rabbitmq_url};
pub use replication::{ReplayPaused, ReplicaTest, TestReplication};
pub use settings::{settings_for, worker_settings_for};
pub use telemetry::telemetry_for_tests;
pub use tls_redis::TestTlsRedis;
