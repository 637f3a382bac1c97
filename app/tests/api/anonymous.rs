//! Anonymous visitors cost nothing: browsing keeps no state on the server and sets no cookie, the
//! first state change begins the session, and forms stay safe from other sites without one.

use futures::future::join_all;

use shop::catalog::seed;
use shop::orders::SimulatedPaymentGateway;

use crate::helpers::{Page, TestApp};

/// A client that keeps no cookies and does not follow redirects: a crawler, a link preview, an
/// uptime probe.
fn cookieless() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client builds")
}

/// Keys under the app's Redis prefix.
async fn redis_keys(app: &TestApp) -> usize {
    crate::helpers::redis_keys(app, "*").await.len()
}

/// Rows of every table a visitor's state could be written to.
async fn visitor_rows(app: &TestApp) -> i64 {
    sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM user_sessions) + (SELECT count(*) FROM users)
              + (SELECT count(*) FROM carts) + (SELECT count(*) FROM cart_items)
              + (SELECT count(*) FROM orders)",
    )
    .fetch_one(&app.pool)
    .await
    .expect("counts")
}

async fn get(client: &reqwest::Client, app: &TestApp, path: &str) -> Page {
    Page::from(
        client
            .get(format!("{}{path}", app.address))
            .send()
            .await
            .expect("request sent"),
    )
    .await
}

#[tokio::test]
async fn a_thousand_cookieless_page_views_leave_nothing_behind() {
    let app = TestApp::with_redis().await;
    let course = format!("/courses/{}", seed::course(5).slug);
    let paths = ["/", "/courses", course.as_str()];
    let client = cookieless();
    // the caches filled first: what is counted is what a visitor leaves, not what a page caches
    for path in paths {
        assert_eq!(get(&client, &app, path).await.status, 200);
    }
    let (keys, rows) = (redis_keys(&app).await, visitor_rows(&app).await);

    for round in 0..(1000 / (8 * paths.len()) + 1) {
        let pages = join_all(
            (0..8)
                .flat_map(|_| paths)
                .map(|path| get(&client, &app, path)),
        )
        .await;
        for page in pages {
            assert_eq!(page.status, 200, "round {round}: {}", page.body);
            assert!(
                page.headers.get("set-cookie").is_none(),
                "no cookie for a visitor who did nothing: {:?}",
                page.headers
            );
        }
    }
    assert_eq!(redis_keys(&app).await, keys, "no session, no key");
    assert_eq!(visitor_rows(&app).await, rows);
}

#[tokio::test]
async fn the_session_begins_at_the_first_change_and_the_journey_still_works() {
    let app = TestApp::with_redis().await;
    let browsed = app.get(&format!("/courses/{}", seed::course(3).slug)).await;
    assert!(browsed.headers.get("set-cookie").is_none());
    assert_eq!(browsed.csrf_token(), "", "no session yet, so no token");
    let keys = redis_keys(&app).await;

    // adding to the cart is the first change: the visitor's cart cookie and a session begin
    let added = app.add_to_cart(3).await;
    assert_eq!(added.status, 303, "{}", added.body);
    assert!(
        redis_keys(&app).await > keys,
        "the session is kept from now on"
    );
    assert_ne!(app.get("/cart").await.csrf_token(), "", "and has its token");

    let registered = app
        .register("anon@example.com", "Anon", "correct horse battery")
        .await;
    assert_eq!(registered.status, 303, "{}", registered.body);
    let placed = app.check_out(SimulatedPaymentGateway::APPROVED_CARD).await;
    assert_eq!(placed.status, 303, "{}", placed.body);
    let mine = app.get("/my/courses").await;
    assert!(mine.body.contains(&seed::course(3).title), "{}", mine.body);
}

/// What a page on another site can make a visitor's browser send, and what it gets.
#[tokio::test]
async fn posts_from_another_site_are_refused_with_or_without_a_session() {
    let app = TestApp::seeded().await;
    let slug = seed::course(7).slug;
    let add = |headers: &'static [(&'static str, &'static str)], token: String| {
        let (app, slug) = (&app, slug.clone());
        async move {
            let mut request = app
                .client
                .post(format!("{}/cart/items", app.address))
                .form(&[("csrf_token", token.as_str()), ("course", slug.as_str())]);
            for (name, value) in headers {
                request = request.header(*name, *value);
            }
            Page::from(request.send().await.expect("request sent")).await
        }
    };
    let cross_site: &[(&str, &str)] = &[
        ("sec-fetch-site", "cross-site"),
        ("origin", "http://evil.example"),
    ];
    let same_site: &[(&str, &str)] = &[("sec-fetch-site", "same-site")];
    let foreign_origin: &[(&str, &str)] = &[("origin", "http://evil.example")];
    let opaque_origin: &[(&str, &str)] = &[("origin", "null")];
    let foreign_referer: &[(&str, &str)] = &[("referer", "http://evil.example/page")];

    // an anonymous visitor: no session, no token; only the browser's word stops the forgery
    for headers in [
        cross_site,
        same_site,
        foreign_origin,
        opaque_origin,
        foreign_referer,
    ] {
        let page = add(headers, String::new()).await;
        assert_eq!(page.status, 403, "{headers:?}: {}", page.body);
        assert!(page.headers.get("set-cookie").is_none(), "{headers:?}");
    }
    assert_eq!(app.cart_slugs().await.len(), 0, "nothing was added");

    // login CSRF: another site signing the visitor in to an account of its choosing
    app.register("victim@example.com", "Victim", "correct horse battery")
        .await;
    let visitor = app.other_browser_app();
    let forged_login = visitor
        .client
        .post(format!("{}/login", app.address))
        .header("sec-fetch-site", "cross-site")
        .form(&[
            ("email", "victim@example.com"),
            ("password", "correct horse battery"),
        ])
        .send()
        .await
        .expect("request sent");
    assert_eq!(forged_login.status(), 403);
    assert!(forged_login.headers().get("set-cookie").is_none());

    // a signed-in student: the session's own token does not make another site's post good
    let token = app.get(&format!("/courses/{slug}")).await.csrf_token();
    assert_ne!(token, "");
    let page = add(cross_site, token.clone()).await;
    assert_eq!(page.status, 403, "{}", page.body);
    // nor does the browser's word make a wrong token good, and a missing one needs that word
    let wrong = add(&[("sec-fetch-site", "same-origin")], "0".repeat(64)).await;
    assert_eq!(wrong.status, 403);
    let missing = add(&[], String::new()).await;
    assert_eq!(
        missing.status, 403,
        "a session's post says where it is from or has its token"
    );
    assert_eq!(app.cart_slugs().await.len(), 0);

    // and the forms work from the shop's own pages, with or without a session
    let own = add(&[("sec-fetch-site", "same-origin")], token).await;
    assert_eq!(own.status, 303, "{}", own.body);
    let fresh = visitor.other_browser_app();
    let anonymous = fresh
        .client
        .post(format!("{}/cart/items", app.address))
        .header("origin", app.address.as_str())
        .form(&[("csrf_token", ""), ("course", slug.as_str())])
        .send()
        .await
        .expect("request sent");
    assert_eq!(anonymous.status(), 303);
}
