//! Tutorial step 3 over HTTP: Redis as the shop's shared cache.

use shop::accounts::demo::{self, DEMO_INSTRUCTOR, DEMO_PASSWORD};
use shop::cache::CacheName;
use shop::catalog::seed;

use crate::helpers::{Page, TcpProxy, TestApp, TestRedis};

#[tokio::test]
async fn at_step_3_readyz_shows_redis_and_the_footer_names_it() {
    let app = TestApp::with_redis().await;
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status, 200, "{}", ready.body);
    let ready: serde_json::Value = serde_json::from_str(&ready.body).expect("json");
    let redis = ready["stores"]
        .as_array()
        .and_then(|stores| stores.iter().find(|store| store["name"] == "redis"))
        .cloned()
        .expect("redis is listed");
    assert_eq!(redis["status"], "up", "{redis}");
    assert!(app.get("/").await.body.contains("cache: Redis"));
}

/// The slug of a published course the demo instructor teaches.
async fn an_instructors_course(app: &TestApp) -> String {
    demo::seed_demo_accounts(&app.pool).await.expect("demo");
    sqlx::query_scalar(
        "SELECT c.slug FROM courses c JOIN users u ON u.id = c.instructor_id
         WHERE u.email = $1 AND c.published ORDER BY c.id LIMIT 1",
    )
    .bind(DEMO_INSTRUCTOR)
    .fetch_one(&app.pool)
    .await
    .expect("a course")
}

fn served_from(page: &Page) -> &str {
    page.body
        .split(r#"<span data-testid="served-from">"#)
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .unwrap_or("(not shown)")
}

#[tokio::test]
async fn a_second_read_of_a_course_comes_from_redis_without_a_query() {
    let app = TestApp::with_redis().await;
    let path = format!("/courses/{}", seed::course(11).slug);
    let first = app.get(&path).await;
    assert_eq!(first.status, 200);
    assert_eq!(
        served_from(&first),
        "PostgreSQL",
        "{}",
        first.body.split("site-footer").nth(1).unwrap_or_default()
    );

    let before = app.metrics.postgres.statements();
    let second = app.get(&path).await;
    let queries = app.metrics.postgres.statements() - before;
    assert_eq!(second.status, 200);
    assert_eq!(served_from(&second), "Redis cache");
    assert_eq!(queries, 0, "a cached course page needs no PostgreSQL query");
    assert_eq!(
        second.body.matches(&seed::course(11).title).count(),
        first.body.matches(&seed::course(11).title).count()
    );

    // list pages too, per query, filters, sort and page
    let list = "/courses?category=databases&sort=newest&page=2";
    assert_eq!(served_from(&app.get(list).await), "PostgreSQL");
    let before = app.metrics.postgres.statements();
    let again = app.get(list).await;
    assert_eq!(served_from(&again), "Redis cache");
    assert_eq!(app.metrics.postgres.statements() - before, 0);
    assert_eq!(
        served_from(
            &app.get("/courses?category=databases&sort=price_asc&page=2")
                .await
        ),
        "PostgreSQL"
    );
}

#[tokio::test]
async fn an_instructors_edit_is_visible_at_once_on_another_instance() {
    let app = TestApp::with_redis().await;
    let slug = an_instructors_course(&app).await;
    let other = app.another_instance().await;
    let path = format!("/courses/{slug}");
    // the other instance has the page and its category's list cached
    other.get(&path).await;
    assert_eq!(served_from(&other.get(&path).await), "Redis cache");
    let list = "/courses?q=zygomorphic";
    assert!(!other.get(list).await.body.contains("Zygomorphic"));
    other.get(list).await;

    assert_eq!(app.log_in(DEMO_INSTRUCTOR, DEMO_PASSWORD).await.status, 303);
    let token = app
        .get(&format!("/teach/courses/{slug}/edit"))
        .await
        .csrf_token();
    let saved = app
        .post_form(
            &format!("/teach/courses/{slug}"),
            &[
                ("csrf_token", token.as_str()),
                ("title", "Zygomorphic Query Plans"),
                ("summary", "Read query plans with confidence."),
                (
                    "description",
                    "All about reading query plans, with worked examples.",
                ),
                ("category", "databases"),
                ("level", "intermediate"),
                ("duration_minutes", "240"),
                ("price", "49.00"),
            ],
        )
        .await;
    assert_eq!(saved.status, 303, "{}", saved.body);

    let page = other.get(&path).await;
    assert!(
        page.body.contains("Zygomorphic Query Plans"),
        "the edit shows on the next request"
    );
    assert_eq!(
        served_from(&page),
        "PostgreSQL",
        "rebuilt after the invalidation"
    );
    assert!(
        other
            .get(list)
            .await
            .body
            .contains("Zygomorphic Query Plans"),
        "list pages too"
    );

    // unpublishing takes it out of the cached page at once as well
    let token = app.get("/teach/courses").await.csrf_token();
    app.post_form(
        &format!("/teach/courses/{slug}/unpublish"),
        &[("csrf_token", &token)],
    )
    .await;
    assert_eq!(other.get(&path).await.status, 404);
}

#[tokio::test]
async fn concurrent_misses_of_one_course_rebuild_it_once() {
    let app = TestApp::with_redis().await;
    let path = format!("/courses/{}", seed::course(21).slug);
    let before = app.metrics.cache.rebuilds(CacheName::Course);
    let pages = futures::future::join_all((0..20).map(|_| {
        let browser = app.other_browser();
        let path = path.clone();
        async move { browser.get(&path).await.status }
    }))
    .await;
    assert!(pages.iter().all(|status| *status == 200), "{pages:?}");
    assert_eq!(
        app.metrics.cache.rebuilds(CacheName::Course) - before,
        1,
        "twenty concurrent misses, one read of PostgreSQL"
    );
}

#[tokio::test]
async fn flushing_redis_loses_no_cart_and_no_page_goes_wrong() {
    let app = TestApp::with_redis().await;
    app.add_to_cart(3).await;
    app.add_to_cart(4).await;
    let before_flush = app.cart_slugs().await;
    assert_eq!(
        before_flush,
        vec![seed::course(3).slug, seed::course(4).slug]
    );
    // cached now; a removal must drop the copy, or the removed course would come back
    assert_eq!(app.remove_from_cart(3).await.status, 303);
    assert_eq!(app.cart_slugs().await, vec![seed::course(4).slug]);

    flush(&app).await;
    assert_eq!(
        app.cart_slugs().await,
        vec![seed::course(4).slug],
        "a visitor's cart is in Cosmos DB, and its id in a cookie of its own, not in the session"
    );

    // a student's cart too: the flush signs them out (the session was in Redis), not empties it
    let student = app.other_browser_app();
    student
        .register("flush@example.com", "Flush", "correct horse battery")
        .await;
    student.add_to_cart(6).await;
    assert_eq!(student.cart_slugs().await, vec![seed::course(6).slug]);
    flush(&app).await;
    assert!(
        !student.get("/").await.body.contains("Flush"),
        "signed out by the flush"
    );
    assert_eq!(
        student
            .log_in("flush@example.com", "correct horse battery")
            .await
            .status,
        303
    );
    assert_eq!(student.cart_slugs().await, vec![seed::course(6).slug]);
    assert_eq!(
        app.get(&format!("/courses/{}", seed::course(4).slug))
            .await
            .status,
        200
    );
    assert_eq!(app.get("/courses?q=rust").await.status, 200);
}

#[tokio::test]
async fn with_redis_cut_pages_come_from_the_stores_quickly_and_recover() {
    let proxy = TcpProxy::start(&TestRedis::upstream()).await;
    let app = TestApp::with_redis_behind(&proxy).await;
    app.add_to_cart(5).await;
    let path = format!("/courses/{}", seed::course(5).slug);
    app.get(&path).await;

    proxy.cut();
    let started = std::time::Instant::now();
    for page in [path.as_str(), "/courses?q=data", "/"] {
        let shown = app.get(page).await;
        assert_eq!(shown.status, 200, "{page}: {}", shown.body);
    }
    assert!(
        started.elapsed() < std::time::Duration::from_millis(1500),
        "no page may wait seconds for Redis: {:?}",
        started.elapsed()
    );
    let course = app.get(&path).await;
    assert_eq!(served_from(&course), "PostgreSQL");

    proxy.restore();
    let mut back = false;
    for _ in 0..50 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        if served_from(&app.get(&path).await) == "Redis cache" {
            back = true;
            break;
        }
    }
    assert!(
        back,
        "the cache is used again once Redis returns, without a restart"
    );
}

/// Deletes this test's keys only: other tests share the server.
async fn flush(app: &TestApp) {
    let redis = app.settings.redis.as_ref().expect("step 3");
    let client = redis::Client::open(redis.url.expose()).expect("url");
    let mut connection = client
        .get_multiplexed_async_connection()
        .await
        .expect("redis");
    let keys = crate::helpers::redis_keys(app, "*").await;
    if !keys.is_empty() {
        let _: () = redis::cmd("DEL")
            .arg(keys)
            .query_async(&mut connection)
            .await
            .expect("del");
    }
}

#[tokio::test]
async fn the_architecture_page_shows_the_step_its_stores_and_the_cache_at_work() {
    let app = TestApp::with_redis().await;
    let path = format!("/courses/{}", seed::course(8).slug);
    app.get(&path).await;
    app.get(&path).await;
    let page = app.get("/about/architecture").await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("tutorial step 3 (Redis cache)"),
        "{}",
        page.body
    );
    for store in ["postgres", "cosmos", "redis"] {
        assert!(
            page.body.contains(&format!("<td>{store}</td>")),
            "{store} is listed"
        );
    }
    let caches = page
        .body
        .split(r#"data-testid="caches""#)
        .nth(1)
        .expect("the cache figures");
    assert!(
        caches.contains(
            "<td>course pages</td><td>1</td><td>1</td><td>0</td><td>1</td><td>50.0 %</td>"
        ),
        "one miss, then one hit: {caches}"
    );
}
