//! The shop as a production deployment connects: through a transaction-pooling PgBouncer (Azure
//! Database for PostgreSQL's built-in one), and over TLS to PostgreSQL and Redis.

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use testkit::{PoolerSettings, TestTlsRedis};

use crate::helpers::{TestApp, TestDatabase, TestPgBouncer, TestRabbit, TestWorker, eventually};

/// Rows of a PgBouncer admin command for this test's database, as `column → value` maps.
fn pgbouncer_show(
    pgbouncer: &TestPgBouncer,
    what: &str,
    database: &str,
) -> Vec<Vec<(String, String)>> {
    let output = Command::new("psql")
        .args([
            &pgbouncer.admin_url(),
            "--csv",
            "-c",
            &format!("SHOW {what}"),
        ])
        .output()
        .expect("psql runs");
    assert!(output.status.success(), "SHOW {what}: {output:?}");
    let text = String::from_utf8_lossy(&output.stdout).to_string();
    let mut lines = text.lines();
    let header: Vec<String> = lines
        .next()
        .unwrap_or_default()
        .split(',')
        .map(str::to_string)
        .collect();
    lines
        .map(|line| {
            header
                .iter()
                .cloned()
                .zip(line.split(',').map(str::to_string))
                .collect::<Vec<_>>()
        })
        .filter(|row| {
            row.iter()
                .any(|(column, value)| column == "database" && value == database)
        })
        .collect()
}

fn column(row: &[(String, String)], name: &str) -> String {
    row.iter()
        .find(|(column, _)| column == name)
        .map(|(_, value)| value.clone())
        .unwrap_or_default()
}

#[tokio::test]
async fn the_shop_serves_pages_and_checks_out_through_pgbouncer_in_transaction_mode() {
    const STUDENTS: u32 = 12;
    let rabbit = TestRabbit::new();
    let database = TestDatabase::seeded().await;
    let name = database.name.clone();
    // two server connections for a shop pool of ten and a worker pool of ten: only transaction
    // pooling lets them take turns, and only tracked prepared statements survive the turns
    let pgbouncer = TestPgBouncer::start(&database, PoolerSettings::AZURE);
    let app = Arc::new(TestApp::through_pgbouncer(database, &pgbouncer, &rabbit).await);
    let worker = TestWorker::start_at(&pgbouncer.url, &rabbit).await;

    let browsers = Arc::new(tokio::sync::Semaphore::new(6));
    let mut students = Vec::new();
    for n in 0..STUDENTS {
        let (app, browsers) = (app.other_browser_app(), browsers.clone());
        students.push(tokio::spawn(async move {
            let _turn = browsers.acquire().await.expect("the semaphore stays open");
            // pages that run many different statements: each is prepared on whichever server
            // connection PgBouncer hands out, again and again
            for path in [
                "/",
                "/courses?q=rust&sort=price_asc",
                "/courses?level=beginner&page=2",
            ] {
                let page = app.get(path).await;
                assert_eq!(page.status, 200, "{path}: {}", page.body);
            }
            let first = 1 + n * 3;
            let order = app
                .buy(&format!("pooled{n}@example.com"), &[first, first + 1])
                .await;
            (app, order)
        }));
    }
    let mut orders = Vec::new();
    for student in students {
        orders.push(student.await.expect("every student checks out"));
    }
    eventually(
        "every order is enrolled by the worker through PgBouncer",
        Duration::from_secs(30),
        || async {
            app.scalar("SELECT count(*) FROM orders WHERE status = 'enrolled'")
                .await
                == i64::from(STUDENTS)
        },
    )
    .await;
    assert_eq!(
        app.scalar("SELECT count(*) FROM enrollments").await,
        i64::from(STUDENTS) * 2
    );
    let (student, order) = &orders[0];
    assert_eq!(student.order_status(order).await, "enrolled");
    let mine = student.get("/my/courses").await;
    assert_eq!(mine.status, 200);
    assert!(
        mine.body.contains(&*shop::catalog::seed::course(1).title),
        "{}",
        mine.body
    );

    // the traffic went through PgBouncer, many clients over at most two server connections
    let clients = pgbouncer_show(&pgbouncer, "CLIENTS", &name).len();
    let servers = pgbouncer_show(&pgbouncer, "SERVERS", &name).len();
    assert!(clients > 2, "{clients} client connections");
    assert!(servers <= 2, "{servers} server connections");
    let stats = pgbouncer_show(&pgbouncer, "STATS", &name);
    let transactions: u64 = column(&stats[0], "total_xact_count").parse().unwrap_or(0);
    assert!(
        transactions > u64::from(STUDENTS) * 10,
        "{transactions} transactions"
    );
    assert!(!pgbouncer.log().contains("ERROR"), "{}", pgbouncer.log());
    worker.stop().await;
}

#[tokio::test]
async fn the_shop_talks_tls_to_postgresql_when_the_url_asks() {
    let database = TestDatabase::seeded().await;
    let url = format!("{}?sslmode=require", database.url);
    let app = TestApp::start_at(database, url, Vec::new()).await;
    assert_eq!(app.get("/courses").await.status, 200);
    let (encrypted, plain): (i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE s.ssl), count(*) FILTER (WHERE NOT s.ssl)
         FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid)
         WHERE a.datname = current_database() AND a.application_name = 'courseshop'",
    )
    .fetch_one(&app.pool)
    .await
    .expect("query");
    assert!(encrypted >= 1, "the shop's connections use TLS");
    assert_eq!(plain, 0, "no connection of the shop is in plain text");
}

#[tokio::test]
async fn the_shop_keeps_sessions_and_the_cache_in_redis_over_tls() {
    let redis = TestTlsRedis::start();
    let settings = |url: String| {
        vec![
            ("SHOP_STEP", "3".to_string()),
            ("CART_STORE", "postgres".to_string()),
            ("REDIS_URL", url),
            (
                "REDIS_KEY_PREFIX",
                format!("tls-{}:", uuid::Uuid::new_v4().simple()),
            ),
        ]
    };
    let app = TestApp::seeded_with(settings(redis.url())).await;
    app.register("tls@example.com", "Tess", "correct horse battery")
        .await;
    assert_eq!(app.redis_status().await, "up");
    // the session lives in Redis from step 3: still signed in on the next page
    let cart = app.get("/cart").await;
    assert!(cart.body.contains("Tess"), "{}", cart.body);

    // the same server refuses a client without TLS, and the shop says Redis is down
    let plain = TestApp::seeded_with(settings(redis.plain_url())).await;
    assert_eq!(plain.redis_status().await, "down");
}

impl TestApp {
    /// Redis's status in `/readyz`.
    async fn redis_status(&self) -> String {
        let ready = self.get("/readyz").await;
        let ready: serde_json::Value = serde_json::from_str(&ready.body).expect("json");
        ready["stores"]
            .as_array()
            .and_then(|stores| stores.iter().find(|store| store["name"] == "redis"))
            .and_then(|redis| redis["status"].as_str())
            .unwrap_or_default()
            .to_string()
    }
}

/// Why `infra/` sets `pgbouncer.max_prepared_statements`: sqlx names the statements it prepares
/// (`sqlx_s_1`, ...) per connection, so two of the shop's connections taking turns on one server
/// connection collide unless PgBouncer tracks and renames them.
#[tokio::test]
async fn sqlx_needs_pgbouncer_to_track_prepared_statements() {
    let database = TestDatabase::migrated().await;
    for (tracked, works) in [(0, false), (200, true)] {
        let pgbouncer = TestPgBouncer::start(
            &database,
            PoolerSettings {
                server_connections: 1,
                prepared_statements: tracked,
            },
        );
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(2)
            .connect(&pgbouncer.url)
            .await
            .expect("PgBouncer answers");
        let (mut first, mut second) = (
            pool.acquire().await.expect("a connection"),
            pool.acquire().await.expect("a second connection"),
        );
        let query = "SELECT count(*) FROM courses WHERE price_cents > $1";
        let mut outcomes = Vec::new();
        for connection in [&mut first, &mut second] {
            outcomes.push(
                sqlx::query_scalar::<_, i64>(query)
                    .bind(0_i64)
                    .fetch_one(&mut **connection)
                    .await,
            );
        }
        if works {
            assert!(outcomes.iter().all(Result::is_ok), "{outcomes:?}");
        } else {
            let error = outcomes[1]
                .as_ref()
                .expect_err("the second connection collides");
            assert!(
                error
                    .to_string()
                    .contains("prepared statement \"sqlx_s_1\" already exists"),
                "{error}"
            );
        }
    }
}
