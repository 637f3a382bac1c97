//! Checkout and orders at step 0: one transaction writes the order, its items and the enrollments.

use shop::catalog::seed;
use shop::orders::SimulatedPaymentGateway;

use crate::helpers::{Page, TestApp};

const PASSWORD: &str = "correct horse battery";

impl TestApp {
    /// Submits the checkout form as a browser would, with the key the page gave it.
    pub async fn check_out(&self, card: &str) -> Page {
        let form = self.get("/checkout").await;
        assert_eq!(form.status, 200, "{}", form.body);
        let key = form.idempotency_key();
        self.post_form(
            "/checkout",
            &[
                ("csrf_token", &form.csrf_token()),
                ("idempotency_key", &key),
                ("card_number", card),
            ],
        )
        .await
    }

    async fn count(&self, sql: &'static str) -> i64 {
        sqlx::query_scalar(sql)
            .fetch_one(&self.pool)
            .await
            .expect("count")
    }
}

#[tokio::test]
async fn a_student_checks_out_and_finds_the_courses() {
    let app = TestApp::seeded().await;
    app.register("ada@example.com", "Ada", PASSWORD).await;
    app.add_to_cart(3).await;
    app.add_to_cart(4).await;
    let placed = app.check_out(SimulatedPaymentGateway::APPROVED_CARD).await;
    assert_eq!(placed.status, 303, "{}", placed.body);
    let location = placed.header("location").to_string();
    assert!(location.starts_with("/orders/"));

    let order = app.get(&location).await;
    assert_eq!(order.status, 200);
    assert!(order.body.contains("Enrolled"));
    let expected = seed::course(3).price_cents + seed::course(4).price_cents;
    let total = shop::money::Money::from_cents(expected)
        .expect("money")
        .to_string();
    assert!(order.body.contains(&total), "total {total}");
    assert!(order.body.contains(&seed::course(3).title));

    let mine = app.get("/my/courses").await;
    assert!(
        mine.body.contains(&seed::course(3).title) && mine.body.contains(&seed::course(4).title)
    );
    assert!(
        app.get("/orders")
            .await
            .body
            .contains(location.trim_start_matches("/orders/"))
    );
    assert!(app.cart_slugs().await.is_empty(), "the cart is emptied");
    let stored: i64 = app.count("SELECT total_cents FROM orders").await;
    assert_eq!(stored, expected, "priced from the catalog");
}

#[tokio::test]
async fn the_same_checkout_submitted_twice_makes_one_order() {
    let app = TestApp::seeded().await;
    app.register("ada@example.com", "Ada", PASSWORD).await;
    app.add_to_cart(3).await;
    let form = app.get("/checkout").await;
    let key = form.idempotency_key();
    let fields = [
        ("csrf_token", form.csrf_token()),
        ("idempotency_key", key),
        (
            "card_number",
            SimulatedPaymentGateway::APPROVED_CARD.to_string(),
        ),
    ];
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    // a double click: both in flight at once, then a replay later
    let (first, second) = tokio::join!(
        app.post_form("/checkout", &fields),
        app.post_form("/checkout", &fields)
    );
    let replay = app.post_form("/checkout", &fields).await;
    assert_eq!(
        (first.status, second.status, replay.status),
        (303, 303, 303)
    );
    assert_eq!(first.header("location"), second.header("location"));
    assert_eq!(first.header("location"), replay.header("location"));
    assert_eq!(app.count("SELECT count(*) FROM orders").await, 1);
    assert_eq!(app.count("SELECT count(*) FROM enrollments").await, 1);
}

/// Two checkout forms, open in two tabs and submitted at the same moment, buy the cart once: the
/// second sees the first's order (at step 4, still waiting for its enrollment) and finds nothing
/// left to buy.
#[tokio::test]
async fn two_checkout_forms_submitted_at_once_buy_the_cart_once() {
    let app = TestApp::seeded().await;
    app.register("ada@example.com", "Ada", PASSWORD).await;
    app.add_to_cart(3).await;
    let (tab_one, tab_two) = (app.get("/checkout").await, app.get("/checkout").await);
    let fields = |form: &Page| {
        vec![
            ("csrf_token", form.csrf_token()),
            ("idempotency_key", form.idempotency_key()),
            (
                "card_number",
                SimulatedPaymentGateway::APPROVED_CARD.to_string(),
            ),
        ]
    };
    let (one, two) = (fields(&tab_one), fields(&tab_two));
    assert_ne!(one[1].1, two[1].1, "each form has a key of its own");
    let one: Vec<(&str, &str)> = one.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let two: Vec<(&str, &str)> = two.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (first, second) = tokio::join!(
        app.post_form("/checkout", &one),
        app.post_form("/checkout", &two)
    );
    let mut statuses = [first.status, second.status];
    statuses.sort();
    assert_eq!(statuses, [303, 422], "{}\n{}", first.body, second.body);
    let refused = if first.status == 422 { &first } else { &second };
    assert!(refused.body.contains("Your cart has nothing to buy."));
    assert_eq!(app.count("SELECT count(*) FROM orders").await, 1);
    assert_eq!(
        app.count("SELECT count(*) FROM order_items").await,
        1,
        "paid once"
    );
}

#[tokio::test]
async fn another_students_order_is_not_found() {
    let app = TestApp::seeded().await;
    app.register("ada@example.com", "Ada", PASSWORD).await;
    app.add_to_cart(3).await;
    let location = app
        .check_out(SimulatedPaymentGateway::APPROVED_CARD)
        .await
        .header("location")
        .to_string();

    app.log_out().await;
    app.register("grace@example.com", "Grace", PASSWORD).await;
    let page = app.get(&location).await;
    assert_eq!(
        page.status, 404,
        "not 403: whether it exists is none of their business"
    );
    assert_eq!(app.get("/orders/not-an-order").await.status, 404);
    assert_eq!(app.get("/orders/ZZZZZZZZZZZZZZZZ").await.status, 404);
}

#[tokio::test]
async fn a_declined_card_leaves_no_order_and_keeps_the_cart() {
    let app = TestApp::seeded().await;
    app.register("ada@example.com", "Ada", PASSWORD).await;
    app.add_to_cart(3).await;
    let page = app.check_out(SimulatedPaymentGateway::DECLINED_CARD).await;
    assert_eq!(page.status, 422);
    assert!(page.body.contains("Your card was declined"));
    assert_eq!(app.count("SELECT count(*) FROM orders").await, 0);
    assert_eq!(app.cart_slugs().await, vec![seed::course(3).slug]);

    let page = app.check_out("1234").await;
    assert_eq!(page.status, 422);
    assert!(page.body.contains("enter the card"));
}

#[tokio::test]
async fn an_empty_cart_is_refused_with_a_message() {
    let app = TestApp::seeded().await;
    app.register("ada@example.com", "Ada", PASSWORD).await;
    let form = app.get("/checkout").await;
    assert!(form.body.contains("Your cart has nothing to buy"));
    let page = app
        .post_form(
            "/checkout",
            &[
                ("csrf_token", &form.csrf_token()),
                ("idempotency_key", "6a1f4f0e-3b8e-4d43-9d1c-1f0e2a3b4c5d"),
                ("card_number", SimulatedPaymentGateway::APPROVED_CARD),
            ],
        )
        .await;
    assert_eq!(page.status, 422);
    assert!(page.body.contains("Your cart has nothing to buy."));
}

#[tokio::test]
async fn courses_bought_meanwhile_are_dropped_from_the_next_order() {
    let app = TestApp::seeded().await;
    app.register("ada@example.com", "Ada", PASSWORD).await;
    app.add_to_cart(3).await;
    // the same course in a second cart (another device), bought first there
    app.check_out(SimulatedPaymentGateway::APPROVED_CARD).await;
    sqlx::query("INSERT INTO cart_items (cart_id, course_id, price_cents_seen) SELECT c.id, k.id, 1 FROM carts c, courses k WHERE c.user_id IS NOT NULL AND k.slug = ANY($1)")
        .bind(vec![seed::course(3).slug, seed::course(4).slug])
        .execute(&app.pool)
        .await
        .expect("lines");
    app.check_out(SimulatedPaymentGateway::APPROVED_CARD).await;
    assert_eq!(app.count("SELECT count(*) FROM orders").await, 2);
    assert_eq!(app.count("SELECT count(*) FROM enrollments").await, 2);
    let second: i64 = app
        .count("SELECT total_cents FROM orders ORDER BY id DESC LIMIT 1")
        .await;
    assert_eq!(
        second,
        seed::course(4).price_cents,
        "only the course not owned, at the catalog's price"
    );
}

#[tokio::test]
async fn checkout_asks_visitors_to_sign_in_and_needs_the_token() {
    let app = TestApp::seeded().await;
    let page = app.get("/checkout").await;
    assert_eq!(page.status, 303);
    assert_eq!(page.header("location"), "/login?next=/checkout");
    assert_eq!(
        app.get("/my/courses").await.header("location"),
        "/login?next=/my/courses"
    );

    app.register("ada@example.com", "Ada", PASSWORD).await;
    app.add_to_cart(3).await;
    let forged = app
        .post_form(
            "/checkout",
            &[
                ("idempotency_key", "6a1f4f0e-3b8e-4d43-9d1c-1f0e2a3b4c5d"),
                ("card_number", SimulatedPaymentGateway::APPROVED_CARD),
            ],
        )
        .await;
    assert_eq!(forged.status, 403);
    assert_eq!(app.count("SELECT count(*) FROM orders").await, 0);
}

#[tokio::test]
async fn order_ids_sort_by_time_and_carry_the_users_shard() {
    let app = TestApp::seeded().await;
    app.register("ada@example.com", "Ada", PASSWORD).await;
    for n in [3, 4] {
        app.add_to_cart(n).await;
        app.check_out(SimulatedPaymentGateway::APPROVED_CARD).await;
    }
    let rows: Vec<(i64, i64)> =
        sqlx::query_as("SELECT id, user_id FROM orders ORDER BY created_at")
            .fetch_all(&app.pool)
            .await
            .expect("orders");
    assert!(rows[0].0 < rows[1].0, "later orders have larger ids");
    for (id, user) in rows {
        assert_eq!(shop::ids::OrderId(id).shard(), user % 1024);
    }
}
