//! Instructors' pages: only their own courses, validated forms, publishing.

use shop::accounts::demo::{self, DEMO_INSTRUCTOR, DEMO_PASSWORD};
use shop::catalog::seed;

use crate::helpers::TestApp;

/// Gives the seeded demo instructor a password and logs in as them.
async fn as_instructor(app: &TestApp) {
    demo::seed_demo_accounts(&app.pool)
        .await
        .expect("demo accounts");
    assert_eq!(app.log_in(DEMO_INSTRUCTOR, DEMO_PASSWORD).await.status, 303);
}

fn form<'a>(token: &'a str, title: &'a str, price: &'a str) -> Vec<(&'static str, &'a str)> {
    vec![
        ("csrf_token", token),
        ("title", title),
        ("summary", "Read query plans with confidence."),
        (
            "description",
            "First paragraph about plans.\n\nSecond paragraph about indexes.",
        ),
        ("category", "databases"),
        ("level", "intermediate"),
        ("duration_minutes", "240"),
        ("price", price),
    ]
}

#[tokio::test]
async fn an_instructor_creates_publishes_edits_and_unpublishes_a_course() {
    let app = TestApp::seeded().await;
    as_instructor(&app).await;
    let list = app.get("/teach/courses").await;
    assert_eq!(list.status, 200);
    assert!(
        list.body.contains(&seed::course(48).title) || list.body.contains("/edit"),
        "their seeded courses"
    );

    let token = app.get("/teach/courses/new").await.csrf_token();
    let created = app
        .post_form(
            "/teach/courses",
            &form(&token, "Zygomorphic Query Plans", "49.99"),
        )
        .await;
    assert_eq!(created.status, 303, "{}", created.body);
    let edit = created.header("location").to_string();
    assert_eq!(edit, "/teach/courses/zygomorphic-query-plans/edit");
    assert!(
        app.get("/courses?q=zygomorphic")
            .await
            .course_links()
            .is_empty(),
        "a draft is not in the catalog"
    );

    let token = app.get(&edit).await.csrf_token();
    app.post_form(
        "/teach/courses/zygomorphic-query-plans/publish",
        &[("csrf_token", &token)],
    )
    .await;
    assert_eq!(
        app.get("/courses?q=zygomorphic").await.course_links(),
        vec!["zygomorphic-query-plans"]
    );
    assert!(
        app.get("/courses/zygomorphic-query-plans")
            .await
            .body
            .contains("$49.99")
    );

    let saved = app
        .post_form(
            "/teach/courses/zygomorphic-query-plans",
            &form(&token, "Zygomorphic Query Plans, Revised", "59"),
        )
        .await;
    assert_eq!(saved.status, 303);
    let page = app.get("/courses/zygomorphic-query-plans").await;
    assert!(
        page.body.contains("Zygomorphic Query Plans, Revised") && page.body.contains("$59.00"),
        "same address, new content"
    );

    app.post_form(
        "/teach/courses/zygomorphic-query-plans/unpublish",
        &[("csrf_token", &token)],
    )
    .await;
    assert_eq!(
        app.get("/courses/zygomorphic-query-plans").await.status,
        404
    );
}

#[tokio::test]
async fn a_bad_course_form_gets_field_messages_and_keeps_the_input() {
    let app = TestApp::seeded().await;
    as_instructor(&app).await;
    let token = app.get("/teach/courses/new").await.csrf_token();
    let mut fields = form(&token, "X", "free");
    fields.retain(|(name, _)| *name != "category");
    let page = app.post_form("/teach/courses", &fields).await;
    assert_eq!(page.status, 422);
    assert!(page.body.contains("write at least 3 characters of title"));
    assert!(page.body.contains("choose a category"));
    assert!(page.body.contains("enter an amount such as 49.99"));
    assert!(
        page.body.contains("Read query plans with confidence."),
        "what was typed stays"
    );
    let markup = app
        .post_form(
            "/teach/courses",
            &form(&token, "<script>alert(1)</script> Escaped", "10"),
        )
        .await;
    assert_eq!(markup.status, 303);
    let edit = app.get(markup.header("location")).await;
    assert!(
        !edit.body.contains("<script>alert(1)"),
        "titles are escaped in forms too"
    );
}

#[tokio::test]
async fn another_instructors_course_is_not_found_and_students_are_refused() {
    let app = TestApp::seeded().await;
    as_instructor(&app).await;
    // course 1 belongs to another seeded instructor
    let foreign = seed::course(1).slug;
    assert_eq!(
        app.get(&format!("/teach/courses/{foreign}/edit"))
            .await
            .status,
        404
    );
    let token = app.get("/teach/courses").await.csrf_token();
    let edit = app
        .post_form(
            &format!("/teach/courses/{foreign}"),
            &form(&token, "Taken over", "1"),
        )
        .await;
    assert_eq!(edit.status, 404);
    let unpublish = app
        .post_form(
            &format!("/teach/courses/{foreign}/unpublish"),
            &[("csrf_token", &token)],
        )
        .await;
    assert_eq!(unpublish.status, 404);
    assert_eq!(
        app.get(&format!("/courses/{foreign}")).await.status,
        200,
        "untouched"
    );

    app.log_out().await;
    app.register("student@example.org", "A Student", "correct horse battery")
        .await;
    let refused = app.get("/teach/courses").await;
    assert_eq!(refused.status, 403);
    assert!(refused.body.contains("These pages are for instructors"));

    app.log_out().await;
    assert_eq!(
        app.get("/teach/courses").await.header("location"),
        "/login?next=/teach/courses"
    );
}

#[tokio::test]
async fn an_unpublished_course_stays_in_past_orders() {
    let app = TestApp::seeded().await;
    demo::seed_demo_accounts(&app.pool).await.expect("demo");
    // the demo student bought course 2; its instructor unpublishes it
    let owner: String = sqlx::query_scalar(
        "SELECT u.email FROM courses c JOIN users u ON u.id = c.instructor_id WHERE c.slug = $1",
    )
    .bind(seed::course(2).slug)
    .fetch_one(&app.pool)
    .await
    .expect("owner");
    sqlx::query("UPDATE courses SET published = false WHERE slug = $1")
        .bind(seed::course(2).slug)
        .execute(&app.pool)
        .await
        .expect("unpublish");
    assert!(!owner.is_empty());
    assert_eq!(
        app.log_in(demo::DEMO_STUDENT, DEMO_PASSWORD).await.status,
        303
    );
    let mine = app.get("/my/courses").await;
    assert!(
        mine.body.contains(&seed::course(2).title),
        "still the student's"
    );
    let orders = app.get("/orders").await;
    assert_eq!(
        orders.count(r#"<td><a href="/orders/"#),
        2,
        "the demo student's two orders"
    );
}

#[tokio::test]
async fn demo_accounts_are_seeded_once() {
    let app = TestApp::seeded().await;
    let first = demo::seed_demo_accounts(&app.pool).await.expect("demo");
    assert_eq!((first.passwords_set, first.orders_added), (2, 2));
    let again = demo::seed_demo_accounts(&app.pool)
        .await
        .expect("demo again");
    assert_eq!((again.passwords_set, again.orders_added), (0, 0));
    let orders: i64 = sqlx::query_scalar("SELECT count(*) FROM orders")
        .fetch_one(&app.pool)
        .await
        .expect("count");
    assert_eq!(orders, 2);
}
