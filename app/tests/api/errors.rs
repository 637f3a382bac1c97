//! Every bad request gets the shop's own HTML error page with the right status, never a bare error.

use std::time::{Duration, Instant};

use crate::helpers::{Page, TcpProxy, TestApp};

fn assert_error_page(page: &Page, status: u16, says: &str) {
    assert_eq!(page.status, status, "{}", page.body);
    assert!(
        page.header("content-type").starts_with("text/html"),
        "HTML, not {}",
        page.header("content-type")
    );
    assert!(
        page.body.contains(&format!("Error {status}")),
        "{}",
        page.body
    );
    assert!(
        page.body.contains(says),
        "page should say {says:?}: {}",
        page.body
    );
    assert!(
        page.body.contains("Tutorial step"),
        "error pages keep the shop's layout"
    );
}

#[tokio::test]
async fn a_malformed_page_number_is_a_400_page() {
    let app = TestApp::seeded().await;
    assert_error_page(
        &app.get("/courses?page=abc").await,
        400,
        "page: a page number is a whole number from 1",
    );
    assert_error_page(&app.get("/courses?page=0").await, 400, "page:");
    assert_error_page(&app.get("/courses?page=-3").await, 400, "page:");
}

#[tokio::test]
async fn other_malformed_parameters_are_400_pages_naming_the_parameter() {
    let app = TestApp::seeded().await;
    assert_error_page(&app.get("/courses?level=expert").await, 400, "level:");
    assert_error_page(&app.get("/courses?sort=cheapest").await, 400, "sort:");
    assert_error_page(
        &app.get("/courses?category=Not%20a%20slug").await,
        400,
        "category:",
    );
    assert_error_page(
        &app.get(&format!("/courses?q={}", "a".repeat(201))).await,
        400,
        "q:",
    );
    assert_error_page(&app.get("/courses?q=%FF%FE").await, 400, "malformed");
}

#[tokio::test]
async fn a_page_past_the_end_is_a_404_page() {
    let app = TestApp::seeded().await;
    assert_error_page(
        &app.get("/courses?page=999").await,
        404,
        "Page 999 is past the end",
    );
    assert_error_page(
        &app.get("/courses?q=zzyzxq&page=2").await,
        404,
        "past the end",
    );
}

#[tokio::test]
async fn unknown_courses_categories_and_addresses_are_404_pages() {
    let app = TestApp::seeded().await;
    assert_error_page(
        &app.get("/courses/no-such-course").await,
        404,
        "no course at this address",
    );
    assert_error_page(
        &app.get("/courses/Not%20A%20Slug").await,
        404,
        "no course at this address",
    );
    assert_error_page(
        &app.get("/courses?category=underwater-basketry").await,
        404,
        "no category called",
    );
    assert_error_page(
        &app.get("/no/such/page").await,
        404,
        "nothing at this address",
    );
    assert_error_page(&app.get("/static/secrets.txt").await, 404, "no such file");
}

#[tokio::test]
async fn a_state_changing_method_on_a_page_is_refused_with_a_page() {
    let app = TestApp::seeded().await;
    let page = app.post_form("/courses", &[("q", "x")]).await;
    assert_eq!(page.status, 404);
    assert!(page.header("content-type").starts_with("text/html"));
}

#[tokio::test]
async fn with_postgres_unreachable_pages_are_503_and_recover_by_themselves() {
    let proxy = TcpProxy::start("127.0.0.1:5432").await;
    let app = TestApp::seeded_behind(&proxy).await;
    let slug = shop::catalog::seed::course(1).slug;
    assert_eq!(app.get("/courses").await.status, 200);

    proxy.cut();
    for path in [
        "/",
        "/courses",
        "/courses?q=rust",
        &format!("/courses/{slug}"),
    ] {
        let page = app.get(path).await;
        assert_error_page(&page, 503, "unreachable right now");
        assert_eq!(page.header("retry-after"), "5");
    }
    let started = std::time::Instant::now();
    let ready = app.get("/readyz").await;
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "a probe answers within its timeout"
    );
    assert_eq!(ready.status, 503);
    let ready: serde_json::Value = serde_json::from_str(&ready.body).expect("JSON");
    assert_eq!(ready["status"], "unavailable");
    assert_eq!(ready["stores"][0]["name"], "postgres");
    assert_eq!(ready["stores"][0]["status"], "down");
    // a category for anyone who asks; the store's error text is in the log only
    assert!(ready["stores"][0]["cause"].is_string(), "{ready}");
    assert!(!ready.to_string().contains("127.0.0.1"), "{ready}");
    // nor does the page name the store's address (the shop's own is there, in its canonical link)
    let about = app.get("/about/architecture").await;
    for store in [proxy.address.to_string(), "127.0.0.1:5432".to_string()] {
        assert!(!about.body.contains(&store), "{store}: {}", about.body);
    }
    assert_eq!(
        app.get("/healthz").await.status,
        200,
        "alive even while a store is down"
    );

    proxy.restore();
    assert!(
        app.recovers("/courses").await,
        "the shop did not recover when PostgreSQL came back"
    );
    assert_eq!(app.get(&format!("/courses/{slug}")).await.status, 200);
    assert_eq!(app.get("/readyz").await.status, 200);
}

#[tokio::test]
async fn a_hanging_postgres_gets_a_503_in_bounded_time_and_the_probe_answers_within_a_second() {
    let proxy = TcpProxy::start("127.0.0.1:5432").await;
    let app = TestApp::seeded_behind(&proxy).await;
    assert_eq!(app.get("/courses").await.status, 200);

    proxy.stall();
    let started = Instant::now();
    let ready = app.get("/readyz").await;
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(ready.status, 503);
    let ready: serde_json::Value = serde_json::from_str(&ready.body).expect("JSON");
    assert_eq!(ready["stores"][0]["cause"], "timeout", "{ready}");

    // pages wait at most the acquire timeout (1 s in the tests), then explain
    let started = Instant::now();
    let page = app.get("/courses?q=rust").await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
    assert_error_page(&page, 503, "unreachable right now");

    proxy.restore();
    assert!(
        app.recovers("/courses").await,
        "the shop did not recover when PostgreSQL answered again"
    );
}
