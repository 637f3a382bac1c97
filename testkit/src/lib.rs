//! Courseshop's shared test harness: a PostgreSQL database of each test's own (empty and migrated,
//! or a copy of the seeded test catalog, dropped when the test ends) and a TCP proxy a test can cut,
//! stall and restore to take a store away. It is dev-only: crates use it as a dev-dependency from
//! their integration tests (`app/tests/`, `worker/tests/`), and it is never published or shipped.

mod cleanup;
mod database;
mod pgbouncer;
mod proxy;
mod rabbit;
mod server_process;
mod tls_redis;

pub use database::{TEST_CATALOG_COURSES, TestDatabase, admin_url, database_url};
pub use pgbouncer::{PoolerSettings, TestPgBouncer};
pub use proxy::TcpProxy;
pub use rabbit::{TestMessage, TestRabbit, rabbitmq_url};
pub use tls_redis::TestTlsRedis;
