//! HTTP caching: public pages are reusable by browsers and CDNs and revalidate to 304, a student's
//! pages are private, static files are fingerprinted and kept for a year.

use shop::catalog::seed;

use crate::helpers::{Page, TestApp};

async fn get_with(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> Page {
    let mut request = reqwest::Client::new().get(format!("{}{path}", app.address));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    Page::from(request.send().await.expect("request sent")).await
}

#[tokio::test]
async fn anonymous_catalog_pages_are_public_and_revalidate_to_304() {
    let app = TestApp::seeded().await;
    let course = format!("/courses/{}", seed::course(2).slug);
    for path in [
        "/",
        "/courses",
        "/courses?q=rust&sort=newest",
        course.as_str(),
    ] {
        let page = get_with(&app, path, &[]).await;
        assert_eq!(page.status, 200, "{path}");
        assert_eq!(
            page.header("cache-control"),
            "public, max-age=60, stale-while-revalidate=300",
            "{path}"
        );
        let etag = page.header("etag").to_string();
        assert!(etag.starts_with("W/\""), "{path}: {etag:?}");
        let vary: Vec<&str> = page
            .headers
            .get_all("vary")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .collect();
        assert!(
            vary.iter().any(|v| v.contains("Cookie")),
            "{path}: {vary:?}"
        );

        let again = get_with(&app, path, &[("if-none-match", &etag)]).await;
        assert_eq!(again.status, 304, "{path}");
        assert_eq!(again.body, "");
        assert_eq!(again.header("etag"), etag);
        let other = get_with(&app, path, &[("if-none-match", "W/\"stale\"")]).await;
        assert_eq!(other.status, 200, "another validator gets the page");
    }
}

#[tokio::test]
async fn a_students_pages_and_forms_are_private() {
    let app = TestApp::seeded().await;
    for path in ["/login", "/register", "/cart"] {
        let page = get_with(&app, path, &[]).await;
        assert_eq!(page.header("cache-control"), "private, no-store", "{path}");
        assert_eq!(page.header("etag"), "", "{path}");
    }
    app.register("cached@example.com", "Cached", "correct horse battery")
        .await;
    for path in ["/", "/courses", "/my/courses"] {
        let page = app.get(path).await;
        assert_eq!(page.status, 200, "{path}");
        assert_eq!(page.header("cache-control"), "private, no-store", "{path}");
        assert_eq!(page.header("etag"), "", "{path}");
    }
    // a visitor with a cart: the header shows its count, so the page is theirs
    let visitor = app.other_browser_app();
    visitor.add_to_cart(4).await;
    assert_eq!(
        visitor.get("/courses").await.header("cache-control"),
        "private, no-store"
    );
    // an error is nobody's to keep
    let missing = get_with(&app, "/courses/no-such-course", &[]).await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.header("cache-control"), "private, no-store");
}

#[tokio::test]
async fn an_edit_changes_the_validator() {
    let app = TestApp::seeded().await;
    let path = format!("/courses/{}", seed::course(2).slug);
    let before = get_with(&app, &path, &[]).await.header("etag").to_string();
    sqlx::query("UPDATE courses SET summary = 'A new summary.' WHERE slug = $1")
        .bind(seed::course(2).slug)
        .execute(&app.pool)
        .await
        .expect("edited");
    let after = get_with(&app, &path, &[("if-none-match", &before)]).await;
    assert_eq!(after.status, 200, "the old copy is not confirmed");
    assert_ne!(after.header("etag"), before);
    assert!(after.body.contains("A new summary."));
}

#[tokio::test]
async fn static_files_are_fingerprinted_and_immutable() {
    let app = TestApp::seeded().await;
    let home = get_with(&app, "/", &[]).await;
    let stylesheet = home
        .body
        .split(r#"<link rel="stylesheet" href=""#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a stylesheet link")
        .to_string();
    assert!(
        stylesheet.starts_with("/static/shop.") && stylesheet.ends_with(".css"),
        "{stylesheet}"
    );
    assert_ne!(
        stylesheet, "/static/shop.css",
        "the name carries the content's hash"
    );
    let css = get_with(&app, &stylesheet, &[]).await;
    assert_eq!(css.status, 200);
    assert_eq!(
        css.header("cache-control"),
        "public, max-age=31536000, immutable"
    );
    assert!(css.header("content-type").starts_with("text/css"));
    // a page cached before a release names the old file: it gets today's, briefly
    for old in ["/static/shop.css", "/static/shop.0123456789abcdef.css"] {
        let page = get_with(&app, old, &[]).await;
        assert_eq!(page.status, 200, "{old}");
        assert_eq!(page.header("cache-control"), "public, max-age=60", "{old}");
        assert_eq!(page.body, css.body);
    }
    assert_eq!(get_with(&app, "/static/nothing.css", &[]).await.status, 404);
}
