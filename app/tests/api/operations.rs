//! Probes and headers, as a platform and a browser see them.

use crate::helpers::TestApp;

#[tokio::test]
async fn healthz_and_readyz_answer_with_json() {
    let app = TestApp::seeded().await;
    let alive = app.get("/healthz").await;
    assert_eq!(alive.status, 200);
    assert!(alive.header("content-type").starts_with("application/json"));

    let ready = app.get("/readyz").await;
    assert_eq!(ready.status, 200);
    let ready: serde_json::Value = serde_json::from_str(&ready.body).expect("JSON");
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["stores"][0]["name"], "postgres");
    assert_eq!(ready["stores"][0]["status"], "up");
    assert!(ready["stores"][0]["latencyMs"].is_number());
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let app = TestApp::seeded().await;
    let slug = shop::catalog::seed::course(1).slug;
    for path in [
        "/",
        "/courses",
        &format!("/courses/{slug}"),
        "/courses?page=abc",
        "/nowhere",
        "/healthz",
        "/static/shop.css",
    ] {
        let page = app.get(path).await;
        let csp = page.header("content-security-policy");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
            "{path}: {csp}"
        );
        assert_eq!(page.header("x-content-type-options"), "nosniff", "{path}");
        assert_eq!(
            page.header("referrer-policy"),
            "strict-origin-when-cross-origin",
            "{path}"
        );
    }
}

/// `html` without its JSON-LD data blocks (`<script type="application/ld+json">`): data for search
/// engines that no browser runs, and whose `@context` names schema.org without loading anything.
fn without_data_blocks(html: &str) -> String {
    const OPEN: &str = r#"<script type="application/ld+json">"#;
    let mut rest = html;
    let mut kept = String::new();
    while let Some(start) = rest.find(OPEN) {
        kept.push_str(&rest[..start]);
        let block = &rest[start..];
        let end = block.find("</script>").expect("a data block ends") + "</script>".len();
        rest = &block[end..];
    }
    kept.push_str(rest);
    kept
}

#[tokio::test]
async fn pages_have_no_inline_script_or_style_and_load_only_local_assets() {
    let app = TestApp::seeded().await;
    let slug = shop::catalog::seed::course(1).slug;
    for path in ["/", "/courses", &format!("/courses/{slug}"), "/nowhere"] {
        let page = app.get(path).await;
        // the one kind of <script> allowed inline: a data block, which is never executed
        let body = without_data_blocks(&page.body);
        assert!(!body.contains("<script"), "{path}");
        assert!(!body.contains("style="), "{path}");
        assert!(
            !body.contains("https://"),
            "{path} loads nothing from elsewhere"
        );
        assert!(page.body.contains(r#"<html lang="en">"#));
        assert!(
            page.body.contains(r##"href="#main""##),
            "{path} has a skip link"
        );
    }
    let css = app.get("/static/shop.css").await;
    assert_eq!(css.status, 200);
    assert!(css.header("content-type").starts_with("text/css"));
    assert!(css.body.contains(":focus-visible"));
}

#[tokio::test]
async fn head_requests_answer_like_get_without_a_body() {
    let app = TestApp::seeded().await;
    let response = app
        .client
        .head(format!("{}/courses", app.address))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status().as_u16(), 200);
    assert!(response.text().await.expect("body").is_empty());
}

#[tokio::test]
async fn the_shops_connections_are_named_for_pg_stat_activity() {
    let app = TestApp::seeded().await;
    let settings = crate::helpers::settings_for(&app.database.url, &[]);
    let pool = shop::database::connect_lazily(&settings.database);
    let name: String = sqlx::query_scalar("SELECT current_setting('application_name')")
        .fetch_one(&pool)
        .await
        .expect("show");
    assert_eq!(name, "courseshop");
}

#[tokio::test]
async fn the_architecture_page_names_the_monolith_and_its_one_store() {
    let app = TestApp::seeded().await;
    let page = app.get("/about/architecture").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("tutorial step 0 (monolith)"));
    assert!(page.body.contains("<td>postgres</td>"));
    assert!(!page.body.contains("<td>redis</td>"));
    assert!(page.body.contains("No cache at this step"));
    assert!(
        app.get("/")
            .await
            .body
            .contains(r#"href="/about/architecture""#),
        "every page's footer links to it"
    );
}
