//! `GET /metrics` as Prometheus scrapes it. The app runs in the test's process (one process a test),
//! so the counters move only with this test's requests.

use crate::helpers::TestApp;

/// The value of the sample `series` (name and labels exactly as rendered), 0 when it is absent:
/// a labelled series appears at its first count.
fn sample(metrics: &str, series: &str) -> f64 {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map_or(0.0, |value| value.trim().parse().expect("a number"))
}

async fn scrape(app: &TestApp) -> String {
    let page = app.get("/metrics").await;
    assert_eq!(page.status, 200, "{}", page.body);
    page.body
}

#[tokio::test]
async fn metrics_answers_in_the_prometheus_text_format() {
    let app = TestApp::seeded().await;
    assert_eq!(app.get("/").await.status, 200);
    // cache lookups are counted by the step-3 stores, in this app's registry
    app.metrics.cache.miss(shop::cache::CacheName::Course);
    app.metrics.cache.rebuild(shop::cache::CacheName::Course);

    let page = app.get("/metrics").await;
    assert_eq!(page.status, 200);
    assert_eq!(page.header("content-type"), "text/plain; version=0.0.4");
    for (family, kind) in [
        ("courseshop_http_requests_total", "counter"),
        ("courseshop_http_request_duration_seconds", "histogram"),
        ("courseshop_postgres_queries_total", "counter"),
        ("courseshop_postgres_pool_connections", "gauge"),
        ("courseshop_cache_requests_total", "counter"),
        ("courseshop_cache_rebuilds_total", "counter"),
    ] {
        assert!(
            page.body.contains(&format!("# TYPE {family} {kind}\n")),
            "{family} is a {kind}:\n{}",
            page.body
        );
        assert!(page.body.contains(&format!("# HELP {family} ")), "{family}");
    }
    let metrics = &page.body;
    assert_eq!(
        sample(
            metrics,
            r#"courseshop_cache_requests_total{cache="course",outcome="miss"}"#
        ),
        1.0
    );
    // the home page took a connection and gave it back: one in the pool, idle (sqlx returns a
    // connection to the pool in the background, so a scrape right after may still see it in use)
    let mut pool = (0.0, 0.0);
    for _ in 0..20 {
        let metrics = scrape(&app).await;
        pool = (
            sample(
                &metrics,
                r#"courseshop_postgres_pool_connections{state="idle"}"#,
            ),
            sample(
                &metrics,
                r#"courseshop_postgres_pool_connections{state="in_use"}"#,
            ),
        );
        if pool.0 >= 1.0 && pool.1 == 0.0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let (idle, in_use) = pool;
    assert!(idle >= 1.0, "idle {idle}\n{metrics}");
    assert_eq!(in_use, 0.0, "{metrics}");
}

#[tokio::test]
async fn a_course_page_is_counted_under_its_route_pattern_not_its_path() {
    let app = TestApp::seeded().await;
    let requests =
        r#"courseshop_http_requests_total{method="GET",route="/courses/{slug}",status="200"}"#;
    let timed =
        r#"courseshop_http_request_duration_seconds_count{method="GET",route="/courses/{slug}"}"#;
    let before = scrape(&app).await;

    let (first, second) = (
        shop::catalog::seed::course(1).slug,
        shop::catalog::seed::course(2).slug,
    );
    assert_eq!(app.get(&format!("/courses/{first}")).await.status, 200);
    assert_eq!(app.get(&format!("/courses/{second}")).await.status, 200);
    assert_eq!(app.get("/courses/no-such-course").await.status, 404);
    assert_eq!(app.get("/no/such/address").await.status, 404);

    let after = scrape(&app).await;
    assert_eq!(sample(&after, requests) - sample(&before, requests), 2.0);
    assert_eq!(sample(&after, timed) - sample(&before, timed), 3.0);
    assert_eq!(
        sample(
            &after,
            r#"courseshop_http_requests_total{method="GET",route="/courses/{slug}",status="404"}"#
        ),
        1.0
    );
    assert_eq!(
        sample(
            &after,
            r#"courseshop_http_requests_total{method="GET",route="unmatched",status="404"}"#
        ),
        1.0
    );
    // a page answered locally in well under five seconds lands in the buckets, below +Inf
    assert!(
        sample(
            &after,
            r#"courseshop_http_request_duration_seconds_bucket{method="GET",route="/courses/{slug}",le="5"}"#
        ) >= 3.0,
        "{after}"
    );
    assert!(!after.contains(&first), "no series per course:\n{after}");
    assert!(!after.contains("no/such/address"), "no series per path");
}

#[tokio::test]
async fn postgres_queries_count_every_statement_the_shop_sends() {
    let app = TestApp::seeded().await;

    let before = app.metrics.postgres.statements();
    assert_eq!(app.get("/").await.status, 200);
    let home = app.metrics.postgres.statements() - before;
    assert!(home > 0, "the home page reads the catalog from PostgreSQL");

    // /readyz at step 0 checks PostgreSQL alone, with one `SELECT 1`
    let before = app.metrics.postgres.statements();
    for _ in 0..3 {
        assert_eq!(app.get("/readyz").await.status, 200);
    }
    assert_eq!(app.metrics.postgres.statements() - before, 3);

    // the endpoint shows the same count, and scraping sends no statement itself
    let counted = app.metrics.postgres.statements();
    let scraped = sample(&scrape(&app).await, "courseshop_postgres_queries_total");
    assert_eq!(scraped, counted as f64);
    assert_eq!(app.metrics.postgres.statements(), counted);
}

/// `/metrics` with `Authorization: Bearer <token>` (or none), as a scraper sends it.
async fn scrape_with(app: &TestApp, token: Option<&str>) -> reqwest::Response {
    let request = app.client.get(format!("{}/metrics", app.address));
    let request = match token {
        Some(token) => request.bearer_auth(token),
        None => request,
    };
    request.send().await.expect("the shop answers")
}

#[tokio::test]
async fn with_a_token_only_a_scraper_that_sends_it_reads_the_metrics() {
    let token = "0123456789abcdef0123456789abcdef";
    let app = TestApp::seeded_with(vec![("METRICS_TOKEN", token.to_string())]).await;
    let refused = scrape_with(&app, None).await;
    assert_eq!(refused.status(), 401);
    assert_eq!(
        refused.headers()["www-authenticate"],
        "Bearer realm=\"metrics\""
    );
    let wrong = scrape_with(&app, Some("0123456789abcdef0123456789abcdeX")).await;
    assert_eq!(wrong.status(), 401);
    let read = scrape_with(&app, Some(token)).await;
    assert_eq!(read.status(), 200);
    let body = read.text().await.expect("text");
    assert!(body.contains("courseshop_http_requests_total"), "{body}");
}

#[tokio::test]
async fn in_production_without_a_token_the_metrics_are_not_served() {
    let database = crate::helpers::TestDatabase::seeded().await;
    let url = format!("{}?sslmode=require", database.url);
    let app = TestApp::start_at(
        database,
        url,
        vec![
            ("SHOP_ENV", "production".to_string()),
            ("SESSION_KEY", "k".repeat(64)),
            ("PUBLIC_URL", "https://shop.example".to_string()),
        ],
    )
    .await;
    assert_eq!(scrape_with(&app, None).await.status(), 404);
    assert_eq!(app.get("/healthz").await.status, 200);
}
