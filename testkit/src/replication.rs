//! A real PostgreSQL primary and a streaming replica of it, for the read-routing tests (step 5).
//! `./scripts/test` makes and starts them once for the run (`scripts/lib/stack-postgres.sh`, as
//! step 5's stack does) and names them in `REPLICA_TEST_PRIMARY_URL` and `REPLICA_TEST_REPLICA_URL`;
//! each test makes a database of its own on the primary, which the replica replays.
//!
//! Pausing replay (`pg_wal_replay_pause()`) is how a test makes the replica lag on purpose. It
//! pauses it for every database, so tests that use the replica run one at a time (a nextest test
//! group, `.config/nextest.toml`, and [`ReplicaTest::exclusive`] under plain `cargo test`).

use std::time::Duration;

use sqlx::{Connection, PgConnection};
use tokio::sync::{Mutex, MutexGuard};

use crate::cleanup::run_to_completion;
use crate::database::{TestDatabase, database_url_on};
use crate::polling::eventually;

/// The servers `./scripts/test` started (or the environment names).
pub struct TestReplication {
    /// A URL of the primary's `postgres` database.
    pub primary: String,
    /// A URL of the replica's `postgres` database.
    pub replica: String,
}

/// One test at a time within a process (plain `cargo test`); nextest's test group does the same
/// across processes.
static EXCLUSIVE: Mutex<()> = Mutex::const_new(());

/// A test's hold on the replica: nobody else's test pauses it meanwhile.
pub struct ReplicaTest {
    _exclusive: MutexGuard<'static, ()>,
}

impl ReplicaTest {
    pub async fn exclusive() -> ReplicaTest {
        ReplicaTest {
            _exclusive: EXCLUSIVE.lock().await,
        }
    }
}

impl TestReplication {
    pub fn from_env() -> TestReplication {
        let variable = |name: &str| {
            std::env::var(name).unwrap_or_else(|_| {
                panic!(
                    "{name} is not set: run the suite with ./scripts/test, which starts a PostgreSQL \
                     primary and a streaming replica for these tests, or set REPLICA_TEST_PRIMARY_URL \
                     and REPLICA_TEST_REPLICA_URL to a pair of your own"
                )
            })
        };
        TestReplication {
            primary: variable("REPLICA_TEST_PRIMARY_URL"),
            replica: variable("REPLICA_TEST_REPLICA_URL"),
        }
    }

    /// A copy of the seeded catalog on the primary, once the replica has it too.
    pub async fn seeded_database(&self) -> TestDatabase {
        let database = TestDatabase::seeded_on(&self.primary).await;
        let url = self.replica_url(&database);
        eventually(
            "the replica has the test's database",
            Duration::from_secs(20),
            || async {
                match PgConnection::connect(&url).await {
                    Ok(connection) => {
                        let _ = connection.close().await;
                        true
                    }
                    Err(_) => false,
                }
            },
        )
        .await;
        database
    }

    /// Where `database` is read on the replica.
    pub fn replica_url(&self, database: &TestDatabase) -> String {
        database_url_on(&self.replica, &database.name)
    }

    /// Stops the replica replaying the primary's log until the returned guard is dropped (a
    /// failing test resumes it too). Writes after this are not on the replica until then.
    pub async fn pause_replay(&self) -> ReplayPaused {
        self.run_on_replica("SELECT pg_wal_replay_pause()").await;
        ReplayPaused {
            replica: self.replica.clone(),
        }
    }

    async fn run_on_replica(&self, sql: &'static str) {
        let mut connection = PgConnection::connect(&self.replica)
            .await
            .expect("the replica is reachable");
        sqlx::query(sql)
            .execute(&mut connection)
            .await
            .unwrap_or_else(|error| panic!("{sql} on the replica: {error}"));
    }
}

/// Replay paused on the replica; resumed when dropped.
pub struct ReplayPaused {
    replica: String,
}

impl ReplayPaused {
    /// Resumes replay now.
    pub fn resume(self) {}
}

impl Drop for ReplayPaused {
    fn drop(&mut self) {
        let replica = self.replica.clone();
        run_to_completion(move || async move {
            let mut connection = PgConnection::connect(&replica).await.ok()?;
            sqlx::query("SELECT pg_wal_replay_resume()")
                .execute(&mut connection)
                .await
                .ok()
        });
    }
}
