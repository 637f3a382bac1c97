//! An order paid but not yet enrolled (step 4, between checkout and the enrollment worker): the order
//! page and My courses say so and update by themselves, with JavaScript (polling
//! `/orders/{id}/status`) or without it (a `<noscript>` refresh).
//!
//! At step 0 checkout enrolls at once, so each test puts the order back into the state step 4 leaves
//! it in until the worker runs: status `paid` and no enrollments.

use shop::catalog::seed;
use shop::ids::OrderId;
use shop::orders::{OrderStatus, SimulatedPaymentGateway};

use crate::helpers::{Page, TestApp};

const PASSWORD: &str = "correct horse battery";
const REFRESH: &str = r#"<noscript><meta http-equiv="refresh" content="3"></noscript>"#;
/// The status script's tag, under its fingerprinted name.
fn script() -> String {
    format!(
        r#"<script src="{}" defer></script>"#,
        app::assets::url("order-status.js")
    )
}

impl TestApp {
    /// Registers `email`, buys the seeded courses `courses` and returns the order page's path.
    async fn bought(&self, email: &str, courses: &[u32]) -> String {
        self.register(email, "Student", PASSWORD).await;
        for &n in courses {
            self.add_to_cart(n).await;
        }
        let placed = self.check_out(SimulatedPaymentGateway::APPROVED_CARD).await;
        assert_eq!(placed.status, 303, "{}", placed.body);
        placed.header("location").to_string()
    }

    /// Puts the order back to where step 4 leaves it until the worker runs: paid, nobody enrolled.
    async fn make_pending(&self, order_path: &str) {
        let id = order_id(order_path);
        sqlx::query("DELETE FROM enrollments WHERE order_id = $1")
            .bind(id)
            .execute(&self.pool)
            .await
            .expect("enrollments deleted");
        sqlx::query("UPDATE orders SET status = $2 WHERE id = $1")
            .bind(id)
            .bind(OrderStatus::Paid.as_str())
            .execute(&self.pool)
            .await
            .expect("order set back to paid");
    }

    /// What the enrollment worker does: enrolls the order's courses and marks it enrolled.
    async fn enroll(&self, order_path: &str) {
        let id = order_id(order_path);
        sqlx::query(
            "INSERT INTO enrollments (user_id, course_id, order_id) \
             SELECT user_id, course_id, order_id FROM order_items WHERE order_id = $1",
        )
        .bind(id)
        .execute(&self.pool)
        .await
        .expect("enrollments inserted");
        sqlx::query("UPDATE orders SET status = $2 WHERE id = $1")
            .bind(id)
            .bind(OrderStatus::Enrolled.as_str())
            .execute(&self.pool)
            .await
            .expect("order enrolled");
    }
}

/// `/orders/XXXX-XXXX` → the order's database id.
fn order_id(order_path: &str) -> i64 {
    let readable = order_path
        .strip_prefix("/orders/")
        .expect("an order page's path");
    OrderId::parse_readable(readable)
        .expect("a readable order id")
        .0
}

/// The `data-testid="order-status"` element's text (tags and all).
fn order_status(page: &Page) -> &str {
    page.body
        .split(r#"data-testid="order-status">"#)
        .nth(1)
        .and_then(|rest| rest.split("</p>").next())
        .unwrap_or_else(|| panic!("the page has an order status: {}", page.body))
}

/// `GET /orders/{id}/status`, checked to be uncached JSON, as `(status, label)`.
async fn status_json(app: &TestApp, order_path: &str) -> (String, String) {
    let response = app.get(&format!("{order_path}/status")).await;
    assert_eq!(response.status, 200, "{}", response.body);
    assert!(
        response
            .header("content-type")
            .starts_with("application/json"),
        "{}",
        response.header("content-type")
    );
    assert_eq!(response.header("cache-control"), "no-store");
    let body: serde_json::Value = serde_json::from_str(&response.body).expect("JSON");
    (
        body["status"].as_str().expect("a status").to_string(),
        body["label"].as_str().expect("a label").to_string(),
    )
}

#[tokio::test]
async fn a_pending_order_says_so_and_updates_itself_until_enrolled() {
    let app = TestApp::seeded().await;
    let order = app.bought("ada@example.com", &[3]).await;
    app.make_pending(&order).await;

    let page = app.get(&order).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(order_status(&page).contains("Paid, enrollment pending"));
    assert!(
        page.body
            .contains("Enrollment pending — your courses will appear in")
    );
    assert_eq!(page.count(REFRESH), 1, "reloads without JavaScript");
    assert_eq!(page.count(&script()), 1, "polls with JavaScript");
    assert!(
        page.body
            .contains(&format!(r#"data-order-status-url="{order}/status""#)),
        "the script finds its address in the page"
    );
    let head = page.body.split("</head>").next().unwrap_or_default();
    assert!(
        head.contains(REFRESH) && head.contains(&script()),
        "both in the head"
    );
    assert_eq!(
        status_json(&app, &order).await,
        ("paid".to_string(), "Paid, enrollment pending".to_string())
    );

    app.enroll(&order).await;
    assert_eq!(
        status_json(&app, &order).await,
        ("enrolled".to_string(), "Enrolled".to_string())
    );
    let page = app.get(&order).await;
    assert_eq!(page.status, 200);
    assert!(order_status(&page).contains("Enrolled"));
    assert!(page.body.contains(r#"<a href="/my/courses">"#));
    assert!(!page.body.contains("http-equiv=\"refresh\""), "no refresh");
    assert!(!page.body.contains("order-status.js"), "no script");
    assert!(!page.body.contains("data-order-status-url"));
    assert!(!page.body.contains("Enrollment pending"));
}

#[tokio::test]
async fn an_enrolled_order_has_no_refresh_and_no_script() {
    let app = TestApp::seeded().await;
    let order = app.bought("ada@example.com", &[3]).await;

    let page = app.get(&order).await;
    assert!(order_status(&page).contains("Enrolled"));
    assert!(!page.body.contains("http-equiv=\"refresh\""));
    assert!(!page.body.contains("order-status.js"));
    assert_eq!(status_json(&app, &order).await.0, "enrolled");
}

#[tokio::test]
async fn another_students_order_status_is_not_found() {
    let app = TestApp::seeded().await;
    let order = app.bought("ada@example.com", &[3]).await;
    app.make_pending(&order).await;

    app.log_out().await;
    app.register("grace@example.com", "Grace", PASSWORD).await;
    assert_eq!(app.get(&order).await.status, 404);
    let status = app.get(&format!("{order}/status")).await;
    assert_eq!(status.status, 404, "the same 404 as a missing order");
    assert!(!status.body.contains("paid"), "{}", status.body);
    for missing in [
        "/orders/not-an-order/status",
        "/orders/ZZZZZZZZZZZZZZZZ/status",
    ] {
        assert_eq!(app.get(missing).await.status, 404, "{missing}");
    }
    assert_eq!(app.get("/orders/0/status").await.status, 404);
}

#[tokio::test]
async fn the_status_needs_a_signed_in_student() {
    let app = TestApp::seeded().await;
    let order = app.bought("ada@example.com", &[3]).await;
    app.make_pending(&order).await;

    app.log_out().await;
    let status = app.get(&format!("{order}/status")).await;
    assert_eq!(status.status, 303, "{}", status.body);
    assert_eq!(
        status.header("location"),
        format!("/login?next={order}"),
        "signing in leads back to the order page, not to its JSON"
    );
    assert!(
        !status
            .header("content-type")
            .starts_with("application/json")
    );
    assert!(!status.body.contains("enrollment pending"));
}

#[tokio::test]
async fn my_courses_shows_pending_enrollment_then_the_course() {
    let app = TestApp::seeded().await;
    let order = app.bought("ada@example.com", &[3]).await;
    app.make_pending(&order).await;
    let readable = order.trim_start_matches("/orders/");

    let page = app.get("/my/courses").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains(&format!(
            r#"Enrollment in progress for order <a href="{order}">{readable}</a>"#
        )),
        "{}",
        page.body
    );
    assert!(
        !page.body.contains("You are not enrolled in any course yet"),
        "not while a course is on its way"
    );
    assert!(!page.body.contains(&seed::course(3).title));
    assert_eq!(page.count(REFRESH), 1);
    assert_eq!(page.count(&script()), 1);
    assert!(
        page.body
            .contains(&format!(r#"data-order-status-url="{order}/status""#))
    );

    app.enroll(&order).await;
    let page = app.get("/my/courses").await;
    assert!(page.body.contains(&seed::course(3).title));
    assert!(!page.body.contains("Enrollment in progress"));
    assert!(!page.body.contains("http-equiv=\"refresh\""));
    assert!(!page.body.contains("order-status.js"));
}

#[tokio::test]
async fn my_courses_lists_every_pending_order_above_the_courses() {
    let app = TestApp::seeded().await;
    let first = app.bought("ada@example.com", &[3]).await;
    app.add_to_cart(4).await;
    let second = app
        .check_out(SimulatedPaymentGateway::APPROVED_CARD)
        .await
        .header("location")
        .to_string();
    app.add_to_cart(5).await;
    let third = app
        .check_out(SimulatedPaymentGateway::APPROVED_CARD)
        .await
        .header("location")
        .to_string();
    app.make_pending(&second).await;
    app.make_pending(&third).await;

    let page = app.get("/my/courses").await;
    for pending in [&second, &third] {
        assert!(
            page.body.contains(&format!(r#"<a href="{pending}">"#)),
            "{pending}"
        );
    }
    assert!(
        !page.body.contains(&format!(r#"<a href="{first}">"#)),
        "an enrolled order is not pending"
    );
    assert!(
        page.body.contains(&seed::course(3).title),
        "the courses already enrolled are listed"
    );
    let notice = page.body.find("Enrollment in progress").expect("a notice");
    let list = page
        .body
        .find(r#"<ul class="my-courses">"#)
        .expect("a list");
    assert!(notice < list, "the notice comes first");
}

#[tokio::test]
async fn the_status_script_is_served_as_javascript() {
    let app = TestApp::seeded().await;
    let script = app.get(&app::assets::url("order-status.js")).await;
    assert_eq!(script.status, 200);
    assert!(
        script.header("content-type").starts_with("text/javascript"),
        "{}",
        script.header("content-type")
    );
    assert!(script.body.contains("data-order-status-url"));
}

/// A tab left open on an order that is stuck (the worker down for long) stops reloading: after ten
/// minutes the page says it is taking longer and asks for a reload by hand.
#[tokio::test]
async fn a_long_pending_order_stops_refreshing_and_says_so() {
    let app = TestApp::seeded().await;
    let order = app.bought("ada@example.com", &[3]).await;
    app.make_pending(&order).await;
    sqlx::query("UPDATE orders SET created_at = now() - interval '11 minutes' WHERE id = $1")
        .bind(order_id(&order))
        .execute(&app.pool)
        .await
        .expect("the order is older");
    let page = app.get(&order).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("enrollment pending"));
    assert!(!page.body.contains(REFRESH) && !page.body.contains(&script()));
    assert!(page.body.contains("This is taking longer than usual"));
    let mine = app.get("/my/courses").await;
    assert!(!mine.body.contains(REFRESH), "{}", mine.body);
}
