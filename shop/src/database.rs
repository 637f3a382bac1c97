//! The PostgreSQL connection pool, the migrations, what a failed query means to a caller, and
//! where reads go when there is a replica (`reads.rs`, `wal.rs`).

mod reads;
mod wal;

pub use reads::{ReadFailure, Reads, ReplicaHealth, ReplicaStatus};
pub use wal::{ReadAfter, WalPosition, primary_position};

use sqlx::PgPool;
use sqlx::migrate::Migrator;
use sqlx::postgres::PgPoolOptions;

use crate::settings::DatabaseSettings;

/// The schema, embedded in every binary that needs it (`courseshop migrate`, the tests).
pub static MIGRATOR: Migrator = sqlx::migrate!("../migrations");

/// A pool that connects on first use, so the shop starts (and answers 503) while PostgreSQL is down
/// and recovers by itself when it returns.
pub fn connect_lazily(settings: &DatabaseSettings) -> PgPool {
    PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(settings.acquire_timeout)
        // a connection that died with the server is noticed before it is handed out
        .test_before_acquire(true)
        // statement logging stays on (sqlx's default, DEBUG): `courseshop_postgres_queries_total`
        // counts those events, so `disable_statement_logging()` here would stop the count
        // named, so `pg_stat_activity` shows which connections are the shop's
        .connect_lazy_with(
            settings
                .connect_options
                .clone()
                .application_name("courseshop"),
        )
}

/// Whether PostgreSQL answers a trivial query now (the readiness probe).
pub async fn ping(pool: &PgPool) -> Result<(), StoreError> {
    sqlx::query_scalar!(r#"SELECT 1 AS "one!""#)
        .fetch_one(pool)
        .await?;
    Ok(())
}

/// A store operation that failed, sorted by what the caller can do about it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached now; a later try may work (a 503 for a person).
    #[error("the database is unavailable")]
    Unavailable(#[source] sqlx::Error),
    /// The database answered with an error: a bug or a broken invariant (a 500, logged).
    #[error("the database refused a query")]
    Query(#[source] sqlx::Error),
    /// A row that the shop's own types cannot read: data written around the shop (a 500, logged).
    #[error("stored data is not valid: {0}")]
    Corrupt(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> StoreError {
        if is_unavailable(&error) {
            StoreError::Unavailable(error)
        } else {
            StoreError::Query(error)
        }
    }
}

fn is_unavailable(error: &sqlx::Error) -> bool {
    match error {
        // a connection cut mid-handshake surfaces as a protocol error ("unexpected response from
        // SSLRequest"): to the caller it is the same outage as a refused connection
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            // class 08: connection exceptions; 57P01-57P03: server shutting down or starting up
            code.starts_with("08") || matches!(code.as_ref(), "57P01" | "57P02" | "57P03")
        }),
        _ => false,
    }
}
