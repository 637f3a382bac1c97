//! Tutorial step 3: sessions and the login limit in Redis, and what students see while Redis is down.

use std::time::{Duration, Instant};

use shop::catalog::seed;
use shop::orders::SimulatedPaymentGateway;

use crate::helpers::{Page, TcpProxy, TestApp, TestRedis};

const EMAIL: &str = "ada@example.com";
const PASSWORD: &str = "correct horse battery";
const WRONG: &str = "not the password at all";

/// A plain connection to the Redis this app uses (not through any proxy), and its key prefix.
async fn redis_of(app: &TestApp) -> (redis::aio::MultiplexedConnection, String) {
    let settings = app.settings.redis.as_ref().expect("a step 3 app");
    let url = format!("redis://{}", TestRedis::upstream());
    let connection = redis::Client::open(url)
        .expect("redis url")
        .get_multiplexed_async_connection()
        .await
        .expect("Redis is reachable");
    (connection, settings.key_prefix.clone())
}

async fn keys(app: &TestApp, pattern: &str) -> Vec<String> {
    let (mut redis, prefix) = redis_of(app).await;
    redis::cmd("KEYS")
        .arg(format!("{prefix}{pattern}"))
        .query_async(&mut redis)
        .await
        .expect("KEYS")
}

fn assert_html(page: &Page, status: u16, text: &str) {
    assert_eq!(page.status, status, "{}", page.body);
    assert!(
        page.header("content-type").starts_with("text/html"),
        "{:?}",
        page.headers
    );
    assert!(page.body.contains(text), "{text:?} in {}", page.body);
}

#[tokio::test]
async fn a_session_begun_on_one_instance_carries_on_at_another() {
    // instances behind one address share the key that signs the cookie, as they must in Azure
    let app = TestApp::with_redis_and(&[("SESSION_KEY", &"k".repeat(64))]).await;
    let other = app.another_instance().await;
    let registered = app.register(EMAIL, "Ada", PASSWORD).await;
    assert_eq!(registered.status, 303, "{}", registered.body);

    let b = app.continue_on(&other);
    assert!(
        b.get("/")
            .await
            .body
            .contains("Signed in as <strong>Ada</strong>"),
        "signed in on the other instance"
    );
    assert_eq!(b.add_to_cart(3).await.status, 303);
    let placed = b.check_out(SimulatedPaymentGateway::APPROVED_CARD).await;
    assert_eq!(placed.status, 303, "{}", placed.body);
    let mine = b.get("/my/courses").await;
    assert!(mine.body.contains(&seed::course(3).title), "{}", mine.body);

    // the session lives in Redis under the shop's prefix; the cookie carries only its key
    let sessions = keys(&app, "session:*").await;
    let prefix = &app.settings.redis.as_ref().expect("redis").key_prefix;
    let cookie = registered
        .session_cookie()
        .expect("a session cookie at sign-up");
    let value = cookie.trim_start_matches("courseshop_session=");
    let key = sessions
        .iter()
        .map(|key| key.trim_start_matches(&format!("{prefix}session:")))
        .find(|key| value.ends_with(key))
        .unwrap_or_else(|| panic!("the cookie {value} names one of {sessions:?}"));
    assert!(key.len() >= 64, "a long random key: {key}");
    // the signature is 44 characters of base64 (a few percent-encoded); the session itself, even
    // encrypted, would be longer than key and signature together
    assert!(
        value.len() <= key.len() + 64,
        "the key and its signature only, not the session: {value}"
    );
    let (mut redis, _) = redis_of(&app).await;
    let stored: String = redis::cmd("GET")
        .arg(format!("{prefix}session:{key}"))
        .query_async(&mut redis)
        .await
        .expect("the session");
    let state: serde_json::Value = serde_json::from_str(&stored).expect("JSON");
    assert!(state.get("user_id").is_some(), "{stored}");
    let ttl: i64 = redis::cmd("TTL")
        .arg(format!("{prefix}session:{key}"))
        .query_async(&mut redis)
        .await
        .expect("TTL");
    assert!(
        (1..=86_400).contains(&ttl),
        "expires with the session: {ttl}"
    );
}

#[tokio::test]
async fn failed_sign_ins_are_limited_per_account_until_the_window_passes() {
    let app = TestApp::with_redis_and(&[
        ("LOGIN_LIMIT_PER_ACCOUNT", "3"),
        ("LOGIN_LIMIT_WINDOW_SECS", "2"),
    ])
    .await;
    app.register(EMAIL, "Ada", PASSWORD).await;
    app.log_out().await;
    for _ in 0..3 {
        assert_eq!(app.log_in(EMAIL, WRONG).await.status, 422);
    }
    // even the right password, and however the address is written
    let refused = app.log_in("  ADA@example.com", PASSWORD).await;
    assert_html(
        &refused,
        429,
        "Too many sign-in attempts. Try again in 1 minute.",
    );
    let retry_after: u64 = refused.header("retry-after").parse().expect("seconds");
    assert!((1..=2).contains(&retry_after), "{retry_after}");
    assert!(
        !app.get("/").await.body.contains("Signed in as"),
        "not signed in"
    );

    tokio::time::sleep(Duration::from_millis(2_100)).await;
    assert_eq!(app.log_in(EMAIL, PASSWORD).await.status, 303);
}

#[tokio::test]
async fn a_successful_sign_in_clears_the_accounts_failures() {
    let app = TestApp::with_redis_and(&[("LOGIN_LIMIT_PER_ACCOUNT", "3")]).await;
    app.register(EMAIL, "Ada", PASSWORD).await;
    app.log_out().await;
    for _ in 0..2 {
        assert_eq!(app.log_in(EMAIL, WRONG).await.status, 422);
    }
    assert_eq!(app.log_in(EMAIL, PASSWORD).await.status, 303);
    app.log_out().await;
    for _ in 0..2 {
        assert_eq!(app.log_in(EMAIL, WRONG).await.status, 422);
    }
    assert_eq!(app.log_in(EMAIL, PASSWORD).await.status, 303);
    let counters = keys(&app, "login-failures:*").await;
    assert!(
        counters.iter().all(|key| !key.contains("account:")),
        "{counters:?}"
    );
}

#[tokio::test]
async fn failed_sign_ins_are_limited_per_address_whatever_the_emails() {
    let app = TestApp::with_redis_and(&[("LOGIN_LIMIT_PER_ADDRESS", "3")]).await;
    app.register(EMAIL, "Ada", PASSWORD).await;
    app.log_out().await;
    for n in 1..=3 {
        let page = app
            .log_in(&format!("nobody{n}@example.com"), PASSWORD)
            .await;
        assert_eq!(page.status, 422);
    }
    assert_html(
        &app.log_in(EMAIL, PASSWORD).await,
        429,
        "Too many sign-in attempts. Try again in 15 minutes.",
    );
    // a made-up X-Forwarded-For changes nothing unless the shop is told to trust it
    let token = app.get("/login").await.csrf_token();
    let spoofed = app
        .client
        .post(format!("{}/login", app.address))
        .header("x-forwarded-for", "198.51.100.23")
        .form(&[
            ("csrf_token", token.as_str()),
            ("email", EMAIL),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .expect("sent");
    assert_eq!(spoofed.status(), 429);
    for key in keys(&app, "login-failures:*").await {
        let ttl: i64 = redis::cmd("TTL")
            .arg(&key)
            .query_async(&mut redis_of(&app).await.0)
            .await
            .expect("TTL");
        assert!((1..=900).contains(&ttl), "{key} expires: {ttl}");
    }
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_address_it_adds_is_counted() {
    let app = TestApp::with_redis_and(&[
        ("LOGIN_LIMIT_PER_ADDRESS", "2"),
        ("TRUST_FORWARDED_FOR", "true"),
    ])
    .await;
    let attempt = |forwarded_for: &'static str, email: &'static str| {
        let app = &app;
        async move {
            let token = app.get("/login").await.csrf_token();
            app.client
                .post(format!("{}/login", app.address))
                .header("x-forwarded-for", forwarded_for)
                .form(&[
                    ("csrf_token", token.as_str()),
                    ("email", email),
                    ("password", WRONG),
                ])
                .send()
                .await
                .expect("sent")
                .status()
                .as_u16()
        }
    };
    // what the client wrote first varies; what the proxy appended does not
    assert_eq!(attempt("10.1.1.1, 203.0.113.7", "a@example.com").await, 422);
    assert_eq!(attempt("10.2.2.2, 203.0.113.7", "b@example.com").await, 422);
    assert_eq!(attempt("10.3.3.3, 203.0.113.7", "c@example.com").await, 429);
    assert_eq!(
        attempt("10.3.3.3, 203.0.113.8", "d@example.com").await,
        422,
        "another client"
    );
}

#[tokio::test]
async fn while_redis_is_down_pages_render_and_sign_in_says_it_is_unavailable() {
    let proxy = TcpProxy::start(&TestRedis::upstream()).await;
    let app = TestApp::with_redis_behind(&proxy).await;
    assert_eq!(app.register(EMAIL, "Ada", PASSWORD).await.status, 303);
    let visitor = app.other_browser();

    proxy.cut();
    let course = format!("/courses/{}", seed::course(1).slug);
    for path in ["/", "/courses", "/courses?q=rust", course.as_str()] {
        assert_eq!(visitor.get(path).await.status, 200, "{path} for a visitor");
        let page = app.get(path).await;
        assert_eq!(page.status, 200, "{path} for a student");
        assert!(!page.body.contains("Signed in as"), "anonymous for now");
    }
    // a page for signed-in people does not send them to a login that cannot work
    assert_html(
        &app.get("/my/courses").await,
        503,
        "Signing in is unavailable for a moment",
    );
    // what needs a session says so, with a page, never a bare 500
    let login = app.log_in(EMAIL, PASSWORD).await;
    assert_html(&login, 503, "Signing in is unavailable for a moment");
    assert!(!login.header("retry-after").is_empty());
    let token = visitor.get(&course).await.csrf_token();
    let add = visitor
        .post_form(
            "/cart/items",
            &[("csrf_token", &token), ("course", &seed::course(1).slug)],
        )
        .await;
    assert_html(&add, 503, "Signing in is unavailable for a moment");

    proxy.restore();
    // the student's session was kept: signed in again without doing anything
    let deadline = Instant::now() + Duration::from_secs(5);
    while !app.get("/").await.body.contains("Signed in as") {
        assert!(
            Instant::now() < deadline,
            "signed in again within 5 s of Redis returning"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(app.recovers("/my/courses").await);
    app.log_out().await;
    assert_eq!(app.log_in(EMAIL, PASSWORD).await.status, 303);
    assert_eq!(app.add_to_cart(1).await.status, 303);
}
