//! Tutorial step 3: sessions and the login limit in Redis, and what students see while Redis is down.

use std::time::{Duration, Instant};

use actix_web::cookie::{Cookie, Key};
use actix_web::middleware::from_fn;
use actix_web::web::Data;
use actix_web::{App, HttpResponse, test, web};
use tokio::sync::Notify;

use app::session::ShopSession;
use app::session::store::{Sessions, guard};
use shop::accounts::SignInId;
use shop::cache::Redis;
use shop::catalog::seed;
use shop::ids::UserId;
use shop::orders::SimulatedPaymentGateway;

use crate::helpers::{Page, TcpProxy, TestApp, TestRedis, settings_for};

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
    crate::helpers::redis_keys(app, pattern).await
}

/// Waits (polling, so no longer than the machine needs) until every login counter has expired:
/// at most the window and a few seconds more.
async fn wait_for_the_window_to_pass(app: &TestApp, window: Duration) {
    let deadline = Instant::now() + window + Duration::from_secs(3);
    while !keys(app, "login-failures:*").await.is_empty() {
        assert!(
            Instant::now() < deadline,
            "the login counters expire with their window"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
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
    // long enough for three argon2 logins and a refusal on a loaded machine
    let app = TestApp::with_redis_and(&[
        ("LOGIN_LIMIT_PER_ACCOUNT", "3"),
        ("LOGIN_LIMIT_WINDOW_SECS", "6"),
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
    assert!((1..=6).contains(&retry_after), "{retry_after}");
    assert!(
        !app.get("/").await.body.contains("Signed in as"),
        "not signed in"
    );

    wait_for_the_window_to_pass(&app, Duration::from_secs(6)).await;
    assert_eq!(app.log_in(EMAIL, PASSWORD).await.status, 303);
}

#[tokio::test]
async fn guesses_sent_at_once_are_limited_like_guesses_sent_one_by_one() {
    let app = TestApp::with_redis_and(&[
        ("LOGIN_LIMIT_PER_ACCOUNT", "3"),
        ("LOGIN_LIMIT_WINDOW_SECS", "6"),
    ])
    .await;
    app.register(EMAIL, "Ada", PASSWORD).await;
    app.log_out().await;
    // 20 browsers, each with a login form of its own, all posting a wrong password at once
    let mut browsers = Vec::new();
    for _ in 0..20 {
        let browser = app.other_browser_app();
        let token = browser.get("/login").await.csrf_token();
        browsers.push((browser, token));
    }
    let statuses: Vec<u16> =
        futures::future::join_all(browsers.iter().map(|(browser, token)| async move {
            browser
                .post_form(
                    "/login",
                    &[("csrf_token", token), ("email", EMAIL), ("password", WRONG)],
                )
                .await
                .status
        }))
        .await;
    let checked = statuses.iter().filter(|status| **status == 422).count();
    let refused = statuses.iter().filter(|status| **status == 429).count();
    assert!(
        checked <= 3 && refused >= 17 && checked + refused == 20,
        "at most 3 passwords checked: {statuses:?}"
    );
    assert_html(
        &app.log_in(EMAIL, PASSWORD).await,
        429,
        "Too many sign-in attempts.",
    );

    wait_for_the_window_to_pass(&app, Duration::from_secs(6)).await;
    assert_eq!(app.log_in(EMAIL, PASSWORD).await.status, 303);
}

#[tokio::test]
async fn honest_sign_ins_do_not_use_up_their_addresss_budget() {
    let app = TestApp::with_redis_and(&[("LOGIN_LIMIT_PER_ADDRESS", "3")]).await;
    app.register(EMAIL, "Ada", PASSWORD).await;
    app.log_out().await;
    // one office address, more sign-ins than its budget of attempts
    for _ in 0..5 {
        assert_eq!(app.log_in(EMAIL, PASSWORD).await.status, 303);
        app.log_out().await;
    }
    assert_eq!(app.log_in(EMAIL, WRONG).await.status, 422);
    let (mut redis, _) = redis_of(&app).await;
    for key in keys(&app, "login-failures:*").await {
        let ttl: i64 = redis::cmd("TTL")
            .arg(&key)
            .query_async(&mut redis)
            .await
            .expect("TTL");
        assert!((1..=900).contains(&ttl), "{key} expires: {ttl}");
    }
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

/// The session cookie a response set, if any.
fn session_cookie<B>(response: &actix_web::dev::ServiceResponse<B>) -> Option<Cookie<'static>> {
    response
        .response()
        .cookies()
        .find(|cookie| cookie.name() == "courseshop_session")
        .map(Cookie::into_owned)
}

/// Lets the test log out while a request that has already read the session is still running.
#[derive(Default)]
struct Gate {
    loaded: Notify,
    go: Notify,
}

#[tokio::test]
async fn a_request_that_read_the_session_before_logout_does_not_sign_it_in_again() {
    let redis = TestRedis::new();
    let settings = settings_for(
        "postgres://postgres@127.0.0.1/unused",
        &[
            ("SHOP_STEP", "0"),
            ("CACHE", "redis"),
            ("REDIS_URL", &redis.url),
            ("REDIS_KEY_PREFIX", &redis.prefix),
        ],
    );
    let redis = Redis::new(settings.redis.expect("redis settings")).expect("a Redis URL");
    let sessions = Sessions::new(Some(redis), Key::generate(), false);
    let gate = Data::new(Gate::default());
    let service = test::init_service(
        App::new()
            .app_data(gate.clone())
            .wrap(sessions.middleware())
            .wrap(from_fn(guard))
            .route(
                "/log-in",
                web::post().to(|session: ShopSession| async move {
                    let sign_in = SignInId::generate().expect("randomness");
                    match session.log_in(UserId(7), &sign_in) {
                        Ok(()) => HttpResponse::Ok().finish(),
                        Err(_) => HttpResponse::InternalServerError().finish(),
                    }
                }),
            )
            .route(
                "/log-out",
                web::post().to(|session: ShopSession| async move {
                    session.log_out();
                    HttpResponse::Ok().finish()
                }),
            )
            // a slow request in another tab: reads the session, then writes to it after the logout
            .route(
                "/slow",
                web::post().to(|session: ShopSession, gate: Data<Gate>| async move {
                    gate.loaded.notify_one();
                    gate.go.notified().await;
                    match session.flash("done") {
                        Ok(()) => HttpResponse::Ok().finish(),
                        Err(_) => HttpResponse::InternalServerError().finish(),
                    }
                }),
            )
            .route(
                "/who",
                web::get().to(|session: ShopSession| async move {
                    HttpResponse::Ok().body(format!("{:?}", session.user_id()))
                }),
            ),
    )
    .await;
    let logged_in = test::call_service(
        &service,
        test::TestRequest::post().uri("/log-in").to_request(),
    )
    .await;
    let signed_in = session_cookie(&logged_in).expect("a session at sign-in");
    let slow = test::call_service(
        &service,
        test::TestRequest::post()
            .uri("/slow")
            .cookie(signed_in.clone())
            .to_request(),
    );
    let log_out_meanwhile = async {
        gate.loaded.notified().await;
        let logged_out = test::call_service(
            &service,
            test::TestRequest::post()
                .uri("/log-out")
                .cookie(signed_in.clone())
                .to_request(),
        )
        .await;
        assert_eq!(logged_out.status(), 200);
        gate.go.notify_one();
    };
    let (slow, ()) = futures::join!(slow, log_out_meanwhile);
    assert_eq!(slow.status(), 200);

    // whatever cookie the slow request left the browser with, nobody is signed in with it
    let cookie = session_cookie(&slow).unwrap_or(signed_in);
    let who = test::call_service(
        &service,
        test::TestRequest::get()
            .uri("/who")
            .cookie(cookie)
            .to_request(),
    )
    .await;
    let body = test::read_body(who).await;
    assert_eq!(body, "None", "signed out for good");
}

#[tokio::test]
async fn logging_out_forgets_the_visitors_cart() {
    let app = TestApp::with_redis().await;
    // a visitor's cart that is still in its own cookie (as when merging it at login failed)
    assert_eq!(app.add_to_cart(1).await.status, 303);
    // an anonymous visitor's page has no logout form: any form's token will do
    let token = app
        .get(&format!("/courses/{}", seed::course(1).slug))
        .await
        .csrf_token();
    let logged_out = app.post_form("/logout", &[("csrf_token", &token)]).await;
    assert_eq!(logged_out.status, 303);
    let forgotten = logged_out
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .any(|cookie| cookie.starts_with("courseshop_cart=") && cookie.contains("Max-Age=0"));
    assert!(forgotten, "{:?}", logged_out.headers);
    let cart = app.get("/cart").await;
    assert!(
        !cart.body.contains(&seed::course(1).title),
        "the next person finds an empty cart: {}",
        cart.body
    );
}
