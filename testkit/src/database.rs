//! A PostgreSQL database of each test's own, created on the server `TEST_DATABASE_URL` names.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection, PgPool};
use uuid::Uuid;

use shop::catalog::seed;
use shop::database::MIGRATOR;

use crate::cleanup::run_to_completion;
use crate::proxy::TcpProxy;

/// The server the tests create their databases on. `TEST_DATABASE_URL` points elsewhere if needed.
pub fn admin_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// The URL of database `name` on the server [`admin_url`] names.
pub fn database_url(name: &str) -> String {
    database_url_on(&admin_url(), name)
}

/// The URL of database `name` on the server `admin` (a URL of any database there) names.
pub fn database_url_on(admin: &str, name: &str) -> String {
    let base = admin.rsplit_once('/').map_or(admin, |(base, _)| base);
    format!("{base}/{name}")
}

/// The URL of `database` with `proxy` in the way (a proxy started in front of the PostgreSQL server),
/// so a test can cut PostgreSQL away.
pub fn url_through(proxy: &TcpProxy, database: &TestDatabase) -> String {
    let options = PgConnectOptions::from_str(&database.url).expect("a valid URL");
    format!(
        "postgres://{}@{}/{}",
        options.get_username(),
        proxy.address,
        database.name
    )
}

/// Courses in the shared test catalog: enough for several pages in every category.
pub const TEST_CATALOG_COURSES: u32 = 500;

/// A database of this test's own, dropped when the test ends.
pub struct TestDatabase {
    pub name: String,
    /// Where to connect to it (on the server [`admin_url`] names, unless made elsewhere).
    pub url: String,
    /// A URL of the server it is on, to drop it from.
    admin: String,
}

impl TestDatabase {
    /// An empty, migrated database.
    pub async fn migrated() -> TestDatabase {
        let database = TestDatabase::create(&admin_url(), None).await;
        let pool = database.pool().await;
        MIGRATOR.run(&pool).await.expect("migrations apply");
        pool.close().await;
        database
    }

    /// A copy of the seeded test catalog (PostgreSQL copies a template database in milliseconds).
    pub async fn seeded() -> TestDatabase {
        TestDatabase::seeded_on(&admin_url()).await
    }

    /// A copy of the seeded test catalog on the server `admin` names (e.g. the tests' own primary,
    /// which a replica replays).
    pub async fn seeded_on(admin: &str) -> TestDatabase {
        let template = seeded_template(admin).await;
        TestDatabase::create(admin, Some(&template)).await
    }

    async fn create(admin_url: &str, template: Option<&str>) -> TestDatabase {
        let name = format!("courseshop_test_{}", Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(admin_url)
            .await
            .expect("PostgreSQL is reachable");
        let sql = match template {
            Some(template) => format!(r#"CREATE DATABASE "{name}" TEMPLATE "{template}""#),
            None => format!(r#"CREATE DATABASE "{name}""#),
        };
        // a template being copied by another test at the same instant is briefly "in use": retry
        let mut attempt = 0;
        while let Err(error) = admin.execute(AssertSqlSafe(sql.clone())).await {
            attempt += 1;
            assert!(attempt < 50, "cannot create {name}: {error}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        TestDatabase {
            url: database_url_on(admin_url, &name),
            name,
            admin: admin_url.to_string(),
        }
    }

    /// A small pool (five connections) on this database.
    pub async fn pool(&self) -> PgPool {
        PgPoolOptions::new()
            .max_connections(5)
            .connect(&self.url)
            .await
            .expect("the test database is reachable")
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let sql = format!(r#"DROP DATABASE IF EXISTS "{}" WITH (FORCE)"#, self.name);
        let admin_url = self.admin.clone();
        run_to_completion(move || async move {
            let mut admin = PgConnection::connect(&admin_url).await.ok()?;
            admin.execute(AssertSqlSafe(sql)).await.ok()
        });
    }
}

/// The seeded catalog as a template database, built once per schema and catalog version. Test
/// processes run in parallel, so building it is serialised with an advisory lock.
async fn seeded_template(admin_url: &str) -> String {
    let mut hasher = DefaultHasher::new();
    for migration in MIGRATOR.iter() {
        migration.checksum.hash(&mut hasher);
    }
    TEST_CATALOG_COURSES.hash(&mut hasher);
    seed::course(1).title.hash(&mut hasher);
    seed::instructor(0).hash(&mut hasher);
    let name = format!("courseshop_template_{:016x}", hasher.finish());

    let mut admin = PgConnection::connect(admin_url)
        .await
        .expect("PostgreSQL is reachable");
    admin
        .execute("SELECT pg_advisory_lock(728104)")
        .await
        .expect("advisory lock");
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&name)
            .fetch_one(&mut admin)
            .await
            .expect("pg_database is readable");
    if !exists {
        let building = format!("{name}_building");
        admin
            .execute(AssertSqlSafe(format!(
                r#"DROP DATABASE IF EXISTS "{building}" WITH (FORCE)"#
            )))
            .await
            .expect("drop");
        admin
            .execute(AssertSqlSafe(format!(r#"CREATE DATABASE "{building}""#)))
            .await
            .expect("create");
        let pool = PgPoolOptions::new()
            .max_connections(2)
            .connect(&database_url_on(admin_url, &building))
            .await
            .expect("connect");
        MIGRATOR.run(&pool).await.expect("migrations apply");
        seed::seed_catalog(&pool, TEST_CATALOG_COURSES)
            .await
            .expect("seed");
        pool.close().await;
        // renamed only when complete, so a crash mid-build never leaves a half-seeded template behind
        admin
            .execute(AssertSqlSafe(format!(
                r#"ALTER DATABASE "{building}" RENAME TO "{name}""#
            )))
            .await
            .expect("rename");
    }
    admin
        .execute("SELECT pg_advisory_unlock(728104)")
        .await
        .expect("advisory unlock");
    name
}
