//! Step 5's reads on a real streaming replica (DESIGN §7, read routing): the catalog's reads go
//! there, a visitor's own write is read back from the primary until the replica has replayed it,
//! the catalog cache is never filled from a replica without the change that emptied it, and a
//! replica that lags or stops is bypassed and used again once back.
//!
//! Each test makes the replica lag by pausing its replay, which every database on it shares, so
//! these tests run one at a time: the `replica` test group (`.config/nextest.toml`) and
//! `ReplicaTest::exclusive` under plain `cargo test`.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection};

use shop::accounts::demo::{self, DEMO_INSTRUCTOR, DEMO_PASSWORD};
use shop::catalog::seed;
use shop::metrics::{Fallback, ReadTarget};
use shop::orders::SimulatedPaymentGateway;

use testkit::{ReplicaTest, TestReplication};

use crate::helpers::{TcpProxy, TestApp, TestRedis, eventually};

const PASSWORD: &str = "correct horse battery";

impl TestApp {
    /// `/readyz` as JSON: its verdict, and the replica's entry.
    async fn replica_readiness(&self) -> (String, serde_json::Value) {
        let ready: serde_json::Value =
            serde_json::from_str(&self.get("/readyz").await.body).unwrap_or_default();
        let replica = ready["stores"]
            .as_array()
            .and_then(|stores| {
                stores
                    .iter()
                    .find(|store| store["name"] == "postgres-replica")
                    .cloned()
            })
            .unwrap_or_default();
        (ready["status"].as_str().unwrap_or("").to_string(), replica)
    }

    fn replica_reads(&self) -> u64 {
        self.metrics.reads.reads(ReadTarget::Replica)
    }

    fn primary_reads(&self) -> u64 {
        self.metrics.reads.reads(ReadTarget::Primary)
    }

    /// Signs the seeded demo instructor in, and names a published course of theirs.
    async fn as_instructor_with_a_course(&self) -> String {
        demo::seed_demo_accounts(&self.pool)
            .await
            .expect("demo accounts");
        assert_eq!(
            self.log_in(DEMO_INSTRUCTOR, DEMO_PASSWORD).await.status,
            303
        );
        sqlx::query_scalar(
            "SELECT c.slug FROM courses c JOIN users u ON u.id = c.instructor_id
             WHERE u.email = $1 AND c.published ORDER BY c.id LIMIT 1",
        )
        .bind(DEMO_INSTRUCTOR)
        .fetch_one(&self.pool)
        .await
        .expect("the demo instructor teaches a published course")
    }

    /// Saves course `slug` with `title` through the instructor's edit form.
    async fn retitle(&self, slug: &str, title: &str) {
        let token = self
            .get(&format!("/teach/courses/{slug}/edit"))
            .await
            .csrf_token();
        let saved = self
            .post_form(
                &format!("/teach/courses/{slug}"),
                &[
                    ("csrf_token", &token),
                    ("title", title),
                    ("summary", "Read query plans with confidence."),
                    ("description", "Plans, then indexes."),
                    ("category", "databases"),
                    ("level", "intermediate"),
                    ("duration_minutes", "240"),
                    ("price", "49.99"),
                ],
            )
            .await;
        assert_eq!(saved.status, 303, "{}", saved.body);
    }
}

/// The app over a database on the tests' primary, reading the replica at `replica_url` (or the
/// replica itself), once the replica is in use.
async fn app_on_replica(
    replication: &TestReplication,
    proxy: Option<&TcpProxy>,
    overrides: Vec<(&'static str, String)>,
) -> TestApp {
    let database = replication.seeded_database().await;
    let replica_url = match proxy {
        Some(proxy) => format!("postgres://postgres@{}/{}", proxy.address, database.name),
        None => replication.replica_url(&database),
    };
    let app = TestApp::with_replica(database, replica_url, overrides).await;
    eventually("the replica is in use", Duration::from_secs(10), || async {
        app.replica_readiness().await.1["status"] == "up"
    })
    .await;
    app
}

/// What the replica's own copy of the test's database says now (behind the primary while paused).
async fn on_replica(replication: &TestReplication, app: &TestApp, sql: &'static str) -> i64 {
    let url = testkit::database_url_on(&replication.replica, app.database_name());
    let mut replica = PgConnection::connect(&url).await.expect("the replica");
    sqlx::query_scalar(sql)
        .fetch_one(&mut replica)
        .await
        .expect("a count on the replica")
}

#[tokio::test]
async fn catalog_reads_go_to_the_replica() {
    let _exclusive = ReplicaTest::exclusive().await;
    let replication = TestReplication::from_env();
    let app = app_on_replica(&replication, None, Vec::new()).await;
    let (verdict, replica) = app.replica_readiness().await;
    assert_eq!(verdict, "ready", "{replica}");

    let course = seed::course(5);
    for path in [
        "/".to_string(),
        "/courses".to_string(),
        "/courses?q=sql".to_string(),
        "/courses?category=databases&page=2".to_string(),
        format!("/courses/{}", course.slug),
    ] {
        let page = app.get(&path).await;
        assert_eq!(page.status, 200, "{path}");
    }
    assert!(app.replica_reads() >= 5, "{}", app.replica_reads());
    assert_eq!(app.primary_reads(), 0, "no catalog read on the primary");
    // and the replica's own statistics agree: the shop's replica connections are there
    let mut replica = PgConnection::connect(&replication.replica)
        .await
        .expect("replica");
    let connections: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity
         WHERE datname = $1 AND application_name = 'courseshop-replica-reads'",
    )
    .bind(app.database_name())
    .fetch_one(&mut replica)
    .await
    .expect("pg_stat_activity");
    assert!(connections > 0);
    let metrics = app.get("/metrics").await.body;
    assert!(
        metrics.contains(r#"courseshop_database_reads_total{target="replica"}"#),
        "{metrics}"
    );
    assert!(
        metrics.contains("courseshop_replica_lag_seconds"),
        "{metrics}"
    );
    let about = app.get("/about/architecture").await;
    assert!(
        about.body.contains(r#"data-replica-reads="replica""#),
        "{}",
        about.body
    );
}

#[tokio::test]
async fn a_students_order_and_courses_show_at_once_while_the_replica_lags() {
    let _exclusive = ReplicaTest::exclusive().await;
    let replication = TestReplication::from_env();
    let app = app_on_replica(&replication, None, Vec::new()).await;
    app.register("ada@example.com", "Ada", PASSWORD).await;
    app.add_to_cart(3).await;
    let paused = replication.pause_replay().await;
    let placed = app.check_out(SimulatedPaymentGateway::APPROVED_CARD).await;
    assert_eq!(placed.status, 303, "{}", placed.body);
    assert_eq!(
        on_replica(&replication, &app, "SELECT count(*) FROM orders").await,
        0,
        "the replica has not replayed the order"
    );

    let title = &seed::course(3).title;
    let order = app.get(placed.header("location")).await;
    assert_eq!(order.status, 200);
    assert!(order.body.contains(title.as_str()), "{}", order.body);
    let order_id = placed.header("location").trim_start_matches("/orders/");
    assert!(app.get("/orders").await.body.contains(order_id));
    let mine = app.get("/my/courses").await;
    assert!(
        mine.body.contains(title.as_str()),
        "{} {}",
        mine.status,
        mine.body
    );
    paused.resume();
}

#[tokio::test]
async fn an_instructors_edit_shows_on_their_course_page_while_the_replica_lags() {
    let _exclusive = ReplicaTest::exclusive().await;
    let replication = TestReplication::from_env();
    let app = app_on_replica(&replication, None, Vec::new()).await;
    let slug = app.as_instructor_with_a_course().await;
    let path = format!("/courses/{slug}");
    assert_eq!(app.get(&path).await.status, 200);

    let paused = replication.pause_replay().await;
    app.retitle(&slug, "Query Plans, Retold While Lagging")
        .await;
    let replica_reads = app.replica_reads();
    let page = app.get(&path).await;
    assert!(
        page.body.contains("Query Plans, Retold While Lagging"),
        "the instructor sees their edit: {}",
        page.body
    );
    assert_eq!(app.replica_reads(), replica_reads, "read from the primary");
    assert!(app.metrics.reads.fallbacks(Fallback::WriteNotReplayed) >= 1);
    // someone without the write in their session reads the replica, a moment behind
    let other = app.other_browser().get("/courses?category=databases").await;
    assert_eq!(other.status, 200);
    assert!(app.replica_reads() > replica_reads);

    paused.resume();
    eventually(
        "the instructor reads the replica again",
        Duration::from_secs(10),
        || async {
            let before = app.replica_reads();
            app.get(&path)
                .await
                .body
                .contains("Query Plans, Retold While Lagging")
                && app.replica_reads() > before
        },
    )
    .await;
}

#[tokio::test]
async fn the_catalog_cache_is_not_filled_from_a_replica_without_the_edit() {
    let _exclusive = ReplicaTest::exclusive().await;
    let replication = TestReplication::from_env();
    let mut overrides = TestRedis::new().overrides();
    overrides.push(("CART_STORE", "postgres".to_string()));
    let app = app_on_replica(&replication, None, overrides).await;
    let slug = app.as_instructor_with_a_course().await;
    let path = format!("/courses/{slug}");
    let visitor = app.other_browser();
    // cached from the replica before the edit
    assert_eq!(visitor.get(&path).await.status, 200);

    let paused = replication.pause_replay().await;
    app.retitle(&slug, "Query Plans, Cached After The Edit")
        .await;
    // a visitor whose session knows nothing of the edit is first to miss the new version: the
    // entry is filled from the primary, since the replica has not replayed the edit
    let first = visitor.get(&path).await;
    assert!(
        first.body.contains("Query Plans, Cached After The Edit"),
        "the visitor's page is filled after the edit: {}",
        first.body
    );
    assert!(
        app.get(&path)
            .await
            .body
            .contains("Query Plans, Cached After The Edit")
    );
    paused.resume();
    // once replayed, the cached entry is still the edited one, for everyone
    eventually(
        "the replica has the edit",
        Duration::from_secs(10),
        || async {
            on_replica(
                &replication,
                &app,
                "SELECT count(*) FROM courses WHERE title = 'Query Plans, Cached After The Edit'",
            )
            .await
                == 1
        },
    )
    .await;
    let fresh = app.other_browser().get(&path).await;
    assert!(fresh.body.contains("Query Plans, Cached After The Edit"));
}

/// A change another instance made (or an operator in psql) reaches this instance's page cache
/// through its search index's refresh, which empties the cached catalog. The new version carries
/// the primary's log position at the refresh, so once the replica has replayed it the pages are
/// filled there again; without a position every fill after any edit went to the primary (measured:
/// two thirds of the catalog's reads, `SCENARIO=scale`).
#[tokio::test]
async fn a_change_seen_by_the_search_index_is_cached_from_the_replica_once_replayed() {
    let _exclusive = ReplicaTest::exclusive().await;
    let replication = TestReplication::from_env();
    let mut overrides = TestRedis::new().overrides();
    overrides.extend([
        ("CART_STORE", "postgres".to_string()),
        ("CATALOG_SEARCH", "index".to_string()),
        ("CATALOG_INDEX_REFRESH_MS", "100".to_string()),
    ]);
    let app = app_on_replica(&replication, None, overrides).await;
    let slug = seed::course(9).slug;
    let path = format!("/courses/{slug}");
    let visitor = app.other_browser();
    assert_eq!(
        visitor.get(&path).await.status,
        200,
        "cached before the change"
    );

    sqlx::query("UPDATE courses SET title = 'Changed Around The Shop' WHERE slug = $1")
        .bind(slug.as_str())
        .execute(&app.pool)
        .await
        .expect("update");
    eventually(
        "the replica has the change",
        Duration::from_secs(10),
        || async {
            on_replica(
                &replication,
                &app,
                "SELECT count(*) FROM courses WHERE title = 'Changed Around The Shop'",
            )
            .await
                == 1
        },
    )
    .await;
    let kept_on_primary = app.metrics.reads.fallbacks(Fallback::WriteNotReplayed);
    let on_replica_before = app.replica_reads();
    eventually(
        "the page shows the change",
        Duration::from_secs(10),
        || async {
            visitor
                .get(&path)
                .await
                .body
                .contains("Changed Around The Shop")
        },
    )
    .await;
    assert_eq!(
        app.metrics.reads.fallbacks(Fallback::WriteNotReplayed),
        kept_on_primary,
        "the new version's pages are not kept on the primary once the replica has the change"
    );
    assert!(
        app.replica_reads() > on_replica_before,
        "filled from the replica"
    );
}

#[tokio::test]
async fn a_lagging_replica_is_bypassed_and_used_again_once_it_catches_up() {
    let _exclusive = ReplicaTest::exclusive().await;
    let replication = TestReplication::from_env();
    let app = app_on_replica(
        &replication,
        None,
        vec![("REPLICA_MAX_LAG_MS", "300".to_string())],
    )
    .await;
    let paused = replication.pause_replay().await;
    // a write the replica does not replay: its lag now grows with the clock
    sqlx::query("UPDATE courses SET updated_at = now() WHERE id = 1")
        .execute(&app.pool)
        .await
        .expect("a write on the primary");
    eventually(
        "the replica counts as lagging",
        Duration::from_secs(10),
        || async {
            let (verdict, replica) = app.replica_readiness().await;
            verdict == "degraded" && replica["status"] == "down" && replica["cause"] == "lagging"
        },
    )
    .await;
    let replica_reads = app.replica_reads();
    assert_eq!(app.get("/courses").await.status, 200);
    assert_eq!(app.replica_reads(), replica_reads, "bypassed");
    assert!(app.metrics.reads.fallbacks(Fallback::Lagging) >= 1);
    let about = app.get("/about/architecture").await.body;
    assert!(about.contains(r#"data-replica-reads="primary""#), "{about}");

    paused.resume();
    eventually(
        "the replica is used again",
        Duration::from_secs(10),
        || async {
            let before = app.replica_reads();
            app.get("/courses").await.status == 200 && app.replica_reads() > before
        },
    )
    .await;
    assert_eq!(app.replica_readiness().await.0, "ready");
}

#[tokio::test]
async fn a_stopped_replica_is_bypassed_without_an_error_page() {
    let _exclusive = ReplicaTest::exclusive().await;
    let replication = TestReplication::from_env();
    let options = PgConnectOptions::from_str(&replication.replica).expect("a URL");
    let proxy = TcpProxy::start(&format!("{}:{}", options.get_host(), options.get_port())).await;
    let app = app_on_replica(&replication, Some(&proxy), Vec::new()).await;
    assert_eq!(app.get("/courses").await.status, 200);

    proxy.cut();
    // at once, before the lag monitor has noticed: each read that fails there is done on the primary
    for page in 1..=10 {
        let path = format!("/courses?page={page}");
        let answer = app.get(&path).await;
        assert_eq!(answer.status, 200, "{path}: {}", answer.body);
    }
    assert_eq!(
        app.get(&format!("/courses/{}", seed::course(7).slug))
            .await
            .status,
        200
    );
    eventually(
        "readiness names the replica",
        Duration::from_secs(10),
        || async {
            let (verdict, replica) = app.replica_readiness().await;
            verdict == "degraded" && replica["status"] == "down"
        },
    )
    .await;
    assert_eq!(app.get("/").await.status, 200);

    proxy.restore();
    eventually(
        "the replica is used again",
        Duration::from_secs(10),
        || async {
            let before = app.replica_reads();
            app.get("/courses").await.status == 200 && app.replica_reads() > before
        },
    )
    .await;
}
