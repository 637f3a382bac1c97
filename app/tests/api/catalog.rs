//! The catalog as a visitor meets it: home, search, filters, sort, pages and a course's own page.

use crate::helpers::TestApp;

async fn course_row(app: &TestApp, slug: &str) -> (String, i64, String) {
    sqlx::query_as("SELECT c.title, c.price_cents, cat.slug FROM courses c JOIN categories cat ON cat.id = c.category_id WHERE c.slug = $1")
        .bind(slug)
        .fetch_one(&app.pool)
        .await
        .expect("course exists")
}

#[tokio::test]
async fn the_home_page_shows_every_category_and_featured_courses() {
    let app = TestApp::seeded().await;
    let page = app.get("/").await;
    assert_eq!(page.status, 200);
    assert_eq!(
        page.count(r#"<a class="category" href="/courses?category="#),
        14
    );
    assert!(page.body.contains("Data Engineering"));
    assert_eq!(page.course_links().len(), 8, "eight featured courses");
    assert!(
        page.body.contains("Tutorial step 0 (monolith)"),
        "the footer names the step"
    );
    assert!(page.body.contains("carts: PostgreSQL"));
}

#[tokio::test]
async fn a_word_from_a_title_finds_the_course() {
    let app = TestApp::seeded().await;
    sqlx::query("UPDATE courses SET title = 'Quaternions for Game Programmers' WHERE slug = $1")
        .bind(shop::catalog::seed::course(42).slug)
        .execute(&app.pool)
        .await
        .expect("update");
    let page = app.get("/courses?q=quaternions").await;
    assert_eq!(page.status, 200);
    assert_eq!(
        page.course_links(),
        vec![shop::catalog::seed::course(42).slug]
    );
    assert!(page.body.contains("Showing 1–1 of 1 course"));
    // stemming: the plural finds the singular in the catalog's English configuration
    let page = app.get("/courses?q=quaternion").await;
    assert_eq!(page.course_links().len(), 1);
}

#[tokio::test]
async fn search_ranks_title_matches_above_description_matches() {
    let app = TestApp::seeded().await;
    let page = app.get("/courses?q=postgresql").await;
    assert_eq!(page.status, 200);
    let links = page.course_links();
    assert!(!links.is_empty());
    let (title, _, _) = course_row(&app, &links[0]).await;
    assert!(
        title.contains("PostgreSQL"),
        "best match first, got {title}"
    );
}

#[tokio::test]
async fn a_search_with_no_match_says_so() {
    let app = TestApp::seeded().await;
    let page = app.get("/courses?q=zzyzxq").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("No courses match"));
    assert!(page.course_links().is_empty());
}

#[tokio::test]
async fn filters_narrow_the_list_and_stay_in_the_urls() {
    let app = TestApp::seeded().await;
    let page = app.get("/courses?category=databases&level=beginner").await;
    assert_eq!(page.status, 200);
    let links = page.course_links();
    assert!(!links.is_empty());
    for slug in &links {
        let (_, _, category) = course_row(&app, slug).await;
        assert_eq!(category, "databases");
        let level: String = sqlx::query_scalar("SELECT level FROM courses WHERE slug = $1")
            .bind(slug)
            .fetch_one(&app.pool)
            .await
            .expect("level");
        assert_eq!(level, "beginner");
    }
    let expected: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM courses c JOIN categories cat ON cat.id = c.category_id
         WHERE c.published AND cat.slug = 'databases' AND c.level = 'beginner'",
    )
    .fetch_one(&app.pool)
    .await
    .expect("count");
    assert!(page.body.contains(&format!("of {expected} course")));
    assert!(page.body.contains(r#"<option value="databases" selected>"#));
    assert!(page.body.contains(r#"<option value="beginner" selected>"#));
    assert!(page.body.contains("<h1>Databases</h1>"));
}

#[tokio::test]
async fn sorting_by_price_orders_the_whole_result_both_ways() {
    let app = TestApp::seeded().await;
    let mut prices = Vec::new();
    for page in 1..=3 {
        for slug in app
            .get(&format!("/courses?sort=price_asc&page={page}"))
            .await
            .course_links()
        {
            prices.push(course_row(&app, &slug).await.1);
        }
    }
    assert_eq!(prices.len(), 60);
    assert!(
        prices.windows(2).all(|w| w[0] <= w[1]),
        "ascending: {prices:?}"
    );
    let cheapest: i64 = sqlx::query_scalar("SELECT min(price_cents) FROM courses WHERE published")
        .fetch_one(&app.pool)
        .await
        .expect("min");
    assert_eq!(prices[0], cheapest);

    let links = app.get("/courses?sort=price_desc").await.course_links();
    let first = course_row(&app, &links[0]).await.1;
    let last = course_row(&app, &links[links.len() - 1]).await.1;
    assert!(first >= last);
}

#[tokio::test]
async fn newest_first_is_the_default_order_without_search_text() {
    let app = TestApp::seeded().await;
    let newest: String = sqlx::query_scalar(
        "SELECT slug FROM courses WHERE published ORDER BY created_at DESC, id DESC LIMIT 1",
    )
    .fetch_one(&app.pool)
    .await
    .expect("newest");
    assert_eq!(app.get("/courses").await.course_links()[0], newest);
    assert_eq!(
        app.get("/courses?sort=newest").await.course_links()[0],
        newest
    );
}

#[tokio::test]
async fn pages_hold_twenty_courses_and_cover_the_catalog_once() {
    let app = TestApp::seeded().await;
    let published: i64 = sqlx::query_scalar("SELECT count(*) FROM courses WHERE published")
        .fetch_one(&app.pool)
        .await
        .expect("count");
    let last_page = (published + 19) / 20;

    let first = app.get("/courses").await;
    assert!(
        first
            .body
            .contains(&format!("Showing 1–20 of {published} courses"))
    );
    assert!(first.body.contains(r#"aria-current="page">1</a>"#));
    assert!(first.body.contains(r#"rel="next""#));
    assert!(!first.body.contains(r#"rel="prev""#));
    assert!(first.body.contains(&format!(
        r#"href="/courses?page={last_page}">{last_page}</a>"#
    )));

    let mut seen = std::collections::HashSet::new();
    for page in 1..=last_page {
        let links = app
            .get(&format!("/courses?page={page}"))
            .await
            .course_links();
        let expected = if page == last_page {
            published - 20 * (last_page - 1)
        } else {
            20
        };
        assert_eq!(links.len() as i64, expected, "page {page}");
        for link in links {
            assert!(seen.insert(link), "a course appears on two pages");
        }
    }
    assert_eq!(seen.len() as i64, published);

    let last = app.get(&format!("/courses?page={last_page}")).await;
    assert!(last.body.contains(r#"rel="prev""#));
    assert!(!last.body.contains(r#"rel="next""#));
}

#[tokio::test]
async fn page_links_keep_the_search_and_filters() {
    let app = TestApp::seeded().await;
    let page = app
        .get("/courses?level=beginner&sort=price_desc&page=2")
        .await;
    assert_eq!(page.status, 200);
    // `&` is escaped in attributes (askama writes `&#38;`, which browsers read as `&`)
    let body = page.body.replace("&#38;", "&");
    assert!(
        body.contains(r#"href="/courses?level=beginner&sort=price_desc&page=3" rel="next""#),
        "{body}"
    );
    assert!(body.contains(r#"href="/courses?level=beginner&sort=price_desc" rel="prev""#));
    assert!(
        body.contains(
            r#"href="/courses?level=beginner&sort=price_desc&page=2" aria-current="page""#
        )
    );
}

#[tokio::test]
async fn unpublished_courses_are_not_in_the_catalog() {
    let app = TestApp::seeded().await;
    let slug = shop::catalog::seed::course(7).slug;
    sqlx::query(
        "UPDATE courses SET published = false, title = 'Hidden Xylophone Course' WHERE slug = $1",
    )
    .bind(&slug)
    .execute(&app.pool)
    .await
    .expect("update");
    assert_eq!(app.get(&format!("/courses/{slug}")).await.status, 404);
    assert!(
        app.get("/courses?q=xylophone")
            .await
            .course_links()
            .is_empty()
    );
}

#[tokio::test]
async fn a_course_page_shows_the_whole_course() {
    let app = TestApp::seeded().await;
    let seeded = shop::catalog::seed::course(3);
    let page = app.get(&format!("/courses/{}", seeded.slug)).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains(&format!("<h1>{}</h1>", seeded.title)));
    assert!(page.body.contains(&seeded.summary));
    let paragraphs = seeded.description.split("\n\n").count();
    assert!(page.count("<p>") >= paragraphs);
    let price = shop::money::Money::from_cents(seeded.price_cents)
        .expect("price")
        .to_string();
    assert!(page.body.contains(&price), "shows {price}");
    assert!(page.body.contains(seeded.level.label()));
}

#[tokio::test]
async fn markup_in_course_text_and_search_is_escaped() {
    let app = TestApp::seeded().await;
    let slug = shop::catalog::seed::course(5).slug;
    sqlx::query("UPDATE courses SET title = '<script>alert(1)</script> Zebra' WHERE slug = $1")
        .bind(&slug)
        .execute(&app.pool)
        .await
        .expect("update");
    for path in [
        format!("/courses/{slug}"),
        "/courses?q=zebra".to_string(),
        "/courses?q=%3Cscript%3Ealert(2)%3C/script%3E".to_string(),
    ] {
        let page = app.get(&path).await;
        assert!(!page.body.contains("<script>"), "{path} has raw markup");
    }
    assert!(
        app.get("/courses?q=zebra")
            .await
            .body
            .contains("&#60;script&#62;alert(1)")
            || app
                .get("/courses?q=zebra")
                .await
                .body
                .contains("&lt;script&gt;alert(1)")
    );
}

#[tokio::test]
async fn a_broad_search_lists_the_first_thousand_matches_and_asks_to_narrow_beyond() {
    let app = TestApp::with_catalog(1_200).await;
    let published: i64 = sqlx::query_scalar("SELECT count(*) FROM courses WHERE published")
        .fetch_one(&app.pool)
        .await
        .expect("count");
    assert!(
        published > 1_000,
        "the catalog must be larger than what is listed"
    );

    let first = app.get("/courses").await;
    assert_eq!(first.status, 200);
    assert!(
        first.body.contains("Showing 1–20 of 1,000+ courses"),
        "{}",
        first.body
    );
    assert!(
        first.body.contains(r#"href="/courses?page=50">50</a>"#),
        "the last listed page is 50"
    );

    let last = app.get("/courses?page=50").await;
    assert_eq!(last.status, 200);
    assert_eq!(last.course_links().len(), 20);
    assert!(!last.body.contains(r#"rel="next""#));

    for past in ["/courses?page=51", "/courses?page=5000"] {
        let page = app.get(past).await;
        assert_eq!(page.status, 404, "{past}");
        assert!(
            page.body
                .contains("Only the first 1,000 matches are listed"),
            "{}",
            page.body
        );
    }

    // a narrower search is counted exactly again
    let narrow = app.get("/courses?category=databases&level=advanced").await;
    assert_eq!(narrow.status, 200);
    assert!(!narrow.body.contains("1,000+"));
}

/// Marks `matching` courses' descriptions with `word`, and the titles of the first `in_title` of
/// them; returns the slugs in the order "best match" must list them: title matches first, newest
/// first in each part (PostgreSQL's own ordering, not the shop's query).
async fn mark_courses(app: &TestApp, word: &str, matching: i64, in_title: i64) -> Vec<String> {
    sqlx::query(
        "WITH chosen AS (SELECT id, row_number() OVER (ORDER BY id) AS n FROM courses WHERE published ORDER BY id LIMIT $2)
         UPDATE courses c
         SET description = c.description || ' A ' || $1 || ' appears here.',
             title = CASE WHEN chosen.n % ($2 / $3) = 0 AND chosen.n / ($2 / $3) <= $3
                          THEN left(c.title, 100) || ' with ' || initcap($1) ELSE c.title END
         FROM chosen WHERE chosen.id = c.id",
    )
    .bind(word)
    .bind(matching)
    .bind(in_title)
    .execute(&app.pool)
    .await
    .expect("mark courses");
    sqlx::query_scalar(
        "SELECT slug FROM courses
         WHERE published AND search @@ plainto_tsquery('english', $1)
         ORDER BY (title_search @@ plainto_tsquery('english', $1)) DESC, created_at DESC, id DESC",
    )
    .bind(word)
    .fetch_all(&app.pool)
    .await
    .expect("expected order")
}

/// The slugs on pages 1..=pages of `path` (which has no page parameter yet).
async fn listed(app: &TestApp, path: &str, pages: i64) -> Vec<String> {
    let mut slugs = Vec::new();
    for page in 1..=pages {
        let page = app.get(&format!("{path}&page={page}")).await;
        assert_eq!(page.status, 200, "{path}");
        slugs.extend(page.course_links());
    }
    slugs
}

#[tokio::test]
async fn best_match_lists_title_matches_first_then_newest_when_counted_exactly() {
    let app = TestApp::seeded().await;
    let expected = mark_courses(&app, "zephyr", 90, 30).await;
    assert_eq!(expected.len(), 90);
    let page = app.get("/courses?q=zephyrs").await;
    assert!(page.body.contains("of 90 courses"), "{}", page.body);
    // stemming finds the singular; pages cover every match once, in order, across the title boundary
    assert_eq!(listed(&app, "/courses?q=zephyrs", 5).await, expected);
}

#[tokio::test]
async fn best_match_holds_its_order_when_a_broad_search_is_walked_page_by_page() {
    let app = TestApp::with_catalog(1_200).await;
    let expected = mark_courses(&app, "zephyr", 1_100, 30).await;
    assert_eq!(expected.len(), 1_100, "more matches than are counted");
    let page = app.get("/courses?q=zephyr").await;
    assert!(page.body.contains("of 1,000+ courses"), "{}", page.body);
    assert_eq!(
        listed(&app, "/courses?q=zephyr", 4).await,
        expected[..80].to_vec()
    );
    // the other sorts walk their indexes too: the same courses in their own order
    let by_price: Vec<String> = sqlx::query_scalar(
        "SELECT slug FROM courses WHERE published AND search @@ plainto_tsquery('english', 'zephyr')
         ORDER BY price_cents DESC, id DESC LIMIT 60",
    )
    .fetch_all(&app.pool)
    .await
    .expect("by price");
    assert_eq!(
        listed(&app, "/courses?q=zephyr&sort=price_desc", 3).await,
        by_price
    );
}
